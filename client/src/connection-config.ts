/**
 * Where the API is and how to get in: the connection options every command shares (--url, --key,
 * --timeout), with their fallbacks. The only module that reads environment variables.
 *
 *   URL: --url, else $SA_MUNIT_URL, else the local stack's edgeUrl (.local/dev-keys.json),
 *        else http://127.0.0.1:8787 (`npm run dev:edge`).
 *   key: --key, else $SA_MUNIT_KEY, else, for a local URL only, the local stack's secretKey: a
 *        key of the developer's own machine is never sent anywhere else.
 */
import { findDevKeys, type DevKeys, DEV_KEYS_FILE } from './dev-keys.ts';
import { UsageError } from './usage-error.ts';

export const URL_ENV = 'SA_MUNIT_URL';
export const KEY_ENV = 'SA_MUNIT_KEY';
export const DEFAULT_URL = 'http://127.0.0.1:8787';
export const DEFAULT_TIMEOUT_SECONDS = 60;
const MAX_TIMEOUT_SECONDS = 3600;

export const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  timeout: { type: 'string' },
} as const;

export const CONNECTION_USAGE = `connection:
  --url <url>               the API (default $${URL_ENV}, else edgeUrl of ${DEV_KEYS_FILE}, else ${DEFAULT_URL})
  --key <token>             API key, sk_… (default $${KEY_ENV}; for a local URL, secretKey of ${DEV_KEYS_FILE})
  --timeout <seconds>       give up after this long, retries included (default ${DEFAULT_TIMEOUT_SECONDS})`;

export interface Connection {
  readonly baseUrl: URL;
  readonly key: string;
  /** The whole call's budget, every attempt and wait included. */
  readonly timeoutMs: number;
}

interface ConnectionValues {
  readonly url?: string | undefined;
  readonly key?: string | undefined;
  readonly timeout?: string | undefined;
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Loopback only: a dev key must not leave the machine. */
export function isLocalUrl(url: URL): boolean {
  return LOCAL_HOSTS.has(url.hostname) || url.hostname.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

export async function resolveConnection(values: ConnectionValues, cwd: string): Promise<Connection> {
  const timeoutMs = parseTimeout(values.timeout);
  // The dev-keys file is read at most once, and only when a fallback needs it.
  let devKeys: Promise<DevKeys | undefined> | undefined;
  const localStack = () => (devKeys ??= findDevKeys(cwd));

  const { text, source } = await chooseUrl(values.url, localStack);
  const baseUrl = parseBaseUrl(text, source);
  const key = values.key ?? nonEmpty(process.env[KEY_ENV]) ?? (isLocalUrl(baseUrl) ? localKey(await localStack()) : undefined);
  if (key === undefined || key === '') {
    const hint = isLocalUrl(baseUrl) ? `, or start the local stack (npm start writes ${DEV_KEYS_FILE})` : '';
    throw new UsageError(`no API key for ${baseUrl.origin}: pass --key sk_… or set $${KEY_ENV}${hint}`);
  }
  return { baseUrl, key, timeoutMs };
}

async function chooseUrl(flag: string | undefined, localStack: () => Promise<DevKeys | undefined>): Promise<{ text: string; source: string }> {
  if (flag !== undefined) return { text: flag, source: '--url' };
  const fromEnv = nonEmpty(process.env[URL_ENV]);
  if (fromEnv !== undefined) return { text: fromEnv, source: `$${URL_ENV}` };
  const stack = await localStack();
  if (stack?.edgeUrl !== undefined) {
    // The file may be anyone's (it is looked for in every folder above): only a loopback URL from
    // it is used, so a key from --key or the environment can never be sent where it points.
    const source = `edgeUrl in ${stack.path}`;
    if (!isLocalUrl(parseBaseUrl(stack.edgeUrl, source))) {
      throw new UsageError(`${source}: "${stack.edgeUrl}" is not a loopback URL, and only the local stack's is used from that file: pass --url`);
    }
    return { text: stack.edgeUrl, source };
  }
  return { text: DEFAULT_URL, source: 'the default URL' };
}

const localKey = (devKeys: DevKeys | undefined): string | undefined => devKeys?.secretKey;

const nonEmpty = (text: string | undefined): string | undefined => (text === undefined || text.trim() === '' ? undefined : text.trim());

function parseBaseUrl(text: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${source}: "${text}" is not a URL (e.g. ${DEFAULT_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${source}: "${text}" must be an http or https URL`);
  // Paths are joined onto it: "https://host/api" and "https://host/api/" mean the same.
  if (!url.pathname.endsWith('/')) url.pathname = `${url.pathname}/`;
  return url;
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TIMEOUT_SECONDS * 1000;
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds > 0 && seconds <= MAX_TIMEOUT_SECONDS)) {
    throw new UsageError(`--timeout: must be a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}, got "${text}"`);
  }
  return Math.ceil(seconds * 1000);
}
