/**
 * The batch API (contract/batch-api.ts has the shapes): create a job, upload its items through
 * signed URLs, follow its progress, page or ZIP its results, cancel it. The work itself happens in
 * the queue consumer (batch/batch-consumer.ts); the job's state lives in its Durable Object
 * (batch/batch-job.ts), which every route here asks.
 *
 * A job is visible only to the key that created it: another key gets 404, as for a job that does
 * not exist, so job ids say nothing about other customers.
 */
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import {
  BATCH_ID_PATTERN,
  DEFAULT_PAGE_SIZE,
  IDEMPOTENCY_KEY_HEADER,
  ITEM_STATUSES,
  MAX_BATCH_ITEMS,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_ITEM_NAME_LENGTH,
  MAX_PAGE_SIZE,
  batchCreateSchema,
  paramsAsText,
  uploadKey,
  type BatchCreateInput,
  type BatchCreated,
  type BatchResultsPage,
  type BatchUploadsPage,
  type ItemStatus,
} from '../../../contract/batch-api.ts';
import { sha256Hex } from '../../../contract/content-address.ts';
import { ApiError } from '../../../contract/errors.ts';
import { toHex } from '../../../contract/hex.ts';
import { IMAGE_MEDIA_TYPES } from '../../../contract/image-sniff.ts';
import { edgeChosenSeed } from '../../../contract/seed-style.ts';
import { describeParamIssues, translateParamsSchema, type TranslateParams } from '../../../contract/translate-params.ts';
import { checkedImage, isMultipart } from '../../../contract/upload-form.ts';
import type { EdgeEnv } from '../app-env.ts';
import { authenticate, chargeQuota, chargeRateLimit } from '../auth/authenticate.ts';
import type { BatchJobStub } from '../bindings.ts';
import type { JobSpec, JobWebhook } from '../batch/batch-job.ts';
import { resultsZip } from '../batch/results-zip.ts';
import { checkUploadUrl, uploadTargets } from '../batch/upload-url.ts';
import { forwardOptionsFor } from '../forwarding/forward-options.ts';
import { resolveDirection, servedModel } from '../forwarding/model-catalog.ts';
import { deadlineOf } from '../http/deadline.ts';
import { errorResponses } from '../http/error-responses.ts';
import { multipartForm, readLimited } from '../upload/read-upload.ts';

/** The largest JSON create: 10,000 items with names and overrides fit well within it. */
const MAX_CREATE_JSON_BYTES = 4 * 1024 * 1024;

interface ParsedCreate {
  readonly input: BatchCreateInput;
  /** Images that came with a multipart create, one per item. */
  readonly images: readonly Uint8Array[] | undefined;
  /** What identifies the request for Idempotency-Key replays (the images by their hashes). */
  readonly fingerprint: string;
}

function parseCreateJson(value: unknown): BatchCreateInput {
  const parsed = batchCreateSchema.safeParse(value);
  if (!parsed.success) throw new ApiError('invalid_parameters', describeParamIssues(parsed.error));
  return parsed.data;
}

function jsonOf(bytes: Uint8Array, field: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ApiError('invalid_parameters', `${field}: not valid JSON`);
  }
}

/**
 * JSON (`{params, items, webhook}`; images follow through upload URLs) or multipart (a `batch`
 * JSON field, optional, plus one `images` file part per item, all within MAX_UPLOAD_BYTES).
 */
async function parseCreate(c: Context<EdgeEnv>): Promise<ParsedCreate> {
  const contentType = c.req.header('content-type') ?? '';
  const type = contentType.toLowerCase();
  if (type.startsWith('application/json')) {
    const input = parseCreateJson(jsonOf(await readLimited(c.req.raw, MAX_CREATE_JSON_BYTES), 'body'));
    if (input.items === undefined) throw new ApiError('invalid_parameters', 'items: a JSON create lists its items (or send the images as multipart)');
    return { input, images: undefined, fingerprint: await sha256Hex(new TextEncoder().encode(JSON.stringify(input))) };
  }
  if (!isMultipart(type)) {
    throw new ApiError('unsupported_media_type', 'send the job as application/json, or as multipart/form-data with the images');
  }
  const form = await multipartForm(await readLimited(c.req.raw, c.get('config').maxUploadBytes), contentType);
  const batchField = form.get('batch');
  const input = parseCreateJson(batchField === null ? {} : jsonOf(new TextEncoder().encode(typeof batchField === 'string' ? batchField : await batchField.text()), 'batch'));
  const files = form.getAll('images').filter((part): part is File => typeof part !== 'string');
  if (files.length === 0) throw new ApiError('empty_body', 'a multipart create carries its images as "images" file parts');
  if (files.length > MAX_BATCH_ITEMS) throw new ApiError('invalid_parameters', `images: at most ${MAX_BATCH_ITEMS} per batch`);
  if (input.items !== undefined && input.items.length !== files.length) {
    throw new ApiError('invalid_parameters', `items: ${input.items.length} entries for ${files.length} images (give one per image, or none)`);
  }
  const images = await Promise.all(files.map(async (file, index) => checkedImage(new Uint8Array(await file.arrayBuffer()), `images[${index}]`).bytes));
  const items = files.map((file, index) => ({ ...input.items?.[index], name: input.items?.[index]?.name ?? (file.name.slice(0, MAX_ITEM_NAME_LENGTH) || undefined) }));
  const hashes = await Promise.all(images.map((image) => sha256Hex(image)));
  const withNames: BatchCreateInput = { ...input, items };
  return { input: withNames, images, fingerprint: await sha256Hex(new TextEncoder().encode(JSON.stringify({ ...withNames, hashes }))) };
}

/** The shared parameters with one item's overrides, normalised; a seed is chosen when none is named. */
function itemParams(input: BatchCreateInput, index: number, resolve: (direction: string) => string): TranslateParams {
  const parsed = translateParamsSchema.safeParse(paramsAsText(input.params, input.items?.[index]?.params));
  if (!parsed.success) {
    const where = input.items?.[index]?.params === undefined ? 'params' : `items[${index}].params`;
    throw new ApiError('invalid_parameters', `${where}: ${describeParamIssues(parsed.error)}`);
  }
  const params = { ...parsed.data, direction: resolve(parsed.data.direction) };
  return params.style === undefined && params.seed === undefined ? { ...params, seed: edgeChosenSeed() } : params;
}

function webhookOf(input: BatchCreateInput, production: boolean): JobWebhook | null {
  if (input.webhook === undefined) return null;
  if (production && !input.webhook.url.startsWith('https://')) throw new ApiError('invalid_parameters', 'webhook.url: must be https');
  const random = crypto.getRandomValues(new Uint8Array(24));
  const secret = input.webhook.secret ?? `whsec_${toHex(random)}`;
  return { url: input.webhook.url, every: input.webhook.every ?? null, secret };
}

function idempotencyKey(c: Context<EdgeEnv>): string | undefined {
  const key = c.req.header(IDEMPOTENCY_KEY_HEADER);
  if (key === undefined) return undefined;
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
    throw new ApiError('invalid_parameters', `${IDEMPOTENCY_KEY_HEADER}: 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters`);
  }
  return key;
}

/** The job's stub, or 404 for anything that is not one of this namespace's ids. */
function jobStub(c: Context<EdgeEnv>, id: string): BatchJobStub {
  const jobs = c.get('config').batch.jobs;
  if (!BATCH_ID_PATTERN.test(id)) throw new ApiError('not_found', `no batch ${id}`);
  try {
    return jobs.get(jobs.idFromString(id) as never);
  } catch {
    throw new ApiError('not_found', `no batch ${id}`);
  }
}

const notFound = (id: string) => new ApiError('not_found', `no batch ${id}`);

function pageArgs(c: Context<EdgeEnv>): { after: number; limit: number } {
  const cursor = c.req.query('cursor');
  const limitText = c.req.query('limit');
  if (cursor !== undefined && !/^\d{1,5}$/.test(cursor)) throw new ApiError('invalid_parameters', 'cursor: pass back next_cursor as given');
  if (limitText !== undefined && (!/^\d{1,4}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_PAGE_SIZE)) {
    throw new ApiError('invalid_parameters', `limit: an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  return { after: cursor === undefined ? -1 : Number(cursor), limit: limitText === undefined ? DEFAULT_PAGE_SIZE : Number(limitText) };
}

const origin = (c: Context<EdgeEnv>): string => new URL(c.req.url).origin;

export function registerBatchRoutes(app: OpenAPIHono<EdgeEnv>): void {
  registerBatchDocs(app);

  app.post('/v1/batches', authenticate(), async function createBatch(c) {
    const config = c.get('config');
    const key = c.get('apiKey');
    // A batch can spend a month's quota in one request: only a server's secret key may, never a
    // publishable key from a page (whose Origin a script outside a browser can claim).
    if (key.kind !== 'secret') throw new ApiError('forbidden', `batch jobs need a secret key; ${key.id} is publishable`);
    const idempotency = idempotencyKey(c);
    const { input, images, fingerprint } = await parseCreate(c);
    const model = await servedModel(forwardOptionsFor(c, deadlineOf(c, config.requestDeadlineMs)));
    const itemCount = images?.length ?? input.items!.length;
    const items = Array.from({ length: itemCount }, (_, index) => ({
      name: input.items?.[index]?.name ?? null,
      params: itemParams(input, index, (direction) => resolveDirection(model, direction)),
    }));
    await chargeRateLimit(c);

    const webhook = webhookOf(input, config.environment === 'production');

    const jobs = config.batch.jobs;
    const id = (idempotency === undefined ? jobs.newUniqueId() : jobs.idFromName(`${key.id}:${idempotency}`)).toString();
    const stub = jobs.get(jobs.idFromString(id) as never);
    // A retried create finds its job before anything is charged: the items were charged once.
    let outcome = idempotency === undefined ? undefined : await stub.replay(key.id, fingerprint);
    if (outcome === undefined) {
      const quota = await chargeQuota(c, itemCount);
      const spec: JobSpec = {
        keyId: key.id,
        fingerprint,
        origin: origin(c),
        model: { name: model.name, version: model.version },
        direction: items[0]!.params.direction,
        webhook,
        quotaMonth: quota.month,
        items,
      };
      try {
        outcome = await stub.create(spec);
      } catch (error) {
        await quota.refund().catch(() => {});
        throw error;
      }
      if (outcome.kind !== 'created') await quota.refund().catch(() => {}); // a concurrent identical create won
    }
    if (outcome.kind === 'conflict') {
      throw new ApiError('idempotency_conflict', `${IDEMPOTENCY_KEY_HEADER} ${idempotency} was used for a different batch request`);
    }
    let awaiting = (await stub.awaitingUpload(key.id, -1, MAX_BATCH_ITEMS)) ?? [];
    if (images !== undefined && awaiting.length > 0) {
      // Written only now that the job is known to be this request's (a conflicting replay must not
      // overwrite another request's images); a replay finishes what an interrupted create began.
      await Promise.all(awaiting.map((index) => config.results.put(uploadKey(id, index), images[index]!)));
      await stub.markUploaded(awaiting);
      awaiting = [];
    }
    const view = images === undefined ? outcome.view : ((await stub.view(key.id)) ?? outcome.view);
    const created: BatchCreated = {
      ...view,
      uploads: await uploadTargets(origin(c), config.batch.uploadSecret, id, awaiting),
      ...(outcome.webhookSecret === null ? {} : { webhook_secret: outcome.webhookSecret }),
    };
    c.header('location', view.status_url);
    return c.json(created, outcome.kind === 'created' ? 201 : 200);
  });

  app.put('/v1/batches/:id/items/:index/image', async function uploadItem(c) {
    const config = c.get('config');
    const id = c.req.param('id');
    const indexText = c.req.param('index');
    if (!/^\d{1,5}$/.test(indexText)) throw notFound(id);
    const index = Number(indexText);
    const verdict = await checkUploadUrl(config.batch.uploadSecret, id, index, c.req.query('expires'), c.req.query('signature'));
    if (verdict === 'invalid') throw new ApiError('forbidden', 'this upload URL is not valid: use one exactly as the create (or GET /v1/batches/{id}/uploads) handed it out');
    if (verdict === 'expired') throw new ApiError('forbidden', `this upload URL has expired: GET /v1/batches/${id}/uploads hands out fresh ones`);
    const stub = jobStub(c, id);
    const state = await stub.uploadState(index);
    if (state.state === 'unknown') throw new ApiError('not_found', `batch ${id} has no item ${index}`);
    if (state.state === 'uploaded') throw new ApiError('already_uploaded', `item ${index} of batch ${id} has its image already`);
    if (state.state === 'cancelled') throw new ApiError('item_cancelled', `item ${index} of batch ${id} was cancelled`);
    const image = checkedImage(await readLimited(c.req.raw, config.maxUploadBytes), 'body');
    await config.results.put(uploadKey(id, index), image.bytes, { httpMetadata: { contentType: IMAGE_MEDIA_TYPES[image.format] } });
    if ((await stub.markUploaded([index])).length === 0) throw new ApiError('already_uploaded', `item ${index} of batch ${id} has its image already`);
    return c.json({ index, status: 'queued' satisfies ItemStatus }, 201);
  });

  app.get('/v1/batches/:id', authenticate(), async function batchStatus(c) {
    const id = c.req.param('id');
    const view = await jobStub(c, id).view(c.get('apiKey').id);
    if (view === undefined) throw notFound(id);
    return c.json(view);
  });

  app.get('/v1/batches/:id/uploads', authenticate(), async function freshUploads(c) {
    const id = c.req.param('id');
    const { after, limit } = pageArgs(c);
    const found = await jobStub(c, id).awaitingUpload(c.get('apiKey').id, after, limit);
    if (found === undefined) throw notFound(id);
    const indices = found.slice(0, limit);
    const page: BatchUploadsPage = {
      uploads: await uploadTargets(origin(c), c.get('config').batch.uploadSecret, id, indices),
      next_cursor: found.length > limit ? String(indices.at(-1)) : null,
    };
    return c.json(page);
  });

  app.get('/v1/batches/:id/results', authenticate(), async function batchResults(c) {
    const id = c.req.param('id');
    const { after, limit } = pageArgs(c);
    const statusText = c.req.query('status');
    if (statusText !== undefined && !(ITEM_STATUSES as readonly string[]).includes(statusText)) {
      throw new ApiError('invalid_parameters', `status: one of ${ITEM_STATUSES.join(', ')}`);
    }
    const found = await jobStub(c, id).results(c.get('apiKey').id, after, limit, statusText as ItemStatus | undefined);
    if (found === undefined) throw notFound(id);
    const page: BatchResultsPage = { items: found.items, next_cursor: found.last === null ? null : String(found.last) };
    return c.json(page);
  });

  app.get('/v1/batches/:id/results.zip', authenticate(), async function batchZip(c) {
    const id = c.req.param('id');
    const stub = jobStub(c, id);
    const keyId = c.get('apiKey').id;
    if ((await stub.view(keyId)) === undefined) throw notFound(id);
    return resultsZip(stub, keyId, c.get('config').results, `batch-${id.slice(0, 12)}.zip`);
  });

  app.delete('/v1/batches/:id', authenticate(), async function cancelBatch(c) {
    const id = c.req.param('id');
    const view = await jobStub(c, id).cancel(c.get('apiKey').id);
    if (view === undefined) throw notFound(id);
    return c.json(view);
  });
}

function registerBatchDocs(app: OpenAPIHono<EdgeEnv>): void {
  const id = z.object({ id: z.string().regex(BATCH_ID_PATTERN).openapi({ description: 'The job id (64 hex digits)' }) });
  const page = z.object({ cursor: z.string().optional(), limit: z.string().optional().openapi({ description: `1-${MAX_PAGE_SIZE}, default ${DEFAULT_PAGE_SIZE}` }) });
  const json = (description: string) => ({ description, content: { 'application/json': { schema: z.object({}).passthrough() } } });
  const registry = app.openAPIRegistry;
  registry.registerPath({
    method: 'post',
    path: '/v1/batches',
    summary: `Create a batch job of up to ${MAX_BATCH_ITEMS} items (JSON with upload URLs in the answer, or multipart with the images)`,
    security: [{ apiKey: [] }],
    request: {
      headers: z.object({ [IDEMPOTENCY_KEY_HEADER]: z.string().optional().openapi({ description: 'Makes a retried create return the same job' }) }),
      body: { required: true, content: { 'application/json': { schema: batchCreateSchema }, 'multipart/form-data': { schema: z.object({ batch: z.string().optional(), images: z.array(z.string().openapi({ format: 'binary' })) }) } } },
    },
    responses: { 201: json('The job, with one upload URL per item (JSON creates)'), 200: json('The same job again (Idempotency-Key replay)'), ...errorResponses(400, 401, 403, 413, 415, 422, 429, 503) },
  });
  registry.registerPath({
    method: 'put',
    path: '/v1/batches/{id}/items/{index}/image',
    summary: 'Upload one item\'s image to the signed URL the create handed out (no API key)',
    request: { params: id.extend({ index: z.string() }), query: z.object({ expires: z.string(), signature: z.string() }) },
    responses: { 201: json('Uploaded and queued'), ...errorResponses(400, 403, 404, 409, 413, 415) },
  });
  registry.registerPath({ method: 'get', path: '/v1/batches/{id}', summary: 'Progress of a batch job', security: [{ apiKey: [] }], request: { params: id }, responses: { 200: json('The job'), ...errorResponses(401, 404) } });
  registry.registerPath({ method: 'get', path: '/v1/batches/{id}/uploads', summary: 'Fresh upload URLs for the items still awaiting their image', security: [{ apiKey: [] }], request: { params: id, query: page }, responses: { 200: json('A page of upload URLs'), ...errorResponses(401, 404) } });
  registry.registerPath({
    method: 'get',
    path: '/v1/batches/{id}/results',
    summary: 'Per-item status, errors and result URLs, paged',
    security: [{ apiKey: [] }],
    request: { params: id, query: page.extend({ status: z.enum(ITEM_STATUSES).optional() }) },
    responses: { 200: json('A page of items'), ...errorResponses(400, 401, 404) },
  });
  registry.registerPath({ method: 'get', path: '/v1/batches/{id}/results.zip', summary: 'Every finished result as one streamed ZIP', security: [{ apiKey: [] }], request: { params: id }, responses: { 200: { description: 'application/zip, streamed' }, ...errorResponses(401, 404) } });
  registry.registerPath({ method: 'delete', path: '/v1/batches/{id}', summary: 'Cancel the items not started yet', security: [{ apiKey: [] }], request: { params: id }, responses: { 200: json('The job after cancelling'), ...errorResponses(401, 404) } });
}
