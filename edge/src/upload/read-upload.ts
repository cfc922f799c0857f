/**
 * Reads a translation upload under the size limit and checks magic bytes before anything else
 * looks at it: a declared Content-Length over the limit is refused without reading (413), a body
 * without one is read only up to the limit (413 beyond), and every image part must start with JPEG,
 * PNG or WebP magic (415) — whatever its Content-Type says.
 *
 * Accepted shapes are the function's (functions/http/read-upload.ts): a raw image body, or
 * multipart/form-data with an "image" file part, an optional "style_image" part and parameters as
 * text fields.
 */
import { ApiError } from '../../../contract/errors.ts';
import { sniffImageFormat, type SniffedFormat } from '../../../contract/image-sniff.ts';

export interface ImagePart {
  readonly bytes: Uint8Array;
  readonly format: SniffedFormat;
  /** The multipart file part the bytes came from, forwarded as is (no rebuilt copy); absent for a raw body. */
  readonly file?: Blob;
}

export interface Upload {
  readonly image: ImagePart;
  readonly styleImage?: ImagePart;
  /** Text fields of a multipart body (parameters). */
  readonly fields: Readonly<Record<string, string>>;
}

const FILE_PARTS = new Set(['image', 'style_image']);

function tooLarge(maxBytes: number): ApiError {
  return new ApiError('payload_too_large', `request body is over the limit of ${maxBytes} bytes`);
}

/**
 * The body in one buffer: sized from Content-Length when the client sent one (chunks are copied
 * straight into it), grown by doubling only for a body without one. Never over `maxBytes`.
 */
async function readLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declaredText = request.headers.get('content-length');
  const declared = declaredText !== null && /^\d+$/.test(declaredText) ? Number(declaredText) : undefined;
  if (declared !== undefined && declared > maxBytes) {
    throw new ApiError('payload_too_large', `request body of ${declared} bytes is over the limit of ${maxBytes} bytes`);
  }
  if (request.body === null) return new Uint8Array(0);
  let buffer = new Uint8Array(declared ?? Math.min(maxBytes, 64 * 1024));
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (total + value.byteLength > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    if (total + value.byteLength > buffer.byteLength) {
      const grown = new Uint8Array(Math.min(maxBytes, Math.max(buffer.byteLength * 2, total + value.byteLength)));
      grown.set(buffer.subarray(0, total));
      buffer = grown;
    }
    buffer.set(value, total);
    total += value.byteLength;
  }
  return total === buffer.byteLength ? buffer : buffer.subarray(0, total);
}

function checkedImage(bytes: Uint8Array, field: string): ImagePart {
  if (bytes.byteLength === 0) throw new ApiError('empty_body', `${field}: no image bytes`);
  const format = sniffImageFormat(bytes);
  if (format === undefined) throw new ApiError('unsupported_media_type', `${field}: not a JPEG, PNG or WebP image (magic bytes)`);
  return { bytes, format };
}

export async function readUpload(request: Request, maxBytes: number): Promise<Upload> {
  // Only the media type is compared case-insensitively: parameters (the multipart boundary above
  // all, e.g. Chrome's "----WebKitFormBoundary…") are case-sensitive and parsed from the original.
  const contentType = request.headers.get('content-type') ?? '';
  const type = contentType.toLowerCase();
  if (type !== '' && !type.startsWith('multipart/form-data') && !type.startsWith('image/') && !type.startsWith('application/octet-stream')) {
    throw new ApiError('unsupported_media_type', `content type ${type.split(';')[0]} is not accepted: send an image or multipart/form-data`);
  }
  const body = await readLimited(request, maxBytes);
  if (!type.startsWith('multipart/form-data')) return { image: checkedImage(body, 'body'), fields: {} };

  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  } catch (error) {
    throw new ApiError('invalid_parameters', 'malformed multipart body', { cause: error });
  }
  const fields: Record<string, string> = {};
  const files: Record<string, ImagePart> = {};
  for (const name of new Set(form.keys())) {
    const values = form.getAll(name);
    if (values.length > 1) throw new ApiError('invalid_parameters', `${name}: given more than once`);
    const value = values[0]!;
    if (FILE_PARTS.has(name)) {
      if (typeof value === 'string') throw new ApiError('invalid_parameters', `${name}: must be a file part`);
      files[name] = { ...checkedImage(new Uint8Array(await value.arrayBuffer()), name), file: value };
    } else if (typeof value === 'string') {
      fields[name] = value;
    } else {
      throw new ApiError('invalid_parameters', `${name}: unexpected file part (files: image, style_image)`);
    }
  }
  const image = files['image'];
  if (image === undefined) throw new ApiError('empty_body', 'multipart body has no "image" file part');
  const styleImage = files['style_image'];
  return styleImage === undefined ? { image, fields } : { image, styleImage, fields };
}
