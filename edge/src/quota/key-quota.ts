/**
 * Monthly quotas: one Durable Object per API key counts the key's translation requests per UTC
 * month. A Durable Object runs one call at a time, so read-increment-write is exact, which KV
 * (eventually consistent, no atomic increment) could not give. Methods are called over RPC through
 * a stub (`stub.consume(...)`).
 *
 * The month is read from the Durable Object's own clock, never the caller's, and each month has
 * its own storage key (`usage:2026-11`): a request that started before midnight on the 1st and
 * arrives late can neither reset nor spend the new month's count.
 */
import { DurableObject } from 'cloudflare:workers';

export interface QuotaOutcome {
  readonly allowed: boolean;
  /** Requests counted this month, including this one when allowed. */
  readonly used: number;
  /** The UTC month that was charged ("2026-11"): pass it to `refund`. */
  readonly month: string;
  /** Seconds until the next month begins (Retry-After when not allowed). */
  readonly retryAfterSeconds: number;
}

const usageKey = (month: string): string => `usage:${month}`;

export class KeyQuota extends DurableObject {
  async consume(limit: number): Promise<QuotaOutcome> {
    const now = new Date();
    const month = quotaMonth(now);
    const used = (await this.ctx.storage.get<number>(usageKey(month))) ?? 0;
    const retryAfterSeconds = secondsUntilNextMonth(now);
    if (used >= limit) return { allowed: false, used, month, retryAfterSeconds };
    await this.ctx.storage.put(usageKey(month), used + 1);
    return { allowed: true, used: used + 1, month, retryAfterSeconds };
  }

  /** Gives back one request charged in `month` (the edge failed to answer it). */
  async refund(month: string): Promise<void> {
    const used = (await this.ctx.storage.get<number>(usageKey(month))) ?? 0;
    if (used > 0) await this.ctx.storage.put(usageKey(month), used - 1);
  }

  async usage(): Promise<number> {
    return (await this.ctx.storage.get<number>(usageKey(quotaMonth(new Date())))) ?? 0;
  }
}

/** "2026-11" for a date, in UTC. */
export const quotaMonth = (now: Date): string => now.toISOString().slice(0, 7);

/** Seconds until the next UTC month begins (Retry-After of an exhausted quota). */
export function secondsUntilNextMonth(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}
