/**
 * The batch queue's consumer: one Queues message per item (contract/batch-api.ts BatchItemMessage).
 * For each message, in parallel within a delivered batch:
 *
 * 1. a slot: the delivery leases slots of the key's cap once for all its messages of that key
 *    (KeyQuota's lease, BATCH_KEY_CONCURRENCY), and each item is claimed from its job
 *    (BatchJob.claim, BATCH_JOB_CONCURRENCY), a job's items in waves of up to its cap: one claim
 *    and one settle call per wave, not per item. Both caps hold across every consumer invocation,
 *    so one customer's burst takes at most that many function slots. A slot held elsewhere is
 *    polled for briefly, and a message that still has none is sent again with a delay and
 *    acknowledged (a retry would count against max_retries, and waiting is not a failure);
 * 2. the content address, as the synchronous API computes it: a result already in R2 is reused,
 *    never computed again (items sharing an address in one delivery share one computation);
 * 3. otherwise the function pool, through the synchronous path's forwarding (failover, breakers,
 *    the functions' 429 and Retry-After), marked `X-Request-Priority: batch` so each function
 *    serves synchronous requests first and refuses batch work (429) before its queue fills; the
 *    result goes to R2 under its address.
 *
 * Outcomes: done → the job records the address. Every replica full (429 queue_full), or the item
 * shed for its deadline behind interactive work (deadline_exceeded) → the item goes back to
 * `queued` and the message is sent again after the Retry-After, without using up a retry (a busy
 * pool is not a failing item). A refusal no retry can change (the
 * function's 4xx for this image) → the item fails at once with the function's reason, and the message goes to the
 * dead-letter queue for the record. Anything else (no replica, a deadline, R2 trouble) → the job
 * puts the item back and the message is retried with backoff, or after Retry-After when one was
 * given; once Queues has delivered it max_retries + 1 times it goes to the dead-letter queue,
 * whose consumer (dead-letters.ts) marks the item failed with its last reason.
 */
import type { BatchItemMessage, ItemError } from '../../../contract/batch-api.ts';
import { contentAddress, type AddressedTranslation } from '../../../contract/content-address.ts';
import { ApiError, ERROR_CODES } from '../../../contract/errors.ts';
import { MODEL_NAME_HEADER, MODEL_VERSION_HEADER } from '../../../contract/headers.ts';
import { IMAGE_MEDIA_TYPES, sniffImageFormat } from '../../../contract/image-sniff.ts';
import { translateQuery } from '../../../contract/translate-params.ts';
import type { BatchJobStub, EdgeBindings, KeyQuotaStub, QueueBatch, QueueMessage } from '../bindings.ts';
import type { Settlement } from './batch-job.ts';
import { ResultStore } from '../cache/result-store.ts';
import { loadConfig, type EdgeConfig } from '../config.ts';
import { forwardToFunctions } from '../forwarding/forward.ts';
import { forwardOptions } from '../forwarding/forward-options.ts';
import { functionError } from '../forwarding/function-error.ts';
import { servedModel } from '../forwarding/model-catalog.ts';

/** How long a message waits in the consumer for a slot before it is sent again with a delay. */
const SLOT_WAIT_MS = 20_000;
const SLOT_POLL_MS = 250;
/** The delay of a message sent again for want of a slot. */
const NO_SLOT_DELAY_SECONDS = 2;
/** Retry delays without Retry-After: 2, 4, 8 … seconds, at most a minute. */
const backoffSeconds = (attempts: number): number => Math.min(60, 2 ** Math.max(1, attempts));

type Message = QueueMessage<BatchItemMessage>;

/** One JSON line per unusual outcome (the normal path logs nothing: thousands of items). */
function log(level: 'info' | 'warn' | 'error', msg: string, message: Message, fields: Record<string, unknown>): void {
  const line = JSON.stringify({ level, msg, job: message.body.job, index: message.body.index, deliveries: message.attempts, ...fields });
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Messages already acknowledged or retried: a later failure in their wave must not retry them again. */
const answered = new WeakSet<Message>();
function ack(message: Message): void {
  answered.add(message);
  message.ack();
}
function retry(message: Message, delaySeconds: number): void {
  answered.add(message);
  message.retry({ delaySeconds });
}

function jobOf(config: EdgeConfig, id: string): BatchJobStub {
  return config.batch.jobs.get(config.batch.jobs.idFromString(id) as never);
}

function quotaOf(config: EdgeConfig, keyId: string): KeyQuotaStub {
  return config.keyQuotas.get(config.keyQuotas.idFromName(keyId) as never);
}

/**
 * Slots of the key's cap for one delivery's messages of that key: one lease for all of them (not
 * one per item), polled for while the key has none free. Zero after SLOT_WAIT_MS without any.
 */
async function leaseKeySlots(config: EdgeConfig, keyId: string, wanted: number): Promise<{ granted: number; release(): Promise<void> }> {
  const quota = quotaOf(config, keyId);
  const started = Date.now();
  for (;;) {
    const lease = await quota.leaseBatchSlots(wanted, config.batch.keyConcurrency, config.batch.leaseMs);
    if (lease.granted > 0 || Date.now() - started > SLOT_WAIT_MS) {
      return { granted: lease.granted, release: () => quota.releaseBatchSlots(lease.lease, lease.granted).catch(() => {}) };
    }
    await sleep(SLOT_POLL_MS + Math.random() * SLOT_POLL_MS);
  }
}

async function sendLater(config: EdgeConfig, message: Message): Promise<void> {
  log('info', 'batch item waits for a slot', message, { delaySeconds: NO_SLOT_DELAY_SECONDS });
  await config.batch.queue.send(message.body, { delaySeconds: NO_SLOT_DELAY_SECONDS });
  ack(message);
}

type Translated = { readonly address: string };

/** Reads the item's image and gets its result: reused from R2 when its address exists, else computed. */
async function translateItem(config: EdgeConfig, body: BatchItemMessage, inFlight: Map<string, Promise<Translated>>): Promise<Translated> {
  const object = await config.results.get(body.input_key);
  if (object === null) throw new ApiError('empty_body', `the item's image is missing from storage (${body.input_key})`);
  const image = new Uint8Array(await object.arrayBuffer());
  const format = sniffImageFormat(image);
  if (format === undefined) throw new ApiError('unsupported_media_type', 'the stored image is not JPEG, PNG or WebP');

  const forwarding = forwardOptions(config, `batch-${body.job.slice(0, 16)}-${body.index}`, Date.now() + config.requestDeadlineMs);
  const model = await servedModel(forwarding);
  const addressed = (name: string, version: string): AddressedTranslation => ({ model: { name, version }, direction: body.params.direction, params: body.params, image });
  const address = await contentAddress(addressed(model.name, model.version));
  const shared = inFlight.get(address);
  if (shared !== undefined) return shared;

  const store = new ResultStore({ bucket: config.results, cache: undefined, origin: '', background: undefined });
  const work = (async (): Promise<Translated> => {
    if (await store.has(address)) return { address };
    const { response, replicaUrl } = await forwardToFunctions(
      { method: 'POST', path: `/v1/translate?${translateQuery(body.params)}`, body: () => image, contentType: IMAGE_MEDIA_TYPES[format], priority: 'batch' },
      forwarding,
    );
    if (!response.ok) throw await functionError(response, replicaUrl);
    const modelName = response.headers.get(MODEL_NAME_HEADER) ?? model.name;
    const modelVersion = response.headers.get(MODEL_VERSION_HEADER) ?? model.version;
    // A reload between the catalog read and this answer: address the result by what produced it.
    const finalAddress = modelName === model.name && modelVersion === model.version ? address : await contentAddress(addressed(modelName, modelVersion));
    await store.put(finalAddress, {
      bytes: await response.arrayBuffer(),
      contentType: response.headers.get('content-type') ?? 'application/octet-stream',
      seed: body.params.seed === undefined ? undefined : String(body.params.seed),
      modelName,
      modelVersion,
    });
    return { address: finalAddress };
  })();
  inFlight.set(address, work);
  return work;
}

/** A refusal that would be the same on every retry: the caller's input, not the service's state. */
const isRefusal = (error: unknown): error is ApiError => error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429;

/**
 * The reason the job keeps (and its owner reads): a refusal's own words (about their image), but
 * for the service's failures only the code's public description: their details name replicas and
 * internals, which go to the log instead.
 */
function itemError(error: unknown): ItemError {
  if (error instanceof ApiError && error.status < 500) return { code: error.code, message: error.message };
  const code = error instanceof ApiError ? error.code : 'internal';
  return { code, message: ERROR_CODES[code].description };
}

const detailOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** What became of one claimed item: what its job records, and what then happens to its message. */
interface Outcome {
  readonly settlement: Settlement;
  /** Acknowledge, retry or re-send the message; called once the job has recorded the settlement. */
  readonly after: () => Promise<void>;
}

async function outcomeOf(config: EdgeConfig, message: Message, inFlight: Map<string, Promise<Translated>>): Promise<Outcome> {
  const index = message.body.index;
  try {
    const { address } = await translateItem(config, message.body, inFlight);
    return { settlement: { index, kind: 'done', address }, after: async () => ack(message) };
  } catch (error) {
    const reason = itemError(error);
    if (error instanceof ApiError && (error.code === 'queue_full' || error.code === 'deadline_exceeded')) {
      // Every replica is full, or shed the item as it could not finish in time behind interactive
      // work: back off for as long as they asked, without using up a retry (busy is not failing).
      const delaySeconds = Math.max(1, error.retryAfterSeconds ?? NO_SLOT_DELAY_SECONDS);
      log('info', 'batch item deferred: the functions are busy', message, { code: error.code, delaySeconds, detail: error.message });
      return {
        settlement: { index, kind: 'released', error: reason },
        after: async () => {
          await config.batch.queue.send(message.body, { delaySeconds });
          ack(message);
        },
      };
    }
    if (isRefusal(error)) {
      log('warn', 'batch item refused', message, { code: reason.code, reason: reason.message });
      return {
        settlement: { index, kind: 'failed', error: reason },
        after: async () => {
          await config.batch.deadLetters.send({ ...message.body, refusal: reason });
          ack(message);
        },
      };
    }
    const retryAfter = error instanceof ApiError ? error.retryAfterSeconds : undefined;
    const delaySeconds = retryAfter ?? backoffSeconds(message.attempts);
    log('warn', 'batch item failed, retrying', message, { code: reason.code, detail: detailOf(error), delaySeconds });
    return { settlement: { index, kind: 'released', error: reason }, after: async () => retry(message, delaySeconds) };
  }
}

/**
 * The key's slots leased for one delivery, shared by its jobs' waves: a wave takes what is free
 * (up to what it needs) and gives it back when done, so items counted as running never exceed
 * the key's lease.
 */
class KeySlots {
  #free: number;
  #waiters: (() => void)[] = [];

  constructor(count: number) {
    this.#free = count;
  }

  /** Up to `wanted` slots, waiting until at least one is free. */
  async take(wanted: number): Promise<number> {
    while (this.#free === 0) await new Promise<void>((wake) => this.#waiters.push(wake));
    const taken = Math.min(wanted, this.#free);
    this.#free -= taken;
    return taken;
  }

  give(count: number): void {
    if (count <= 0) return;
    this.#free += count;
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/**
 * One job's messages of a delivery, in waves sized by the job's cap and the key's free slots: claim
 * a wave (one call to the job), translate it (the function batches it), record every outcome (one
 * call), then the next. Two calls per wave instead of two per item: the job's object and the
 * edge's CPU are what limit a batch's rate once the function is fast.
 */
async function consumeJobMessages(config: EdgeConfig, messages: readonly Message[], slots: KeySlots, inFlight: Map<string, Promise<Translated>>): Promise<void> {
  const job = jobOf(config, messages[0]!.body.job);
  // A message delivered twice in one batch (a re-send racing a retry) needs doing once.
  const byIndex = new Map<number, Message>();
  for (const message of messages) {
    if (byIndex.has(message.body.index)) ack(message);
    else byIndex.set(message.body.index, message);
  }
  let waiting = [...byIndex.values()];
  let refusedSince: number | undefined;
  while (waiting.length > 0) {
    const taken = await slots.take(Math.min(waiting.length, config.batch.jobConcurrency));
    const wave = waiting.slice(0, taken);
    let claim: Awaited<ReturnType<BatchJobStub['claim']>>;
    try {
      claim = await job.claim(wave.map((message) => message.body.index), config.batch.jobConcurrency, config.batch.leaseMs);
    } catch (error) {
      slots.give(taken);
      throw error;
    }
    slots.give(taken - claim.granted.length);
    for (const index of claim.skip) ack(byIndex.get(index)!);
    // Items refused for now go to the back, so they do not block the ones behind them.
    const later = new Set(claim.later);
    waiting = [...waiting.slice(taken), ...wave.filter((message) => later.has(message.body.index))];
    if (claim.granted.length === 0) {
      // The job's cap is taken (by another delivery): poll for a while, then hand the rest back.
      refusedSince ??= Date.now();
      if (claim.later.length > 0 && Date.now() - refusedSince > SLOT_WAIT_MS) {
        await Promise.all(waiting.map((message) => sendLater(config, message)));
        return;
      }
      if (claim.later.length > 0) await sleep(SLOT_POLL_MS + Math.random() * SLOT_POLL_MS);
      continue;
    }
    refusedSince = undefined;
    try {
      const outcomes = await Promise.all(claim.granted.map((index) => outcomeOf(config, byIndex.get(index)!, inFlight)));
      await job.settle(outcomes.map((outcome) => outcome.settlement));
      await Promise.all(outcomes.map((outcome) => outcome.after()));
    } finally {
      slots.give(claim.granted.length);
    }
  }
}

export async function consumeBatchItems(batch: QueueBatch<BatchItemMessage>, env: EdgeBindings): Promise<void> {
  // A misconfigured edge throws here: every message is retried, none is lost.
  const config = loadConfig(env);
  const inFlight = new Map<string, Promise<Translated>>();
  const byKey = new Map<string, Message[]>();
  for (const message of batch.messages) byKey.set(message.body.key_id, [...(byKey.get(message.body.key_id) ?? []), message]);
  await Promise.all([...byKey].map(([keyId, messages]) => consumeForKey(config, keyId, messages, inFlight)));
}

/** One key's messages of a delivery: one lease of the key's slots for all, then each job's waves. */
async function consumeForKey(config: EdgeConfig, keyId: string, messages: readonly Message[], inFlight: Map<string, Promise<Translated>>): Promise<void> {
  const retryLater = (message: Message, error: unknown) => {
    if (answered.has(message)) return;
    // A Durable Object or a queue was unreachable: deliver the message again later.
    log('error', 'batch item not processed', message, { error: String(error) });
    retry(message, backoffSeconds(message.attempts));
  };
  let slots: Awaited<ReturnType<typeof leaseKeySlots>>;
  try {
    slots = await leaseKeySlots(config, keyId, messages.length);
  } catch (error) {
    for (const message of messages) retryLater(message, error);
    return;
  }
  try {
    if (slots.granted === 0) {
      await Promise.all(messages.map((message) => sendLater(config, message).catch((error: unknown) => retryLater(message, error))));
      return;
    }
    const keySlots = new KeySlots(slots.granted);
    const byJob = new Map<string, Message[]>();
    for (const message of messages) byJob.set(message.body.job, [...(byJob.get(message.body.job) ?? []), message]);
    await Promise.all(
      [...byJob.values()].map((jobMessages) =>
        consumeJobMessages(config, jobMessages, keySlots, inFlight).catch((error: unknown) => {
          for (const message of jobMessages) retryLater(message, error);
        }),
      ),
    );
  } finally {
    await slots.release();
  }
}
