/**
 * A pool of worker threads, each holding one onnxruntime session per graph, so inference never
 * blocks the service's event loop (onnxruntime-node's run() holds its thread for the whole run).
 *
 * Workers are interchangeable: every one opens every graph and warms each up before it takes
 * work. A run goes to the worker with the fewest runs in flight; its input buffers are
 * transferred, not copied. A worker that dies (an uncaught exception, its heap out of memory)
 * fails only the runs it held, and a replacement is started and warmed up in the background.
 *
 * Limits of threads, accepted for zero-copy hand-over and a cheap start: a native crash inside
 * onnxruntime (a segfault, a failed CUDA allocation that aborts) ends the whole process, since
 * threads share it; the platform restarts the container. And a run cannot be interrupted once
 * started (see #retire), so deadlines are enforced before dispatch, by the batcher.
 */
import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { tensorProblem, transferableFeeds, type Feeds, type TensorData } from './tensor-data.ts';
import { launchWorker } from './worker-launch.ts';
import type { FromWorker, ProviderName, ToWorker, WorkerSetup } from './worker-protocol.ts';

export type { Feeds, TensorData } from './tensor-data.ts';
export { defaultPoolSize, type PoolSize } from './pool-size.ts';

export interface InferencePoolOptions {
  /** Graph file name → absolute path of the .onnx file. */
  readonly graphs: ReadonlyMap<string, string>;
  /** Worker threads, each with its own sessions (see defaultPoolSize). */
  readonly workers: number;
  /** onnxruntime intra-op threads per session. */
  readonly intraOpThreads: number;
  readonly provider: ProviderName;
  /** Inputs for the warm-up run of `file`; called once per graph and worker (the buffers are transferred). */
  readonly warmup: (file: string) => Feeds;
  readonly logger: Logger;
}

/** A run failed inside onnxruntime, or its worker died before answering. */
export class InferenceError extends Error {
  override readonly name = 'InferenceError';
}

interface PendingRun {
  resolve(outputs: Record<string, TensorData>): void;
  reject(error: Error): void;
}

interface WorkerSlot {
  readonly worker: Worker;
  readonly label: string;
  readonly runs: Map<number, PendingRun>;
  /** Only ready workers (sessions open, warmed up) take runs from run(). */
  ready: boolean;
  /** Set when the pool itself ended the worker, so its exit is not a crash. */
  retiring: boolean;
  lastDispatch: number;
}

interface WaitingRun extends PendingRun {
  readonly graph: string;
  readonly feeds: Feeds;
}

/** How long a worker may take to release its sessions at close before it is terminated. */
const CLOSE_GRACE_MS = 5_000;
/** Replacement attempts back off from 1 s to 30 s while workers keep failing to start. */
const RESTART_BACKOFF_MS = { first: 1_000, max: 30_000 };

export class InferencePool {
  readonly provider: ProviderName;
  /** Workers the pool keeps running: the number of runs it executes at once. */
  readonly workerCount: number;
  readonly #options: InferencePoolOptions;
  readonly #slots = new Set<WorkerSlot>();
  /** Runs that arrived while no worker was ready (all crashed and being replaced). */
  readonly #waiting: WaitingRun[] = [];
  readonly #settled = new Set<Promise<unknown>>();
  #nextRunId = 1;
  #nextWorker = 1;
  #dispatches = 0;
  #closing = false;
  readonly #restartTimers = new Set<NodeJS.Timeout>();
  #restartDelayMs = RESTART_BACKOFF_MS.first;
  /** Replacement workers being started, so close() can wait for them to end too. */
  readonly #replacements = new Set<Promise<unknown>>();

  /**
   * Spawns the workers; resolves once every worker has opened every graph and run its warm-up,
   * so a caller that reports ready after this never sends a request to a cold session.
   * Rejects (and ends every worker) if any of that fails.
   */
  static async start(options: InferencePoolOptions): Promise<InferencePool> {
    for (const [name, value] of [['workers', options.workers], ['intraOpThreads', options.intraOpThreads]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
    if (options.graphs.size === 0) throw new RangeError('graphs must name at least one graph');
    const pool = new InferencePool(options);
    const started = await Promise.allSettled(Array.from({ length: options.workers }, () => pool.#startWorker()));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failure !== undefined) {
      await pool.close();
      throw failure.reason;
    }
    return pool;
  }

  private constructor(options: InferencePoolOptions) {
    this.#options = options;
    this.provider = options.provider;
    this.workerCount = options.workers;
  }

  /**
   * Runs `graph` on `feeds`. Takes ownership of the feeds: each buffer a tensor owns whole is
   * transferred to the worker (detached here); views into larger buffers are copied first.
   */
  run(graph: string, feeds: Feeds): Promise<Record<string, TensorData>> {
    if (this.#closing) return Promise.reject(new InferenceError('the inference pool is closed'));
    if (!this.#options.graphs.has(graph)) return Promise.reject(new InferenceError(`graph ${graph} is not loaded`));
    for (const [name, tensor] of Object.entries(feeds)) {
      const problem = tensorProblem(name, tensor);
      if (problem !== null) return Promise.reject(new InferenceError(`graph ${graph}: ${problem}`));
    }
    const slot = this.#leastBusy();
    const result =
      slot === undefined
        ? new Promise<Record<string, TensorData>>((resolve, reject) => this.#waiting.push({ graph, feeds, resolve, reject }))
        : this.#send(slot, graph, feeds);
    this.#track(result);
    return result;
  }

  /** Runs dispatched and not yet answered, plus runs waiting for a worker (warm-ups excluded). */
  inFlight(): number {
    let count = this.#waiting.length;
    for (const slot of this.#slots) if (slot.ready) count += slot.runs.size;
    return count;
  }

  /** Waits for every run in flight, then ends the workers. Later run() calls reject. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const timer of this.#restartTimers) clearTimeout(timer);
    // Runs only wait while no worker is ready; with replacements stopped none would come.
    this.#failWaiting(new InferenceError('the inference pool is closing'));
    while (this.#settled.size > 0) await Promise.allSettled([...this.#settled]);
    await Promise.allSettled([...this.#replacements]);
    await Promise.all([...this.#slots].map((slot) => this.#retire(slot)));
  }

  /**
   * Test hook: makes the worker with the most runs in flight die of an uncaught exception, as a
   * bug would. A worker cannot be stopped inside a run (see #retire), so the run it is executing
   * finishes first; the runs queued behind it fail and a replacement starts.
   */
  simulateCrash(): void {
    let busiest: WorkerSlot | undefined;
    for (const slot of this.#slots) if (busiest === undefined || slot.runs.size > busiest.runs.size) busiest = slot;
    if (busiest === undefined) throw new Error('no worker is running');
    const crash: ToWorker = { type: 'crash' };
    busiest.worker.postMessage(crash);
  }

  #leastBusy(): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    for (const slot of this.#slots) {
      if (!slot.ready) continue;
      // Ties go to the worker idle the longest, so load spreads instead of piling on the first.
      if (best === undefined || slot.runs.size < best.runs.size || (slot.runs.size === best.runs.size && slot.lastDispatch < best.lastDispatch)) {
        best = slot;
      }
    }
    return best;
  }

  #send(slot: WorkerSlot, graph: string, feeds: Feeds): Promise<Record<string, TensorData>> {
    const id = this.#nextRunId++;
    slot.lastDispatch = ++this.#dispatches;
    return new Promise((resolve, reject) => {
      slot.runs.set(id, { resolve, reject });
      try {
        const movable = transferableFeeds(feeds);
        const message: ToWorker = { type: 'run', id, graph, feeds: movable.feeds };
        slot.worker.postMessage(message, movable.transfer);
      } catch (error) {
        slot.runs.delete(id);
        reject(new InferenceError(`could not send inputs to ${slot.label}: ${messageOf(error)}`, { cause: error }));
      }
    });
  }

  #track(result: Promise<unknown>): void {
    const settled = result.then(() => undefined, () => undefined);
    this.#settled.add(settled);
    void settled.then(() => this.#settled.delete(settled));
  }

  /** Spawns one worker, opens its sessions and warms every graph up; resolves when it takes work. */
  async #startWorker(): Promise<WorkerSlot> {
    const { graphs, intraOpThreads, provider, logger } = this.#options;
    const setup: WorkerSetup = { graphs: [...graphs], intraOpThreads, provider };
    const worker = launchWorker(new URL('./inference-worker.ts', import.meta.url), import.meta.url, setup);
    const slot: WorkerSlot = {
      worker,
      label: `inference worker ${this.#nextWorker++} (thread ${worker.threadId})`,
      runs: new Map(),
      ready: false,
      retiring: false,
      lastDispatch: 0,
    };
    this.#slots.add(slot);

    let opened!: (openMs: number) => void;
    let failed!: (error: Error) => void;
    const open = new Promise<number>((resolve, reject) => {
      opened = resolve;
      failed = reject;
    });
    let crash: Error | undefined;
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'ready') opened(message.openMs);
      else if (message.type === 'open-failed') failed(new InferenceError(`${slot.label} could not open its graphs: ${message.message}`));
      else this.#answer(slot, message);
    });
    worker.on('error', (error) => {
      crash = error;
    });
    worker.on('exit', (code) => {
      this.#slots.delete(slot);
      const why = `${slot.label} exited with code ${code}${crash === undefined ? '' : `: ${crash.message}`}`;
      failed(new InferenceError(why, { cause: crash }));
      for (const pending of slot.runs.values()) pending.reject(new InferenceError(`${why} during the run`, { cause: crash }));
      slot.runs.clear();
      if (slot.retiring) return;
      logger.error({ worker: slot.label, code, err: crash }, 'inference worker died');
      // A worker that dies while starting is the start's failure (reported by the caller); one that
      // served is replaced.
      if (slot.ready) this.#scheduleReplacement(0);
    });

    try {
      const openMs = await open;
      const warmups: Record<string, number> = {};
      for (const graph of graphs.keys()) {
        const started = performance.now();
        await this.#send(slot, graph, this.#options.warmup(graph));
        warmups[graph] = Math.round(performance.now() - started);
      }
      logger.info({ worker: slot.label, provider, intraOpThreads, openMs: Math.round(openMs), warmupMs: warmups }, 'inference worker ready');
    } catch (error) {
      await this.#retire(slot);
      throw error instanceof InferenceError ? error : new InferenceError(`${slot.label} warm-up failed: ${messageOf(error)}`, { cause: error });
    }
    if (this.#closing) {
      await this.#retire(slot);
      throw new InferenceError('the inference pool closed while a worker was starting');
    }
    slot.ready = true;
    this.#flushWaiting();
    return slot;
  }

  #answer(slot: WorkerSlot, message: Extract<FromWorker, { id: number }>): void {
    const pending = slot.runs.get(message.id);
    if (pending === undefined) return;
    slot.runs.delete(message.id);
    if (message.type === 'result') pending.resolve(message.outputs);
    else pending.reject(new InferenceError(message.message));
  }

  #scheduleReplacement(delayMs: number): void {
    if (this.#closing) return;
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      const replacement = this.#startWorker().then(
        () => {
          this.#restartDelayMs = RESTART_BACKOFF_MS.first;
        },
        (error: unknown) => {
          if (this.#closing) return;
          this.#options.logger.error({ err: error, retryInMs: this.#restartDelayMs }, 'replacement inference worker failed to start');
          // Nobody can serve the waiting runs until a later attempt: fail them now rather than
          // let them hang through the back-off.
          if (this.#leastBusy() === undefined) this.#failWaiting(error);
          this.#scheduleReplacement(this.#restartDelayMs);
          this.#restartDelayMs = Math.min(this.#restartDelayMs * 2, RESTART_BACKOFF_MS.max);
        },
      );
      this.#replacements.add(replacement);
      void replacement.then(() => this.#replacements.delete(replacement));
    }, delayMs);
    this.#restartTimers.add(timer);
  }

  #flushWaiting(): void {
    for (let run = this.#waiting.shift(); run !== undefined; run = this.#waiting.shift()) {
      const slot = this.#leastBusy();
      if (slot === undefined) {
        this.#waiting.unshift(run);
        return;
      }
      this.#send(slot, run.graph, run.feeds).then(run.resolve, run.reject);
    }
  }

  #failWaiting(error: unknown): void {
    const reason = new InferenceError(`no inference worker is running: ${messageOf(error)}`, { cause: error });
    for (const run of this.#waiting.splice(0)) run.reject(reason);
  }

  /**
   * Asks the worker to release its sessions and end; terminates it if it does not in time.
   *
   * Only ever called with no run in flight on the worker: worker.terminate() while onnxruntime is
   * inside run() aborts the whole process (onnxruntime-node 1.30 throws a C++ Napi::Error into a
   * terminating isolate: "terminate called after throwing an instance of 'Napi::Error'").
   * The worker reads 'close' only between runs, so the grace period covers releasing sessions.
   */
  async #retire(slot: WorkerSlot): Promise<void> {
    slot.ready = false;
    slot.retiring = true;
    if (!this.#slots.has(slot)) return;
    const exited = new Promise<void>((resolve) => slot.worker.once('exit', () => resolve()));
    const close: ToWorker = { type: 'close' };
    slot.worker.postMessage(close);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), CLOSE_GRACE_MS);
    });
    if ((await Promise.race([exited, late])) === 'late') await slot.worker.terminate();
    clearTimeout(timer);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
