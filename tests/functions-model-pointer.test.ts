/**
 * The function following a model's pointer (MODEL_SOURCE = s3://bucket/models/<name>/, a folder
 * holding current.json), against a real S3-protocol server and a real function process: publish v1
 * → serves v1; publish v2 and move the pointer → still v1 until a reload, then v2 (other graphs,
 * other pixels); rollback → v1 again, the same bytes as before; forward to v2 again, then the store
 * down → v2, the version last verified through the pointer (not v1, the first), from the disk
 * cache. The registry's answers to broken pointers, and to a store that answers AccessDenied for
 * missing keys (AWS S3 without s3:ListBucket), are checked in-process.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifestFromDir } from '../contract/manifest-dir.ts';
import { loadModel, ModelLoadError } from '../functions/registry/model-registry.ts';
import { manifestDigest, serializeModelPointer } from '../functions/registry/model-pointer.ts';
import type { S3Overrides } from '../functions/registry/s3-model-store.ts';
import { runPublishCommand } from '../infra/publish/publish-command.ts';
import { startFunction, type FunctionProcess } from './support/function-process.ts';
import { startS3Server, type S3TestServer } from './support/s3-server.ts';

const ROOT = resolve(import.meta.dirname, '..');
const NAME = 'sa-munit-shapes';
/** The committed demo model's version, the first one each test publishes. */
const V1 = (await loadManifestFromDir(join(ROOT, 'models/sa-munit-shapes'))).version;
const V2 = '2026-12-01.1';
const BUCKET = 'models';
const TO = `s3://${BUCKET}/models`;
const POINTER_SOURCE = `s3://${BUCKET}/models/${NAME}/`;
const ADMIN_TOKEN = 'pointer-test-admin-token';
const temps: string[] = [];

async function tempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `pointer-${label}-`));
  temps.push(dir);
  return dir;
}

async function publish(s3: S3TestServer, args: string[]): Promise<void> {
  const err: string[] = [];
  const code = await runPublishCommand([...args, '--to', TO, '--quiet'], s3.env, { out: () => {}, err: (line) => err.push(line) });
  expect(code, err.join('\n')).toBe(0);
}

/** Version 2 of sa-munit-shapes: the untrained export's graphs under this model's name, so its pixels differ. */
async function exportV2(): Promise<string> {
  const dir = await tempDir('v2');
  await cp(join(ROOT, 'models/sa-munit-random'), dir, { recursive: true });
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { name: string; version: string };
  manifest.name = NAME;
  manifest.version = V2;
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}

async function servedVersion(fn: FunctionProcess): Promise<string> {
  const body = (await (await fetch(`${fn.url}/v1/models`)).json()) as { models: { version: string; source: string }[] };
  expect(body.models[0]?.source).toBe(POINTER_SOURCE);
  return body.models[0]?.version ?? '';
}

/** sha256 of the PNG the function makes of samples/circle.png with seed 7, and the version header. */
async function translation(fn: FunctionProcess): Promise<{ digest: string; version: string | null }> {
  const response = await fetch(`${fn.url}/v1/translate?direction=a2b&seed=7`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: await readFile(join(ROOT, 'samples/circle.png')),
  });
  expect(response.status).toBe(200);
  return { digest: createHash('sha256').update(Buffer.from(await response.arrayBuffer())).digest('hex'), version: response.headers.get('x-model-version') };
}

afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('a function following current.json', () => {
  let s3: S3TestServer;
  let fn: FunctionProcess | undefined;
  let cacheDir: string;
  beforeAll(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    cacheDir = await tempDir('cache');
  });
  afterAll(async () => {
    await fn?.stop();
    await s3.stop();
  });
  const start = () => startFunction({ ...s3.env, MODEL_SOURCE: POINTER_SOURCE, MODEL_CACHE_DIR: cacheDir, ADMIN_TOKEN });

  it('serves v1, then v2 after the pointer moves and a reload, then v1 again after a rollback and SIGHUP', async () => {
    await publish(s3, [join(ROOT, 'models/sa-munit-shapes'), '--set-current']);
    fn = await start();
    await fn.waitUntilReady();
    expect(await servedVersion(fn)).toBe(V1);
    const v1 = await translation(fn);
    expect(v1.version).toBe(V1);
    expect(fn.logs().find((line) => line['msg'] === 'model verified from the store')).toMatchObject({
      pointer: `${POINTER_SOURCE}current.json`,
      resolved: `${POINTER_SOURCE}${V1}/`,
    });

    await publish(s3, [await exportV2(), '--set-current']);
    // The pointer is followed at start and on reload, not behind the operator's back.
    expect(await servedVersion(fn)).toBe(V1);
    const reload = await fetch(`${fn.url}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(reload.status).toBe(200);
    expect(await reload.json()).toEqual({ name: NAME, version: V2, source: POINTER_SOURCE });
    expect(await servedVersion(fn)).toBe(V2);
    const v2 = await translation(fn);
    expect(v2.version).toBe(V2);
    expect(v2.digest).not.toBe(v1.digest);

    await publish(s3, ['rollback', NAME]);
    const activeBefore = fn.logs().filter((line) => line['msg'] === 'model version active').length;
    fn.child.kill('SIGHUP');
    await fn.waitForLog((line) => line['msg'] === 'model version active' && line['version'] === V1 && fn!.logs().filter((l) => l['msg'] === 'model version active').length > activeBefore);
    expect(await servedVersion(fn)).toBe(V1);
    expect(await translation(fn)).toEqual(v1); // the same version gives the same pixels
  });

  it('with the store down, a restart serves the version last verified through the pointer, from the disk cache', async () => {
    expect(fn).toBeDefined();
    // Forward to v2 again and load it, so the last verified version (v2) is not the first (v1).
    await publish(s3, ['set-current', NAME, V2]);
    const reload = await fetch(`${fn!.url}/admin/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(reload.status).toBe(200);
    expect(await reload.json()).toEqual({ name: NAME, version: V2, source: POINTER_SOURCE });
    expect(await fn!.stop()).toBe(0);
    fn = undefined;
    await s3.stop(); // the pointer still names v2
    fn = await start();
    await fn.waitUntilReady();
    expect(await servedVersion(fn)).toBe(V2);
    expect(fn.logs().find((line) => line['msg'] === 'model store unreachable; serving the version cached before')).toMatchObject({ version: V2 });
    expect((await translation(fn)).version).toBe(V2);
  });
});

describe('the registry refuses a pointer it cannot follow', () => {
  let s3: S3TestServer;
  let cacheDir: string;
  beforeAll(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    cacheDir = await tempDir('registry-cache');
    await publish(s3, [join(ROOT, 'models/sa-munit-shapes'), '--set-current']);
  });
  afterAll(async () => {
    await s3.stop();
  });

  const load = (source = POINTER_SOURCE, overrides: S3Overrides = s3.overrides) =>
    loadModel({ source, cacheDir, downloadConcurrency: 2, s3: overrides, logger: pino({ level: 'silent' }) });
  const reason = async (source?: string, overrides?: S3Overrides) => {
    const error = await load(source, overrides).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    return (error as ModelLoadError).reason;
  };
  const manifestBytes = () => readFile(join(ROOT, 'models/sa-munit-shapes/manifest.json'));
  const setPointer = async (fields: Record<string, unknown>) => {
    const base = {
      pointer_version: 1 as const,
      name: NAME,
      version: V1,
      manifest_sha256: manifestDigest(await manifestBytes()),
      updated_at: new Date().toISOString(),
      previous_version: null,
    };
    await s3.putObject(BUCKET, `models/${NAME}/current.json`, serializeModelPointer({ ...base, ...fields } as typeof base));
  };

  it('follows a good pointer; a version prefix still loads directly as before', async () => {
    expect((await load()).manifest.version).toBe(V1);
    expect((await load(`${POINTER_SOURCE}${V1}`)).manifest.version).toBe(V1);
  });

  it('a folder with neither manifest.json nor current.json', async () => {
    expect(await reason(`s3://${BUCKET}/models/nothing-here/`)).toBe(
      `model store s3://${BUCKET}/models/nothing-here/: cannot read manifest.json: NoSuchKey (HTTP 404): The specified key does not exist; ` +
        'no current.json either (the pointer of a model\'s folder)',
    );
  });

  it('a pointer that is not JSON, or not a pointer', async () => {
    await s3.putObject(BUCKET, `models/${NAME}/current.json`, '{"version": ');
    expect(await reason()).toMatch(/^s3:\/\/models\/models\/sa-munit-shapes\/current\.json is not a valid model pointer: not JSON: /);
    await s3.putObject(BUCKET, `models/${NAME}/current.json`, JSON.stringify({ pointer_version: 2, version: '../x' }));
    expect(await reason()).toMatch(/is not a valid model pointer: pointer_version: .*; name: .*; version: must be a manifest version label/);
  });

  it('a pointer naming a version that is not there', async () => {
    await setPointer({ version: '9.9.9' });
    expect(await reason()).toBe(`${POINTER_SOURCE}current.json names version 9.9.9, but ${POINTER_SOURCE}9.9.9/manifest.json does not exist`);
  });

  it('a manifest changed after publishing (its sha256 is not the pointer\'s)', async () => {
    await setPointer({ manifest_sha256: '0'.repeat(64) });
    expect(await reason()).toMatch(
      new RegExp(`^${POINTER_SOURCE}${V1}/manifest\\.json hashes to [0-9a-f]{64}, but ${POINTER_SOURCE}current\\.json says 0{64}: the version was changed after it was published$`),
    );
  });

  it('a pointer whose name is not the manifest\'s', async () => {
    await setPointer({ name: 'another-model' });
    expect(await reason()).toBe(`${POINTER_SOURCE}current.json names another-model ${V1}, but its manifest.json is ${NAME} ${V1}`);
  });

  it('a store that answers AccessDenied for a missing key (AWS S3 without s3:ListBucket): the pointer is still followed, and both answers are named', async () => {
    await setPointer({});
    const proxy = await startNoListBucketProxy(s3.endpoint);
    const denying: S3Overrides = { ...s3.overrides, endpoint: proxy.endpoint };
    const hint = ' (AWS S3 answers AccessDenied rather than NoSuchKey for a missing key when the credentials lack s3:ListBucket on the bucket)';
    try {
      expect((await load(POINTER_SOURCE, denying)).manifest.version).toBe(V1);
      expect(proxy.denied).toEqual([`/${BUCKET}/models/${NAME}/manifest.json`]);
      expect(await reason(`s3://${BUCKET}/models/nothing-here/`, denying)).toBe(
        `model store s3://${BUCKET}/models/nothing-here/: cannot read manifest.json: AccessDenied (HTTP 403): Access Denied; ` +
          `cannot read current.json either: AccessDenied (HTTP 403): Access Denied${hint}`,
      );
      await setPointer({ version: '9.9.9' });
      expect(await reason(POINTER_SOURCE, denying)).toBe(
        `${POINTER_SOURCE}current.json names version 9.9.9, but ${POINTER_SOURCE}9.9.9/manifest.json cannot be read: AccessDenied (HTTP 403): Access Denied${hint}`,
      );
    } finally {
      await proxy.close();
      await setPointer({});
    }
  });
});

/**
 * Forwards everything to s3rver unchanged (the SigV4 signature covers the Host header, passed as
 * sent), except that a GET s3rver answers 404 is answered 403 AccessDenied, as AWS S3 does for a
 * missing key when the caller may not list the bucket.
 */
async function startNoListBucketProxy(target: string): Promise<{ endpoint: string; denied: string[]; close(): Promise<void> }> {
  const upstream = new URL(target);
  const denied: string[] = [];
  const server = createServer((req, res) => {
    const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (req.method === 'GET' && answer.statusCode === 404) {
        answer.resume();
        denied.push(new URL(req.url ?? '/', 'http://x').pathname);
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    denied,
    close: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
}
