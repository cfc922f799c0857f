/**
 * The local stack's API keys: one secret key (curl, the CLI client) and one publishable key for the
 * edge's own page, registered for the origins the browser will use (127.0.0.1 and localhost at the
 * edge's port). Created through the keys CLI's functions in the edge's local key store, and written
 * to <data dir>/dev-keys.json, since a token is shown only once and the store keeps its sha256.
 * A second start reuses them while they still exist in the store and match the origins.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { findApiKey } from '../../edge/src/auth/api-keys.ts';
import { createKey, wranglerKv, type StoreTarget } from '../../edge/cli/keys.ts';

export const DEV_KEYS_FILE = 'dev-keys.json';

/** What dev-keys.json holds; the CLI client (client/) reads it as its local default. */
export const devKeysSchema = z.object({
  edgeUrl: z.string(),
  secretKey: z.string(),
  publishableKey: z.string(),
  publishableOrigins: z.array(z.string()),
});
export type DevKeys = z.infer<typeof devKeysSchema>;

export const pageOrigins = (edgePort: number): string[] => [`http://127.0.0.1:${edgePort}`, `http://localhost:${edgePort}`];

async function readDevKeys(dataDir: string): Promise<DevKeys | undefined> {
  try {
    const parsed = devKeysSchema.safeParse(JSON.parse(await readFile(join(dataDir, DEV_KEYS_FILE), 'utf8')));
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
  if (previous !== undefined) {
    const store = localStore(target);
    const [secret, publishable] = await Promise.all([findApiKey(store, previous.secretKey), findApiKey(store, previous.publishableKey)]);
    const sameOrigins = publishable !== undefined && origins.every((origin) => publishable.origins.includes(origin));
    if (secret?.revoked_at === null && publishable?.revoked_at === null && sameOrigins) {
      const keys = { ...previous, edgeUrl };
      await writeDevKeys(options.dataDir, keys);
      return { ...keys, reused: true };
    }
  }
  const secret = await createKey(target, { kind: 'secret', name: 'local development', origins: [] });
  const publishable = await createKey(target, { kind: 'publishable', name: 'local web page', origins });
  const keys: DevKeys = { edgeUrl, secretKey: secret.token, publishableKey: publishable.token, publishableOrigins: origins };
  await writeDevKeys(options.dataDir, keys);
  return { ...keys, reused: false };
}

async function writeDevKeys(dataDir: string, keys: DevKeys): Promise<void> {
  const path = join(dataDir, DEV_KEYS_FILE);
  // Owner-only and atomic: the file holds a usable secret key.
  await writeFile(`${path}.tmp`, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
