/**
 * Image bytes ⇄ model tensors, with sharp.
 *
 * Decoding treats every upload as hostile: a byte cap before sharp sees it, a pixel cap that
 * sharp checks from the header before decompressing (decompression bombs), only JPEG/PNG/WebP,
 * and sharp's strictest failOn so truncated or corrupt data is refused rather than half-decoded.
 * Then one canonical form whatever came in: EXIF orientation applied, alpha flattened onto white,
 * grey or 16-bit turned into 8-bit sRGB, resized to the target.
 *
 * Encoding writes no metadata (sharp strips it unless asked), so equal pixels give equal bytes.
 */
import sharp, { type Metadata, type SharpOptions } from 'sharp';
import type { Normalization } from '../../contract/manifest.ts';
import { CHANNELS, imageAt, type ImageBatch } from './image-batch.ts';

import { DEFAULT_QUALITY, FIT_MODES, OUTPUT_FORMATS } from '../../contract/translate-params.ts';

export { FIT_MODES, OUTPUT_FORMATS };
export type FitMode = (typeof FIT_MODES)[number];
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const INPUT_FORMATS = ['jpeg', 'png', 'webp'] as const;

export interface DecodeLimits {
  readonly maxInputBytes: number;
  readonly maxInputPixels: number;
  /** Longest accepted side: a 1 x 50,000,000 image passes the pixel cap but is no photo. */
  readonly maxInputSide: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxInputBytes: 20 * 1024 * 1024, // 20 MiB: a large phone JPEG is ~10 MiB
  maxInputPixels: 50_000_000, // 50 megapixels: an 8-bit RGBA decode of that is ~200 MB
  maxInputSide: 16_384, // pixels
};

export interface DecodeOptions {
  readonly width: number;
  readonly height: number;
  readonly fit: FitMode;
  readonly normalization: Normalization;
  readonly limits?: DecodeLimits;
}

/** 8-bit RGB pixels, row-major, interleaved (HWC). */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Why an input was refused, so that callers can map it to their own error codes. */
export type DecodeFailure = 'empty' | 'too_many_bytes' | 'too_large' | 'unsupported_format' | 'corrupt';

/** The input is not an image we accept; the message says why in user terms. */
export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
  readonly failure: DecodeFailure;

  constructor(failure: DecodeFailure, message: string) {
    super(message);
    this.failure = failure;
  }
}

const WHITE = { r: 255, g: 255, b: 255 };

/** Decodes one image into a batch of one: [1, 3, height, width], normalised. */
export async function decodeImage(input: Uint8Array, options: DecodeOptions): Promise<ImageBatch> {
  return rgbToBatch(await decodeToRgb(input, options), options.normalization);
}

export async function decodeToRgb(input: Uint8Array, options: DecodeOptions): Promise<RgbImage> {
  const limits = options.limits ?? DEFAULT_DECODE_LIMITS;
  if (input.byteLength === 0) throw new ImageDecodeError('empty', 'image is empty');
  if (input.byteLength > limits.maxInputBytes) {
    throw new ImageDecodeError('too_many_bytes', `image is ${input.byteLength} bytes, the limit is ${limits.maxInputBytes}`);
  }
  const sharpOptions = { limitInputPixels: limits.maxInputPixels, failOn: 'warning' } as const;
  await assertAcceptedFormat(input, sharpOptions, limits.maxInputSide);
  try {
    const { data, info } = await sharp(input, sharpOptions)
      .autoOrient()
      .flatten({ background: WHITE })
      .resize({ width: options.width, height: options.height, fit: options.fit, background: WHITE })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== CHANNELS || info.width !== options.width || info.height !== options.height) {
      throw new ImageDecodeError(
        'corrupt',
        `image decoded to ${info.width}x${info.height}x${info.channels}, expected ${options.width}x${options.height}x3`,
      );
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (error) {
    throw asDecodeError(error);
  }
}

async function assertAcceptedFormat(input: Uint8Array, options: SharpOptions, maxSide: number): Promise<void> {
  let metadata: Metadata;
  try {
    metadata = await sharp(input, options).metadata();
  } catch (error) {
    throw asDecodeError(error);
  }
  if (!(INPUT_FORMATS as readonly string[]).includes(metadata.format)) {
    throw new ImageDecodeError(
      'unsupported_format',
      `image format ${metadata.format} is not accepted (use ${INPUT_FORMATS.join(', ')})`,
    );
  }
  if (metadata.width > maxSide || metadata.height > maxSide) {
    throw new ImageDecodeError('too_large', `image is ${metadata.width}x${metadata.height}, the longest side allowed is ${maxSide}`);
  }
}

function asDecodeError(error: unknown): ImageDecodeError {
  if (error instanceof ImageDecodeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  // sharp's messages are libvips internals, sometimes several lines or a dangling colon.
  const detail = message.replace(/\s+/g, ' ').replace(/[\s:]+$/, '');
  if (/unsupported image format/i.test(detail)) return new ImageDecodeError('unsupported_format', 'not a recognised image');
  if (/pixel limit/i.test(detail)) return new ImageDecodeError('too_large', 'image has too many pixels');
  return new ImageDecodeError('corrupt', `cannot decode image: ${detail}`);
}

/** HWC uint8 → NCHW float32 with x = (p/255 − mean) / std per channel. */
export function rgbToBatch(image: RgbImage, normalization: Normalization): ImageBatch {
  const { width, height, data } = image;
  const plane = width * height;
  const out = new Float32Array(CHANNELS * plane);
  for (let c = 0; c < CHANNELS; c++) {
    const mean = normalization.mean[c] ?? 0;
    const std = normalization.std[c] ?? 1;
    for (let i = 0; i < plane; i++) {
      out[c * plane + i] = ((data[i * CHANNELS + c] ?? 0) / 255 - mean) / std;
    }
  }
  return { data: out, n: 1, height, width };
}

/** Image `index` of an NCHW batch → HWC uint8, inverting the normalisation and clamping. */
export function batchToRgb(batch: ImageBatch, index: number, normalization: Normalization): RgbImage {
  const { data, height, width } = imageAt(batch, index);
  const plane = width * height;
  const out = new Uint8Array(CHANNELS * plane);
  for (let c = 0; c < CHANNELS; c++) {
    const mean = normalization.mean[c] ?? 0;
    const std = normalization.std[c] ?? 1;
    for (let i = 0; i < plane; i++) {
      const pixel = ((data[c * plane + i] ?? 0) * std + mean) * 255;
      out[i * CHANNELS + c] = Math.min(255, Math.max(0, Math.round(pixel)));
    }
  }
  return { data: out, width, height };
}

export interface EncodeOptions {
  /** JPEG/WebP quality, 1-100. */
  readonly quality?: number;
  /** Keep only this region of the image. */
  readonly crop?: { readonly left: number; readonly top: number; readonly width: number; readonly height: number };
}

export async function encodeRgb(image: RgbImage, format: OutputFormat, options: EncodeOptions = {}): Promise<Buffer> {
  let pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: CHANNELS } });
  if (options.crop !== undefined) pipeline = pipeline.extract(options.crop);
  const quality = options.quality ?? DEFAULT_QUALITY;
  switch (format) {
    case 'png':
      return pipeline.png().toBuffer();
    case 'webp':
      return pipeline.webp({ quality }).toBuffer();
    case 'jpeg':
      return pipeline.jpeg({ quality }).toBuffer();
  }
}

/** Image `index` of a batch as an encoded file, without metadata. */
export async function encodeImage(
  batch: ImageBatch,
  index: number,
  format: OutputFormat,
  normalization: Normalization,
): Promise<Buffer> {
  return encodeRgb(batchToRgb(batch, index, normalization), format);
}
