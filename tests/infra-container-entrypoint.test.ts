/**
 * Smoke test of the function as its container starts it, without Docker: the command line and the
 * environment are read from functions/Dockerfile (CMD, ENV, EXPOSE, HEALTHCHECK) and run in the
 * repository root (the image's WORKDIR holds the same layout), with only what a platform adds on
 * top: PORT (Cloud Run sets it), the model store's variables, and MODEL_SOURCE pointing at a
 * model's folder in a real S3-protocol server, published there with the publishing command.
 *
 * Ready is decided by the Dockerfile's own HEALTHCHECK command; then a translation, the liveness
 * endpoint the Cloud Run probe uses, and SIGTERM → drained, exit 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifestFromDir } from '../contract/manifest-dir.ts';
import { runPublishCommand } from '../infra/publish/publish-command.ts';
import { freePort } from './support/function-process.ts';
import { startS3Server, type S3TestServer } from './support/s3-server.ts';

const ROOT = resolve(import.meta.dirname, '..');
const demoVersion = (await loadManifestFromDir(join(ROOT, 'models/sa-munit-shapes'))).version;

interface DockerfileRun {
  readonly cmd: string[];
  readonly env: Record<string, string>;
  readonly expose: number;
  readonly healthcheck: string[];
}

/** CMD, ENV, EXPOSE and HEALTHCHECK of the Dockerfile's last stage. */
async function readDockerfile(file: string): Promise<DockerfileRun> {
  const text = (await readFile(join(ROOT, file), 'utf8')).replace(/\\\r?\n/g, ' ');
  const stages = text.split(/^FROM /m);
  const last = stages[stages.length - 1] ?? '';
  const lines = last.split('\n').map((line) => line.trim());
  const instruction = (name: string) => lines.filter((line) => line.startsWith(`${name} `)).map((line) => line.slice(name.length + 1).trim());
  const env: Record<string, string> = {};
  for (const line of instruction('ENV')) {
    for (const match of line.matchAll(/([A-Z_][A-Z0-9_]*)=("[^"]*"|\S+)/g)) env[match[1] ?? ''] = (match[2] ?? '').replace(/^"|"$/g, '');
  }
  const cmd = JSON.parse(instruction('CMD').at(-1) ?? '[]') as string[];
  const healthcheck = JSON.parse(/CMD (\[.*\])$/.exec(instruction('HEALTHCHECK').at(-1) ?? '')?.[1] ?? '[]') as string[];
  return { cmd, env, expose: Number(instruction('EXPOSE').at(-1)), healthcheck };
}

describe('the function started as functions/Dockerfile starts it', () => {
  let s3: S3TestServer;
  let cacheDir: string;
  let child: ChildProcess | undefined;
  const output: string[] = [];

  beforeAll(async () => {
    s3 = await startS3Server({ buckets: ['models'] });
    cacheDir = await mkdtemp(join(tmpdir(), 'entrypoint-cache-'));
  });
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await s3.stop();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('both images share one entry point: node + the tsx loader on functions/main.ts', async () => {
    const gpu = await readDockerfile('functions/Dockerfile');
    const cpu = await readDockerfile('functions/Dockerfile.cpu');
    expect(gpu.cmd).toEqual(['node', '--import', 'tsx', 'functions/main.ts']);
    expect(cpu.cmd).toEqual(gpu.cmd);
    expect(gpu.env).toMatchObject({ NODE_ENV: 'production', PORT: String(gpu.expose), EXECUTION_PROVIDER: 'auto' });
    expect(cpu.env).toMatchObject({ NODE_ENV: 'production', EXECUTION_PROVIDER: 'cpu' });
  });

  it('follows the published pointer, becomes healthy by its own HEALTHCHECK, translates, and drains on SIGTERM', async () => {
    const errors: string[] = [];
    const published = await runPublishCommand(
      [join(ROOT, 'models/sa-munit-shapes'), '--to', 's3://models/models', '--set-current', '--quiet'],
      s3.env,
      { out: () => {}, err: (line) => errors.push(line) },
    );
    expect(published, errors.join('\n')).toBe(0);

    const image = await readDockerfile('functions/Dockerfile');
    const port = await freePort();
    const env = {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '/tmp',
      ...image.env,
      // What the platform and the deployment add (infra/cloud-run/main.tf): the port, the model.
      PORT: String(port),
      MODEL_CACHE_DIR: cacheDir, // the image's /var/cache/sa-munit
      MODEL_SOURCE: 's3://models/models/sa-munit-shapes/',
      ...s3.env,
    };
    const [command = '', ...args] = image.cmd;
    child = spawn(command === 'node' ? process.execPath : command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));

    // The image's HEALTHCHECK, run as Docker would, until it passes (its start period is 120 s).
    const [hcCommand = '', ...hcArgs] = image.healthcheck;
    const healthy = async (): Promise<boolean> => {
      const check = spawn(hcCommand === 'node' ? process.execPath : hcCommand, hcArgs, { env, stdio: 'ignore' });
      const [code] = (await once(check, 'exit')) as [number | null];
      return code === 0;
    };
    const until = Date.now() + 90_000;
    while (!(await healthy())) {
      if (child.exitCode !== null || Date.now() > until) throw new Error(`not healthy (exit ${child.exitCode}):\n${output.join('').slice(-3000)}`);
      await new Promise((wake) => setTimeout(wake, 250));
    }

    const url = `http://127.0.0.1:${port}`;
    expect((await fetch(`${url}/v2/health/live`)).status).toBe(200);
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { models: { version: string; execution_provider: string }[] };
    expect(models.models[0]).toMatchObject({ version: demoVersion, execution_provider: 'cpu' }); // auto → CPU without a GPU
    const translated = await fetch(`${url}/v1/translate?direction=a2b&seed=7`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: await readFile(join(ROOT, 'samples/circle.png')),
    });
    expect(translated.status).toBe(200);
    expect(translated.headers.get('content-type')).toBe('image/png');

    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(output.join('')).toContain('"msg":"stopped"');
  });
});
