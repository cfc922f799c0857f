/**
 * `npm run bench:edge`: the edge Worker under `wrangler dev` (workerd, local R2/KV/Cache API)
 * in front of one real function process, all on loopback, printed as one table.
 *
 *  - cache MISS vs cache HIT latency (p50/p95/p99) and throughput for the same upload at a modest
 *    concurrency: misses use a distinct seed each (a distinct content address), hits repeat one
 *    request that is already stored; goal: hit p50 ≤ 5% of miss p50;
 *  - the edge's added latency: the same translation straight to the function's POST /v1/translate
 *    vs through the edge on the miss path (distinct seeds for both), one request at a time and
 *    interleaved so that background load falls on both alike; goal: p50 difference ≤ 10 ms;
 *  - the fixed cost of a cheap route: health checks and GET /v1/models, edge vs function.
 *
 * A benchmark, not a test: nothing here fails on a slow number, it only reports it.
 *
 *   npm run bench:edge [-- --requests 30] [--concurrency 4] [--warmup 3]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { loadManifestFromDir } from '../contract/manifest-dir.ts';
import { createKey } from '../edge/cli/keys.ts';
import { EMBEDDED_MODEL_DIR } from '../functions/config.ts';
import { startFunction, type FunctionProcess } from '../tests/support/function-process.ts';
import { startWranglerDev, type WranglerDev } from '../tests/support/wrangler-dev.ts';
import { positiveInteger } from './bench-args.ts';
import { percentile } from './percentile.ts';
import { teardownOnSignals } from './teardown.ts';
import { textTable, type Cell } from './text-table.ts';

const ROOT = resolve(import.meta.dirname, '..');
/**
 * The local RATE_LIMITER allows 120 translations per key per 60 s (edge/wrangler.toml). The bench
 * spreads its requests over enough keys that none comes near that, rather than benchmarking a
 * config other than the committed one.
 */
const TRANSLATIONS_PER_KEY = 100;
const HIT_RATIO_GOAL = 0.05;
const ADDED_LATENCY_GOAL_MS = 10;

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '3' },
  },
});
const requestCount = positiveInteger('requests', values.requests);
const concurrency = positiveInteger('concurrency', values.concurrency);
const warmupCount = positiveInteger('warmup', values.warmup);

// Everything started is registered here and stopped once, in reverse order (the edge before the
// function it forwards to, temp folders last), on success, error or signal.
const teardown = teardownOnSignals('wrangler dev and the function');

// ---- measuring

interface Run {
  readonly latencies: number[];
  readonly seconds: number;
}

/** Runs `count` requests, `parallel` at a time (p-limit), and keeps each one's latency. */
async function drive(count: number, parallel: number, request: (index: number) => Promise<number>): Promise<Run> {
  const limit = pLimit(parallel);
  const started = performance.now();
  const latencies = await Promise.all(Array.from({ length: count }, (_, index) => limit(() => request(index))));
  return { latencies, seconds: (performance.now() - started) / 1000 };
}

/** Times one request including reading its whole body, and refuses any answer but the expected one. */
async function timed(what: string, send: () => Promise<Response>, expectedCache?: 'HIT' | 'MISS'): Promise<number> {
  const started = performance.now();
  const response = await send();
  const body = await response.arrayBuffer();
  const elapsed = performance.now() - started;
  if (response.status !== 200) throw new Error(`${what} answered ${response.status}: ${new TextDecoder().decode(body).slice(0, 300)}`);
  const cache = response.headers.get('x-cache');
  if (expectedCache !== undefined && cache !== expectedCache) throw new Error(`${what} answered X-Cache ${cache}, expected ${expectedCache}`);
  return elapsed;
}

// ---- the run

try {
  const image = new Uint8Array(await readFile(join(ROOT, 'samples/circle.png')));
  const modelDir = EMBEDDED_MODEL_DIR;
  const manifest = await loadManifestFromDir(modelDir);
  const persistTo = await mkdtemp(join(tmpdir(), 'bench-edge-'));
  teardown.add(() => rm(persistTo, { recursive: true, force: true }));

  process.stderr.write(`function: ${manifest.name} ${manifest.version} from ${modelDir}\n`);
  // The function as `npm run start:function` runs it (default pool sizing); a short shutdown grace
  // because nobody waits for its in-flight work once the bench stops.
  const fn: FunctionProcess = await startFunction({ MODEL_SOURCE: modelDir, LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '2000' });
  teardown.add(() => fn.stop());
  await fn.waitUntilReady();

  // Every edge translation this run sends: warm-up, the stored request and its warm-up hits,
  // sequential misses and hits, concurrent misses, concurrent hits.
  const plannedTranslations = warmupCount + 1 + warmupCount + 2 * requestCount + requestCount + requestCount;
  const keyCount = Math.ceil(plannedTranslations / TRANSLATIONS_PER_KEY);
  process.stderr.write(`keys: ${keyCount} secret key(s) through the keys CLI (local store)\n`);
  const store = { remote: false, env: undefined, persistTo };
  const tokens: string[] = [];
  // One at a time: each is a `wrangler kv key put` against the same local store.
  for (let index = 0; index < keyCount; index++) tokens.push((await createKey(store, { kind: 'secret', name: `bench-edge-${index}`, origins: [] })).token);
  let translationsSent = 0;
  const nextToken = () => tokens[Math.floor(translationsSent++ / TRANSLATIONS_PER_KEY) % tokens.length]!;

  process.stderr.write('wrangler dev\n');
  // The committed local config; only the pool points at the bench's function.
  const edge: WranglerDev = await startWranglerDev({ persistTo, vars: { FUNCTION_POOL: fn.url } });
  teardown.add(() => edge.stop());

  // Distinct seeds give distinct content addresses, so every such request is a miss at the edge.
  let nextSeed = 1_000_000;
  const viaFunction = (seed: number) =>
    timed('function POST /v1/translate', () =>
      fetch(`${fn.url}/v1/translate?seed=${seed}`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: image }),
    );
  const viaEdge = (seed: number, expectedCache: 'HIT' | 'MISS') =>
    timed(
      'edge POST /v1/translations',
      () =>
        fetch(`${edge.url}/v1/translations?seed=${seed}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${nextToken()}`, 'content-type': 'image/png' },
          body: image,
        }),
      expectedCache,
    );
  const get = (url: string) => timed(`GET ${url}`, () => fetch(url));

  // Warm-up: sessions, connection pools, the edge's model catalogue, workerd's compiled code.
  process.stderr.write(`warm-up: ${warmupCount} request(s) each way\n`);
  for (let index = 0; index < warmupCount; index++) {
    await viaFunction(nextSeed++);
    await viaEdge(nextSeed++, 'MISS');
    await get(`${edge.url}/v1/models`);
  }
  // The request every HIT row repeats. The Cache API write runs in waitUntil after the MISS answer;
  // the warm-up hits give it time and warm the hit path itself.
  const cachedSeed = nextSeed++;
  await viaEdge(cachedSeed, 'MISS');
  for (let index = 0; index < warmupCount; index++) await viaEdge(cachedSeed, 'HIT');

  // Added latency: one at a time, direct and edge alternating which goes first, so a burst of
  // training-job load or a GC pause lands on both sides equally often.
  process.stderr.write(`sequential: ${requestCount} rounds of direct vs edge (miss, health, models) and one edge hit\n`);
  const direct: number[] = [];
  const throughEdge: number[] = [];
  const functionHealth: number[] = [];
  const edgeHealth: number[] = [];
  const functionModels: number[] = [];
  const edgeModels: number[] = [];
  const sequentialHits: number[] = [];
  for (let index = 0; index < requestCount; index++) {
    const pairs: [() => Promise<void>, () => Promise<void>][] = [
      [async () => void direct.push(await viaFunction(nextSeed++)), async () => void throughEdge.push(await viaEdge(nextSeed++, 'MISS'))],
      [async () => void functionHealth.push(await get(`${fn.url}/v2/health/live`)), async () => void edgeHealth.push(await get(`${edge.url}/healthz`))],
      [async () => void functionModels.push(await get(`${fn.url}/v1/models`)), async () => void edgeModels.push(await get(`${edge.url}/v1/models`))],
    ];
    for (const [functionSide, edgeSide] of pairs) {
      if (index % 2 === 0) {
        await functionSide();
        await edgeSide();
      } else {
        await edgeSide();
        await functionSide();
      }
    }
    // Edge only, but in the same loop so it sees the same background load: what a HIT costs
    // without queueing, to set against the health check (the bare cost of a request through workerd).
    sequentialHits.push(await viaEdge(cachedSeed, 'HIT'));
  }

  process.stderr.write(`misses: ${requestCount} distinct seeds, ${concurrency} at a time\n`);
  const missSeeds = Array.from({ length: requestCount }, () => nextSeed++);
  const misses = await drive(requestCount, concurrency, (index) => viaEdge(missSeeds[index]!, 'MISS'));

  process.stderr.write(`hits: one stored request repeated ${requestCount} times, ${concurrency} at a time\n`);
  const hits = await drive(requestCount, concurrency, () => viaEdge(cachedSeed, 'HIT'));

  // ---- the table

  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const latencyCells = (samples: readonly number[]): Cell[] => [ms(percentile(samples, 50)), ms(percentile(samples, 95)), ms(percentile(samples, 99))];
  const perSecond = (run: Run) => `${(run.latencies.length / run.seconds).toFixed(1)} req/s`;
  const met = (ok: boolean) => (ok ? 'yes' : 'NO');
  const p50 = (samples: readonly number[]) => percentile(samples, 50);

  const hitRatio = p50(hits.latencies) / p50(misses.latencies);
  // Without queueing in front of the function a miss is cheaper, so the same goal is harder.
  const sequentialHitRatio = p50(sequentialHits) / p50(throughEdge);
  const addedP50 = p50(throughEdge) - p50(direct);
  const sequential = 'sequential';
  const parallel = `${concurrency} concurrent`;
  const rows: Cell[][] = [
    ['edge POST /v1/translations, MISS', parallel, ...latencyCells(misses.latencies), perSecond(misses), '', ''],
    ['edge POST /v1/translations, HIT', parallel, ...latencyCells(hits.latencies), perSecond(hits), '', ''],
    [`  hit p50 / miss p50 (${parallel})`, '', `${(100 * hitRatio).toFixed(1)}%`, '', '', '', `≤ ${100 * HIT_RATIO_GOAL}%`, met(hitRatio <= HIT_RATIO_GOAL)],
    ['function POST /v1/translate (direct)', sequential, ...latencyCells(direct), '', '', ''],
    ['edge POST /v1/translations, MISS', sequential, ...latencyCells(throughEdge), '', '', ''],
    ['  edge added latency (p50 difference)', '', ms(addedP50), '', '', '', `≤ ${ADDED_LATENCY_GOAL_MS} ms`, met(addedP50 <= ADDED_LATENCY_GOAL_MS)],
    ['edge POST /v1/translations, HIT', sequential, ...latencyCells(sequentialHits), '', '', ''],
    ['  hit p50 / miss p50 (sequential)', '', `${(100 * sequentialHitRatio).toFixed(1)}%`, '', '', '', `≤ ${100 * HIT_RATIO_GOAL}%`, met(sequentialHitRatio <= HIT_RATIO_GOAL)],
    ['function GET /v2/health/live', sequential, ...latencyCells(functionHealth), '', '', ''],
    ['edge GET /healthz', sequential, ...latencyCells(edgeHealth), '', '', ''],
    ['function GET /v1/models', sequential, ...latencyCells(functionModels), '', '', ''],
    ['edge GET /v1/models (per-isolate catalogue)', sequential, ...latencyCells(edgeModels), '', '', ''],
  ];
  console.log(textTable(['measure', 'load', 'p50', 'p95', 'p99', 'throughput', 'goal', 'met'], rows));

  const wranglerVersion = (JSON.parse(await readFile(join(ROOT, 'node_modules/wrangler/package.json'), 'utf8')) as { version: string }).version;
  console.log(
    `model: ${manifest.name} ${manifest.version} (${manifest.image_size}² px); machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ` +
      `load average ${loadavg()[0]!.toFixed(2)} at the end; function: default pool sizing, CPU provider; edge: wrangler ${wranglerVersion} dev (local bindings) on loopback; ` +
      `input samples/circle.png (${image.byteLength} B PNG), output PNG; ${requestCount} requests per row, ${warmupCount} warm-up`,
  );
} finally {
  await teardown.run();
}
