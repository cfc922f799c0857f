/**
 * The images of a batch: the image files directly in one folder, checked and fingerprinted before
 * anything is sent. The fingerprints (size and sha256 per file) make the create request's
 * Idempotency-Key and let a resumed run notice a folder that changed under it; the bytes are read
 * again at upload time, so 10,000 images never sit in memory at once.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import pLimit from 'p-limit';
import { MAX_BATCH_ITEMS, MAX_ITEM_NAME_LENGTH } from '../../contract/batch-api.ts';
import { sniffImageFormat, type SniffedFormat } from '../../contract/image-sniff.ts';
import type { ImageFile } from './api-client.ts';
import { UsageError } from './usage-error.ts';

export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.png', '.jpg', '.jpeg', '.webp']);
/** Files hashed at once: enough to keep a disk busy, few enough to leave descriptors to the rest. */
const READ_CONCURRENCY = 8;

export interface BatchFile {
  /** The item's index in the job: its position in the sorted file list. */
  readonly index: number;
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
}

/**
 * The folder's image files by name (code-point order, the same on every machine and locale).
 * Hidden files are skipped (a Mac's `._photo.png` companions are not images); a file with an image
 * extension that is not one by its first bytes is refused, naming it.
 */
export async function readBatchFolder(folder: string): Promise<BatchFile[]> {
  const entries = await readdir(folder, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    const reason = error.code === 'ENOENT' ? 'no such folder' : error.code === 'ENOTDIR' ? 'not a folder' : error.message;
    throw new UsageError(`<folder> ${folder}: ${reason}`);
  });
  const names = entries
    .filter((entry) => !entry.name.startsWith('.') && IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase()))
    .filter((entry) => entry.isFile() || entry.isSymbolicLink())
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) throw new UsageError(`<folder> ${folder}: no image files in it (${[...IMAGE_EXTENSIONS].join(', ')})`);
  if (names.length > MAX_BATCH_ITEMS) throw new UsageError(`<folder> ${folder}: ${names.length} images, and a batch holds at most ${MAX_BATCH_ITEMS}`);
  const tooLong = names.find((name) => name.length > MAX_ITEM_NAME_LENGTH);
  if (tooLong !== undefined) throw new UsageError(`${join(folder, tooLong)}: a batch item's name has at most ${MAX_ITEM_NAME_LENGTH} characters`);
  checkDistinctStems(folder, names);

  const limit = pLimit(READ_CONCURRENCY);
  return Promise.all(
    names.map((name, index) =>
      limit(async () => {
        const { bytes } = await readBatchImage(folder, name);
        return { index, name, size: bytes.byteLength, sha256: sha256Hex(bytes) };
      }),
    ),
  );
}

/** One file's bytes, checked to be an image (by its magic bytes, as the API checks them). */
export async function readBatchImage(folder: string, name: string): Promise<ImageFile & { readonly format: SniffedFormat }> {
  const path = join(folder, name);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${path}: ${code === 'ENOENT' ? 'no such file (the folder changed)' : (error as Error).message}`);
  }
  const format = sniffImageFormat(bytes);
  if (format === undefined) throw new UsageError(`${path}: not a PNG, JPEG or WebP image (by its first bytes), though its name says so`);
  return { bytes, format, name };
}

export const sha256Hex = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/** The results of `photo.png` and `photo.jpg` would both be named photo.<format>. */
function checkDistinctStems(folder: string, names: readonly string[]): void {
  const byStem = new Map<string, string>();
  for (const name of names) {
    const stem = fileStem(name).toLowerCase();
    const other = byStem.get(stem);
    if (other !== undefined) throw new UsageError(`${join(folder, other)} and ${name}: their results would have the same name; rename one`);
    byStem.set(stem, name);
  }
}

/** The name without its extension: what result file names start with. */
export const fileStem = (name: string): string => name.slice(0, name.length - extname(name).length) || name;

/** Whether `path` exists as something other than a folder (an --out that cannot hold results). */
export async function isNonFolder(path: string): Promise<boolean> {
  const found = await stat(path).catch(() => undefined);
  return found !== undefined && !found.isDirectory();
}
