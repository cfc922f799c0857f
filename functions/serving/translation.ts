/**
 * One translation request, from upload bytes to encoded results: decode and resize the input,
 * pick the styles (seeds, an explicit vector, or a reference image through the target domain's
 * style encoder), run one batched item per output, encode without metadata.
 */
import sharp from 'sharp';
import { ApiError } from '../../contract/errors.ts';
import { TENSOR_NAMES, styleEncoderGraph, translatorGraph, type Manifest } from '../../contract/manifest.ts';
import { deriveSeeds, styleFromSeed } from '../../contract/seed-style.ts';
import type { Priority } from '../../contract/headers.ts';
import type { TranslateParams } from '../../contract/translate-params.ts';
import { CHANNELS, imageBatch, type ImageBatch } from '../lib/image-batch.ts';
import { ImageDecodeError, batchToRgb, decodeToRgb, encodeRgb, rgbToBatch, type DecodeLimits } from '../lib/image-codec.ts';
import { UnknownDirectionError, resolveDirection } from '../lib/resolve-direction.ts';
import type { ActiveModel } from './model-host.ts';

export interface TranslationRequest {
  readonly params: TranslateParams;
  readonly image: Uint8Array;
  readonly styleImage?: Uint8Array;
  /** Absolute deadline, ms since the epoch. */
  readonly deadline: number;
  /** Batch work waits behind interactive work in the batcher (contract/headers.ts). */
  readonly priority?: Priority;
  readonly limits: DecodeLimits;
}

export interface TranslationOutput {
  readonly bytes: Buffer;
  /** Seed of this output's style; undefined when the style was a vector or a reference image. */
  readonly seed: number | undefined;
}

export interface TranslationResult {
  readonly outputs: readonly TranslationOutput[];
  readonly contentType: string;
  readonly direction: 'a2b' | 'b2a';
  readonly model: { readonly name: string; readonly version: string };
}

const CONTENT_TYPES = { png: 'image/png', webp: 'image/webp', jpeg: 'image/jpeg' } as const;

export async function translate(active: ActiveModel, request: TranslationRequest, chooseSeed: () => number): Promise<TranslationResult> {
  const { params } = request;
  const manifest = active.manifest;
  const direction = directionOf(manifest, params.direction);
  const target = direction === 'a2b' ? 'b' : 'a';
  const size = manifest.image_size;

  const input = await decodeUpload(request.image, manifest, request, 'image');
  const styles = await stylesFor(active, request, target, chooseSeed);

  const graph = translatorGraph(manifest, direction).file;
  const names = TENSOR_NAMES.translator;
  const outputs = await Promise.all(
    styles.map(async ({ style, seed }) => {
      // Each item gets its own copy: the inference pool may transfer (detach) the buffers it is given.
      const result = await active.infer(
        graph,
        {
          [names.image]: { data: input.slice(), dims: [1, CHANNELS, size, size] },
          [names.style]: { data: style, dims: [1, manifest.style_dim] },
        },
        request.deadline,
        request.priority,
      );
      const translated = result[names.output];
      if (translated === undefined) throw new Error(`translator ${direction} returned no ${names.output}`);
      const bytes = await encodeOutput(imageBatch(translated.data, 1, size, size), manifest, request);
      return { bytes, seed };
    }),
  );
  return {
    outputs,
    contentType: CONTENT_TYPES[params.format],
    direction,
    model: { name: manifest.name, version: manifest.version },
  };
}

function directionOf(manifest: Manifest, text: string): 'a2b' | 'b2a' {
  try {
    return resolveDirection(manifest, text);
  } catch (error) {
    if (error instanceof UnknownDirectionError) throw new ApiError('unknown_direction', error.message);
    throw error;
  }
}

/** The upload as the model takes it: [1, 3, size, size] normalised, or a 4xx naming the field. */
async function decodeUpload(bytes: Uint8Array, manifest: Manifest, request: TranslationRequest, field: string): Promise<Float32Array> {
  const size = manifest.image_size;
  try {
    const rgb = await decodeToRgb(bytes, {
      width: size,
      height: size,
      fit: request.params.fit,
      normalization: manifest.normalization,
      limits: request.limits,
    });
    return rgbToBatch(rgb, manifest.normalization).data;
  } catch (error) {
    throw asApiError(error, field);
  }
}

function asApiError(error: unknown, field: string): unknown {
  if (!(error instanceof ImageDecodeError)) return error;
  switch (error.failure) {
    case 'empty':
      return new ApiError('empty_body', `${field}: ${error.message}`);
    case 'too_many_bytes':
      return new ApiError('payload_too_large', `${field}: ${error.message}`);
    case 'too_large':
      return new ApiError('image_too_large', `${field}: ${error.message}`);
    case 'unsupported_format':
      return new ApiError('unsupported_media_type', `${field}: ${error.message}`);
    case 'corrupt':
      return new ApiError('invalid_image', `${field}: ${error.message}`);
  }
}

async function stylesFor(
  active: ActiveModel,
  request: TranslationRequest,
  target: 'a' | 'b',
  chooseSeed: () => number,
): Promise<{ style: Float32Array; seed: number | undefined }[]> {
  const { params } = request;
  const manifest = active.manifest;
  if (request.styleImage !== undefined) {
    if (params.seed !== undefined || params.style !== undefined || params.n > 1) {
      throw new ApiError('invalid_parameters', 'style_image: give a reference image, or seed/style/n, not both');
    }
    const reference = await decodeUpload(request.styleImage, manifest, request, 'style_image');
    const size = manifest.image_size;
    const names = TENSOR_NAMES.styleEncoder;
    const result = await active.infer(
      styleEncoderGraph(manifest, target).file,
      { [names.image]: { data: reference, dims: [1, CHANNELS, size, size] } },
      request.deadline,
      request.priority,
    );
    const style = result[names.output];
    if (style === undefined) throw new Error(`style encoder ${target} returned no ${names.output}`);
    return [{ style: style.data, seed: undefined }];
  }
  if (params.style !== undefined) {
    if (params.style.length !== manifest.style_dim) {
      throw new ApiError('invalid_parameters', `style: must have ${manifest.style_dim} numbers, got ${params.style.length}`);
    }
    return [{ style: Float32Array.from(params.style), seed: undefined }];
  }
  const seeds = deriveSeeds(params.seed ?? chooseSeed(), params.n);
  return seeds.map((seed) => ({ style: styleFromSeed(seed, manifest.style_dim), seed }));
}

async function encodeOutput(batch: ImageBatch, manifest: Manifest, request: TranslationRequest): Promise<Buffer> {
  const crop = request.params.keep_aspect ? await containBox(request.image, manifest.image_size) : undefined;
  return encodeRgb(batchToRgb(batch, 0, manifest.normalization), request.params.format, {
    quality: request.params.quality,
    ...(crop === undefined ? {} : { crop }),
  });
}

/** Where fit=contain placed the input inside the square (sharp centres it). */
async function containBox(image: Uint8Array, size: number): Promise<{ left: number; top: number; width: number; height: number }> {
  const { width = size, height = size, autoOrient } = await sharp(image).metadata();
  const w = autoOrient?.width ?? width;
  const h = autoOrient?.height ?? height;
  const scale = size / Math.max(w, h);
  const contentWidth = Math.max(1, Math.min(size, Math.round(w * scale)));
  const contentHeight = Math.max(1, Math.min(size, Math.round(h * scale)));
  return {
    left: Math.floor((size - contentWidth) / 2),
    top: Math.floor((size - contentHeight) / 2),
    width: contentWidth,
    height: contentHeight,
  };
}
