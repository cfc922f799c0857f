/**
 * GET /page/config.json: what the edge's own web page (edge/page/, served as static assets) needs
 * from the Worker's configuration: the publishable key it uses unless the visitor gives another
 * (PAGE_PUBLISHABLE_KEY; null when unset). A publishable key is public by design: it only works
 * from its registered origins (and the edge's own), so handing it out gives nothing away.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { PAGE_CONFIG_PATH, type PageConfig } from '../../../contract/embed.ts';
import type { EdgeEnv } from '../app-env.ts';
import { loadConfig } from '../config.ts';

export function registerPageConfigRoute(app: OpenAPIHono<EdgeEnv>): void {
  app.get(PAGE_CONFIG_PATH, function pageConfigRoute(c) {
    const body: PageConfig = { publishableKey: loadConfig(c.env).pagePublishableKey ?? null };
    // A key can be rotated with a redeploy; the page must not keep an old one.
    c.header('Cache-Control', 'no-store');
    return c.json(body);
  });
}
