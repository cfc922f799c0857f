/**
 * How many inference workers to run, and how many onnxruntime intra-op threads each, when the
 * configuration does not say.
 *
 * The trade-off on a CPU: one worker using every core gives the lowest latency to a request that
 * runs alone; one single-threaded worker per core gives the most images per second when the
 * queue never empties, because no operator waits on a thread barrier. Measured with the pool
 * itself (2-core AMD EPYC, idle machine, translator a2b, medians of 3 interleaved rounds;
 * "alone" = one run at a time, "saturated" = 2 runs per worker always in flight):
 *
 *   model, size, batch            | 1 worker x 2 threads | 2 workers x 1 thread | 2 workers x 2 threads
 *   reference (256 px) 256², b1   |  501 ms, 2.05 img/s  |  867 ms, 2.26 img/s  |  506 ms, 1.91 img/s
 *   reference          128², b1   |  127 ms, 7.83 img/s  |  202 ms, 9.40 img/s  |  147 ms, 7.11 img/s
 *   reference          128², b4   |  469 ms, 8.87 img/s  |  795 ms, 9.73 img/s  |  465 ms, 8.61 img/s
 *   sa-munit-random     64², b1   |   17 ms,  156 img/s  |   10 ms,  211 img/s  |   11 ms,  113 img/s
 *   sa-munit-random     64², b8   |   47 ms,  166 img/s  |   82 ms,  214 img/s  |   65 ms,  146 img/s
 *
 * For a real model at its serving size a second thread cuts a lone request's latency by 40%
 * (867 → 501 ms at 256²) while a second worker adds only 10% throughput, and the adaptive batcher
 * recovers part of that under load (batch 4 runs at 8.87 img/s against 7.83 at batch 1). So the
 * default favours latency: the SLO is per request. Oversubscribing (2 x 2 on 2 cores) is worst at
 * everything. Only the committed 64 px toy model, whose operators are too small to split, prefers
 * one thread per worker.
 *
 * Beyond 2 cores (not measured here): workers are added one per 4 cores, since intra-op scaling
 * flattens as threads grow (1 → 2 threads is already only 1.6–1.7×, not 2×) while the latency
 * gain of a 5th or 8th thread is small. On a GPU one worker owns the device: a second session
 * would only split the same GPU and double its memory.
 */
import type { ProviderName } from './worker-protocol.ts';

export interface PoolSize {
  readonly workers: number;
  readonly intraOpThreads: number;
}

/** Cores per CPU worker on machines larger than the one measured. */
const CORES_PER_CPU_WORKER = 4;

export function defaultPoolSize(cpuCount: number, provider: ProviderName): PoolSize {
  const cores = Math.max(1, Math.floor(cpuCount));
  // The GPU does the arithmetic; CPU threads only feed it and run the few CPU-placed operators.
  if (provider === 'cuda') return { workers: 1, intraOpThreads: Math.min(cores, CORES_PER_CPU_WORKER) };
  const workers = Math.max(1, Math.floor(cores / CORES_PER_CPU_WORKER));
  return { workers, intraOpThreads: Math.max(1, Math.floor(cores / workers)) };
}
