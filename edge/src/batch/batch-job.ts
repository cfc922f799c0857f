/**
 * One batch job: a Durable Object with SQLite storage holding the job's record and every item's
 * state. A Durable Object runs one call at a time, so counts are exact and a state change can
 * never be lost between two consumers: the queue consumer asks here before it works on an item
 * (`claim`), and reports back (`complete`, `fail`, `release`, `deadLetter`).
 *
 * It also owns the two things that must happen exactly once per state change:
 * - enqueuing an item when its image is in R2 (`markUploaded`), so an item is queued once however
 *   often its upload is retried;
 * - webhooks: a finished job (and, when asked, every N finished items) adds a delivery row, and the
 *   alarm sends due deliveries, signed, retrying with backoff until the receiver answers 2xx.
 *
 * The job's id is this object's id: random for a plain create, derived from the API key and the
 * Idempotency-Key otherwise, so a retried create reaches this same object and gets this job back.
 */
import { DurableObject, type DurableObjectStateSlice, type SqlValue } from 'cloudflare:workers';
import {
  FINISHED_ITEM_STATUSES,
  uploadKey,
  type BatchItemMessage,
  type BatchJobView,
  type BatchResultItem,
  type BatchWebhookEvent,
  type ItemCounts,
  type ItemError,
  type ItemStatus,
  type JobStatus,
} from '../../../contract/batch-api.ts';
import type { TranslateParams } from '../../../contract/translate-params.ts';
import type { EdgeBindings } from '../bindings.ts';
import { deliverWebhook } from './webhook-delivery.ts';

export interface JobWebhook {
  readonly url: string;
  readonly every: number | null;
  readonly secret: string;
}

/** Everything the edge decided about a job when it was created. */
export interface JobSpec {
  readonly keyId: string;
  /** sha256 of the create request as given, to tell a retry from a different request under the same Idempotency-Key. */
  readonly fingerprint: string;
  /** The edge's origin, for the URLs in views and webhook bodies. */
  readonly origin: string;
  readonly model: { readonly name: string; readonly version: string };
  readonly direction: string;
  readonly webhook: JobWebhook | null;
  /** The quota month the items were charged to, when the key has a quota. */
  readonly quotaMonth: string | null;
  readonly items: readonly { readonly name: string | null; readonly params: TranslateParams }[];
}

export type CreateOutcome =
  | { readonly kind: 'created'; readonly view: BatchJobView; readonly webhookSecret: string | null }
  | { readonly kind: 'replayed'; readonly view: BatchJobView; readonly webhookSecret: string | null }
  | { readonly kind: 'conflict' };

export interface ClaimOutcome {
  /** Marked running under a lease: work on these. */
  readonly granted: readonly number[];
  /** Over the job's concurrency cap, or running under another consumer's live lease: try later. */
  readonly later: readonly number[];
  /** Finished, cancelled or not uploaded: nothing to do (acknowledge). */
  readonly skip: readonly number[];
}

/**
 * What became of a claimed item: done (its result's address), failed (a refusal no retry would
 * change), or released (a transient failure: queued again, the error kept as its latest reason).
 */
export type Settlement =
  | { readonly index: number; readonly kind: 'done'; readonly address: string }
  | { readonly index: number; readonly kind: 'failed'; readonly error: ItemError }
  | { readonly index: number; readonly kind: 'released'; readonly error: ItemError };

export type UploadState = 'awaiting_upload' | 'uploaded' | 'cancelled' | 'unknown';

/** The RPC surface the Worker calls through a stub (bindings.ts types the stub with it). */
export interface BatchJobApi {
  create(spec: JobSpec): Promise<CreateOutcome>;
  /** The existing job for a retried create: replayed, conflict (another request), or undefined (none yet). */
  replay(keyId: string, fingerprint: string): Promise<CreateOutcome | undefined>;
  view(keyId: string): Promise<BatchJobView | undefined>;
  uploadState(index: number): Promise<{ state: UploadState; keyId: string | null }>;
  markUploaded(indices: readonly number[]): Promise<number[]>;
  claim(indices: readonly number[], cap: number, leaseMs: number): Promise<ClaimOutcome>;
  settle(settlements: readonly Settlement[]): Promise<void>;
  deadLetter(index: number, error: ItemError | undefined): Promise<void>;
  cancel(keyId: string): Promise<BatchJobView | undefined>;
  results(keyId: string, after: number, limit: number, status: ItemStatus | undefined): Promise<{ items: BatchResultItem[]; last: number | null } | undefined>;
  /** Up to limit + 1 indices: one more than `limit` means another page follows. */
  awaitingUpload(keyId: string, after: number, limit: number): Promise<number[] | undefined>;
}

/** How long a job with queued items may go without any change before their messages are sent again. */
const STALL_RESEND_MS = 5 * 60_000;
/** Webhook retry delays: about 4.7 hours of attempts in all, then the delivery is given up. */
const WEBHOOK_BACKOFF_SECONDS = [1, 5, 30, 120, 600, 1800, 3600, 3 * 3600];

interface JobRow {
  key_id: string;
  fingerprint: string;
  origin: string;
  model_name: string;
  model_version: string;
  direction: string;
  webhook_url: string | null;
  webhook_every: number | null;
  webhook_secret: string | null;
  quota_month: string | null;
  created_at: number;
  updated_at: number;
  /** The last claim call of any consumer: its messages are alive, even when all were turned away. */
  seen_at: number;
  cancelled_at: number | null;
  finished_at: number | null;
  [column: string]: SqlValue;
}

interface ItemRow {
  idx: number;
  name: string | null;
  params: string;
  status: ItemStatus;
  attempts: number;
  address: string | null;
  error_code: string | null;
  error_message: string | null;
  lease_until: number;
  [column: string]: SqlValue;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export class BatchJob extends DurableObject<EdgeBindings> implements BatchJobApi {
  readonly #sql = this.ctx.storage.sql;

  constructor(ctx: DurableObjectStateSlice, env: EdgeBindings) {
    super(ctx, env);
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS job (
        id INTEGER PRIMARY KEY CHECK (id = 1), key_id TEXT NOT NULL, fingerprint TEXT NOT NULL, origin TEXT NOT NULL,
        model_name TEXT NOT NULL, model_version TEXT NOT NULL, direction TEXT NOT NULL,
        webhook_url TEXT, webhook_every INTEGER, webhook_secret TEXT, quota_month TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, cancelled_at INTEGER, finished_at INTEGER,
        seen_at INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS items (
        idx INTEGER PRIMARY KEY, name TEXT, params TEXT NOT NULL, status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, address TEXT, error_code TEXT, error_message TEXT,
        lease_until INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX IF NOT EXISTS items_by_status ON items (status, idx);
      CREATE TABLE IF NOT EXISTS deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL, delivered_at INTEGER, given_up_at INTEGER, last_error TEXT);
    `);
  }

  get #id(): string {
    return this.ctx.id.toString();
  }

  #job(): JobRow | undefined {
    return this.#sql.exec<JobRow>('SELECT * FROM job WHERE id = 1').toArray()[0];
  }

  #item(index: number): ItemRow | undefined {
    return this.#sql.exec<ItemRow>('SELECT * FROM items WHERE idx = ?', index).toArray()[0];
  }

  #counts(): ItemCounts {
    const counts = { total: 0, awaiting_upload: 0, queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
    for (const row of this.#sql.exec<{ status: ItemStatus; n: number }>('SELECT status, count(*) AS n FROM items GROUP BY status')) {
      counts[row.status] = row.n;
      counts.total += row.n;
    }
    return counts;
  }

  #view(job: JobRow): BatchJobView {
    const counts = this.#counts();
    const base = `${job.origin}/v1/batches/${this.#id}`;
    return {
      id: this.#id,
      status: this.#status(job, counts),
      created_at: iso(job.created_at)!,
      updated_at: iso(job.updated_at)!,
      finished_at: iso(job.finished_at),
      counts,
      model: { name: job.model_name, version: job.model_version },
      direction: job.direction,
      webhook: job.webhook_url === null ? null : { url: job.webhook_url, every: job.webhook_every },
      status_url: base,
      results_url: `${base}/results`,
      zip_url: `${base}/results.zip`,
    };
  }

  #status(job: JobRow, counts: ItemCounts): JobStatus {
    if (job.finished_at !== null) return job.cancelled_at === null ? 'completed' : 'cancelled';
    if (counts.awaiting_upload === counts.total && job.cancelled_at === null) return 'awaiting_uploads';
    return 'running';
  }

  #owned(keyId: string): JobRow | undefined {
    const job = this.#job();
    return job !== undefined && job.key_id === keyId ? job : undefined;
  }

  async replay(keyId: string, fingerprint: string): Promise<CreateOutcome | undefined> {
    const existing = this.#job();
    if (existing === undefined) return undefined;
    if (existing.key_id !== keyId || existing.fingerprint !== fingerprint) return { kind: 'conflict' };
    return { kind: 'replayed', view: this.#view(existing), webhookSecret: existing.webhook_secret };
  }

  async create(spec: JobSpec): Promise<CreateOutcome> {
    const replayed = await this.replay(spec.keyId, spec.fingerprint);
    if (replayed !== undefined) return replayed;
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.#sql.exec(
        `INSERT INTO job (id, key_id, fingerprint, origin, model_name, model_version, direction, webhook_url, webhook_every, webhook_secret,
           quota_month, created_at, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        spec.keyId, spec.fingerprint, spec.origin, spec.model.name, spec.model.version, spec.direction,
        spec.webhook?.url ?? null, spec.webhook?.every ?? null, spec.webhook?.secret ?? null, spec.quotaMonth, now, now,
      );
      spec.items.forEach((item, index) => {
        this.#sql.exec(
          `INSERT INTO items (idx, name, params, status) VALUES (?, ?, ?, 'awaiting_upload')`,
          index, item.name, JSON.stringify(item.params),
        );
      });
    });
    return { kind: 'created', view: this.#view(this.#job()!), webhookSecret: spec.webhook?.secret ?? null };
  }

  /**
   * Sends the items' messages. The rows are already `queued` (so a fast consumer finds them so);
   * if the send fails they go back to `revertTo` and the caller's request fails, to be retried.
   */
  async #enqueue(indices: readonly number[], revertTo: ItemStatus): Promise<void> {
    const queue = this.env.BATCH_QUEUE;
    if (indices.length === 0) return;
    const job = this.#job()!;
    try {
      if (queue === undefined) throw new Error('binding BATCH_QUEUE is missing (see edge/wrangler.toml)');
      // Queues takes at most 100 messages per sendBatch.
      for (let start = 0; start < indices.length; start += 100) {
        const messages = indices.slice(start, start + 100).map((index) => ({ body: this.#message(job, index) }));
        await queue.sendBatch(messages);
      }
    } catch (error) {
      for (const index of indices) this.#sql.exec(`UPDATE items SET status = ? WHERE idx = ? AND status = 'queued'`, revertTo, index);
      throw error;
    }
  }

  #message(job: JobRow, index: number): BatchItemMessage {
    const item = this.#item(index)!;
    return { job: this.#id, index, key_id: job.key_id, input_key: uploadKey(this.#id, index), params: JSON.parse(item.params) as BatchItemMessage['params'] };
  }

  async view(keyId: string): Promise<BatchJobView | undefined> {
    const job = this.#owned(keyId);
    return job === undefined ? undefined : this.#view(job);
  }

  async uploadState(index: number): Promise<{ state: UploadState; keyId: string | null }> {
    const job = this.#job();
    const item = this.#item(index);
    if (job === undefined || item === undefined) return { state: 'unknown', keyId: job?.key_id ?? null };
    const state: UploadState = item.status === 'awaiting_upload' ? 'awaiting_upload' : item.status === 'cancelled' ? 'cancelled' : 'uploaded';
    return { state, keyId: job.key_id };
  }

  /** The items' images are in R2: queue them. Returns those newly queued (not uploaded before, not cancelled). */
  async markUploaded(indices: readonly number[]): Promise<number[]> {
    const queued = indices.filter((index) => this.#item(index)?.status === 'awaiting_upload');
    for (const index of queued) this.#sql.exec(`UPDATE items SET status = 'queued' WHERE idx = ?`, index);
    if (queued.length === 0) return [];
    this.#touch();
    await this.#enqueue(queued, 'awaiting_upload');
    this.#watchForStall();
    return queued;
  }

  async claim(indices: readonly number[], cap: number, leaseMs: number): Promise<ClaimOutcome> {
    const now = Date.now();
    const granted: number[] = [];
    const later: number[] = [];
    const skip: number[] = [];
    this.#sql.exec('UPDATE job SET seen_at = ? WHERE id = 1', now);
    let running = this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM items WHERE status = 'running' AND lease_until > ?`, now).one().n;
    for (const index of indices) {
      const item = this.#item(index);
      const available = item !== undefined && (item.status === 'queued' || (item.status === 'running' && item.lease_until <= now));
      if (!available) {
        (item?.status === 'running' ? later : skip).push(index);
        continue;
      }
      if (running >= cap) {
        later.push(index);
        continue;
      }
      running += 1; // an expired lease was not counted above, and is live again now
      this.#sql.exec(`UPDATE items SET status = 'running', attempts = attempts + 1, lease_until = ? WHERE idx = ?`, now + leaseMs, index);
      granted.push(index);
    }
    if (granted.length > 0) this.#touch();
    return { granted, later, skip };
  }

  /** Records a wave's outcomes in one call (the consumer's, once per wave of claimed items). */
  async settle(settlements: readonly Settlement[]): Promise<void> {
    for (const settlement of settlements) {
      if (settlement.kind === 'done') this.#finish(settlement.index, 'done', { address: settlement.address });
      else if (settlement.kind === 'failed') this.#finish(settlement.index, 'failed', { error: settlement.error });
      else this.#release(settlement.index, settlement.error);
    }
  }

  /**
   * A transient failure: queued again (the consumer retries the message), the error kept as the
   * latest reason. In a job cancelled meanwhile the item is cancelled instead: nothing will want it.
   */
  #release(index: number, error: ItemError): void {
    const job = this.#job()!;
    const cancelled = job.cancelled_at !== null;
    const changed = this.#sql.exec(
      `UPDATE items SET status = ?, lease_until = 0, error_code = ?, error_message = ? WHERE idx = ? AND status = 'running'`,
      cancelled ? 'cancelled' : 'queued', error.code, error.message, index,
    ).rowsWritten;
    this.#touch();
    // Only an item this call moved is refunded and counted (a late release of a finished one is not).
    if (!cancelled || changed === 0) return;
    this.ctx.waitUntil(this.#refund(job, 1));
    this.#afterItemFinished();
  }

  /** The dead-letter queue's verdict: failed, with the refusal or the last recorded reason. */
  async deadLetter(index: number, error: ItemError | undefined): Promise<void> {
    const item = this.#item(index);
    if (item === undefined || FINISHED_ITEM_STATUSES.has(item.status)) return;
    const last = item.error_code === null ? undefined : { code: item.error_code, message: item.error_message ?? '' };
    const reason = error ?? last ?? { code: 'internal', message: 'gave up after repeated failures' };
    this.#finish(index, 'failed', { error: { code: reason.code, message: `${reason.message} (gave up after ${item.attempts} attempts)` } });
  }

  #finish(index: number, status: 'done' | 'failed', outcome: { address?: string; error?: ItemError }): void {
    const item = this.#item(index);
    if (item === undefined || FINISHED_ITEM_STATUSES.has(item.status)) return;
    this.#sql.exec(
      'UPDATE items SET status = ?, address = ?, error_code = ?, error_message = ?, lease_until = 0 WHERE idx = ?',
      status, outcome.address ?? null, outcome.error?.code ?? null, outcome.error?.message ?? null, index,
    );
    this.#touch();
    this.#afterItemFinished(true);
  }

  async cancel(keyId: string): Promise<BatchJobView | undefined> {
    const job = this.#owned(keyId);
    if (job === undefined) return undefined;
    if (job.cancelled_at === null && job.finished_at === null) {
      const cancelled = this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM items WHERE status IN ('awaiting_upload', 'queued')`).one().n;
      this.#sql.exec(`UPDATE items SET status = 'cancelled' WHERE status IN ('awaiting_upload', 'queued')`);
      this.#sql.exec('UPDATE job SET cancelled_at = ? WHERE id = 1', Date.now());
      this.#touch();
      await this.#refund(job, cancelled);
      this.#afterItemFinished();
    }
    return this.#view(this.#job()!);
  }

  async results(keyId: string, after: number, limit: number, status: ItemStatus | undefined): Promise<{ items: BatchResultItem[]; last: number | null } | undefined> {
    const job = this.#owned(keyId);
    if (job === undefined) return undefined;
    // One row past the page tells whether another page follows, so the last page says so itself.
    const fetched =
      status === undefined
        ? this.#sql.exec<ItemRow>('SELECT * FROM items WHERE idx > ? ORDER BY idx LIMIT ?', after, limit + 1).toArray()
        : this.#sql.exec<ItemRow>('SELECT * FROM items WHERE status = ? AND idx > ? ORDER BY idx LIMIT ?', status, after, limit + 1).toArray();
    const rows = fetched.slice(0, limit);
    const items = rows.map((row): BatchResultItem => {
      const params = JSON.parse(row.params) as TranslateParams;
      return {
        index: row.idx,
        name: row.name,
        status: row.status,
        attempts: row.attempts,
        seed: params.seed === undefined ? null : String(params.seed),
        address: row.address,
        result_url: row.address === null ? null : `${job.origin}/v1/results/${row.address}`,
        error: row.status === 'failed' && row.error_code !== null ? { code: row.error_code, message: row.error_message ?? '' } : null,
      };
    });
    return { items, last: fetched.length > limit ? rows.at(-1)!.idx : null };
  }

  async awaitingUpload(keyId: string, after: number, limit: number): Promise<number[] | undefined> {
    if (this.#owned(keyId) === undefined) return undefined;
    // One past the page, as in results(): the caller sees more follow when it gets limit + 1.
    return this.#sql
      .exec<{ idx: number }>(`SELECT idx FROM items WHERE status = 'awaiting_upload' AND idx > ? ORDER BY idx LIMIT ?`, after, limit + 1)
      .toArray()
      .map((row) => row.idx);
  }

  #touch(): void {
    this.#sql.exec('UPDATE job SET updated_at = ? WHERE id = 1', Date.now());
  }

  /**
   * Progress and completion: the job's end, and webhooks for both. `counted` when an item just
   * became done or failed (progress events count those), not for cancellations.
   */
  #afterItemFinished(counted = false): void {
    const job = this.#job()!;
    if (job.finished_at !== null) return;
    const counts = this.#counts();
    const finished = counts.done + counts.failed + counts.cancelled;
    const now = Date.now();
    if (finished === counts.total) {
      this.#sql.exec('UPDATE job SET finished_at = ? WHERE id = 1', now);
      // Inputs are no longer needed once every item is finished; results stay (content-addressed, shared).
      this.ctx.waitUntil(this.#deleteInputs(counts.total));
      // Failed items produced nothing: they are given back to the quota (cancelled ones were at cancel).
      this.ctx.waitUntil(this.#refund(job, counts.failed));
      this.#schedule('batch.completed');
    } else if (counted && job.webhook_every !== null && (counts.done + counts.failed) % job.webhook_every === 0) {
      this.#schedule('batch.progress');
    }
  }

  async #deleteInputs(total: number): Promise<void> {
    const bucket = this.env.RESULTS;
    if (bucket === undefined) return;
    for (let start = 0; start < total; start += 1000) {
      const keys = Array.from({ length: Math.min(1000, total - start) }, (_, offset) => uploadKey(this.#id, start + offset));
      await bucket.delete(keys).catch(() => {
        // A bucket lifecycle rule removes what is left (infra/edge/provision.sh).
      });
    }
  }

  async #refund(job: JobRow, count: number): Promise<void> {
    const quotas = this.env.KEY_QUOTAS;
    if (job.quota_month === null || count === 0 || quotas === undefined) return;
    await quotas.get(quotas.idFromName(job.key_id) as never).refund(job.quota_month, count).catch(() => {});
  }

  #schedule(type: BatchWebhookEvent['type']): void {
    const job = this.#job()!;
    if (job.webhook_url === null) return;
    const now = Date.now();
    const event: BatchWebhookEvent = { id: `evt_${crypto.randomUUID()}`, type, created_at: new Date(now).toISOString(), data: this.#view(job) };
    this.#sql.exec('INSERT INTO deliveries (event_id, body, next_at) VALUES (?, ?, ?)', event.id, JSON.stringify(event), now);
    this.ctx.waitUntil(this.ctx.storage.setAlarm(now));
  }

  /**
   * The alarm does two jobs: webhook deliveries that are due, and the stall check (a job with
   * queued items and no change for STALL_RESEND_MS has its queued items' messages sent again).
   */
  override async alarm(): Promise<void> {
    const nextDelivery = await this.#deliverDueWebhooks();
    const nextCheck = await this.#resendIfStalled(Date.now());
    const next = Math.min(nextDelivery ?? Infinity, nextCheck ?? Infinity);
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(next);
  }

  /** Sends due deliveries in order (a failed one waits for its backoff, later ones behind it); the next due time. */
  async #deliverDueWebhooks(): Promise<number | undefined> {
    const job = this.#job();
    if (job === undefined || job.webhook_url === null || job.webhook_secret === null) return undefined;
    for (;;) {
      const next = this.#sql
        .exec<{ id: number; body: string; attempts: number; next_at: number }>(
          'SELECT id, body, attempts, next_at FROM deliveries WHERE delivered_at IS NULL AND given_up_at IS NULL ORDER BY id LIMIT 1',
        )
        .toArray()[0];
      if (next === undefined) return undefined;
      if (next.next_at > Date.now()) return next.next_at;
      const outcome = await deliverWebhook(job.webhook_url, job.webhook_secret, next.body);
      if (outcome.ok) {
        this.#sql.exec('UPDATE deliveries SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?', Date.now(), next.id);
        continue;
      }
      const attempts = next.attempts + 1;
      const delay = WEBHOOK_BACKOFF_SECONDS[attempts - 1];
      if (delay === undefined) {
        this.#sql.exec('UPDATE deliveries SET attempts = ?, given_up_at = ?, last_error = ? WHERE id = ?', attempts, Date.now(), outcome.error, next.id);
        continue;
      }
      this.#sql.exec('UPDATE deliveries SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?', attempts, Date.now() + delay * 1000, outcome.error, next.id);
    }
  }

  /**
   * Queued items whose messages were lost (the object reset between marking them queued and the
   * send returning, say) would wait for ever: when a job with queued items has neither changed nor
   * been asked for a claim for STALL_RESEND_MS, their messages are sent again. A duplicate of a message still in the queue
   * is harmless: whichever comes second finds the item claimed or finished. Answers when to look
   * again (undefined once nothing is queued).
   */
  async #resendIfStalled(now: number): Promise<number | undefined> {
    const job = this.#job();
    if (job === undefined || job.finished_at !== null) return undefined;
    const queued = this.#sql.exec<{ idx: number }>(`SELECT idx FROM items WHERE status = 'queued' ORDER BY idx`).toArray().map((row) => row.idx);
    if (queued.length === 0) return undefined;
    // Any claim (even one turned away for the caps) shows the items' messages are alive.
    const lastSign = Math.max(job.updated_at, job.seen_at);
    if (now - lastSign < STALL_RESEND_MS) return lastSign + STALL_RESEND_MS;
    const queue = this.env.BATCH_QUEUE;
    if (queue === undefined) return now + STALL_RESEND_MS;
    for (let start = 0; start < queued.length; start += 100) {
      await queue.sendBatch(queued.slice(start, start + 100).map((index) => ({ body: this.#message(job, index) })));
    }
    console.warn(JSON.stringify({ level: 'warn', msg: 'batch job stalled: queued items sent again', job: this.#id, items: queued.length }));
    this.#touch();
    return now + STALL_RESEND_MS;
  }

  /** The stall check's alarm, unless an earlier alarm is set already. */
  #watchForStall(): void {
    const at = Date.now() + STALL_RESEND_MS;
    this.ctx.waitUntil(
      (async () => {
        const current = await this.ctx.storage.getAlarm();
        if (current === null || current > at) await this.ctx.storage.setAlarm(at);
      })(),
    );
  }

}
