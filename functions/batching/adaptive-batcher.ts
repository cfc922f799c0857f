/**
 * Adaptive dynamic batching: requests for the same graph and input shape (one key) that arrive
 * close together run as one model execution, which is how a GPU (and, less so, a CPU) turns
 * concurrency into throughput.
 *
 * Shaped like dataloader: options checked up front, one result per submitted item, an item that
 * cannot be batched fails alone, and a failed execution rejects every item it carried so no
 * caller hangs. Unlike dataloader the queue is bounded (maxQueueLength over all keys: beyond it,
 * 429 queue_full with a Retry-After) and batches are finite (maxBatchSize).
 *
 * When a batch goes is decided by dispatch-policy.ts (Triton's max batch / max queue delay, and
 * BentoML's online latency model to skip waits that cannot pay off). At most `concurrency`
 * batches run at once, one per execution slot (inference worker): while all are busy, requests
 * queue, and that queue is where batches form under load.
 *
 * Priorities: an `interactive` item (someone waits for it) is queued ahead of every `batch` item of
 * its key, so it goes in the next batch that forms; and batch items may fill only part of the
 * queue (BATCH_QUEUE_SHARE), beyond which they get 429 queue_full and interactive ones still fit.
 * The batch consumer honours that 429's Retry-After, so bulk work backs off instead of crowding
 * out the synchronous API.
 *
 * Deadlines are SLO-aware in BentoML's way: a request whose predicted finish (earliest slot free
 * + the predicted time of the smallest batch) is past its deadline is shed with 503
 * deadline_exceeded, on arrival or while queued, oldest first, instead of being run late.
 */
import { ApiError } from '../../contract/errors.ts';
import type { Priority } from '../../contract/headers.ts';
import type { Feeds, TensorData } from '../inference/tensor-data.ts';
import { ArrivalRate } from './arrival-rate.ts';
import { decide } from './dispatch-policy.ts';
import { LatencyModel } from './latency-model.ts';
import { itemProblem, sameSignature, stack, unstack } from './tensor-stack.ts';

export interface BatchInfo {
  readonly key: string;
  readonly size: number;
  /** Per item: ms from submit to the start of its execution. */
  readonly queueMs: readonly number[];
  /** The execution's own time, ms. */
  readonly executeMs: number;
}

export interface BatcherOptions {
  /** Most items in one execution. */
  readonly maxBatchSize: number;
  /** Longest an item waits for companions once an execution slot is free, ms (0: never waits). */
  readonly maxQueueDelayMs: number;
  /** Queued items over all keys; a submit beyond it is refused with 429. */
  readonly maxQueueLength: number;
  /** Executions run at once (the inference pool's worker count). Default 1. */
  readonly concurrency?: number;
  /** Runs one batch: every input stacked along dim 0. */
  readonly execute: (key: string, inputs: Feeds) => Promise<Record<string, TensorData>>;
  /** Called after each successful execution, for metrics; must not throw (an exception is ignored). */
  readonly onBatch?: (info: BatchInfo) => void;
  /** The clock deadlines are given in, ms. Default Date.now, the clock of the deadline header. */
  readonly now?: () => number;
}

interface Item {
  readonly inputs: Feeds;
  readonly priority: Priority;
  readonly deadline: number;
  readonly queuedAt: number;
  readonly resolve: (outputs: Record<string, TensorData>) => void;
  readonly reject: (error: unknown) => void;
}

interface KeyState {
  readonly queue: Item[];
  readonly latency: LatencyModel;
  readonly arrivals: ArrivalRate;
  /** Tensor names and dims every item of this key must have (those of its first item). */
  readonly signature: Feeds;
}

interface Running {
  readonly startedAt: number;
  readonly predictedMs: number;
}

/**
 * Keys whose statistics are kept; beyond it the least recently used idle key is forgotten, so a
 * client sending ever new image sizes cannot grow memory without bound.
 */
const MAX_TRACKED_KEYS = 1024;
/** The share of maxQueueLength that batch-priority items may occupy; the rest is kept for interactive ones. */
export const BATCH_QUEUE_SHARE = 0.5;
/** Retry-After when the latency model has nothing to go on yet, s. */
const DEFAULT_RETRY_AFTER_S = 1;

export class AdaptiveBatcher {
  readonly now: () => number;
  readonly #options: Required<Omit<BatcherOptions, 'onBatch' | 'now'>> & { readonly onBatch: BatcherOptions['onBatch'] | undefined };
  readonly #keys = new Map<string, KeyState>();
  readonly #running = new Set<Running>();
  #queued = 0;
  #draining = false;
  #drained: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(options: BatcherOptions) {
    const concurrency = options.concurrency ?? 1;
    for (const [name, value, min] of [
      ['maxBatchSize', options.maxBatchSize, 1],
      ['maxQueueLength', options.maxQueueLength, 1],
      ['concurrency', concurrency, 1],
      ['maxQueueDelayMs', options.maxQueueDelayMs, 0],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < min) {
        throw new RangeError(`${name} must be an integer of at least ${min}, got ${String(value)}`);
      }
    }
    if (typeof options.execute !== 'function') throw new TypeError('execute must be a function');
    this.#options = {
      maxBatchSize: options.maxBatchSize,
      maxQueueDelayMs: options.maxQueueDelayMs,
      maxQueueLength: options.maxQueueLength,
      concurrency,
      execute: options.execute,
      onBatch: options.onBatch,
    };
    this.now = options.now ?? Date.now;
  }

  /**
   * Queues one item (every input with leading dimension 1) for `key` and resolves with its own
   * outputs (leading dimension 1). `deadline` is absolute, on this.now()'s clock. The inputs'
   * buffers may be transferred to the executor: do not use them afterwards.
   *
   * Rejects with ApiError shutting_down (draining), queue_full (429, with retryAfterSeconds) or
   * deadline_exceeded (503), a RangeError for inputs that cannot be batched under `key`, or the
   * executor's error.
   */
  submit(key: string, inputs: Feeds, deadline: number, priority: Priority = 'interactive'): Promise<Record<string, TensorData>> {
    if (this.#draining) return Promise.reject(new ApiError('shutting_down', 'the inference queue is draining for shutdown'));
    const problem = itemProblem(inputs);
    if (problem !== null) return Promise.reject(new RangeError(problem));
    const now = this.now();
    const state = this.#state(key, inputs);
    if (!sameSignature(state.signature, inputs)) {
      return Promise.reject(new RangeError(`inputs do not match the shapes of batch key ${key}`));
    }
    if (this.#queued >= this.#options.maxQueueLength) {
      return Promise.reject(
        new ApiError('queue_full', `the inference queue is full (${this.#queued} waiting); retry later`, {
          retryAfterSeconds: this.#retryAfterSeconds(state),
        }),
      );
    }
    const batchLimit = Math.max(1, Math.floor(this.#options.maxQueueLength * BATCH_QUEUE_SHARE));
    if (priority === 'batch' && this.#queued >= batchLimit) {
      return Promise.reject(
        new ApiError('queue_full', `the inference queue holds ${this.#queued} items, the most batch work may fill (${batchLimit}); retry later`, {
          retryAfterSeconds: this.#retryAfterSeconds(state),
        }),
      );
    }
    state.arrivals.record(now);
    if (!(this.#earliestFinish(state, now) <= deadline)) {
      return Promise.reject(deadlineExceeded(deadline, now, 'on arrival'));
    }
    return new Promise((resolve, reject) => {
      const queued: Item = { inputs, priority, deadline, queuedAt: now, resolve, reject };
      // Interactive items go ahead of every batch item (and behind earlier interactive ones).
      const firstBatch = priority === 'interactive' ? state.queue.findIndex((other) => other.priority === 'batch') : -1;
      if (firstBatch === -1) state.queue.push(queued);
      else state.queue.splice(firstBatch, 0, queued);
      this.#queued++;
      this.#schedule();
    });
  }

  /** Items queued and not yet executing, over all keys. */
  pending(): number {
    return this.#queued;
  }

  /**
   * Stops accepting (submit rejects with shutting_down) and resolves once every queued item has
   * run and every running batch has finished. Queued items go at once, without waiting for
   * companions that cannot come.
   */
  drain(): Promise<void> {
    this.#draining = true;
    const done = new Promise<void>((resolve) => {
      const previous = this.#drained;
      this.#drained = () => {
        previous?.();
        resolve();
      };
    });
    this.#schedule();
    return done;
  }

  #state(key: string, inputs: Feeds): KeyState {
    let state = this.#keys.get(key);
    if (state !== undefined) {
      // Re-inserting keeps the map in least-recently-used order for eviction.
      this.#keys.delete(key);
    } else {
      const signature = Object.fromEntries(
        Object.entries(inputs).map(([name, t]) => [name, { data: new Float32Array(0), dims: [...t.dims] }]),
      );
      state = { queue: [], latency: new LatencyModel(), arrivals: new ArrivalRate(), signature };
      this.#forgetIdleKeys();
    }
    this.#keys.set(key, state);
    return state;
  }

  #forgetIdleKeys(): void {
    for (const [key, state] of this.#keys) {
      if (this.#keys.size < MAX_TRACKED_KEYS) return;
      if (state.queue.length === 0) this.#keys.delete(key);
    }
  }

  /** When an execution slot is predicted to be free (now if one is). */
  #slotFreeAt(now: number): number {
    if (this.#running.size < this.#options.concurrency) return now;
    let earliest = Number.POSITIVE_INFINITY;
    for (const run of this.#running) earliest = Math.min(earliest, run.startedAt + run.predictedMs);
    // A batch running past its prediction ends at the earliest now.
    return Math.max(now, earliest);
  }

  /** The soonest an item of `state` could finish: the smallest batch, in the first free slot. */
  #earliestFinish(state: KeyState, now: number): number {
    return this.#slotFreeAt(now) + state.latency.predict(1);
  }

  /**
   * Sheds what cannot make its deadline, starts every batch the policy wants while slots are
   * free, and sets one timer for the next moment anything can change without an event.
   */
  #schedule(): void {
    const now = this.now();
    let wakeAt = this.#shed(now);
    while (this.#running.size < this.#options.concurrency) {
      const pick = this.#nextBatch(now);
      wakeAt = Math.min(wakeAt, pick.recheckAt);
      if (pick.go === undefined) break;
      this.#dispatch(pick.go.key, pick.go.state, now);
    }
    if (this.#queued === 0 && this.#running.size === 0) {
      this.#setTimer(Number.POSITIVE_INFINITY, now);
      if (this.#draining) {
        const drained = this.#drained;
        this.#drained = undefined;
        drained?.();
      }
      return;
    }
    this.#setTimer(wakeAt, now);
  }

  /** Rejects queued items that can no longer finish in time, oldest first; returns when to look again. */
  #shed(now: number): number {
    let wakeAt = Number.POSITIVE_INFINITY;
    const slotFreeAt = this.#slotFreeAt(now);
    for (const [key, state] of this.#keys) {
      if (state.queue.length === 0) continue;
      const single = state.latency.predict(1);
      const kept = state.queue.filter((item) => {
        if (slotFreeAt + single <= item.deadline) {
          wakeAt = Math.min(wakeAt, item.deadline - single);
          return true;
        }
        item.reject(deadlineExceeded(item.deadline, now, `after ${Math.round(now - item.queuedAt)} ms queued for ${key}`));
        return false;
      });
      this.#queued -= state.queue.length - kept.length;
      state.queue.splice(0, state.queue.length, ...kept);
    }
    return wakeAt;
  }

  /**
   * Among keys whose policy says go, one whose head is interactive before any whose head is batch
   * work, and among those the one whose head has waited longest.
   */
  #nextBatch(now: number): { go: { key: string; state: KeyState } | undefined; recheckAt: number } {
    let best: { key: string; state: KeyState } | undefined;
    let recheckAt = Number.POSITIVE_INFINITY;
    const { maxBatchSize, maxQueueDelayMs, concurrency } = this.#options;
    for (const [key, state] of this.#keys) {
      const head = state.queue[0];
      if (head === undefined) continue;
      if (best !== undefined && !goesBefore(head, best.state.queue[0] as Item)) continue;
      const batch = state.queue.slice(0, maxBatchSize);
      const { interceptMs, perItemMs } = state.latency.coefficients;
      const decision = decide({
        now,
        queue: {
          size: state.queue.length,
          oldestQueuedAt: head.queuedAt,
          tightestDeadline: Math.min(...batch.map((item) => item.deadline)),
        },
        maxBatchSize,
        maxQueueDelayMs,
        concurrency,
        predict: (size) => state.latency.predict(size),
        fixedCostMs: interceptMs,
        perItemMs,
        expectedGapMs: state.arrivals.expectedGap(now),
        closing: this.#draining,
      });
      if (decision.dispatch) best = { key, state };
      else recheckAt = Math.min(recheckAt, decision.recheckAt);
    }
    return { go: best, recheckAt };
  }

  #dispatch(key: string, state: KeyState, now: number): void {
    const items = state.queue.splice(0, this.#options.maxBatchSize);
    this.#queued -= items.length;
    const run: Running = { startedAt: now, predictedMs: state.latency.predict(items.length) };
    this.#running.add(run);
    void this.#execute(key, state, items, now).finally(() => {
      this.#running.delete(run);
      this.#schedule();
    });
  }

  async #execute(key: string, state: KeyState, items: readonly Item[], startedAt: number): Promise<void> {
    let results: Record<string, TensorData>[];
    let executeMs: number;
    try {
      const outputs = await this.#options.execute(key, stack(items.map((item) => item.inputs)));
      executeMs = this.now() - startedAt;
      results = unstack(outputs, items.length);
    } catch (error) {
      for (const item of items) item.reject(error);
      return;
    }
    state.latency.observe(items.length, executeMs);
    try {
      this.#options.onBatch?.({ key, size: items.length, queueMs: items.map((item) => startedAt - item.queuedAt), executeMs });
    } catch {
      // Metrics must not fail requests that succeeded.
    }
    items.forEach((item, i) => item.resolve(results[i] as Record<string, TensorData>));
  }

  #setTimer(at: number, now: number): void {
    if (at === this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (!Number.isFinite(at)) return;
    // At least 1 ms: a wake-up due now would otherwise spin on a clock that has not ticked.
    const delayMs = Math.max(1, Math.ceil(at - now));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.#schedule();
    }, delayMs);
  }

  /** Seconds until the queue ahead has likely drained: its batches over the slots, by the model. */
  #retryAfterSeconds(state: KeyState): number {
    const { maxBatchSize, concurrency } = this.#options;
    const perBatchMs = state.latency.observed ? state.latency.predict(maxBatchSize) : 0;
    if (perBatchMs <= 0) return DEFAULT_RETRY_AFTER_S;
    const batches = Math.ceil(this.#queued / maxBatchSize) + this.#running.size;
    return Math.max(1, Math.ceil((batches * perBatchMs) / concurrency / 1000));
  }
}

/** Whether a key headed by `item` should run before one headed by `other`. */
function goesBefore(item: Item, other: Item): boolean {
  if (item.priority !== other.priority) return item.priority === 'interactive';
  return item.queuedAt < other.queuedAt;
}

function deadlineExceeded(deadline: number, now: number, when: string): ApiError {
  const late = now >= deadline ? `passed ${Math.round(now - deadline)} ms ago` : `is in ${Math.round(deadline - now)} ms, too soon to finish`;
  return new ApiError('deadline_exceeded', `the request's deadline ${late} (${when}); it was shed`);
}
