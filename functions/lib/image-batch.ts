/**
 * A batch of RGB images as the graphs take them: float32, NCHW, values in [-1, 1].
 * Carries its dims because a bare Float32Array cannot say where one image ends.
 */
export interface ImageBatch {
  readonly data: Float32Array;
  readonly n: number;
  readonly height: number;
  readonly width: number;
}

export const CHANNELS = 3;

export function imageBatch(data: Float32Array, n: number, height: number, width: number): ImageBatch {
  for (const [label, value] of [['n', n], ['height', height], ['width', width]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`image batch ${label} must be a positive integer, got ${value}`);
    }
  }
  const expected = n * CHANNELS * height * width;
  if (data.length !== expected) {
    throw new RangeError(`image batch [${n},${CHANNELS},${height},${width}] needs ${expected} values, got ${data.length}`);
  }
  return { data, n, height, width };
}

export function batchDims(batch: ImageBatch): [number, number, number, number] {
  return [batch.n, CHANNELS, batch.height, batch.width];
}

/** Concatenates batches of one size along N (e.g. one input repeated for several styles). */
export function concatBatches(batches: readonly ImageBatch[]): ImageBatch {
  const first = batches[0];
  if (first === undefined) throw new RangeError('cannot concatenate zero image batches');
  const mismatch = batches.find((b) => b.height !== first.height || b.width !== first.width);
  if (mismatch !== undefined) {
    throw new RangeError(
      `cannot concatenate images of ${first.height}x${first.width} and ${mismatch.height}x${mismatch.width}`,
    );
  }
  const n = batches.reduce((sum, b) => sum + b.n, 0);
  const data = new Float32Array(n * CHANNELS * first.height * first.width);
  let offset = 0;
  for (const b of batches) {
    data.set(b.data, offset);
    offset += b.data.length;
  }
  return { data, n, height: first.height, width: first.width };
}

/** Image `index` of the batch, as a batch of one (a view, not a copy). */
export function imageAt(batch: ImageBatch, index: number): ImageBatch {
  if (!Number.isInteger(index) || index < 0 || index >= batch.n) {
    throw new RangeError(`image index ${index} is outside a batch of ${batch.n}`);
  }
  const size = CHANNELS * batch.height * batch.width;
  return { data: batch.data.subarray(index * size, (index + 1) * size), n: 1, height: batch.height, width: batch.width };
}
