/**
 * Reader for the parity fixtures an export writes to <export>/fixtures/index.json: per graph and
 * batch size, named input tensors and the outputs PyTorch produced for them, as raw
 * little-endian float32 files.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface FixtureTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface FixtureCase {
  readonly graph: string;
  readonly batch: number;
  readonly inputs: Readonly<Record<string, FixtureTensor>>;
  readonly outputs: Readonly<Record<string, FixtureTensor>>;
}

export interface FixtureIndex {
  readonly tolerance: number;
  readonly cases: readonly FixtureCase[];
}

interface RawTensor {
  shape: number[];
  file: string;
}

interface RawIndex {
  tolerance: number;
  cases: { graph: string; batch: number; inputs: Record<string, RawTensor>; outputs: Record<string, RawTensor> }[];
}

export async function readFixtureIndex(exportDir: string): Promise<FixtureIndex> {
  const dir = join(exportDir, 'fixtures');
  const raw = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as RawIndex;
  const tensors = async (named: Record<string, RawTensor>) =>
    Object.fromEntries(
      await Promise.all(Object.entries(named).map(async ([name, t]) => [name, await readTensor(dir, t)] as const)),
    );
  return {
    tolerance: raw.tolerance,
    cases: await Promise.all(
      raw.cases.map(async (c) => ({
        graph: c.graph,
        batch: c.batch,
        inputs: await tensors(c.inputs),
        outputs: await tensors(c.outputs),
      })),
    ),
  };
}

async function readTensor(dir: string, tensor: RawTensor): Promise<FixtureTensor> {
  const bytes = await readFile(join(dir, tensor.file));
  const count = tensor.shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== count * 4) {
    throw new Error(`${tensor.file}: shape [${tensor.shape.join(',')}] needs ${count * 4} bytes, file has ${bytes.byteLength}`);
  }
  // DataView with littleEndian = true: correct on any host, not only little-endian ones.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
  return { shape: tensor.shape, data };
}

/** Export folders: every folder under `modelsDir` with a manifest.json, then the `extra` ones. */
export async function findExportDirs(modelsDir: string, extra: readonly string[]): Promise<string[]> {
  const entries = await readdir(modelsDir, { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = join(modelsDir, entry.name);
    if (await stat(join(dir, 'manifest.json')).then(() => true, () => false)) found.push(dir);
  }
  return [...found, ...extra];
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs((a[i] ?? 0) - (b[i] ?? 0));
    // NaN compares false: count it as an infinite error, not as no error.
    max = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : Math.max(max, diff);
  }
  return max;
}
