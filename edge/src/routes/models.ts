/** GET /v1/models: what the functions serve (their /v1/models, cached per isolate for MODELS_TTL_MS). */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { servedModelsSchema } from '../../../contract/served-model.ts';
import type { EdgeEnv } from '../app-env.ts';
import { forwardOptionsFor } from '../forwarding/forward-options.ts';
import { servedModels } from '../forwarding/model-catalog.ts';
import { errorResponses } from '../http/error-responses.ts';

export function registerModelRoutes(app: OpenAPIHono<EdgeEnv>): void {
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/models',
    summary: 'Models and versions served, their domains, directions and sizes',
    responses: {
      200: { description: 'Served models', content: { 'application/json': { schema: servedModelsSchema } } },
      ...errorResponses(503),
    },
  });
  app.get('/v1/models', async function modelsRoute(c) {
    const models = await servedModels(forwardOptionsFor(c, Date.now() + c.get('config').requestDeadlineMs));
    c.header('Cache-Control', 'public, max-age=30');
    return c.json({ models });
  });
}
