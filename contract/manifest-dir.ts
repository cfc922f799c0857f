/**
 * Reads an export folder (manifest.json beside its ONNX graphs) and verifies every graph file's
 * size and sha256 before anything loads it: a truncated download or a swapped file must fail here,
 * naming the file, not later as a confusing onnxruntime error or, worse, wrong pixels.
 *
 * Node-only (file system); the manifest parser itself stays in manifest.ts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ManifestError, parseManifest, type GraphEntry, type Manifest } from './manifest.ts';

export const MANIFEST_FILE = 'manifest.json';

export async function loadManifestFromDir(dir: string): Promise<Manifest> {
  const manifestPath = join(dir, MANIFEST_FILE);
  const manifest = parseManifest(await readJson(manifestPath), manifestPath);
  // Sequential on purpose: hashing is disk-bound, and the first bad file is reported first.
  for (const [i, graph] of manifest.graphs.entries()) {
    await verifyGraphFile(join(dir, graph.file), graph, `manifest.graphs[${i}]`);
  }
  return manifest;
}

/**
 * Throws a ManifestError naming `path` unless the file there has the size and sha256 that `graph`
 * declares; `field` is the graph's path in the manifest, for the message. The size is checked
 * first because it is free and catches a truncated file without hashing it.
 */
export async function verifyGraphFile(
  path: string,
  graph: Pick<GraphEntry, 'bytes' | 'sha256'>,
  field: string,
): Promise<void> {
  const size = await fileSize(path, field);
  if (size !== graph.bytes) {
    throw new ManifestError(path, [`${field}.bytes: manifest says ${graph.bytes} bytes, file has ${size}`]);
  }
  const digest = await sha256OfFile(path);
  if (digest !== graph.sha256) {
    throw new ManifestError(path, [`${field}.sha256: manifest says ${graph.sha256}, file hashes to ${digest}`]);
  }
}

/** Hex sha256 of a file, streamed so large graphs never sit in memory whole. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ManifestError(path, [`cannot read: ${describeFsError(error)}`]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ManifestError(path, [`is not valid JSON: ${(error as Error).message}`]);
  }
}

async function fileSize(path: string, field: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ManifestError(path, [`${field}.file: is not a regular file`]);
    return info.size;
  } catch (error) {
    if (error instanceof ManifestError) throw error;
    throw new ManifestError(path, [`${field}.file: cannot read: ${describeFsError(error)}`]);
  }
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return (error as Error).message;
}
