/**
 * The local stack's API keys: one secret key (curl, the CLI client) and one publishable key for the
 * edge's own page, registered for the origins the browser will use (127.0.0.1 and localhost at the
 * edge's port). Created through the keys CLI's functions in the edge's local key store, and written
 * to <data dir>/dev-keys.json, since a token is shown only once and the store keeps its sha256.
 * A second start reuses them while they are in the store (and, for the page key, while the edge's
 * port is the same).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findApiKey } from '../../edge/src/auth/api-keys.ts';
import { createKey, wranglerKv, type StoreTarget } from '../../edge/cli/keys.ts';
import { DEV_KEYS_FILE_NAME, devKeysFileSchema, type DevKeysFile as DevKeys } from '../../contract/dev-keys-file.ts';

export type { DevKeys };

export const pageOrigins = (edgePort: number): string[] => [`http://127.0.0.1:${edgePort}`, `http://localhost:${edgePort}`];

async function readDevKeys(dataDir: string): Promise<DevKeys | undefined> {
  try {
    const parsed = devKeysFileSchema.safeParse(JSON.parse(await readFile(join(dataDir, DEV_KEYS_FILE_NAME), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The local key store, read the way the Worker reads it (a token → its record, if any). */
function localStore(target: StoreTarget) {
  return {
    async get(key: string): Promise<string | null> {
      const text = await wranglerKv(target, ['key', 'get', key, '--text']);
      return text.trim() === '' || text.includes('Value not found') ? null : text;
    },
  };
}

export async function ensureDevKeys(options: { dataDir: string; edgePersistDir: string; edgePort: number }): Promise<DevKeys & { reused: boolean }> {
  const target: StoreTarget = { remote: false, env: undefined, persistTo: options.edgePersistDir };
  const origins = pageOrigins(options.edgePort);
  const edgeUrl = `http://127.0.0.1:${options.edgePort}`;
  const previous = await readDevKeys(options.dataDir);
  const store = localStore(target);
  const [secret, publishable] =
    previous === undefined ? [] : await Promise.all([findApiKey(store, previous.secretKey), findApiKey(store, previous.publishableKey)]);
  const secretUsable = secret?.revoked_at === null;
  // The page key is bound to the edge's origins: another port needs another key.
  const publishableUsable = publishable?.revoked_at === null && origins.every((origin) => publishable.origins.includes(origin));
  const keys: DevKeys = {
    edgeUrl,
    secretKey: secretUsable ? previous!.secretKey : (await createKey(target, { kind: 'secret', name: 'local development', origins: [] })).token,
    publishableKey: publishableUsable
      ? previous!.publishableKey
      : (await createKey(target, { kind: 'publishable', name: `local web page :${options.edgePort}`, origins })).token,
    publishableOrigins: origins,
  };
  await writeDevKeys(options.dataDir, keys);
  return { ...keys, reused: secretUsable && publishableUsable };
}

async function writeDevKeys(dataDir: string, keys: DevKeys): Promise<void> {
  const path = join(dataDir, DEV_KEYS_FILE_NAME);
  // Owner-only and atomic: the file holds a usable secret key.
  await writeFile(`${path}.tmp`, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
