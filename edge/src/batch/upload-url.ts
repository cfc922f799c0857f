/**
 * Upload URLs for batch items, signed by the edge itself: `PUT /v1/batches/{job}/items/{index}/image
 * ?expires=<unix s>&signature=<hex HMAC-SHA256(BATCH_UPLOAD_SECRET, "<job>.<index>.<expires>")>`.
 * The URL is the credential (no API key on the PUT, so a client may hand uploads to another
 * machine); it names one item of one job and expires. R2's own presigned URLs would need S3-API
 * credentials inside the Worker, and a local S3 endpoint for R2 that this wrangler lacks.
 */
import { UPLOAD_URL_TTL_SECONDS, type UploadTarget } from '../../../contract/batch-api.ts';
import { toHex } from '../../../contract/hex.ts';

const encoder = new TextEncoder();

/** The HMAC key, imported once per secret (a 10,000-item create signs 10,000 URLs). */
const keys = new Map<string, Promise<Awaited<ReturnType<typeof crypto.subtle.importKey>>>>();

async function signature(secret: string, job: string, index: number, expires: number): Promise<string> {
  let key = keys.get(secret);
  if (key === undefined) {
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    keys.set(secret, key);
  }
  return toHex(await crypto.subtle.sign('HMAC', await key, encoder.encode(`${job}.${index}.${expires}`)));
}

/** Upload URLs for `indices` of a job, valid for UPLOAD_URL_TTL_SECONDS from `now`. */
export async function uploadTargets(origin: string, secret: string, job: string, indices: readonly number[], now: number = Date.now()): Promise<UploadTarget[]> {
  const expires = Math.floor(now / 1000) + UPLOAD_URL_TTL_SECONDS;
  const expiresAt = new Date(expires * 1000).toISOString();
  return Promise.all(
    indices.map(async (index) => ({
      index,
      upload_url: `${origin}/v1/batches/${job}/items/${index}/image?expires=${expires}&signature=${await signature(secret, job, index, expires)}`,
      expires_at: expiresAt,
    })),
  );
}

export type UploadUrlVerdict = 'valid' | 'expired' | 'invalid';

export async function checkUploadUrl(secret: string, job: string, index: number, expiresText: string | undefined, given: string | undefined, now: number = Date.now()): Promise<UploadUrlVerdict> {
  if (expiresText === undefined || given === undefined || !/^\d{1,12}$/.test(expiresText) || !/^[0-9a-f]{64}$/.test(given)) return 'invalid';
  const expected = await signature(secret, job, index, Number(expiresText));
  // Constant-time comparison of equal-length hex strings.
  let difference = 0;
  for (let i = 0; i < expected.length; i += 1) difference |= expected.charCodeAt(i) ^ given.charCodeAt(i);
  if (difference !== 0) return 'invalid';
  return Number(expiresText) * 1000 < now ? 'expired' : 'valid';
}
