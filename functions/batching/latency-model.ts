/**
 * Execution time of one batch as a straight line in its size, latency(b) = α + β·b, refit online
 * from the batches actually run: α is the fixed cost of an execution (dispatch, kernel launches,
 * weights read once), β the cost each extra item adds. BentoML's adaptive batching fits the same
 * line; here the fit is exponentially weighted least squares, so the model follows drift
 * (thermal throttling, a noisy neighbour, a GPU shared with another model) instead of averaging
 * over the whole uptime.
 *
 * Before any data it predicts the prior (default 0 ms: an unknown cost is no reason to shed or
 * hold a request). While every observed batch has had the same size the slope cannot be told
 * from the intercept, and the line is drawn through the origin (all cost per item): the
 * pessimistic reading for batching, so the batcher does not hold requests for a gain nobody has
 * seen yet.
 */
export interface LatencyPrior {
  readonly interceptMs: number;
  readonly perItemMs: number;
}

export interface LatencyModelOptions {
  /** Weight kept by past observations at each new one; 0.9 ≈ the last 10 batches count. */
  readonly decay?: number;
  readonly prior?: LatencyPrior;
}

/** Below this weighted variance of batch sizes the slope is noise. */
const MIN_SIZE_VARIANCE = 0.05;

export class LatencyModel {
  readonly #decay: number;
  readonly #prior: LatencyPrior;
  // Exponentially weighted sums for the normal equations of y = α + β·x.
  #w = 0;
  #x = 0;
  #y = 0;
  #xx = 0;
  #xy = 0;
  #fit: LatencyPrior;

  constructor(options: LatencyModelOptions = {}) {
    const decay = options.decay ?? 0.9;
    if (!(decay > 0 && decay < 1)) throw new RangeError(`decay must be in (0, 1), got ${decay}`);
    this.#decay = decay;
    this.#prior = options.prior ?? { interceptMs: 0, perItemMs: 0 };
    this.#fit = this.#prior;
  }

  /** Records one execution of `size` items that took `ms`. */
  observe(size: number, ms: number): void {
    if (!(size >= 1) || !Number.isFinite(ms) || ms < 0) return;
    const d = this.#decay;
    this.#w = this.#w * d + 1;
    this.#x = this.#x * d + size;
    this.#y = this.#y * d + ms;
    this.#xx = this.#xx * d + size * size;
    this.#xy = this.#xy * d + size * ms;
    this.#fit = this.#refit();
  }

  /** Predicted execution time of a batch of `size`, ms. */
  predict(size: number): number {
    return this.#fit.interceptMs + this.#fit.perItemMs * size;
  }

  /** The current line, for logs and tests. */
  get coefficients(): LatencyPrior {
    return this.#fit;
  }

  /** Whether any batch has been observed (before that, predictions are the prior). */
  get observed(): boolean {
    return this.#w > 0;
  }

  #refit(): LatencyPrior {
    const meanX = this.#x / this.#w;
    const meanY = this.#y / this.#w;
    const varX = this.#xx / this.#w - meanX * meanX;
    if (varX < MIN_SIZE_VARIANCE) return throughOrigin(this.#xy, this.#xx);
    const slope = (this.#xy / this.#w - meanX * meanY) / varX;
    const intercept = meanY - slope * meanX;
    // Noise can tilt the line below zero at either end; neither a negative fixed cost nor an
    // item that makes a batch faster is real, so clamp and refit the other coefficient.
    if (slope < 0) return { interceptMs: meanY, perItemMs: 0 };
    if (intercept < 0) return throughOrigin(this.#xy, this.#xx);
    return { interceptMs: intercept, perItemMs: slope };
  }
}

function throughOrigin(xy: number, xx: number): LatencyPrior {
  return { interceptMs: 0, perItemMs: xx > 0 ? xy / xx : 0 };
}
