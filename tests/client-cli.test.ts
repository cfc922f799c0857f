/**
 * The `sa-munit` command-line client as a user runs it (node_modules/.bin/sa-munit, a child
 * process), against the edge under `wrangler dev` forwarding to a real function process: files
 * written and decodable, seeds, cache HIT/MISS, the dev-keys.json fallback, and each failure class
 * with its exit code and message. Retries and timeouts need answers a real edge cannot be made to
 * give on demand (a 503 with Retry-After, a hung socket), so a small stand-in in front of the edge
 * scripts them and passes everything else through.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from '../edge/cli/keys.ts';
import { EMBEDDED_MODEL_DIR } from '../functions/config.ts';
import { freePort, startFunction, type FunctionProcess } from './support/function-process.ts';
import { startWranglerDev, type WranglerDev } from './support/wrangler-dev.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'node_modules/.bin/sa-munit');
const CIRCLE = join(ROOT, 'samples/circle.png');
const SQUARE = join(ROOT, 'samples/square.png');
const manifest = JSON.parse(await readFile(join(EMBEDDED_MODEL_DIR, 'manifest.json'), 'utf8')) as { name: string; version: string; image_size: number };
const MODEL = `model ${manifest.name} ${manifest.version}`;

let fn: FunctionProcess | undefined;
let edge: WranglerDev | undefined;
let persistTo = '';
let work = '';
let token = '';

interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI with a clean environment: no SA_MUNIT_* of the developer's shell leaks in. */
function runCli(args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  return new Promise((done) => {
    execFile(
      BIN,
      [...args],
      { cwd: options.cwd ?? work, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...options.env }, timeout: 60_000 },
      (error, stdout, stderr) => done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }),
    );
  });
}

const connection = () => ['--url', edge!.url, '--key', token];

async function folder(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  return dir;
}

async function pngSize(path: string): Promise<[string | undefined, number | undefined, number | undefined]> {
  const meta = await sharp(path).metadata();
  return [meta.format, meta.width, meta.height];
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'client-cli-'));
  persistTo = await mkdtemp(join(tmpdir(), 'client-cli-edge-'));
  fn = await startFunction({ MODEL_SOURCE: EMBEDDED_MODEL_DIR, INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1' });
  await fn.waitUntilReady();
  token = (await createKey({ remote: false, env: undefined, persistTo }, { kind: 'secret', name: 'client-cli', origins: [] })).token;
  edge = await startWranglerDev({ persistTo, vars: { FUNCTION_POOL: fn.url, MODELS_TTL_MS: '600000' } });
});

afterAll(async () => {
  await edge?.stop();
  await fn?.stop();
  for (const dir of [work, persistTo]) if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('sa-munit: help', () => {
  it('prints the commands and the options of translate', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('translate');
    const translate = await runCli(['translate', '--help']);
    expect(translate.code).toBe(0);
    for (const option of ['--out', '--direction', '--seed', '--n', '--style-image', '--format', '--quality', '--fit', '--url', '--key', '--timeout']) {
      expect(translate.stdout).toContain(option);
    }
  });
});

describe('sa-munit translate against wrangler dev and a real function', () => {
  it('writes one PNG at the model size and prints its seed, MISS and the model version', async () => {
    const dir = await folder('one');
    const result = await runCli(['translate', CIRCLE, '-o', join(dir, 'out.png'), '--seed', '7', ...connection()]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${join(dir, 'out.png')}  seed 7  cache MISS  ${MODEL}\n`);
    expect(await pngSize(join(dir, 'out.png'))).toEqual(['png', manifest.image_size, manifest.image_size]);
    expect(await readdir(dir)).toEqual(['out.png']); // no temporary file left behind
  });

  it('answers the same seed again from the cache (HIT) with identical bytes', async () => {
    const dir = await folder('again');
    const first = await runCli(['translate', CIRCLE, '-o', join(dir, 'first.png'), '--seed', '4242', ...connection()]);
    const second = await runCli(['translate', CIRCLE, '-o', join(dir, 'second.png'), '--seed', '4242', ...connection()]);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(first.stdout).toContain('cache MISS');
    expect(second.stdout).toContain('cache HIT');
    expect(await readFile(join(dir, 'second.png'))).toEqual(await readFile(join(dir, 'first.png')));
  });

  it('writes n = 4 files with consecutive seeds beside -o, one line each', async () => {
    const dir = await folder('four');
    const result = await runCli(['translate', CIRCLE, '-o', join(dir, 'out.png'), '--seed', '100', '--n', '4', ...connection()]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const names = ['out-100.png', 'out-101.png', 'out-102.png', 'out-103.png'];
    expect((await readdir(dir)).sort()).toEqual(names);
    expect(result.stdout.trim().split('\n')).toEqual(names.map((name, i) => `${join(dir, name)}  seed ${100 + i}  cache MISS  ${MODEL}`));
    for (const name of names) expect(await pngSize(join(dir, name))).toEqual(['png', manifest.image_size, manifest.image_size]);
    // Output i of base 100 is output 0 of base 100 + i (the seed contract), so each file differs.
    const bytes = await Promise.all(names.map((name) => readFile(join(dir, name))));
    expect(new Set(bytes.map((b) => b.toString('base64'))).size).toBe(4);
  });

  it('names files after the input and the seed the API chose when -o is a folder', async () => {
    const dir = join(work, 'chosen/'); // does not exist yet: the trailing slash makes it a folder
    const result = await runCli(['translate', CIRCLE, '-o', dir, '--n', '2', '--format', 'webp', ...connection()]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const seeds = [...result.stdout.matchAll(/seed (\d+)/g)].map((match) => Number(match[1]));
    expect(seeds).toHaveLength(2);
    expect(seeds[1]).toBe(seeds[0]! + 1);
    expect((await readdir(dir)).sort()).toEqual(seeds.map((seed) => `circle-${seed}.webp`).sort());
    expect((await sharp(join(dir, `circle-${seeds[0]}.webp`)).metadata()).format).toBe('webp');
  });

  it('takes the style from a reference image (multipart upload)', async () => {
    const dir = await folder('styled');
    const result = await runCli(['translate', CIRCLE, '-o', join(dir, 'out.png'), '--style-image', SQUARE, ...connection()]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`style of ${SQUARE}`);
    expect(await pngSize(join(dir, 'out.png'))).toEqual(['png', manifest.image_size, manifest.image_size]);
  });

  it('finds .local/dev-keys.json upward from the working directory: URL and key from there', async () => {
    const project = await folder('project');
    await mkdir(join(project, '.local'));
    await mkdir(join(project, 'nested'));
    await writeFile(join(project, '.local/dev-keys.json'), JSON.stringify({ edgeUrl: edge!.url, secretKey: token, publishableKey: 'pk_unused', publishableOrigins: [] }));
    const result = await runCli(['translate', CIRCLE, '-o', 'out.png', '--seed', '7'], { cwd: join(project, 'nested') });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^out\\.png  seed 7  cache (HIT|MISS)  ${MODEL}\n$`));
    expect(await pngSize(join(project, 'nested/out.png'))).toEqual(['png', manifest.image_size, manifest.image_size]);
  });

  it('never takes a non-loopback URL from a dev-keys file, so a key from the environment cannot be sent there', async () => {
    const planted = await folder('planted');
    await mkdir(join(planted, '.local'));
    await writeFile(
      join(planted, '.local/dev-keys.json'),
      JSON.stringify({ edgeUrl: 'https://evil.example', secretKey: 'sk_planted', publishableKey: 'pk_planted', publishableOrigins: [] }),
    );
    const result = await runCli(['translate', CIRCLE, '-o', 'out.png'], { cwd: planted, env: { SA_MUNIT_KEY: token } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('"https://evil.example" is not a loopback URL');
    expect(await readdir(planted)).toEqual(['.local']);
  });
});

describe('sa-munit translate: failures', () => {
  it('a wrong key: exit 1 with the API code, message and request id; nothing written', async () => {
    const dir = await folder('bad-key');
    const result = await runCli(['translate', CIRCLE, '-o', join(dir, 'out.png'), '--url', edge!.url, '--key', 'sk_not_a_real_key']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^sa-munit translate: unauthorized: .+ \(request id [\w-]+\)\n$/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('a missing input file: exit 2 naming it, no request, nothing written', async () => {
    const dir = await folder('missing');
    const result = await runCli(['translate', join(dir, 'nope.jpg'), '-o', join(dir, 'out.png'), ...connection()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${join(dir, 'nope.jpg')}: no such file`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('bad options and no key: exit 2 naming the option, before any request', async () => {
    const badN = await runCli(['translate', CIRCLE, '-o', 'x.png', '--n', '9', ...connection()]);
    expect([badN.code, badN.stderr]).toEqual([2, 'sa-munit translate: --n: must be an integer from 1 to 8\n']);
    // A remote URL never gets a key from dev-keys.json.
    const noKey = await runCli(['translate', CIRCLE, '-o', 'x.png', '--url', 'https://api.example.invalid']);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('no API key for https://api.example.invalid: pass --key');
  });

  it('connection refused: exit 3 naming the URL', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await runCli(['translate', CIRCLE, '-o', 'refused.png', '--url', url, '--key', token]);
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(`sa-munit translate: cannot reach ${url}: connection refused (is the edge running?) [ECONNREFUSED]\n`);
  });
});

describe('sa-munit translate: retries and timeouts (a scripted stand-in in front of the edge)', () => {
  type Handler = (request: IncomingMessage, response: ServerResponse) => void;
  let standIn: Server;
  let standInUrl = '';
  let script: Handler[] = [];
  let seen = 0;

  /** Answers with the next scripted handler; once the script is used up, passes requests to the edge. */
  async function passThrough(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const headers = Object.fromEntries(Object.entries(request.headers).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[0] !== 'host'));
    const answer = await fetch(`${edge!.url}${request.url}`, { method: request.method!, headers, body: Buffer.concat(chunks) });
    response.writeHead(answer.status, Object.fromEntries(answer.headers));
    response.end(Buffer.from(await answer.arrayBuffer()));
  }

  const apiError = (status: number, code: string, retryAfter: string): Handler => (_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json', 'retry-after': retryAfter });
    response.end(JSON.stringify({ error: { code, message: 'scripted', requestId: 'scripted-id' } }));
  };

  beforeAll(async () => {
    standIn = createServer((request, response) => {
      seen += 1;
      const next = script.shift();
      if (next !== undefined) next(request, response);
      else void passThrough(request, response);
    });
    standIn.listen(0, '127.0.0.1');
    await once(standIn, 'listening');
    const address = standIn.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    standInUrl = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    standIn.closeAllConnections();
    standIn.close();
  });

  it('waits as a 503 Retry-After asks, then succeeds', async () => {
    const dir = await folder('retried');
    script = [apiError(503, 'not_ready', '1')];
    seen = 0;
    const started = Date.now();
    const result = await runCli(['translate', CIRCLE, '-o', join(dir, 'out.png'), '--seed', '7', '--url', standInUrl, '--key', token]);
    expect(result.code).toBe(0);
    expect(seen).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(result.stderr).toBe('sa-munit translate: not_ready: scripted (request id scripted-id); retrying in 1.0 s (1/3)\n');
    expect(await readdir(dir)).toEqual(['out.png']);
  });

  it('gives up after 3 retries of a 429 with exit 1 and the API code', async () => {
    script = Array.from({ length: 4 }, () => apiError(429, 'rate_limited', '0'));
    seen = 0;
    const result = await runCli(['translate', CIRCLE, '-o', 'limited.png', '--url', standInUrl, '--key', token]);
    expect(result.code).toBe(1);
    expect(seen).toBe(4);
    expect(result.stderr.trim().split('\n').at(-1)).toBe('sa-munit translate: rate_limited: scripted (request id scripted-id)');
  });

  it('does not wait past --timeout: a Retry-After beyond it fails at once', async () => {
    script = [apiError(429, 'rate_limited', '3600')];
    seen = 0;
    const result = await runCli(['translate', CIRCLE, '-o', 'limited.png', '--url', standInUrl, '--key', token, '--timeout', '5']);
    expect([result.code, seen]).toEqual([1, 1]);
  });

  it('an answer that never comes: exit 3 after --timeout', async () => {
    script = [() => {}]; // holds the request open
    const result = await runCli(['translate', CIRCLE, '-o', 'hung.png', '--url', standInUrl, '--key', token, '--timeout', '0.5']);
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(`sa-munit translate: ${standInUrl}: no complete answer within 0.5 s (--timeout)\n`);
  });
});
