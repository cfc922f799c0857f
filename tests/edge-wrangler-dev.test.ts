/**
 * The edge under `wrangler dev` (workerd, local R2/KV/rate-limit bindings) forwarding to two real
 * function processes: a miss then a hit that the functions see once, failover while one replica is
 * hung (SIGSTOP) and its breaker opening, then closing again once it answers (SIGCONT), keys
 * created with the keys CLI in the same local store (secret and publishable, with CORS and
 * preflights), the per-key rate limit, If-None-Match on POST, multipart (with a browser's
 * mixed-case boundary) and streamed uploads without Content-Length, and the malformed upload
 * classes answered with stable codes through workerd.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from '../edge/cli/keys.ts';
import { EMBEDDED_MODEL_DIR } from '../functions/config.ts';
import { startFunction, type FunctionProcess } from './support/function-process.ts';
import { startWranglerDev, type WranglerDev } from './support/wrangler-dev.ts';

const ROOT = resolve(import.meta.dirname, '..');

let functions: FunctionProcess[] = [];
let edge: WranglerDev | undefined;
let persistTo = '';
let token = '';
let publishableToken = '';
let limitedToken = '';
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

/** A browser-style multipart body (Chrome's mixed-case boundary) with the image and text fields. */
function browserMultipart(fields: Record<string, string>, png: Uint8Array): { body: Uint8Array; contentType: string } {
  const boundary = '----WebKitFormBoundary7MA4YWxkTrZu0gW';
  const encoder = new TextEncoder();
  const text = Object.entries(fields)
    .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
    .join('');
  const head = encoder.encode(`${text}--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="circle.png"\r\nContent-Type: image/png\r\n\r\n`);
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const body = new Uint8Array(head.byteLength + png.byteLength + tail.byteLength);
  body.set(head, 0);
  body.set(png, head.byteLength);
  body.set(tail, head.byteLength + png.byteLength);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** A request body streamed in small chunks, so fetch sends it chunked, without Content-Length. */
function streamOf(bytes: Uint8Array, chunk = 256): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunk));
      offset += chunk;
    },
  });
}

const translate = (query: string) =>
  fetch(`${edge!.url}/v1/translations?${query}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' }, body: image });

async function breakerStates(): Promise<string[]> {
  const body = (await (await fetch(`${edge!.url}/readyz`)).json()) as { replicas: { breaker: string }[] };
  return body.replicas.map((replica) => replica.breaker);
}

beforeAll(async () => {
  image = new Uint8Array(await readFile(join(ROOT, 'samples/circle.png')));
  persistTo = await mkdtemp(join(tmpdir(), 'edge-dev-'));
  const model = EMBEDDED_MODEL_DIR;
  functions = await Promise.all([0, 1].map(() => startFunction({ MODEL_SOURCE: model, INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1' })));
  await Promise.all(functions.map((fn) => fn.waitUntilReady()));
  const store = { remote: false, env: undefined, persistTo };
  token = (await createKey(store, { kind: 'secret', name: 'integration', origins: [] })).token;
  publishableToken = (await createKey(store, { kind: 'publishable', name: 'web', origins: ['http://localhost:5173'] })).token;
  limitedToken = (await createKey(store, { kind: 'secret', name: 'rate-limited', origins: [] })).token;
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
    // The refusal is readable there (a widget shows it), but it is all that origin gets.
    expect(refused.headers.get('access-control-allow-origin')).toBe('https://elsewhere.example');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('forbidden');
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

  it('answers a CORS preflight for any origin, granting nothing on its own', async () => {
    const response = await fetch(`${edge!.url}/v1/translations`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(response.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('answers If-None-Match on POST with 304 and no function work; `*` only once the result exists', async () => {
    const first = await translate('seed=31337');
    const etag = first.headers.get('etag')!;
    await first.arrayBuffer();
    const before = await totalCount();
    const post = (query: string, ifNoneMatch: string) =>
      fetch(`${edge!.url}/v1/translations?${query}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png', 'if-none-match': ifNoneMatch },
        body: image,
      });
    const named = await post('seed=31337', etag);
    expect(named.status).toBe(304);
    expect(named.headers.get('etag')).toBe(etag);
    expect((await post('seed=31337', '*')).status).toBe(304);
    const fresh = await post('seed=424242', '*'); // nothing stored under this address: translated
    expect(fresh.status).toBe(200);
    await fresh.arrayBuffer();
    expect(await totalCount()).toBe(before + 1);
  });

  it('accepts a browser\'s multipart upload (mixed-case boundary) with parameters as fields', async () => {
    const { body, contentType } = browserMultipart({ seed: '31337' }, image);
    const response = await fetch(`${edge!.url}/v1/translations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
      body,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-cache')).toBe('HIT'); // the same address as the raw upload with seed 31337
    await response.arrayBuffer();
  });

  it('rate-limits a key (120/min locally) with 429 rate_limited and Retry-After; other keys go on', async () => {
    const send = () =>
      fetch(`${edge!.url}/v1/translations?seed=31337`, {
        method: 'POST',
        headers: { authorization: `Bearer ${limitedToken}`, 'content-type': 'image/png' },
        body: image,
      });
    // Malformed requests are not charged: these do not count towards the limit.
    const malformed = await fetch(`${edge!.url}/v1/translations?n=0`, {
      method: 'POST',
      headers: { authorization: `Bearer ${limitedToken}`, 'content-type': 'image/png' },
      body: image,
    });
    expect(malformed.status).toBe(400);
    // Cache hits, in batches of 10, until the limit answers (a window boundary in between only
    // delays it: 250 requests cover two windows of 120).
    let limited: Response | undefined;
    let ok = 0;
    for (let sent = 0; sent < 250 && limited === undefined; sent += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, send));
      for (const response of batch) {
        if (response.status === 429 && limited === undefined) limited = response;
        else {
          if (response.status === 200) ok += 1;
          await response.arrayBuffer();
        }
      }
    }
    expect(limited).toBeDefined();
    expect(ok).toBeGreaterThanOrEqual(100);
    expect(limited!.headers.get('retry-after')).toBe('60');
    expect(((await limited!.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    const other = await translate('seed=31337');
    expect(other.status).toBe(200);
    await other.arrayBuffer();
  });
  // Last on purpose: answering 413 before the streamed body is fully sent leaves wrangler dev's
  // proxy answering the next request with 503 "Your worker restarted mid-request" (a local-dev
  // proxy bug, cloudflare/workers-sdk#15709; workerd itself and the Workers pool are fine).
  it('reads a streamed upload without Content-Length, and refuses one that runs over the limit', async () => {
    const streamed = (body: Uint8Array) =>
      fetch(`${edge!.url}/v1/translations?seed=515`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' },
        body: streamOf(body),
        duplex: 'half',
      } as RequestInit);
    const ok = await streamed(image);
    expect(ok.status).toBe(200);
    expect(new Uint8Array(await ok.arrayBuffer()).subarray(0, 4)).toEqual(new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
    const big = new Uint8Array(70_000);
    big.set(image);
    const tooLarge = await streamed(big);
    expect(tooLarge.status).toBe(413);
    expect(((await tooLarge.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
  });
});
