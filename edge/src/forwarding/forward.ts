/**
 * Sends one request to the function pool with failover. Translation is pure given its inputs, so
 * any attempt may be repeated on another replica:
 *
 * - each attempt goes to a replica chosen by the pool (power of two choices) that this request has
 *   not tried yet and whose breaker admits it;
 * - an attempt gets min(per-attempt timeout, what is left of the overall deadline), and the
 *   function is told that budget in X-Request-Timeout-Ms so it drops work nobody waits for;
 * - an attempt covers the whole answer, body included: a replica that sends headers and then
 *   stalls is a failed attempt (retried elsewhere), not a success followed by a 500;
 * - a replica is blamed (its breaker counts a failure) only for what says something about it:
 *   a connection error, a timeout of an attempt that had the full attempt timeout, or 502/503/504
 *   other than `deadline_exceeded`. An attempt cut short by the caller's own deadline
 *   (X-Request-Timeout-Ms) and the function's `deadline_exceeded` for such a budget blame nobody:
 *   a client must not be able to open every replica's breaker by asking for impossible budgets;
 * - 429 moves on without blaming the replica, and its Retry-After (capped at the breaker cooldown)
 *   keeps this isolate away from it meanwhile;
 * - any other answer (2xx, a 4xx that is the caller's fault, a 500 — a bug for this input, which
 *   another replica running the same code would repeat) is final.
 *
 * When nothing could answer: 429 queue_full when every replica tried answered 429 (busy, not
 * broken), else 503 not_ready, both with Retry-After (when the soonest replica may admit again),
 * or 503 deadline_exceeded when the budget ran out first.
 */
import { ApiError } from '../../../contract/errors.ts';
import { PRIORITY_HEADER, REQUEST_ID_HEADER, TIMEOUT_HEADER, type Priority } from '../../../contract/headers.ts';
import type { Replica, ReplicaPool } from './replica-pool.ts';
import { retryAfterMs } from '../../../contract/retry-after.ts';

/** An attempt with less budget than this would only add load: give up instead. */
const MIN_ATTEMPT_BUDGET_MS = 50;

export interface FunctionRequest {
  readonly method: 'GET' | 'POST';
  /** Path and query on the function, e.g. "/v1/translate?seed=7". */
  readonly path: string;
  /** Made per attempt: a body may be consumed by a failed attempt. */
  readonly body?: () => NonNullable<RequestInit['body']>;
  readonly contentType?: string;
  /** Sent as X-Request-Priority; absent means interactive (the function's default). */
  readonly priority?: Priority;
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

/**
 * Statuses that move the request to another replica. 401/403 too: the edge authenticated the
 * caller already, so a function refusing the edge (a FUNCTION_AUTH_TOKEN that does not match, say
 * mid-rotation) is that replica's fault, never the caller's: failover, a breaker failure, and at
 * worst 503 not_ready (quota refunded), not a 401 the caller would blame on their own key.
 */
const RETRYABLE_STATUSES = new Set([401, 403, 429, 502, 503, 504]);

/** The error code of a function's JSON error body, if it has one. */
function errorCodeIn(body: ArrayBuffer): string | undefined {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(body)) as { error?: { code?: unknown } };
    return typeof parsed.error?.code === 'string' ? parsed.error.code : undefined;
  } catch {
    return undefined;
  }
}

export async function forwardToFunctions(request: FunctionRequest, options: ForwardOptions): Promise<Forwarded> {
  const now = options.now ?? Date.now;
  const pool = options.pool;
  const tried = new Set<Replica>();
  const failures: string[] = [];
  let deadlineHit = false;
  let busyAnswers = 0;
  let longestBusyWaitMs = 0;

  for (let attempt = 1; attempt <= options.maxAttempts; attempt += 1) {
    const budget = Math.min(options.attemptTimeoutMs, options.deadline - now());
    if (budget < MIN_ATTEMPT_BUDGET_MS) {
      deadlineHit = true;
      break;
    }
    // Only an attempt that had the whole attempt timeout can blame a replica for timing out.
    const fullBudget = budget >= options.attemptTimeoutMs;
    const replica = pool.choose(now(), tried);
    if (replica === undefined) break;
    tried.add(replica);

    const headers = new Headers({ [REQUEST_ID_HEADER]: options.requestId, [TIMEOUT_HEADER]: String(Math.floor(budget)) });
    if (request.contentType !== undefined) headers.set('content-type', request.contentType);
    if (request.priority !== undefined) headers.set(PRIORITY_HEADER, request.priority);
    if (options.authToken !== undefined) headers.set('authorization', `Bearer ${options.authToken}`);

    replica.breaker.onSend(now());
    const endAttempt = replica.beginAttempt(now());
    let response: Response;
    let body: ArrayBuffer;
    try {
      response = await fetch(`${replica.url}${request.path}`, {
        method: request.method,
        headers,
        ...(request.body === undefined ? {} : { body: request.body() }),
        signal: AbortSignal.timeout(budget),
      });
      // Read under the same timeout: the attempt is over when the whole answer is in.
      body = await response.arrayBuffer();
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      if (timedOut && !fullBudget) {
        replica.breaker.onInconclusive();
        deadlineHit = true;
      } else {
        replica.breaker.onFailure(now());
      }
      failures.push(`${replica.url}: ${timedOut ? `no complete answer within ${Math.floor(budget)} ms` : 'connection failed'}`);
      continue;
    } finally {
      endAttempt();
    }
    const answer = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });

    if (!RETRYABLE_STATUSES.has(response.status)) {
      replica.breaker.onSuccess();
      return { response: answer, replicaUrl: replica.url, attempts: attempt };
    }
    const waitMs = retryAfterMs(response.headers.get('retry-after'), now(), pool.breakerOptions.cooldownMs);
    // A 429 to batch work says only that batch work's share of the queue is full: the replica still
    // has room for interactive requests, which must not be kept away from it (the pool is shared).
    const refusedOnlyBatch = response.status === 429 && request.priority === 'batch';
    if (waitMs !== undefined && !refusedOnlyBatch) replica.notBefore = now() + waitMs;
    const code = errorCodeIn(body);
    if (response.status === 429) {
      replica.breaker.onSuccess();
      busyAnswers += 1;
      longestBusyWaitMs = Math.max(longestBusyWaitMs, waitMs ?? 0);
    }
    else if (code === 'deadline_exceeded') {
      replica.breaker.onInconclusive();
      if (!fullBudget) deadlineHit = true;
    } else replica.breaker.onFailure(now());
    const refusedEdge = response.status === 401 || response.status === 403 ? ' (refused the edge: check FUNCTION_AUTH_TOKEN)' : '';
    failures.push(`${replica.url}: HTTP ${response.status}${code === undefined ? '' : ` ${code}`}${refusedEdge}`);
  }

  const tail = failures.length === 0 ? 'no replica is admitting requests' : failures.join('; ');
  // Every replica tried said it is full: the pool is busy, not broken (429, not 503).
  if (!deadlineHit && failures.length > 0 && busyAnswers === failures.length) {
    const retryAfterSeconds = longestBusyWaitMs > 0 ? Math.ceil(longestBusyWaitMs / 1000) : pool.retryAfterSeconds(now());
    throw new ApiError('queue_full', `every function replica tried is at capacity (${tail})`, { retryAfterSeconds });
  }
  if (deadlineHit) throw new ApiError('deadline_exceeded', `no function answered before the deadline (${tail})`, { retryAfterSeconds: 1 });
  throw new ApiError('not_ready', `no function replica could take the request (${tail})`, {
    retryAfterSeconds: pool.retryAfterSeconds(now()),
  });
}
