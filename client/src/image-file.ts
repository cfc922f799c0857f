/**
 * An image the user names on the command line, read whole and checked before any request: a
 * missing, unreadable or non-image file is the user's to fix (exit 2, naming the option and the
 * file), not a round trip that ends in a 415.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { sniffImageFormat } from '../../contract/image-sniff.ts';
import type { ImageFile } from './api-client.ts';
import { UsageError } from './usage-error.ts';

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a folder, not an image file',
};

/** `label` names where the path came from ("<image>", "--style-image"). */
export async function readImageFile(path: string, label: string): Promise<ImageFile> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    throw new UsageError(`${label} ${path}: ${READ_ERRORS[code] ?? (error as Error).message}`);
  }
  const format = sniffImageFormat(bytes);
  if (format === undefined) throw new UsageError(`${label} ${path}: not a PNG, JPEG or WebP image`);
  return { bytes, format, name: basename(path) };
}
