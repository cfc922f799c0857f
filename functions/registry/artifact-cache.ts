/**
 * Content-addressed disk cache of verified model files, `<dir>/sha256/<hex>`, plus the last
 * verified manifest of each source, so a restart neither downloads again nor needs the store.
 *
 * A file enters the cache only after its size and sha256 matched while it streamed to a temp file,
 * and then by an atomic rename: a path under sha256/ never holds a partial or unverified file, and a
 * file's bytes never change under a model that has it open (a reload may rename a fresh copy over a
 * damaged one, which leaves open handles on the old inode).
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ManifestError } from '../../contract/manifest.ts';

export interface ArtifactDigest {
  readonly sha256: string;
  readonly bytes: number;
}

export interface StoreOptions {
  /** Names the file in a mismatch error, e.g. its object URL. */
  readonly label: string;
  /** Called with each chunk's length as it streams, for progress. */
  readonly onBytes?: (bytes: number) => void;
  readonly signal?: AbortSignal;
}

/** What rememberManifest wrote; `manifest` is the parsed manifest.json as fetched. */
export interface RememberedManifest {
  readonly source: string;
  readonly saved_at: string;
  readonly manifest: unknown;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** A temp file untouched this long belongs to a download that died with its process. */
const STALE_TEMP_MS = 60 * 60 * 1000; // 1 h

export class ArtifactCache {
  readonly dir: string;

  /** Creates the folders if needed and removes temp files that crashed downloads left behind. */
  static async open(dir: string): Promise<ArtifactCache> {
    const cache = new ArtifactCache(dir);
    await Promise.all([cache.#filesDir, cache.#sourcesDir, cache.#tempDir].map((d) => mkdir(d, { recursive: true })));
    await cache.#removeStaleTemps();
    return cache;
  }

  private constructor(dir: string) {
    this.dir = dir;
  }

  get #filesDir(): string {
    return join(this.dir, 'sha256');
  }

  get #sourcesDir(): string {
    return join(this.dir, 'sources');
  }

  get #tempDir(): string {
    return join(this.dir, 'tmp');
  }

  path(sha256: string): string {
    // The digest comes from a validated manifest; checked again because it becomes a file name.
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256 hex digest: ${JSON.stringify(sha256)}`);
    return join(this.#filesDir, sha256);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.path(sha256))).isFile();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  /**
   * Streams `body` into the cache and returns the file's path. Throws a ManifestError naming
   * `options.label` when the bytes do not match `expected` (stopping as soon as there are too
   * many), and leaves nothing behind on any failure.
   */
  async store(expected: ArtifactDigest, body: Readable, options: StoreOptions): Promise<string> {
    const target = this.path(expected.sha256);
    const temp = join(this.#tempDir, `${expected.sha256}.${randomUUID()}.part`);
    const check = new DigestCheck(expected, options.label, options.onBytes);
    try {
      await pipeline(
        body,
        check,
        createWriteStream(temp, { flags: 'wx' }),
        options.signal === undefined ? {} : { signal: options.signal },
      );
      check.verify();
      await rename(temp, target);
      return target;
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  /** Records `manifest` as the last verified version of `source`; call once all its files are cached. */
  async rememberManifest(source: string, manifest: unknown): Promise<void> {
    const record: RememberedManifest = { source, saved_at: new Date().toISOString(), manifest };
    const temp = join(this.#tempDir, `source.${randomUUID()}.part`);
    try {
      await writeFile(temp, `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx' });
      await rename(temp, this.#sourcePath(source));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }

  /** The record rememberManifest last wrote for `source`, or undefined if none or unreadable. */
  async recallManifest(source: string): Promise<RememberedManifest | undefined> {
    let text: string;
    try {
      text = await readFile(this.#sourcePath(source), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const record = JSON.parse(text) as Partial<RememberedManifest> | null;
      if (record?.source !== source || !('manifest' in record)) return undefined;
      return record as RememberedManifest;
    } catch {
      return undefined;
    }
  }

  #sourcePath(source: string): string {
    return join(this.#sourcesDir, `${createHash('sha256').update(source).digest('hex')}.json`);
  }

  async #removeStaleTemps(): Promise<void> {
    const now = Date.now();
    for (const name of await readdir(this.#tempDir)) {
      const path = join(this.#tempDir, name);
      try {
        // A download in progress (another process sharing the cache) keeps touching its file.
        if (now - (await stat(path)).mtimeMs > STALE_TEMP_MS) await rm(path, { force: true });
      } catch {
        // Gone already: another process cleaned or finished it.
      }
    }
  }
}

/** Hashes and counts bytes on their way to disk; fails early once there are more than expected. */
class DigestCheck extends Transform {
  readonly #expected: ArtifactDigest;
  readonly #label: string;
  readonly #onBytes: ((bytes: number) => void) | undefined;
  readonly #hash: Hash = createHash('sha256');
  #size = 0;

  constructor(expected: ArtifactDigest, label: string, onBytes: ((bytes: number) => void) | undefined) {
    super();
    this.#expected = expected;
    this.#label = label;
    this.#onBytes = onBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    if (this.#size > this.#expected.bytes) {
      callback(this.#mismatch(`size mismatch (expected ${this.#expected.bytes} bytes, got more than that)`));
      return;
    }
    this.#hash.update(chunk);
    this.#onBytes?.(chunk.length);
    callback(null, chunk);
  }

  /** Call after the stream finished: throws unless size and digest are the expected ones. */
  verify(): void {
    if (this.#size !== this.#expected.bytes) {
      throw this.#mismatch(`size mismatch (expected ${this.#expected.bytes} bytes, got ${this.#size})`);
    }
    const actual = this.#hash.digest('hex');
    if (actual !== this.#expected.sha256) {
      throw this.#mismatch(`sha256 mismatch (expected ${this.#expected.sha256}, got ${actual})`);
    }
  }

  #mismatch(problem: string): ManifestError {
    return new ManifestError(this.#label, [problem]);
  }
}
