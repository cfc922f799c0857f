/**
 * `npm run bench:model`: PyTorch eager vs onnxruntime-node, same weights, same shapes, same
 * thread count, for SA-MUNIT and plain MUNIT. The goal it reports against: onnxruntime-node at
 * least 3× faster per image than PyTorch eager on CPU.
 *
 * The Python side (`python -m sa_munit bench-torch`) exports both architectures at the default
 * config (seed 0) and times their a2b translator in PyTorch; this script times the exported a2b
 * graph in onnxruntime-node, the way the service opens it, and prints one table.
 *
 * Each row also shows the achieved GFLOP/s (the Python side counts the translator's conv, linear
 * and attention work), and a plain 2048³ fp32 matmul timed in both runtimes gives this machine's
 * compute ceiling: a runtime close to it cannot be made several times faster without changing the
 * arithmetic (fewer FLOPs, lower precision), only by moving to faster hardware.
 *
 *   npm run bench:model                     # runs the Python side into a temp folder
 *   npm run bench:model -- --from <dir>     # reuse a folder an earlier bench-torch run wrote
 *   npm run bench:model -- --sizes 128 --batches 1
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { TENSOR_NAMES, translatorGraph } from '../contract/manifest.ts';
import { loadManifestFromDir } from '../contract/manifest-dir.ts';
import { splitMix64, stylesFromSeeds, uniformFromUint64 } from '../contract/seed-style.ts';
import { openGraphSession } from '../functions/lib/onnx-session.ts';
import { textTable } from './text-table.ts';

const ROOT = resolve(import.meta.dirname, '..');
const PYTHON = join(ROOT, 'model-export/.venv/bin/python');
const GOAL_SPEEDUP = 3;
const WARMUP_RUNS = 2;
const MIN_RUNS = 5;
const MAX_RUNS = 50;
const MIN_TIMED_MS = 2_000; // keep timing until this much has been measured (or MAX_RUNS)
const INPUT_SEED = 20_261_127;
const MIB = 1024 * 1024;

interface TorchResult {
  arch: string;
  size: number;
  batch: number;
  ms_per_image: number;
  gflop_per_image: number;
  attention_bytes_per_image: number;
}

interface TorchTimings {
  machine: { cpu?: string; cores?: number; platform?: string };
  torch?: string;
  torch_threads: number;
  matmul: { file: string; side: number; torch_gflops: number };
  results: TorchResult[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
      sizes: { type: 'string', default: '128,256' },
      batches: { type: 'string', default: '1,4' },
    },
  });
  const fromDir = values.from;
  const benchDir = fromDir ?? (await mkdtemp(join(tmpdir(), 'bench-model-')));
  try {
    if (fromDir === undefined) await runTorchBench(benchDir, values.sizes, values.batches);
    const timings = await readTimings(join(benchDir, 'torch-timings.json'));
    const rows: (string | number)[][] = [];
    let met = 0;
    for (const arch of [...new Set(timings.results.map((r) => r.arch))]) {
      const session = await openTranslator(join(benchDir, arch), timings.torch_threads);
      try {
        for (const result of timings.results.filter((r) => r.arch === arch)) {
          const ortMs = (await timeSession(session.session, result.size, result.batch, session.styleDim)) / result.batch;
          const speedup = result.ms_per_image / ortMs;
          if (speedup >= GOAL_SPEEDUP) met++;
          rows.push([
            arch,
            `${result.size}²`,
            result.batch,
            result.ms_per_image.toFixed(1),
            ortMs.toFixed(1),
            `${speedup.toFixed(2)}×`,
            result.gflop_per_image.toFixed(1),
            gflops(result.gflop_per_image, result.ms_per_image),
            gflops(result.gflop_per_image, ortMs),
            (result.attention_bytes_per_image / MIB).toFixed(2),
          ]);
          process.stderr.write(`timed ${arch} ${result.size}² batch ${result.batch}\n`);
        }
      } finally {
        await session.session.release();
      }
    }
    const matmulOrtGflops = await timeMatmul(join(benchDir, timings.matmul.file), timings.matmul.side, timings.torch_threads);
    const cpu = timings.machine.cpu ?? cpus()[0]?.model ?? 'unknown CPU';
    const cores = timings.machine.cores ?? cpus().length;
    console.log(
      textTable(
        ['arch', 'size', 'batch', 'torch ms/img', 'ort ms/img', 'speed-up', 'GFLOP/img', 'torch GFLOP/s', 'ort GFLOP/s', 'attention MiB/img'],
        rows,
      ),
    );
    const side = timings.matmul.side;
    console.log(
      `compute ceiling, fp32 matmul ${side}x${side}x${side}: torch ${timings.matmul.torch_gflops.toFixed(0)} GFLOP/s, ` +
        `onnxruntime ${matmulOrtGflops.toFixed(0)} GFLOP/s`,
    );
    console.log(
      `machine: ${cpu}, ${cores} cores; torch ${timings.torch ?? '?'} eager, ${timings.torch_threads} threads; ` +
        `onnxruntime-node CPU, intraOpNumThreads ${timings.torch_threads}, median of >= ${MIN_RUNS} runs after ${WARMUP_RUNS} warm-up`,
    );
    console.log(`goal: onnxruntime-node >= ${GOAL_SPEEDUP}× faster than PyTorch eager per image — met in ${met} of ${rows.length} rows`);
  } finally {
    if (fromDir === undefined) await rm(benchDir, { recursive: true, force: true });
  }
}

function runTorchBench(out: string, sizes: string, batches: string): Promise<void> {
  const args = ['-m', 'sa_munit', 'bench-torch', '--out', out, '--sizes', sizes, '--batches', batches];
  process.stderr.write(`running ${PYTHON} ${args.join(' ')}\n`);
  return new Promise((done, fail) => {
    const child = execFile(PYTHON, args, { cwd: join(ROOT, 'model-export'), maxBuffer: 16 * MIB }, (error) => {
      if (error === null) done();
      else fail(new Error(`bench-torch failed (${error.message.split('\n')[0]}); is model-export/.venv set up?`));
    });
    child.stderr?.pipe(process.stderr); // its progress lines
  });
}

async function readTimings(path: string): Promise<TorchTimings> {
  const json = JSON.parse(await readFile(path, 'utf8')) as Partial<TorchTimings>;
  if (
    !Number.isInteger(json.torch_threads) ||
    json.matmul === undefined ||
    !Array.isArray(json.results) ||
    json.results.length === 0
  ) {
    throw new Error(`${path}: expected torch_threads, matmul and a non-empty results list (written by sa_munit bench-torch)`);
  }
  return {
    machine: json.machine ?? {},
    torch_threads: json.torch_threads ?? 1,
    matmul: json.matmul,
    results: json.results,
    ...(json.torch === undefined ? {} : { torch: json.torch }),
  };
}

async function openTranslator(exportDir: string, threads: number): Promise<{ session: InferenceSession; styleDim: number }> {
  const manifest = await loadManifestFromDir(exportDir);
  const file = translatorGraph(manifest, 'a2b').file;
  const session = await openGraphSession(join(exportDir, file), { intraOpNumThreads: threads });
  return { session, styleDim: manifest.style_dim };
}

function gflops(gflop: number, ms: number): string {
  return (gflop / (ms / 1000)).toFixed(0);
}

/** GFLOP/s of onnxruntime's fp32 matmul on two random side x side matrices. */
async function timeMatmul(file: string, side: number, threads: number): Promise<number> {
  const session = await openGraphSession(file, { intraOpNumThreads: threads });
  try {
    const next = splitMix64(INPUT_SEED);
    const matrix = (): Tensor => {
      const data = new Float32Array(side * side);
      for (let i = 0; i < data.length; i++) data[i] = uniformFromUint64(next()) * 2 - 1;
      return new Tensor('float32', data, [side, side]);
    };
    const ms = await medianRunMs(session, { a: matrix(), b: matrix() });
    return (2 * side ** 3) / (ms / 1000) / 1e9;
  } finally {
    await session.release();
  }
}

/** Median ms of one run of a batch, inputs as on the PyTorch side: images uniform in [-1, 1]. */
async function timeSession(session: InferenceSession, size: number, batch: number, styleDim: number): Promise<number> {
  const next = splitMix64(INPUT_SEED + size + batch);
  const image = new Float32Array(batch * 3 * size * size);
  for (let i = 0; i < image.length; i++) image[i] = uniformFromUint64(next()) * 2 - 1;
  const names = TENSOR_NAMES.translator;
  const feeds = {
    [names.image]: new Tensor('float32', image, [batch, 3, size, size]),
    [names.style]: new Tensor('float32', stylesFromSeeds(Array.from({ length: batch }, (_, i) => i), styleDim), [batch, styleDim]),
  };
  return medianRunMs(session, feeds);
}

/** Median ms of session.run(feeds) after warm-up runs, timed for at least MIN_TIMED_MS. */
async function medianRunMs(session: InferenceSession, feeds: InferenceSession.FeedsType): Promise<number> {
  for (let i = 0; i < WARMUP_RUNS; i++) await session.run(feeds);
  const samples: number[] = [];
  let total = 0;
  while (samples.length < MAX_RUNS && (samples.length < MIN_RUNS || total < MIN_TIMED_MS)) {
    const start = performance.now();
    await session.run(feeds);
    const ms = performance.now() - start;
    samples.push(ms);
    total += ms;
  }
  samples.sort((a, b) => a - b);
  const mid = samples.length >> 1;
  return samples.length % 2 === 1 ? (samples[mid] ?? 0) : ((samples[mid - 1] ?? 0) + (samples[mid] ?? 0)) / 2;
}

try {
  await main();
} catch (error) {
  console.error(`bench:model: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
