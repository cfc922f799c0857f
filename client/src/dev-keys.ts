/**
 * The keys of the local stack: `npm start` writes `.local/dev-keys.json` in the repository root
 * (contract/dev-keys-file.ts), so that talking to a local edge needs no setup.
 * Looked for upward from the working directory (the repository or any folder in it), then in the
 * repository this client belongs to (a run from elsewhere still finds the stack's keys).
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DEV_KEYS_FILE_NAME, devKeysFileSchema } from '../../contract/dev-keys-file.ts';
import { UsageError } from './usage-error.ts';

export const DEV_KEYS_FILE = join('.local', DEV_KEYS_FILE_NAME);

const CLIENT_REPOSITORY_ROOT = resolve(import.meta.dirname, '../..');

export interface DevKeys {
  readonly path: string;
  readonly edgeUrl: string;
  readonly secretKey: string;
}

function candidatePaths(cwd: string): string[] {
  const paths: string[] = [];
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    paths.push(join(dir, DEV_KEYS_FILE));
    if (dirname(dir) === dir) break;
  }
  const ofRepository = join(CLIENT_REPOSITORY_ROOT, DEV_KEYS_FILE);
  return paths.includes(ofRepository) ? paths : [...paths, ofRepository];
}

/** The first dev-keys file found from `cwd`, or undefined when there is none. */
export async function findDevKeys(cwd: string): Promise<DevKeys | undefined> {
  for (const path of candidatePaths(cwd)) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new UsageError(`${path}: cannot read it (${(error as Error).message})`);
    }
    return parseDevKeys(path, text);
  }
  return undefined;
}

function parseDevKeys(path: string, text: string): DevKeys {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`${path}: not valid JSON (expected {"edgeUrl": …, "secretKey": "sk_…", …})`);
  }
  const parsed = devKeysFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`).join('; ');
    throw new UsageError(`${path}: not a dev-keys file written by npm start (${problems})`);
  }
  return { path, edgeUrl: parsed.data.edgeUrl, secretKey: parsed.data.secretKey };
}
