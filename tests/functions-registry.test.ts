/**
 * The model registry against a real S3-protocol server (s3rver, started per test) and real files:
 * cold start, restart from the disk cache, verification failures, an unreachable store with and
 * without a cached copy, local folders, and source strings.
 */
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256OfFile } from '../contract/manifest-dir.ts';
import type { Manifest } from '../contract/manifest.ts';
import { ArtifactCache } from '../functions/registry/artifact-cache.ts';
import { parseModelSource } from '../functions/registry/model-source.ts';
import { loadModel, ModelLoadError, type LoadedModel, type RegistryOptions } from '../functions/registry/model-registry.ts';
import { startS3Server, type S3TestServer } from './support/s3-server.ts';

const EXPORT_DIR = resolve('models/sa-munit-random');
const BUCKET = 'models';
const PREFIX = 'sa-munit-random/';
const SOURCE = `s3://${BUCKET}/sa-munit-random`;
const LABEL = `s3://${BUCKET}/${PREFIX}`;

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

const temps: string[] = [];
/** Started only for the tests that need a store. */
let s3: S3TestServer | undefined;
let cacheDir: string;
let logs: LogLine[];

async function tempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `registry-${label}-`));
  temps.push(dir);
  return dir;
}

beforeEach(async () => {
  cacheDir = await tempDir('cache');
  logs = [];
});

afterEach(async () => {
  await s3?.stop();
  s3 = undefined;
  await Promise.all(temps.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

function load(options: Partial<RegistryOptions> = {}): Promise<LoadedModel> {
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  return loadModel({
    source: SOURCE,
    cacheDir,
    downloadConcurrency: 2,
    logger,
    ...(s3 === undefined ? {} : { s3: s3.overrides }),
    ...options,
  });
}

async function loadError(options: Partial<RegistryOptions> = {}): Promise<ModelLoadError> {
  const error = await load(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelLoadError);
  return error as ModelLoadError;
}

function store(): S3TestServer {
  if (s3 === undefined) throw new Error('this test did not start a store');
  return s3;
}

/** Graph files the server was asked for since the last clearRequests(). */
function graphsFetched(): string[] {
  return store().requests
    .filter((r) => r.method === 'GET' && /\.onnx\b/.test(r.url))
    .map((r) => r.url.replace(/\?.*$/, '').split('/').pop() ?? '')
    .sort();
}

async function exportManifest(): Promise<Manifest> {
  return JSON.parse(await readFile(join(EXPORT_DIR, 'manifest.json'), 'utf8')) as Manifest;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The export's translator_a2b.onnx with one byte changed: same size, another digest. */
async function alteredTranslator(): Promise<Buffer> {
  const bytes = await readFile(join(EXPORT_DIR, 'translator_a2b.onnx'));
  const last = bytes.length - 1;
  bytes[last] = (bytes[last] ?? 0) ^ 0xff;
  return bytes;
}

/** Uploads a version 2 manifest whose translator_a2b entry describes `bytes`. */
async function publishVersion2(bytes: Uint8Array): Promise<Manifest> {
  const manifest = structuredClone(await exportManifest()) as any;
  manifest.version = '0.1.0-random.2';
  const entry = manifest.graphs.find((g: any) => g.file === 'translator_a2b.onnx');
  entry.sha256 = sha256(bytes);
  entry.bytes = bytes.byteLength;
  await store().putObject(BUCKET, `${PREFIX}manifest.json`, JSON.stringify(manifest));
  return manifest as Manifest;
}

/** Every cached file hashes to its name, and no temp file is left. */
async function expectCacheConsistent(): Promise<string[]> {
  const names = await readdir(join(cacheDir, 'sha256'));
  for (const name of names) expect(await sha256OfFile(join(cacheDir, 'sha256', name))).toBe(name);
  expect(await readdir(join(cacheDir, 'tmp'))).toEqual([]);
  return names;
}

describe('loadModel from S3', () => {
  beforeEach(async () => {
    s3 = await startS3Server({ buckets: [BUCKET] });
    await s3.uploadDir(BUCKET, PREFIX, EXPORT_DIR);
    s3.clearRequests();
  });

  it('cold start: downloads every graph once, verified, into the disk cache', async () => {
    const model = await load();
    const manifest = await exportManifest();
    expect(model.origin).toBe('remote');
    expect(model.source).toBe(SOURCE);
    expect(model.manifest.version).toBe(manifest.version);
    expect(graphsFetched()).toEqual(manifest.graphs.map((g) => g.file).sort());
    for (const graph of manifest.graphs) {
      const path = model.graphPath(graph.file);
      expect(path).toBe(join(cacheDir, 'sha256', graph.sha256));
      expect(await sha256OfFile(path)).toBe(graph.sha256);
    }
    expect(await expectCacheConsistent()).toHaveLength(manifest.graphs.length);
    expect(() => model.graphPath('nope.onnx')).toThrow(/has no file "nope.onnx"/);

    const session = await InferenceSession.create(model.graphPath('translator_a2b.onnx'));
    expect([...session.inputNames].sort()).toEqual(['image', 'style']);
    await session.release();

    const done = logs.find((line) => line.msg === 'downloaded model files');
    expect(done).toMatchObject({ files: 4, totalBytes: manifest.graphs.reduce((sum, g) => sum + g.bytes, 0), percent: 100 });
    expect(done?.doneBytes).toBe(done?.totalBytes);
    expect(typeof done?.mbPerSecond).toBe('number');
  });

  it('restart: reuses the disk cache and fetches no graph, even when the store no longer has them', async () => {
    await load();
    for (const graph of (await exportManifest()).graphs) await store().deleteObject(BUCKET, `${PREFIX}${graph.file}`);
    store().clearRequests();

    const model = await load();
    expect(model.origin).toBe('remote');
    expect(graphsFetched()).toEqual([]);
    expect(store().requests.map((r) => `${r.method} ${r.url.replace(/\?.*$/, '')}`)).toEqual([`GET /${BUCKET}/${PREFIX}manifest.json`]);
    expect(logs.some((line) => line.msg === 'every model file is in the disk cache')).toBe(true);
  });

  it('fetches again a cached file that no longer matches its digest', async () => {
    const first = await load();
    const path = first.graphPath('translator_a2b.onnx');
    await writeFile(path, await alteredTranslator());
    store().clearRequests();

    await load();
    expect(graphsFetched()).toEqual(['translator_a2b.onnx']);
    await expectCacheConsistent();
    expect(logs.some((line) => line.level === 40 && line.msg.includes('damaged'))).toBe(true);
  });

  it('refuses a graph whose bytes do not match the manifest, naming the file, and caches nothing of it', async () => {
    const tampered = await alteredTranslator();
    await store().putObject(BUCKET, `${PREFIX}translator_a2b.onnx`, tampered);
    const expected = (await exportManifest()).graphs.find((g) => g.file === 'translator_a2b.onnx')?.sha256;

    const error = await loadError();
    expect(error.reason).toBe(`${LABEL}translator_a2b.onnx: sha256 mismatch (expected ${expected}, got ${sha256(tampered)})`);
    const cached = await expectCacheConsistent();
    expect(cached).not.toContain(sha256(tampered));
    expect(cached).not.toContain(expected);
    // Nothing was remembered, so an outage now has no version to fall back to.
    expect(await readdir(join(cacheDir, 'sources'))).toEqual([]);
  });

  it.each([
    ['shorter', 1000, /size mismatch \(expected 1926316 bytes, got 1000\)/],
    ['longer', 1926316 + 10, /size mismatch \(expected 1926316 bytes, got more than that\)/],
  ])('refuses a %s graph file', async (_label, size, reason) => {
    await store().putObject(BUCKET, `${PREFIX}translator_a2b.onnx`, new Uint8Array(size));
    const error = await loadError();
    expect(error.reason).toMatch(reason);
    expect(error.reason).toContain(`${LABEL}translator_a2b.onnx: `);
    await expectCacheConsistent();
  });

  it('refuses a new version that fails verification; the version before stays cached and remembered', async () => {
    const first = await load();
    await publishVersion2(await alteredTranslator()); // the store still holds the original bytes
    const error = await loadError();
    expect(error.reason).toMatch(/translator_a2b\.onnx: sha256 mismatch/);
    for (const graph of first.manifest.graphs) expect(await sha256OfFile(first.graphPath(graph.file))).toBe(graph.sha256);

    await store().stop();
    const fallback = await load();
    expect(fallback.origin).toBe('cache');
    expect(fallback.manifest.version).toBe(first.manifest.version);
  });

  it('a new version fetches only its changed file and leaves the files of the one in use in place', async () => {
    const first = await load();
    const changed = await alteredTranslator();
    await store().putObject(BUCKET, `${PREFIX}translator_a2b.onnx`, changed);
    await publishVersion2(changed);
    store().clearRequests();

    const second = await load();
    expect(second.manifest.version).toBe('0.1.0-random.2');
    expect(graphsFetched()).toEqual(['translator_a2b.onnx']);
    expect(second.graphPath('translator_a2b.onnx')).not.toBe(first.graphPath('translator_a2b.onnx'));
    expect(second.graphPath('translator_b2a.onnx')).toBe(first.graphPath('translator_b2a.onnx'));
    for (const graph of first.manifest.graphs) expect(await sha256OfFile(first.graphPath(graph.file))).toBe(graph.sha256);
    expect(await expectCacheConsistent()).toHaveLength(5);
  });

  it('store unreachable at start with a cached version: serves it from the cache, with a warning', async () => {
    const first = await load();
    await store().stop();
    const model = await load();
    expect(model.origin).toBe('cache');
    expect(model.manifest.version).toBe(first.manifest.version);
    expect(model.graphPath('style_encoder_b.onnx')).toBe(first.graphPath('style_encoder_b.onnx'));
    const warning = logs.find((line) => line.level === 40);
    expect(warning?.msg).toMatch(/unreachable; serving the version cached before/);
    expect(warning?.problem).toMatch(/ECONNREFUSED/);
  });

  it('store unreachable without a cached version: refused quickly, the reason naming the store', async () => {
    await store().stop();
    const started = performance.now();
    const error = await loadError();
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(error.reason).toMatch(
      /^model store s3:\/\/models\/sa-munit-random\/ unreachable: connect ECONNREFUSED 127\.0\.0\.1:\d+ and no cached copy$/,
    );
  });

  it('store unreachable and a cached file lost: refused, saying why the cache cannot serve', async () => {
    const first = await load();
    await rm(first.graphPath('translator_b2a.onnx'));
    await store().stop();
    const error = await loadError();
    expect(error.reason).toMatch(/unreachable: connect ECONNREFUSED .* and the cached copy is unusable: .*manifest\.graphs\[1\]\.file: cannot read: no such file/);
  });

  it('a store that answers "no such manifest" is not an outage: no fallback to the cache', async () => {
    await load();
    await store().deleteObject(BUCKET, `${PREFIX}manifest.json`);
    const error = await loadError();
    expect(error.reason).toMatch(/^model store s3:\/\/models\/sa-munit-random\/: cannot read manifest\.json: NoSuchKey \(HTTP 404\)/);
  });

  it('wrong credentials are refused with the store\'s answer', async () => {
    const error = await loadError({ s3: { ...store().overrides, credentials: { accessKeyId: 'WRONG', secretAccessKey: 'WRONG' } } });
    expect(error.reason).toMatch(/cannot read manifest\.json: InvalidAccessKeyId \(HTTP 403\)/);
  });

  it('refuses a manifest.json that is not valid, naming the field', async () => {
    const manifest = structuredClone(await exportManifest()) as any;
    delete manifest.graphs[0].bytes;
    await store().putObject(BUCKET, `${PREFIX}manifest.json`, JSON.stringify(manifest));
    expect((await loadError()).reason).toMatch(
      /^s3:\/\/models\/sa-munit-random\/manifest\.json invalid: manifest\.graphs\[0\]\.bytes: is required/,
    );

    await store().putObject(BUCKET, `${PREFIX}manifest.json`, '{"name": ');
    expect((await loadError()).reason).toMatch(/manifest\.json invalid: not JSON/);
    expect(graphsFetched()).toEqual([]);
  });

  it('works with an export at the root of the bucket and one file at a time', async () => {
    await store().createBucket('root');
    await store().uploadDir('root', '', EXPORT_DIR);
    const model = await load({ source: 's3://root', downloadConcurrency: 1 });
    expect(model.manifest.name).toBe('sa-munit-random');
  });
});

describe('loadModel from a local folder', () => {
  it('verifies the export in place, without copying it', async () => {
    const model = await load({ source: 'models/sa-munit-random' });
    expect(model.origin).toBe('remote');
    expect(model.graphPath('translator_b2a.onnx')).toBe(join(EXPORT_DIR, 'translator_b2a.onnx'));
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('refuses a folder with a tampered graph, naming the file', async () => {
    const dir = await tempDir('export');
    await cp(EXPORT_DIR, dir, { recursive: true });
    const path = join(dir, 'translator_b2a.onnx');
    const bytes = await readFile(path);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(path, bytes);
    const error = await loadError({ source: dir });
    expect(error.reason).toMatch(/translator_b2a\.onnx: manifest\.graphs\[1\]\.sha256: manifest says [0-9a-f]{64}, file hashes to [0-9a-f]{64}/);
  });

  it('refuses a folder without a manifest', async () => {
    const error = await loadError({ source: await tempDir('empty') });
    expect(error.reason).toMatch(/manifest\.json: cannot read: no such file/);
  });
});

describe('parseModelSource', () => {
  it.each([
    ['s3://models/sa-munit', 'models', 'sa-munit/'],
    ['s3://models/sa-munit/', 'models', 'sa-munit/'],
    ['s3://models/team/sa-munit', 'models', 'team/sa-munit/'],
    ['s3://models', 'models', ''],
    ['s3://models/', 'models', ''],
  ])('%s → bucket %s, prefix "%s"', (text, bucket, prefix) => {
    expect(parseModelSource(text)).toEqual({ kind: 's3', bucket, prefix, label: `s3://${bucket}/${prefix}` });
  });

  it('takes anything else as a folder, made absolute', () => {
    expect(parseModelSource('models/x')).toEqual({ kind: 'folder', dir: resolve('models/x'), label: resolve('models/x') });
    expect(parseModelSource('/srv/model')).toMatchObject({ kind: 'folder', dir: '/srv/model' });
  });

  it.each([
    ['', /it is empty/],
    ['  ', /it is empty/],
    ['s3://', /no bucket name/],
    ['s3:///prefix', /no bucket name/],
    ['s3://my bucket/x', /"my bucket" is not a bucket name/],
    ['s3://models//x', /empty path segment/],
    ['gs://models/x', /scheme "gs:\/\/" is not supported/],
    ['https://example.com/model', /scheme "https:\/\/" is not supported/],
  ])('rejects %j', (text, problem) => {
    let error: unknown;
    try {
      parseModelSource(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as ModelLoadError).reason).toMatch(/^invalid model source ".*": /);
    expect((error as ModelLoadError).reason).toMatch(problem);
    expect((error as ModelLoadError).reason).toContain('expected s3://bucket/prefix or a folder path');
  });

  it('loadModel rejects a bad source before touching anything', async () => {
    const error = await loadError({ source: 's3://' });
    expect(error.reason).toMatch(/invalid model source "s3:\/\/": no bucket name/);
    expect(await readdir(cacheDir)).toEqual([]);
  });
});

describe('ArtifactCache', () => {
  it('removes temp files that a crashed download left behind, not fresh ones', async () => {
    await ArtifactCache.open(cacheDir);
    const stale = join(cacheDir, 'tmp', 'stale.part');
    const fresh = join(cacheDir, 'tmp', 'fresh.part');
    await writeFile(stale, 'x');
    await writeFile(fresh, 'x');
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(stale, twoHoursAgo, twoHoursAgo);
    await ArtifactCache.open(cacheDir);
    expect(await readdir(join(cacheDir, 'tmp'))).toEqual(['fresh.part']);
  });

  it('refuses a digest that is not sha256 hex as a file name', async () => {
    const cache = await ArtifactCache.open(cacheDir);
    expect(() => cache.path('../../etc/passwd')).toThrow(/not a sha256 hex digest/);
  });
});
