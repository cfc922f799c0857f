/**
 * Monthly quotas: one Durable Object per API key counts the key's translation requests per UTC
 * month. A Durable Object runs one call at a time, so read-increment-write is exact, which KV
 * (eventually consistent, no atomic increment) could not give. Methods are called over RPC through
 * a stub (`stub.consume(...)`).
 *
 * The same object holds the key's batch concurrency leases (batch/batch-consumer.ts): how many of
 * the key's batch items are being translated right now, across all its jobs and all consumer
 * invocations, so one customer's burst cannot take every function slot. A lease expires on its own,
 * so a consumer that dies mid-work cannot leak slots.
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

interface SlotLease {
  count: number;
  until: number;
}

export class KeyQuota extends DurableObject {
  /** Batch slot leases by id; in memory, since a restart ends the work they counted as well. */
  readonly #leases = new Map<string, SlotLease>();

  /** Charges `count` translations (a batch job charges its items at once), all or none. */
  async consume(limit: number, count = 1): Promise<QuotaOutcome> {
    const now = new Date();
    const month = quotaMonth(now);
    const used = (await this.ctx.storage.get<number>(usageKey(month))) ?? 0;
    const retryAfterSeconds = secondsUntilNextMonth(now);
    if (used + count > limit) return { allowed: false, used, month, retryAfterSeconds };
    await this.ctx.storage.put(usageKey(month), used + count);
    return { allowed: true, used: used + count, month, retryAfterSeconds };
  }

  /** Gives back `count` translations charged in `month` (the edge failed, or batch items were cancelled). */
  async refund(month: string, count = 1): Promise<void> {
    const used = (await this.ctx.storage.get<number>(usageKey(month))) ?? 0;
    if (used > 0) await this.ctx.storage.put(usageKey(month), Math.max(0, used - count));
  }

  /** Up to `wanted` batch slots, so that at most `cap` are leased at once; they lapse after `leaseMs`. */
  leaseBatchSlots(wanted: number, cap: number, leaseMs: number): { lease: string; granted: number } {
    const now = Date.now();
    let held = 0;
    for (const [id, lease] of this.#leases) {
      if (lease.until <= now) this.#leases.delete(id);
      else held += lease.count;
    }
    const granted = Math.max(0, Math.min(wanted, cap - held));
    const lease = crypto.randomUUID();
    if (granted > 0) this.#leases.set(lease, { count: granted, until: now + leaseMs });
    return { lease, granted };
  }

  /** Returns `count` slots of a lease early (work finished or not started). */
  releaseBatchSlots(lease: string, count: number): void {
    const held = this.#leases.get(lease);
    if (held === undefined) return;
    held.count -= count;
    if (held.count <= 0) this.#leases.delete(lease);
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
