/**
 * The two ways an API call fails, kept apart because the caller acts differently on each: the API
 * answered with an error (its stable code says what to fix), or no answer came at all (check the
 * URL, the network, or that the edge is running).
 */
import type { ErrorCode } from '../../contract/errors.ts';

/** The API answered, with an error body `{error: {code, message, requestId}}` or something else. */
export class ApiResponseError extends Error {
  override readonly name = 'ApiResponseError';
  /** A code of contract/errors.ts, or `http_<status>` when the answer carried none. */
  readonly code: ErrorCode | `http_${number}`;
  readonly status: number;
  readonly requestId: string | undefined;

  constructor(code: ErrorCode | `http_${number}`, message: string, status: number, requestId: string | undefined) {
    super(message);
    this.code = code;
    this.status = status;
    this.requestId = requestId;
  }

  /** `code: message (request id …)`: the one line a user quotes when asking for help. */
  describe(): string {
    return `${this.code}: ${this.message}${this.requestId === undefined ? '' : ` (request id ${this.requestId})`}`;
  }

  static async of(response: Response, sentRequestId: string): Promise<ApiResponseError> {
    const requestId = response.headers.get('x-request-id') ?? sentRequestId;
    const text = await response.text().catch(() => '');
    try {
      const { error } = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; requestId?: unknown } };
      if (typeof error?.code === 'string' && typeof error.message === 'string') {
        const bodyRequestId = typeof error.requestId === 'string' ? error.requestId : requestId;
        return new ApiResponseError(error.code as ErrorCode, error.message, response.status, bodyRequestId);
      }
    } catch {
      // not the API's error body (a proxy's HTML page, say): described below
    }
    const excerpt = text.replace(/\s+/g, ' ').trim().slice(0, 200);
    const message = `HTTP ${response.status} ${response.statusText}${excerpt === '' ? '' : `: ${excerpt}`}`;
    return new ApiResponseError(`http_${response.status}`, message, response.status, requestId);
  }
}

/** No answer: refused, unresolvable, reset, TLS failure, or nothing within the time budget. */
export class ApiUnreachableError extends Error {
  override readonly name = 'ApiUnreachableError';
}

const NETWORK_CAUSES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused (is the edge running?)',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed',
};

/** fetch's failure (`TypeError: fetch failed` with the socket error as its cause) in words. */
export function unreachable(url: string, error: unknown, budgetMs: number): ApiUnreachableError {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return new ApiUnreachableError(`${url}: no complete answer within ${budgetMs / 1000} s (--timeout)`);
  }
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const reason = code === undefined ? undefined : NETWORK_CAUSES[code];
  const detail = reason ?? (typeof cause?.message === 'string' ? cause.message : error instanceof Error ? error.message : String(error));
  return new ApiUnreachableError(`cannot reach ${url}: ${detail}${code === undefined || reason === undefined ? '' : ` [${code}]`}`, { cause: error });
}
