/**
 * A model export folder as the publisher sees it: its manifest (validated, every graph's size and
 * sha256 checked by the contract's own loader) and every file in it with its size, sha256 and MD5,
 * computed in one read. The manifest is what makes a folder a version; the other files
 * (parity fixtures, evaluation) travel with it so the store holds the export exactly.
 *
 * Symbolic links are followed, as the contract's loader follows them: a graph that is a link to a
 * file elsewhere is uploaded with the bytes it points at. A dangling link or a loop is refused.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { MANIFEST_FILE, loadManifestFromDir } from '../../contract/manifest-dir.ts';
import { ManifestError, type Manifest } from '../../contract/manifest.ts';
import { manifestDigest } from '../../functions/registry/model-pointer.ts';
import { PublishError } from './publish-error.ts';

export interface ExportFile {
  /** Path relative to the folder, with "/" separators: the key below the version prefix. */
  readonly name: string;
  readonly path: string;
  readonly bytes: number;
  /** Hex; for manifest.json, manifestDigest() of its bytes (what the pointer records). */
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
  const paths = (await filesUnder(dir, dir, [])).filter((path) => relative(dir, path) !== MANIFEST_FILE);
  const files: ExportFile[] = [];
  for (const path of paths) {
    const { sha256, md5, bytes } = await digestFile(path);
    files.push({ name: relative(dir, path).split(sep).join('/'), path, bytes, sha256, md5 });
  }
  files.push(await manifestFile(dir));
  const folder = { dir, manifest, files, totalBytes: files.reduce((sum, file) => sum + file.bytes, 0) };
  checkGraphsListed(folder);
  return folder;
}

/**
 * Throws PublishError('input') naming every graph of the manifest that is not among the folder's
 * files: a version is published only with every graph its manifest lists. readExportFolder calls
 * it, and publishVersion again before its first request, whoever built the folder.
 */
export function checkGraphsListed(folder: Pick<ExportFolder, 'dir' | 'manifest' | 'files'>): void {
  const names = new Set(folder.files.map((file) => file.name));
  const missing = folder.manifest.graphs.filter((graph) => !names.has(graph.file)).map((graph) => graph.file);
  if (missing.length > 0) {
    throw new PublishError(
      'input',
      `invalid export folder: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} listed in ${join(folder.dir, MANIFEST_FILE)} ` +
        'but not among the files to upload; nothing was published',
    );
  }
}

/** manifest.json, read whole (a few KiB) so its sha256 is manifestDigest() of the very bytes. */
async function manifestFile(dir: string): Promise<ExportFile> {
  const path = join(dir, MANIFEST_FILE);
  const bytes = await readFile(path);
  return { name: MANIFEST_FILE, path, bytes: bytes.length, sha256: manifestDigest(bytes), md5: createHash('md5').update(bytes).digest('base64') };
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
 * Files below `dir`, sorted; hidden names (.DS_Store, editor files) are not part of an export.
 * Symbolic links are followed (stat, not the entry's own type), so a linked graph is uploaded like
 * any file; a dangling link, a link loop or anything that is neither a file nor a folder is refused
 * naming it, never skipped in silence. `root` labels the messages; `ancestors` holds the real paths
 * of the folders being walked, to catch a loop. Walked by hand: readdir's `recursive` reports a
 * linked folder as a link and does not descend into it.
 */
async function filesUnder(dir: string, root: string, ancestors: readonly string[]): Promise<string[]> {
  const real = await realpath(dir);
  if (ancestors.includes(real)) {
    throw new PublishError('input', `invalid export folder: ${relative(root, dir)} links back to a folder that contains it (a loop)`);
  }
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'is a symbolic link to nothing' : `cannot be read (${code ?? (error as Error).message})`;
      throw new PublishError('input', `invalid export folder: ${relative(root, path)} ${why}`, { cause: error });
    }
    if (info.isDirectory()) files.push(...(await filesUnder(path, root, [...ancestors, real])));
    else if (info.isFile()) files.push(path);
    else throw new PublishError('input', `invalid export folder: ${relative(root, path)} is neither a file nor a folder`);
  }
  return files.sort();
}
