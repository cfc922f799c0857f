/**
 * Create, list and revoke API keys in the edge's key store (the API_KEYS KV binding), locally (the
 * store `wrangler dev` uses) or deployed (--remote, usually with --env production). It goes through
 * `wrangler kv`, so it needs no credentials of its own; hashing and the record format come from
 * edge/src/auth/api-keys.ts, the same module the Worker checks keys with.
 *
 *   npm run keys -- create --kind secret --name "batch server" [--monthly-quota 10000]
 *   npm run keys -- create --kind publishable --name "web app" --origin https://app.example.com
 *   npm run keys -- list [--remote --env production] [--persist-to DIR]
 *   npm run keys -- revoke key_0123456789abcdef
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { KEY_KINDS, apiKeyRecordSchema, mintApiKey, storeKeyFor, type ApiKeyRecord, type KeyKind } from '../src/auth/api-keys.ts';

const EDGE_DIR = resolve(import.meta.dirname, '..');
const WRANGLER = resolve(EDGE_DIR, '../node_modules/.bin/wrangler');
const run = promisify(execFile);

export interface StoreTarget {
  readonly remote: boolean;
  readonly env: string | undefined;
  readonly persistTo: string | undefined;
}

export async function wranglerKv(target: StoreTarget, args: string[]): Promise<string> {
  const where = target.remote ? ['--remote'] : ['--local', ...(target.persistTo === undefined ? [] : ['--persist-to', target.persistTo])];
  const env = target.env === undefined ? [] : ['--env', target.env];
  const { stdout } = await run(WRANGLER, ['kv', ...args, '--binding', 'API_KEYS', ...where, ...env], {
    cwd: EDGE_DIR,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

async function storedKeys(target: StoreTarget): Promise<{ storeKey: string; record: ApiKeyRecord }[]> {
  const names = JSON.parse(await wranglerKv(target, ['key', 'list', '--prefix', 'key:'])) as { name: string }[];
  return Promise.all(
    names.map(async ({ name }) => ({
      storeKey: name,
      record: apiKeyRecordSchema.parse(JSON.parse(await wranglerKv(target, ['key', 'get', name, '--text']))),
    })),
  );
}

export async function createKey(
  target: StoreTarget,
  options: { kind: KeyKind; name: string; origins: string[]; monthlyQuota?: number | null },
): Promise<{ token: string; record: ApiKeyRecord }> {
  const key = await mintApiKey(options);
  await wranglerKv(target, ['key', 'put', storeKeyFor(key.tokenHash), JSON.stringify(key.record)]);
  return { token: key.token, record: key.record };
}

export async function revokeKey(target: StoreTarget, id: string): Promise<ApiKeyRecord> {
  const found = (await storedKeys(target)).find(({ record }) => record.id === id);
  if (found === undefined) throw new Error(`no key with id ${id}`);
  const revoked = { ...found.record, revoked_at: found.record.revoked_at ?? new Date().toISOString() };
  await wranglerKv(target, ['key', 'put', found.storeKey, JSON.stringify(revoked)]);
  return revoked;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kind: { type: 'string' },
      name: { type: 'string' },
      origin: { type: 'string', multiple: true },
      remote: { type: 'boolean', default: false },
      env: { type: 'string' },
      'persist-to': { type: 'string' },
      'monthly-quota': { type: 'string' },
    },
  });
  const target: StoreTarget = { remote: values.remote ?? false, env: values.env, persistTo: values['persist-to'] };
  const [command, argument] = positionals;
  if (command === 'create') {
    const kind = values.kind as KeyKind | undefined;
    if (kind === undefined || !KEY_KINDS.includes(kind)) throw new Error(`--kind must be one of ${KEY_KINDS.join(', ')}`);
    if (values.name === undefined) throw new Error('--name is required');
    const quotaText = values['monthly-quota'];
    if (quotaText !== undefined && !/^[1-9]\d*$/.test(quotaText)) throw new Error('--monthly-quota must be a positive whole number');
    const monthlyQuota = quotaText === undefined ? null : Number(quotaText);
    const { token, record } = await createKey(target, { kind, name: values.name, origins: values.origin ?? [], monthlyQuota });
    process.stdout.write(`${JSON.stringify({ ...record, token })}\n`);
    process.stderr.write('The token is shown only now; the store keeps its sha256.\n');
  } else if (command === 'list') {
    for (const { record } of await storedKeys(target)) process.stdout.write(`${JSON.stringify(record)}\n`);
  } else if (command === 'revoke' && argument !== undefined) {
    process.stdout.write(`${JSON.stringify(await revokeKey(target, argument))}\n`);
  } else {
    throw new Error('usage: keys create --kind secret|publishable --name NAME [--origin URL]... [--monthly-quota N] | list | revoke KEY_ID  [--remote] [--env NAME] [--persist-to DIR]');
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
