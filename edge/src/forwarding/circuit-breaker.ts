/**
 * A circuit breaker for one replica: closed (traffic flows) → open after `failureThreshold`
 * consecutive failures (no traffic for `cooldownMs`) → half-open (exactly one probe request) →
 * closed on its success, open again on its failure.
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
}

export class CircuitBreaker {
  readonly #options: BreakerOptions;
  #state: BreakerState = 'closed';
  #consecutiveFailures = 0;
  #openUntil = 0;
  #probeInFlight = false;

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
    return state === 'closed' || (state === 'half-open' && !this.#probeInFlight);
  }

  /** Call when a request is actually sent; in half-open it becomes the one probe. */
  onSend(now: number): void {
    if (this.state(now) === 'half-open') {
      this.#state = 'half-open';
      this.#probeInFlight = true;
    }
  }

  onSuccess(): void {
    this.#state = 'closed';
    this.#consecutiveFailures = 0;
    this.#probeInFlight = false;
  }

  onFailure(now: number): void {
    this.#consecutiveFailures += 1;
    const probeFailed = this.#state === 'half-open';
    this.#probeInFlight = false;
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
