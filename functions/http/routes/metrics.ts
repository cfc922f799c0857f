/** GET /metrics: Prometheus text format from the process's own registry. */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { ServiceMetrics } from '../../metrics.ts';
import type { ModelHost } from '../../serving/model-host.ts';
import type { AppEnv } from '../app-env.ts';

export function registerMetricsRoute(app: OpenAPIHono<AppEnv>, metrics: ServiceMetrics, host: ModelHost): void {
  app.openAPIRegistry.registerPath({
    method: 'get', path: '/metrics', summary: 'Prometheus metrics (Triton names where they fit)',
    responses: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
  });
  app.get('/metrics', async (c) => {
    const status = host.status();
    if (status.state === 'ready') {
      const { name, version } = status.active.manifest;
      metrics.pendingRequests.set({ model: name, version }, status.active.batcher.pending());
    }
    c.header('Content-Type', metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });
}
