/**
 * A model export folder as the publisher sees it: its manifest (validated, every graph's size and
 * sha256 checked by the contract's own loader) and every file in it with its size, sha256 and MD5,
 * computed in one read. The manifest is what makes a folder a version; the other files
 * (parity fixtures, evaluation) travel with it so the store holds the export exactly.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { MANIFEST_FILE, loadManifestFromDir } from '../../contract/manifest-dir.ts';
import { ManifestError, type Manifest } from '../../contract/manifest.ts';
import { PublishError } from './publish-error.ts';

export interface ExportFile {
  /** Path relative to the folder, with "/" separators: the key below the version prefix. */
  readonly name: string;
  readonly path: string;
  readonly bytes: number;
  /** Hex. */
  readonly sha256: string;
  /** Base64, as the Content-MD5 header wants it. */
  readonly md5: string;
}

export interface ExportFolder {
  readonly dir: string;
  readonly manifest: Manifest;
  /** Every file, manifest.json last (it is uploaded last: its presence marks a whole version). */
  readonly files: readonly ExportFile[];
  readonly totalBytes: number;
}

export async function readExportFolder(dir: string): Promise<ExportFolder> {
  let info;
  try {
    info = await stat(dir);
  } catch {
    throw new PublishError('input', `export folder ${dir} does not exist`);
  }
  if (!info.isDirectory()) throw new PublishError('input', `${dir} is not a folder (expected a model export folder with manifest.json)`);
  let manifest: Manifest;
  try {
    manifest = await loadManifestFromDir(dir);
  } catch (error) {
    if (error instanceof ManifestError) throw new PublishError('input', `invalid export folder: ${error.message}`, { cause: error });
    throw error;
  }
  const paths = (await filesUnder(dir)).filter((path) => relative(dir, path) !== MANIFEST_FILE);
  paths.push(join(dir, MANIFEST_FILE));
  const files: ExportFile[] = [];
  for (const path of paths) {
    const { sha256, md5, bytes } = await digestFile(path);
    files.push({ name: relative(dir, path).split(sep).join('/'), path, bytes, sha256, md5 });
  }
  return { dir, manifest, files, totalBytes: files.reduce((sum, file) => sum + file.bytes, 0) };
}

async function digestFile(path: string): Promise<{ sha256: string; md5: string; bytes: number }> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let bytes = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    sha256.update(chunk);
    md5.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: sha256.digest('hex'), md5: md5.digest('base64'), bytes };
}

/**
 * Regular files below `dir`, sorted; hidden names (.DS_Store, editor files) are not part of an
 * export. Walked by hand: readdir's `recursive` needs Node 20.12, package.json allows 20.9.
 */
async function filesUnder(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files.sort();
}
