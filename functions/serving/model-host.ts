/**
 * The model version being served, and the only way to change it.
 *
 * A version becomes active only after the registry verified every file and a fresh inference pool
 * warmed every graph; the swap is one assignment, so each request sees one whole version. The old
 * version keeps answering what it already accepted, then its pool closes. A version that fails
 * anywhere on the way is refused and the active one stays. Loads are serialised: a reload asked for
 * while one runs waits for it.
 */
import type { Priority } from '../../contract/headers.ts';
import type { Logger } from 'pino';
import { ApiError } from '../../contract/errors.ts';
import { TENSOR_NAMES, type Manifest } from '../../contract/manifest.ts';
import { styleFromSeed } from '../../contract/seed-style.ts';
import { AdaptiveBatcher } from '../batching/adaptive-batcher.ts';
import type { FunctionConfig } from '../config.ts';
import { chooseExecutionProvider } from '../inference/execution-provider.ts';
import { InferencePool, defaultPoolSize, type Feeds, type TensorData } from '../inference/inference-pool.ts';
import type { ServiceMetrics } from '../metrics.ts';
import { loadModel, ModelLoadError, type LoadedModel } from '../registry/model-registry.ts';

/** One loaded version with its own workers and batcher. */
export class ActiveModel {
  readonly model: LoadedModel;
  readonly pool: InferencePool;
  readonly batcher: AdaptiveBatcher;
  readonly loadedAt = new Date();
  /** Requests using this version right now (see ModelHost.use). */
  #leases = 0;
  #released: (() => void) | undefined;

  constructor(model: LoadedModel, pool: InferencePool, batcher: AdaptiveBatcher) {
    this.model = model;
    this.pool = pool;
    this.batcher = batcher;
  }

  get manifest(): Manifest {
    return this.model.manifest;
  }

  /**
   * Runs one item (leading dim 1) of a graph through the batcher: items of the same graph and
   * shape from concurrent requests share a model execution.
   */
  infer(graph: string, feeds: Feeds, deadline: number, priority: Priority = 'interactive'): Promise<Record<string, TensorData>> {
    const image = feeds[TENSOR_NAMES.translator.image];
    const shape = image === undefined ? '' : image.dims.slice(1).join('x');
    return this.batcher.submit(`${graph}:${shape}`, feeds, deadline, priority);
  }

  acquire(): () => void {
    this.#leases++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#leases--;
      if (this.#leases === 0) this.#released?.();
    };
  }

  /** Waits for every request that holds this version, then drains the batcher and stops the workers. */
  async close(): Promise<void> {
    if (this.#leases > 0) await new Promise<void>((done) => (this.#released = done));
    await this.batcher.drain();
    await this.pool.close();
  }
}

export type HostStatus =
  | { readonly state: 'loading'; readonly reason: string }
  | { readonly state: 'ready'; readonly active: ActiveModel }
  | { readonly state: 'failed'; readonly reason: string };

export interface ModelHostDeps {
  readonly config: FunctionConfig;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
}

export class ModelHost {
  readonly #deps: ModelHostDeps;
  #active: ActiveModel | undefined;
  #failure: string | undefined;
  #loading: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(deps: ModelHostDeps) {
    this.#deps = deps;
  }

  status(): HostStatus {
    if (this.#active !== undefined) return { state: 'ready', active: this.#active };
    if (this.#failure !== undefined) return { state: 'failed', reason: this.#failure };
    return { state: 'loading', reason: 'the model is loading' };
  }

  /** The active version, or a 503 not_ready error saying why there is none. */
  active(): ActiveModel {
    const status = this.status();
    if (status.state === 'ready') return status.active;
    throw new ApiError('not_ready', `no model is being served: ${status.reason}`, { retryAfterSeconds: 5 });
  }

  /**
   * Runs `work` on the active version and keeps that version alive until it finishes: a swap in
   * the meantime retires the old version only after its last user, so no request fails mid-way.
   */
  async use<T>(work: (active: ActiveModel) => Promise<T>): Promise<T> {
    const active = this.active();
    const release = active.acquire();
    try {
      return await work(active);
    } finally {
      release();
    }
  }

  /**
   * Loads `source` (default: the configured one) and makes it active once warmed. Resolves with
   * the new version; rejects with ApiError('model_rejected') and leaves the active one in place.
   */
  load(source: string = this.#deps.config.model.source): Promise<ActiveModel> {
    const run = this.#loading.then(() => this.#loadNow(source));
    this.#loading = run.catch(() => undefined);
    return run;
  }

  async #loadNow(source: string): Promise<ActiveModel> {
    const { config, logger } = this.#deps;
    if (this.#closed) throw new ApiError('shutting_down', 'the process is shutting down');
    const started = performance.now();
    let candidate: ActiveModel;
    try {
      const model = await loadModel({
        source,
        cacheDir: config.model.cacheDir,
        downloadConcurrency: config.model.downloadConcurrency,
        s3: { forcePathStyle: config.model.s3.forcePathStyle },
        logger,
      });
      candidate = await this.#startVersion(model);
    } catch (error) {
      const reason = error instanceof ModelLoadError ? error.reason : error instanceof Error ? error.message : String(error);
      if (this.#active === undefined) this.#failure = reason;
      logger.error({ source, reason }, 'model version refused; the served version is unchanged');
      throw new ApiError('model_rejected', `model from ${source} was not loaded: ${reason}`, { cause: error });
    }
    const previous = this.#active;
    this.#active = candidate;
    this.#failure = undefined;
    const { name, version } = candidate.manifest;
    logger.info(
      { model: name, version, source, origin: candidate.model.origin, provider: candidate.pool.provider, ms: Math.round(performance.now() - started) },
      'model version active',
    );
    if (previous !== undefined) {
      // In-flight requests hold their ActiveModel; closing drains them before the workers stop.
      void previous.close().catch((error: unknown) => logger.warn({ err: error }, 'closing the previous version failed'));
    }
    return candidate;
  }

  async #startVersion(model: LoadedModel): Promise<ActiveModel> {
    const { config, logger, metrics } = this.#deps;
    const manifest = model.manifest;
    const graphs = new Map(manifest.graphs.map((graph) => [graph.file, model.graphPath(graph.file)]));
    const provider = await chooseExecutionProvider({ requested: config.inference.provider, probeGraph: [...graphs.values()][0] ?? '', logger });
    const sizing = defaultPoolSize(config.inference.cpuCount, provider.provider);
    const pool = await InferencePool.start({
      graphs,
      workers: config.inference.workers ?? sizing.workers,
      intraOpThreads: config.inference.intraOpThreads ?? sizing.intraOpThreads,
      provider: provider.provider,
      warmup: (file) => warmupFeeds(manifest, file, config.batching.maxBatchSize),
      logger,
    });
    const labels = { model: manifest.name, version: manifest.version };
    const batcher = new AdaptiveBatcher({
      maxBatchSize: config.batching.maxBatchSize,
      maxQueueDelayMs: config.batching.maxQueueDelayMs,
      maxQueueLength: config.batching.maxQueueLength,
      concurrency: pool.workerCount,
      execute: (key, inputs) => pool.run(key.slice(0, key.indexOf(':')), inputs),
      onBatch: ({ size, queueMs, executeMs }) => {
        metrics.executionCount.inc(labels);
        metrics.inferenceCount.inc(labels, size);
        metrics.batchSize.observe(labels, size);
        metrics.queueDurationUs.inc(labels, queueMs.reduce((sum, ms) => sum + ms, 0) * 1000);
        metrics.computeInferDurationUs.inc(labels, executeMs * size * 1000);
      },
    });
    return new ActiveModel(model, pool, batcher);
  }

  /** Stops taking loads and closes the active version after its in-flight work. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#loading;
    const active = this.#active;
    this.#active = undefined;
    this.#failure = 'the process is shutting down';
    await active?.close();
  }
}

/**
 * Inputs for the warm-up run of a graph: a grey image at the model's size, seed 0's style, at the
 * largest batch the batcher forms. onnxruntime grows its memory arena on the first runs of a new
 * shape (measured: 951, 524, then 75 ms for the 64 px model at batch 8), which belongs in the
 * start-up, not in the first full batch a client waits for.
 */
function warmupFeeds(manifest: Manifest, file: string, batch: number): Feeds {
  const size = manifest.image_size;
  const image: TensorData = { data: new Float32Array(batch * 3 * size * size), dims: [batch, 3, size, size] };
  const graph = manifest.graphs.find((g) => g.file === file);
  if (graph?.role !== 'translator') return { [TENSOR_NAMES.styleEncoder.image]: image };
  const styles = new Float32Array(batch * manifest.style_dim);
  for (let i = 0; i < batch; i++) styles.set(styleFromSeed(0, manifest.style_dim), i * manifest.style_dim);
  return {
    [TENSOR_NAMES.translator.image]: image,
    [TENSOR_NAMES.translator.style]: { data: styles, dims: [batch, manifest.style_dim] },
  };
}
