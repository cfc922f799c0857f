/** Keys, origins, CORS and the per-key rate limit (KV and the ratelimits binding in workerd). */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { QuotaNamespace } from '../src/bindings.ts';
import { BASE, callEdge, createKey, errorCodeOf, revokeKey, sampleImage } from './edge-harness.ts';

const translate = (headers: Record<string, string>, vars: Record<string, unknown> = {}) =>
  callEdge('/v1/translations', { method: 'POST', headers: { 'content-type': 'image/png', ...headers }, body: new Uint8Array(0) }, vars);

/** A valid translation request (circle.png), answered 200 (MISS, then HIT for the same seed). */
const translateValid = (token: string, query: string, vars: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  callEdge(`/v1/translations?${query}`, {
    method: 'POST',
    headers: { 'content-type': 'image/png', authorization: `Bearer ${token}`, ...headers },
    body: sampleImage('circle'),
  }, vars);

describe('secret keys', () => {
  it('401 without a key, with a malformed or unknown key, and with a revoked key', async () => {
    expect(await errorCodeOf(await translate({}))).toBe('unauthorized');
    expect(await errorCodeOf(await translate({ authorization: 'Bearer nonsense' }))).toBe('unauthorized');
    expect(await errorCodeOf(await translate({ authorization: `Bearer sk_${'A'.repeat(43)}` }))).toBe('unauthorized');
    const { token, id } = await createKey('secret');
    expect(await errorCodeOf(await translate({ authorization: `Bearer ${token}` }))).toBe('empty_body'); // past the gate
    await revokeKey(token, id);
    const revoked = await translate({ authorization: `Bearer ${token}` });
    expect(revoked.status).toBe(401);
    expect(await errorCodeOf(revoked)).toBe('unauthorized');
  });

  it('403 when a secret key comes from a browser (Origin header), readable so the page can say why', async () => {
    const { token } = await createKey('secret');
    const response = await translate({ authorization: `Bearer ${token}`, origin: 'https://app.example.com' });
    expect(response.status).toBe(403);
    expect(await errorCodeOf(response)).toBe('forbidden');
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('the store holds only hashes, never the token', async () => {
    const { token } = await createKey('secret');
    const keys = env.API_KEYS as unknown as { list(): Promise<{ keys: { name: string }[] }> };
    const names = (await keys.list()).keys.map((k) => k.name);
    expect(names.some((name) => name.includes(token))).toBe(false);
    expect(names.every((name) => /^key:[0-9a-f]{64}$/.test(name))).toBe(true);
  });
});

describe('publishable keys and CORS', () => {
  it('works from a registered origin, answering CORS for that origin only and never with credentials', async () => {
    const { token } = await createKey('publishable', ['https://app.example.com']);
    const response = await translate({ authorization: `Bearer ${token}`, origin: 'https://app.example.com' });
    expect(await errorCodeOf(response)).toBe('empty_body'); // authenticated; the error is readable cross-origin
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    expect(response.headers.get('vary')).toContain('Origin');
  });

  it('403 from an unregistered origin (the refusal readable there, so a widget can show it) or without an Origin', async () => {
    const { token, id } = await createKey('publishable', ['https://app.example.com']);
    const elsewhere = await translate({ authorization: `Bearer ${token}`, origin: 'https://evil.example.net' });
    expect(elsewhere.status).toBe(403);
    // Readable, yet nothing granted: the answer is the refusal, never a result.
    expect(elsewhere.headers.get('access-control-allow-origin')).toBe('https://evil.example.net');
    expect(elsewhere.headers.get('access-control-allow-credentials')).toBeNull();
    expect(((await elsewhere.json()) as { error: { message: string } }).error.message).toBe(`origin https://evil.example.net is not registered for key ${id}`);
    const valid = await translateValid(token, 'seed=3', {}, { origin: 'https://evil.example.net' });
    expect(valid.status).toBe(403);
    expect(valid.headers.get('x-cache')).toBeNull();
    const noOrigin = await translate({ authorization: `Bearer ${token}` });
    expect(noOrigin.status).toBe(403);
    expect(await errorCodeOf(noOrigin)).toBe('forbidden');
  });

  it('answers preflights without credentials or a wildcard', async () => {
    const response = await callEdge('/v1/translations', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(response.headers.get('access-control-allow-headers')).toContain('Authorization');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });
});

describe("publishable keys from the edge's own origin (its page and iframe widget)", () => {
  // BASE is https://edge.test: the request URL's origin, which is what the exception compares with.
  const fromOrigin = (token: string, origin: string) => translate({ authorization: `Bearer ${token}`, origin });

  it('accepts any valid publishable key when Origin is exactly the request URL\'s origin', async () => {
    const { token } = await createKey('publishable', ['https://app.example.com']);
    expect(await errorCodeOf(await fromOrigin(token, BASE))).toBe('empty_body'); // past the gate
    const valid = await translateValid(token, 'seed=3', {}, { origin: BASE });
    expect(valid.status).toBe(200);
    await valid.arrayBuffer();
  });

  it('is an exact match: another scheme, port, subdomain or look-alike host is refused', async () => {
    const { token } = await createKey('publishable', ['https://app.example.com']);
    for (const origin of ['http://edge.test', 'https://edge.test:8443', 'https://www.edge.test', 'https://edge.test.example.net', 'null']) {
      const response = await fromOrigin(token, origin);
      expect([origin, response.status]).toEqual([origin, 403]);
    }
  });

  it('covers publishable keys only: secret keys stay refused, unknown and revoked keys stay 401', async () => {
    const secret = await createKey('secret');
    const fromBrowser = await fromOrigin(secret.token, BASE);
    expect(fromBrowser.status).toBe(403);
    expect(await errorCodeOf(fromBrowser)).toBe('forbidden');
    expect((await fromOrigin(`pk_${'A'.repeat(43)}`, BASE)).status).toBe(401);
    const revoked = await createKey('publishable', ['https://app.example.com']);
    await revokeKey(revoked.token, revoked.id);
    expect((await fromOrigin(revoked.token, BASE)).status).toBe(401);
  });

  it('needs the Origin header itself: a publishable key without one is still refused', async () => {
    const { token } = await createKey('publishable', ['https://app.example.com']);
    const response = await callEdge('/v1/translations', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png', referer: `${BASE}/` }, body: new Uint8Array(0) });
    expect(response.status).toBe(403);
  });
});

describe('rate limits', () => {
  it('charges only valid requests, then answers 429 with Retry-After once a key is over its limit', async () => {
    const vars = { RATE_LIMITER: env.TEST_RATE_LIMITER }; // limit 3 per 60 s (vitest.config.ts)
    const busy = await createKey('secret');
    const statuses: number[] = [];
    // Malformed requests (no image, a bad parameter) are refused before the rate limit is charged.
    for (let i = 0; i < 3; i += 1) statuses.push((await translate({ authorization: `Bearer ${busy.token}` }, vars)).status);
    statuses.push((await translateValid(busy.token, 'seed=nope', vars)).status);
    for (let i = 0; i < 3; i += 1) statuses.push((await translateValid(busy.token, 'seed=31', vars)).status);
    expect(statuses).toEqual([400, 400, 400, 400, 200, 200, 200]);
    const limited = await translateValid(busy.token, 'seed=31', vars);
    expect(limited.status).toBe(429);
    expect(await errorCodeOf(limited)).toBe('rate_limited');
    expect(limited.headers.get('retry-after')).toBe('60');
    const other = await createKey('secret');
    expect((await translateValid(other.token, 'seed=31', vars)).status).toBe(200);
  });
});

describe('monthly quotas', () => {
  it('counts answered translations only (not malformed requests, 304s or the edge\'s 5xx) and answers 429 once used up', async () => {
    const capped = await createKey('secret', [], 2);
    const statuses: number[] = [];
    statuses.push((await translate({ authorization: `Bearer ${capped.token}` })).status); // 400: not charged
    const first = await translateValid(capped.token, 'seed=41'); // charged (1)
    statuses.push(first.status);
    statuses.push((await translateValid(capped.token, 'seed=41', {}, { 'if-none-match': first.headers.get('etag')! })).status); // 304: not charged
    const unusedSeed = 880_000 + Math.floor(Math.random() * 1_000_000);
    statuses.push((await translateValid(capped.token, `seed=${unusedSeed}`, {}, { 'x-request-timeout-ms': '1' })).status); // 503: refunded
    statuses.push((await translateValid(capped.token, 'seed=41')).status); // HIT, charged (2)
    expect(statuses).toEqual([400, 200, 304, 503, 200]);
    const exhausted = await translateValid(capped.token, 'seed=41');
    const body = (await exhausted.json()) as { error: { code: string; message: string } };
    expect(exhausted.status).toBe(429);
    expect(body.error.code).toBe('rate_limited');
    expect(body.error.message).toContain('monthly quota of 2');
    expect(Number(exhausted.headers.get('retry-after'))).toBeGreaterThan(0);
    // Quotas are per key: an uncapped key goes through.
    const open = await createKey('secret');
    expect((await translateValid(open.token, 'seed=41')).status).toBe(200);
  });

  it('takes the month from the Durable Object\'s clock and keeps one counter per month', async () => {
    const namespace = env.KEY_QUOTAS as QuotaNamespace;
    const stub = namespace.get(namespace.idFromName(`month-test-${Math.random()}`) as never);
    const first = await stub.consume(1);
    expect(first).toMatchObject({ allowed: true, used: 1, month: new Date().toISOString().slice(0, 7) });
    expect((await stub.consume(1)).allowed).toBe(false);
    // A refund for another month (a request charged before midnight) cannot touch this month's count.
    await stub.refund('2000-01');
    expect((await stub.consume(1)).allowed).toBe(false);
    await stub.refund(first.month);
    expect((await stub.consume(1)).allowed).toBe(true);
  });
});
