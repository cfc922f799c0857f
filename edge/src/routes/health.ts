/**
 * /healthz: the isolate answers (no binding or function touched). /readyz: the configuration
 * parses and at least one replica's breaker admits traffic in this isolate; it calls no function,
 * so a balancer probing it cannot add load to a struggling pool.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { EdgeEnv } from '../app-env.ts';
import { loadConfig } from '../config.ts';
import { replicaPoolFor } from '../forwarding/replica-pool.ts';

export function registerHealthRoutes(app: OpenAPIHono<EdgeEnv>): void {
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', (c) => {
    const config = loadConfig(c.env);
    const now = Date.now();
    const replicas = replicaPoolFor(config.functionPool, config.breaker).replicas.map((replica) => ({
      url: replica.url,
      breaker: replica.breaker.state(now),
      outstanding: replica.outstanding(now),
    }));
    const ready = replicas.some((replica) => replica.breaker !== 'open');
    return c.json({ ready, environment: config.environment, replicas }, ready ? 200 : 503);
  });
}
