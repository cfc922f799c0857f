/**
 * POST /v1/translate: one image in, one or n translated images out.
 *
 * n = 1 answers with the image itself (seed and model version in headers); n > 1 with JSON holding
 * each output base64-encoded with its seed. Parameters come from the query string or, for
 * multipart bodies, from text fields (a field wins over the same query parameter).
 */
import { randomInt } from 'node:crypto';
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { ApiError } from '../../../contract/errors.ts';
import { MODEL_NAME_HEADER, MODEL_VERSION_HEADER, SEED_HEADER, TIMEOUT_HEADER } from '../../../contract/headers.ts';
import { RANDOM_SEED_LIMIT } from '../../../contract/seed-style.ts';
import { describeParamIssues, translateParamsSchema } from '../../../contract/translate-params.ts';
import type { FunctionConfig } from '../../config.ts';
import type { ServiceMetrics } from '../../metrics.ts';
import type { ModelHost } from '../../serving/model-host.ts';
import { translate } from '../../serving/translation.ts';
import type { AppEnv } from '../app-env.ts';
import { uploadLimit } from '../middleware/upload-limit.ts';
import { deadlineOf } from '../deadline.ts';
import { priorityOf } from '../priority.ts';
import { readUpload } from '../read-upload.ts';
import { errorResponses } from './error-responses.ts';

export const translationsJsonSchema = z
  .object({
    model: z.object({ name: z.string(), version: z.string() }),
    direction: z.enum(['a2b', 'b2a']),
    format: z.enum(['png', 'webp', 'jpeg']),
    outputs: z.array(z.object({ seed: z.number().int().nullable(), image: z.string().openapi({ description: 'base64' }) })),
  })
  .openapi('Translations');

export interface TranslateRouteDeps {
  readonly host: ModelHost;
  readonly config: FunctionConfig;
  readonly metrics: ServiceMetrics;
}

export function registerTranslateRoute(app: OpenAPIHono<AppEnv>, deps: TranslateRouteDeps): void {
  const { host, config, metrics } = deps;
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/v1/translate',
    summary: 'Translate an image into the other domain, in one or several styles',
    request: {
      query: translateParamsSchema,
      headers: z.object({ [TIMEOUT_HEADER]: z.string().optional().openapi({ description: 'Time budget in ms' }) }),
      body: {
        required: true,
        content: {
          'image/png': { schema: z.string().openapi({ format: 'binary' }) },
          'image/jpeg': { schema: z.string().openapi({ format: 'binary' }) },
          'image/webp': { schema: z.string().openapi({ format: 'binary' }) },
          'multipart/form-data': {
            schema: z.object({
              image: z.string().openapi({ format: 'binary' }),
              style_image: z.string().optional().openapi({ format: 'binary', description: 'Reference image of the target domain' }),
            }),
          },
        },
      },
    },
    responses: {
      200: {
        description: 'n = 1: the image (X-Seed, X-Model-Version headers). n > 1: JSON with every output.',
        content: {
          'image/png': { schema: z.string().openapi({ format: 'binary' }) },
          'application/json': { schema: translationsJsonSchema },
        },
      },
      ...errorResponses(400, 413, 415, 422, 429, 503),
    },
  });

  app.post('/v1/translate', uploadLimit(config.limits.maxBodyBytes), async function translateRoute(c) {
    return host.use(async (active) => {
      const started = performance.now();
      const labels = { model: active.manifest.name, version: active.manifest.version };
      try {
        const deadline = deadlineOf(c, config.batching.defaultDeadlineMs);
        const upload = await readUpload(c);
        const parsed = translateParamsSchema.safeParse({ ...c.req.query(), ...upload.fields });
        if (!parsed.success) throw new ApiError('invalid_parameters', describeParamIssues(parsed.error));
        const result = await translate(
          active,
          {
            params: parsed.data,
            image: upload.image,
            ...(upload.styleImage === undefined ? {} : { styleImage: upload.styleImage }),
            deadline,
            priority: priorityOf(c),
            limits: {
              maxInputBytes: config.limits.maxBodyBytes,
              maxInputPixels: config.limits.maxInputPixels,
              maxInputSide: config.limits.maxInputSide,
            },
          },
          () => randomInt(RANDOM_SEED_LIMIT),
        );
        metrics.requestSuccess.inc(labels);
        c.header(MODEL_NAME_HEADER, result.model.name);
        c.header(MODEL_VERSION_HEADER, result.model.version);
        c.header('Cache-Control', 'no-store');
        const [first, ...rest] = result.outputs;
        if (first !== undefined && rest.length === 0) {
          if (first.seed !== undefined) c.header(SEED_HEADER, String(first.seed));
          c.header('Content-Type', result.contentType);
          return c.body(new Uint8Array(first.bytes));
        }
        return c.json({
          model: result.model,
          direction: result.direction,
          format: parsed.data.format,
          outputs: result.outputs.map((output) => ({ seed: output.seed ?? null, image: output.bytes.toString('base64') })),
        });
      } catch (error) {
        metrics.requestFailure.inc({ ...labels, reason: error instanceof ApiError ? error.code : 'internal' });
        throw error;
      } finally {
        metrics.requestDurationUs.inc(labels, (performance.now() - started) * 1000);
      }
    });
  });
}
