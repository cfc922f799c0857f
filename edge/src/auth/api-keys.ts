/**
 * API keys. A key is a random token shown once at creation; the store keeps only its sha256, so a
 * leaked store leaks no usable key. Two kinds:
 *
 * - secret (`sk_…`): for servers, sent as `Authorization: Bearer`; refused from browsers (a request
 *   with an Origin header), since a secret in a web page is no secret;
 * - publishable (`pk_…`): for browsers, works only from the origins registered for it, which the
 *   edge checks server-side on every request and answers in CORS per key.
 *
 * Store layout (KV `API_KEYS`): `key:<sha256 hex of token>` → ApiKeyRecord as JSON. Pure WebCrypto,
 * so the Worker and the Node CLI (edge/cli/keys.ts) share it.
 */
import { z } from 'zod';
import { sha256Hex } from '../../../contract/content-address.ts';
import { toHex } from '../../../contract/hex.ts';

export const KEY_KINDS = ['secret', 'publishable'] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

const TOKEN_PREFIX: Record<KeyKind, string> = { secret: 'sk_', publishable: 'pk_' };
/** 32 random bytes → 43 base64url characters after the prefix. */
export const TOKEN_PATTERN = /^(sk|pk)_[A-Za-z0-9_-]{43}$/;

/** A well-formed publishable token (whether it is registered is for the store to say). */
export const isPublishableToken = (token: string): boolean => TOKEN_PATTERN.test(token) && token.startsWith(TOKEN_PREFIX.publishable);

/** "https://app.example.com" or "http://localhost:5173": scheme, host, optional port, nothing else. */
export const originSchema = z.string().regex(/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/, 'must be an origin like https://app.example.com');

export const apiKeyRecordSchema = z.object({
  id: z.string().regex(/^key_[0-9a-f]{16}$/),
  kind: z.enum(KEY_KINDS),
  name: z.string().min(1).max(200),
  origins: z.array(originSchema),
  /** Translation requests allowed per UTC month; null = no monthly cap (the rate limit still applies). */
  monthly_quota: z.number().int().positive().nullable().default(null),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});

export type ApiKeyRecord = z.infer<typeof apiKeyRecordSchema>;

export const storeKeyFor = (tokenHash: string): string => `key:${tokenHash}`;

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export const hashToken = (token: string): Promise<string> => sha256Hex(new TextEncoder().encode(token));

export interface NewApiKey {
  /** Shown once; never stored. */
  readonly token: string;
  readonly tokenHash: string;
  readonly record: ApiKeyRecord;
}

export async function mintApiKey(options: { kind: KeyKind; name: string; origins?: readonly string[]; monthlyQuota?: number | null; now?: Date }): Promise<NewApiKey> {
  const origins = [...(options.origins ?? [])].map((origin) => originSchema.parse(origin.toLowerCase()));
  if (options.kind === 'publishable' && origins.length === 0) throw new Error('a publishable key needs at least one origin');
  if (options.kind === 'secret' && origins.length > 0) throw new Error('secret keys have no origins: they are refused from browsers');
  const token = TOKEN_PREFIX[options.kind] + base64url(crypto.getRandomValues(new Uint8Array(32)));
  const idBytes = crypto.getRandomValues(new Uint8Array(8));
  const record = apiKeyRecordSchema.parse({
    id: `key_${toHex(idBytes)}`,
    kind: options.kind,
    name: options.name,
    origins,
    monthly_quota: options.monthlyQuota ?? null,
    created_at: (options.now ?? new Date()).toISOString(),
    revoked_at: null,
  });
  return { token, tokenHash: await hashToken(token), record };
}

/** The record for a presented token, or undefined when it is malformed or unknown. */
export async function findApiKey(store: { get(key: string): Promise<string | null> }, token: string): Promise<ApiKeyRecord | undefined> {
  if (!TOKEN_PATTERN.test(token)) return undefined;
  const text = await store.get(storeKeyFor(await hashToken(token)));
  if (text === null) return undefined;
  const parsed = apiKeyRecordSchema.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : undefined;
}
