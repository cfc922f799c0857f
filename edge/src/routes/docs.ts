/**
 * GET /openapi.json (generated from the zod schemas the routes validate with) and GET /docs, a
 * self-contained page rendered from the same document plus the error-code table and the widget's
 * embed snippets, so the docs can never drift from the code and need no third-party script.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { EMBED_ELEMENT, EMBED_FRAME_PATH, EMBED_SCRIPT_PATH } from '../../../contract/embed.ts';
import { ERROR_CODES } from '../../../contract/errors.ts';
import type { EdgeEnv } from '../app-env.ts';
import { escapeHtml } from '../http/escape-html.ts';

export const API_VERSION = '1.0.0';

/** Copy-paste snippets for the widget, pointing at the edge that serves these docs. */
function embedSection(origin: string): string {
  const script =
    `<script type="module" src="${origin}${EMBED_SCRIPT_PATH}"></script>\n` +
    `<${EMBED_ELEMENT} key="pk_…" direction="a2b"></${EMBED_ELEMENT}>`;
  const frame = `<iframe src="${origin}${EMBED_FRAME_PATH}?key=pk_…&direction=a2b" title="Image translation" width="360" height="420" style="border:0"></iframe>`;
  return (
    '<h2>Embed in your site</h2>' +
    '<p>Use a publishable key (<code>pk_…</code>) registered for your site\'s origin ' +
    '(<code>npm run keys -- create --kind publishable --name NAME --origin https://your.site</code>). ' +
    'As a script (the widget finds this API from its own URL; refusals, such as an origin not registered for the key, are shown inside it):</p>' +
    `<pre><code>${escapeHtml(script)}</code></pre>` +
    '<p>Or as an iframe (shown only on the key\'s registered origins: the frame page carries <code>frame-ancestors</code> with them):</p>' +
    `<pre><code>${escapeHtml(frame)}</code></pre>`
  );
}

interface OperationDoc {
  summary?: string;
  parameters?: { name: string; in: string; description?: string; required?: boolean }[];
  responses?: Record<string, { description?: string }>;
}

export function registerDocsRoutes(app: OpenAPIHono<EdgeEnv>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'Secret key (sk_…) from servers; publishable key (pk_…) from browsers on its registered origins.',
  });
  const document = () =>
    app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: {
        title: 'SA-MUNIT image translation API',
        version: API_VERSION,
        description:
          'Image-to-image translation (SA-MUNIT). Results are content-addressed: the ETag is sha256 over model, direction, parameters ' +
          '(including the seed) and image bytes. Errors are JSON {"error": {"code", "message", "requestId"}}.',
      },
    });

  app.get('/openapi.json', (c) => c.json(document()));

  app.get('/docs', (c) => {
    const doc = document();
    const operations = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
      Object.entries(item as Record<string, OperationDoc>).map(([method, op]) => {
        const params = (op.parameters ?? [])
          .map((p) => `<li><code>${escapeHtml(p.name)}</code> (${p.in}${p.required ? ', required' : ''}) ${escapeHtml(p.description ?? '')}</li>`)
          .join('');
        const responses = Object.entries(op.responses ?? {})
          .map(([status, r]) => `<li><b>${status}</b> ${escapeHtml(r.description ?? '')}</li>`)
          .join('');
        return `<section><h3><code>${method.toUpperCase()} ${escapeHtml(path)}</code></h3><p>${escapeHtml(op.summary ?? '')}</p>` +
          (params === '' ? '' : `<h4>Parameters</h4><ul>${params}</ul>`) + `<h4>Responses</h4><ul>${responses}</ul></section>`;
      }),
    );
    const errors = Object.entries(ERROR_CODES)
      .map(([code, info]) => `<tr><td><code>${code}</code></td><td>${info.status}</td><td>${escapeHtml(info.description)}</td></tr>`)
      .join('');
    return c.html(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(doc.info.title)}</title>` +
        '<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}' +
        'pre{background:#f3f3f3;padding:.5em;overflow-x:auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .5em;vertical-align:top}</style></head><body>' +
        `<h1>${escapeHtml(doc.info.title)} <small>v${API_VERSION}</small></h1><p>${escapeHtml(doc.info.description ?? '')}</p>` +
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Try it in the browser: <a href="/">the web page</a>.</p>' +
        embedSection(new URL(c.req.url).origin) +
        '<h2>Endpoints</h2>' +
        operations.join('') +
        `<h2>Errors</h2><table><tr><th>code</th><th>status</th><th>meaning and fix</th></tr>${errors}</table></body></html>`,
    );
  });
}
