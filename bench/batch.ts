/**
 * `npm run bench:batch`: the batch API (issue 7) under `wrangler dev` (workerd with its local
 * Queues, R2 and Durable Objects) in front of one real function process, all on loopback, printed
 * as two tables.
 *
 *  - throughput: the function's raw throughput (POST /v1/translate straight to it, distinct seeds,
 *    enough in flight to saturate it) against the batch path: one job of `--items` items (distinct
 *    seeds, so nothing is reused), its uploads timed on their own, then items/s from the moment the
 *    last upload is accepted until the job is completed, and end to end (create → completed);
 *    goal: batch items/s ≥ 80% of raw;
 *  - the synchronous API during a batch: POST /v1/translations latency (distinct seeds, one at a
 *    time at a fixed rate) on an idle stack, and while a second job is being processed; the p99
 *    ratio says what a batch costs the synchronous customers. The same straight at the function
 *    (interactive priority) separates its priority lane from the edge's share of this machine.
 *
 * A benchmark, not a test: nothing here fails on a slow number, it only reports it.
 *
 *   npm run bench:batch [-- --items 2000] [--raw 400] [--sync 100] [--concurrency 16]
 *                       [--load-items <--items>] [--sync-rate 4] [--warmup 3] [--pin]
 *                       [--workers N] [--intra-op-threads N]
 */
import { execFile } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import pLimit from 'p-limit';
import type { BatchCreated, BatchJobView, BatchResultsPage } from '../contract/batch-api.ts';
import { loadManifestFromDir } from '../contract/manifest-dir.ts';
import { createKey } from '../edge/cli/keys.ts';
import { EMBEDDED_MODEL_DIR } from '../functions/config.ts';
import { defaultPoolSize } from '../functions/inference/pool-size.ts';
import { startFunction, type FunctionProcess } from '../tests/support/function-process.ts';
import { startWranglerDev, type WranglerDev } from '../tests/support/wrangler-dev.ts';
import { positiveInteger, positiveNumber } from './bench-args.ts';
import { percentile } from './percentile.ts';
import { teardownOnSignals } from './teardown.ts';
import { textTable, type Cell } from './text-table.ts';

const ROOT = resolve(import.meta.dirname, '..');
/**
 * The local RATE_LIMITER allows 120 synchronous translations per key per 60 s (edge/wrangler.toml).
 * The bench spreads its synchronous requests over enough keys that none comes near that, rather
 * than benchmarking a config other than the committed one. A batch create counts once, whatever
 * its size, so the batch jobs share one key of their own.
 */
const TRANSLATIONS_PER_KEY = 100;
const BATCH_RAW_RATIO_GOAL = 0.8;
/** edge/wrangler.toml's BATCH_JOB_CONCURRENCY (2 × the function's MAX_BATCH_SIZE) and the batch queue's max_batch_size. */
const JOB_CONCURRENCY = 16;
const QUEUE_MAX_BATCH = 32;
const WARMUP_BATCH_ITEMS = JOB_CONCURRENCY;
const PROGRESS_EVERY_MS = 2000;
const POLL_MS = 500;
/** A job that finishes no item for this long is reported as stuck rather than waited on forever. */
const STALL_MS = 120_000;

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '2000' },
    raw: { type: 'string', default: '400' },
    sync: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '16' },
    'load-items': { type: 'string' },
    'sync-rate': { type: 'string', default: '4' },
    warmup: { type: 'string', default: '3' },
    workers: { type: 'string' },
    'intra-op-threads': { type: 'string' },
    /** Function on CPU 0, edge and this process on CPU 1 (taskset): the edge's cost off the function's core, as in production. */
    pin: { type: 'boolean', default: false },
  },
});
const pinned = values.pin;
const execFileAsync = promisify(execFile);
const itemCount = positiveInteger('items', values.items);
const rawCount = positiveInteger('raw', values.raw);
const syncCount = positiveInteger('sync', values.sync);
const concurrency = positiveInteger('concurrency', values.concurrency);
const loadItemCount = positiveInteger('load-items', values['load-items'] ?? values.items);
const syncRate = positiveNumber('sync-rate', values['sync-rate']);
const warmupCount = positiveInteger('warmup', values.warmup);
const workers = values.workers === undefined ? undefined : positiveInteger('workers', values.workers);
const intraOpThreads = values['intra-op-threads'] === undefined ? undefined : positiveInteger('intra-op-threads', values['intra-op-threads']);

// Everything started is registered here and stopped once, in reverse order (the edge before the
// function it forwards to, temp folders last), on success, error or signal.
const teardown = teardownOnSignals('wrangler dev and the function');

// ---- measuring

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

/** A line on stderr every PROGRESS_EVERY_MS while a long phase runs; the returned function ends it. */
function progress(label: string, line: (seconds: number) => string): () => void {
  const started = performance.now();
  const timer = setInterval(() => process.stderr.write(`  ${label}: ${line((performance.now() - started) / 1000)}\n`), PROGRESS_EVERY_MS);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
  };
  teardown.add(async () => stop());
  return stop;
}

const rate = (count: number, seconds: number) => (seconds > 0 ? count / seconds : NaN);

/** Answers counted by status, so a 429 or a 5xx is reported rather than hidden or fatal. */
class Statuses {
  readonly #counts = new Map<number, number>();
  readonly #first = new Map<number, string>();
  add(status: number, body: () => string): void {
    this.#counts.set(status, (this.#counts.get(status) ?? 0) + 1);
    if (!this.#first.has(status)) this.#first.set(status, body());
  }
  errors(expected: number): number {
    return [...this.#counts].filter(([status]) => status !== expected).reduce((sum, [, n]) => sum + n, 0);
  }
  describe(expected: number): string[] {
    return [...this.#counts]
      .filter(([status]) => status !== expected)
      .map(([status, n]) => `${n}× ${status}, first: ${this.#first.get(status)?.slice(0, 200) ?? ''}`);
  }
}

/** The function's /metrics counters that say how it batched: images, executions, queue time. */
interface FunctionCounters {
  readonly inferences: number;
  readonly executions: number;
  readonly queueUs: number;
  readonly successes: number;
}

async function functionCounters(fn: FunctionProcess): Promise<FunctionCounters> {
  const text = await (await fetch(`${fn.url}/metrics`)).text();
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      .reduce((total, line) => total + Number(line.split(' ').at(-1)), 0);
  return {
    inferences: sum('nv_inference_count'),
    executions: sum('nv_inference_exec_count'),
    queueUs: sum('nv_inference_queue_duration_us'),
    successes: sum('nv_inference_request_success'),
  };
}

/** What the function did between two snapshots: mean batch size and mean wait in its batcher. */
function functionDelta(before: FunctionCounters, after: FunctionCounters): { meanBatch: number; meanQueueMs: number; inferences: number } {
  const inferences = after.inferences - before.inferences;
  const executions = after.executions - before.executions;
  const requests = after.successes - before.successes;
  return { inferences, meanBatch: executions > 0 ? inferences / executions : NaN, meanQueueMs: requests > 0 ? (after.queueUs - before.queueUs) / requests / 1000 : NaN };
}

// ---- the run

try {
  const wallStarted = performance.now();
  const image = new Uint8Array(await readFile(join(ROOT, 'samples/circle.png')));
  const modelDir = EMBEDDED_MODEL_DIR;
  const manifest = await loadManifestFromDir(modelDir);
  const persistTo = await mkdtemp(join(tmpdir(), 'bench-batch-'));
  teardown.add(() => rm(persistTo, { recursive: true, force: true }));

  process.stderr.write(`function: ${manifest.name} ${manifest.version} from ${modelDir}\n`);
  // The function as `npm run start:function` runs it (default pool sizing unless asked otherwise);
  // a short shutdown grace because nobody waits for its in-flight work once the bench stops.
  const poolEnv: Record<string, string> = {
    ...(workers === undefined ? {} : { INFERENCE_WORKERS: String(workers) }),
    ...(intraOpThreads === undefined ? {} : { INTRA_OP_THREADS: String(intraOpThreads) }),
  };
  const fn: FunctionProcess = await startFunction({ MODEL_SOURCE: modelDir, LOG_LEVEL: 'warn', SHUTDOWN_GRACE_MS: '2000', ...poolEnv });
  teardown.add(() => fn.stop());
  await fn.waitUntilReady();
  if (pinned) {
    // Every thread of the function (inference workers included) on CPU 0; this process on CPU 1,
    // so wrangler and workerd, started below as its children, inherit CPU 1.
    await execFileAsync('taskset', ['-a', '-c', '-p', '0', String(fn.child.pid)]);
    await execFileAsync('taskset', ['-a', '-c', '-p', '1', String(process.pid)]);
  }
  const served = ((await (await fetch(`${fn.url}/v1/models`)).json()) as { models: { execution_provider: 'cpu' | 'cuda' }[] }).models[0]!;
  const defaults = defaultPoolSize(availableParallelism(), served.execution_provider);
  const placement = pinned ? '; pinned: function on CPU 0, edge (wrangler, workerd) and the bench on CPU 1' : '; unpinned: function, edge and bench share every core';
  const poolDescription =
    `${workers ?? defaults.workers} worker(s) × ${intraOpThreads ?? defaults.intraOpThreads} intra-op thread(s)` +
    (workers === undefined && intraOpThreads === undefined ? ' (the function\'s default pool sizing)' : ' (set by --workers/--intra-op-threads)') +
    `, ${served.execution_provider} provider${placement}`;

  // Every synchronous edge translation this run sends: warm-up, idle and under load.
  const plannedTranslations = warmupCount + 2 * syncCount;
  const keyCount = Math.ceil(plannedTranslations / TRANSLATIONS_PER_KEY);
  process.stderr.write(`keys: ${keyCount} secret key(s) for the synchronous API and 1 for the batch jobs, through the keys CLI (local store)\n`);
  const store = { remote: false, env: undefined, persistTo };
  const tokens: string[] = [];
  // One at a time: each is a `wrangler kv key put` against the same local store.
  for (let index = 0; index < keyCount; index++) tokens.push((await createKey(store, { kind: 'secret', name: `bench-batch-sync-${index}`, origins: [] })).token);
  const batchToken = (await createKey(store, { kind: 'secret', name: 'bench-batch-jobs', origins: [] })).token;
  let translationsSent = 0;
  const nextToken = () => tokens[Math.floor(translationsSent++ / TRANSLATIONS_PER_KEY) % tokens.length]!;

  process.stderr.write('wrangler dev\n');
  // The committed local config (queue consumer, job and key slots); only the pool points at the bench's function.
  // The whole edge log (the consumer logs deferrals, retries and refusals), for a run that looks wrong.
  const edgeLog = join(tmpdir(), `bench-batch-wrangler-${process.pid}.log`); // kept after the run
  process.stderr.write(`edge log: ${edgeLog}\n`);
  const edge: WranglerDev = await startWranglerDev({ persistTo, vars: { FUNCTION_POOL: fn.url }, onLine: (line) => appendFileSync(edgeLog, `${line}\n`) });
  teardown.add(() => edge.stop());

  // Distinct seeds everywhere: distinct content addresses, so every request and item is computed.
  let nextSeed = 3_000_000;

  /** Straight to the function: the same call the edge and the batch consumer make. */
  const viaFunction = async (seed: number, statuses: Statuses): Promise<boolean> => {
    const response = await fetch(`${fn.url}/v1/translate?direction=a2b&seed=${seed}`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: image });
    const body = await response.arrayBuffer();
    statuses.add(response.status, () => new TextDecoder().decode(body));
    return response.status === 200;
  };
  /** Through the edge's synchronous API; answers the latency (body included) of a 200, else undefined. */
  const viaEdge = async (seed: number, statuses: Statuses): Promise<number | undefined> => {
    const started = performance.now();
    const response = await fetch(`${edge.url}/v1/translations?direction=a2b&seed=${seed}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${nextToken()}`, 'content-type': 'image/png' },
      body: image,
    });
    const body = await response.arrayBuffer();
    const elapsed = performance.now() - started;
    statuses.add(response.status, () => new TextDecoder().decode(body));
    return response.status === 200 ? elapsed : undefined;
  };

  const batchAuth = { authorization: `Bearer ${batchToken}` };
  const createJob = async (count: number): Promise<BatchCreated> => {
    const items = Array.from({ length: count }, (_, index) => ({ name: `item-${index}.png`, params: { seed: nextSeed++ } }));
    const response = await fetch(`${edge.url}/v1/batches`, {
      method: 'POST',
      headers: { ...batchAuth, 'content-type': 'application/json' },
      body: JSON.stringify({ params: { direction: 'a2b' }, items }),
    });
    if (response.status !== 201) throw new Error(`POST /v1/batches answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    return (await response.json()) as BatchCreated;
  };
  const jobView = async (id: string): Promise<BatchJobView> => {
    const response = await fetch(`${edge.url}/v1/batches/${id}`, { headers: batchAuth });
    if (response.status !== 200) throw new Error(`GET /v1/batches/${id} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    return (await response.json()) as BatchJobView;
  };

  /** PUTs every upload, `concurrency` at a time; answers when the last one was accepted (Date.now()). */
  const uploadAll = async (job: BatchCreated, label: string): Promise<{ lastAcceptedAt: number; statuses: Statuses }> => {
    const statuses = new Statuses();
    const limit = pLimit(concurrency);
    let accepted = 0;
    let lastAcceptedAt = Date.now();
    const stop = progress(label, (seconds) => `${accepted}/${job.uploads.length} uploaded, ${rate(accepted, seconds).toFixed(1)} uploads/s`);
    try {
      await Promise.all(
        job.uploads.map((target) =>
          limit(async () => {
            const response = await fetch(target.upload_url, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: image });
            const body = await response.arrayBuffer();
            statuses.add(response.status, () => new TextDecoder().decode(body));
            if (response.status === 201) {
              accepted += 1;
              lastAcceptedAt = Date.now();
            }
          }),
        ),
      );
    } finally {
      stop();
    }
    return { lastAcceptedAt, statuses };
  };

  interface Followed {
    readonly view: BatchJobView;
    /** Wall time (Date.now()) the job finished: its own finished_at, else when a poll saw it. */
    readonly finishedAt: number;
    /** Mean of the job's `running` count over the polls (the items the consumer holds at once). */
    readonly meanRunning: number;
    readonly maxRunning: number;
  }

  /** Polls the job until it is completed (or cancelled), with a progress line; `onView` sees every poll. */
  const followJob = async (id: string, label: string, onView: (view: BatchJobView) => void = () => {}): Promise<Followed> => {
    let view = await jobView(id);
    const total = view.counts.total;
    const startDone = view.counts.done + view.counts.failed;
    const stop = progress(label, (seconds) => {
      const finished = view.counts.done + view.counts.failed;
      return `${finished}/${total} finished (${view.counts.failed} failed), ${view.counts.running} running, ${view.counts.queued} queued, ${rate(finished - startDone, seconds).toFixed(1)} items/s`;
    });
    let lastProgressAt = Date.now();
    let lastFinished = startDone;
    const running: number[] = [];
    try {
      for (;;) {
        onView(view);
        running.push(view.counts.running);
        if (view.status === 'completed' || view.status === 'cancelled') break;
        const finished = view.counts.done + view.counts.failed;
        if (finished !== lastFinished) {
          lastFinished = finished;
          lastProgressAt = Date.now();
        } else if (Date.now() - lastProgressAt > STALL_MS) {
          throw new Error(`job ${id} finished no item for ${STALL_MS / 1000} s: ${JSON.stringify(view.counts)}\n${edge.output()}`);
        }
        await sleep(POLL_MS);
        view = await jobView(id);
      }
    } finally {
      stop();
    }
    const finishedAt = view.finished_at === null ? Date.now() : Date.parse(view.finished_at);
    return { view, finishedAt, meanRunning: running.reduce((a, b) => a + b, 0) / Math.max(1, running.length), maxRunning: Math.max(0, ...running) };
  };

  /** The first few failed items' reasons, for the notes under the table. */
  const failures = async (id: string): Promise<string[]> => {
    const response = await fetch(`${edge.url}/v1/batches/${id}/results?status=failed&limit=3`, { headers: batchAuth });
    if (response.status !== 200) return [`GET results answered ${response.status}`];
    return ((await response.json()) as BatchResultsPage).items.map((item) => `item ${item.index}: ${item.error?.code}: ${item.error?.message}`);
  };

  /**
   * One synchronous request at a time, started every 1/syncRate s (or as soon as the previous one
   * ends when it takes longer), until `count` were sent or `stopWhen` says so.
   */
  /** Straight to the function (interactive priority, like the edge's synchronous requests); the latency of a 200, else undefined. */
  const timedViaFunction = async (seed: number, statuses: Statuses): Promise<number | undefined> => {
    const started = performance.now();
    return (await viaFunction(seed, statuses)) ? performance.now() - started : undefined;
  };
  const paced = async (
    count: number,
    label: string,
    stopWhen: () => boolean = () => false,
    send: (seed: number, statuses: Statuses) => Promise<number | undefined> = viaEdge,
  ): Promise<{ latencies: number[]; statuses: Statuses }> => {
    const latencies: number[] = [];
    const statuses = new Statuses();
    const intervalMs = 1000 / syncRate;
    let sent = 0;
    const stop = progress(label, () => `${sent}/${count} sent, p50 so far ${percentile(latencies, 50).toFixed(1)} ms`);
    const started = performance.now();
    try {
      for (let index = 0; index < count && !stopWhen(); index++) {
        const due = started + index * intervalMs;
        if (due > performance.now()) await sleep(due - performance.now());
        if (stopWhen()) break;
        sent += 1;
        const latency = await send(nextSeed++, statuses);
        if (latency !== undefined) latencies.push(latency);
      }
    } finally {
      stop();
    }
    return { latencies, statuses };
  };

  // Warm-up: connection pools, the edge's model catalogue, workerd's compiled code, a first job's
  // Durable Object and the queue consumer.
  process.stderr.write(`warm-up: ${warmupCount} request(s) each way and a ${WARMUP_BATCH_ITEMS}-item job\n`);
  const warmupStatuses = new Statuses();
  for (let index = 0; index < warmupCount; index++) {
    await viaFunction(nextSeed++, warmupStatuses);
    await viaEdge(nextSeed++, warmupStatuses);
  }
  if (warmupStatuses.errors(200) > 0) throw new Error(`warm-up requests failed: ${warmupStatuses.describe(200).join('; ')}`);
  const warmupJob = await createJob(WARMUP_BATCH_ITEMS);
  await uploadAll(warmupJob, 'warm-up uploads');
  await followJob(warmupJob.id, 'warm-up job');

  // ---- 1a. the function's raw throughput

  process.stderr.write(`raw: ${rawCount} distinct seeds straight to the function, ${concurrency} at a time\n`);
  const rawStatuses = new Statuses();
  const rawBefore = await functionCounters(fn);
  const rawLimit = pLimit(concurrency);
  let rawDone = 0;
  const rawSeeds = Array.from({ length: rawCount }, () => nextSeed++);
  const stopRawProgress = progress('raw', (seconds) => `${rawDone}/${rawCount}, ${rate(rawDone, seconds).toFixed(1)} items/s`);
  const rawStarted = performance.now();
  await Promise.all(rawSeeds.map((seed) => rawLimit(async () => void ((await viaFunction(seed, rawStatuses)) && (rawDone += 1)))));
  const rawSeconds = (performance.now() - rawStarted) / 1000;
  stopRawProgress();
  const rawFunction = functionDelta(rawBefore, await functionCounters(fn));
  const rawRate = rate(rawDone, rawSeconds);

  // ---- 1b. the batch path

  process.stderr.write(`batch: a job of ${itemCount} items (distinct seeds), uploads ${concurrency} at a time, then until completed\n`);
  const createStartedAt = Date.now();
  const job = await createJob(itemCount);
  const createdAt = Date.now();
  const uploads = await uploadAll(job, 'batch uploads');
  const afterUploads = await jobView(job.id);
  const doneDuringUploads = afterUploads.counts.done + afterUploads.counts.failed;
  const batchBefore = await functionCounters(fn);
  const followed = await followJob(job.id, 'batch job');
  const batchFunction = functionDelta(batchBefore, await functionCounters(fn));
  const jobFailures = followed.view.counts.failed > 0 ? await failures(job.id) : [];

  const createSeconds = (createdAt - createStartedAt) / 1000;
  const uploadSeconds = (uploads.lastAcceptedAt - createdAt) / 1000;
  const processingSeconds = (followed.finishedAt - uploads.lastAcceptedAt) / 1000;
  const processedAfterUploads = itemCount - doneDuringUploads;
  const batchRate = rate(processedAfterUploads, processingSeconds);
  const endToEndSeconds = (followed.finishedAt - createStartedAt) / 1000;
  const batchRawRatio = batchRate / rawRate;

  // ---- 2a. the synchronous API on an idle stack

  process.stderr.write(`sync, idle: ${syncCount} requests, one at a time at ${syncRate}/s\n`);
  const idle = await paced(syncCount, 'sync idle');
  const idleDirect = await paced(syncCount, 'function direct, idle', () => false, timedViaFunction);

  // ---- 2b. the synchronous API while a second job is processed

  process.stderr.write(`sync, loaded: a second job of ${loadItemCount} items; ${syncCount} requests at ${syncRate}/s once its items are queued, until it completes\n`);
  const loadJob = await createJob(loadItemCount);
  const loadUploads = await uploadAll(loadJob, 'load-job uploads');
  let loadCompleted = false;
  let loadFinishedAtSyncStart = 0;
  let loadFinishedAtSyncEnd = 0;
  let loadView = await jobView(loadJob.id);
  loadFinishedAtSyncStart = loadView.counts.done + loadView.counts.failed;
  const following = followJob(loadJob.id, 'load job', (view) => {
    loadView = view;
    if (view.status === 'completed' || view.status === 'cancelled') loadCompleted = true;
  });
  // A failed poll must end the paced requests too, not leave them waiting for a completion.
  following.catch(() => (loadCompleted = true));
  // Through the edge and straight to the function at once: the second shows the function's
  // priority lane on its own, without the edge's share of this machine's CPU.
  const [loaded, loadedDirect] = await Promise.all([
    paced(syncCount, 'sync during batch', () => loadCompleted),
    paced(syncCount, 'function direct during batch', () => loadCompleted, timedViaFunction),
  ]);
  loadFinishedAtSyncEnd = loadView.counts.done + loadView.counts.failed;
  const loadFollowed = await following;
  const loadFailures = loadFollowed.view.counts.failed > 0 ? await failures(loadJob.id) : [];

  // ---- the tables

  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const sec = (value: number) => `${value.toFixed(2)} s`;
  const perSecond = (value: number, unit = 'items/s') => `${value.toFixed(1)} ${unit}`;
  const met = (ok: boolean) => (ok ? 'yes' : 'NO');
  const pct = (value: number) => `${(100 * value).toFixed(1)}%`;
  const fnCells = (delta: ReturnType<typeof functionDelta>): Cell[] => [delta.meanBatch.toFixed(2), ms(delta.meanQueueMs)];

  const throughputRows: Cell[][] = [
    [`function POST /v1/translate (raw), ${concurrency} in flight`, rawDone, sec(rawSeconds), perSecond(rawRate), ...fnCells(rawFunction), '', '', ''],
    [`batch: create (JSON, ${itemCount} items)`, itemCount, sec(createSeconds), '', '', '', '', '', ''],
    [`batch: uploads (PUT, ${concurrency} at a time)`, itemCount, sec(uploadSeconds), perSecond(rate(itemCount, uploadSeconds), 'uploads/s'), '', '', `${doneDuringUploads} done meanwhile`, '', ''],
    [
      'batch: last upload accepted → completed',
      processedAfterUploads,
      sec(processingSeconds),
      perSecond(batchRate),
      ...fnCells(batchFunction),
      `running: mean ${followed.meanRunning.toFixed(1)}, max ${followed.maxRunning}`,
      '',
      '',
    ],
    ['batch: end to end (create → completed)', itemCount, sec(endToEndSeconds), perSecond(rate(itemCount, endToEndSeconds)), '', '', `${followed.view.counts.failed} failed`, '', ''],
    ['  batch / raw (after last upload)', '', '', pct(batchRawRatio), '', '', '', `≥ ${100 * BATCH_RAW_RATIO_GOAL}%`, met(batchRawRatio >= BATCH_RAW_RATIO_GOAL)],
  ];
  console.log(`Throughput — function: ${poolDescription}; edge: BATCH_JOB_CONCURRENCY ${JOB_CONCURRENCY}, queue max_batch_size ${QUEUE_MAX_BATCH} (edge/wrangler.toml)`);
  console.log(textTable(['measure', 'items', 'time', 'rate', 'fn batch', 'fn queue', 'notes', 'goal', 'met'], throughputRows));
  console.log('');

  const latencyCells = (run: { latencies: number[]; statuses: Statuses }): Cell[] => [
    run.latencies.length,
    ms(percentile(run.latencies, 50)),
    ms(percentile(run.latencies, 95)),
    ms(percentile(run.latencies, 99)),
    ms(percentile(run.latencies, 100)),
    run.statuses.errors(200),
  ];
  const p99Ratio = percentile(loaded.latencies, 99) / percentile(idle.latencies, 99);
  const p99DirectRatio = percentile(loadedDirect.latencies, 99) / percentile(idleDirect.latencies, 99);
  const during = `during a ${loadItemCount}-item batch (second job; ${loadFinishedAtSyncEnd - loadFinishedAtSyncStart} of its items finished meanwhile)`;
  const syncRows: Cell[][] = [
    ['edge POST /v1/translations, idle stack', ...latencyCells(idle)],
    [`edge POST /v1/translations, ${during}`, ...latencyCells(loaded)],
    ['  p99 during batch / p99 idle', '', `${p99Ratio.toFixed(2)}×`, '', '', '', ''],
    ['function POST /v1/translate (interactive), idle', ...latencyCells(idleDirect)],
    ['function POST /v1/translate (interactive), during the same batch', ...latencyCells(loadedDirect)],
    ['  p99 during batch / p99 idle', '', `${p99DirectRatio.toFixed(2)}×`, '', '', '', ''],
  ];
  console.log(`Synchronous requests — distinct seeds, one at a time at ${syncRate} req/s each way (during the batch both ways at once)`);
  console.log(textTable(['load', 'n', 'p50', 'p95', 'p99', 'max', 'errors'], syncRows));

  const notes = [
    ...rawStatuses.describe(200).map((line) => `raw: ${line}`),
    ...uploads.statuses.describe(201).map((line) => `batch uploads: ${line}`),
    ...jobFailures.map((line) => `batch job failed ${line}`),
    ...loadUploads.statuses.describe(201).map((line) => `load-job uploads: ${line}`),
    ...loadFailures.map((line) => `load job failed ${line}`),
    ...idle.statuses.describe(200).map((line) => `sync idle: ${line}`),
    ...loaded.statuses.describe(200).map((line) => `sync during batch: ${line}`),
    ...idleDirect.statuses.describe(200).map((line) => `function direct idle: ${line}`),
    ...loadedDirect.statuses.describe(200).map((line) => `function direct during batch: ${line}`),
  ];
  if (notes.length > 0) console.log(`\nerrors:\n${notes.map((line) => `  ${line}`).join('\n')}`);

  console.log(`
How to read: "raw" is what the function alone sustains with ${concurrency} requests in flight; the batch
path should get within ${100 * BATCH_RAW_RATIO_GOAL}% of it once its images are uploaded (issue 7). Items finish
while uploads are still running (notes column), so the batch rate counts only the items left when the
last upload was accepted, up to the job's own finished_at. "fn batch" is the function's mean executed
batch size and "fn queue" its mean wait in its batcher over that phase (/metrics); "running" is the
job's running count sampled every ${POLL_MS} ms, capped at BATCH_JOB_CONCURRENCY. A job whose size is
not a multiple of the queue's max_batch_size waits max_batch_timeout (1 s) for its last, partial
delivery: noticeable in a small run, not in 2,000 items. The edge, workerd's
Queues and Durable Objects and the function share this machine's cores, so the batch path also pays
for the edge's CPU time where raw does not. The synchronous rows send the same requests at the same
pace; p99 of a few dozen samples is close to their max.`);

  const wranglerVersion = (JSON.parse(await readFile(join(ROOT, 'node_modules/wrangler/package.json'), 'utf8')) as { version: string }).version;
  console.log(
    `\nmodel: ${manifest.name} ${manifest.version} (${manifest.image_size}² px); machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ` +
      `load average ${loadavg()[0]!.toFixed(2)} at the end; function: ${poolDescription}; edge: wrangler ${wranglerVersion} dev (local bindings) on loopback; ` +
      `input samples/circle.png (${image.byteLength} B PNG), output PNG; ${warmupCount} warm-up requests and a ${WARMUP_BATCH_ITEMS}-item warm-up job; ` +
      `wall time ${((performance.now() - wallStarted) / 1000).toFixed(0)} s`,
  );
} finally {
  await teardown.run();
}
