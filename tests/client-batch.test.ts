/**
 * `sa-munit batch` as a user runs it (node_modules/.bin/sa-munit, a child process). Its local
 * checks (options, a file that is not an image, an empty folder, a folder that changed under a
 * saved job) need no server and must send nothing. The rest runs against the edge under
 * `wrangler dev` (local Durable Objects, Queues and R2) with one real function: a folder of twelve
 * varied images through a whole job; n = 2 naming; a run stopped with Ctrl-C halfway through its
 * uploads and continued with the same command, with every PUT counted by a stand-in in front of
 * the edge so that an image sent twice would show; a crash before the state file was saved (the
 * Idempotency-Key gives the same job back); and --resume <job id> into an empty folder.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
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
const STATE_FILE = '.sa-munit-batch.json';
const manifest = JSON.parse(await readFile(join(EMBEDDED_MODEL_DIR, 'manifest.json'), 'utf8')) as { image_size: number };

let work = '';
/** Twelve images: circles and squares, turned, flipped, resized, recoloured, as PNG, JPEG and WebP. */
let twelve = '';
const IMAGE_COUNT = 12;

interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI with a clean environment: no SA_MUNIT_* of the developer's shell leaks in. */
function runCli(args: readonly string[], timeout = 100_000): Promise<RunResult> {
  return new Promise((done) => {
    execFile(BIN, [...args], { cwd: work, env: cleanEnv(), timeout }, (error, stdout, stderr) =>
      done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }),
    );
  });
}

const cleanEnv = () => ({ PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp' });

async function makeImages(dir: string, count: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const formats = ['png', 'jpeg', 'webp'] as const;
  const names: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const sample = join(ROOT, 'samples', i % 2 === 0 ? 'circle.png' : 'square.png');
    const format = formats[i % 3]!;
    const name = `shape-${String(i).padStart(2, '0')}.${format === 'jpeg' ? 'jpg' : format}`;
    let image = sharp(sample).rotate(i * 30, { background: '#ffffff' }).resize(64 + 16 * (i % 4), 64 + 8 * (i % 3), { fit: 'fill' });
    if (i % 4 === 1) image = image.flop();
    if (i % 5 === 2) image = image.modulate({ hue: 40 * i });
    await image.toFormat(format).toFile(join(dir, name));
    names.push(name);
  }
  return names;
}

const stemOf = (name: string) => name.replace(/\.[^.]+$/, '');
const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'client-batch-'));
  twelve = join(work, 'twelve');
  await makeImages(twelve, IMAGE_COUNT);
});

afterAll(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true });
});

describe('sa-munit batch: checked before anything is sent', () => {
  // A closed port: a request would end in exit 3, not the usage error each case expects.
  let nowhere = '';
  beforeAll(async () => {
    nowhere = `http://127.0.0.1:${await freePort()}`;
  });
  const offline = () => ['--url', nowhere, '--key', 'sk_test_unused'];

  it('lists its options under --help, and is one of the commands', async () => {
    const help = await runCli(['batch', '--help']);
    expect(help.code).toBe(0);
    for (const option of ['--out', '--direction', '--n', '--seed', '--format', '--quality', '--fit', '--keep-aspect', '--webhook', '--resume', '--concurrency', '--no-progress', '--url', '--key', '--timeout']) {
      expect(help.stdout).toContain(option);
    }
    expect((await runCli(['--help'])).stdout).toMatch(/^ {2}batch {7}/m);
  });

  it('a file with an image extension that is no image: exit 2 naming it, nothing written', async () => {
    const dir = join(work, 'with-fake');
    await makeImages(dir, 2);
    await writeFile(join(dir, 'notes.png'), 'this is text, not a PNG');
    const out = join(work, 'with-fake-out');
    const result = await runCli(['batch', dir, '--out', out, ...offline()]);
    expect([result.code, result.stdout]).toEqual([2, '']);
    expect(result.stderr).toBe(`sa-munit batch: ${join(dir, 'notes.png')}: not a PNG, JPEG or WebP image (by its first bytes), though its name says so\n`);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });

  it('an empty folder, a missing one, and bad options: exit 2 naming them', async () => {
    const empty = join(work, 'empty');
    await mkdir(empty);
    await writeFile(join(empty, 'readme.txt'), 'not an image extension: ignored');
    const cases: [readonly string[], string][] = [
      [['batch', empty, '-o', 'x', ...offline()], `sa-munit batch: <folder> ${empty}: no image files in it (.png, .jpg, .jpeg, .webp)\n`],
      [['batch', join(work, 'nope'), '-o', 'x', ...offline()], `sa-munit batch: <folder> ${join(work, 'nope')}: no such folder\n`],
      [['batch', twelve, ...offline()], 'sa-munit batch: -o/--out: missing (the folder the results go to)\n'],
      [['batch', twelve, '-o', 'x', '--n', '9', ...offline()], 'sa-munit batch: --n: must be an integer from 1 to 8\n'],
      [['batch', twelve, '-o', 'x', '--concurrency', '0', ...offline()], 'sa-munit batch: --concurrency: must be an integer from 1 to 64, got "0"\n'],
      [['batch', twelve, '-o', 'x', '--resume', 'job-1', ...offline()], 'sa-munit batch: --resume: a job id is 64 hex digits (as sa-munit batch prints it), got "job-1"\n'],
      [['batch', twelve, '-o', 'x', '--webhook', 'ftp://example.com', ...offline()], 'sa-munit batch: --webhook: must be an http(s) URL, got "ftp://example.com"\n'],
      [['batch', twelve, '-o', twelve, ...offline()], `sa-munit batch: -o ${twelve}: the results cannot go into the input folder (the next run would read them as inputs)\n`],
    ];
    for (const [args, stderr] of cases) expect(await runCli(args)).toEqual({ code: 2, stdout: '', stderr });
  });

  it('a saved job whose folder changed since: exit 2 naming the changed file, before any request', async () => {
    const dir = join(work, 'changing');
    const names = await makeImages(dir, 3);
    const out = join(work, 'changing-out');
    await mkdir(out);
    const state = {
      version: 1,
      job: 'a'.repeat(64),
      edgeUrl: `${nowhere}/`,
      folder: dir,
      params: { direction: 'a2b', n: 1, format: 'png' },
      webhook: null,
      files: await Promise.all(
        names.map(async (name, index) => {
          const bytes = await readFile(join(dir, name));
          return { index, name, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
        }),
      ),
      downloaded: [],
    };
    await writeFile(join(out, STATE_FILE), JSON.stringify(state));
    await sharp(join(ROOT, 'samples/square.png')).resize(40, 40).png().toFile(join(dir, names[1]!));
    const result = await runCli(['batch', dir, '--out', out, ...offline()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `sa-munit batch: ${join(dir, names[1]!)}: changed since job ${'a'.repeat(64)} started (its sha256 differs); restore it, or give another --out for a new job\n`,
    );
    // Other options than the job's are refused too, naming them.
    await rm(join(dir, names[1]!));
    const other = await runCli(['batch', dir, '--out', out, '--n', '2', ...offline()]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('was started with other options (--n 2 (was 1))');
  });
});

describe('sa-munit batch against wrangler dev and a real function', () => {
  let fn: FunctionProcess | undefined;
  let edge: WranglerDev | undefined;
  let persistTo = '';
  let token = '';
  const connection = () => ['--url', edge!.url, '--key', token, '--no-progress'];

  beforeAll(async () => {
    persistTo = await mkdtemp(join(tmpdir(), 'client-batch-edge-'));
    fn = await startFunction({ MODEL_SOURCE: EMBEDDED_MODEL_DIR, INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1' });
    await fn.waitUntilReady();
    token = (await createKey({ remote: false, env: undefined, persistTo }, { kind: 'secret', name: 'client-batch', origins: [] })).token;
    edge = await startWranglerDev({ persistTo, vars: { FUNCTION_POOL: fn.url, MODELS_TTL_MS: '600000' } });
  });

  afterAll(async () => {
    await edge?.stop();
    await fn?.stop();
    if (persistTo !== '') await rm(persistTo, { recursive: true, force: true });
  });

  async function expectAllResults(out: string, names: readonly string[]): Promise<void> {
    const written = (await readdir(out)).filter((name) => name !== STATE_FILE).sort();
    expect(written).toEqual(names.map((name) => `${stemOf(name)}.png`).sort());
    for (const name of written) {
      const meta = await sharp(join(out, name)).metadata();
      expect([name, meta.format, meta.width, meta.height]).toEqual([name, 'png', manifest.image_size, manifest.image_size]);
    }
    const state = JSON.parse(await readFile(join(out, STATE_FILE), 'utf8')) as { downloaded: number[] };
    expect(state.downloaded).toEqual(names.map((_, index) => index));
  }

  it('translates a folder of twelve images: every result written and decodable, exit 0, a summary', async () => {
    const out = join(work, 'twelve-out');
    const result = await runCli(['batch', twelve, '--out', out, '--seed', '7', ...connection()]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^job [0-9a-f]{64}: ${IMAGE_COUNT} images from ${escaped(twelve)} \\(created\\); state in ${escaped(join(out, STATE_FILE))}$`));
    expect(lines.slice(1)).toEqual([`uploaded ${IMAGE_COUNT}, already uploaded 0 (of ${IMAGE_COUNT})`, `done ${IMAGE_COUNT}, failed 0 (of ${IMAGE_COUNT}); results in ${out} (${IMAGE_COUNT} written by this run)`]);
    expect(result.stderr).toMatch(/^uploading: 0 of 12 images sent\n/);
    expect(result.stderr).toMatch(/translating: \d+ of 12 finished/);
    const names = await readdir(twelve);
    await expectAllResults(out, names);

    // The same command again: the job is done and every result on disk, so nothing is sent or fetched.
    const again = await runCli(['batch', twelve, '--out', out, '--seed', '7', ...connection()]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('(continued)');
    expect(again.stdout).toContain(`uploaded 0, already uploaded ${IMAGE_COUNT} (of ${IMAGE_COUNT})\ndone ${IMAGE_COUNT}, failed 0 (of ${IMAGE_COUNT}); results in ${out} (0 written by this run)`);

    // A crash between the create and the state file: the same files and options make the same
    // Idempotency-Key, so the create answers with the first job (200), not a second one.
    const jobId = /^job ([0-9a-f]{64})/.exec(result.stdout)![1]!;
    await rm(join(out, STATE_FILE));
    const replay = await runCli(['batch', twelve, '--out', out, '--seed', '7', ...connection()]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain(`job ${jobId}: ${IMAGE_COUNT} images from ${twelve} (created before)`);
    expect(replay.stdout).toContain(`uploaded 0, already uploaded ${IMAGE_COUNT} (of ${IMAGE_COUNT})`);
    await expectAllResults(out, names);

    // --resume <job id> into a folder without state: items matched to files by name.
    const elsewhere = join(work, 'twelve-resumed');
    const resumed = await runCli(['batch', twelve, '--out', elsewhere, '--resume', jobId, ...connection()]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`job ${jobId}: ${IMAGE_COUNT} images from ${twelve} (continued)`);
    await expectAllResults(elsewhere, names);
    for (const name of await readdir(out)) {
      if (name !== STATE_FILE) expect(await readFile(join(elsewhere, name))).toEqual(await readFile(join(out, name)));
    }
  });

  it('a wrong key: exit 1 with the API code, no job, no output folder', async () => {
    const out = join(work, 'bad-key-out');
    const result = await runCli(['batch', twelve, '--out', out, '--url', edge!.url, '--key', 'sk_not_a_real_key', '--no-progress']);
    expect([result.code, result.stdout]).toEqual([1, '']);
    expect(result.stderr).toMatch(/^sa-munit batch: unauthorized: .+ \(request id [\w-]+\)\n$/);
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });

  it('an image the function cannot decode fails alone: the others written, its reason listed, exit 1', async () => {
    const dir = join(work, 'one-broken');
    const names = await makeImages(dir, 2);
    // PNG by its first bytes (so neither the CLI nor the edge refuses it), but no image after them.
    const png = await readFile(join(dir, names[0]!));
    await writeFile(join(dir, 'broken.png'), Buffer.concat([png.subarray(0, 16), Buffer.alloc(64, 0x5a)]));
    const out = join(work, 'one-broken-out');
    const result = await runCli(['batch', dir, '--out', out, ...connection()]);
    expect(result.code, result.stderr).toBe(1);
    const lines = result.stdout.trim().split('\n');
    expect(lines[2]).toBe(`done 2, failed 1 (of 3); results in ${out} (2 written by this run)`);
    expect(lines[3]).toMatch(/^failed broken\.png: invalid_image: .+/);
    expect(result.stderr.trim().split('\n').at(-1)).toBe(`sa-munit batch: 1 of 3 images have no result in ${out} (listed above)`);
    expect((await readdir(out)).filter((name) => name !== STATE_FILE).sort()).toEqual(names.map((name) => `${stemOf(name)}.png`).sort());
  });

  it('n = 2 writes <name>-<seed>.<ext> per output', async () => {
    const dir = join(work, 'pair');
    const names = await makeImages(dir, 2);
    const out = join(work, 'pair-out');
    const result = await runCli(['batch', dir, '--out', out, '--n', '2', '--seed', '100', '--format', 'webp', ...connection()]);
    expect(result.code, result.stderr).toBe(0);
    const written = (await readdir(out)).filter((name) => name !== STATE_FILE).sort();
    expect(written).toEqual(names.flatMap((name) => [`${stemOf(name)}-100.webp`, `${stemOf(name)}-101.webp`]).sort());
    for (const name of written) expect((await sharp(join(out, name)).metadata()).format).toBe('webp');
  });

  describe('Ctrl-C halfway through the uploads, then the same command again', () => {
    /** In front of the edge: counts every upload PUT by item and answer, and slows them down. */
    let standIn: Server;
    let standInUrl = '';
    const puts: { index: number; status: number }[] = [];

    async function forward(request: IncomingMessage, response: ServerResponse): Promise<void> {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const upload = /^\/v1\/batches\/[0-9a-f]{64}\/items\/(\d+)\/image\?/.exec(request.url ?? '');
      if (upload !== null) {
        let abandoned = false;
        response.on('close', () => (abandoned = !response.writableFinished));
        await new Promise((wake) => setTimeout(wake, 300));
        // A PUT the CLI gave up on (Ctrl-C) never reaches the edge, so the counts stay exact.
        if (abandoned) return;
      }
      const headers = Object.fromEntries(Object.entries(request.headers).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[0] !== 'host'));
      const answer = await fetch(`${edge!.url}${request.url}`, { method: request.method!, headers, ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }) });
      if (upload !== null) puts.push({ index: Number(upload[1]), status: answer.status });
      let body = Buffer.from(await answer.arrayBuffer());
      const type = answer.headers.get('content-type') ?? '';
      // The edge's absolute URLs (upload, status, result) point back through the stand-in.
      if (type.startsWith('application/json')) body = Buffer.from(body.toString('utf8').replaceAll(edge!.url, standInUrl));
      const outHeaders = Object.fromEntries([...answer.headers].filter(([name]) => name !== 'content-length' && name !== 'content-encoding'));
      response.writeHead(answer.status, outHeaders);
      response.end(body);
    }

    beforeAll(async () => {
      standIn = createServer((request, response) => void forward(request, response).catch(() => response.destroy()));
      standIn.listen(0, '127.0.0.1');
      await once(standIn, 'listening');
      const address = standIn.address();
      if (address === null || typeof address === 'string') throw new Error('no port');
      standInUrl = `http://127.0.0.1:${address.port}`;
    });

    afterAll(() => {
      standIn.closeAllConnections();
      standIn.close();
    });

    it('stops cleanly with the state saved (exit 130), then uploads only what is missing, each image once, and downloads everything', async () => {
      const dir = join(work, 'interrupted');
      const names = await makeImages(dir, IMAGE_COUNT);
      const out = join(work, 'interrupted-out');
      // No --seed: the edge picks one per item, so these are all new translations.
      const args = ['batch', dir, '--out', out, '--concurrency', '1', '--url', standInUrl, '--key', token, '--no-progress'];

      const child = spawn(BIN, args, { cwd: work, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const exited = once(child, 'exit');
      const until = Date.now() + 60_000;
      while (puts.length < 4 && Date.now() < until && child.exitCode === null) await new Promise((wake) => setTimeout(wake, 20));
      expect(puts.length, stderr).toBeGreaterThanOrEqual(4);
      child.kill('SIGINT');
      const [code] = (await exited) as [number | null];
      expect(code, stderr).toBe(130);
      const sentBefore = puts.length;
      expect(sentBefore).toBeLessThan(IMAGE_COUNT);
      const jobId = /^job ([0-9a-f]{64})/.exec(stdout)![1]!;
      // The edge may have accepted one more than the CLI heard of (the answer in flight at Ctrl-C,
      // --concurrency 1): the resumed run below learns it from the edge, not from the CLI's count.
      const [tally, results] = stdout.trim().split('\n').slice(1);
      const counted = Number(/^uploaded (\d+), already uploaded 0, (\d+) still to upload \(of 12\)$/.exec(tally ?? '')?.[1]);
      expect([sentBefore - 1, sentBefore]).toContain(counted);
      expect(tally).toBe(`uploaded ${counted}, already uploaded 0, ${IMAGE_COUNT - counted} still to upload (of ${IMAGE_COUNT})`);
      expect(results).toBe(`results in ${out}: 0 of ${IMAGE_COUNT} so far`);
      expect(stderr.trim().split('\n').at(-1)).toBe(`sa-munit batch: interrupted; job ${jobId} is saved in ${join(out, STATE_FILE)}: run the same command again to continue it`);
      const saved = JSON.parse(await readFile(join(out, STATE_FILE), 'utf8')) as { job: string; files: { index: number; name: string }[] };
      expect(saved.job).toBe(jobId);
      expect(saved.files.map((file) => file.name)).toEqual(names);

      const resumed = await runCli(args);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain(`job ${jobId}: ${IMAGE_COUNT} images from ${dir} (continued)`);
      expect(resumed.stdout).toContain(`uploaded ${IMAGE_COUNT - sentBefore}, already uploaded ${sentBefore} (of ${IMAGE_COUNT})`);
      expect(resumed.stdout).toContain(`done ${IMAGE_COUNT}, failed 0 (of ${IMAGE_COUNT})`);
      // Each item's image went to the edge exactly once, and no PUT was refused as a repeat.
      expect(puts.every((put) => put.status === 201)).toBe(true);
      expect(puts.map((put) => put.index).sort((a, b) => a - b)).toEqual(names.map((_, index) => index));
      await expectAllResults(out, names);
    });
  });
});
