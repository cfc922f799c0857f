/**
 * Prometheus metrics for GET /metrics. Names follow Triton Inference Server where a Triton metric
 * means the same thing, so existing dashboards and autoscaling rules work unchanged:
 * nv_inference_count / nv_inference_exec_count is the average batch size, and the *_duration_us
 * counters divided by the request count give mean durations.
 *
 * One instance per process, owning its own registry (never prom-client's global one), created in
 * main and handed to the parts that record.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const MODEL_LABELS = ['model', 'version'] as const;

export class ServiceMetrics {
  readonly registry = new Registry();

  /** Translations/inference requests answered successfully (Triton). */
  readonly requestSuccess = new Counter({
    name: 'nv_inference_request_success',
    help: 'Number of successful inference requests',
    labelNames: MODEL_LABELS,
    registers: [this.registry],
  });

  /** Inference requests that failed, by reason (an error code) (Triton). */
  readonly requestFailure = new Counter({
    name: 'nv_inference_request_failure',
    help: 'Number of failed inference requests, by reason',
    labelNames: [...MODEL_LABELS, 'reason'],
    registers: [this.registry],
  });

  /** Images inferred: summed batch sizes (Triton). */
  readonly inferenceCount = new Counter({
    name: 'nv_inference_count',
    help: 'Number of inferences performed (batch items, not batches)',
    labelNames: MODEL_LABELS,
    registers: [this.registry],
  });

  /** Model executions: batches run (Triton). */
  readonly executionCount = new Counter({
    name: 'nv_inference_exec_count',
    help: 'Number of model executions (batches) performed',
    labelNames: MODEL_LABELS,
    registers: [this.registry],
  });

  /** Cumulative end-to-end request time, microseconds (Triton). */
  readonly requestDurationUs = new Counter({
    name: 'nv_inference_request_duration_us',
    help: 'Cumulative inference request duration in microseconds',
    labelNames: MODEL_LABELS,
    registers: [this.registry],
  });

  /** Cumulative time requests waited in the batcher queue, microseconds (Triton). */
  readonly queueDurationUs = new Counter({
    name: 'nv_inference_queue_duration_us',
    help: 'Cumulative time requests spent waiting in the queue in microseconds',
    labelNames: MODEL_LABELS,
    registers: [this.registry],
  });

  /** Cumulative model execution time attributed to requests, microseconds (Triton). */
  readonly computeInferDurationUs = new Counter({
    name: 'nv_inference_compute_infer_duration_us',
    help: 'Cumulative compute inference duration in microseconds',
    labelNames: MODEL_LABELS,
    registers: [this.registry],
  });

  /** Requests waiting in the batcher right now (Triton). */
  readonly pendingRequests = new Gauge({
    name: 'nv_inference_pending_request_count',
    help: 'Instantaneous number of pending requests awaiting execution',
    labelNames: MODEL_LABELS,
    registers: [this.registry],
  });

  /** Batch sizes as executed, for the distribution behind the Triton average. */
  readonly batchSize = new Histogram({
    name: 'inference_batch_size',
    help: 'Batch size of each model execution',
    labelNames: MODEL_LABELS,
    buckets: [1, 2, 3, 4, 6, 8, 12, 16, 24, 32],
    registers: [this.registry],
  });

  /** HTTP latency by route and status, for SLO alerting. */
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  constructor() {
    // process_resident_memory_bytes, heap, event-loop lag, GC: the process side of the picture.
    collectDefaultMetrics({ register: this.registry });
  }
}
