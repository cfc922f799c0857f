/**
 * The image of a request: a raw image body or multipart/form-data, as contract/upload-form.ts
 * defines them (the edge accepts the same). The body limit is enforced before this runs
 * (bodyLimit), and the magic bytes are checked here, before any decoding.
 */
import type { Context } from 'hono';
import { ApiError } from '../../contract/errors.ts';
import { acceptedContentType, checkedImage, isMultipart, uploadFromForm } from '../../contract/upload-form.ts';
import type { AppEnv } from './app-env.ts';

export interface Upload {
  readonly image: Uint8Array;
  readonly styleImage?: Uint8Array;
  /** Text fields of a multipart body (parameters). */
  readonly fields: Readonly<Record<string, string>>;
}

export async function readUpload(c: Context<AppEnv>): Promise<Upload> {
  const type = acceptedContentType(c.req.header('content-type'));
  if (!isMultipart(type)) return { image: checkedImage(new Uint8Array(await c.req.arrayBuffer()), 'body').bytes, fields: {} };
  let form: FormData;
  try {
    form = await c.req.formData();
  } catch (error) {
    throw new ApiError('invalid_parameters', 'malformed multipart body', { cause: error });
  }
  const { image, styleImage, fields } = await uploadFromForm(form);
  return styleImage === undefined ? { image: image.bytes, fields } : { image: image.bytes, styleImage: styleImage.bytes, fields };
}
