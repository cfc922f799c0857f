/**
 * Moving a model's pointer (current.json) to a published version: forward after a publish, back
 * for a rollback. Every move first checks the version whole in the store, as it is stored at that
 * moment (manifest valid UTF-8 JSON naming itself, every graph read back with the size and sha256
 * that manifest declares): no caller can skip it, not even a publish that verified its own uploads
 * a moment before, since someone else may have published the same version label in between. The
 * move is one conditional PutObject of the pointer, read back afterwards.
 */
import { MANIFEST_FILE } from '../../contract/manifest-dir.ts';
import { ManifestError, parseManifest } from '../../contract/manifest.ts';
import {
  ModelPointerError,
  isModelName,
  isVersionLabel,
  manifestDigest,
  parseModelPointer,
  serializeModelPointer,
  type ModelPointer,
} from '../../functions/registry/model-pointer.ts';
import type { ModelCatalog } from './model-catalog.ts';
import { PublishError } from './publish-error.ts';
import { TransferProgress, type ProgressSink } from './transfer-progress.ts';

export interface PointerMove {
  readonly name: string;
  readonly version: string;
  /** The version pointed at before, if any. */
  readonly previous: string | null;
  /** false: it pointed at this version already. */
  readonly moved: boolean;
  readonly pointer: ModelPointer;
}

export interface MoveOptions {
  /**
   * manifestDigest() of the manifest.json the caller just published. The version is verified in
   * the store all the same; this adds that the manifest found there must be that one, so a
   * publisher never points current.json at a same-labelled version someone else published
   * meanwhile (whole and valid, but not theirs). Refused (exit 4) otherwise.
   */
  readonly expectManifestSha256?: string;
}

/** The pointer as stored, parsed; undefined when the model has none yet. */
export async function readCurrent(catalog: ModelCatalog, name: string): Promise<{ pointer: ModelPointer; etag: string } | undefined> {
  const stored = await catalog.readPointer(name);
  if (stored === undefined) return undefined;
  try {
    return { pointer: parseModelPointer(stored.text, catalog.label(catalog.pointerKey(name))), etag: stored.etag };
  } catch (error) {
    if (error instanceof ModelPointerError) throw new PublishError('refused', error.message, { cause: error });
    throw error;
  }
}

export async function setCurrent(catalog: ModelCatalog, name: string, version: string, say: ProgressSink, options: MoveOptions = {}): Promise<PointerMove> {
  checkLabels(name, version);
  const manifestSha256 = await verifyPublishedVersion(catalog, name, version, say);
  if (options.expectManifestSha256 !== undefined && options.expectManifestSha256 !== manifestSha256) {
    throw new PublishError(
      'refused',
      `${catalog.label(catalog.versionPrefix(name, version) + MANIFEST_FILE)} hashes to ${manifestSha256}, not to the ` +
        `${options.expectManifestSha256} just published: someone else published ${name} ${version} with other content at the ` +
        'same time; nothing was moved. Compare with `list`, and give the export a new version label.',
    );
  }
  const stored = await catalog.readPointer(name);
  let before: ModelPointer | undefined;
  if (stored !== undefined) {
    try {
      before = parseModelPointer(stored.text, catalog.label(catalog.pointerKey(name)));
    } catch (error) {
      if (!(error instanceof ModelPointerError)) throw error;
      say(`warning: replacing an unreadable pointer (${error.message})`);
    }
  }
  if (before?.version === version && before.manifest_sha256 === manifestSha256) {
    say(`${name} points at ${version} already; nothing moved`);
    return { name, version, previous: before.previous_version, moved: false, pointer: before };
  }
  const pointer: ModelPointer = {
    pointer_version: 1,
    name,
    version,
    manifest_sha256: manifestSha256,
    updated_at: new Date().toISOString(),
    previous_version: before?.version ?? null,
  };
  const text = serializeModelPointer(pointer);
  await catalog.writePointer(name, text, stored === undefined ? 'absent' : { etag: stored.etag });
  // A store without conditional writes (or a writer that ignores them) shows up here at least.
  const after = await catalog.readPointer(name);
  if (after?.text !== text) {
    throw new PublishError('refused', `${catalog.label(catalog.pointerKey(name))} holds something else right after it was written: someone else moved it at the same time; check \`current\``);
  }
  say(`${name}: current.json now points at ${version}${before === undefined ? '' : ` (was ${before.version})`}`);
  return { name, version, previous: before?.version ?? null, moved: true, pointer };
}

/**
 * Points at `version`, or, without one, at the pointer's `previous_version`: the version it named
 * before its last move (by set-current, rollback or publish --set-current). A rollback is a move
 * like any other and records the version it left as previous, so a second rollback without a
 * version goes forward again to that one; to go back further, name the version.
 */
export async function rollback(catalog: ModelCatalog, name: string, version: string | undefined, say: ProgressSink): Promise<PointerMove> {
  const current = await readCurrent(catalog, name);
  if (current === undefined) throw new PublishError('refused', `${name} has no ${catalog.label(catalog.pointerKey(name))}: nothing to roll back`);
  const target = version ?? current.pointer.previous_version;
  if (target === null) {
    throw new PublishError('refused', `${name}'s pointer records no previous version: name the version to roll back to`);
  }
  return setCurrent(catalog, name, target, say);
}

/**
 * Checks that `version` is published whole and returns manifestDigest() of its manifest.json's
 * bytes as stored: manifest.json present, valid UTF-8 JSON, valid, naming this model and version,
 * and every graph it lists read back from the store with the declared size and sha256. Anything
 * else is refused: at the moment the pointer moves, it names a version the function accepts.
 * The function decodes the manifest as UTF-8 and hashes the text re-encoded, which equals the
 * stored bytes exactly when they are valid UTF-8: hence that check here.
 */
export async function verifyPublishedVersion(catalog: ModelCatalog, name: string, version: string, say: ProgressSink): Promise<string> {
  const prefix = catalog.versionPrefix(name, version);
  const label = catalog.label(prefix + MANIFEST_FILE);
  const stored = await catalog.readBytes(prefix + MANIFEST_FILE);
  if (stored === undefined) {
    throw new PublishError('refused', `${name} ${version} is not published (${label} does not exist); see \`list ${name}\``);
  }
  let manifest;
  try {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(stored.bytes);
    } catch (error) {
      throw new Error(`${label} is not valid UTF-8`, { cause: error });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(`${label} is not JSON: ${(error as Error).message}`, { cause: error });
    }
    manifest = parseManifest(json, label);
  } catch (error) {
    const reason = error instanceof ManifestError ? error.message : (error as Error).message;
    throw new PublishError('refused', `${name} ${version} is broken: ${reason}`, { cause: error });
  }
  if (manifest.name !== name || manifest.version !== version) {
    throw new PublishError('refused', `${label} describes ${manifest.name} ${manifest.version}, not ${name} ${version}`);
  }
  const progress = new TransferProgress('verify', { bytes: manifest.graphs.reduce((sum, g) => sum + g.bytes, 0), files: manifest.graphs.length }, say);
  for (const graph of manifest.graphs) {
    const digest = await catalog.digest(prefix + graph.file, (bytes) => progress.add(bytes, graph.file));
    if (digest.bytes !== graph.bytes || digest.sha256 !== graph.sha256) {
      throw new PublishError(
        'refused',
        `${name} ${version} is broken: ${catalog.label(prefix + graph.file)} has ${digest.bytes} bytes hashing to ${digest.sha256}, ` +
          `its manifest says ${graph.bytes} bytes, ${graph.sha256}`,
      );
    }
    progress.fileDone(graph.file, graph.bytes);
  }
  return manifestDigest(stored.bytes);
}

function checkLabels(name: string, version: string): void {
  if (!isVersionLabel(version)) throw new PublishError('input', `"${version}" is not a version label (letters, digits, . _ + -)`);
  if (!isModelName(name)) throw new PublishError('input', `"${name}" is not a model name`);
}
