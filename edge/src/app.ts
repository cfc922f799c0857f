/**
 * The edge's Hono app: middleware in the order a request meets it, then one registration per route
 * family. Nothing here reads the environment; config.ts parses it per request (cached per env).
 * The web page, /embed.js and the samples are static assets (edge/page/, wrangler [assets]): they
 * never reach this app; the routes below are the ones wrangler.toml's run_worker_first sends here.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { requestId } from 'hono/request-id';
import { ApiError } from '../../contract/errors.ts';
import { REQUEST_ID_HEADER } from '../../contract/headers.ts';
import type { EdgeEnv } from './app-env.ts';
import { preflight, publicCors } from './auth/cors.ts';
import { loadConfig } from './config.ts';
import { onError, onNotFound } from './http/error-handler.ts';
import { registerBatchRoutes } from './routes/batches.ts';
import { registerDocsRoutes } from './routes/docs.ts';
import { registerEmbedFrameRoute } from './routes/embed-frame.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerModelRoutes } from './routes/models.ts';
import { registerPageConfigRoute } from './routes/page-config.ts';
import { registerResultRoutes } from './routes/results.ts';
import { registerTranslationRoutes } from './routes/translations.ts';

export function createApp(): OpenAPIHono<EdgeEnv> {
  const app = new OpenAPIHono<EdgeEnv>({
    defaultHook: (result) => {
      if (!result.success) throw new ApiError('invalid_parameters', result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    },
  });
  app.use(requestId({ headerName: REQUEST_ID_HEADER }));
  app.use('/v1/*', preflight());
  app.use('/v1/*', async function withConfig(c, next) {
    c.set('config', loadConfig(c.env));
    await next();
  });
  app.use('/v1/results/*', publicCors());
  app.use('/v1/models', publicCors());
  app.use('/openapi.json', publicCors());

  registerHealthRoutes(app);
  registerTranslationRoutes(app);
  registerBatchRoutes(app);
  registerResultRoutes(app);
  registerModelRoutes(app);
  registerDocsRoutes(app);
  registerPageConfigRoute(app);
  registerEmbedFrameRoute(app);

  app.onError(onError);
  app.notFound(onNotFound);
  return app;
}
