/**
 * Loads one model version: its manifest and every graph file, each verified against the
 * manifest's size and sha256 before anything may open it.
 *
 * From S3 the files land in a content-addressed disk cache (a restart downloads nothing it already
 * has); when the store cannot be reached, the version this source last loaded is served from that
 * cache. A local folder is verified in place. Safe to call while an older LoadedModel is in use:
 * cached files are immutable by digest and never deleted here.
 */
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { ManifestError, parseManifest, type GraphEntry, type Manifest } from '../../contract/manifest.ts';
import { loadManifestFromDir, verifyGraphFile } from '../../contract/manifest-dir.ts';
import { ArtifactCache } from './artifact-cache.ts';
import { DownloadProgress } from './download-progress.ts';
import { ModelLoadError } from './model-load-error.ts';
import { parseModelSource, type FolderLocation, type S3Location } from './model-source.ts';
import { S3ModelStore, describeStoreError, isStoreUnreachable, type S3Overrides } from './s3-model-store.ts';

export { ModelLoadError } from './model-load-error.ts';
export type { S3Overrides } from './s3-model-store.ts';

export interface LoadedModel {
  /** Validated with parseManifest; every graph file it lists has been verified. */
  readonly manifest: Manifest;
  /** The source string as given. */
  readonly source: string;
  /** 'remote': read from the source itself (store or folder); 'cache': the store was unreachable. */
  readonly origin: 'remote' | 'cache';
  /** Absolute local path of a verified graph file; throws for a file the manifest does not list. */
  graphPath(file: string): string;
}

export interface RegistryOptions {
  /** `s3://bucket/prefix` or a folder path. */
  readonly source: string;
  /** Where verified files from a store are kept across restarts. */
  readonly cacheDir: string;
  /** Files downloaded at once. */
  readonly downloadConcurrency: number;
  /** Overrides of the AWS SDK's environment-based settings for the store. */
  readonly s3?: S3Overrides;
  readonly logger: Logger;
  readonly signal?: AbortSignal;
}

/** Throws ModelLoadError, whose `reason` says what failed, for anything that cannot be served. */
export async function loadModel(options: RegistryOptions): Promise<LoadedModel> {
  if (!Number.isInteger(options.downloadConcurrency) || options.downloadConcurrency < 1) {
    throw new RangeError(`downloadConcurrency must be a positive integer, got ${options.downloadConcurrency}`);
  }
  const location = parseModelSource(options.source);
  const logger = options.logger.child({ source: location.label });
  return location.kind === 'folder'
    ? loadFromFolder(location, options, logger)
    : loadFromStore(location, options, logger);
}

async function loadFromFolder(location: FolderLocation, options: RegistryOptions, logger: Logger): Promise<LoadedModel> {
  let manifest: Manifest;
  try {
    manifest = await loadManifestFromDir(location.dir);
  } catch (error) {
    if (error instanceof ManifestError) throw new ModelLoadError(error.message, { cause: error });
    throw error;
  }
  logger.info({ model: manifest.name, version: manifest.version }, 'model verified in its folder');
  return loadedModel(manifest, options.source, 'remote', (graph) => join(location.dir, graph.file));
}

async function loadFromStore(location: S3Location, options: RegistryOptions, logger: Logger): Promise<LoadedModel> {
  const cache = await ArtifactCache.open(options.cacheDir);
  const store = new S3ModelStore(location, options.s3);
  try {
    let text: string;
    try {
      text = await store.readManifest(options.signal);
    } catch (error) {
      if (isStoreUnreachable(error)) return await loadFromCache(location, cache, error, options, logger);
      throw storeError(location, 'cannot read manifest.json', error, options.signal);
    }
    const { json, manifest } = parseManifestText(text, store.label('manifest.json'));
    try {
      await fetchGraphs(manifest, store, cache, options, logger);
    } catch (error) {
      if (error instanceof ManifestError) throw new ModelLoadError(error.message, { cause: error });
      if (isStoreUnreachable(error)) return await loadFromCache(location, cache, error, options, logger);
      throw storeError(location, 'download failed', error, options.signal);
    }
    await cache.rememberManifest(location.label, json);
    logger.info({ model: manifest.name, version: manifest.version }, 'model verified from the store');
    return loadedModel(manifest, options.source, 'remote', (graph) => cache.path(graph.sha256));
  } finally {
    store.close();
  }
}

/** Downloads the graphs the cache does not hold (or holds damaged), in parallel, each verified. */
async function fetchGraphs(
  manifest: Manifest,
  store: S3ModelStore,
  cache: ArtifactCache,
  options: RegistryOptions,
  logger: Logger,
): Promise<void> {
  const missing = new Map<string, GraphEntry>(); // by digest: identical files are fetched once
  for (const [i, graph] of manifest.graphs.entries()) {
    if (missing.has(graph.sha256) || (await cachedAndIntact(cache, graph, i, logger))) continue;
    missing.set(graph.sha256, graph);
  }
  const graphs = [...missing.values()];
  if (graphs.length === 0) {
    logger.info({ files: manifest.graphs.length }, 'every model file is in the disk cache');
    return;
  }
  const totalBytes = graphs.reduce((sum, g) => sum + g.bytes, 0);
  logger.info(
    { files: graphs.length, totalBytes, cached: manifest.graphs.length - graphs.length, concurrency: options.downloadConcurrency },
    'fetching model files',
  );
  const progress = new DownloadProgress(logger, totalBytes, graphs.length);
  // One failure stops the other downloads: the version is refused either way.
  const stop = new AbortController();
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([stop.signal, options.signal]);
  const limit = pLimit(options.downloadConcurrency);
  let firstError: { error: unknown } | undefined;
  await Promise.all(
    graphs.map((graph) =>
      limit(async () => {
        if (signal.aborted) return;
        try {
          const body = await store.openFile(graph.file, signal);
          await cache.store(graph, body, { label: store.label(graph.file), onBytes: progress.add, signal });
        } catch (error) {
          firstError ??= { error };
          stop.abort();
        }
      }),
    ),
  );
  if (firstError !== undefined) throw firstError.error;
  progress.finish();
}

/**
 * Whether the cache holds `graph` intact. Hashed again on every load: renames are not fsynced, so
 * after a power loss a cached name may hold fewer bytes than it was verified with.
 */
async function cachedAndIntact(cache: ArtifactCache, graph: GraphEntry, index: number, logger: Logger): Promise<boolean> {
  if (!(await cache.has(graph.sha256))) return false;
  try {
    await verifyGraphFile(cache.path(graph.sha256), graph, `manifest.graphs[${index}]`);
    return true;
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    logger.warn({ file: graph.file, problem: error.message }, 'cached model file is damaged; fetching it again');
    return false;
  }
}

/** The version this source last loaded, if the cache still holds all of it intact. */
async function loadFromCache(
  location: S3Location,
  cache: ArtifactCache,
  cause: unknown,
  options: RegistryOptions,
  logger: Logger,
): Promise<LoadedModel> {
  const unreachable = `model store ${location.label} unreachable: ${describeStoreError(cause)}`;
  const record = await cache.recallManifest(location.label);
  if (record === undefined) throw new ModelLoadError(`${unreachable} and no cached copy`, { cause });
  let manifest: Manifest;
  try {
    manifest = parseManifest(record.manifest, 'cached manifest.json');
    for (const [i, graph] of manifest.graphs.entries()) {
      await verifyGraphFile(cache.path(graph.sha256), graph, `manifest.graphs[${i}]`);
    }
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    throw new ModelLoadError(`${unreachable} and the cached copy is unusable: ${error.message}`, { cause });
  }
  logger.warn(
    { model: manifest.name, version: manifest.version, cachedAt: record.saved_at, problem: describeStoreError(cause) },
    'model store unreachable; serving the version cached before',
  );
  return loadedModel(manifest, options.source, 'cache', (graph) => cache.path(graph.sha256));
}

function parseManifestText(text: string, label: string): { json: unknown; manifest: Manifest } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(`${label} invalid: not JSON: ${(error as Error).message}`, { cause: error });
  }
  try {
    return { json, manifest: parseManifest(json, label) };
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    throw new ModelLoadError(`${label} invalid: ${error.issues.join('; ')}`, { cause: error });
  }
}

function storeError(location: S3Location, what: string, error: unknown, signal: AbortSignal | undefined): ModelLoadError {
  if (signal?.aborted === true) return new ModelLoadError(`loading ${location.label} was aborted`, { cause: error });
  return new ModelLoadError(`model store ${location.label}: ${what}: ${describeStoreError(error)}`, { cause: error });
}

function loadedModel(
  manifest: Manifest,
  source: string,
  origin: LoadedModel['origin'],
  pathOf: (graph: GraphEntry) => string,
): LoadedModel {
  const paths = new Map(manifest.graphs.map((graph) => [graph.file, pathOf(graph)]));
  return Object.freeze({
    manifest,
    source,
    origin,
    graphPath(file: string): string {
      const path = paths.get(file);
      if (path === undefined) throw new Error(`model ${manifest.name} ${manifest.version} has no file ${JSON.stringify(file)}`);
      return path;
    },
  });
}
