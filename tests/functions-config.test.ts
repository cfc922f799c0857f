import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../contract/errors.ts';
import { ConfigError, EMBEDDED_MODEL_DIR, loadConfig } from '../functions/config.ts';

const ROOT = resolve(import.meta.dirname, '..');

describe('function configuration', () => {
  it('defaults to the committed model on the CPU-friendly settings', () => {
    const config = loadConfig({});
    expect(config.model.source).toBe(EMBEDDED_MODEL_DIR);
    expect(config.port).toBe(8080);
    expect(config.batching).toEqual({ maxBatchSize: 8, maxQueueDelayMs: 10, maxQueueLength: 256, defaultDeadlineMs: 30_000 });
    expect(config.model.s3.forcePathStyle).toBe(false);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads every value and turns path style on for a custom S3 endpoint', () => {
    const config = loadConfig({
      PORT: '9000',
      MODEL_SOURCE: 's3://bucket/models/x/1',
      AWS_REGION: 'auto',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9999',
      MAX_BATCH_SIZE: '16',
      EXECUTION_PROVIDER: 'cpu',
      INFERENCE_WORKERS: '2',
      ADMIN_TOKEN: 'a-long-enough-admin-token',
      MAX_QUEUE_DELAY_MS: '', // empty = unset
    });
    expect(config.port).toBe(9000);
    expect(config.model.s3.forcePathStyle).toBe(true);
    expect(config.batching.maxBatchSize).toBe(16);
    expect(config.batching.maxQueueDelayMs).toBe(10);
    expect(config.inference).toMatchObject({ provider: 'cpu', workers: 2 });
  });

  it('reports every bad variable by name, together', () => {
    let error: unknown;
    try {
      // A caller token a bearer header cannot carry (a space) would fail every call: refused here.
      loadConfig({ PORT: 'eighty', MAX_BATCH_SIZE: '0', EXECUTION_PROVIDER: 'tpu', ADMIN_TOKEN: 'short', MODEL_SOURCE: 's3://', FUNCTION_AUTH_TOKEN: 'pass word with spaces!' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['PORT', 'MAX_BATCH_SIZE', 'EXECUTION_PROVIDER', 'ADMIN_TOKEN', 'MODEL_SOURCE', 'FUNCTION_AUTH_TOKEN']) expect(message).toContain(`${name}:`);
  });

  it('requires a region for an s3:// source', () => {
    expect(() => loadConfig({ MODEL_SOURCE: 's3://bucket/prefix' })).toThrow(/AWS_REGION: required for an s3:\/\/ MODEL_SOURCE/);
  });

  it('makes the process exit 2 with the message, before listening', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'functions/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', MAX_QUEUE_LENGTH: '-5' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('MAX_QUEUE_LENGTH: must be a whole number');
    expect(result.stdout).not.toContain('listening');
  });
});

describe('error code documentation', () => {
  it('lists every error code in functions/README.md', async () => {
    const readme = await readFile(resolve(ROOT, 'functions/README.md'), 'utf8');
    for (const [code, info] of Object.entries(ERROR_CODES)) expect(readme).toContain(`| \`${code}\` | ${info.status} |`);
  });
});
