/**
 * The batch API's shapes (issue 7): what `POST /v1/batches` accepts, what the job, results and
 * upload endpoints answer, and the queue message the consumer works from. The edge validates and
 * answers with these; the CLI's `batch` command reads them. One place, so the two cannot drift.
 *
 *   POST   /v1/batches                          create (JSON: uploads follow; multipart: images inside)
 *   PUT    /v1/batches/{id}/items/{index}/image  an upload URL handed out by create (signed, no key)
 *   GET    /v1/batches/{id}                     progress
 *   GET    /v1/batches/{id}/uploads             fresh upload URLs for the items still awaiting theirs
 *   GET    /v1/batches/{id}/results             paged per-item status and result URLs
 *   GET    /v1/batches/{id}/results.zip          every finished result, streamed as one ZIP
 *   DELETE /v1/batches/{id}                     cancel what has not started
 */
import { z } from '@hono/zod-openapi';
import type { TranslateParams } from './translate-params.ts';

export const MAX_BATCH_ITEMS = 10_000;
export const MAX_ITEM_NAME_LENGTH = 200;
/** Results and upload pages: default and largest page size. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** How long an upload URL stays valid. */
export const UPLOAD_URL_TTL_SECONDS = 24 * 60 * 60;
/** A job's id: its Durable Object's id, 64 hex digits. */
export const BATCH_ID_PATTERN = /^[0-9a-f]{64}$/;
/** The request header that makes a create safe to retry (scoped to the API key). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

export const ITEM_STATUSES = ['awaiting_upload', 'queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type ItemStatus = (typeof ITEM_STATUSES)[number];
/** Item states that never change again. */
export const FINISHED_ITEM_STATUSES: ReadonlySet<ItemStatus> = new Set(['done', 'failed', 'cancelled']);

/**
 * awaiting_uploads: nothing uploaded yet; running: work is queued or under way; completed: every
 * item finished (done or failed); cancelled: cancelled, and nothing is running any more.
 */
export const JOB_STATUSES = ['awaiting_uploads', 'running', 'completed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * JSON parameters, written as in the synchronous API's query string but with JSON's own types
 * allowed (`{"n": 4, "seed": 7, "style": [0.1, …]}`); they are turned into the query-string form and
 * parsed by the one translation schema, so a batch item and a synchronous call mean the same.
 */
const paramValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.number())]);
export const batchParamsInputSchema = z.record(z.string(), paramValue);
export type BatchParamsInput = z.infer<typeof batchParamsInputSchema>;

/** The shared parameters merged with an item's overrides, as the translation schema reads them. */
export function paramsAsText(...layers: readonly (BatchParamsInput | undefined)[]): Record<string, string> {
  const text: Record<string, string> = {};
  for (const layer of layers) {
    for (const [name, value] of Object.entries(layer ?? {})) text[name] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return text;
}

export const webhookInputSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
    /** Also fire after every `every` finished items (progress), not only on completion. */
    every: z.number().int().min(1).max(MAX_BATCH_ITEMS).optional(),
    /** At least 16 characters; the edge makes one (and returns it once, at create) when absent. */
    secret: z.string().min(16, 'must have at least 16 characters').max(256).optional(),
  })
  .strict();

export const batchItemInputSchema = z
  .object({
    /** Echoed in results and used for the ZIP entry; the file name in multipart creates. */
    name: z.string().min(1).max(MAX_ITEM_NAME_LENGTH).optional(),
    /** Overrides of the shared parameters for this item only. */
    params: batchParamsInputSchema.optional(),
  })
  .strict();

export const batchCreateSchema = z
  .object({
    params: batchParamsInputSchema.optional(),
    /** One entry per item (JSON creates); optional per-file overrides in multipart creates. */
    items: z.array(batchItemInputSchema).min(1, 'a batch needs at least one item').max(MAX_BATCH_ITEMS, `a batch holds at most ${MAX_BATCH_ITEMS} items`).optional(),
    webhook: webhookInputSchema.optional(),
  })
  .strict();
export type BatchCreateInput = z.infer<typeof batchCreateSchema>;

export interface ItemCounts {
  readonly total: number;
  readonly awaiting_upload: number;
  readonly queued: number;
  readonly running: number;
  readonly done: number;
  readonly failed: number;
  readonly cancelled: number;
}

export interface ItemError {
  readonly code: string;
  readonly message: string;
}

export interface UploadTarget {
  readonly index: number;
  readonly upload_url: string;
  readonly expires_at: string;
}

/** `GET /v1/batches/{id}` (and the create answer, which adds uploads and the webhook secret). */
export interface BatchJobView {
  readonly id: string;
  readonly status: JobStatus;
  readonly created_at: string;
  readonly updated_at: string;
  readonly finished_at: string | null;
  readonly counts: ItemCounts;
  readonly model: { readonly name: string; readonly version: string };
  readonly direction: string;
  readonly webhook: { readonly url: string; readonly every: number | null } | null;
  readonly status_url: string;
  readonly results_url: string;
  readonly zip_url: string;
}

export interface BatchCreated extends BatchJobView {
  /** One per item for JSON creates (empty for multipart ones, whose images came with the request). */
  readonly uploads: readonly UploadTarget[];
  /** Present when a webhook was asked for: the secret its signatures use. */
  readonly webhook_secret?: string;
}

export interface BatchResultItem {
  readonly index: number;
  readonly name: string | null;
  readonly status: ItemStatus;
  readonly attempts: number;
  readonly seed: string | null;
  /** The content address, and the URL that serves it (public, immutable), once done. */
  readonly address: string | null;
  readonly result_url: string | null;
  readonly error: ItemError | null;
}

export interface BatchResultsPage {
  readonly items: readonly BatchResultItem[];
  /** Pass as `cursor` for the next page; null on the last page. */
  readonly next_cursor: string | null;
}

export interface BatchUploadsPage {
  readonly uploads: readonly UploadTarget[];
  readonly next_cursor: string | null;
}

/** Webhook deliveries' body (signed: contract/webhook-signature.ts). */
export interface BatchWebhookEvent {
  readonly id: string;
  readonly type: 'batch.completed' | 'batch.progress';
  readonly created_at: string;
  readonly data: BatchJobView;
}

/**
 * One item's work, as a Queues message: where its image is in R2 and the parameters, never the
 * bytes. `params` are normalised (direction resolved, seed chosen), so the consumer computes the
 * same content address the synchronous API would.
 */
export interface BatchItemMessage {
  readonly job: string;
  readonly index: number;
  readonly key_id: string;
  readonly input_key: string;
  readonly params: TranslateParams & { readonly direction: 'a2b' | 'b2a' };
  /** Why the consumer sent it straight to the dead-letter queue (a refusal no retry changes). */
  readonly refusal?: ItemError;
}

/** Where a job item's upload lives in R2. */
export const uploadKey = (job: string, index: number): string => `uploads/${job}/${index}`;
