/**
 * Loads one model version: its manifest and every graph file, each verified against the
 * manifest's size and sha256 before anything may open it.
 *
 * From S3 the files land in a content-addressed disk cache (a restart downloads nothing it already
 * has); when the store cannot be reached, the version this source last loaded is served from that
 * cache. A local folder is verified in place. Safe to call while an older LoadedModel is in use:
 * cached files are immutable by digest and never deleted here.
 *
 * An S3 source is either one version (a folder with manifest.json) or a model's folder holding
 * current.json (model-pointer.ts): then the version it names is loaded, and each load (start,
 * reload) reads the pointer again.
 */
import { join } from 'node:path';
import { NoSuchKey } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { ManifestError, parseManifest, type GraphEntry, type Manifest } from '../../contract/manifest.ts';
import { loadManifestFromDir, verifyGraphFile } from '../../contract/manifest-dir.ts';
import { ArtifactCache } from './artifact-cache.ts';
import { DownloadProgress } from './download-progress.ts';
import { ModelLoadError } from './model-load-error.ts';
import { ModelPointerError, POINTER_FILE, manifestDigest, parseModelPointer, versionPrefix, type ModelPointer } from './model-pointer.ts';
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
    let found: FoundVersion;
    try {
      found = await findVersion(store, options.signal);
    } catch (error) {
      if (error instanceof ModelLoadError) throw error;
      if (isStoreUnreachable(error)) return await loadFromCache(location, cache, error, options, logger);
      throw storeError(location, 'cannot read manifest.json', error, options.signal);
    }
    const { version } = found;
    const { json, manifest } = parseManifestText(found.text, version.label('manifest.json'));
    if (found.pointer !== undefined) checkPointerMatches(found.pointer, manifest, store.label(POINTER_FILE));
    try {
      await fetchGraphs(manifest, version, cache, options, logger);
    } catch (error) {
      if (error instanceof ManifestError) throw new ModelLoadError(error.message, { cause: error });
      if (isStoreUnreachable(error)) return await loadFromCache(location, cache, error, options, logger);
      throw storeError(version.location, 'download failed', error, options.signal);
    }
    // Remembered under the source as configured: with a pointer, the version it last resolved to.
    await cache.rememberManifest(location.label, json);
    logger.info(
      { model: manifest.name, version: manifest.version, ...(found.pointer === undefined ? {} : { pointer: store.label(POINTER_FILE), resolved: version.location.label }) },
      'model verified from the store',
    );
    return loadedModel(manifest, options.source, 'remote', (graph) => cache.path(graph.sha256));
  } finally {
    store.close();
  }
}

interface FoundVersion {
  /** Where the version's files are: the source itself, or the folder its pointer names. */
  readonly version: S3ModelStore;
  /** Its manifest.json as stored. */
  readonly text: string;
  /** The pointer followed, if the source is a model's folder. */
  readonly pointer?: ModelPointer;
}

/**
 * The version at `store`: its own manifest.json (a version folder), else the version its
 * current.json names (a model's folder, model-pointer.ts). The manifest is tried first so a
 * version source costs no extra request and needs no permission beyond reading its own objects.
 *
 * The pointer is tried when the manifest is missing: NoSuchKey, or AccessDenied, which is how AWS
 * S3 answers a GET of a missing key when the credentials lack s3:ListBucket (a read-only policy
 * often grants s3:GetObject alone). A manifest that is really forbidden then costs one more
 * request, and the error names both answers. Throws a ModelLoadError when neither can be read, for
 * a broken pointer, or for a pointer naming what is not there; the store's own error when it
 * cannot be reached (the caller falls back to the cache).
 */
async function findVersion(store: S3ModelStore, signal: AbortSignal | undefined): Promise<FoundVersion> {
  let manifestMissing: unknown;
  try {
    return { version: store, text: await store.readManifest(signal) };
  } catch (error) {
    if (!(error instanceof NoSuchKey || isAccessDenied(error))) throw error;
    manifestMissing = error;
  }
  const manifestProblem = `model store ${store.location.label}: cannot read manifest.json: ${describeStoreError(manifestMissing).replace(/\.$/, '')}`;
  let pointerText: string | undefined;
  try {
    pointerText = await store.readPointer(signal);
  } catch (error) {
    if (isStoreUnreachable(error) || signal?.aborted === true) throw error;
    throw new ModelLoadError(
      `${manifestProblem}; cannot read ${POINTER_FILE} either: ${describeStoreError(error).replace(/\.$/, '')}` +
        (isAccessDenied(manifestMissing) || isAccessDenied(error) ? LIST_BUCKET_HINT : ''),
      { cause: error },
    );
  }
  if (pointerText === undefined) {
    throw new ModelLoadError(
      `${manifestProblem}; no ${POINTER_FILE} either (the pointer of a model's folder)` + (isAccessDenied(manifestMissing) ? LIST_BUCKET_HINT : ''),
      { cause: manifestMissing },
    );
  }
  let pointer: ModelPointer;
  try {
    pointer = parseModelPointer(pointerText, store.label(POINTER_FILE));
  } catch (error) {
    if (error instanceof ModelPointerError) throw new ModelLoadError(error.message, { cause: error });
    throw error;
  }
  const version = store.at(versionPrefix(store.location.prefix, pointer.version));
  const text = await readOrExplain(
    async () => {
      try {
        return await version.readManifest(signal);
      } catch (error) {
        if (isAccessDenied(error)) {
          throw new ModelLoadError(
            `${store.label(POINTER_FILE)} names version ${pointer.version}, but ${version.label('manifest.json')} cannot be read: ` +
              `${describeStoreError(error).replace(/\.$/, '')}${LIST_BUCKET_HINT}`,
            { cause: error },
          );
        }
        if (!(error instanceof NoSuchKey)) throw error;
        throw new ModelLoadError(
          `${store.label(POINTER_FILE)} names version ${pointer.version}, but ${version.label('manifest.json')} does not exist`,
          { cause: error },
        );
      }
    },
    version.label('manifest.json'),
    signal,
  );
  // readManifest decodes the stored bytes as UTF-8 (Buffer#toString keeps a BOM), and for valid
  // UTF-8 encoding that text again gives back exactly the stored bytes. The publisher refuses to
  // point at a manifest that is not valid UTF-8, so a digest of the re-encoded text equals
  // manifestDigest(stored bytes), the pointer's; bytes that are not UTF-8 would not round-trip and
  // are refused below as a changed manifest, never accepted.
  const digest = manifestDigest(Buffer.from(text, 'utf8'));
  if (digest !== pointer.manifest_sha256) {
    throw new ModelLoadError(
      `${version.label('manifest.json')} hashes to ${digest}, but ${store.label(POINTER_FILE)} says ${pointer.manifest_sha256}: ` +
        'the version was changed after it was published',
    );
  }
  return { version, text, pointer };
}

/** Added to an error that involves AccessDenied while looking for manifest.json or current.json. */
const LIST_BUCKET_HINT =
  ' (AWS S3 answers AccessDenied rather than NoSuchKey for a missing key when the credentials lack s3:ListBucket on the bucket)';

/** The store answered 403 AccessDenied (not a bad key or signature, which are errors of their own). */
function isAccessDenied(error: unknown): boolean {
  const { name, $metadata } = (error ?? {}) as { name?: unknown; $metadata?: { httpStatusCode?: number } };
  return name === 'AccessDenied' && $metadata?.httpStatusCode === 403;
}

/** Runs `read`; a store that answered with an error becomes a ModelLoadError naming `label`. */
async function readOrExplain<T>(read: () => Promise<T>, label: string, signal: AbortSignal | undefined): Promise<T> {
  try {
    return await read();
  } catch (error) {
    // Unreachable: the caller falls back to the cache; aborted: the caller says so.
    if (error instanceof ModelLoadError || isStoreUnreachable(error) || signal?.aborted === true) throw error;
    throw new ModelLoadError(`model store: cannot read ${label}: ${describeStoreError(error)}`, { cause: error });
  }
}

function checkPointerMatches(pointer: ModelPointer, manifest: Manifest, label: string): void {
  if (manifest.name !== pointer.name || manifest.version !== pointer.version) {
    throw new ModelLoadError(
      `${label} names ${pointer.name} ${pointer.version}, but its manifest.json is ${manifest.name} ${manifest.version}`,
    );
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
