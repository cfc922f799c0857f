/**
 * When to run the requests queued for one key, given a free execution slot: now, or later in
 * the hope of a bigger batch. Pure, so every rule can be read and tested alone.
 *
 * Ideas taken:
 * - Triton's dynamic batcher: a batch goes when it reaches the max batch size or when its oldest
 *   request has waited max_queue_delay; only requests of identical shape share a batch; batches
 *   form while every model instance is busy (the caller dispatches only into a free slot).
 * - BentoML's adaptive batching (CorkDispatcher): a linear latency model refit online decides
 *   whether waiting can pay off, and the oldest request is given up on (503) once its predicted
 *   finish passes its limit rather than run late. Unlike BentoML the limit is each request's own
 *   deadline, not one max latency for the service.
 *
 * The gain test is this module's own: holding requests only pays when the execution slots cannot
 * keep up with small batches. With arrivals every Δ ms and batches of b costing α + β·b on c
 * slots, the slots are busy a fraction (α/b + β)/(c·Δ) of the time; the smallest batch that keeps
 * that under TARGET_UTILISATION is b* = α / (c·u·Δ − β). A queue already at b* goes now: waiting
 * longer would only add latency. Below it, waiting for arrivals saves whole fixed costs α, which
 * is the only thing batching buys. So an idle service with sparse traffic (large Δ) runs a lone
 * request at once, while a GPU at high load (large α, small Δ) holds for bigger batches.
 */
export const TARGET_UTILISATION = 0.9;

export interface QueueView {
  /** Items queued for the key. */
  readonly size: number;
  /** When the oldest item was queued, ms. */
  readonly oldestQueuedAt: number;
  /** The earliest deadline among the items the next batch would take, ms. */
  readonly tightestDeadline: number;
}

export interface PolicyInputs {
  readonly now: number;
  readonly queue: QueueView;
  readonly maxBatchSize: number;
  readonly maxQueueDelayMs: number;
  /** Batches the executor runs at once. */
  readonly concurrency: number;
  /** Predicted execution ms of a batch of the given size. */
  readonly predict: (size: number) => number;
  /** The line behind predict: fixed cost per execution, ms. */
  readonly fixedCostMs: number;
  readonly perItemMs: number;
  /** Expected ms until the next arrival for this key (Infinity: none expected). */
  readonly expectedGapMs: number;
  /** No more arrivals will come (draining). */
  readonly closing: boolean;
}

export type Decision =
  | { readonly dispatch: true; readonly why: DispatchReason }
  /** Hold; look again at `recheckAt` at the latest (an arrival or a finished batch looks sooner). */
  | { readonly dispatch: false; readonly recheckAt: number };

export type DispatchReason = 'full' | 'closing' | 'max-delay' | 'deadline' | 'no-gain';

export function decide(inputs: PolicyInputs): Decision {
  const { now, queue, maxBatchSize, maxQueueDelayMs, predict, expectedGapMs } = inputs;
  if (queue.size >= maxBatchSize) return { dispatch: true, why: 'full' };
  if (inputs.closing) return { dispatch: true, why: 'closing' };
  const delayEnds = queue.oldestQueuedAt + maxQueueDelayMs;
  if (now >= delayEnds) return { dispatch: true, why: 'max-delay' };
  // The latest start at which a batch one item larger still meets the tightest deadline: waiting
  // for that item must not take longer.
  if (queue.size >= sustainableBatch(inputs)) return { dispatch: true, why: 'no-gain' };
  const latestStart = queue.tightestDeadline - predict(queue.size + 1);
  if (now + expectedGapMs > latestStart) return { dispatch: true, why: 'deadline' };
  const nextArrival = Number.isFinite(expectedGapMs) ? now + Math.max(1, expectedGapMs) : delayEnds;
  return { dispatch: false, recheckAt: Math.min(delayEnds, latestStart, nextArrival) };
}

/** b*: the smallest batch at which the slots keep up with the arrival rate (see above). */
export function sustainableBatch(inputs: Pick<PolicyInputs, 'concurrency' | 'fixedCostMs' | 'perItemMs' | 'expectedGapMs' | 'maxBatchSize'>): number {
  const { concurrency, fixedCostMs, perItemMs, expectedGapMs, maxBatchSize } = inputs;
  if (fixedCostMs <= 0 || !Number.isFinite(expectedGapMs)) return 1;
  const spare = concurrency * TARGET_UTILISATION * expectedGapMs - perItemMs;
  // Each item alone already costs more than its share of the slots: only the biggest batches help.
  if (spare <= 0) return maxBatchSize;
  return Math.min(maxBatchSize, Math.max(1, Math.ceil(fixedCostMs / spare)));
}
