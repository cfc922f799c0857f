/**
 * KServe Open Inference Protocol v2 server endpoints: liveness (the process answers), readiness
 * (a verified, warmed model is active; otherwise 503 with the reason), server metadata.
 */
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { ModelHost } from '../../serving/model-host.ts';
import type { AppEnv } from '../app-env.ts';

export const SERVER_NAME = 'sa-munit-function';
export const SERVER_VERSION = '0.1.0';

const liveSchema = z.object({ live: z.boolean() }).openapi('Live');
const readySchema = z.object({ ready: z.boolean(), reason: z.string().optional() }).openapi('Ready');
const serverMetadataSchema = z.object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) }).openapi('ServerMetadata');

export function registerHealthRoutes(app: OpenAPIHono<AppEnv>, host: ModelHost): void {
  app.openAPIRegistry.registerPath({
    method: 'get', path: '/v2/health/live', summary: 'Liveness (OIP v2)',
    responses: { 200: { description: 'The process answers', content: { 'application/json': { schema: liveSchema } } } },
  });
  app.get('/v2/health/live', (c) => c.json({ live: true }));

  app.openAPIRegistry.registerPath({
    method: 'get', path: '/v2/health/ready', summary: 'Readiness (OIP v2): a verified, warmed model is served',
    responses: {
      200: { description: 'Ready', content: { 'application/json': { schema: readySchema } } },
      503: { description: 'Not ready; reason says why', content: { 'application/json': { schema: readySchema } } },
    },
  });
  app.get('/v2/health/ready', (c) => {
    const status = host.status();
    if (status.state === 'ready') return c.json({ ready: true });
    return c.json({ ready: false, reason: status.reason }, 503);
  });

  app.openAPIRegistry.registerPath({
    method: 'get', path: '/v2', summary: 'Server metadata (OIP v2)',
    responses: { 200: { description: 'Server metadata', content: { 'application/json': { schema: serverMetadataSchema } } } },
  });
  app.get('/v2', (c) => c.json({ name: SERVER_NAME, version: SERVER_VERSION, extensions: ['binary_tensor_data'] }));
}
