/** Places RGB images of one height side by side, left to right, for at-a-glance comparison. */
import { CHANNELS } from '../lib/image-batch.ts';
import type { RgbImage } from '../lib/image-codec.ts';

export function sideBySide(images: readonly RgbImage[]): RgbImage {
  const first = images[0];
  if (first === undefined) throw new RangeError('a grid needs at least one image');
  const height = first.height;
  if (images.some((image) => image.height !== height)) throw new RangeError('grid images must share one height');
  const width = images.reduce((sum, image) => sum + image.width, 0);
  const data = new Uint8Array(width * height * CHANNELS);
  let left = 0;
  for (const image of images) {
    const rowBytes = image.width * CHANNELS;
    for (let y = 0; y < height; y++) {
      data.set(image.data.subarray(y * rowBytes, (y + 1) * rowBytes), (y * width + left) * CHANNELS);
    }
    left += image.width;
  }
  return { data, width, height };
}
