/**
 * The content address of a translation: sha256 over (model, direction, normalised parameters
 * including the seed, image bytes). It is the edge's cache key, the result's key in R2 and the
 * ETag clients see, and it will be the idempotency key of batch items, so it is defined here once.
 *
 * Only WebCrypto (crypto.subtle) is used, so the same code runs in Workers, Node 20 and browsers.
 *
 * Layout (scheme 2): sha256(canonical JSON header ‖ 0x00 ‖ sha256(image)). The header has keys
 * sorted and absent values dropped; JSON text never contains a raw NUL, so header and digest cannot
 * be shifted into each other. The image is hashed on its own rather than copied behind the header,
 * so an upload of up to 25 MiB is never held twice (a Worker has 128 MB). Parameters that cannot
 * change the output are normalised away first: `quality` for PNG (lossless; the function ignores
 * it). Bump ADDRESS_SCHEME_VERSION whenever the layout or the meaning of a parameter changes: old
 * addresses then simply stop matching instead of serving wrong results.
 */
import { toHex } from './hex.ts';
import type { TranslateParams } from './translate-params.ts';

export const ADDRESS_SCHEME_VERSION = 2;

/** 64 lower-case hex digits. */
export const CONTENT_ADDRESS_PATTERN = /^[0-9a-f]{64}$/;

export interface AddressedTranslation {
  readonly model: { readonly name: string; readonly version: string };
  /** Already resolved to the manifest's key: "a2b" or "b2a", never a domain-name spelling. */
  readonly direction: 'a2b' | 'b2a';
  /** Output of translateParamsSchema (defaults applied); `direction` in it is ignored. */
  readonly params: TranslateParams;
  readonly image: Uint8Array;
  /** Reference image for the style, when one is given instead of a seed or vector. */
  readonly styleImage?: Uint8Array;
}

const encoder = new TextEncoder();

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.digest('SHA-256', bytes));
}

/** JSON with object keys sorted at every level and undefined members dropped. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The header that is hashed in front of the image; exported so tests can pin its exact form. */
export async function addressHeader(input: AddressedTranslation): Promise<string> {
  const { direction: _spelledDirection, ...params } = input.params;
  return canonicalJson({
    scheme: ADDRESS_SCHEME_VERSION,
    model: { name: input.model.name, version: input.model.version },
    direction: input.direction,
    // PNG is lossless: quality does not change the output, so it must not change the address.
    params: params.format === 'png' ? { ...params, quality: undefined } : params,
    style_image_sha256: input.styleImage === undefined ? undefined : await sha256Hex(input.styleImage),
  });
}

/** Bytes of a SHA-256 digest. */
const DIGEST_BYTES = 32;

export async function contentAddress(input: AddressedTranslation): Promise<string> {
  const header = encoder.encode(await addressHeader(input));
  const imageDigest = new Uint8Array(await crypto.subtle.digest('SHA-256', input.image));
  const bytes = new Uint8Array(header.byteLength + 1 + DIGEST_BYTES);
  bytes.set(header, 0);
  bytes[header.byteLength] = 0;
  bytes.set(imageDigest, header.byteLength + 1);
  return sha256Hex(bytes);
}
