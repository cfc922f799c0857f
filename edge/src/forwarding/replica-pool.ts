/**
 * The configured function replicas with what this isolate knows about each: requests in flight,
 * its circuit breaker, and a "not before" time from a Retry-After it sent.
 *
 * Choice is power of two choices: two random admissible replicas, the one with fewer outstanding
 * requests wins. It spreads load nearly as well as least-outstanding while two isolates with the
 * same (stale) view do not all stampede the same replica.
 *
 * Pools are kept in module scope, one per distinct configuration, so their state survives across
 * the requests one isolate serves. It is per isolate, not global: see circuit-breaker.ts.
 */
import { CircuitBreaker, type BreakerOptions } from './circuit-breaker.ts';

export class Replica {
  readonly url: string;
  readonly breaker: CircuitBreaker;
  /** Epoch ms before which the replica asked not to be sent more work (Retry-After). */
  notBefore = 0;
  /**
   * Attempts in flight by their expiry (sent + attempt timeout). An attempt normally ends itself;
   * one whose request was cancelled mid-fetch (no code after the fetch runs) expires instead, so
   * cancellations cannot inflate the count for the rest of the isolate's life.
   */
  readonly #inFlight = new Map<symbol, number>();
  readonly #attemptTimeoutMs: number;

  constructor(url: string, breaker: BreakerOptions) {
    this.url = url;
    this.breaker = new CircuitBreaker(breaker);
    this.#attemptTimeoutMs = breaker.probeTimeoutMs;
  }

  /** Counts an attempt as in flight until the returned function is called (or it expires). */
  beginAttempt(now: number): () => void {
    const token = Symbol('attempt');
    this.#inFlight.set(token, now + this.#attemptTimeoutMs);
    return () => void this.#inFlight.delete(token);
  }

  /** Requests in flight as of `now` (expired ones are dropped). */
  outstanding(now: number): number {
    for (const [token, expiry] of this.#inFlight) if (expiry <= now) this.#inFlight.delete(token);
    return this.#inFlight.size;
  }

  admits(now: number): boolean {
    return now >= this.notBefore && this.breaker.admits(now);
  }

  /** When this replica could take work again (for Retry-After), or `now` if it can. */
  availableAt(now: number): number {
    return Math.max(now, this.notBefore, this.breaker.reopensAt());
  }
}

export class ReplicaPool {
  readonly replicas: readonly Replica[];
  readonly breakerOptions: BreakerOptions;
  readonly #random: () => number;

  constructor(urls: readonly string[], breaker: BreakerOptions, random: () => number = Math.random) {
    this.breakerOptions = { ...breaker };
    this.replicas = urls.map((url) => new Replica(url, breaker));
    this.#random = random;
  }

  /** A replica for the next attempt, skipping `exclude` (already tried); undefined when none admits. */
  choose(now: number, exclude: ReadonlySet<Replica> = new Set()): Replica | undefined {
    const candidates = this.replicas.filter((replica) => !exclude.has(replica) && replica.admits(now));
    if (candidates.length <= 1) return candidates[0];
    const first = Math.floor(this.#random() * candidates.length);
    let second = Math.floor(this.#random() * (candidates.length - 1));
    if (second >= first) second += 1;
    const a = candidates[first]!;
    const b = candidates[second]!;
    return b.outstanding(now) < a.outstanding(now) ? b : a;
  }

  /** Seconds until some replica should admit again (for Retry-After), at least 1. */
  retryAfterSeconds(now: number): number {
    const soonest = Math.min(...this.replicas.map((replica) => replica.availableAt(now)));
    return Math.max(1, Math.ceil((soonest - now) / 1000));
  }
}

const poolsByConfiguration = new Map<string, ReplicaPool>();

/** The isolate's pool for this configuration (created on first use, then reused). */
export function replicaPoolFor(urls: readonly string[], breaker: BreakerOptions): ReplicaPool {
  const key = JSON.stringify([urls, breaker.failureThreshold, breaker.cooldownMs, breaker.probeTimeoutMs]);
  let pool = poolsByConfiguration.get(key);
  if (pool === undefined) {
    pool = new ReplicaPool(urls, breaker);
    poolsByConfiguration.set(key, pool);
  }
  return pool;
}
