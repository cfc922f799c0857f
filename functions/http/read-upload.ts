/**
 * The image of a request, sent either as the raw body (any image/* or application/octet-stream
 * type) or as multipart/form-data with an "image" file part (plus an optional "style_image" part
 * and parameters as text fields). The body limit is enforced before this runs (bodyLimit), and the
 * magic bytes are checked here, before any decoding.
 */
import type { Context } from 'hono';
import { ApiError } from '../../contract/errors.ts';
import { sniffImageFormat } from '../../contract/image-sniff.ts';
import type { AppEnv } from './app-env.ts';

export interface Upload {
  readonly image: Uint8Array;
  readonly styleImage?: Uint8Array;
  /** Text fields of a multipart body (parameters). */
  readonly fields: Readonly<Record<string, string>>;
}

const FILE_PARTS = new Set(['image', 'style_image']);

export async function readUpload(c: Context<AppEnv>): Promise<Upload> {
  const type = (c.req.header('content-type') ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) return readMultipart(c);
  if (type !== '' && !type.startsWith('image/') && !type.startsWith('application/octet-stream')) {
    throw new ApiError('unsupported_media_type', `content type ${type.split(';')[0]} is not accepted: send an image or multipart/form-data`);
  }
  return { image: checkedImage(new Uint8Array(await c.req.arrayBuffer()), 'body'), fields: {} };
}

async function readMultipart(c: Context<AppEnv>): Promise<Upload> {
  let form: Record<string, string | File | (string | File)[]>;
  try {
    form = await c.req.parseBody({ all: true });
  } catch (error) {
    throw new ApiError('invalid_parameters', 'malformed multipart body', { cause: error });
  }
  const fields: Record<string, string> = {};
  const files: Record<string, Uint8Array> = {};
  for (const [name, value] of Object.entries(form)) {
    if (Array.isArray(value)) throw new ApiError('invalid_parameters', `${name}: given more than once`);
    if (FILE_PARTS.has(name)) {
      if (typeof value === 'string') throw new ApiError('invalid_parameters', `${name}: must be a file part`);
      files[name] = checkedImage(new Uint8Array(await value.arrayBuffer()), name);
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

function checkedImage(bytes: Uint8Array, field: string): Uint8Array {
  if (bytes.byteLength === 0) throw new ApiError('empty_body', `${field}: no image bytes`);
  if (sniffImageFormat(bytes) === undefined) {
    throw new ApiError('unsupported_media_type', `${field}: not a JPEG, PNG or WebP image (magic bytes)`);
  }
  return bytes;
}
