/**
 * The function's configuration: environment variables parsed once at start with zod, every
 * problem reported together naming the variable, then frozen. The only module that reads
 * process.env (the AWS SDK also reads its standard AWS_* variables itself: region, credentials,
 * AWS_ENDPOINT_URL_S3).
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { functionAuthTokenSchema } from '../contract/function-auth-token.ts';
import { ModelLoadError } from './registry/model-load-error.ts';
import { parseModelSource } from './registry/model-source.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..');
/** The committed model: what `npm start` serves without any cloud account. */
export const EMBEDDED_MODEL_DIR = resolve(REPO_ROOT, 'models/sa-munit-shapes');

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const flag = z.enum(['true', 'false', '1', '0'], { message: 'must be true or false' }).transform((v) => v === 'true' || v === '1');

const envSchema = z.object({
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: integer(0, 65_535).default(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  /** s3://bucket/prefix (a folder holding manifest.json) or a local folder. */
  MODEL_SOURCE: z.string().min(1).default(EMBEDDED_MODEL_DIR),
  /** Verified graphs by sha256, kept across restarts. */
  MODEL_CACHE_DIR: z.string().min(1).default(resolve(REPO_ROOT, '.cache/models')),
  MODEL_DOWNLOAD_CONCURRENCY: integer(1, 32).default(4),
  /** Path-style S3 URLs; needed by MinIO, s3rver and most non-AWS stores. Defaults on when an endpoint is set. */
  S3_FORCE_PATH_STYLE: flag.optional(),
  AWS_ENDPOINT_URL_S3: z.url().optional(),
  AWS_ENDPOINT_URL: z.url().optional(),
  /** Read by the AWS SDK itself; checked here because an s3:// source cannot work without it (R2: auto). */
  AWS_REGION: z.string().min(1).optional(),

  EXECUTION_PROVIDER: z.enum(['auto', 'cuda', 'cpu']).default('auto'),
  /** Worker threads, each with its own onnxruntime sessions. Default: sized by the inference pool. */
  INFERENCE_WORKERS: integer(1, 64).optional(),
  /** Threads inside one operator, per worker. Default: sized by the inference pool. */
  INTRA_OP_THREADS: integer(1, 256).optional(),

  MAX_BATCH_SIZE: integer(1, 256).default(8),
  MAX_QUEUE_DELAY_MS: integer(0, 10_000).default(10),
  /** Queued translations over all graphs and shapes; beyond it requests get 429. */
  MAX_QUEUE_LENGTH: integer(1, 100_000).default(256),
  /** Deadline of a request that carries none (X-Request-Deadline-Ms header). */
  DEFAULT_DEADLINE_MS: integer(100, 600_000).default(30_000),

  MAX_BODY_BYTES: integer(1024, 512 * 1024 * 1024).default(20 * 1024 * 1024), // 20 MiB
  MAX_INPUT_PIXELS: integer(1, 1_000_000_000).default(50_000_000), // 50 megapixels
  MAX_INPUT_SIDE: integer(1, 65_535).default(16_384), // pixels

  /**
   * Bearer token every caller must send (the edge's FUNCTION_AUTH_TOKEN) on all routes but the
   * health probes and /admin; unset: open, for a function reachable only on a private network.
   */
  FUNCTION_AUTH_TOKEN: functionAuthTokenSchema.optional(),
  /** Bearer token for POST /admin/reload; unset disables the endpoint (SIGHUP still reloads). */
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** How long SIGTERM waits for in-flight work before exiting anyway. */
  SHUTDOWN_GRACE_MS: integer(0, 600_000).default(30_000),
});

type Env = z.output<typeof envSchema>;

export interface FunctionConfig {
  readonly host: string;
  readonly port: number;
  readonly logLevel: Env['LOG_LEVEL'];
  readonly model: {
    readonly source: string;
    readonly cacheDir: string;
    readonly downloadConcurrency: number;
    readonly s3: { readonly forcePathStyle: boolean };
  };
  readonly inference: {
    readonly provider: Env['EXECUTION_PROVIDER'];
    readonly workers: number | undefined;
    readonly intraOpThreads: number | undefined;
    readonly cpuCount: number;
  };
  readonly batching: {
    readonly maxBatchSize: number;
    readonly maxQueueDelayMs: number;
    readonly maxQueueLength: number;
    readonly defaultDeadlineMs: number;
  };
  readonly limits: { readonly maxBodyBytes: number; readonly maxInputPixels: number; readonly maxInputSide: number };
  readonly adminToken: string | undefined;
  readonly callerToken: string | undefined;
  readonly shutdownGraceMs: number;
}

/** A bad environment: the message lists every offending variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): FunctionConfig {
  // Empty strings count as unset: `FOO= node main` should mean the default, not a parse error.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = envSchema.safeParse(present);
  // Cross-variable checks run on the raw values too, so every problem is reported in one go.
  const problems = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  const source = present['MODEL_SOURCE'] ?? EMBEDDED_MODEL_DIR;
  try {
    parseModelSource(source);
  } catch (error) {
    problems.push(`MODEL_SOURCE: ${error instanceof ModelLoadError ? error.reason : String(error)}`);
  }
  if (source.startsWith('s3://') && present['AWS_REGION'] === undefined) {
    problems.push('AWS_REGION: required for an s3:// MODEL_SOURCE (Cloudflare R2: auto)');
  }
  if (!parsed.success || problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n${problems.map((line) => `  ${line}`).join('\n')}`);
  }
  const e = parsed.data;
  const endpointSet = e.AWS_ENDPOINT_URL_S3 !== undefined || e.AWS_ENDPOINT_URL !== undefined;
  return Object.freeze({
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    model: Object.freeze({
      source: e.MODEL_SOURCE,
      cacheDir: resolve(e.MODEL_CACHE_DIR),
      downloadConcurrency: e.MODEL_DOWNLOAD_CONCURRENCY,
      s3: Object.freeze({ forcePathStyle: e.S3_FORCE_PATH_STYLE ?? endpointSet }),
    }),
    inference: Object.freeze({
      provider: e.EXECUTION_PROVIDER,
      workers: e.INFERENCE_WORKERS,
      intraOpThreads: e.INTRA_OP_THREADS,
      cpuCount: availableParallelism(),
    }),
    batching: Object.freeze({
      maxBatchSize: e.MAX_BATCH_SIZE,
      maxQueueDelayMs: e.MAX_QUEUE_DELAY_MS,
      maxQueueLength: e.MAX_QUEUE_LENGTH,
      defaultDeadlineMs: e.DEFAULT_DEADLINE_MS,
    }),
    limits: Object.freeze({ maxBodyBytes: e.MAX_BODY_BYTES, maxInputPixels: e.MAX_INPUT_PIXELS, maxInputSide: e.MAX_INPUT_SIDE }),
    adminToken: e.ADMIN_TOKEN,
    callerToken: e.FUNCTION_AUTH_TOKEN,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
  });
}
