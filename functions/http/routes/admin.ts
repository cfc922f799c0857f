/**
 * POST /admin/reload: load a model version (the configured source, or one given in the body) and
 * swap it in once verified and warmed. Bearer-token protected; absent token = endpoint disabled.
 */
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { bearerAuth } from 'hono/bearer-auth';
import { ApiError } from '../../../contract/errors.ts';
import type { ModelHost } from '../../serving/model-host.ts';
import type { AppEnv } from '../app-env.ts';
import { errorResponses } from './error-responses.ts';

const reloadRequestSchema = z.object({ source: z.string().min(1).max(1024).optional() }).strict().openapi('ReloadRequest');
const reloadResponseSchema = z.object({ name: z.string(), version: z.string(), source: z.string() }).openapi('ReloadResult');

export function registerAdminRoutes(app: OpenAPIHono<AppEnv>, host: ModelHost, adminToken: string | undefined): void {
  app.openAPIRegistry.registerPath({
    method: 'post', path: '/admin/reload', summary: 'Load and swap in a model version (admin token)',
    request: { body: { required: false, content: { 'application/json': { schema: reloadRequestSchema } } } },
    responses: {
      200: { description: 'The new version is active', content: { 'application/json': { schema: reloadResponseSchema } } },
      ...errorResponses(401, 404, 409),
    },
  });
  if (adminToken === undefined) return; // unregistered: the not-found handler answers
  app.post(
    '/admin/reload',
    bearerAuth({
      token: adminToken,
      noAuthenticationHeader: { message: 'missing bearer token' },
      invalidToken: { message: 'invalid bearer token' },
      invalidAuthenticationHeader: { message: 'malformed Authorization header' },
    }),
    async (c) => {
      const text = await c.req.text();
      let source: string | undefined;
      if (text.trim() !== '') {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          throw new ApiError('invalid_parameters', 'body: must be JSON like {"source": "s3://bucket/prefix"}');
        }
        const parsed = reloadRequestSchema.safeParse(json);
        if (!parsed.success) throw new ApiError('invalid_parameters', `body: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
        source = parsed.data.source;
      }
      const active = await host.load(source);
      return c.json({ name: active.manifest.name, version: active.manifest.version, source: active.model.source });
    },
  );
}
