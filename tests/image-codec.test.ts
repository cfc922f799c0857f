import sharp, { type Color } from 'sharp';
import { describe, expect, it } from 'vitest';
import type { Normalization } from '../contract/manifest.ts';
import {
  ImageDecodeError,
  batchToRgb,
  decodeImage,
  decodeToRgb,
  encodeImage,
  encodeRgb,
  rgbToBatch,
  type DecodeOptions,
} from '../functions/lib/image-codec.ts';

const NORMALIZATION: Normalization = {
  layout: 'NCHW',
  channels: 'RGB',
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
  range: [-1, 1],
};
const OPTIONS: DecodeOptions = { width: 8, height: 8, fit: 'cover', normalization: NORMALIZATION };

function noisy(width: number, height: number, sigma: number) {
  const noise = { type: 'gaussian', mean: 128, sigma } as const;
  return sharp({ create: { width, height, channels: 3, background: 'black', noise } });
}

function solid(width: number, height: number, background: Color, channels: 3 | 4 = 3) {
  return sharp({ create: { width, height, channels, background } });
}

async function decodeError(input: Uint8Array, options: DecodeOptions = OPTIONS): Promise<ImageDecodeError> {
  const error = await decodeToRgb(input, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImageDecodeError);
  return error as ImageDecodeError;
}

describe('decodeImage', () => {
  it('gives NCHW float32 with (p/255 − mean)/std per channel', async () => {
    const png = await solid(4, 4, { r: 255, g: 0, b: 51 }).png().toBuffer();
    const batch = await decodeImage(png, { ...OPTIONS, width: 4, height: 4 });
    expect([batch.n, batch.height, batch.width, batch.data.length]).toEqual([1, 4, 4, 48]);
    expect(batch.data[0]).toBeCloseTo(1, 6); // red plane first
    expect(batch.data[16]).toBeCloseTo(-1, 6); // then green
    expect(batch.data[32]).toBeCloseTo((51 / 255 - 0.5) / 0.5, 6); // then blue
  });

  it('applies the EXIF orientation', async () => {
    // 20 wide x 10 high, tagged "rotate 90° clockwise": shown 10 wide x 20 high.
    const jpeg = await solid(20, 10, 'red').jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const left = solid(10, 10, 'blue');
    // Mark the left half blue so the rotation direction shows: after a clockwise turn it is on top.
    const marked = await solid(20, 10, 'red')
      .composite([{ input: await left.png().toBuffer(), left: 0, top: 0 }])
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await decodeToRgb(jpeg, { ...OPTIONS, width: 10, height: 20, fit: 'contain' })).width).toBe(10);
    const image = await decodeToRgb(marked, { ...OPTIONS, width: 10, height: 20, fit: 'contain' });
    const pixel = (x: number, y: number) => Array.from(image.data.subarray((y * 10 + x) * 3, (y * 10 + x) * 3 + 3));
    expect(pixel(5, 2)[2]).toBeGreaterThan(200); // top: blue
    expect(pixel(5, 17)[0]).toBeGreaterThan(200); // bottom: red
  });

  it('flattens transparency onto white', async () => {
    const png = await solid(8, 8, { r: 0, g: 0, b: 0, alpha: 0 }, 4).png().toBuffer();
    const image = await decodeToRgb(png, OPTIONS);
    expect(image.data.every((v) => v === 255)).toBe(true);
  });

  it('turns 16-bit grey into 8-bit RGB', async () => {
    const png = await solid(8, 8, { r: 100, g: 100, b: 100 }).toColourspace('grey16').png().toBuffer();
    expect((await sharp(png).metadata()).depth).toBe('ushort');
    const image = await decodeToRgb(png, OPTIONS);
    expect(image.data).toHaveLength(8 * 8 * 3);
    expect(Math.abs((image.data[0] ?? 0) - 100)).toBeLessThanOrEqual(1);
    expect(image.data[0]).toBe(image.data[2]);
  });

  it('pads with white for contain and crops for cover', async () => {
    const wide = await solid(40, 10, 'black').webp({ lossless: true }).toBuffer();
    const contained = await decodeToRgb(wide, { ...OPTIONS, fit: 'contain' });
    expect(Array.from(contained.data.subarray(0, 3))).toEqual([255, 255, 255]); // top row: padding
    expect(Array.from(contained.data.subarray(4 * 8 * 3, 4 * 8 * 3 + 3))).toEqual([0, 0, 0]); // middle: image
    const covered = await decodeToRgb(wide, OPTIONS);
    expect(covered.data.every((v) => v === 0)).toBe(true);
  });

  it('rejects bytes that are not an image', async () => {
    expect((await decodeError(Buffer.from('definitely not an image'))).message).toBe('not a recognised image');
  });

  it('rejects an empty input', async () => {
    expect((await decodeError(new Uint8Array())).message).toBe('image is empty');
  });

  it('rejects a truncated JPEG instead of decoding half of it', async () => {
    const jpeg = await noisy(200, 200, 40).jpeg().toBuffer();
    expect((await decodeError(jpeg.subarray(0, jpeg.length >> 1))).message).toMatch(/^cannot decode image: .*JPEG/);
  });

  it('rejects a corrupt PNG header', async () => {
    const png = await solid(8, 8, 'red').png().toBuffer();
    expect((await decodeError(png.subarray(0, 30))).message).toMatch(/^cannot decode image/);
  });

  it('rejects formats outside JPEG/PNG/WebP', async () => {
    const gif = await solid(8, 8, 'red').gif().toBuffer();
    expect((await decodeError(gif)).message).toBe('image format gif is not accepted (use jpeg, png, webp)');
  });

  it('enforces the byte, pixel and side limits before decoding', async () => {
    const png = await solid(100, 100, 'red').png().toBuffer();
    const limits = (maxInputBytes: number, maxInputPixels: number, maxInputSide = 1e4) => ({
      ...OPTIONS,
      limits: { maxInputBytes, maxInputPixels, maxInputSide },
    });
    expect(await decodeError(png, limits(10, 1e6))).toMatchObject({ failure: 'too_many_bytes' });
    expect((await decodeError(png, limits(10, 1e6))).message).toMatch(/^image is \d+ bytes, the limit is 10$/);
    expect(await decodeError(png, limits(1e6, 9_999))).toMatchObject({ failure: 'too_large', message: 'image has too many pixels' });
    expect(await decodeError(png, limits(1e6, 1e6, 99))).toMatchObject({
      failure: 'too_large',
      message: 'image is 100x100, the longest side allowed is 99',
    });
    await expect(decodeToRgb(png, limits(1e6, 10_000, 100))).resolves.toBeDefined();
  });
});

describe('encodeImage', () => {
  it('inverts the normalisation, clamping out-of-range values', () => {
    const batch = { data: Float32Array.from([-1.5, 0, 1.5, 1]), n: 1, height: 1, width: 1 };
    const rgb = batchToRgb({ ...batch, data: batch.data.subarray(0, 3) }, 0, NORMALIZATION);
    expect(Array.from(rgb.data)).toEqual([0, 128, 255]);
  });

  it('round-trips 8-bit pixels through the tensor exactly', async () => {
    const png = await noisy(16, 12, 60).png().toBuffer();
    const rgb = await decodeToRgb(png, { ...OPTIONS, width: 16, height: 12 });
    expect(batchToRgb(rgbToBatch(rgb, NORMALIZATION), 0, NORMALIZATION).data).toEqual(rgb.data);
  });

  it('picks the right image of a batch', async () => {
    const red = await decodeImage(await solid(8, 8, 'red').png().toBuffer(), OPTIONS);
    const blue = await decodeImage(await solid(8, 8, 'blue').png().toBuffer(), OPTIONS);
    const batch = { data: Float32Array.from([...red.data, ...blue.data]), n: 2, height: 8, width: 8 };
    expect(Array.from(batchToRgb(batch, 1, NORMALIZATION).data.subarray(0, 3))).toEqual([0, 0, 255]);
    expect(() => batchToRgb(batch, 2, NORMALIZATION)).toThrow(/outside a batch of 2/);
  });

  it.each(['png', 'webp', 'jpeg'] as const)('writes %s without metadata, byte-identical on repeat', async (format) => {
    const batch = await decodeImage(await solid(8, 8, 'orange').png().toBuffer(), OPTIONS);
    const bytes = await encodeImage(batch, 0, format, NORMALIZATION);
    expect(await encodeImage(batch, 0, format, NORMALIZATION)).toEqual(bytes);
    const meta = await sharp(bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual([format, 8, 8]);
    expect([meta.exif, meta.icc, meta.xmp]).toEqual([undefined, undefined, undefined]);
  });

  it('encodes raw RGB of any size', async () => {
    const bytes = await encodeRgb({ data: new Uint8Array(5 * 3 * 3), width: 5, height: 3 }, 'png');
    expect((await sharp(bytes).metadata()).width).toBe(5);
  });
});
