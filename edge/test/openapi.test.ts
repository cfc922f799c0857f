/** The OpenAPI document is generated from the route schemas; the docs page lists every error code and the embed snippets. */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../contract/errors.ts';
import { callEdge } from './edge-harness.ts';

describe('API documentation', () => {
  it('serves OpenAPI 3.1 with every public route and the shared parameter schema', async () => {
    const response = await callEdge('/openapi.json');
    expect(response.status).toBe(200);
    const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, { parameters?: { name: string }[] }>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/translations', '/v1/results/{address}', '/v1/models']));
    const names = doc.paths['/v1/translations']!['post']!.parameters!.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['seed', 'direction', 'n', 'format']));
  });

  it('renders a human-readable page with every error code', async () => {
    const response = await callEdge('/docs');
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    expect(html).toContain('/v1/translations');
    for (const code of Object.keys(ERROR_CODES)) expect(html).toContain(`<code>${code}</code>`);
  });

  it('gives copy-paste embed snippets (script and iframe) pointing at this edge', async () => {
    const html = await (await callEdge('/docs')).text();
    expect(html).toContain('&lt;script type=&quot;module&quot; src=&quot;https://edge.test/embed.js&quot;&gt;&lt;/script&gt;');
    expect(html).toContain('&lt;sa-munit-translate key=&quot;pk_…&quot; direction=&quot;a2b&quot;&gt;&lt;/sa-munit-translate&gt;');
    expect(html).toContain('&lt;iframe src=&quot;https://edge.test/embed/frame?key=pk_…&amp;direction=a2b&quot;');
  });

  it('answers unknown routes with the JSON error shape and the request id', async () => {
    const response = await callEdge('/v2/nothing', { headers: { 'x-request-id': 'abc-123' } });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: 'not_found', message: 'no route for GET /v2/nothing', requestId: 'abc-123' } });
    expect(response.headers.get('x-request-id')).toBe('abc-123');
  });
});
