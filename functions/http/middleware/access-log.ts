/** One log line and one latency observation per request, labelled by the matched route. */
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { ServiceMetrics } from '../../metrics.ts';
import type { AppEnv } from '../app-env.ts';

export function accessLog(metrics: ServiceMetrics): MiddlewareHandler<AppEnv> {
  return async function accessLogMiddleware(c, next) {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = routePath(c, -1);
    metrics.httpDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, seconds);
    // Probes and scrapes would drown the log at info level.
    const quiet = route.startsWith('/v2/health') || route === '/metrics';
    c.get('log')[quiet ? 'debug' : 'info'](
      { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(seconds * 1000) },
      'request',
    );
  };
}
