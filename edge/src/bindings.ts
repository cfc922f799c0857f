/**
 * The Worker's bindings, typed as the narrow slices of the Workers APIs the edge uses.
 *
 * Why not @cloudflare/workers-types' globals: the repository has one tsconfig whose ambient types
 * are Node's, and the Workers globals (Request, Response, caches, ...) clash with them. Declaring
 * only what the edge calls keeps both worlds type-checked together; edge/test/bindings-types.ts
 * checks that the real binding types from @cloudflare/workers-types still fit these shapes.
 * Binding names are the ones in edge/wrangler.toml.
 */

import type { BatchItemMessage } from '../../contract/batch-api.ts';

/** An object read back from the results bucket (R2ObjectBody). */
export interface StoredObject {
  readonly httpMetadata?: { readonly contentType?: string };
  readonly customMetadata?: Record<string, string>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** R2Bucket, as far as the edge uses it. */
export interface ResultBucket {
  get(key: string): Promise<StoredObject | null>;
  head(key: string): Promise<object | null>;
  put(
    key: string,
    value: ArrayBuffer | Uint8Array,
    options?: { httpMetadata?: { contentType?: string }; customMetadata?: Record<string, string> },
  ): Promise<unknown>;
  delete(keys: string | string[]): Promise<void>;
}

/** KVNamespace, as far as the edge uses it (string values only). */
export interface KeyValueStore {
  get(key: string): Promise<string | null>;
  put(key: string, value: string): Promise<void>;
}

/** The Workers rate-limiting binding (`[[ratelimits]]`). */
export interface RateLimiter {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

/** The KEY_QUOTAS Durable Object namespace, called over RPC (quota/key-quota.ts). */
export interface QuotaNamespace {
  idFromName(name: string): unknown;
  get(id: never): KeyQuotaStub;
}

/** The methods of quota/key-quota.ts's KeyQuota, as called through a stub. */
export interface KeyQuotaStub {
  consume(limit: number, count?: number): Promise<{ allowed: boolean; used: number; month: string; retryAfterSeconds: number }>;
  refund(month: string, count?: number): Promise<void>;
  leaseBatchSlots(wanted: number, cap: number, leaseMs: number): Promise<{ lease: string; granted: number }>;
  releaseBatchSlots(lease: string, count: number): Promise<void>;
}

/** A Durable Object id, as far as the edge uses it. */
export interface DurableObjectIdLike {
  toString(): string;
}

/** The BATCH_JOBS Durable Object namespace (batch/batch-job.ts), one object per batch job. */
export interface BatchJobNamespace {
  idFromName(name: string): DurableObjectIdLike;
  idFromString(hex: string): DurableObjectIdLike;
  newUniqueId(): DurableObjectIdLike;
  get(id: never): BatchJobStub;
}

/** The methods of batch/batch-job.ts's BatchJob, as called through a stub. */
export type BatchJobStub = import('./batch/batch-job.ts').BatchJobApi;

/** A Queues producer binding, as far as the edge uses it (messages are JSON-serialisable). */
export interface QueueProducer<Body> {
  send(body: Body, options?: { delaySeconds?: number }): Promise<void>;
  sendBatch(messages: Iterable<{ body: Body; delaySeconds?: number }>): Promise<void>;
}

/** One delivered Queues message (Message<Body>). */
export interface QueueMessage<Body> {
  readonly id: string;
  readonly body: Body;
  readonly attempts: number;
  ack(): void;
  retry(options?: { delaySeconds?: number }): void;
}

/** What the Worker's queue() handler receives (MessageBatch<Body>). */
export interface QueueBatch<Body> {
  readonly queue: string;
  readonly messages: readonly QueueMessage<Body>[];
}

/** ExecutionContext, as far as the edge uses it: work that may finish after the response. */
export interface BackgroundWork {
  waitUntil(promise: Promise<unknown>): void;
}

/** The Cache API's `caches.default` (one per data centre in production, one per process locally). */
export interface EdgeCache {
  match(request: Request): Promise<Response | undefined>;
  put(request: Request, response: Response): Promise<void>;
}

/** What wrangler hands the Worker: bindings plus vars/secrets, unvalidated until config.ts parses them. */
export interface EdgeBindings {
  readonly RESULTS?: ResultBucket;
  readonly API_KEYS?: KeyValueStore;
  readonly RATE_LIMITER?: RateLimiter;
  readonly KEY_QUOTAS?: QuotaNamespace;
  readonly BATCH_JOBS?: BatchJobNamespace;
  readonly BATCH_QUEUE?: QueueProducer<BatchItemMessage>;
  readonly BATCH_DEAD_LETTERS?: QueueProducer<BatchItemMessage>;
  readonly [variable: string]: unknown;
}

/** caches.default when running in Workers; undefined elsewhere (then only R2 is used). */
export function defaultCache(): EdgeCache | undefined {
  const scope = globalThis as unknown as { caches?: { default?: EdgeCache } };
  return scope.caches?.default;
}
