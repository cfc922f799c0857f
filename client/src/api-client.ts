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
import { MODEL_NAME_HEADER, MODEL_VERSION_HEADER, REQUEST_ID_HEADER, SEED_HEADER, TIMEOUT_HEADER } from '../../contract/headers.ts';
import type { SniffedFormat } from '../../contract/image-sniff.ts';
import { retryAfterMs } from '../../contract/retry-after.ts';
import { ApiResponseError, unreachable } from './api-errors.ts';

export const DEFAULT_MAX_RETRIES = 3;
/** The wait before retrying a 429/503 that names no Retry-After; doubled on each retry. */
const FALLBACK_RETRY_MS = 1000;
const RETRIABLE_STATUSES: ReadonlySet<number> = new Set([429, 503]);
const CACHE_HEADER = 'x-cache';

const MEDIA_TYPES: Readonly<Record<SniffedFormat, string>> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

export interface ApiClientOptions {
  readonly baseUrl: URL;
  readonly key: string;
  /** The budget of one call, every attempt and wait included. */
  readonly timeoutMs: number;
  readonly maxRetries?: number;
  readonly onRetry?: (notice: RetryNotice) => void;
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

interface Call {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Built afresh for every attempt. */
  readonly body?: () => NonNullable<RequestInit['body']>;
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
      return this.#call({ method: 'POST', path, headers: { 'content-type': MEDIA_TYPES[image.format] }, body: () => image.bytes }, readTranslation);
    }
    // fetch writes the multipart boundary into the content type itself when the body is FormData.
    const body = () => {
      const form = new FormData();
      form.set('image', new Blob([image.bytes], { type: MEDIA_TYPES[image.format] }), image.name);
      form.set('style_image', new Blob([styleImage.bytes], { type: MEDIA_TYPES[styleImage.format] }), styleImage.name);
      return form;
    };
    return this.#call({ method: 'POST', path, body }, readTranslation);
  }

  async #call<T>(call: Call, read: (response: Response) => Promise<T>): Promise<T> {
    const { baseUrl, key, timeoutMs, maxRetries = DEFAULT_MAX_RETRIES, onRetry } = this.#options;
    const url = new URL(call.path, baseUrl);
    const deadline = Date.now() + timeoutMs;
    const requestId = randomUUID();
    for (let retry = 0; ; retry += 1) {
      const remainingMs = Math.max(1, deadline - Date.now());
      let response: Response;
      try {
        response = await fetch(url, {
          method: call.method,
          headers: { ...call.headers, authorization: `Bearer ${key}`, [REQUEST_ID_HEADER]: requestId, [TIMEOUT_HEADER]: String(remainingMs) },
          ...(call.body === undefined ? {} : { body: call.body() }),
          // Covers the body too: an answer that stalls halfway is no answer.
          signal: AbortSignal.timeout(remainingMs),
        });
        if (response.ok) return await read(response);
      } catch (error) {
        if (!isNetworkFailure(error)) throw error;
        throw unreachable(baseUrl.href.replace(/\/$/, ''), error, timeoutMs);
      }
      const failure = await ApiResponseError.of(response, requestId);
      const waitMs = retryDelayMs(response, retry);
      if (waitMs === undefined || retry >= maxRetries || Date.now() + waitMs >= deadline) throw failure;
      onRetry?.({ error: failure, waitMs, retry: retry + 1, maxRetries });
      await sleep(waitMs);
    }
  }
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
