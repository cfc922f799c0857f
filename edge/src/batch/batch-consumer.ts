/**
 * The batch queue's consumer: one Queues message per item (contract/batch-api.ts BatchItemMessage).
 * For each message, in parallel within a delivered batch:
 *
 * 1. a slot: one of the key's batch slots (KeyQuota's lease, BATCH_KEY_CONCURRENCY) and a claim on
 *    the item from its job (BatchJob.claim, BATCH_JOB_CONCURRENCY). Both caps hold across every
 *    consumer invocation, so one customer's burst takes at most that many function slots and the
 *    synchronous API keeps the rest. Waiting for a slot polls briefly; a message that still has
 *    none is sent again with a delay and acknowledged (a retry would count against max_retries,
 *    and waiting for capacity is not a failure);
 * 2. the content address, as the synchronous API computes it: a result already in R2 is reused,
 *    never computed again (items sharing an address in one delivery share one computation);
 * 3. otherwise the function pool, through the synchronous path's forwarding (failover, breakers,
 *    the functions' 429 and Retry-After), marked `X-Request-Priority: batch` so each function
 *    serves synchronous requests first and refuses batch work (429) before its queue fills; the
 *    result goes to R2 under its address.
 *
 * Outcomes: done → the job records the address. Every replica full (429 queue_full) → the item
 * goes back to `queued` and the message is sent again after the replicas' Retry-After, without
 * using up a retry (a busy pool is not a failing item). A refusal no retry can change (the function's 4xx
 * for this image) → the item fails at once with the function's reason, and the message goes to the
 * dead-letter queue for the record. Anything else (no replica, a deadline, R2 trouble) → the job
 * puts the item back and the message is retried with backoff, or after Retry-After when one was
 * given; once Queues has delivered it max_retries + 1 times it goes to the dead-letter queue,
 * whose consumer (dead-letters.ts) marks the item failed with its last reason.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type { BatchItemMessage, ItemError } from '../../../contract/batch-api.ts';
import { contentAddress, type AddressedTranslation } from '../../../contract/content-address.ts';
import { ApiError } from '../../../contract/errors.ts';
import { MODEL_NAME_HEADER, MODEL_VERSION_HEADER } from '../../../contract/headers.ts';
import { IMAGE_MEDIA_TYPES, sniffImageFormat } from '../../../contract/image-sniff.ts';
import { translateQuery } from '../../../contract/translate-params.ts';
import type { BatchJobStub, EdgeBindings, KeyQuotaStub, QueueBatch, QueueMessage } from '../bindings.ts';
import { ResultStore } from '../cache/result-store.ts';
import { loadConfig, type EdgeConfig } from '../config.ts';
import { forwardToFunctions, type ForwardOptions } from '../forwarding/forward.ts';
import { functionError } from '../forwarding/function-error.ts';
import { servedModel } from '../forwarding/model-catalog.ts';
import { replicaPoolFor } from '../forwarding/replica-pool.ts';

/** How long a message waits in the consumer for a slot before it is sent again with a delay. */
const SLOT_WAIT_MS = 20_000;
const SLOT_POLL_MS = 250;
/** The delay of a message sent again for want of a slot. */
const NO_SLOT_DELAY_SECONDS = 2;
/** Retry delays without Retry-After: 2, 4, 8 … seconds, at most a minute. */
const backoffSeconds = (attempts: number): number => Math.min(60, 2 ** Math.max(1, attempts));

type Message = QueueMessage<BatchItemMessage>;

interface Slot {
  readonly job: BatchJobStub;
  release(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function jobOf(config: EdgeConfig, id: string): BatchJobStub {
  return config.batch.jobs.get(config.batch.jobs.idFromString(id) as never);
}

function quotaOf(config: EdgeConfig, keyId: string): KeyQuotaStub {
  return config.keyQuotas.get(config.keyQuotas.idFromName(keyId) as never);
}

/** A key slot and the job's claim on the item; 'skip' when there is nothing left to do for it. */
async function acquireSlot(config: EdgeConfig, message: Message): Promise<Slot | 'skip' | 'later'> {
  const { job: jobId, index, key_id: keyId } = message.body;
  const job = jobOf(config, jobId);
  const quota = quotaOf(config, keyId);
  const { jobConcurrency, keyConcurrency, leaseMs } = config.batch;
  const started = Date.now();
  for (;;) {
    const lease = await quota.leaseBatchSlots(1, keyConcurrency, leaseMs);
    if (lease.granted === 1) {
      const claim = await job.claim([index], jobConcurrency, leaseMs);
      if (claim.granted.length === 1) return { job, release: () => quota.releaseBatchSlots(lease.lease, 1) };
      await quota.releaseBatchSlots(lease.lease, 1);
      if (claim.skip.length === 1) return 'skip';
    }
    if (Date.now() - started > SLOT_WAIT_MS) return 'later';
    await sleep(SLOT_POLL_MS + Math.random() * SLOT_POLL_MS);
  }
}

type Translated = { readonly address: string };

/** Reads the item's image and gets its result: reused from R2 when its address exists, else computed. */
async function translateItem(config: EdgeConfig, body: BatchItemMessage, inFlight: Map<string, Promise<Translated>>): Promise<Translated> {
  const object = await config.results.get(body.input_key);
  if (object === null) throw new ApiError('empty_body', `the item's image is missing from storage (${body.input_key})`);
  const image = new Uint8Array(await object.arrayBuffer());
  const format = sniffImageFormat(image);
  if (format === undefined) throw new ApiError('unsupported_media_type', 'the stored image is not JPEG, PNG or WebP');

  const forwarding: ForwardOptions & { ttlMs: number } = {
    pool: replicaPoolFor(config.functionPool, config.breaker),
    maxAttempts: config.maxAttempts,
    attemptTimeoutMs: config.attemptTimeoutMs,
    deadline: Date.now() + config.requestDeadlineMs,
    requestId: `batch-${body.job.slice(0, 16)}-${body.index}`,
    authToken: config.functionAuthToken,
    ttlMs: config.modelsTtlMs,
  };
  const model = await servedModel(forwarding);
  const addressed = (name: string, version: string): AddressedTranslation => ({ model: { name, version }, direction: body.params.direction, params: body.params, image });
  const address = await contentAddress(addressed(model.name, model.version));
  const shared = inFlight.get(address);
  if (shared !== undefined) return shared;

  const store = new ResultStore({ bucket: config.results, cache: undefined, origin: '', background: undefined });
  const work = (async (): Promise<Translated> => {
    if ((await store.get(address)) !== undefined) return { address };
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

function itemError(error: unknown): ItemError {
  if (error instanceof ApiError) return { code: error.code, message: error.message };
  return { code: 'internal', message: error instanceof Error ? error.message : String(error) };
}

async function handleMessage(config: EdgeConfig, message: Message, inFlight: Map<string, Promise<Translated>>): Promise<void> {
  const slot = await acquireSlot(config, message);
  if (slot === 'skip') return message.ack();
  if (slot === 'later') {
    await config.batch.queue.send(message.body, { delaySeconds: NO_SLOT_DELAY_SECONDS });
    return message.ack();
  }
  try {
    const { address } = await translateItem(config, message.body, inFlight);
    await slot.job.complete(message.body.index, address);
    message.ack();
  } catch (error) {
    const reason = itemError(error);
    if (error instanceof ApiError && error.code === 'queue_full') {
      // Every replica is full: back off for as long as they asked, without using up a retry.
      await slot.job.release(message.body.index, reason);
      await config.batch.queue.send(message.body, { delaySeconds: Math.max(1, error.retryAfterSeconds ?? NO_SLOT_DELAY_SECONDS) });
      message.ack();
    } else if (isRefusal(error)) {
      await slot.job.fail(message.body.index, reason);
      await config.batch.deadLetters.send({ ...message.body, refusal: reason });
      message.ack();
    } else {
      await slot.job.release(message.body.index, reason);
      const retryAfter = error instanceof ApiError ? error.retryAfterSeconds : undefined;
      message.retry({ delaySeconds: retryAfter ?? backoffSeconds(message.attempts) });
    }
  } finally {
    await slot.release().catch(() => {}); // the lease lapses on its own
  }
}

export async function consumeBatchItems(batch: QueueBatch<BatchItemMessage>, env: EdgeBindings): Promise<void> {
  // A misconfigured edge throws here: every message is retried, none is lost.
  const config = loadConfig(env);
  const inFlight = new Map<string, Promise<Translated>>();
  // A delivery may hold more of one job's items than its cap: the rest wait here and start the
  // moment one finishes, keeping the function fed without asking the job's object again and again.
  const perJob = new Map<string, LimitFunction>();
  const limitFor = (job: string): LimitFunction => {
    let limit = perJob.get(job);
    if (limit === undefined) perJob.set(job, (limit = pLimit(config.batch.jobConcurrency)));
    return limit;
  };
  await Promise.all(
    batch.messages.map((message) =>
      limitFor(message.body.job)(() => handleMessage(config, message, inFlight)).catch((error: unknown) => {
        // The job's Durable Object or a queue was unreachable: deliver the message again later.
        console.error(JSON.stringify({ level: 'error', msg: 'batch item not processed', job: message.body.job, index: message.body.index, error: String(error) }));
        message.retry({ delaySeconds: backoffSeconds(message.attempts) });
      }),
    ),
  );
}
