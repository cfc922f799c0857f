/**
 * The edge builds for both of its wrangler environments without an account: `wrangler deploy
 * --dry-run` (through infra/edge/provision.sh check for production, directly for the local one)
 * bundles the Worker, runs the page build, checks the bindings of edge/wrangler.toml and writes
 * the bundle that `wrangler deploy` would upload, which must fit the Workers size limit.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
const run = promisify(execFile);
const temps: string[] = [];
/** Workers Free's limit on a compressed Worker (Paid: 10 MiB). */
const FREE_PLAN_GZIP_LIMIT_KIB = 3 * 1024;

afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function dryRun(env: 'production' | undefined): Promise<{ output: string; outdir: string }> {
  const outdir = await mkdtemp(join(tmpdir(), 'edge-dry-run-'));
  temps.push(outdir);
  const args = ['deploy', '--dry-run', '--outdir', outdir, ...(env === undefined ? [] : ['--env', env])];
  const { stdout, stderr } = await run(WRANGLER, args, {
    cwd: join(ROOT, 'edge'),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', WRANGLER_SEND_METRICS: 'false', CI: 'true' },
    timeout: 180_000,
  });
  return { output: stdout + stderr, outdir };
}

function gzipKib(output: string): number {
  const match = /Total Upload: [\d.]+ KiB \/ gzip: ([\d.]+) KiB/.exec(output);
  if (match === null) throw new Error(`no upload size in:\n${output}`);
  return Number(match[1]);
}

describe('wrangler deploy --dry-run', () => {
  it('production (via provision.sh check): the production bindings, a bundle within the size limit', async () => {
    const { stdout, stderr } = await run('bash', [join(ROOT, 'infra/edge/provision.sh'), 'check'], {
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', WRANGLER: WRANGLER, CI: 'true' },
      timeout: 180_000,
    });
    const output = stdout + stderr;
    expect(output).toContain('--dry-run: exiting now.');
    expect(output).toMatch(/env\.KEY_QUOTAS \(KeyQuota\)\s+Durable Object/);
    expect(output).toMatch(/env\.API_KEYS \([0-9a-f]{32}\)\s+KV Namespace/);
    expect(output).toMatch(/env\.RESULTS \(sa-munit-results\)\s+R2 Bucket/);
    expect(output).toMatch(/env\.RATE_LIMITER \(600 requests\/60s\)\s+Rate Limit/);
    expect(output).toMatch(/env\.ENVIRONMENT \("production"\)/);
    expect(gzipKib(output)).toBeLessThan(FREE_PLAN_GZIP_LIMIT_KIB);
  });

  it('the local environment builds too, with its own names, and writes the bundle it would upload', async () => {
    const { output, outdir } = await dryRun(undefined);
    expect(output).toContain('--dry-run: exiting now.');
    expect(output).toMatch(/env\.RESULTS \(sa-munit-results-local\)\s+R2 Bucket/);
    expect(output).toMatch(/env\.ENVIRONMENT \("local"\)/);
    expect(await readdir(outdir)).toContain('index.js');
    expect((await stat(join(outdir, 'index.js'))).size).toBeGreaterThan(10_000);
  });
});
