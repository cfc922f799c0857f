/**
 * Sends one request to the function pool with failover. Translation is pure given its inputs, so
 * any attempt may be repeated on another replica:
 *
 * - each attempt goes to a replica chosen by the pool (power of two choices) that this request has
 *   not tried yet and whose breaker admits it;
 * - an attempt gets min(per-attempt timeout, what is left of the overall deadline), and the
 *   function is told that budget in X-Request-Timeout-Ms so it drops work nobody waits for;
 * - connection errors, timeouts and 5xx count against the replica's breaker and move on; 429 moves
 *   on without blaming the replica, and its Retry-After keeps this isolate away from it meanwhile;
 * - any other answer (2xx, or a 4xx that is the caller's fault) is final.
 *
 * When nothing could answer: 503 with Retry-After (when the soonest replica may admit again), or
 * 503 deadline_exceeded when the budget ran out first.
 */
import { ApiError } from '../../../contract/errors.ts';
import { REQUEST_ID_HEADER, TIMEOUT_HEADER } from '../../../contract/headers.ts';
import type { Replica, ReplicaPool } from './replica-pool.ts';
import { retryAfterMs } from './retry-after.ts';

/** An attempt with less budget than this would only add load: give up instead. */
const MIN_ATTEMPT_BUDGET_MS = 50;

export interface FunctionRequest {
  readonly method: 'GET' | 'POST';
  /** Path and query on the function, e.g. "/v1/translate?seed=7". */
  readonly path: string;
  /** Made per attempt: a body may be consumed by a failed attempt. */
  readonly body?: () => NonNullable<RequestInit['body']>;
  readonly contentType?: string;
}

export interface ForwardOptions {
  readonly pool: ReplicaPool;
  readonly maxAttempts: number;
  readonly attemptTimeoutMs: number;
  /** Epoch ms by which the whole request must be answered. */
  readonly deadline: number;
  readonly requestId: string;
  readonly authToken?: string | undefined;
  readonly now?: () => number;
}

export interface Forwarded {
  readonly response: Response;
  readonly replicaUrl: string;
  readonly attempts: number;
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

export async function forwardToFunctions(request: FunctionRequest, options: ForwardOptions): Promise<Forwarded> {
  const now = options.now ?? Date.now;
  const tried = new Set<Replica>();
  const failures: string[] = [];
  let deadlineHit = false;

  for (let attempt = 1; attempt <= options.maxAttempts; attempt += 1) {
    const budget = Math.min(options.attemptTimeoutMs, options.deadline - now());
    if (budget < MIN_ATTEMPT_BUDGET_MS) {
      deadlineHit = true;
      break;
    }
    const replica = options.pool.choose(now(), tried);
    if (replica === undefined) break;
    tried.add(replica);

    const headers = new Headers({ [REQUEST_ID_HEADER]: options.requestId, [TIMEOUT_HEADER]: String(Math.floor(budget)) });
    if (request.contentType !== undefined) headers.set('content-type', request.contentType);
    if (options.authToken !== undefined) headers.set('authorization', `Bearer ${options.authToken}`);

    replica.breaker.onSend(now());
    replica.outstanding += 1;
    let response: Response;
    try {
      response = await fetch(`${replica.url}${request.path}`, {
        method: request.method,
        headers,
        ...(request.body === undefined ? {} : { body: request.body() }),
        signal: AbortSignal.timeout(budget),
      });
    } catch (error) {
      replica.breaker.onFailure(now());
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      failures.push(`${replica.url}: ${timedOut ? `no answer within ${Math.floor(budget)} ms` : 'connection failed'}`);
      continue;
    } finally {
      // Counted until the answer's headers: the function's work is done by then, and the body
      // (one image) streams in a few milliseconds.
      replica.outstanding -= 1;
    }

    if (!isRetryableStatus(response.status)) {
      replica.breaker.onSuccess();
      return { response, replicaUrl: replica.url, attempts: attempt };
    }
    const waitMs = retryAfterMs(response.headers.get('retry-after'), now());
    if (waitMs !== undefined) replica.notBefore = now() + waitMs;
    if (response.status === 429) replica.breaker.onSuccess();
    else replica.breaker.onFailure(now());
    failures.push(`${replica.url}: HTTP ${response.status}`);
    await response.body?.cancel();
  }

  const tail = failures.length === 0 ? 'no replica is admitting requests' : failures.join('; ');
  if (deadlineHit) throw new ApiError('deadline_exceeded', `no function answered before the deadline (${tail})`, { retryAfterSeconds: 1 });
  throw new ApiError('not_ready', `no function replica could take the request (${tail})`, {
    retryAfterSeconds: options.pool.retryAfterSeconds(now()),
  });
}
