/**
 * The adaptive batcher with an injected executor (so batch formation, deadlines and failures can
 * be driven exactly), plus its latency model and dispatch policy on their own. The real model
 * runs through the batcher's executor in functions-inference-pool.test.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../contract/errors.ts';
import { AdaptiveBatcher, type BatchInfo, type BatcherOptions } from '../functions/batching/adaptive-batcher.ts';
import { decide, sustainableBatch, type PolicyInputs } from '../functions/batching/dispatch-policy.ts';
import { LatencyModel } from '../functions/batching/latency-model.ts';
import { stack, unstack } from '../functions/batching/tensor-stack.ts';
import type { Feeds, TensorData } from '../functions/inference/tensor-data.ts';

/** One item: an image-like tensor [1, 2] holding (id, id) and a second input [1, 1]. */
function item(id: number, width = 2): Feeds {
  return {
    image: { data: new Float32Array(width).fill(id), dims: [1, width] },
    style: { data: Float32Array.of(id * 10), dims: [1, 1] },
  };
}

interface Recorder {
  readonly batches: { key: string; size: number; ids: number[]; widths: number[] }[];
  readonly execute: BatcherOptions['execute'];
}

/** An executor that doubles its input, records each batch and takes `ms` (or what `delay` says). */
function recordingExecutor(delay: (key: string, size: number) => number | Promise<unknown>): Recorder {
  const batches: Recorder['batches'] = [];
  return {
    batches,
    async execute(key, inputs) {
      const image = inputs['image'] as TensorData;
      const size = image.dims[0] as number;
      const width = image.data.length / size;
      batches.push({
        key,
        size,
        ids: Array.from({ length: size }, (_, i) => image.data[i * width] as number),
        widths: [width],
      });
      const wait = delay(key, size);
      await (typeof wait === 'number' ? sleep(wait) : wait);
      return { translated: { data: image.data.map((v) => v * 2), dims: [...image.dims] } };
    },
  };
}

function batcher(overrides: Partial<BatcherOptions> & Pick<BatcherOptions, 'execute'>): AdaptiveBatcher {
  return new AdaptiveBatcher({ maxBatchSize: 8, maxQueueDelayMs: 10, maxQueueLength: 64, ...overrides });
}

const far = () => Date.now() + 60_000;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('AdaptiveBatcher options', () => {
  const execute: BatcherOptions['execute'] = async () => ({});
  it.each([
    ['maxBatchSize', { maxBatchSize: 0 }],
    ['maxBatchSize', { maxBatchSize: 2.5 }],
    ['maxQueueDelayMs', { maxQueueDelayMs: -1 }],
    ['maxQueueLength', { maxQueueLength: 0 }],
    ['concurrency', { concurrency: 0 }],
  ])('rejects a bad %s up front with a RangeError naming it', (name, bad) => {
    expect(() => batcher({ execute, ...bad })).toThrow(RangeError);
    expect(() => batcher({ execute, ...bad })).toThrow(name);
  });

  it('accepts a zero queue delay (never wait for companions)', () => {
    expect(() => batcher({ execute, maxQueueDelayMs: 0 })).not.toThrow();
  });
});

describe('AdaptiveBatcher batching', () => {
  it('forms batches from concurrent submits and routes every result to its own caller', async () => {
    const executor = recordingExecutor(() => 40);
    const infos: BatchInfo[] = [];
    const b = batcher({ execute: executor.execute, onBatch: (info) => infos.push(info) });
    const results = await Promise.all(Array.from({ length: 16 }, (_, id) => b.submit('g:2', item(id), far())));

    results.forEach((outputs, id) => {
      const translated = outputs['translated'] as TensorData;
      expect(translated.dims).toEqual([1, 2]);
      expect([...translated.data]).toEqual([id * 2, id * 2]);
    });
    const sizes = executor.batches.map((batch) => batch.size);
    expect(sizes.reduce((a, c) => a + c, 0)).toBe(16);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(sizes.length).toBeLessThan(16);
    // Order inside batches is arrival order.
    expect(executor.batches.flatMap((batch) => batch.ids)).toEqual(Array.from({ length: 16 }, (_, id) => id));
    expect(infos.map((info) => info.size)).toEqual(sizes);
    expect(infos.every((info) => info.queueMs.length === info.size && info.executeMs >= 30)).toBe(true);
  });

  it('never exceeds maxBatchSize', async () => {
    const executor = recordingExecutor(() => 20);
    const b = batcher({ execute: executor.execute, maxBatchSize: 3 });
    await Promise.all(Array.from({ length: 20 }, (_, id) => b.submit('g', item(id), far())));
    expect(Math.max(...executor.batches.map((batch) => batch.size))).toBe(3);
  });

  it('never mixes keys: different shapes run in different batches', async () => {
    const executor = recordingExecutor(() => 20);
    const b = batcher({ execute: executor.execute });
    const submits = Array.from({ length: 18 }, (_, id) => {
      const width = [2, 3, 4][id % 3] as number;
      return b.submit(`g:${width}`, item(id, width), far()).then((out) => ({ id, width, out }));
    });
    for (const { id, width, out } of await Promise.all(submits)) {
      expect([...(out['translated'] as TensorData).data]).toEqual(new Array<number>(width).fill(id * 2));
    }
    for (const batch of executor.batches) {
      const width = Number(batch.key.split(':')[1]);
      expect(batch.ids.every((id) => [2, 3, 4][id % 3] === width)).toBe(true);
    }
    expect(Math.max(...executor.batches.map((batch) => batch.size))).toBeGreaterThan(1);
  });

  it('runs up to `concurrency` batches at once and forms batches behind them', async () => {
    let running = 0;
    let most = 0;
    const executor = recordingExecutor(async () => {
      most = Math.max(most, ++running);
      await sleep(30);
      running--;
    });
    const b = batcher({ execute: executor.execute, concurrency: 2, maxBatchSize: 4 });
    await Promise.all(Array.from({ length: 20 }, (_, id) => b.submit('g', item(id), far())));
    expect(most).toBe(2);
    expect(executor.batches.length).toBeLessThan(20);
  });

  it('does not hold a lone request for the queue delay when the executor is idle', async () => {
    const executor = recordingExecutor(() => 5);
    const b = batcher({ execute: executor.execute, maxQueueDelayMs: 5_000 });
    // Sparse traffic after some history: each request is alone and must go at once.
    for (let id = 0; id < 4; id++) {
      const started = performance.now();
      await b.submit('g', item(id), far());
      expect(performance.now() - started).toBeLessThan(500);
      await sleep(50);
    }
    expect(executor.batches.map((batch) => batch.size)).toEqual([1, 1, 1, 1]);
  });

  it('holds a lone request for a companion when only batching keeps up (high fixed cost, frequent arrivals)', async () => {
    // A GPU-like executor: 60 ms per execution whatever its size. Requests then arrive every
    // 50 ms: one at a time they would need 120% of the slot, so a work-conserving dispatcher
    // would run almost every request alone, late and later. The batcher instead holds a request
    // whose slot is free until the next one arrives and runs them in pairs (60 ms per 2).
    const executor = recordingExecutor(() => 60);
    const b = batcher({ execute: executor.execute, maxBatchSize: 8, maxQueueDelayMs: 100 });
    // Teach the model the fixed cost: batches of 1 and of 2 both take 60 ms.
    await b.submit('g', item(0), far());
    await Promise.all([1, 2, 3].map((id) => b.submit('g', item(id), far())));
    const taught = executor.batches.length;
    const stream: Promise<unknown>[] = [];
    for (let id = 10; id < 30; id++) {
      stream.push(b.submit('g', item(id), far()));
      await sleep(50);
    }
    await Promise.all(stream);
    // The first few stream batches run while the arrival-rate estimate adapts from the burst.
    const sizes = executor.batches.slice(taught + 3).map((batch) => batch.size);
    const paired = sizes.filter((size) => size >= 2).length;
    expect(paired / sizes.length).toBeGreaterThanOrEqual(0.75);
  });
});

describe('AdaptiveBatcher limits and deadlines', () => {
  it('answers queue_full (429) with a Retry-After once maxQueueLength items wait, and serves the rest', async () => {
    const gate = deferred();
    const executor = recordingExecutor(() => gate.promise);
    const b = batcher({ execute: executor.execute, maxQueueLength: 4, maxBatchSize: 8 });
    const accepted = [b.submit('g', item(0), far())];
    await sleep(5); // item 0 runs; the next ones queue behind it
    for (let id = 1; id <= 4; id++) accepted.push(b.submit('g', item(id), far()));
    expect(b.pending()).toBe(4);
    const refused = await b.submit('g', item(5), far()).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).code).toBe('queue_full');
    expect((refused as ApiError).status).toBe(429);
    expect((refused as ApiError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    gate.resolve();
    expect(await Promise.all(accepted)).toHaveLength(5);
    expect(b.pending()).toBe(0);
  });

  it('lets batch-priority items fill only part of the queue, keeping the rest for interactive ones', async () => {
    const gate = deferred();
    const executor = recordingExecutor(() => gate.promise);
    const b = batcher({ execute: executor.execute, maxQueueLength: 8, maxBatchSize: 8 });
    const accepted = [b.submit('g', item(0), far(), 'batch')];
    await sleep(5); // item 0 runs; the next ones queue behind it
    for (let id = 1; id <= 4; id++) accepted.push(b.submit('g', item(id), far(), 'batch'));
    const refused = await b.submit('g', item(5), far(), 'batch').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: 'queue_full', status: 429 });
    expect((refused as ApiError).message).toContain('batch work');
    expect((refused as ApiError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    // Interactive work still fits, up to the whole queue.
    for (let id = 6; id <= 9; id++) accepted.push(b.submit('g', item(id), far()));
    expect(b.pending()).toBe(8);
    gate.resolve();
    expect(await Promise.all(accepted)).toHaveLength(9);
  });

  it('queues interactive items ahead of batch items, so they go in the next batch', async () => {
    const gate = deferred();
    const executor = recordingExecutor((_, size) => (size === 1 && executor.batches.length === 1 ? gate.promise : 0));
    const b = batcher({ execute: executor.execute, maxBatchSize: 3, maxQueueLength: 64 });
    const all = [b.submit('g', item(0), far(), 'batch')];
    await sleep(5); // item 0 runs alone and holds the only slot
    for (let id = 1; id <= 5; id++) all.push(b.submit('g', item(id), far(), 'batch'));
    all.push(b.submit('g', item(100), far()), b.submit('g', item(101), far(), 'interactive'));
    gate.resolve();
    await Promise.all(all);
    expect(executor.batches.map((batch) => batch.ids)).toEqual([[0], [100, 101, 1], [2, 3, 4], [5]]);
  });

  it('runs a key headed by an interactive item before keys of older batch work', async () => {
    const gate = deferred();
    const executor = recordingExecutor(() => (executor.batches.length === 1 ? gate.promise : 0));
    const b = batcher({ execute: executor.execute, maxBatchSize: 8, maxQueueLength: 64, maxQueueDelayMs: 0 });
    const all = [b.submit('first', item(0), far())];
    await sleep(5); // item 0 runs and holds the only slot
    for (let id = 1; id <= 3; id++) all.push(b.submit('batch-key', item(id), far(), 'batch'));
    await sleep(5);
    all.push(b.submit('interactive-key', item(100, 3), far()));
    gate.resolve();
    await Promise.all(all);
    expect(executor.batches.map((batch) => batch.key)).toEqual(['first', 'interactive-key', 'batch-key']);
  });

  it('estimates Retry-After from the queue and the latency model', async () => {
    const gate = deferred();
    let calls = 0;
    const executor = recordingExecutor(() => (calls++ < 2 ? 1_500 : gate.promise));
    const b = batcher({ execute: executor.execute, maxQueueLength: 8, maxBatchSize: 2, maxQueueDelayMs: 0 });
    // Two runs of 1.5 s each (sizes 1 and 2) teach the model ~1.5 s per batch of 2.
    await b.submit('g', item(0), far());
    await Promise.all([b.submit('g', item(1), far()), b.submit('g', item(2), far())]).catch(() => undefined);
    const accepted = [b.submit('g', item(3), far())];
    await sleep(5);
    for (let id = 4; id < 12; id++) accepted.push(b.submit('g', item(id), far()));
    const refused = (await b.submit('g', item(12), far()).catch((error: unknown) => error)) as ApiError;
    expect(refused.code).toBe('queue_full');
    // 8 queued = 4 batches of 2, plus the running one: about 5 x 1.5 s.
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(5);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(10);
    gate.resolve();
    await Promise.all(accepted);
  }, 20_000);

  it('sheds a request whose deadline has passed or cannot be met, on arrival, with deadline_exceeded (503)', async () => {
    const executor = recordingExecutor(() => 200);
    const b = batcher({ execute: executor.execute });
    await b.submit('g', item(0), far()); // the model learns ~200 ms per item
    const past = await b.submit('g', item(1), Date.now() - 1).catch((error: unknown) => error);
    expect(past).toBeInstanceOf(ApiError);
    expect((past as ApiError).code).toBe('deadline_exceeded');
    expect((past as ApiError).status).toBe(503);
    const running = b.submit('g', item(2), far());
    // The slot is busy ~200 ms more and a run takes ~200 ms: 250 ms cannot be met.
    const tooSoon = await b.submit('g', item(3), Date.now() + 250).catch((error: unknown) => error);
    expect((tooSoon as ApiError).code).toBe('deadline_exceeded');
    await running;
    expect(executor.batches.flatMap((batch) => batch.ids)).toEqual([0, 2]);
  });

  it('sheds a queued request once waiting means missing its deadline, oldest first, before the blocking run ends', async () => {
    let calls = 0;
    // The first run teaches ~100 ms; the second overruns to 600 ms and blocks the queue.
    const executor = recordingExecutor(() => (calls++ === 0 ? 100 : 600));
    const b = batcher({ execute: executor.execute });
    await b.submit('g', item(0), far());
    const blocking = b.submit('g', item(1), far());
    await sleep(5);
    const started = Date.now();
    // Feasible on arrival (slot predicted free in ~95 ms, + ~100 ms run < 350 ms) ...
    const tight = b.submit('g', item(2), started + 350).catch((error: unknown) => error);
    const relaxed = b.submit('g', item(3), started + 10_000);
    // ... but the blocking run overruns its prediction, so the tight one is shed while it runs.
    const shed = (await tight) as ApiError;
    const shedAfter = Date.now() - started;
    expect(shed).toBeInstanceOf(ApiError);
    expect(shed.code).toBe('deadline_exceeded');
    expect(shedAfter).toBeLessThan(500);
    await blocking;
    expect(await relaxed).toBeDefined();
    expect(executor.batches.flatMap((batch) => batch.ids)).toEqual([0, 1, 3]);
  });
});

describe('AdaptiveBatcher failures', () => {
  it('a failing execution rejects exactly its own items; other keys and later batches succeed', async () => {
    const b = batcher({
      concurrency: 2,
      async execute(key, inputs) {
        await sleep(20);
        if (key === 'bad') throw new Error('onnxruntime exploded');
        const image = inputs['image'] as TensorData;
        return { translated: image };
      },
    });
    const settled = await Promise.allSettled(
      Array.from({ length: 12 }, (_, id) => b.submit(id % 3 === 0 ? 'bad' : 'good', item(id), far())),
    );
    settled.forEach((result, id) => {
      if (id % 3 === 0) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toMatchObject({ message: 'onnxruntime exploded' });
      } else {
        expect(result.status).toBe('fulfilled');
      }
    });
    expect(b.pending()).toBe(0);
    await expect(b.submit('good', item(99), far())).resolves.toBeDefined();
  });

  it('an execution that returns the wrong batch size rejects its items instead of hanging', async () => {
    const b = batcher({ execute: async () => ({ translated: { data: new Float32Array(2), dims: [1, 2] } }) });
    const gate = b.submit('g', item(0), far()); // batch of 1 succeeds
    await gate;
    const slow = batcher({
      async execute() {
        await sleep(20);
        return { translated: { data: new Float32Array(2), dims: [1, 2] } };
      },
    });
    const settled = await Promise.allSettled(Array.from({ length: 5 }, (_, id) => slow.submit('g', item(id), far())));
    const rejected = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    expect(String(rejected[0]?.reason)).toMatch(/expected a batch of/);
  });

  it('an item that cannot be batched under its key fails alone', async () => {
    const executor = recordingExecutor(() => 20);
    const b = batcher({ execute: executor.execute });
    const good = b.submit('g:2', item(1), far());
    const wrongShape = b.submit('g:2', item(2, 3), far());
    const wrongLead = b.submit('g:2', { image: { data: new Float32Array(4), dims: [2, 2] } }, far());
    const wrongLength = b.submit('g:2', { image: { data: new Float32Array(3), dims: [1, 2] } }, far());
    await expect(wrongShape).rejects.toThrow(RangeError);
    await expect(wrongLead).rejects.toThrow(/leading dimension 1/);
    await expect(wrongLength).rejects.toThrow(/needs 2 values/);
    await expect(good).resolves.toBeDefined();
  });

  it('drain: refuses new work with shutting_down, finishes everything queued and running', async () => {
    const executor = recordingExecutor(() => 30);
    const b = batcher({ execute: executor.execute, maxBatchSize: 2, maxQueueDelayMs: 10_000 });
    const accepted = Array.from({ length: 7 }, (_, id) => b.submit('g', item(id), far()));
    const drained = b.drain();
    const refused = (await b.submit('g', item(99), far()).catch((error: unknown) => error)) as ApiError;
    expect(refused.code).toBe('shutting_down');
    await drained;
    expect(b.pending()).toBe(0);
    expect(await Promise.all(accepted)).toHaveLength(7);
    await expect(b.drain()).resolves.toBeUndefined();
  });
});

describe('LatencyModel', () => {
  it('predicts the prior (0 by default) before any batch', () => {
    expect(new LatencyModel().predict(4)).toBe(0);
    expect(new LatencyModel({ prior: { interceptMs: 5, perItemMs: 2 } }).predict(4)).toBe(13);
  });

  it('recovers a line from batches of several sizes', () => {
    const model = new LatencyModel();
    for (let i = 0; i < 30; i++) for (const size of [1, 2, 4, 8]) model.observe(size, 12 + 3 * size);
    expect(model.coefficients.interceptMs).toBeCloseTo(12, 6);
    expect(model.coefficients.perItemMs).toBeCloseTo(3, 6);
  });

  it('puts all cost per item while only one batch size has been seen (no batching gain assumed)', () => {
    const model = new LatencyModel();
    for (let i = 0; i < 5; i++) model.observe(1, 100);
    expect(model.coefficients.interceptMs).toBe(0);
    expect(model.coefficients.perItemMs).toBeCloseTo(100, 9);
    expect(model.predict(4)).toBeCloseTo(400, 9);
  });

  it('follows a change in speed (exponential forgetting)', () => {
    const model = new LatencyModel({ decay: 0.8 });
    for (let i = 0; i < 20; i++) for (const size of [1, 4]) model.observe(size, 10 + 10 * size);
    for (let i = 0; i < 40; i++) for (const size of [1, 4]) model.observe(size, 10 + 20 * size);
    expect(model.predict(4)).toBeCloseTo(90, 0);
  });

  it('never goes below zero on noisy data', () => {
    const model = new LatencyModel();
    model.observe(1, 50);
    model.observe(8, 10);
    expect(model.coefficients.perItemMs).toBeGreaterThanOrEqual(0);
    expect(model.coefficients.interceptMs).toBeGreaterThanOrEqual(0);
  });
});

describe('dispatch policy', () => {
  const base: PolicyInputs = {
    now: 1_000,
    queue: { size: 1, oldestQueuedAt: 1_000, tightestDeadline: 100_000 },
    maxBatchSize: 8,
    maxQueueDelayMs: 50,
    concurrency: 1,
    predict: (size) => 40 + 2 * size,
    fixedCostMs: 40,
    perItemMs: 2,
    expectedGapMs: 5,
    closing: false,
  };

  it('goes at max batch size, when closing, and at the max queue delay (Triton)', () => {
    expect(decide({ ...base, queue: { ...base.queue, size: 8 } })).toEqual({ dispatch: true, why: 'full' });
    expect(decide({ ...base, closing: true })).toEqual({ dispatch: true, why: 'closing' });
    expect(decide({ ...base, now: 1_050 })).toEqual({ dispatch: true, why: 'max-delay' });
  });

  it('holds a small batch when arrivals are dense and the fixed cost is high, rechecking by the delay', () => {
    const decision = decide(base);
    expect(decision.dispatch).toBe(false);
    if (!decision.dispatch) expect(decision.recheckAt).toBeLessThanOrEqual(1_050);
    // b* = 40 / (0.9 * 5 - 2) = 16 → capped at the max batch
    expect(sustainableBatch(base)).toBe(8);
  });

  it('goes at once when waiting cannot pay off: sparse arrivals, no fixed cost, or no rate known', () => {
    expect(decide({ ...base, expectedGapMs: 500 })).toEqual({ dispatch: true, why: 'no-gain' });
    expect(decide({ ...base, fixedCostMs: 0 })).toEqual({ dispatch: true, why: 'no-gain' });
    expect(decide({ ...base, expectedGapMs: Number.POSITIVE_INFINITY })).toEqual({ dispatch: true, why: 'no-gain' });
  });

  it('goes when waiting for one more arrival would miss the tightest deadline', () => {
    // Latest start for a batch of 2 is 1_100 - 44 = 1_056; the next arrival is due at 1_060.
    expect(decide({ ...base, expectedGapMs: 60, maxQueueDelayMs: 500, fixedCostMs: 400, queue: { ...base.queue, tightestDeadline: 1_100 } })).toEqual({
      dispatch: true,
      why: 'deadline',
    });
  });
});

describe('tensor stacking', () => {
  it('stacks along dim 0 and splits back into owned per-item buffers', () => {
    const batch = stack([item(1), item(2), item(3)]);
    expect((batch['image'] as TensorData).dims).toEqual([3, 2]);
    expect([...(batch['image'] as TensorData).data]).toEqual([1, 1, 2, 2, 3, 3]);
    const items = unstack({ out: batch['image'] as TensorData }, 3);
    expect(items.map((i) => [...(i['out'] as TensorData).data])).toEqual([[1, 1], [2, 2], [3, 3]]);
    expect(items.every((i) => (i['out'] as TensorData).data.buffer.byteLength === 8)).toBe(true);
  });

  it('passes a single item through without copying', () => {
    const one = item(7);
    expect(stack([one])).toBe(one);
  });
});
