/**
 * The SA-MUNIT API over HTTP, shared by every command. One method call is one logical request:
 * it carries the key and one request id (the same on every attempt, so the edge's logs tie the
 * attempts together), tells the edge how much of the budget is left (X-Request-Timeout-Ms) so it
 * drops work nobody waits for, and retries 429 and 503 after the wait the answer asks for
 * (Retry-After), a bounded number of times and never past the call's budget. Connection errors
 * are not retried: a refused connection is a wrong URL or a stopped edge far more often than a blip.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  IDEMPOTENCY_KEY_HEADER,
  MAX_PAGE_SIZE,
  type BatchCreated,
  type BatchCreateInput,
  type BatchJobView,
  type BatchResultItem,
  type BatchResultsPage,
  type BatchUploadsPage,
  type ItemStatus,
  type UploadTarget,
} from '../../contract/batch-api.ts';
import { MODEL_NAME_HEADER, MODEL_VERSION_HEADER, REQUEST_ID_HEADER, SEED_HEADER, TIMEOUT_HEADER } from '../../contract/headers.ts';
import { IMAGE_MEDIA_TYPES, type SniffedFormat } from '../../contract/image-sniff.ts';
import { retryAfterMs } from '../../contract/retry-after.ts';
import { ApiResponseError, unreachable } from './api-errors.ts';

export const DEFAULT_MAX_RETRIES = 3;
/** The wait before retrying a 429/503 that names no Retry-After; doubled on each retry. */
const FALLBACK_RETRY_MS = 1000;
const RETRIABLE_STATUSES: ReadonlySet<number> = new Set([429, 503]);
const CACHE_HEADER = 'x-cache';

export interface ApiClientOptions {
  readonly baseUrl: URL;
  readonly key: string;
  /** The budget of one call, every attempt and wait included. */
  readonly timeoutMs: number;
  readonly maxRetries?: number;
  readonly onRetry?: (notice: RetryNotice) => void;
  /** Aborts the call in flight and any retry wait; the call then throws the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface RetryNotice {
  readonly error: ApiResponseError;
  readonly waitMs: number;
  /** 1 for the first retry. */
  readonly retry: number;
  readonly maxRetries: number;
}

export interface ImageFile {
  readonly bytes: Uint8Array;
  readonly format: SniffedFormat;
  /** The file name sent with a multipart part. */
  readonly name: string;
}

export interface TranslationRequest {
  readonly image: ImageFile;
  /** A reference image whose style is used instead of a seed (sent as multipart). */
  readonly styleImage?: ImageFile | undefined;
  /** API parameters as the query string carries them: direction, seed, n, format, quality, fit, keep_aspect. */
  readonly params: Readonly<Record<string, string>>;
}

export interface TranslatedImage {
  /** Undefined when the style came from a reference image. */
  readonly seed: number | undefined;
  readonly bytes: Uint8Array;
}

export interface Translation {
  readonly outputs: readonly TranslatedImage[];
  /** HIT (served from the edge's store, no function ran) or MISS. */
  readonly cache: string | undefined;
  readonly model: { readonly name: string; readonly version: string };
  /** Content address: GET /v1/results/<address> serves the same answer again. */
  readonly address: string | undefined;
}

export interface BatchCreation {
  readonly job: BatchCreated;
  /** 200: the Idempotency-Key named a job created before (a rerun after a crash), not a new one. */
  readonly replayed: boolean;
}

export interface ResultsQuery {
  readonly cursor?: string | null | undefined;
  readonly limit?: number | undefined;
  readonly status?: ItemStatus | undefined;
}

interface Call {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** A path under the base URL, or a URL the API handed out (absolute or root-relative). */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Built afresh for every attempt. */
  readonly body?: () => NonNullable<RequestInit['body']>;
  /**
   * Sent without the key: signed upload URLs and public result URLs need none, and an absolute
   * URL from an answer may name another host, which must never see the key.
   */
  readonly anonymous?: boolean;
}

export class ApiClient {
  readonly #options: ApiClientOptions;

  constructor(options: ApiClientOptions) {
    this.#options = options;
  }

  /** POST /v1/translations: n = 1 answers with the image, n > 1 with JSON holding every output. */
  translate(request: TranslationRequest): Promise<Translation> {
    const query = new URLSearchParams(request.params).toString();
    const path = `v1/translations${query === '' ? '' : `?${query}`}`;
    const { image, styleImage } = request;
    if (styleImage === undefined) {
      return this.#call({ method: 'POST', path, headers: { 'content-type': IMAGE_MEDIA_TYPES[image.format] }, body: () => image.bytes }, readTranslation);
    }
    // fetch writes the multipart boundary into the content type itself when the body is FormData.
    const body = () => {
      const form = new FormData();
      form.set('image', new Blob([image.bytes], { type: IMAGE_MEDIA_TYPES[image.format] }), image.name);
      form.set('style_image', new Blob([styleImage.bytes], { type: IMAGE_MEDIA_TYPES[styleImage.format] }), styleImage.name);
      return form;
    };
    return this.#call({ method: 'POST', path, body }, readTranslation);
  }

  /**
   * POST /v1/batches (JSON; the images follow to the upload URLs of the answer). Retrying is safe:
   * the same Idempotency-Key and body answer with the same job.
   */
  createBatch(input: BatchCreateInput, idempotencyKey: string): Promise<BatchCreation> {
    const text = JSON.stringify(input);
    return this.#call(
      { method: 'POST', path: 'v1/batches', headers: { 'content-type': 'application/json', [IDEMPOTENCY_KEY_HEADER]: idempotencyKey }, body: () => text },
      async (response) => ({ job: await readJson(response, 'the created batch job', isBatchCreated), replayed: response.status === 200 }),
    );
  }

  /** GET /v1/batches/{id}: status and counts. */
  batchJob(id: string): Promise<BatchJobView> {
    return this.#call({ method: 'GET', path: `v1/batches/${id}` }, (response) => readJson(response, 'the batch job', isBatchJobView));
  }

  /** GET /v1/batches/{id}/results: one page of per-item status and result URLs. */
  batchResults(id: string, query: ResultsQuery = {}): Promise<BatchResultsPage> {
    return this.#call({ method: 'GET', path: `v1/batches/${id}/results${queryString(query)}` }, (response) => readJson(response, 'a page of batch results', isResultsPage));
  }

  /** GET /v1/batches/{id}/uploads: fresh upload URLs for the items still awaiting their image. */
  batchUploads(id: string, query: Omit<ResultsQuery, 'status'> = {}): Promise<BatchUploadsPage> {
    return this.#call({ method: 'GET', path: `v1/batches/${id}/uploads${queryString(query)}` }, (response) => readJson(response, 'a page of upload URLs', isUploadsPage));
  }

  /** Every item of a job with this status (all of them without one), page after page. */
  async allBatchResults(id: string, status?: ItemStatus): Promise<BatchResultItem[]> {
    const items: BatchResultItem[] = [];
    for (let cursor: string | null = null; ; ) {
      const page = await this.batchResults(id, { cursor, limit: MAX_PAGE_SIZE, status });
      items.push(...page.items);
      cursor = page.next_cursor;
      if (cursor === null) return items;
    }
  }

  /** Fresh upload URLs for every item still awaiting its image, page after page. */
  async allBatchUploads(id: string): Promise<UploadTarget[]> {
    const uploads: UploadTarget[] = [];
    for (let cursor: string | null = null; ; ) {
      const page = await this.batchUploads(id, { cursor, limit: MAX_PAGE_SIZE });
      uploads.push(...page.uploads);
      cursor = page.next_cursor;
      if (cursor === null) return uploads;
    }
  }

  /**
   * PUT of one item's image to its signed URL. Two 409s are outcomes, not failures: the edge holds
   * that item's image already (an earlier run sent it), or the item was cancelled meanwhile.
   */
  async uploadBatchItem(target: UploadTarget, image: ImageFile): Promise<'uploaded' | 'already_uploaded' | 'item_cancelled'> {
    try {
      return await this.#call(
        { method: 'PUT', path: target.upload_url, headers: { 'content-type': IMAGE_MEDIA_TYPES[image.format] }, body: () => image.bytes, anonymous: true },
        async (response) => {
          await response.body?.cancel();
          return 'uploaded' as const;
        },
      );
    } catch (error) {
      if (error instanceof ApiResponseError && (error.code === 'already_uploaded' || error.code === 'item_cancelled')) return error.code;
      throw error;
    }
  }

  /** GET of a result URL from a batch's results (public and immutable: no key sent). */
  fetchResult(resultUrl: string): Promise<Translation> {
    return this.#call({ method: 'GET', path: resultUrl, anonymous: true }, readTranslation);
  }

  async #call<T>(call: Call, read: (response: Response) => Promise<T>): Promise<T> {
    const { baseUrl, key, timeoutMs, maxRetries = DEFAULT_MAX_RETRIES, onRetry, signal } = this.#options;
    const url = new URL(call.path, baseUrl);
    const deadline = Date.now() + timeoutMs;
    const requestId = randomUUID();
    const authorization: Record<string, string> = call.anonymous === true ? {} : { authorization: `Bearer ${key}` };
    for (let retry = 0; ; retry += 1) {
      const remainingMs = Math.max(1, deadline - Date.now());
      let response: Response;
      try {
        response = await fetch(url, {
          method: call.method,
          headers: { ...call.headers, ...authorization, [REQUEST_ID_HEADER]: requestId, [TIMEOUT_HEADER]: String(remainingMs) },
          ...(call.body === undefined ? {} : { body: call.body() }),
          // Covers the body too: an answer that stalls halfway is no answer.
          signal: signal === undefined ? AbortSignal.timeout(remainingMs) : AbortSignal.any([signal, AbortSignal.timeout(remainingMs)]),
        });
        if (response.ok) return await read(response);
      } catch (error) {
        if (signal?.aborted === true) throw signal.reason;
        if (!isNetworkFailure(error)) throw error;
        throw unreachable(url.origin === baseUrl.origin ? baseUrl.href.replace(/\/$/, '') : url.origin, error, timeoutMs);
      }
      const failure = await ApiResponseError.of(response, requestId);
      const waitMs = retryDelayMs(response, retry);
      if (waitMs === undefined || retry >= maxRetries || Date.now() + waitMs >= deadline) throw failure;
      onRetry?.({ error: failure, waitMs, retry: retry + 1, maxRetries });
      try {
        await sleep(waitMs, undefined, signal === undefined ? {} : { signal });
      } catch (error) {
        throw signal?.aborted === true ? signal.reason : error;
      }
    }
  }
}

function queryString(query: ResultsQuery): string {
  const params = new URLSearchParams();
  if (query.cursor !== undefined && query.cursor !== null) params.set('cursor', query.cursor);
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  if (query.status !== undefined) params.set('status', query.status);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

/** fetch's own failures: the timeout signal, or "fetch failed"/"terminated" with the socket error as cause. */
function isNetworkFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.name === 'TimeoutError' || error.name === 'AbortError' || (error instanceof TypeError && error.cause !== undefined);
}

/** How long to wait before retrying this answer, or undefined when it is not worth retrying. */
function retryDelayMs(response: Response, retry: number): number | undefined {
  if (!RETRIABLE_STATUSES.has(response.status)) return undefined;
  return retryAfterMs(response.headers.get('retry-after'), Date.now()) ?? FALLBACK_RETRY_MS * 2 ** retry;
}

/**
 * A JSON answer of the expected shape. Only what the client reads is checked: an edge newer than
 * the client may add fields, but a proxy's page or a wrong URL is named, not crashed on.
 */
async function readJson<T>(response: Response, what: string, isShape: (body: unknown) => body is T): Promise<T> {
  const unexpected = (detail: string) =>
    new ApiResponseError(`http_${response.status}`, `expected ${what}, got ${detail}`, response.status, response.headers.get(REQUEST_ID_HEADER) ?? undefined);
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith('application/json')) throw unexpected(type === '' ? 'no content type' : type);
  let body: unknown;
  try {
    body = await response.json();
  } catch (error) {
    if (error instanceof SyntaxError) throw unexpected('malformed JSON');
    throw error;
  }
  if (!isShape(body)) throw unexpected('JSON of another shape');
  return body;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCursor = (value: unknown): boolean => value === null || typeof value === 'string';

function isUploadTarget(value: unknown): value is UploadTarget {
  return isObject(value) && Number.isInteger(value['index']) && typeof value['upload_url'] === 'string';
}

function isBatchJobView(value: unknown): value is BatchJobView {
  if (!isObject(value) || typeof value['id'] !== 'string' || typeof value['status'] !== 'string') return false;
  const counts = value['counts'];
  return isObject(counts) && ['total', 'awaiting_upload', 'queued', 'running', 'done', 'failed', 'cancelled'].every((name) => typeof counts[name] === 'number');
}

function isBatchCreated(value: unknown): value is BatchCreated {
  if (!isBatchJobView(value)) return false;
  const { uploads } = value as { uploads?: unknown };
  return Array.isArray(uploads) && uploads.every(isUploadTarget);
}

function isResultsPage(value: unknown): value is BatchResultsPage {
  if (!isObject(value) || !Array.isArray(value['items']) || !isCursor(value['next_cursor'])) return false;
  return value['items'].every((item) => isObject(item) && Number.isInteger(item['index']) && typeof item['status'] === 'string');
}

function isUploadsPage(value: unknown): value is BatchUploadsPage {
  return isObject(value) && Array.isArray(value['uploads']) && value['uploads'].every(isUploadTarget) && isCursor(value['next_cursor']);
}

interface TranslationsJson {
  readonly model?: { readonly name?: unknown; readonly version?: unknown };
  readonly outputs?: readonly { readonly seed?: unknown; readonly image?: unknown }[];
}

async function readTranslation(response: Response): Promise<Translation> {
  const { headers } = response;
  const common = {
    cache: headers.get(CACHE_HEADER) ?? undefined,
    address: headers.get('etag')?.replace(/^(W\/)?"|"$/g, '') ?? undefined,
  };
  const headerModel = { name: headers.get(MODEL_NAME_HEADER) ?? 'unknown model', version: headers.get(MODEL_VERSION_HEADER) ?? 'unknown version' };
  const type = headers.get('content-type') ?? '';
  const unexpected = (what: string) =>
    new ApiResponseError(`http_${response.status}`, `expected an image or the translations JSON, got ${what}`, response.status, headers.get(REQUEST_ID_HEADER) ?? undefined);

  if (type.startsWith('image/')) {
    const seed = headers.get(SEED_HEADER);
    return { ...common, model: headerModel, outputs: [{ seed: seed === null ? undefined : Number(seed), bytes: new Uint8Array(await response.arrayBuffer()) }] };
  }
  if (!type.startsWith('application/json')) throw unexpected(type === '' ? 'no content type' : type);
  let body: TranslationsJson;
  try {
    body = (await response.json()) as TranslationsJson;
  } catch (error) {
    if (error instanceof SyntaxError) throw unexpected('malformed JSON');
    throw error;
  }
  const outputs = body.outputs;
  if (!Array.isArray(outputs) || outputs.some((output) => typeof output.image !== 'string')) throw unexpected('JSON without outputs[].image');
  const { name, version } = body.model ?? {};
  return {
    ...common,
    model: typeof name === 'string' && typeof version === 'string' ? { name, version } : headerModel,
    outputs: outputs.map((output) => ({
      seed: typeof output.seed === 'number' ? output.seed : undefined,
      bytes: Buffer.from(output.image as string, 'base64'),
    })),
  };
}
