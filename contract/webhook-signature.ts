/**
 * Webhook signatures: how the edge signs the batch webhooks it sends (issue 7) and how a receiver
 * checks them. Shared by the Worker (signing), the CLI and receivers' example code (verifying).
 *
 * Scheme (the one Stripe and Slack use, so receivers know it):
 *
 *   X-SA-MUNIT-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * - The timestamp is inside the MAC, so a captured delivery cannot be replayed later than the
 *   receiver's tolerance (default 5 minutes).
 * - The MAC covers the raw body bytes exactly as sent: receivers must verify before parsing JSON.
 * - Several v1= entries may appear while a secret is rotated; any one matching is enough.
 * - Comparison is constant-time over the MAC bytes (crypto.subtle.verify).
 *
 * Only WebCrypto is used, so the same code runs in Workers, Node ≥ 20 and browsers.
 */
import { toHex } from './hex.ts';

export const SIGNATURE_HEADER = 'X-SA-MUNIT-Signature';
/** How old (or how far in the future) a signed timestamp may be by default. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const encoder = new TextEncoder();

async function hmacKey(secret: string, usage: 'sign' | 'verify'): Promise<Awaited<ReturnType<typeof crypto.subtle.importKey>>> {
  if (secret.length < 16) throw new RangeError('a webhook secret must have at least 16 characters');
  return crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);
}

/** `<t>.` followed by the body bytes: what the MAC covers. */
function signedPayload(timestamp: number, body: Uint8Array): Uint8Array {
  const prefix = encoder.encode(`${timestamp}.`);
  const payload = new Uint8Array(prefix.byteLength + body.byteLength);
  payload.set(prefix, 0);
  payload.set(body, prefix.byteLength);
  return payload;
}


function fromHex(text: string): Uint8Array | undefined {
  if (!/^(?:[0-9a-f]{2})+$/.test(text)) return undefined;
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** The header value for `body` sent at `timestamp` (unix seconds). */
export async function signWebhook(secret: string, body: Uint8Array, timestamp: number): Promise<string> {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError(`timestamp must be whole unix seconds, got ${timestamp}`);
  const mac = await crypto.subtle.sign('HMAC', await hmacKey(secret, 'sign'), signedPayload(timestamp, body));
  return `t=${timestamp},v1=${toHex(mac)}`;
}

export type WebhookVerdict =
  | { readonly valid: true; readonly timestamp: number }
  | { readonly valid: false; readonly reason: 'malformed' | 'stale' | 'mismatch' };

/**
 * Checks a received header against the raw body. `now` in unix seconds; a timestamp further than
 * `toleranceSeconds` from it is 'stale' even when the MAC matches (a replay).
 */
export async function verifyWebhook(
  secret: string,
  body: Uint8Array,
  header: string | null,
  now: number,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
): Promise<WebhookVerdict> {
  if (header === null) return { valid: false, reason: 'malformed' };
  let timestamp: number | undefined;
  const macs: Uint8Array[] = [];
  for (const part of header.split(',')) {
    const [name, value, ...rest] = part.trim().split('=');
    if (value === undefined || rest.length > 0) return { valid: false, reason: 'malformed' };
    if (name === 't') {
      if (!/^\d{1,15}$/.test(value) || timestamp !== undefined) return { valid: false, reason: 'malformed' };
      timestamp = Number(value);
    } else if (name === 'v1') {
      const mac = fromHex(value);
      if (mac === undefined || mac.byteLength !== 32) return { valid: false, reason: 'malformed' };
      macs.push(mac);
    }
    // Other names (future schemes) are ignored, as receivers of such headers conventionally do.
  }
  if (timestamp === undefined || macs.length === 0) return { valid: false, reason: 'malformed' };
  if (Math.abs(now - timestamp) > toleranceSeconds) return { valid: false, reason: 'stale' };
  const key = await hmacKey(secret, 'verify');
  const payload = signedPayload(timestamp, body);
  for (const mac of macs) {
    if (await crypto.subtle.verify('HMAC', key, mac, payload)) return { valid: true, timestamp };
  }
  return { valid: false, reason: 'mismatch' };
}
