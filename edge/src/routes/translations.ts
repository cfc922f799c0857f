/**
 * POST /v1/translations: the public translation endpoint.
 *
 * Order, cheapest refusal first: key (authenticate: 401/403) → size and magic bytes (413/415) →
 * parameters (400, shared schema) → seed chosen here when none is given, so every result is
 * addressable → model (functions' /v1/models, cached per isolate) and direction (400) → only now,
 * the request being valid, the key's rate limit (429) → content address → If-None-Match naming
 * the address (304) → the monthly quota (429) → Cache API, then R2 (HIT, no function contacted) →
 * forward with failover (MISS) → store in R2 and the cache → answer. A quota unit charged for a
 * request the edge then fails (5xx) is given back.
 */
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { contentAddress, type AddressedTranslation } from '../../../contract/content-address.ts';
import { ApiError } from '../../../contract/errors.ts';
import { MODEL_NAME_HEADER, MODEL_VERSION_HEADER, SEED_HEADER, TIMEOUT_HEADER } from '../../../contract/headers.ts';
import { edgeChosenSeed } from '../../../contract/seed-style.ts';
import { describeParamIssues, translateParamsSchema, translateQuery, type TranslateParams } from '../../../contract/translate-params.ts';
import { IMAGE_MEDIA_TYPES } from '../../../contract/image-sniff.ts';
import type { ImagePart, UploadParts as Upload } from '../../../contract/upload-form.ts';
import type { EdgeEnv } from '../app-env.ts';
import { authenticate, chargeQuota, chargeRateLimit } from '../auth/authenticate.ts';
import { resultStoreFor } from '../cache/result-store-for.ts';
import { forwardToFunctions } from '../forwarding/forward.ts';
import { forwardOptionsFor } from '../forwarding/forward-options.ts';
import { functionError } from '../forwarding/function-error.ts';
import { resolveDirection, servedModel } from '../forwarding/model-catalog.ts';
import { ifNoneMatch } from '../http/conditional.ts';
import { deadlineOf } from '../http/deadline.ts';
import { errorResponses } from '../http/error-responses.ts';
import { readUpload } from '../upload/read-upload.ts';
import { notModified, resultResponse } from './result-response.ts';


/** The part as a Blob: the multipart file part as it came (no copy), else a view of the raw body. */
const blobOf = (part: ImagePart): Blob => part.file ?? new Blob([part.bytes], { type: IMAGE_MEDIA_TYPES[part.format] });

function functionBody(upload: Upload): { body: () => NonNullable<RequestInit['body']>; contentType?: string } {
  const { image, styleImage } = upload;
  if (styleImage === undefined) return { body: () => image.file ?? image.bytes, contentType: IMAGE_MEDIA_TYPES[image.format] };
  // fetch sets the multipart boundary itself when the body is FormData.
  return {
    body: () => {
      const form = new FormData();
      form.set('image', blobOf(image), 'image');
      form.set('style_image', blobOf(styleImage), 'style_image');
      return form;
    },
  };
}

function parseParams(c: Context<EdgeEnv>, upload: Upload): TranslateParams {
  const parsed = translateParamsSchema.safeParse({ ...c.req.query(), ...upload.fields });
  if (!parsed.success) throw new ApiError('invalid_parameters', describeParamIssues(parsed.error));
  const params = parsed.data;
  if (upload.styleImage !== undefined) {
    if (params.seed !== undefined || params.style !== undefined || params.n > 1) {
      throw new ApiError('invalid_parameters', 'style_image: give a reference image, or seed/style/n, not both');
    }
    return params;
  }
  return params.style === undefined && params.seed === undefined ? { ...params, seed: edgeChosenSeed() } : params;
}

export function registerTranslationRoutes(app: OpenAPIHono<EdgeEnv>): void {
  const image = z.string().openapi({ format: 'binary' });
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/v1/translations',
    summary: 'Translate an image into the other domain; results are content-addressed and cached',
    security: [{ apiKey: [] }],
    request: {
      query: translateParamsSchema,
      headers: z.object({
        [TIMEOUT_HEADER]: z.string().optional().openapi({ description: 'Time budget in ms (shortens the edge deadline)' }),
        'if-none-match': z.string().optional().openapi({ description: 'A content address (ETag) the client holds: 304 when it matches' }),
      }),
      body: {
        required: true,
        content: {
          'image/png': { schema: image },
          'image/jpeg': { schema: image },
          'image/webp': { schema: image },
          'multipart/form-data': { schema: z.object({ image, style_image: image.optional() }) },
        },
      },
    },
    responses: {
      200: {
        description:
          'n = 1: the image; n > 1: JSON {model, direction, format, outputs:[{seed, image(base64)}]}. Headers: ETag (content address), ' +
          'Cache-Control immutable, X-Cache HIT|MISS, X-Seed, X-Model-Name, X-Model-Version, Content-Location /v1/results/{address}.',
        content: { 'image/png': { schema: image }, 'application/json': { schema: z.object({}).passthrough() } },
      },
      304: { description: 'If-None-Match named this content address' },
      ...errorResponses(400, 401, 403, 413, 415, 422, 429, 503),
    },
  });

  app.post('/v1/translations', authenticate(), async function translateRoute(c) {
    const config = c.get('config');
    const deadline = deadlineOf(c, config.requestDeadlineMs);
    const upload = await readUpload(c.req.raw, config.maxUploadBytes);
    const params = parseParams(c, upload);

    const forwarding = forwardOptionsFor(c, deadline);
    const model = await servedModel(forwarding);
    const direction = resolveDirection(model, params.direction);
    const normalised: TranslateParams = { ...params, direction };
    const addressed = (name: string, version: string): AddressedTranslation => ({
      model: { name, version },
      direction,
      params: normalised,
      image: upload.image.bytes,
      ...(upload.styleImage === undefined ? {} : { styleImage: upload.styleImage.bytes }),
    });
    await chargeRateLimit(c);
    const address = await contentAddress(addressed(model.name, model.version));
    const seedHeader = normalised.seed === undefined ? {} : { [SEED_HEADER]: String(normalised.seed) };
    const notModifiedHere = () => notModified(c, address, { ...seedHeader, [MODEL_VERSION_HEADER]: model.version });
    const condition = ifNoneMatch(c, address);
    if (condition === 'address') return notModifiedHere();

    const store = resultStoreFor(c);
    const found = await store.get(address);
    // `*` matches only a result that exists; otherwise the translation goes ahead.
    if (found !== undefined && condition === 'any') return notModifiedHere();
    const translateMiss = async (): Promise<Response> => {
      const { response, replicaUrl } = await forwardToFunctions(
        { method: 'POST', path: `/v1/translate?${translateQuery(normalised)}`, ...functionBody(upload) },
        forwarding,
      );
      if (!response.ok) throw await functionError(response, replicaUrl);
      const modelName = response.headers.get(MODEL_NAME_HEADER) ?? model.name;
      const modelVersion = response.headers.get(MODEL_VERSION_HEADER) ?? model.version;
      // A reload between the catalog read and this answer: address the result by what produced it.
      const finalAddress =
        modelName === model.name && modelVersion === model.version ? address : await contentAddress(addressed(modelName, modelVersion));
      const result = {
        bytes: await response.arrayBuffer(),
        contentType: response.headers.get('content-type') ?? 'application/octet-stream',
        seed: normalised.seed === undefined ? undefined : String(normalised.seed),
        modelName,
        modelVersion,
      };
      await store.put(finalAddress, result);
      return resultResponse(c, finalAddress, result, 'MISS');
    };

    const quota = await chargeQuota(c);
    try {
      return found === undefined ? await translateMiss() : resultResponse(c, address, found.result, 'HIT');
    } catch (error) {
      // The caller is not charged for the edge's own failures (no replica, every replica full,
      // deadline, R2 down).
      if (!(error instanceof ApiError) || error.status >= 500 || error.code === 'queue_full') await quota.refund().catch(() => {});
      throw error;
    }
  });

  app.on(['GET', 'PUT', 'PATCH', 'DELETE'], '/v1/translations', (c) => {
    throw new ApiError('method_not_allowed', `${c.req.method} is not allowed on /v1/translations: use POST`);
  });
}
