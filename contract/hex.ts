/** Lower-case hex of bytes: digests, MACs and random ids in URLs, headers and key names. */
export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  return [...(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes))].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}
