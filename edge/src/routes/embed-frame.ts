/**
 * GET /embed/frame?key=pk_…&direction=a2b: the translate widget (/embed.js) in a page of its own,
 * for sites that prefer an iframe to a script tag.
 *
 * Inside the frame the widget calls the API from the edge's own origin, which authenticate()
 * accepts for any publishable key (auth/own-origin.ts). What keeps a key to the sites it was
 * registered for is this page's `Content-Security-Policy: frame-ancestors <the key's origins>`:
 * browsers refuse to show it framed anywhere else. So the key is looked up here, server-side, on
 * every request (no-store: a revoked key stops working at once), and a key that cannot be embedded
 * gets a short page saying why instead of the widget; that page embeds nothing, so it may be
 * framed anywhere and the embedding site sees the reason.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { DEFAULT_DIRECTION, EMBED_ELEMENT, EMBED_FRAME_PATH, EMBED_SCRIPT_PATH } from '../../../contract/embed.ts';
import { translateParamsSchema } from '../../../contract/translate-params.ts';
import type { EdgeEnv } from '../app-env.ts';
import { findApiKey } from '../auth/api-keys.ts';
import { loadConfig } from '../config.ts';
import { escapeHtml } from '../http/escape-html.ts';

/**
 * The widget's page may run the edge's own script and talk to the edge's own API, nothing else;
 * result images are blob: URLs. The widget styles itself with constructed stylesheets, which
 * style-src does not govern, so no inline style is allowed either.
 */
function widgetPolicy(frameAncestors: readonly string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "connect-src 'self'",
    "img-src 'self' blob: data:",
    "style-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    // Origins come from the key record, validated as scheme://host[:port] (auth/api-keys.ts).
    `frame-ancestors ${frameAncestors.join(' ')}`,
  ].join('; ');
}

const REFUSAL_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'";

function page(title: string, head: string, body: string): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeHtml(title)}</title>${head}</head><body>${body}</body></html>`
  );
}

function refusal(c: Context<EdgeEnv>, status: 400 | 401 | 403, reason: string): Response {
  c.header('Content-Security-Policy', REFUSAL_POLICY);
  c.header('Cache-Control', 'no-store');
  return c.html(page('Translation widget unavailable', '', `<p>The translation widget cannot be shown here: ${escapeHtml(reason)}</p>`), status);
}

export function registerEmbedFrameRoute(app: OpenAPIHono<EdgeEnv>): void {
  app.get(EMBED_FRAME_PATH, async function embedFrameRoute(c) {
    const config = loadConfig(c.env);
    const token = c.req.query('key') ?? '';
    const direction = c.req.query('direction') ?? DEFAULT_DIRECTION;
    if (token === '') return refusal(c, 400, 'the frame URL names no key (?key=pk_…).');
    if (!translateParamsSchema.safeParse({ direction }).success) {
      return refusal(c, 400, 'the direction must be a2b, b2a or <domain>-to-<domain>.');
    }
    const key = await findApiKey(config.apiKeys, token);
    if (key === undefined) return refusal(c, 401, 'its API key is unknown.');
    if (key.revoked_at !== null) return refusal(c, 401, 'its API key was revoked.');
    if (key.kind !== 'publishable') {
      return refusal(c, 403, 'this is a secret key (sk_…), which must never appear in a web page: revoke it and embed a publishable key (pk_…).');
    }

    c.header('Content-Security-Policy', widgetPolicy(key.origins));
    c.header('Cache-Control', 'no-store');
    // The key is in this frame's URL: keep it out of the Referer of anything the page loads.
    c.header('Referrer-Policy', 'no-referrer');
    return c.html(
      page(
        'Image translation',
        `<script type="module" src="${EMBED_SCRIPT_PATH}"></script>`,
        `<${EMBED_ELEMENT} key="${escapeHtml(token)}" direction="${escapeHtml(direction)}"></${EMBED_ELEMENT}>`,
      ),
    );
  });
}
