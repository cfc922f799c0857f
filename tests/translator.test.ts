import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stylesFromSeeds } from '../contract/seed-style.ts';
import { imageBatch } from '../functions/lib/image-batch.ts';
import { UnknownDirectionError, directionNames, resolveDirection } from '../functions/lib/resolve-direction.ts';
import { TranslationInputError, Translator } from '../functions/lib/translator.ts';
import { maxAbsDiff, readFixtureIndex } from './parity-fixtures.ts';

const MODEL_DIR = resolve(import.meta.dirname, '../models/sa-munit-random');

// Opened at collection time so the cases below can be built from the manifest's own numbers.
const translator = await Translator.open(MODEL_DIR);
const { size_multiple: multiple, min_size: minSize, style_dim: styleDim } = translator.manifest;
/** The smallest side the model accepts. */
const goodSize = Math.ceil(minSize / multiple) * multiple;
const names = directionNames(translator.manifest);

afterAll(async () => {
  await translator.close();
});

function randomImages(n: number, height: number, width: number): ReturnType<typeof imageBatch> {
  const data = new Float32Array(n * 3 * height * width);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 12.9898) * 0.9;
  return imageBatch(data, n, height, width);
}

describe('Translator', () => {
  it('reproduces the export fixtures through translate() and encodeStyle()', async () => {
    const { tolerance, cases } = await readFixtureIndex(MODEL_DIR);
    for (const fixture of cases) {
      const image = fixture.inputs['image'];
      if (image === undefined) throw new Error(`${fixture.graph}: fixture has no image input`);
      const [n = 0, , height = 0, width = 0] = image.shape;
      const images = imageBatch(image.data, n, height, width);
      const graph = translator.manifest.graphs.find((g) => g.file === fixture.graph);
      let actual: Float32Array;
      let expected: Float32Array | undefined;
      if (graph?.role === 'translator') {
        actual = (await translator.translate(graph.direction, images, fixture.inputs['style']?.data ?? new Float32Array())).data;
        expected = fixture.outputs['translated']?.data;
      } else if (graph?.role === 'style_encoder') {
        actual = await translator.encodeStyle(graph.domain, images);
        expected = fixture.outputs['style']?.data;
      } else {
        throw new Error(`${fixture.graph} is not in the manifest`);
      }
      expect(maxAbsDiff(actual, expected ?? new Float32Array()), `${fixture.graph} b${fixture.batch}`).toBeLessThanOrEqual(tolerance);
    }
  });

  it('translates a non-square batch into images of the same shape, within [-1, 1]', async () => {
    const images = randomImages(2, goodSize, 2 * goodSize);
    const out = await translator.translate('b2a', images, stylesFromSeeds([1, 2], styleDim));
    expect([out.n, out.height, out.width]).toEqual([2, goodSize, 2 * goodSize]);
    expect(out.data.every((v) => v >= -1 && v <= 1)).toBe(true);
  });

  it('gives different images for different styles and the same for the same', async () => {
    const images = randomImages(1, goodSize, goodSize);
    const dim = styleDim;
    const first = await translator.translate('a2b', images, stylesFromSeeds([5], dim));
    const again = await translator.translate('a2b', images, stylesFromSeeds([5], dim));
    const other = await translator.translate('a2b', images, stylesFromSeeds([6], dim));
    expect(again.data).toEqual(first.data);
    expect(maxAbsDiff(other.data, first.data)).toBeGreaterThan(1e-3);
  });

  it('returns one style vector per image', async () => {
    const styles = await translator.encodeStyle('b', randomImages(3, goodSize, goodSize));
    expect(styles).toHaveLength(3 * styleDim);
  });

  const rule = `must be a multiple of ${multiple} and at least ${minSize}`;
  const badSizes: [number, number, string][] = [];
  if (multiple > 1) {
    badSizes.push([goodSize + 1, goodSize, `image height ${goodSize + 1} ${rule}`]);
    badSizes.push([goodSize, goodSize + 1, `image width ${goodSize + 1} ${rule}`]);
  }
  if (goodSize > multiple) badSizes.push([goodSize - multiple, goodSize, `image height ${goodSize - multiple} ${rule}`]);

  it.each(badSizes)('rejects %dx%d images with a clear message', async (height, width, message) => {
    const images = randomImages(1, height, width);
    const styles = stylesFromSeeds([1], styleDim);
    await expect(translator.translate('a2b', images, styles)).rejects.toThrow(TranslationInputError);
    await expect(translator.translate('a2b', images, styles)).rejects.toThrow(message);
    await expect(translator.encodeStyle('a', images)).rejects.toThrow(message);
  });

  it('rejects a style array of the wrong length or with NaN', async () => {
    const images = randomImages(2, goodSize, goodSize);
    await expect(translator.translate('a2b', images, new Float32Array(styleDim))).rejects.toThrow(
      `styles must hold 2 x ${styleDim} = ${2 * styleDim} values, got ${styleDim}`,
    );
    await expect(translator.translate('a2b', images, new Float32Array(2 * styleDim).fill(Number.NaN))).rejects.toThrow(
      /styles must be finite/,
    );
  });

  it('rejects an image array that does not match its dims', () => {
    expect(() => imageBatch(new Float32Array(10), 1, 32, 32)).toThrow(/needs 3072 values, got 10/);
  });
});

describe('resolveDirection', () => {
  it('accepts keys and <domain>-to-<domain> names', () => {
    const { manifest } = translator;
    expect(resolveDirection(manifest, 'a2b')).toBe('a2b');
    expect(resolveDirection(manifest, 'b2a')).toBe('b2a');
    expect(resolveDirection(manifest, names.a2b)).toBe('a2b');
    expect(resolveDirection(manifest, names.b2a)).toBe('b2a');
  });

  it.each(['A2B', names.a2b.replace('-to-', '2'), `${names.a2b}-to-x`, ''])('rejects "%s", listing the valid ones', (text) => {
    expect(() => resolveDirection(translator.manifest, text)).toThrow(UnknownDirectionError);
    expect(() => resolveDirection(translator.manifest, text)).toThrow(
      `use a2b, b2a, ${names.a2b} or ${names.b2a}`,
    );
  });
});
