/**
 * The batch API end to end under `wrangler dev` — workerd with its real local Queues (producer,
 * consumer, dead-letter queue), R2 and Durable Objects — against two real function processes and
 * a real webhook receiver, all over loopback:
 *
 * - 500 items, one function replica SIGKILLed midway: every item done, nothing lost, each content
 *   address computed once (repeats reused) beyond the in-flight work the kill interrupted; results
 *   paged and streamed as a ZIP; signed progress and completion webhooks that verify, and one
 *   refused by its receiver delivered again after the backoff;
 * - a job never has more items running than its cap, nor a key's jobs together more than the key's;
 * - a retried create with the same Idempotency-Key returns the same job, a different body is 422;
 *   items are charged to the key's monthly quota at create, all or none, and cancelled ones refunded;
 * - cancel: items not started are cancelled, their uploads refused, the job ends `cancelled`;
 * - a poison item (a truncated PNG) fails through the dead-letter queue while the rest completes;
 * - with every replica gone, items are retried with backoff and then dead-lettered as failed with
 *   their last reason (this one runs last: it kills the remaining function).
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { unzipSync } from 'fflate';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchCreated, BatchJobView, BatchResultItem, BatchResultsPage, BatchWebhookEvent } from '../contract/batch-api.ts';
import { SIGNATURE_HEADER, verifyWebhook } from '../contract/webhook-signature.ts';
import { createKey } from '../edge/cli/keys.ts';
import { EMBEDDED_MODEL_DIR } from '../functions/config.ts';
import { freePort, startFunction, type FunctionProcess } from './support/function-process.ts';
import { startWranglerDev, type WranglerDev } from './support/wrangler-dev.ts';

const ROOT = resolve(import.meta.dirname, '..');
const WEBHOOK_SECRET = 'test-webhook-secret-0123456789';
// Caps below edge/wrangler.toml's (8 and 16), so that two jobs of one key can meet the key's cap.
const JOB_CONCURRENCY = 6;
const KEY_CONCURRENCY = 8;

let functions: FunctionProcess[] = [];
let edge: WranglerDev | undefined;
let persistTo = '';
let token = '';
let otherToken = '';
let circle: Uint8Array;
let square: Uint8Array;
let receiver: Server | undefined;
let webhookUrl = '';
const deliveries: { body: Buffer; signature: string | undefined; receivedAt: number }[] = [];
const refusedOnce = new Set<string>();

/** Successful translations a function has computed, from its /metrics. */
async function computedBy(fn: FunctionProcess): Promise<number> {
  const text = await (await fetch(`${fn.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => /^nv_inference_request_success[{ ]/.test(line))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

const auth = (key = token) => ({ authorization: `Bearer ${key}` });

async function createJob(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${edge!.url}/v1/batches`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

async function jobView(id: string): Promise<BatchJobView> {
  const response = await fetch(`${edge!.url}/v1/batches/${id}`, { headers: auth() });
  expect(response.status).toBe(200);
  return (await response.json()) as BatchJobView;
}

/** The most items seen running at once, per job, over every poll. */
const maxRunning = new Map<string, number>();

async function waitForJob(id: string, until: (view: BatchJobView) => boolean, timeoutMs: number): Promise<BatchJobView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await jobView(id);
    maxRunning.set(id, Math.max(maxRunning.get(id) ?? 0, view.counts.running));
    if (until(view)) return view;
    if (Date.now() > deadline) throw new Error(`job ${id} did not get there in ${timeoutMs} ms: ${JSON.stringify(view.counts)}\n${edge!.output().slice(-3000)}`);
    await new Promise((wake) => setTimeout(wake, 250));
  }
}

async function allResults(id: string, limit: number): Promise<{ items: BatchResultItem[]; pages: number }> {
  const items: BatchResultItem[] = [];
  let pages = 0;
  for (let cursor: string | null = null; ; ) {
    const query: string = cursor === null ? `limit=${limit}` : `limit=${limit}&cursor=${cursor}`;
    const response: Response = await fetch(`${edge!.url}/v1/batches/${id}/results?${query}`, { headers: auth() });
    expect(response.status).toBe(200);
    const page = (await response.json()) as BatchResultsPage;
    items.push(...page.items);
    pages += 1;
    if (page.next_cursor === null) return { items, pages };
    cursor = page.next_cursor;
  }
}

/** PUTs every upload, `concurrency` at a time; answers the statuses in upload order. */
async function uploadAll(uploads: BatchCreated['uploads'], imageFor: (index: number) => Uint8Array, concurrency = 16): Promise<number[]> {
  const statuses: number[] = new Array(uploads.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < uploads.length) {
        const i = next++;
        const target = uploads[i]!;
        const response = await fetch(target.upload_url, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: imageFor(target.index) });
        await response.arrayBuffer();
        statuses[i] = response.status;
      }
    }),
  );
  return statuses;
}

beforeAll(async () => {
  circle = new Uint8Array(await readFile(join(ROOT, 'samples/circle.png')));
  square = new Uint8Array(await readFile(join(ROOT, 'samples/square.png')));
  persistTo = await mkdtemp(join(tmpdir(), 'batch-jobs-'));
  functions = await Promise.all([0, 1].map(() => startFunction({ MODEL_SOURCE: EMBEDDED_MODEL_DIR, INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1' })));
  await Promise.all(functions.map((fn) => fn.waitUntilReady()));

  const port = await freePort();
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      deliveries.push({ body: Buffer.concat(chunks), signature: request.headers[SIGNATURE_HEADER.toLowerCase()] as string | undefined, receivedAt: Date.now() });
      // /hooks/flaky refuses each event's first delivery, so the retry with backoff is seen.
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string };
      const firstTime = !refusedOnce.has(event.id);
      if (request.url === '/hooks/flaky' && firstTime) refusedOnce.add(event.id);
      response.writeHead(request.url === '/hooks/flaky' && firstTime ? 503 : 204).end();
    });
  });
  await new Promise<void>((listening) => receiver!.listen(port, '127.0.0.1', listening));
  webhookUrl = `http://127.0.0.1:${port}/hooks/batch`;

  edge = await startWranglerDev({
    persistTo,
    vars: { FUNCTION_POOL: functions.map((fn) => fn.url).join(','), BATCH_JOB_CONCURRENCY: String(JOB_CONCURRENCY), BATCH_KEY_CONCURRENCY: String(KEY_CONCURRENCY) },
  });
  const store = { remote: false, env: undefined, persistTo };
  token = (await createKey(store, { kind: 'secret', name: 'batch', origins: [] })).token;
  otherToken = (await createKey(store, { kind: 'secret', name: 'someone else', origins: [] })).token;
}, 180_000);

afterAll(async () => {
  await edge?.stop();
  await Promise.all(functions.map((fn) => fn.stop('SIGKILL')));
  await new Promise((closed) => (receiver === undefined ? closed(undefined) : receiver.close(closed)));
  if (persistTo !== '') await rm(persistTo, { recursive: true, force: true });
});

describe('a 500-item batch with a replica killed midway', () => {
  const ITEMS = 500;
  const UNIQUE = 480; // items 480..499 repeat items 0..19 exactly: their results must be reused
  let created: BatchCreated;
  let finished: BatchJobView;
  let computedBefore = 0;
  let killedAt = 0;
  let survivorBefore = 0;

  beforeAll(async () => {
    computedBefore = (await Promise.all(functions.map(computedBy))).reduce((a, b) => a + b, 0);
    survivorBefore = await computedBy(functions[0]!);
    const items = Array.from({ length: ITEMS }, (_, index) => {
      const source = index % UNIQUE;
      return { name: `item-${index}.png`, params: { seed: 1000 + source, direction: source % 2 === 0 ? 'a2b' : 'b2a' } };
    });
    const response = await createJob({ params: { format: 'png' }, items, webhook: { url: webhookUrl, every: 100, secret: WEBHOOK_SECRET } });
    expect(response.status).toBe(201);
    created = (await response.json()) as BatchCreated;
    expect(created.uploads).toHaveLength(ITEMS);

    const imageFor = (index: number) => ((index % UNIQUE) % 2 === 0 ? circle : square);
    const uploading = uploadAll(created.uploads, imageFor);
    // Kill a replica once work is well under way (a SIGKILL: no drain, in-flight requests lost).
    await waitForJob(created.id, (view) => view.counts.done >= 100, 180_000);
    killedAt = await computedBy(functions[1]!);
    await functions[1]!.stop('SIGKILL');
    expect(new Set(await uploading)).toEqual(new Set([201]));
    finished = await waitForJob(created.id, (view) => view.status === 'completed', 300_000);
  }, 420_000);

  it('finishes every item: nothing lost', () => {
    expect(finished.counts).toMatchObject({ total: ITEMS, done: ITEMS, failed: 0, cancelled: 0, queued: 0, running: 0, awaiting_upload: 0 });
    expect(finished.finished_at).not.toBeNull();
  });

  it('never has more of the job running than its cap', () => {
    expect(maxRunning.get(created.id)).toBeGreaterThan(0);
    expect(maxRunning.get(created.id)).toBeLessThanOrEqual(JOB_CONCURRENCY);
  });

  it('computes each content address once, beyond the work the killed replica had in flight', async () => {
    const survivor = (await computedBy(functions[0]!)) - survivorBefore;
    const computed = survivor + killedAt - (computedBefore - survivorBefore);
    // Every unique address computed at least once, the repeats never; a retried item whose first
    // attempt died with the replica may be computed a second time (at most one job's slots).
    // (The killed replica's count is read just before the kill: what it finished in between is missing.)
    expect(computed).toBeGreaterThanOrEqual(UNIQUE - JOB_CONCURRENCY);
    expect(computed).toBeLessThanOrEqual(UNIQUE + 2 * JOB_CONCURRENCY);
    const { items } = await allResults(created.id, 1000);
    expect(new Set(items.map((item) => item.address)).size).toBe(UNIQUE);
    for (let index = UNIQUE; index < ITEMS; index += 1) expect(items[index]!.address).toBe(items[index - UNIQUE]!.address);
  });

  it('pages results with a cursor, each with a result URL that serves the image', async () => {
    const { items, pages } = await allResults(created.id, 100);
    expect(pages).toBe(5);
    expect(items.map((item) => item.index)).toEqual(Array.from({ length: ITEMS }, (_, i) => i));
    expect(items.every((item) => item.status === 'done' && item.result_url !== null && item.error === null)).toBe(true);
    const result = await fetch(items[7]!.result_url!);
    expect(result.status).toBe(200);
    const { width, height } = await sharp(Buffer.from(await result.arrayBuffer())).metadata();
    expect(width).toBeGreaterThan(0);
    expect(height).toBe(width);
  });

  it('streams every result as one ZIP', async () => {
    const response = await fetch(created.zip_url, { headers: auth() });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/zip');
    const entries = unzipSync(new Uint8Array(await response.arrayBuffer()));
    const names = Object.keys(entries).sort();
    expect(names).toHaveLength(ITEMS);
    expect(names[0]).toBe('00000-item-0.png');
    expect(Object.values(entries).every((bytes) => bytes[0] === 0x89 && bytes[1] === 0x50)).toBe(true);
  });

  it('sends signed progress webhooks every 100 items and one on completion', async () => {
    const deadline = Date.now() + 30_000;
    const mine = () => deliveries.map((d) => ({ ...d, event: JSON.parse(d.body.toString('utf8')) as BatchWebhookEvent })).filter((d) => d.event.data.id === created.id);
    while (!mine().some((d) => d.event.type === 'batch.completed') && Date.now() < deadline) await new Promise((wake) => setTimeout(wake, 200));
    const received = mine();
    for (const delivery of received) {
      const verdict = await verifyWebhook(WEBHOOK_SECRET, delivery.body, delivery.signature ?? '', Math.floor(delivery.receivedAt / 1000));
      expect(verdict.valid).toBe(true);
    }
    // A wrong secret or a changed body does not verify.
    const first = received[0]!;
    expect((await verifyWebhook('another-secret-0123456789', first.body, first.signature!, Math.floor(first.receivedAt / 1000))).valid).toBe(false);
    const tampered = Buffer.from(first.body.toString('utf8').replace('"batch.', '"batch.x'));
    expect((await verifyWebhook(WEBHOOK_SECRET, tampered, first.signature!, Math.floor(first.receivedAt / 1000))).valid).toBe(false);

    const progress = received.filter((d) => d.event.type === 'batch.progress').map((d) => d.event.data.counts.done + d.event.data.counts.failed);
    expect(progress).toEqual([100, 200, 300, 400]);
    const completed = received.filter((d) => d.event.type === 'batch.completed');
    expect(completed).toHaveLength(1);
    expect(completed[0]!.event.data).toMatchObject({ status: 'completed', counts: { done: ITEMS } });
  });

  it('shows a job to its own key only, and refuses a tampered upload URL', async () => {
    expect((await fetch(created.status_url, { headers: auth(otherToken) })).status).toBe(404);
    const url = new URL(created.uploads[0]!.upload_url);
    url.searchParams.set('signature', '0'.repeat(64));
    const refused = await fetch(url, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: circle });
    expect(refused.status).toBe(403);
    const again = await fetch(created.uploads[0]!.upload_url, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: circle });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('already_uploaded');
  });
});

describe('creating', () => {
  it('returns the same job for a retried create with the same Idempotency-Key, and 422 for a different body', async () => {
    const body = { params: { direction: 'a2b' }, items: [{ name: 'one.png' }, { name: 'two.png' }] };
    const first = await createJob(body, { 'idempotency-key': 'order-4711' });
    expect(first.status).toBe(201);
    const job = (await first.json()) as BatchCreated;
    const retried = await createJob(body, { 'idempotency-key': 'order-4711' });
    expect(retried.status).toBe(200);
    const again = (await retried.json()) as BatchCreated;
    expect(again.id).toBe(job.id);
    expect(again.uploads.map((upload) => upload.index)).toEqual([0, 1]);
    // Another key using the same Idempotency-Key gets a job of its own.
    const other = await fetch(`${edge!.url}/v1/batches`, { method: 'POST', headers: { ...auth(otherToken), 'content-type': 'application/json', 'idempotency-key': 'order-4711' }, body: JSON.stringify(body) });
    expect(other.status).toBe(201);
    expect(((await other.json()) as BatchCreated).id).not.toBe(job.id);

    const conflicting = await createJob({ ...body, items: [{ name: 'three.png' }] }, { 'idempotency-key': 'order-4711' });
    expect(conflicting.status).toBe(422);
    expect(((await conflicting.json()) as { error: { code: string } }).error.code).toBe('idempotency_conflict');
  });

  it('charges items to the monthly quota at create, all or none, and gives cancelled ones back', async () => {
    const store = { remote: false, env: undefined, persistTo };
    const limited = (await createKey(store, { kind: 'secret', name: 'quota 10', origins: [], monthlyQuota: 10 })).token;
    const create = (count: number, headers: Record<string, string> = {}) =>
      fetch(`${edge!.url}/v1/batches`, {
        method: 'POST',
        headers: { ...auth(limited), 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ items: Array.from({ length: count }, () => ({})) }),
      });
    const tooMany = await create(11);
    expect(tooMany.status).toBe(429);
    expect(((await tooMany.json()) as { error: { code: string; message: string } }).error.message).toContain('fewer than the 11 items');
    expect(tooMany.headers.get('retry-after')).toMatch(/^\d+$/);
    const six = await create(6, { 'idempotency-key': 'six' });
    expect(six.status).toBe(201);
    const four = await create(4);
    expect(four.status).toBe(201);
    expect((await create(1)).status).toBe(429); // 6 + 4 used: the quota is spent
    const cancelled = await fetch(((await four.json()) as BatchCreated).status_url, { method: 'DELETE', headers: auth(limited) });
    expect(cancelled.status).toBe(200);
    expect((await create(4)).status).toBe(201); // the 4 cancelled items were given back
    expect((await create(1)).status).toBe(429);
    // A retried create is not charged again: it gets its job even with the quota spent.
    const replayed = await create(6, { 'idempotency-key': 'six' });
    expect(replayed.status).toBe(200);
    expect(((await replayed.json()) as BatchCreated).id).toBe(((await six.json()) as BatchCreated).id);
  });

  it('refuses malformed creates with stable codes, naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ items: [] }, 'items'],
      [{ items: Array.from({ length: 10_001 }, () => ({})) }, 'items'],
      [{ items: [{ params: { n: 99 } }] }, 'items[0].params: n'],
      [{ params: { direction: 'sideways' }, items: [{}] }, 'direction'],
      [{ items: [{}], webhook: { url: 'ftp://example.com' } }, 'webhook.url'],
      [{ items: [{}], colour: 'red' }, 'colour'],
    ];
    for (const [body, field] of cases) {
      const response = await createJob(body);
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      const error = ((await response.json()) as { error: { code: string; message: string } }).error;
      expect(['invalid_parameters', 'unknown_direction']).toContain(error.code);
      expect(error.message).toContain(field);
    }
    const noKey = await fetch(`${edge!.url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"items":[{}]}' });
    expect(noKey.status).toBe(401);
    // A publishable key (a web page's) may not create batches, even from its own origin.
    const store = { remote: false, env: undefined, persistTo };
    const publishable = (await createKey(store, { kind: 'publishable', name: 'page', origins: ['http://localhost:5173'] })).token;
    const fromPage = await fetch(`${edge!.url}/v1/batches`, {
      method: 'POST',
      headers: { authorization: `Bearer ${publishable}`, origin: 'http://localhost:5173', 'content-type': 'application/json' },
      body: '{"items":[{}]}',
    });
    expect(fromPage.status).toBe(403);
    expect(((await fromPage.json()) as { error: { message: string } }).error.message).toContain('secret key');
  });
});

describe('fairness', () => {
  it('caps the items of one key running at once across its jobs', async () => {
    const jobs = await Promise.all(
      [0, 1].map(async (j) => {
        const response = await createJob({ params: { direction: 'a2b' }, items: Array.from({ length: 40 }, (_, i) => ({ params: { seed: 70_000 + 100 * j + i } })) });
        return (await response.json()) as BatchCreated;
      }),
    );
    await Promise.all(jobs.map((job) => uploadAll(job.uploads, () => circle, 8)));
    let most = 0;
    for (;;) {
      const views = await Promise.all(jobs.map((job) => jobView(job.id)));
      most = Math.max(most, views.reduce((sum, view) => sum + view.counts.running, 0));
      for (const view of views) expect(view.counts.running).toBeLessThanOrEqual(JOB_CONCURRENCY);
      if (views.every((view) => view.status === 'completed')) break;
      await new Promise((wake) => setTimeout(wake, 100));
    }
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(KEY_CONCURRENCY);
  }, 120_000);
});

describe('cancelling', () => {
  it('cancels items not started, refuses their uploads, and ends the job cancelled', async () => {
    const response = await createJob({ params: { direction: 'a2b' }, items: Array.from({ length: 20 }, (_, i) => ({ name: `c${i}.png`, params: { seed: 50_000 + i } })) });
    const job = (await response.json()) as BatchCreated;
    expect(await uploadAll(job.uploads.slice(0, 3), () => circle)).toEqual([201, 201, 201]);
    const cancel = await fetch(job.status_url, { method: 'DELETE', headers: auth() });
    expect(cancel.status).toBe(200);
    const afterCancel = (await cancel.json()) as BatchJobView;
    expect(afterCancel.counts.cancelled).toBeGreaterThanOrEqual(17);
    const late = await fetch(job.uploads[10]!.upload_url, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: circle });
    expect(late.status).toBe(409);
    expect(((await late.json()) as { error: { code: string } }).error.code).toBe('item_cancelled');
    const ended = await waitForJob(job.id, (view) => view.status === 'cancelled', 60_000);
    expect(ended.counts.done + ended.counts.cancelled).toBe(20);
    expect(ended.counts.queued + ended.counts.running + ended.counts.awaiting_upload).toBe(0);
  });
});

describe('a poison item', () => {
  it('reaches the dead-letter queue and is recorded as failed with its reason while the rest completes', async () => {
    const truncated = circle.slice(0, 300); // PNG magic, so it is accepted, but it cannot be decoded
    const form = new FormData();
    const flakyUrl = webhookUrl.replace('/hooks/batch', '/hooks/flaky');
    form.set('batch', JSON.stringify({ params: { direction: 'b2a', seed: 77 }, webhook: { url: flakyUrl } }));
    form.append('images', new Blob([circle], { type: 'image/png' }), 'good-1.png');
    form.append('images', new Blob([truncated], { type: 'image/png' }), 'poison.png');
    form.append('images', new Blob([square], { type: 'image/png' }), 'good-2.png');
    const response = await fetch(`${edge!.url}/v1/batches`, { method: 'POST', headers: auth(), body: form });
    expect(response.status).toBe(201);
    const job = (await response.json()) as BatchCreated;
    expect(job.uploads).toEqual([]);
    const ended = await waitForJob(job.id, (view) => view.status === 'completed', 60_000);
    expect(ended.counts).toMatchObject({ done: 2, failed: 1 });
    const { items } = await allResults(job.id, 10);
    expect(items.map((item) => item.status)).toEqual(['done', 'failed', 'done']);
    expect(items[1]).toMatchObject({ name: 'poison.png', error: { code: 'invalid_image' } });
    expect(items[1]!.error!.message).toMatch(/decode/);
    const deadLettered = async () => edge!.output().includes('batch item dead-lettered') && edge!.output().includes('"refusal":"invalid_image"');
    const until = Date.now() + 20_000;
    while (!(await deadLettered()) && Date.now() < until) await new Promise((wake) => setTimeout(wake, 200));
    expect(await deadLettered()).toBe(true);

    // The completion webhook: refused once by the receiver, delivered again after the backoff.
    const ours = () => deliveries.filter((d) => (JSON.parse(d.body.toString('utf8')) as BatchWebhookEvent).data.id === job.id);
    const by = Date.now() + 20_000;
    while (ours().length < 2 && Date.now() < by) await new Promise((wake) => setTimeout(wake, 100));
    const [refused, retried] = ours();
    expect(retried).toBeDefined();
    expect(retried!.body.equals(refused!.body)).toBe(true); // the same event, signed again
    expect(retried!.receivedAt - refused!.receivedAt).toBeGreaterThanOrEqual(900);
    expect((await verifyWebhook(job.webhook_secret!, retried!.body, retried!.signature ?? null, Math.floor(retried!.receivedAt / 1000))).valid).toBe(true);
    expect((JSON.parse(retried!.body.toString('utf8')) as BatchWebhookEvent).data).toMatchObject({ status: 'completed', counts: { done: 2, failed: 1 } });
  });
});

describe('with every replica gone', () => {
  it('retries with backoff, then dead-letters the items as failed with their last reason', async () => {
    const response = await createJob({ params: { direction: 'a2b' }, items: [{ name: 'late-1.png', params: { seed: 90_001 } }, { name: 'late-2.png', params: { seed: 90_002 } }] });
    expect(response.status).toBe(201);
    const job = (await response.json()) as BatchCreated;
    await functions[0]!.stop('SIGKILL');
    expect(await uploadAll(job.uploads, () => square)).toEqual([201, 201]);
    // max_retries = 3: four deliveries with 2, 4 and 8 s of backoff (plus the breakers' failovers).
    const ended = await waitForJob(job.id, (view) => view.status === 'completed', 120_000);
    expect(ended.counts).toMatchObject({ done: 0, failed: 2 });
    const { items } = await allResults(job.id, 10);
    for (const item of items) {
      expect(item.attempts).toBe(4);
      expect(item.error?.code).toMatch(/^(not_ready|deadline_exceeded)$/);
      expect(item.error?.message).toContain('gave up after 4 attempts');
    }
  }, 150_000);
});
