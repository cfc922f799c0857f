/**
 * Reads a translation upload under the size limit and checks magic bytes before anything else
 * looks at it: a declared Content-Length over the limit is refused without reading (413), a body
 * without one is read only up to the limit (413 beyond). What an upload may contain, and its
 * errors, are the function's too (contract/upload-form.ts).
 */
import { ApiError } from '../../../contract/errors.ts';
import { acceptedContentType, checkedImage, isMultipart, uploadFromForm, type UploadParts } from '../../../contract/upload-form.ts';

function tooLarge(maxBytes: number): ApiError {
  return new ApiError('payload_too_large', `request body is over the limit of ${maxBytes} bytes`);
}

/**
 * The body in one buffer: sized from Content-Length when the client sent one (chunks are copied
 * straight into it), grown by doubling only for a body without one. Never over `maxBytes`.
 */
export async function readLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
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

export async function readUpload(request: Request, maxBytes: number): Promise<UploadParts> {
  // Only the media type is compared case-insensitively: parameters (the multipart boundary above
  // all, e.g. Chrome's "----WebKitFormBoundary…") are case-sensitive and parsed from the original.
  const contentType = request.headers.get('content-type') ?? '';
  const type = acceptedContentType(contentType);
  const body = await readLimited(request, maxBytes);
  if (!isMultipart(type)) return { image: checkedImage(body, 'body'), fields: {} };

  return uploadFromForm(await multipartForm(body, contentType));
}

/** A multipart body's parts; 400 for one that does not parse. `contentType` as sent (the boundary is case-sensitive). */
export async function multipartForm(body: Uint8Array, contentType: string): Promise<FormData> {
  try {
    return await new Response(body, { headers: { 'content-type': contentType } }).formData();
  } catch (error) {
    throw new ApiError('invalid_parameters', 'malformed multipart body', { cause: error });
  }
}
