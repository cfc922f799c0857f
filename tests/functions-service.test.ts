/**
 * The inference function end to end: a real child process (started like the container's entry
 * point) over loopback, against a real S3-protocol server (s3rver) or the committed model folder.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deflateSync, crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFixtureIndex } from './parity-fixtures.ts';
import { freePort, startFunction, type FunctionProcess } from './support/function-process.ts';
import { startS3Server, type S3TestServer } from './support/s3-server.ts';

const ROOT = resolve(import.meta.dirname, '..');
const MODEL_DIR = join(ROOT, 'models/sa-munit-random');
const ADMIN_TOKEN = 'test-admin-token-0123456789';

const temps: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fn-test-'));
  temps.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

const circle = () => readFile(join(ROOT, 'samples/circle.png'));
const square = () => readFile(join(ROOT, 'samples/square.png'));

async function translateRaw(url: string, body: Uint8Array, query = '', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/translate${query}`, { method: 'POST', body, headers: { 'content-type': 'image/png', ...headers } });
}

async function errorCode(response: Response): Promise<string> {
  const body = (await response.json()) as { error?: { code?: string } };
  return body.error?.code ?? `no error body (status ${response.status})`;
}

/** A PNG whose header claims width x height: decompression-bomb and huge-dimension inputs. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1024))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** An OIP binary-extension body for `rows` translator_a2b rows of size x size. */
function oipBinaryBody(rows: number, size: number): { header: Buffer; body: Buffer } {
  const image = new Float32Array(rows * 3 * size * size).fill(0.1);
  const style = new Float32Array(rows * 8).fill(0.5);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'image', shape: [rows, 3, size, size], datatype: 'FP32', parameters: { binary_data_size: image.byteLength } },
        { name: 'style', shape: [rows, 8], datatype: 'FP32', parameters: { binary_data_size: style.byteLength } },
      ],
      outputs: [{ name: 'translated', parameters: { binary_data: true } }],
    }),
  );
  return { header, body: Buffer.concat([header, Buffer.from(image.buffer), Buffer.from(style.buffer)]) };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('function with its model in S3', () => {
  let s3: S3TestServer;
  const source = 's3://models/sa-munit-random/v1';
  beforeAll(async () => {
    s3 = await startS3Server({ buckets: ['models'] });
    await s3.uploadDir('models', 'sa-munit-random/v1/', MODEL_DIR);
  });
  afterAll(async () => s3?.stop());

  let cacheDir: string;
  it('cold-starts from S3, translates, and exits 0 on SIGTERM', async () => {
    cacheDir = await tempDir();
    const fn = await startFunction({ ...s3.env, MODEL_SOURCE: source, MODEL_CACHE_DIR: cacheDir });
    try {
      await fn.waitUntilReady();
      const graphGets = s3.requests.filter((r) => r.method === 'GET' && r.url.includes('.onnx'));
      expect(graphGets).toHaveLength(4);
      const response = await translateRaw(fn.url, await circle(), '?seed=7');
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('image/png');
      expect(response.headers.get('x-seed')).toBe('7');
      expect(response.headers.get('x-model-version')).toBe('0.1.0-random');
      const meta = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
      expect([meta.width, meta.height, meta.format]).toEqual([64, 64, 'png']);
    } finally {
      expect(await fn.stop()).toBe(0);
    }
  });

  it('restarts from the disk cache without fetching any graph again', async () => {
    s3.clearRequests();
    const fn = await startFunction({ ...s3.env, MODEL_SOURCE: source, MODEL_CACHE_DIR: cacheDir });
    try {
      await fn.waitUntilReady();
      expect(s3.requests.some((r) => r.url.includes('manifest.json'))).toBe(true); // it did ask the store
      expect(s3.requests.filter((r) => r.url.includes('.onnx'))).toEqual([]);
    } finally {
      await fn.stop();
    }
  });

  it('serves the cached version when the store is unreachable at start', async () => {
    const deadEndpoint = `http://127.0.0.1:${await freePort()}`;
    const fn = await startFunction({ ...s3.env, AWS_ENDPOINT_URL_S3: deadEndpoint, AWS_ENDPOINT_URL: deadEndpoint, MODEL_SOURCE: source, MODEL_CACHE_DIR: cacheDir });
    try {
      await fn.waitUntilReady();
      await fn.waitForLog((line) => line['msg'] === 'model version active' && line['origin'] === 'cache');
      expect((await translateRaw(fn.url, await circle(), '?seed=1')).status).toBe(200);
    } finally {
      await fn.stop();
    }
  });

  it('without a cached copy stays not ready and says why', async () => {
    const deadEndpoint = `http://127.0.0.1:${await freePort()}`;
    const fn = await startFunction({ ...s3.env, AWS_ENDPOINT_URL_S3: deadEndpoint, AWS_ENDPOINT_URL: deadEndpoint, MODEL_SOURCE: source, MODEL_CACHE_DIR: await tempDir() });
    try {
      await fn.waitForLog((line) => String(line['msg']).includes('model version refused'));
      const ready = await fetch(`${fn.url}/v2/health/ready`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/unreachable.*no cached copy/);
      expect((await fetch(`${fn.url}/v2/health/live`)).status).toBe(200);
      const translate = await translateRaw(fn.url, await circle());
      expect([translate.status, await errorCode(translate)]).toEqual([503, 'not_ready']);
    } finally {
      await fn.stop();
    }
  });

  it('refuses a version whose graph fails its sha256', async () => {
    await s3.uploadDir('models', 'sa-munit-random/tampered/', MODEL_DIR);
    const original = await readFile(join(MODEL_DIR, 'translator_b2a.onnx'));
    const tampered = Buffer.from(original);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 10) ^ 0xff, tampered.length - 10);
    await s3.putObject('models', 'sa-munit-random/tampered/translator_b2a.onnx', tampered);
    const fn = await startFunction({ ...s3.env, MODEL_SOURCE: 's3://models/sa-munit-random/tampered', MODEL_CACHE_DIR: await tempDir() });
    try {
      await fn.waitForLog((line) => String(line['msg']).includes('model version refused'));
      const ready = await fetch(`${fn.url}/v2/health/ready`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/translator_b2a\.onnx: sha256 mismatch/);
    } finally {
      await fn.stop();
    }
  });
});

describe('function behind a caller token (FUNCTION_AUTH_TOKEN)', () => {
  it('answers only callers with the token, except the health probes and /admin', async () => {
    const token = 'caller-token-0123456789abcdef';
    const fn = await startFunction({ MODEL_SOURCE: MODEL_DIR, MODEL_CACHE_DIR: await tempDir(), FUNCTION_AUTH_TOKEN: token, ADMIN_TOKEN });
    try {
      await fn.waitUntilReady();
      expect((await fetch(`${fn.url}/v2/health/live`)).status).toBe(200);
      expect((await fetch(`${fn.url}/v2/health/ready`)).status).toBe(200);
      for (const path of ['/v1/models', '/metrics', '/v2/models/sa-munit-random']) {
        const refused = await fetch(`${fn.url}${path}`);
        expect([path, refused.status, await errorCode(refused)]).toEqual([path, 401, 'unauthorized']);
        const wrong = await fetch(`${fn.url}${path}`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
        expect([path, wrong.status]).toEqual([path, 401]);
      }
      expect((await translateRaw(fn.url, await circle(), '?seed=3')).status).toBe(401);
      const allowed = await fetch(`${fn.url}/v1/translate?seed=3`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' },
        body: await circle(),
      });
      expect(allowed.status).toBe(200);
      // /admin keeps its own token: the caller token does not open it.
      expect((await fetch(`${fn.url}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    } finally {
      await fn.stop();
    }
  });
});

// The serving mechanics are tested on the untrained export (every attention site, versioned copies
// for reloads); the trained demo model the service serves by default has its own suite.
describe('function serving the committed model', () => {
  let fn: FunctionProcess;
  const MAX_BODY = 3_000_000; // the OIP JSON test sends ~1 MB
  beforeAll(async () => {
    fn = await startFunction({
      MODEL_SOURCE: MODEL_DIR,
      MODEL_CACHE_DIR: await tempDir(),
      ADMIN_TOKEN,
      MAX_BODY_BYTES: String(MAX_BODY),
      MAX_INPUT_PIXELS: '4000000',
      MAX_INPUT_SIDE: '4096',
      MAX_QUEUE_DELAY_MS: '20',
    });
    await fn.waitUntilReady();
  });
  afterAll(async () => {
    expect(await fn.stop()).toBe(0);
  });

  it('gives the same bytes for the same seed and n outputs with consecutive seeds', async () => {
    const first = Buffer.from(await (await translateRaw(fn.url, await circle(), '?seed=42')).arrayBuffer());
    const again = Buffer.from(await (await translateRaw(fn.url, await circle(), '?seed=42')).arrayBuffer());
    expect(again.equals(first)).toBe(true);
    const many = await translateRaw(fn.url, await circle(), '?seed=41&n=3&format=webp&quality=80');
    expect(many.status).toBe(200);
    const body = (await many.json()) as { outputs: { seed: number; image: string }[]; format: string };
    expect(body.format).toBe('webp');
    expect(body.outputs.map((o) => o.seed)).toEqual([41, 42, 43]);
    const second = await sharp(Buffer.from(body.outputs[1]!.image, 'base64')).png().raw().toBuffer();
    expect(second.equals(await sharp(first).raw().toBuffer())).toBe(false); // webp is lossy: only a sanity check
    expect((await sharp(Buffer.from(body.outputs[0]!.image, 'base64')).metadata()).format).toBe('webp');
  });

  it('takes a style vector, a reference image, multipart uploads and keeps the aspect on request', async () => {
    const vector = await translateRaw(fn.url, await circle(), '?style=0,0,0,0,0,0,0,0&direction=circles-to-squares');
    expect(vector.status).toBe(200);
    expect(vector.headers.get('x-seed')).toBeNull();

    const form = new FormData();
    form.set('image', new Blob([await circle()], { type: 'image/png' }), 'circle.png');
    form.set('style_image', new Blob([await square()], { type: 'image/png' }), 'square.png');
    form.set('direction', 'a2b');
    const reference = await fetch(`${fn.url}/v1/translate`, { method: 'POST', body: form });
    expect(reference.status).toBe(200);

    const aspect = await translateRaw(fn.url, await square(), '?fit=contain&keep_aspect=true&seed=3&format=jpeg');
    expect(aspect.status).toBe(200);
    const meta = await sharp(Buffer.from(await aspect.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 64, 48]); // 320x240 input
  });

  it.each<[string, () => Promise<Uint8Array>, string, number, string, Record<string, string>]>([
    ['empty body', () => Promise.resolve(new Uint8Array(0)), '', 400, 'empty_body', {}],
    ['truncated file', async () => (await circle()).subarray(0, 200), '', 400, 'invalid_image', {}],
    ['wrong magic bytes', () => Promise.resolve(new TextEncoder().encode('hello, not an image at all')), '', 415, 'unsupported_media_type', {}],
    ['unsupported format (GIF)', () => sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } }).gif().toBuffer(), '', 415, 'unsupported_media_type', {}],
    ['pixel bomb', () => Promise.resolve(pngHeaderOnly(3000, 3000)), '', 422, 'image_too_large', {}],
    ['huge dimensions', () => Promise.resolve(pngHeaderOnly(8000, 2)), '', 422, 'image_too_large', {}],
    ['n out of range', circle, '?n=9', 400, 'invalid_parameters', {}],
    ['negative seed', circle, '?seed=-1', 400, 'invalid_parameters', {}],
    ['unknown format', circle, '?format=bmp', 400, 'invalid_parameters', {}],
    ['unknown parameter', circle, '?colour=red', 400, 'invalid_parameters', {}],
    ['style of the wrong length', circle, '?style=1,2', 400, 'invalid_parameters', {}],
    ['unknown direction', circle, '?direction=cats-to-dogs', 400, 'unknown_direction', {}],
    ['bad deadline header', circle, '', 400, 'invalid_parameters', { 'x-request-timeout-ms': 'soon' }],
    ['unknown priority', circle, '', 400, 'invalid_parameters', { 'x-request-priority': 'urgent' }],
  ])('answers %s with a stable 4xx code and stays up', async (_label, body, query, status, code, headers) => {
    const response = await translateRaw(fn.url, await body(), query, headers);
    expect(response.status).toBe(status);
    expect(await errorCode(response)).toBe(code);
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect((await fetch(`${fn.url}/v2/health/live`)).status).toBe(200);
  });

  it('answers an oversized body with 413 before reading it, and stays up', async () => {
    // A raw connection that announces more than the limit and sends only the start: the answer
    // must come from the Content-Length alone, before any of the body is read.
    const socket = connect(fn.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      `POST /v1/translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`,
    );
    socket.write(Buffer.alloc(1024, 0x89));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    await once(socket, 'close');
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as unknown).toMatchObject({ error: { code: 'payload_too_large' } });
    expect((await fetch(`${fn.url}/v2/health/live`)).status).toBe(200);
  });

  it('translates batch-priority requests like any other (the priority only orders its queue)', async () => {
    const image = await circle();
    const [batch, interactive] = await Promise.all(
      ['batch', 'interactive'].map((priority) => translateRaw(fn.url, image, '?seed=5', { 'x-request-priority': priority })),
    );
    expect([batch!.status, interactive!.status]).toEqual([200, 200]);
    expect(Buffer.from(await batch!.arrayBuffer()).equals(Buffer.from(await interactive!.arrayBuffer()))).toBe(true);
  });

  it('sheds a request that cannot meet its deadline with 503', async () => {
    const response = await translateRaw(fn.url, await circle(), '', { 'x-request-timeout-ms': '1' });
    expect([response.status, await errorCode(response)]).toEqual([503, 'deadline_exceeded']);
  });

  it('forms batches under concurrency (Triton metrics)', async () => {
    const before = { items: await metric(fn.url, 'nv_inference_count'), runs: await metric(fn.url, 'nv_inference_exec_count') };
    const image = await circle();
    const responses = await Promise.all(Array.from({ length: 32 }, (_, i) => translateRaw(fn.url, image, `?seed=${i}`)));
    expect(responses.map((r) => r.status)).toEqual(Array(32).fill(200));
    const items = (await metric(fn.url, 'nv_inference_count')) - before.items;
    const runs = (await metric(fn.url, 'nv_inference_exec_count')) - before.runs;
    expect(items).toBe(32);
    expect(runs).toBeLessThan(32); // at least one batch held several requests
    expect(await metric(fn.url, 'nv_inference_request_success')).toBeGreaterThanOrEqual(32);
  });

  it('keeps the event loop responsive while the workers compute', async () => {
    // A long OIP request: 2 rows of 128x128 through the translator (the committed model attends
    // at full resolution in its content encoder, so this is seconds of work on 2 cores).
    const { header, body } = oipBinaryBody(2, 128);
    const big = await startFunction({ MODEL_SOURCE: MODEL_DIR, MODEL_CACHE_DIR: await tempDir(), MAX_BODY_BYTES: String(64 * 1024 * 1024) });
    try {
      await big.waitUntilReady();
      const started = Date.now();
      const inference = fetch(`${big.url}/v2/models/translator_a2b/infer`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(header.byteLength),
          'x-request-timeout-ms': '300000',
        },
      });
      let done = false;
      void inference.finally(() => (done = true));
      const latencies: number[] = [];
      while (!done) {
        const t = performance.now();
        expect((await fetch(`${big.url}/v2/health/live`)).status).toBe(200);
        latencies.push(performance.now() - t);
        await new Promise((wake) => setTimeout(wake, 10));
      }
      const response = await inference;
      expect(response.status).toBe(200);
      expect(Date.now() - started).toBeGreaterThan(300); // the inference really took a while
      expect(latencies.length).toBeGreaterThan(5);
      expect(Math.max(...latencies)).toBeLessThan(250);
    } finally {
      await big.stop();
    }
  });

  it('serves the OIP v2 endpoints, JSON and binary, matching the export fixtures', async () => {
    expect(await (await fetch(`${fn.url}/v2`)).json()).toMatchObject({ extensions: ['binary_tensor_data'] });
    expect(await (await fetch(`${fn.url}/v2/health/ready`)).json()).toEqual({ ready: true });
    const meta = (await (await fetch(`${fn.url}/v2/models/translator_a2b`)).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({
      name: 'translator_a2b',
      versions: ['0.1.0-random'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 3, -1, -1] }, { name: 'style', datatype: 'FP32', shape: [-1, 8] }],
      parameters: { execution_provider: 'cpu' },
    });
    expect((await fetch(`${fn.url}/v2/models/translator_a2b/ready`)).status).toBe(200);
    const unknown = await fetch(`${fn.url}/v2/models/nope`);
    expect([unknown.status, await errorCode(unknown)]).toEqual([404, 'unknown_model']);

    const fixtures = await readFixtureIndex(MODEL_DIR);
    const fixture = fixtures.cases.find((c) => c.graph === 'translator_a2b.onnx' && c.batch === 3)!;
    const inputs = Object.entries(fixture.inputs).map(([name, t]) => ({ name, shape: t.shape, datatype: 'FP32', data: Array.from(t.data) }));
    const json = await fetch(`${fn.url}/v2/models/translator_a2b/infer`, { method: 'POST', body: JSON.stringify({ id: 'x1', inputs }) });
    expect(json.status).toBe(200);
    const result = (await json.json()) as { id: string; outputs: { name: string; shape: number[]; data: number[] }[] };
    expect(result.id).toBe('x1');
    const want = fixture.outputs['translated']!;
    expect(result.outputs[0]!.shape).toEqual(want.shape);
    expect(Math.max(...result.outputs[0]!.data.map((v, i) => Math.abs(v - want.data[i]!)))).toBeLessThan(1e-4);

    const header = Buffer.from(
      JSON.stringify({
        inputs: Object.entries(fixture.inputs).map(([name, t]) => ({ name, shape: t.shape, datatype: 'FP32', parameters: { binary_data_size: t.data.byteLength } })),
        parameters: { binary_data_output: true },
      }),
    );
    const binaryBody = Buffer.concat([header, ...Object.values(fixture.inputs).map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
    const binary = await fetch(`${fn.url}/v2/models/translator_a2b/infer`, {
      method: 'POST',
      body: binaryBody,
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) },
    });
    expect(binary.status).toBe(200);
    const bytes = Buffer.from(await binary.arrayBuffer());
    const jsonLength = Number(binary.headers.get('inference-header-content-length'));
    const outputHeader = JSON.parse(bytes.subarray(0, jsonLength).toString('utf8')) as { outputs: { parameters: { binary_data_size: number } }[] };
    expect(outputHeader.outputs[0]!.parameters.binary_data_size).toBe(want.data.byteLength);
    const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset + jsonLength, bytes.byteOffset + bytes.byteLength));
    expect(Math.max(...Array.from(values, (v, i) => Math.abs(v - want.data[i]!)))).toBeLessThan(1e-4);

    const badShape = await fetch(`${fn.url}/v2/models/translator_a2b/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'image', shape: [1, 3, 20, 20], datatype: 'FP32', data: Array(1200).fill(0) }, { name: 'style', shape: [1, 8], datatype: 'FP32', data: Array(8).fill(0) }] }),
    });
    expect([badShape.status, await errorCode(badShape)]).toEqual([400, 'invalid_parameters']);
  });

  it('publishes OpenAPI generated from the schemas and lists the model', async () => {
    const doc = (await (await fetch(`${fn.url}/openapi.json`)).json()) as { paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/translate', '/v2/models/{name}/infer', '/v2/health/ready', '/metrics']));
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Error', 'InferRequest']));
    const models = (await (await fetch(`${fn.url}/v1/models`)).json()) as { models: Record<string, unknown>[] };
    expect(models.models[0]).toMatchObject({ name: 'sa-munit-random', directions: { a2b: 'circles-to-squares' }, execution_provider: 'cpu' });
  });

  it('protects the admin reload and keeps the served version when a reload fails', async () => {
    const none = await fetch(`${fn.url}/admin/reload`, { method: 'POST' });
    expect([none.status, await errorCode(none)]).toEqual([401, 'unauthorized']);
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const bad = await fetch(`${fn.url}/admin/reload`, { method: 'POST', headers: auth, body: JSON.stringify({ source: join(ROOT, 'no-such-model') }) });
    expect([bad.status, await errorCode(bad)]).toEqual([409, 'model_rejected']);
    expect((await translateRaw(fn.url, await circle(), '?seed=1')).headers.get('x-model-version')).toBe('0.1.0-random');
  });

  it('hot-reloads a new version under load with zero failed requests', async () => {
    const next = await tempDir();
    await cp(MODEL_DIR, next, { recursive: true });
    const manifest = JSON.parse(await readFile(join(next, 'manifest.json'), 'utf8')) as { version: string };
    manifest.version = '0.2.0-random';
    await writeFile(join(next, 'manifest.json'), JSON.stringify(manifest));

    const image = await circle();
    const statuses: number[] = [];
    const versions = new Set<string | null>();
    let loading = true;
    const client = async () => {
      while (loading) {
        const response = await translateRaw(fn.url, image, '?seed=5');
        statuses.push(response.status);
        versions.add(response.headers.get('x-model-version'));
        await response.arrayBuffer();
      }
    };
    const clients = Array.from({ length: 4 }, client);
    await new Promise((wake) => setTimeout(wake, 300));
    const reload = await fetch(`${fn.url}/admin/reload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ source: next }),
    });
    expect(reload.status).toBe(200);
    await new Promise((wake) => setTimeout(wake, 300));
    loading = false;
    await Promise.all(clients);
    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(versions).toEqual(new Set(['0.1.0-random', '0.2.0-random']));
  });
});

describe('function under overload and shutdown', () => {
  it('answers 429 with Retry-After when the queue is full', async () => {
    const fn = await startFunction({ MODEL_SOURCE: MODEL_DIR, MODEL_CACHE_DIR: await tempDir(), MAX_QUEUE_LENGTH: '2', MAX_BATCH_SIZE: '1', INFERENCE_WORKERS: '1' });
    try {
      await fn.waitUntilReady();
      const image = await circle();
      const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => translateRaw(fn.url, image, `?seed=${i}`)));
      const rejected = responses.filter((r) => r.status === 429);
      expect(rejected.length).toBeGreaterThan(0);
      expect(responses.some((r) => r.status === 200)).toBe(true);
      expect(Number(rejected[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await errorCode(rejected[0]!)).toBe('queue_full');
    } finally {
      await fn.stop();
    }
  });

  it('finishes in-flight requests on SIGTERM, refuses new ones, and exits 0', async () => {
    const fn = await startFunction({ MODEL_SOURCE: MODEL_DIR, MODEL_CACHE_DIR: await tempDir() });
    await fn.waitUntilReady();
    // Two requests of a few seconds each, surely received before the signal.
    const { header, body } = oipBinaryBody(1, 128);
    const slow = () =>
      fetch(`${fn.url}/v2/models/translator_a2b/infer`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) },
      });
    const inFlight = [slow(), slow()];
    await new Promise((wake) => setTimeout(wake, 300));
    const exit = fn.stop('SIGTERM');
    await fn.waitForLog((line) => line['msg'] === 'draining: finishing in-flight requests');
    const late = await translateRaw(fn.url, await circle()).catch(() => undefined); // refused, or 503 while draining
    if (late !== undefined) expect([late.status, await errorCode(late)]).toEqual([503, 'shutting_down']);
    const responses = await Promise.all(inFlight);
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(await exit).toBe(0);
  });
});
