/**
 * The edge under `wrangler dev` (workerd, local R2/KV/rate-limit bindings) forwarding to two real
 * function processes: a miss then a hit that the functions see once, failover while one replica is
 * hung (SIGSTOP) and its breaker opening, then closing again once it answers (SIGCONT), keys
 * created with the keys CLI in the same local store (secret and publishable, with CORS), and the
 * malformed upload classes answered with stable codes through workerd.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from '../edge/cli/keys.ts';
import { committedModelDir } from './support/committed-model.ts';
import { startFunction, type FunctionProcess } from './support/function-process.ts';
import { startWranglerDev, type WranglerDev } from './support/wrangler-dev.ts';

const ROOT = resolve(import.meta.dirname, '..');

let functions: FunctionProcess[] = [];
let edge: WranglerDev | undefined;
let persistTo = '';
let token = '';
let publishableToken = '';
let image: Uint8Array;

/** Translate requests a function has answered, from its /metrics. */
async function translateCount(fn: FunctionProcess): Promise<number> {
  const text = await (await fetch(`${fn.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => /^nv_inference_request_(success|failure)[{ ]/.test(line))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

const totalCount = async () => (await Promise.all(functions.map(translateCount))).reduce((a, b) => a + b, 0);

const translate = (query: string) =>
  fetch(`${edge!.url}/v1/translations?${query}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' }, body: image });

async function breakerStates(): Promise<string[]> {
  const body = (await (await fetch(`${edge!.url}/readyz`)).json()) as { replicas: { breaker: string }[] };
  return body.replicas.map((replica) => replica.breaker);
}

beforeAll(async () => {
  image = new Uint8Array(await readFile(join(ROOT, 'samples/circle.png')));
  persistTo = await mkdtemp(join(tmpdir(), 'edge-dev-'));
  const model = await committedModelDir();
  functions = await Promise.all([0, 1].map(() => startFunction({ MODEL_SOURCE: model, INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1' })));
  await Promise.all(functions.map((fn) => fn.waitUntilReady()));
  const store = { remote: false, env: undefined, persistTo };
  token = (await createKey(store, { kind: 'secret', name: 'integration', origins: [] })).token;
  publishableToken = (await createKey(store, { kind: 'publishable', name: 'web', origins: ['http://localhost:5173'] })).token;
  edge = await startWranglerDev({
    persistTo,
    vars: {
      FUNCTION_POOL: functions.map((fn) => fn.url).join(','),
      ATTEMPT_TIMEOUT_MS: '1500',
      BREAKER_FAILURE_THRESHOLD: '1',
      BREAKER_COOLDOWN_MS: '1000',
      MODELS_TTL_MS: '600000',
      MAX_UPLOAD_BYTES: '65536',
    },
  });
});

afterAll(async () => {
  for (const fn of functions) fn.child.kill('SIGCONT');
  await edge?.stop();
  await Promise.all(functions.map((fn) => fn.stop()));
  if (persistTo !== '') await rm(persistTo, { recursive: true, force: true });
});

describe('edge under wrangler dev with real functions', () => {
  it('refuses requests without a key (the CLI-created key is the only way in)', async () => {
    const response = await fetch(`${edge!.url}/v1/translations`, { method: 'POST', body: image });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  });

  it('misses once, then hits without any function seeing the request', async () => {
    const before = await totalCount();
    const miss = await translate('seed=31337');
    expect(miss.status).toBe(200);
    expect(miss.headers.get('x-cache')).toBe('MISS');
    const bytes = new Uint8Array(await miss.arrayBuffer());
    expect(await totalCount()).toBe(before + 1);
    const hit = await translate('seed=31337');
    expect(hit.headers.get('x-cache')).toBe('HIT');
    expect(hit.headers.get('etag')).toBe(miss.headers.get('etag'));
    expect(new Uint8Array(await hit.arrayBuffer())).toEqual(bytes);
    const conditional = await fetch(`${edge!.url}${miss.headers.get('content-location')}`, { headers: { 'if-none-match': miss.headers.get('etag')! } });
    expect(conditional.status).toBe(304);
    expect(await totalCount()).toBe(before + 1);
  });

  it('fails over from a hung replica, opens its breaker, and closes it once the replica answers again', async () => {
    const [hung] = functions;
    hung!.child.kill('SIGSTOP');
    try {
      // Power of two choices sends a request to the hung replica first about half the time: keep
      // translating until one has been (each must still succeed, via the other replica).
      let states = await breakerStates();
      for (let seed = 1; seed <= 20 && states[0] !== 'open'; seed += 1) {
        const response = await translate(`seed=${seed}`);
        expect(response.status).toBe(200);
        await response.arrayBuffer();
        states = await breakerStates();
      }
      expect(states).toEqual(['open', 'closed']);
    } finally {
      hung!.child.kill('SIGCONT');
    }
    await new Promise((wake) => setTimeout(wake, 1200)); // the cooldown
    let states = await breakerStates();
    for (let seed = 100; seed < 120 && states[0] !== 'closed'; seed += 1) {
      const response = await translate(`seed=${seed}`);
      expect(response.status).toBe(200);
      await response.arrayBuffer();
      states = await breakerStates();
    }
    expect(states).toEqual(['closed', 'closed']);
  });

  it('answers publishable keys from their origin only, with CORS for that origin and no credentials', async () => {
    const from = (origin: string) =>
      fetch(`${edge!.url}/v1/translations?seed=31337`, {
        method: 'POST',
        headers: { authorization: `Bearer ${publishableToken}`, 'content-type': 'image/png', origin },
        body: image,
      });
    const allowed = await from('http://localhost:5173');
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('x-cache')).toBe('HIT'); // same address as the secret key's request
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    const refused = await from('https://elsewhere.example');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers every malformed upload class with its stable code, without function work', async () => {
    const before = await totalCount();
    const cases: [string, Uint8Array, string, number][] = [
      ['', new Uint8Array(0), 'empty_body', 400],
      ['', new TextEncoder().encode('GIF89a......'), 'unsupported_media_type', 415],
      ['', new Uint8Array(70_000).fill(0x89), 'payload_too_large', 413],
      ['n=0', image, 'invalid_parameters', 400],
      ['direction=up', image, 'unknown_direction', 400],
    ];
    for (const [query, body, code, status] of cases) {
      const response = await fetch(`${edge!.url}/v1/translations?${query}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' },
        body,
      });
      expect([code, response.status]).toEqual([code, status]);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect(await totalCount()).toBe(before);
    // Truncated: the magic bytes pass, the function cannot decode it; its code comes through.
    const truncated = await fetch(`${edge!.url}/v1/translations?seed=5`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' },
      body: image.slice(0, 40),
    });
    expect(truncated.status).toBe(400);
    expect(((await truncated.json()) as { error: { code: string } }).error.code).toBe('invalid_image');
  });
});
