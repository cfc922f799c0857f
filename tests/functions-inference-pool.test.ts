/**
 * The inference pool with the real model (models/sa-munit-random), real worker threads and
 * onnxruntime-node on the CPU: parity with the export's fixtures, warm-up before start resolves,
 * crash recovery, the event loop staying free during inference; and the execution provider
 * choice on this machine and with staged probes.
 */
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { Tensor } from 'onnxruntime-node';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifestFromDir } from '../contract/manifest-dir.ts';
import { styleFromSeed } from '../contract/seed-style.ts';
import { AdaptiveBatcher } from '../functions/batching/adaptive-batcher.ts';
import {
  ExecutionProviderError,
  chooseExecutionProvider,
  systemProbes,
  type ProviderProbes,
} from '../functions/inference/execution-provider.ts';
import { InferencePool, defaultPoolSize, type Feeds, type TensorData } from '../functions/inference/inference-pool.ts';
import { openGraphSession } from '../functions/lib/onnx-session.ts';
import { maxAbsDiff, readFixtureIndex, type FixtureTensor } from './parity-fixtures.ts';

const MODEL_DIR = resolve(import.meta.dirname, '../models/sa-munit-random');
const manifest = await loadManifestFromDir(MODEL_DIR);
const GRAPHS = new Map(manifest.graphs.map((graph) => [graph.file, join(MODEL_DIR, graph.file)]));
const TRANSLATOR = 'translator_a2b.onnx';
const STYLE_ENCODER = 'style_encoder_a.onnx';

/** A pino logger whose records land in `records`, to check what the pool reported and when. */
function capturingLogger(): { logger: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) records.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), records };
}

/** Translator inputs: n images of size x size (a smooth pattern) and seed styles. */
function translatorFeeds(n: number, size: number): Feeds {
  const image = new Float32Array(n * 3 * size * size).map((_, i) => Math.sin(i / 97));
  const style = new Float32Array(n * manifest.style_dim);
  for (let i = 0; i < n; i++) style.set(styleFromSeed(i + 1, manifest.style_dim), i * manifest.style_dim);
  return { image: { data: image, dims: [n, 3, size, size] }, style: { data: style, dims: [n, manifest.style_dim] } };
}

function warmupFeeds(file: string): Feeds {
  const feeds = translatorFeeds(1, manifest.image_size);
  return file.startsWith('translator') ? feeds : { image: feeds['image'] as TensorData };
}

function copyOf(tensor: FixtureTensor): TensorData {
  return { data: tensor.data.slice(), dims: tensor.shape };
}

/** Largest delay of a 5 ms interval on this thread while `work` runs, ms. */
async function maxTimerDrift(work: () => Promise<unknown>): Promise<{ driftMs: number; workMs: number }> {
  let last = performance.now();
  let driftMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    driftMs = Math.max(driftMs, now - last - 5);
    last = now;
  }, 5);
  // Let the interval tick once so a block at the very start is measured from a real tick.
  await new Promise((r) => setTimeout(r, 20));
  const started = performance.now();
  await work();
  const workMs = performance.now() - started;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(timer);
  return { driftMs, workMs };
}

describe('InferencePool on sa-munit-random (CPU)', () => {
  let pool: InferencePool;
  const log = capturingLogger();
  let warmupCalls: string[] = [];
  let readyLogsAtStart = 0;

  beforeAll(async () => {
    pool = await InferencePool.start({
      graphs: GRAPHS,
      workers: 2,
      intraOpThreads: 1,
      provider: 'cpu',
      warmup: (file) => {
        warmupCalls.push(file);
        return warmupFeeds(file);
      },
      logger: log.logger,
    });
    readyLogsAtStart = log.records.filter((r) => r['msg'] === 'inference worker ready').length;
  });
  afterAll(async () => {
    await pool.close();
  });

  it('warms every graph up in every worker before start() resolves, and reports the CPU provider', () => {
    expect(pool.provider).toBe('cpu');
    expect(pool.workerCount).toBe(2);
    expect(warmupCalls.sort()).toEqual([...GRAPHS.keys(), ...GRAPHS.keys()].sort());
    expect(readyLogsAtStart).toBe(2);
    for (const record of log.records.filter((r) => r['msg'] === 'inference worker ready')) {
      expect(record['provider']).toBe('cpu');
      expect(Object.keys(record['warmupMs'] as object).sort()).toEqual([...GRAPHS.keys()].sort());
    }
    warmupCalls = [];
  });

  it('matches the export fixtures (PyTorch) for every graph at batch 1 and 3', async () => {
    const { tolerance, cases } = await readFixtureIndex(MODEL_DIR);
    expect(cases.length).toBeGreaterThanOrEqual(8);
    const results = await Promise.all(
      cases.map(async (fixture) => {
        const feeds = Object.fromEntries(Object.entries(fixture.inputs).map(([name, t]) => [name, copyOf(t)]));
        return { fixture, outputs: await pool.run(fixture.graph, feeds) };
      }),
    );
    for (const { fixture, outputs } of results) {
      for (const [name, expected] of Object.entries(fixture.outputs)) {
        const actual = outputs[name];
        const label = `${fixture.graph} b${fixture.batch} ${name}`;
        expect(actual?.dims, label).toEqual(expected.shape);
        expect(maxAbsDiff(actual?.data ?? new Float32Array(0), expected.data), label).toBeLessThanOrEqual(tolerance);
      }
    }
  });

  it('matches a direct onnxruntime-node run exactly, through the adaptive batcher', async () => {
    const direct = await openGraphSession(GRAPHS.get(TRANSLATOR) as string, { intraOpNumThreads: 1 });
    const batch = translatorFeeds(6, 32);
    const expected = (
      await direct.run({
        image: new Tensor('float32', (batch['image'] as TensorData).data.slice(), [6, 3, 32, 32]),
        style: new Tensor('float32', (batch['style'] as TensorData).data.slice(), [6, manifest.style_dim]),
      })
    )['translated'] as Tensor;
    await direct.release();

    const sizes: number[] = [];
    const batcher = new AdaptiveBatcher({
      maxBatchSize: 4,
      maxQueueDelayMs: 5,
      maxQueueLength: 16,
      concurrency: pool.workerCount,
      execute: (key, inputs) => pool.run(key.split(':')[0] as string, inputs),
      onBatch: ({ size }) => sizes.push(size),
    });
    const pixels = 3 * 32 * 32;
    const items = Array.from({ length: 6 }, (_, i) =>
      batcher.submit(
        `${TRANSLATOR}:3x32x32`,
        {
          image: { data: (batch['image'] as TensorData).data.slice(i * pixels, (i + 1) * pixels), dims: [1, 3, 32, 32] },
          style: { data: (batch['style'] as TensorData).data.slice(i * 8, (i + 1) * 8), dims: [1, 8] },
        },
        Date.now() + 60_000,
      ),
    );
    const outputs = await Promise.all(items);
    const expectedData = expected.data as Float32Array;
    outputs.forEach((output, i) => {
      const translated = output['translated'] as TensorData;
      expect(translated.dims).toEqual([1, 3, 32, 32]);
      // Batched and unbatched convolutions may sum in a different order: allow float rounding.
      expect(maxAbsDiff(translated.data, expectedData.subarray(i * pixels, (i + 1) * pixels))).toBeLessThanOrEqual(1e-5);
    });
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(6);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
  });

  it('transfers buffers it owns whole, copies views into larger ones, refuses detached ones', async () => {
    const whole = translatorFeeds(1, 16);
    await pool.run(TRANSLATOR, whole);
    expect((whole['image'] as TensorData).data.length).toBe(0); // detached: moved, not copied
    // Node drops a message carrying a detached buffer without a word: it must fail here instead.
    await expect(pool.run(TRANSLATOR, whole)).rejects.toThrow(/already transferred/);
    const big = new Float32Array(10_000);
    const view = big.subarray(100, 100 + 3 * 16 * 16);
    const style = translatorFeeds(1, 16)['style'] as TensorData;
    await expect(pool.run(TRANSLATOR, { image: { data: view, dims: [1, 3, 16, 16] }, style })).resolves.toHaveProperty('translated');
    expect(big.length).toBe(10_000); // the neighbour's memory is untouched
  });

  it('fails a run with onnxruntime\'s reason when the inputs are wrong, and keeps serving', async () => {
    await expect(pool.run(TRANSLATOR, { image: { data: new Float32Array(3 * 16 * 16), dims: [1, 3, 16, 16] } })).rejects.toThrow(
      /translator_a2b\.onnx: .*style/i,
    );
    await expect(pool.run('nope.onnx', translatorFeeds(1, 16))).rejects.toThrow(/not loaded/);
    await expect(pool.run(TRANSLATOR, translatorFeeds(1, 16))).resolves.toHaveProperty('translated');
  });

  it('keeps the main event loop responsive during a long inference (a direct run blocks it)', async () => {
    // The style encoder on batch 8 at 256x256: hundreds of ms of convolution on this machine.
    // (The toy model's translator has attention at full resolution at every site: at 256x256 it
    // would need 34 GB for batch 8.) Inputs are built before measuring: filling 1.5 M floats is
    // itself main-thread work.
    const forPool = translatorFeeds(8, 256)['image'] as TensorData;
    const forMain = new Tensor('float32', forPool.data.slice(), [8, 3, 256, 256]);
    const inPool = await maxTimerDrift(() => pool.run(STYLE_ENCODER, { image: forPool }));
    const session = await openGraphSession(GRAPHS.get(STYLE_ENCODER) as string, { intraOpNumThreads: 1 });
    const onMain = await maxTimerDrift(() => session.run({ image: forMain }));
    await session.release();
    console.info(
      `timer drift: pool ${inPool.driftMs.toFixed(1)} ms during a ${inPool.workMs.toFixed(0)} ms run; ` +
        `main thread ${onMain.driftMs.toFixed(1)} ms during a ${onMain.workMs.toFixed(0)} ms run`,
    );
    expect(inPool.workMs).toBeGreaterThan(100);
    expect(inPool.driftMs).toBeLessThan(50);
    // On the main thread the timer cannot fire until the run returns.
    expect(onMain.driftMs).toBeGreaterThan(onMain.workMs * 0.8);
  });

  it('a worker crash: the pool replaces the worker and keeps serving meanwhile', async () => {
    const ready = () => log.records.filter((r) => r['msg'] === 'inference worker ready').length;
    const readyBefore = ready();
    pool.simulateCrash();
    await expect.poll(() => log.records.some((r) => r['msg'] === 'inference worker died')).toBe(true);
    // The surviving worker serves at once; the replacement warms up and joins.
    await expect(pool.run(TRANSLATOR, translatorFeeds(1, 16))).resolves.toHaveProperty('translated');
    await expect.poll(ready, { timeout: 30_000 }).toBe(readyBefore + 1);
    expect(warmupCalls.sort()).toEqual([...GRAPHS.keys()].sort());
    const spread = await Promise.all(Array.from({ length: 4 }, () => pool.run(TRANSLATOR, translatorFeeds(2, 32))));
    expect(spread).toHaveLength(4);
    expect(pool.inFlight()).toBe(0);
  });
});

describe('InferencePool with one worker', () => {
  const startSingleWorkerPool = () =>
    InferencePool.start({
      graphs: new Map([[TRANSLATOR, GRAPHS.get(TRANSLATOR) as string]]),
      workers: 1,
      intraOpThreads: 1,
      provider: 'cpu',
      warmup: warmupFeeds,
      logger: pino({ level: 'silent' }),
    });

  it('a crash rejects the runs queued on the worker; later runs wait for the replacement and succeed', async () => {
    const pool = await startSingleWorkerPool();
    try {
      // A long run holds the worker's thread; the next run and the crash queue behind it.
      const long = translatorFeeds(16, 64);
      const small = translatorFeeds(1, 16);
      const running = pool.run(TRANSLATOR, long);
      await new Promise((r) => setTimeout(r, 30));
      const queued = pool.run(TRANSLATOR, small);
      pool.simulateCrash();
      expect(pool.inFlight()).toBe(2);
      await expect(running).resolves.toHaveProperty('translated'); // a thread is never stopped mid-run
      await expect(queued).rejects.toThrow(/exited with code 1: simulated inference worker crash during the run/);
      const waiting = pool.run(TRANSLATOR, translatorFeeds(1, 16));
      expect(pool.inFlight()).toBe(1);
      await expect(waiting).resolves.toHaveProperty('translated');
    } finally {
      await pool.close();
    }
  });

  it('close() waits for in-flight runs, then refuses new ones', async () => {
    const pool = await startSingleWorkerPool();
    const running = pool.run(TRANSLATOR, translatorFeeds(8, 64));
    const closed = pool.close();
    await expect(running).resolves.toHaveProperty('translated');
    await closed;
    await expect(pool.run(TRANSLATOR, translatorFeeds(1, 16))).rejects.toThrow(/closed/);
  });

  it('start() rejects, naming the graph, when a graph cannot be opened', async () => {
    await expect(
      InferencePool.start({
        graphs: new Map([['missing.onnx', join(MODEL_DIR, 'missing.onnx')]]),
        workers: 1,
        intraOpThreads: 1,
        provider: 'cpu',
        warmup: warmupFeeds,
        logger: pino({ level: 'silent' }),
      }),
    ).rejects.toThrow(/could not open its graphs.*missing\.onnx/);
  });

  it('start() rejects when a warm-up run fails', async () => {
    await expect(
      InferencePool.start({
        graphs: new Map([[TRANSLATOR, GRAPHS.get(TRANSLATOR) as string]]),
        workers: 1,
        intraOpThreads: 1,
        provider: 'cpu',
        warmup: () => ({ image: { data: new Float32Array(3 * 16 * 16), dims: [1, 3, 16, 16] } }),
        logger: pino({ level: 'silent' }),
      }),
    ).rejects.toThrow(/translator_a2b\.onnx/);
  });
});

describe('execution provider', () => {
  const silent = pino({ level: 'silent' });
  const probeGraph = GRAPHS.get(TRANSLATOR) as string;

  it('auto on this machine (no GPU, CUDA provider not installed) chooses the CPU and says why', async () => {
    const choice = await chooseExecutionProvider({ requested: 'auto', probeGraph, logger: silent });
    expect(choice.provider).toBe('cpu');
    expect(choice.reason).toMatch(/GPU|libonnxruntime_providers/);
  });

  it('cuda requested on this machine throws, naming why', async () => {
    await expect(chooseExecutionProvider({ requested: 'cuda', probeGraph, logger: silent })).rejects.toThrow(ExecutionProviderError);
  });

  it('the provider library probe looks where onnxruntime-node loads providers from', async () => {
    expect(await systemProbes.cudaLibrariesMissing()).toMatch(/libonnxruntime_providers_\w+\.so is not installed in .*napi-v6/);
  });

  it('a GPU with the provider installed but a session that will not open falls back with a warning', async () => {
    const { logger, records } = capturingLogger();
    const probes: ProviderProbes = {
      cudaLibrariesMissing: async () => null,
      gpuMissing: async () => null,
      openWithCuda: systemProbes.openWithCuda, // the real attempt: fails here for want of the library
    };
    const choice = await chooseExecutionProvider({ requested: 'auto', probeGraph, logger, probes });
    expect(choice.provider).toBe('cpu');
    expect(choice.reason).toMatch(/did not open with CUDA/);
    expect(records.some((r) => r['level'] === 40 && String(r['reason']).includes('did not open with CUDA'))).toBe(true);
  });

  it('chooses CUDA when everything checks out', async () => {
    const probes: ProviderProbes = { cudaLibrariesMissing: async () => null, gpuMissing: async () => null, openWithCuda: async () => undefined };
    expect((await chooseExecutionProvider({ requested: 'auto', probeGraph, logger: silent, probes })).provider).toBe('cuda');
    expect((await chooseExecutionProvider({ requested: 'cpu', probeGraph, logger: silent, probes })).provider).toBe('cpu');
  });

  it('sizes the pool: one worker owning every core on a small CPU, one worker per 4 cores beyond, one on a GPU', () => {
    expect(defaultPoolSize(2, 'cpu')).toEqual({ workers: 1, intraOpThreads: 2 });
    expect(defaultPoolSize(16, 'cpu')).toEqual({ workers: 4, intraOpThreads: 4 });
    expect(defaultPoolSize(1, 'cpu')).toEqual({ workers: 1, intraOpThreads: 1 });
    expect(defaultPoolSize(16, 'cuda').workers).toBe(1);
  });
});
