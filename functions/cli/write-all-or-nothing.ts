/**
 * Writes a set of output files so that a failure while writing leaves none of them behind: each
 * goes to a temporary name in its target folder (same file system, so rename is atomic), and only
 * when all are written are they renamed into place. No file is ever half-written.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface OutputFile {
  readonly path: string;
  readonly bytes: Uint8Array;
}

export async function writeAllOrNothing(files: readonly OutputFile[]): Promise<void> {
  const staged: { temp: string; path: string }[] = [];
  try {
    for (const file of files) {
      const temp = join(dirname(file.path), `.${basename(file.path)}.${randomBytes(6).toString('hex')}.tmp`);
      staged.push({ temp, path: file.path });
      await writeFile(temp, file.bytes, { flag: 'wx' });
    }
  } catch (error) {
    await Promise.all(staged.map(({ temp }) => rm(temp, { force: true })));
    throw error;
  }
  // A rename within one folder fails only in rare cases (the target became a folder, permissions
  // changed meanwhile); then no temporary file is left behind, but renames already done stay.
  try {
    for (const { temp, path } of staged) await rename(temp, path);
  } catch (error) {
    await Promise.all(staged.map(({ temp }) => rm(temp, { force: true })));
    throw error;
  }
}
