/**
 * POST /v1/translations and GET /v1/results against a real function process: content addressing,
 * the Cache API → R2 → function path, conditional requests, and every malformed upload class.
 */
import { describe, expect, it } from 'vitest';
import { CONTENT_ADDRESS_PATTERN } from '../../contract/content-address.ts';
import { callEdge, createKey, errorCodeOf, functionTranslateCount, sampleImage } from './edge-harness.ts';

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];

async function secretKeyHeaders(): Promise<Record<string, string>> {
  const { token } = await createKey('secret');
  return { authorization: `Bearer ${token}`, 'content-type': 'image/png' };
}

describe('POST /v1/translations: happy path', () => {
  it('misses once, then serves the cached result without contacting the function', async () => {
    const headers = await secretKeyHeaders();
    const image = sampleImage('circle');
    const before = await functionTranslateCount();

    const miss = await callEdge('/v1/translations?seed=4242&direction=a2b', { method: 'POST', headers, body: image });
    expect(miss.status).toBe(200);
    expect(miss.headers.get('x-cache')).toBe('MISS');
    const etag = miss.headers.get('etag')!;
    expect(etag.replace(/"/g, '')).toMatch(CONTENT_ADDRESS_PATTERN);
    expect(miss.headers.get('cache-control')).toContain('immutable');
    expect(miss.headers.get('x-seed')).toBe('4242');
    expect(miss.headers.get('x-model-version')).toBeTruthy();
    expect(miss.headers.get('content-type')).toBe('image/png');
    const missBytes = new Uint8Array(await miss.arrayBuffer());
    expect([...missBytes.slice(0, 4)]).toEqual(PNG_MAGIC);
    expect(await functionTranslateCount()).toBe(before + 1);

    // Same request spelled differently (n=01, default direction): same address, served from cache.
    const hit = await callEdge('/v1/translations?n=01&seed=4242', { method: 'POST', headers, body: image });
    expect(hit.status).toBe(200);
    expect(hit.headers.get('x-cache')).toBe('HIT');
    expect(hit.headers.get('etag')).toBe(etag);
    expect(new Uint8Array(await hit.arrayBuffer())).toEqual(missBytes);
    expect(await functionTranslateCount()).toBe(before + 1);

    // The immutable result URL serves the same bytes, publicly.
    const result = await callEdge(miss.headers.get('content-location')!);
    expect(result.status).toBe(200);
    expect(result.headers.get('etag')).toBe(etag);
    expect(result.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(result.headers.get('access-control-allow-origin')).toBe('*');
    expect(new Uint8Array(await result.arrayBuffer())).toEqual(missBytes);
  });

  it('chooses a seed when none is given, so the result is addressable and reproducible', async () => {
    const headers = await secretKeyHeaders();
    const image = sampleImage('square');
    const first = await callEdge('/v1/translations?direction=b2a', { method: 'POST', headers, body: image });
    expect(first.status).toBe(200);
    const seed = first.headers.get('x-seed');
    expect(seed).toMatch(/^\d+$/);
    const again = await callEdge(`/v1/translations?direction=b2a&seed=${seed}`, { method: 'POST', headers, body: image });
    expect(again.headers.get('x-cache')).toBe('HIT');
    expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
  });

  it('answers 304 to If-None-Match naming the address, on POST and on the result URL', async () => {
    const headers = await secretKeyHeaders();
    const image = sampleImage('circle');
    const first = await callEdge('/v1/translations?seed=99', { method: 'POST', headers, body: image });
    const etag = first.headers.get('etag')!;
    const before = await functionTranslateCount();
    const conditional = await callEdge('/v1/translations?seed=99', { method: 'POST', headers: { ...headers, 'if-none-match': etag }, body: image });
    expect(conditional.status).toBe(304);
    expect(conditional.headers.get('etag')).toBe(etag);
    const conditionalGet = await callEdge(`/v1/results/${etag.replace(/"/g, '')}`, { headers: { 'if-none-match': `W/${etag}` } });
    expect(conditionalGet.status).toBe(304);
    // A different seed is a different address: no 304.
    const other = await callEdge('/v1/translations?seed=100', { method: 'POST', headers: { ...headers, 'if-none-match': etag }, body: image });
    expect(other.status).toBe(200);
    expect(other.headers.get('etag')).not.toBe(etag);
    expect(await functionTranslateCount()).toBe(before + 1);
  });

  it('If-None-Match: * answers 304 only when the result exists', async () => {
    const headers = await secretKeyHeaders();
    const image = sampleImage('square');
    const seed = 770_001 + Math.floor(Math.random() * 1_000_000);
    const fresh = await callEdge(`/v1/translations?seed=${seed}`, { method: 'POST', headers: { ...headers, 'if-none-match': '*' }, body: image });
    expect(fresh.status).toBe(200); // nothing stored yet: the translation goes ahead
    expect(fresh.headers.get('x-cache')).toBe('MISS');
    const again = await callEdge(`/v1/translations?seed=${seed}`, { method: 'POST', headers: { ...headers, 'if-none-match': '*' }, body: image });
    expect(again.status).toBe(304);
    const missing = await callEdge(`/v1/results/${'0'.repeat(64)}`, { headers: { 'if-none-match': '*' } });
    expect(missing.status).toBe(404);
    const stored = await callEdge(`/v1/results/${fresh.headers.get('etag')!.replace(/"/g, '')}`, { headers: { 'if-none-match': '*' } });
    expect(stored.status).toBe(304);
  });

  it('accepts multipart uploads with parameters as fields and domain-name directions', async () => {
    const headers = await secretKeyHeaders();
    const models = (await (await callEdge('/v1/models')).json()) as { models: { directions: { a2b: string } }[] };
    const form = new FormData();
    form.set('image', new Blob([sampleImage('circle')], { type: 'image/png' }), 'circle.png');
    form.set('seed', '4242');
    form.set('direction', models.models[0]!.directions.a2b);
    const response = await callEdge('/v1/translations', { method: 'POST', headers: { authorization: headers.authorization! }, body: form });
    expect(response.status).toBe(200);
    // Same normalised request as the first test's raw upload: the same content address.
    const raw = await callEdge('/v1/translations?seed=4242&direction=a2b', { method: 'POST', headers, body: sampleImage('circle') });
    expect(response.headers.get('etag')).toBe(raw.headers.get('etag'));
  });

  it('accepts multipart with a mixed-case boundary, as Chrome and Safari send it', async () => {
    const { authorization } = await secretKeyHeaders();
    const boundary = '----WebKitFormBoundaryAbCdEfGh7XyZ';
    const encoder = new TextEncoder();
    const head = encoder.encode(
      `--${boundary}\r\nContent-Disposition: form-data; name="seed"\r\n\r\n4242\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="circle.png"\r\nContent-Type: image/png\r\n\r\n`,
    );
    const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
    const image = sampleImage('circle');
    const body = new Uint8Array(head.byteLength + image.byteLength + tail.byteLength);
    body.set(head, 0);
    body.set(image, head.byteLength);
    body.set(tail, head.byteLength + image.byteLength);
    const response = await callEdge('/v1/translations', {
      method: 'POST',
      headers: { authorization: authorization!, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-seed')).toBe('4242');
  });

  it('forwards a style reference image as multipart and addresses it by both images', async () => {
    const { authorization } = await secretKeyHeaders();
    const send = async (extra: Record<string, string> = {}) => {
      const form = new FormData();
      form.set('image', new Blob([sampleImage('circle')], { type: 'image/png' }), 'circle.png');
      form.set('style_image', new Blob([sampleImage('square')], { type: 'image/png' }), 'square.png');
      for (const [name, value] of Object.entries(extra)) form.set(name, value);
      return callEdge('/v1/translations', { method: 'POST', headers: { authorization: authorization! }, body: form });
    };
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(first.headers.get('x-seed')).toBeNull(); // the style comes from the reference, not a seed
    const again = await send();
    expect(again.headers.get('x-cache')).toBe('HIT');
    expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
    const both = await send({ seed: '3' });
    expect(both.status).toBe(400);
    expect(await errorCodeOf(both)).toBe('invalid_parameters');
  });

  it('serves n > 1 as JSON with one seed per output', async () => {
    const headers = await secretKeyHeaders();
    const response = await callEdge('/v1/translations?seed=7&n=2', { method: 'POST', headers, body: sampleImage('square') });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { outputs: { seed: number }[] };
    expect(body.outputs.map((o) => o.seed)).toEqual([7, 8]);
  });

  it('lists the served models from the functions', async () => {
    const response = await callEdge('/v1/models');
    expect(response.status).toBe(200);
    const body = (await response.json()) as { models: { name: string; version: string; domains: object }[] };
    expect(body.models[0]).toMatchObject({ name: expect.any(String), version: expect.any(String), domains: expect.any(Object) });
  });
});

describe('POST /v1/translations: malformed uploads get stable codes before any function work', () => {
  const cases: [string, () => Promise<RequestInit>, string, number][] = [
    ['empty body', async () => ({ body: new Uint8Array(0) }), 'empty_body', 400],
    ['wrong magic', async () => ({ body: new TextEncoder().encode('GIF89a not an accepted image') }), 'unsupported_media_type', 415],
    ['wrong content type', async () => ({ body: sampleImage('circle'), headers: { 'content-type': 'text/plain' } }), 'unsupported_media_type', 415],
    ['too large (declared)', async () => ({ body: new Uint8Array(2048).fill(0xff) }), 'payload_too_large', 413],
    ['bad parameter', async () => ({ body: sampleImage('circle'), query: '?n=99' }), 'invalid_parameters', 400],
    ['unknown parameter', async () => ({ body: sampleImage('circle'), query: '?colour=red' }), 'invalid_parameters', 400],
    ['unknown direction', async () => ({ body: sampleImage('circle'), query: '?direction=cats-to-dogs' }), 'unknown_direction', 400],
    ['multipart without image', async () => ({ body: (() => { const f = new FormData(); f.set('seed', '1'); return f; })(), headers: {} }), 'empty_body', 400],
  ];
  for (const [name, make, code, status] of cases) {
    it(`${name} → ${status} ${code}`, async () => {
      const headers = await secretKeyHeaders();
      const { query = '', headers: extra, ...init } = (await make()) as RequestInit & { query?: string };
      const before = await functionTranslateCount();
      // FormData sets its own multipart Content-Type (with the boundary).
      const { 'content-type': rawType, ...auth } = headers;
      const base = init.body instanceof FormData ? auth : { 'content-type': rawType!, ...auth };
      const response = await callEdge(`/v1/translations${query}`, { method: 'POST', ...init, headers: { ...base, ...(extra as Record<string, string> | undefined) } }, { MAX_UPLOAD_BYTES: '1024' });
      expect(response.status).toBe(status);
      expect(await errorCodeOf(response)).toBe(code);
      expect(await functionTranslateCount()).toBe(before);
    });
  }

  it('too large without Content-Length (streamed) → 413', async () => {
    const headers = await secretKeyHeaders();
    const chunk = new Uint8Array(600).fill(0x89);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk);
        controller.enqueue(chunk);
        controller.close();
      },
    });
    const response = await callEdge('/v1/translations', { method: 'POST', headers, body, duplex: 'half' } as RequestInit, { MAX_UPLOAD_BYTES: '1024' });
    expect(response.status).toBe(413);
    expect(await errorCodeOf(response)).toBe('payload_too_large');
  });

  it('truncated image → the function\'s invalid_image, under the edge\'s request id', async () => {
    const headers = await secretKeyHeaders();
    const truncated = sampleImage('circle').slice(0, 40);
    const response = await callEdge('/v1/translations?seed=1', { method: 'POST', headers: { ...headers, 'x-request-id': 'truncated-1' }, body: truncated });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; requestId: string } };
    expect(body.error).toMatchObject({ code: 'invalid_image', requestId: 'truncated-1' });
  });

  it('GET on the translation route → 405; unknown result → 404', async () => {
    expect(await errorCodeOf(await callEdge('/v1/translations'))).toBe('method_not_allowed');
    const missing = await callEdge(`/v1/results/${'0'.repeat(64)}`);
    expect(missing.status).toBe(404);
    expect(await errorCodeOf(missing)).toBe('not_found');
  });

  it('a bad environment is a 500 naming the variable', async () => {
    const response = await callEdge('/v1/models', {}, { FUNCTION_POOL: 'not a url', MAX_ATTEMPTS: 'many' });
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('internal');
    expect(body.error.message).toContain('FUNCTION_POOL');
    expect(body.error.message).toContain('MAX_ATTEMPTS');
  });

  it('refuses an upload limit over 25 MiB (a Worker has 128 MB)', async () => {
    const response = await callEdge('/v1/models', {}, { MAX_UPLOAD_BYTES: String(25 * 1024 * 1024 + 1) });
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain('MAX_UPLOAD_BYTES: must be at most 26214400');
    expect((await callEdge('/v1/models', {}, { MAX_UPLOAD_BYTES: String(25 * 1024 * 1024) })).status).toBe(200);
  });
});
