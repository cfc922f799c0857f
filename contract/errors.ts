/**
 * The API's error codes: one enum, one exhaustive code → HTTP status map, one body shape, used by
 * the edge and the function alike. Every error a client can see is listed here with its meaning
 * and the fix, so the docs page can be generated from this table.
 *
 * Body: { "error": { "code": "stable_code", "message": "human words", "requestId": "..." } }
 */

interface ErrorCodeInfo {
  readonly status: number;
  /** What it means and what the caller can do about it. */
  readonly description: string;
}

export const ERROR_CODES = {
  invalid_parameters: { status: 400, description: 'A parameter is missing, malformed or out of range; the message names it.' },
  empty_body: { status: 400, description: 'The request carried no image. Send the image as the raw body or a multipart "image" part.' },
  invalid_image: { status: 400, description: 'The image could not be decoded (corrupt or truncated file).' },
  unsupported_media_type: { status: 415, description: 'The body is not a JPEG, PNG or WebP image (checked by its magic bytes), or the content type is not accepted.' },
  payload_too_large: { status: 413, description: 'The request body is larger than the configured limit.' },
  image_too_large: { status: 422, description: 'The image has more pixels or a larger side than the configured limit (decompression-bomb protection).' },
  unknown_direction: { status: 400, description: 'The direction is not a2b, b2a or <domain>-to-<domain> of the served model.' },
  unknown_model: { status: 404, description: 'No model of that name is served here.' },
  not_found: { status: 404, description: 'No such route or resource.' },
  method_not_allowed: { status: 405, description: 'The route exists but not for this HTTP method.' },
  unauthorized: { status: 401, description: 'Missing or wrong credentials (Authorization: Bearer <token>).' },
  forbidden: { status: 403, description: 'The credentials are valid but not for this action or origin.' },
  rate_limited: { status: 429, description: 'Too many requests for this key; retry after the Retry-After header.' },
  queue_full: { status: 429, description: 'The inference queue is full; retry after the Retry-After header.' },
  deadline_exceeded: { status: 503, description: 'The request could not finish before its deadline and was shed; retry, possibly elsewhere.' },
  not_ready: { status: 503, description: 'No model is loaded yet (starting, or the model store is unreachable); the ready endpoint says why.' },
  shutting_down: { status: 503, description: 'The process is draining before exit; retry on another replica.' },
  idempotency_conflict: { status: 422, description: 'This Idempotency-Key was used for a different request; use a new key for a new request.' },
  already_uploaded: { status: 409, description: 'This batch item has its image already; nothing was changed.' },
  item_cancelled: { status: 409, description: 'This batch item was cancelled, so its image is not needed any more.' },
  model_rejected: { status: 409, description: 'A model version failed verification or warm-up and was not loaded; the served version is unchanged.' },
  internal: { status: 500, description: 'An unexpected failure; the request id identifies it in the logs.' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string; readonly requestId?: string };
}

/** The one exception type routes throw; the error handler renders it. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds, for 429/503 answers that should carry Retry-After. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  body(requestId?: string): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(requestId === undefined ? {} : { requestId }) } };
  }
}
