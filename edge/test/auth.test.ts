/** Keys, origins, CORS and the per-key rate limit (KV and the ratelimits binding in workerd). */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { callEdge, createKey, errorCodeOf, revokeKey } from './edge-harness.ts';

const translate = (headers: Record<string, string>, vars: Record<string, unknown> = {}) =>
  callEdge('/v1/translations', { method: 'POST', headers: { 'content-type': 'image/png', ...headers }, body: new Uint8Array(0) }, vars);

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

  it('403 when a secret key comes from a browser (Origin header)', async () => {
    const { token } = await createKey('secret');
    const response = await translate({ authorization: `Bearer ${token}`, origin: 'https://app.example.com' });
    expect(response.status).toBe(403);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
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

  it('403 from an unregistered origin or without an Origin, with no CORS grant', async () => {
    const { token } = await createKey('publishable', ['https://app.example.com']);
    const elsewhere = await translate({ authorization: `Bearer ${token}`, origin: 'https://evil.example.net' });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
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

describe('rate limits', () => {
  it('429 with Retry-After once a key is over its limit; other keys are unaffected', async () => {
    const vars = { RATE_LIMITER: env.TEST_RATE_LIMITER }; // limit 3 per 60 s (vitest.config.ts)
    const busy = await createKey('secret');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await translate({ authorization: `Bearer ${busy.token}` }, vars)).status);
    expect(statuses).toEqual([400, 400, 400, 429]);
    const limited = await translate({ authorization: `Bearer ${busy.token}` }, vars);
    expect(await errorCodeOf(limited)).toBe('rate_limited');
    expect(limited.headers.get('retry-after')).toBe('60');
    const other = await createKey('secret');
    expect((await translate({ authorization: `Bearer ${other.token}` }, vars)).status).toBe(400);
  });
});

describe('monthly quotas', () => {
  it('counts a key\'s requests in its Durable Object and answers 429 until next month once used up', async () => {
    const capped = await createKey('secret', [], 2);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await translate({ authorization: `Bearer ${capped.token}` })).status);
    expect(statuses).toEqual([400, 400, 429]);
    const exhausted = await translate({ authorization: `Bearer ${capped.token}` });
    const body = (await exhausted.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('rate_limited');
    expect(body.error.message).toContain('monthly quota of 2');
    expect(Number(exhausted.headers.get('retry-after'))).toBeGreaterThan(0);
    // Quotas are per key: an uncapped key goes through.
    const open = await createKey('secret');
    expect((await translate({ authorization: `Bearer ${open.token}` })).status).toBe(400);
  });
});
