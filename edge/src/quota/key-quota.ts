/**
 * Monthly quotas: one Durable Object per API key counts the key's translation requests per UTC
 * month. A Durable Object runs one call at a time, so read-increment-write is exact, which KV
 * (eventually consistent, no atomic increment) could not give. Methods are called over RPC through
 * a stub (`stub.consume(...)`); only the current month's counter is kept.
 */
import { DurableObject } from 'cloudflare:workers';

export interface QuotaOutcome {
  readonly allowed: boolean;
  /** Requests counted this month, including this one when allowed. */
  readonly used: number;
}

export class KeyQuota extends DurableObject {
  async consume(month: string, limit: number): Promise<QuotaOutcome> {
    const stored = await this.ctx.storage.get<{ month: string; used: number }>('usage');
    const used = stored?.month === month ? stored.used : 0;
    if (used >= limit) return { allowed: false, used };
    await this.ctx.storage.put('usage', { month, used: used + 1 });
    return { allowed: true, used: used + 1 };
  }

  async usage(month: string): Promise<number> {
    const stored = await this.ctx.storage.get<{ month: string; used: number }>('usage');
    return stored?.month === month ? stored.used : 0;
  }
}

/** "2026-11" for a date, in UTC. */
export const quotaMonth = (now: Date): string => now.toISOString().slice(0, 7);

/** Seconds until the next UTC month begins (Retry-After of an exhausted quota). */
export function secondsUntilNextMonth(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return Math.max(1, Math.ceil((next - now.getTime()) / 1000));
}
