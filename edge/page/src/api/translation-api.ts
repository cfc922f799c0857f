/**
 * The browser's client for the edge API, shared by the web page and the widget: list the served
 * models, translate an image. Every answer that is not a result becomes an ApiFailure whose
 * message is the API's own words ({error: {code, message, requestId}}), or says plainly that the
 * service could not be reached or answered something unexpected.
 *
 * Both answer shapes of POST /v1/translations (the image itself for n = 1, JSON with base64
 * outputs for n > 1) come back as one list of {seed, image}, so callers handle one shape.
 */
import type { ErrorBody } from '../../../../contract/errors.ts';
import { SEED_HEADER } from '../../../../contract/headers.ts';
import type { ServedModel } from '../../../../contract/served-model.ts';

export class ApiFailure extends Error {
  override readonly name = 'ApiFailure';
  constructor(
    message: string,
    /** The API's error code, or `network` when no answer arrived, `unexpected` for a non-API answer. */
    readonly code: string,
    readonly status: number | undefined,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

/** A failure in words for a person: the API's own message, else what went wrong. */
export function describeFailure(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export interface TranslatedImage {
  /** The style seed (null for an explicit style vector). */
  readonly seed: number | null;
  readonly image: Blob;
}

/** Query parameters of a translation, as the API takes them (see contract/translate-params.ts). */
export type TranslationParams = Readonly<Partial<Record<'direction' | 'seed' | 'style' | 'n' | 'format', string>>>;

const UPLOAD_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp']);

async function failureOf(response: Response): Promise<ApiFailure> {
  const body = (await response.json().catch(() => undefined)) as Partial<ErrorBody> | undefined;
  const error = body?.error;
  if (error !== undefined && typeof error.message === 'string') {
    return new ApiFailure(error.message, error.code, response.status, error.requestId);
  }
  return new ApiFailure(`the service answered HTTP ${response.status} without an explanation`, 'unexpected', response.status, undefined);
}

async function send(url: URL, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiFailure(`could not reach the translation service at ${url.origin}`, 'network', undefined, undefined);
  }
  if (!response.ok) throw await failureOf(response);
  return response;
}

function blobOfBase64(base64: string, type: string): Blob {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return new Blob([bytes], { type });
}

export class TranslationApi {
  /** `base`: the edge's root URL (the page's origin, or next to /embed.js for the widget). */
  constructor(
    private readonly base: URL,
    private readonly key: () => string | undefined,
  ) {}

  async models(signal?: AbortSignal): Promise<ServedModel[]> {
    const response = await send(new URL('v1/models', this.base), signal === undefined ? {} : { signal });
    return ((await response.json()) as { models: ServedModel[] }).models;
  }

  async translate(image: Blob, params: TranslationParams, signal?: AbortSignal): Promise<TranslatedImage[]> {
    const key = this.key();
    if (key === undefined || key === '') throw new ApiFailure('no API key: give a publishable key (pk_…)', 'unauthorized', undefined, undefined);
    const url = new URL('v1/translations', this.base);
    for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
    // Not an image type: sent as bytes, so the API itself says what is wrong with the file.
    const contentType = UPLOAD_TYPES.has(image.type) ? image.type : 'application/octet-stream';
    const response = await send(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': contentType },
      body: image,
      ...(signal === undefined ? {} : { signal }),
    });
    if ((response.headers.get('content-type') ?? '').startsWith('application/json')) {
      const body = (await response.json()) as { format: string; outputs: { seed: number | null; image: string }[] };
      return body.outputs.map((output) => ({ seed: output.seed, image: blobOfBase64(output.image, `image/${body.format}`) }));
    }
    const seed = response.headers.get(SEED_HEADER);
    return [{ seed: seed === null ? null : Number(seed), image: await response.blob() }];
  }
}
