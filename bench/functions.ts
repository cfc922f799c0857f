/**
 * `npm run bench:functions`: the inference function measured as a platform would see it, in one
 * run on this machine, printed as one table.
 *
 *  - raw onnxruntime-node throughput of the translator (same graph, threads, batch size as the
 *    service) vs the service's HTTP throughput at saturation (decode + batch + encode + HTTP);
 *  - batch-1 vs adaptive batching under bursts of 64 concurrent requests (throughput, p50/p99);
 *  - health endpoint p99 while saturated;
 *  - cold start to ready from the local S3 server (empty cache) and from the disk cache;
 *  - peak RSS and RSS growth over 2,000 requests after warm-up.
 *
 *   npm run bench:functions [-- --model <export dir>] [--requests 2000] [--saturation 1000]
 */
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Tensor } from 'onnxruntime-node';
import { TENSOR_NAMES, translatorGraph } from '../contract/manifest.ts';
import { loadManifestFromDir } from '../contract/manifest-dir.ts';
import { stylesFromSeeds } from '../contract/seed-style.ts';
import { defaultPoolSize } from '../functions/inference/pool-size.ts';
import { openGraphSession } from '../functions/lib/onnx-session.ts';
import { startFunction, type FunctionProcess } from '../tests/support/function-process.ts';
import { startS3Server } from '../tests/support/s3-server.ts';
import { percentile } from './percentile.ts';
import { textTable } from './text-table.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BURST = 64;
const BURST_ROUNDS = 5;
const MAX_BATCH = 8;

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(ROOT, 'models/sa-munit-random') },
    requests: { type: 'string', default: '2000' },
    saturation: { type: 'string', default: '1000' },
  },
});
const modelDir = resolve(values.model);
const requestCount = Number(values.requests);
const saturationCount = Number(values.saturation);
const image = await readFile(join(ROOT, 'samples/circle.png'));
const temps: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bench-fn-'));
  temps.push(dir);
  return dir;
};

async function translate(url: string, seed: number): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${url}/v1/translate?seed=${seed}`, { method: 'POST', body: image, headers: { 'content-type': 'image/png' } });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`translate answered ${response.status}`);
  return performance.now() - started;
}

/** `total` requests, `concurrency` at a time; returns per-request latencies and the wall time. */
async function drive(url: string, total: number, concurrency: number): Promise<{ latencies: number[]; seconds: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) latencies.push(await translate(url, next++));
    }),
  );
  return { latencies, seconds: (performance.now() - started) / 1000 };
}

/** Samples a probe every `everyMs` until stopped; returns the samples. */
function sampler(probe: () => Promise<number>, everyMs: number): { stop: () => Promise<number[]> } {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push(await probe());
      await new Promise((wake) => setTimeout(wake, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

async function healthLatency(url: string): Promise<number> {
  const started = performance.now();
  await (await fetch(`${url}/v2/health/live`)).arrayBuffer();
  return performance.now() - started;
}

async function rawThroughput(threads: number): Promise<number> {
  const manifest = await loadManifestFromDir(modelDir);
  const session = await openGraphSession(join(modelDir, translatorGraph(manifest, 'a2b').file), { intraOpNumThreads: threads });
  const size = manifest.image_size;
  const names = TENSOR_NAMES.translator;
  const feeds = {
    [names.image]: new Tensor('float32', new Float32Array(MAX_BATCH * 3 * size * size).fill(0.2), [MAX_BATCH, 3, size, size]),
    [names.style]: new Tensor('float32', stylesFromSeeds([...Array(MAX_BATCH).keys()], manifest.style_dim), [MAX_BATCH, manifest.style_dim]),
  };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  let runs = 0;
  const started = performance.now();
  while (performance.now() - started < 3_000) {
    await session.run(feeds);
    runs++;
  }
  const seconds = (performance.now() - started) / 1000;
  await session.release();
  return (runs * MAX_BATCH) / seconds;
}

async function coldStart(env: Record<string, string>): Promise<number> {
  const started = performance.now();
  const fn = await startFunction(env);
  try {
    await fn.waitUntilReady(180_000);
    return (performance.now() - started) / 1000;
  } finally {
    await fn.stop();
  }
}

async function burst(fn: FunctionProcess): Promise<{ imagesPerSecond: number; p50: number; p99: number }> {
  await drive(fn.url, BURST, BURST); // warm the latency model and the connection pool
  const latencies: number[] = [];
  let seconds = 0;
  for (let round = 0; round < BURST_ROUNDS; round++) {
    const result = await drive(fn.url, BURST, BURST);
    latencies.push(...result.latencies);
    seconds += result.seconds;
  }
  return { imagesPerSecond: (BURST * BURST_ROUNDS) / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

try {
  const sizing = defaultPoolSize(cpus().length, 'cpu');
  process.stderr.write(`raw onnxruntime-node: ${sizing.intraOpThreads} threads, batch ${MAX_BATCH}\n`);
  // Raw: one session, as many threads as the service's pool has in all (its default sizing).
  const raw = await rawThroughput(sizing.workers * sizing.intraOpThreads);

  process.stderr.write('service at saturation\n');
  const fn = await startFunction({ MODEL_SOURCE: modelDir, MODEL_CACHE_DIR: await tempDir(), MAX_BATCH_SIZE: String(MAX_BATCH), LOG_LEVEL: 'warn' });
  await fn.waitUntilReady();
  await drive(fn.url, 200, 16); // warm-up
  const health = sampler(() => healthLatency(fn.url), 20);
  const saturated = await drive(fn.url, saturationCount, BURST);
  const healthLatencies = await health.stop();
  const served = saturated.latencies.length / saturated.seconds;

  process.stderr.write('adaptive batching burst\n');
  const adaptive = await burst(fn);

  process.stderr.write(`RSS over ${requestCount} requests\n`);
  const rssBefore = await rssBytes(fn.child.pid!);
  const rss = sampler(() => rssBytes(fn.child.pid!), 100);
  await drive(fn.url, requestCount, 16);
  const rssSamples = await rss.stop();
  const rssAfter = await rssBytes(fn.child.pid!);
  await fn.stop();

  process.stderr.write('batch-1 burst\n');
  const single = await startFunction({ MODEL_SOURCE: modelDir, MODEL_CACHE_DIR: await tempDir(), MAX_BATCH_SIZE: '1', LOG_LEVEL: 'warn' });
  await single.waitUntilReady();
  const batchOne = await burst(single);
  await single.stop();

  process.stderr.write('cold starts\n');
  const s3 = await startS3Server({ buckets: ['models'] });
  await s3.uploadDir('models', 'bench/1/', modelDir);
  const cache = await tempDir();
  const s3Env = { ...s3.env, MODEL_SOURCE: 's3://models/bench/1', MODEL_CACHE_DIR: cache, LOG_LEVEL: 'warn' };
  const fromS3 = await coldStart(s3Env);
  const fromCache = await coldStart(s3Env);
  await s3.stop();

  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const growth = (rssAfter - rssBefore) / rssBefore;
  const manifest = await loadManifestFromDir(modelDir);
  console.log(
    textTable(
      ['measure', 'value', 'goal'],
      [
        ['raw onnxruntime-node, batch 8', `${raw.toFixed(1)} img/s`, ''],
        ['service over HTTP at saturation (64 concurrent)', `${served.toFixed(1)} img/s (${((100 * served) / raw).toFixed(0)}% of raw)`, '≥ 95% of raw'],
        ['  latency p50 / p99 at saturation', `${ms(percentile(saturated.latencies, 50))} / ${ms(percentile(saturated.latencies, 99))}`, ''],
        ['health endpoint p99 while saturated', ms(percentile(healthLatencies, 99)), '< 50 ms'],
        [`burst of ${BURST}, batch 1: throughput`, `${batchOne.imagesPerSecond.toFixed(1)} img/s`, ''],
        [`burst of ${BURST}, batch 1: p50 / p99`, `${ms(batchOne.p50)} / ${ms(batchOne.p99)}`, ''],
        [`burst of ${BURST}, adaptive (max 8): throughput`, `${adaptive.imagesPerSecond.toFixed(1)} img/s (${(adaptive.imagesPerSecond / batchOne.imagesPerSecond).toFixed(2)}× batch 1)`, ''],
        [`burst of ${BURST}, adaptive (max 8): p50 / p99`, `${ms(adaptive.p50)} / ${ms(adaptive.p99)}`, ''],
        ['cold start to ready, local S3, empty cache', `${fromS3.toFixed(2)} s`, ''],
        ['cold start to ready, disk cache', `${fromCache.toFixed(2)} s`, ''],
        ['peak RSS', mib(Math.max(...rssSamples, rssAfter)), ''],
        [`RSS growth over ${requestCount} requests after warm-up`, `${(100 * growth).toFixed(1)}% (${mib(rssBefore)} → ${mib(rssAfter)})`, '≤ 10%'],
      ],
    ),
  );
  console.log(
    `model: ${manifest.name} ${manifest.version} (${manifest.image_size}² px); machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; ` +
      `service pool ${sizing.workers} worker(s) × ${sizing.intraOpThreads} thread(s), CPU provider; input samples/circle.png (256², PNG), output PNG`,
  );
} finally {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
}
