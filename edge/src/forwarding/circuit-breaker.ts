/**
 * A circuit breaker for one replica: closed (traffic flows) → open after `failureThreshold`
 * consecutive failures (no traffic for `cooldownMs`) → half-open (exactly one probe request) →
 * closed on its success, open again on its failure. A probe whose outcome never arrives (its request
 * was cancelled, so no code after the fetch ran) expires after `probeTimeoutMs`, the attempt
 * timeout, and the next request may probe: the breaker cannot stay half-open forever.
 *
 * State lives in the isolate that created it (see replica-pool.ts): each Worker isolate learns on
 * its own which replicas are failing. That is deliberate: a breaker must react within a request or
 * two, which no shared store reachable from a Worker (KV is eventually consistent, a Durable Object
 * adds a round trip to every request) can do cheaply.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  readonly failureThreshold: number;
  readonly cooldownMs: number;
  /** How long a half-open probe may stay unanswered before another is let through (the attempt timeout). */
  readonly probeTimeoutMs: number;
}

export class CircuitBreaker {
  readonly #options: BreakerOptions;
  #state: BreakerState = 'closed';
  #consecutiveFailures = 0;
  #openUntil = 0;
  /** When the outstanding half-open probe was sent; undefined when none is. */
  #probeSentAt: number | undefined;

  constructor(options: BreakerOptions) {
    this.#options = { ...options };
  }

  /** The state as of `now` (an open breaker whose cooldown has passed reads as half-open). */
  state(now: number): BreakerState {
    if (this.#state === 'open' && now >= this.#openUntil) return 'half-open';
    return this.#state;
  }

  /** Whether a request may be sent now; does not change the state. */
  admits(now: number): boolean {
    const state = this.state(now);
    return state === 'closed' || (state === 'half-open' && !this.#probeOutstanding(now));
  }

  #probeOutstanding(now: number): boolean {
    return this.#probeSentAt !== undefined && now - this.#probeSentAt < this.#options.probeTimeoutMs;
  }

  /** Call when a request is actually sent; in half-open it becomes the one probe. */
  onSend(now: number): void {
    if (this.state(now) === 'half-open') {
      this.#state = 'half-open';
      this.#probeSentAt = now;
    }
  }

  onSuccess(): void {
    this.#state = 'closed';
    this.#consecutiveFailures = 0;
    this.#probeSentAt = undefined;
  }

  /**
   * An attempt that says nothing about the replica's health (e.g. cut short by the caller's own
   * deadline): the failure count is untouched; a half-open probe is released for the next request.
   */
  onInconclusive(): void {
    this.#probeSentAt = undefined;
  }

  onFailure(now: number): void {
    this.#consecutiveFailures += 1;
    const probeFailed = this.#state === 'half-open';
    this.#probeSentAt = undefined;
    if (probeFailed || this.#consecutiveFailures >= this.#options.failureThreshold) {
      this.#state = 'open';
      this.#openUntil = now + this.#options.cooldownMs;
    }
  }

  /** When an open breaker lets its next probe through (for Retry-After); 0 when not open. */
  reopensAt(): number {
    return this.#state === 'open' ? this.#openUntil : 0;
  }
}
