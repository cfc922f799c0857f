/**
 * The messages between the inference pool (main thread) and an inference worker, defined once so
 * both sides type-check against the same shapes.
 */
import type { TensorData } from './tensor-data.ts';

export type ProviderName = 'cuda' | 'cpu';

/** Handed to a worker at spawn (workerData). */
export interface WorkerSetup {
  /** Graph file name → absolute path; the worker opens one session per entry. */
  readonly graphs: readonly (readonly [string, string])[];
  readonly intraOpThreads: number;
  readonly provider: ProviderName;
}

export type ToWorker =
  | { readonly type: 'run'; readonly id: number; readonly graph: string; readonly feeds: Record<string, TensorData> }
  /** Release the sessions and let the thread end by itself. */
  | { readonly type: 'close' }
  /** Test hook: die of an uncaught exception, as a bug in the worker would. */
  | { readonly type: 'crash' };

export type FromWorker =
  | { readonly type: 'ready'; readonly openMs: number }
  | { readonly type: 'open-failed'; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly outputs: Record<string, TensorData> }
  | { readonly type: 'run-failed'; readonly id: number; readonly message: string };
