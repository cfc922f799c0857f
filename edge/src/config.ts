/**
 * The edge's configuration: wrangler vars, secrets and bindings, parsed with zod at request time
 * (Workers have no start-up hook that could refuse to boot). A bad value answers 500 `internal`
 * with a message naming every offending variable, and the parse result is kept per env object so
 * a healthy configuration is parsed once per isolate, not once per request.
 *
 * This is the only module that reads the environment.
 */
import { z } from 'zod';
import { functionAuthTokenSchema } from '../../contract/function-auth-token.ts';
import { ApiError } from '../../contract/errors.ts';
import { isPublishableToken } from './auth/api-keys.ts';
import type { BatchItemMessage } from '../../contract/batch-api.ts';
import type { BatchJobNamespace, EdgeBindings, KeyValueStore, QueueProducer, QuotaNamespace, RateLimiter, ResultBucket } from './bindings.ts';

/** The highest MAX_UPLOAD_BYTES accepted: 25 MiB. */
export const MAX_UPLOAD_CAP_BYTES = 25 * 1024 * 1024;

/** How edge/wrangler.toml's published, local-only secrets begin. */
const LOCAL_SECRET_PREFIX = 'local-development-only';

/** wrangler passes TOML numbers as numbers and secrets as strings: accept both, with bounds. */
function integerVar(fallback: number, min: number, max: number) {
  return z
    .union([z.number(), z.string().regex(/^\d+$/).transform(Number)], { message: 'must be a whole number' })
    .optional()
    .transform((value) => value ?? fallback)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}

function binding<T>(name: string, method: string) {
  return z.custom<T>(
    (value) => typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[method] === 'function',
    { message: `binding ${name} is missing (see edge/wrangler.toml)` },
  );
}

const functionPool = z
  .string({ message: 'must list the function base URLs, comma-separated' })
  .transform((text) => text.split(/[\s,]+/).filter((part) => part !== '').map((url) => url.replace(/\/+$/, '')))
  .pipe(z.array(z.url({ protocol: /^https?$/, message: 'each entry must be an http(s) URL' })).min(1, 'must name at least one function'));

/** Optional; an empty value (`--var PAGE_PUBLISHABLE_KEY:`) counts as unset. */
const pagePublishableKey = z.preprocess(
  (value) => (value === '' ? undefined : value),
  z
    .string()
    .refine(isPublishableToken, 'must be a publishable key (pk_…): a page is public, so it must never hold a secret key')
    .optional(),
);

const configSchema = z.object({
  ENVIRONMENT: z.enum(['local', 'production']).default('local'),
  /** Base URLs of the inference functions, comma-separated (a secret in production). */
  FUNCTION_POOL: functionPool,
  /** Sent as `Authorization: Bearer` to the functions when the platform in front of them needs one. */
  FUNCTION_AUTH_TOKEN: functionAuthTokenSchema.optional(),
  // 10 MiB by default, 25 MiB at most: a Worker has 128 MB, and an upload is held as the body
  // buffer plus (multipart) its parsed part while it is hashed and forwarded.
  MAX_UPLOAD_BYTES: integerVar(10 * 1024 * 1024, 1024, MAX_UPLOAD_CAP_BYTES),
  REQUEST_DEADLINE_MS: integerVar(30_000, 100, 600_000), // overall budget of one translation, all attempts
  ATTEMPT_TIMEOUT_MS: integerVar(20_000, 50, 600_000), // one attempt at one replica
  MAX_ATTEMPTS: integerVar(3, 1, 10), // replicas tried per request
  BREAKER_FAILURE_THRESHOLD: integerVar(3, 1, 100), // consecutive failures that open a replica's breaker
  BREAKER_COOLDOWN_MS: integerVar(10_000, 100, 600_000), // open time before one probe is let through
  MODELS_TTL_MS: integerVar(30_000, 0, 3_600_000), // how long the functions' /v1/models is trusted
  /** The key the edge's own web page uses unless the visitor gives one (public by design). */
  PAGE_PUBLISHABLE_KEY: pagePublishableKey,
  /** Signs batch upload URLs (batch/upload-url.ts): a secret in production, at least 32 characters. */
  BATCH_UPLOAD_SECRET: z.string({ message: 'must be set (a secret of at least 32 characters)' }).min(32, 'must have at least 32 characters'),
  BATCH_JOB_CONCURRENCY: integerVar(16, 1, 256), // items of one job in translation at once (2 × the function's MAX_BATCH_SIZE)
  BATCH_KEY_CONCURRENCY: integerVar(32, 1, 1024), // items of one key's jobs in translation at once
  BATCH_LEASE_MS: integerVar(120_000, 1000, 900_000), // how long a claimed item is held before another consumer may take it
  RESULTS: binding<ResultBucket>('RESULTS', 'put'),
  API_KEYS: binding<KeyValueStore>('API_KEYS', 'get'),
  RATE_LIMITER: binding<RateLimiter>('RATE_LIMITER', 'limit'),
  KEY_QUOTAS: binding<QuotaNamespace>('KEY_QUOTAS', 'idFromName'),
  BATCH_JOBS: binding<BatchJobNamespace>('BATCH_JOBS', 'idFromName'),
  BATCH_QUEUE: binding<QueueProducer<BatchItemMessage>>('BATCH_QUEUE', 'sendBatch'),
  BATCH_DEAD_LETTERS: binding<QueueProducer<BatchItemMessage>>('BATCH_DEAD_LETTERS', 'send'),
}).superRefine((v, ctx) => {
  // edge/wrangler.toml's local value is public; production must have set its own secret.
  if (v.ENVIRONMENT === 'production' && v.BATCH_UPLOAD_SECRET.startsWith(LOCAL_SECRET_PREFIX)) {
    ctx.addIssue({ code: 'custom', path: ['BATCH_UPLOAD_SECRET'], message: 'is the local development value: set a secret with `wrangler secret put BATCH_UPLOAD_SECRET --env production`' });
  }
});

export interface EdgeConfig {
  readonly environment: 'local' | 'production';
  readonly functionPool: readonly string[];
  readonly functionAuthToken: string | undefined;
  readonly maxUploadBytes: number;
  readonly requestDeadlineMs: number;
  readonly attemptTimeoutMs: number;
  readonly maxAttempts: number;
  readonly breaker: { readonly failureThreshold: number; readonly cooldownMs: number; readonly probeTimeoutMs: number };
  readonly modelsTtlMs: number;
  readonly pagePublishableKey: string | undefined;
  readonly results: ResultBucket;
  readonly apiKeys: KeyValueStore;
  readonly rateLimiter: RateLimiter;
  readonly keyQuotas: QuotaNamespace;
  readonly batch: {
    readonly uploadSecret: string;
    readonly jobConcurrency: number;
    readonly keyConcurrency: number;
    readonly leaseMs: number;
    readonly jobs: BatchJobNamespace;
    readonly queue: QueueProducer<BatchItemMessage>;
    readonly deadLetters: QueueProducer<BatchItemMessage>;
  };
}

const parsedByEnv = new WeakMap<object, EdgeConfig>();

export function loadConfig(env: EdgeBindings): EdgeConfig {
  const cached = parsedByEnv.get(env);
  if (cached !== undefined) return cached;
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'env'}: ${issue.message}`).join('; ');
    throw new ApiError('internal', `edge misconfigured: ${problems}`);
  }
  const v = parsed.data;
  const attemptTimeoutMs = Math.min(v.ATTEMPT_TIMEOUT_MS, v.REQUEST_DEADLINE_MS);
  const config: EdgeConfig = Object.freeze({
    environment: v.ENVIRONMENT,
    functionPool: Object.freeze(v.FUNCTION_POOL),
    functionAuthToken: v.FUNCTION_AUTH_TOKEN,
    maxUploadBytes: v.MAX_UPLOAD_BYTES,
    requestDeadlineMs: v.REQUEST_DEADLINE_MS,
    attemptTimeoutMs,
    maxAttempts: v.MAX_ATTEMPTS,
    breaker: Object.freeze({ failureThreshold: v.BREAKER_FAILURE_THRESHOLD, cooldownMs: v.BREAKER_COOLDOWN_MS, probeTimeoutMs: attemptTimeoutMs }),
    modelsTtlMs: v.MODELS_TTL_MS,
    pagePublishableKey: v.PAGE_PUBLISHABLE_KEY,
    results: v.RESULTS,
    apiKeys: v.API_KEYS,
    rateLimiter: v.RATE_LIMITER,
    keyQuotas: v.KEY_QUOTAS,
    batch: Object.freeze({
      uploadSecret: v.BATCH_UPLOAD_SECRET,
      jobConcurrency: v.BATCH_JOB_CONCURRENCY,
      keyConcurrency: v.BATCH_KEY_CONCURRENCY,
      leaseMs: v.BATCH_LEASE_MS,
      jobs: v.BATCH_JOBS,
      queue: v.BATCH_QUEUE,
      deadLetters: v.BATCH_DEAD_LETTERS,
    }),
  });
  parsedByEnv.set(env, config);
  return config;
}
