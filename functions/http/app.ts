/**
 * The function's HTTP app: middleware in the order a request meets it, then one registration per
 * route family. Everything it needs is passed in; nothing here starts or reads the environment.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { requestId } from 'hono/request-id';
import type { Logger } from 'pino';
import { ApiError } from '../../contract/errors.ts';
import { REQUEST_ID_HEADER } from '../../contract/headers.ts';
import type { FunctionConfig } from '../config.ts';
import type { ServiceMetrics } from '../metrics.ts';
import type { ModelHost } from '../serving/model-host.ts';
import type { AppEnv } from './app-env.ts';
import { onError, onNotFound } from './error-handler.ts';
import { accessLog } from './middleware/access-log.ts';
import { callerAuth } from './middleware/caller-auth.ts';
import { requestLogger } from './middleware/request-logger.ts';
import { shutdownGate, type ShutdownState } from './middleware/shutdown-gate.ts';
import { registerAdminRoutes } from './routes/admin.ts';
import { SERVER_VERSION, registerHealthRoutes } from './routes/health.ts';
import { registerMetricsRoute } from './routes/metrics.ts';
import { registerModelRoutes } from './routes/models.ts';
import { registerTranslateRoute } from './routes/translate.ts';

export interface AppDeps {
  readonly config: FunctionConfig;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly host: ModelHost;
  readonly shutdown: ShutdownState;
}

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw new ApiError('invalid_parameters', result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    },
  });
  app.use(requestId({ headerName: REQUEST_ID_HEADER }));
  app.use(requestLogger(deps.logger));
  app.use(accessLog(deps.metrics));
  app.use(shutdownGate(deps.shutdown));
  app.use(callerAuth(deps.config.callerToken));

  registerHealthRoutes(app, deps.host);
  registerModelRoutes(app, deps.host, deps.config, deps.metrics);
  registerTranslateRoute(app, deps);
  registerMetricsRoute(app, deps.metrics, deps.host);
  registerAdminRoutes(app, deps.host, deps.config.adminToken);

  app.get('/openapi.json', (c) =>
    c.json(
      app.getOpenAPI31Document({
        openapi: '3.1.0',
        info: {
          title: 'SA-MUNIT inference function',
          version: SERVER_VERSION,
          description:
            'Image-to-image translation with SA-MUNIT (MUNIT + self-attention). Errors are JSON {"error": {"code", "message", "requestId"}}.',
        },
      }),
    ),
  );

  app.onError(onError);
  app.notFound(onNotFound);
  return app;
}
