/**
 * Which image format a body claims by its first bytes. Both the edge and the function refuse
 * anything but JPEG, PNG and WebP before spending work on it (415), whatever the Content-Type says.
 */

export type SniffedFormat = 'jpeg' | 'png' | 'webp';

/** The media type each accepted format travels under. */
export const IMAGE_MEDIA_TYPES: Readonly<Record<SniffedFormat, string>> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(bytes: Uint8Array, prefix: readonly number[], offset = 0): boolean {
  return bytes.length >= offset + prefix.length && prefix.every((byte, i) => bytes[offset + i] === byte);
}

const ascii = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));

/** The format named by the magic bytes, or undefined when they match none we accept. */
export function sniffImageFormat(bytes: Uint8Array): SniffedFormat | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, PNG_SIGNATURE)) return 'png';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'webp';
  return undefined;
}
