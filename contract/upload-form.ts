/**
 * What a translation upload may look like, for the edge (edge/src/upload/read-upload.ts) and the
 * function (functions/http/read-upload.ts) alike: a raw image body (any image/* or
 * application/octet-stream type), or multipart/form-data with an "image" file part, an optional
 * "style_image" part and parameters as text fields. Every image part must start with JPEG, PNG or
 * WebP magic, whatever its Content-Type says. Each side reads the body its own way (the edge under
 * its own size limit); the rules and their error codes live here once.
 */
import { ApiError } from './errors.ts';
import { sniffImageFormat, type SniffedFormat } from './image-sniff.ts';

export interface ImagePart {
  readonly bytes: Uint8Array;
  readonly format: SniffedFormat;
  /** The multipart file part the bytes came from, forwardable as is; absent for a raw body. */
  readonly file?: Blob;
}

export interface UploadParts {
  readonly image: ImagePart;
  readonly styleImage?: ImagePart;
  /** Text fields of a multipart body (parameters). */
  readonly fields: Readonly<Record<string, string>>;
}

const FILE_PARTS = new Set(['image', 'style_image']);

/** The lower-cased media type, refused (415) unless it is multipart, an image or octet-stream. */
export function acceptedContentType(contentType: string | undefined): string {
  const type = (contentType ?? '').toLowerCase();
  if (type !== '' && !type.startsWith('multipart/form-data') && !type.startsWith('image/') && !type.startsWith('application/octet-stream')) {
    throw new ApiError('unsupported_media_type', `content type ${type.split(';')[0]} is not accepted: send an image or multipart/form-data`);
  }
  return type;
}

export const isMultipart = (type: string): boolean => type.startsWith('multipart/form-data');

/** Bytes that are an image by their magic (415 otherwise, 400 empty_body when there are none). */
export function checkedImage(bytes: Uint8Array, field: string): ImagePart {
  if (bytes.byteLength === 0) throw new ApiError('empty_body', `${field}: no image bytes`);
  const format = sniffImageFormat(bytes);
  if (format === undefined) throw new ApiError('unsupported_media_type', `${field}: not a JPEG, PNG or WebP image (magic bytes)`);
  return { bytes, format };
}

/** A parsed multipart body split into its checked image parts and text fields. */
export async function uploadFromForm(form: FormData): Promise<UploadParts> {
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
