/**
 * The trained demo model the service serves by default (models/sa-munit-shapes): verified against
 * its manifest, small enough to commit, carrying its evaluation, and translating a real image in
 * onnxruntime-node with visibly different results per style seed.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stylesFromSeeds } from '../contract/seed-style.ts';
import { EMBEDDED_MODEL_DIR } from '../functions/config.ts';
import { DEFAULT_MODEL_DIR } from '../functions/cli/translate-args.ts';
import { decodeImage } from '../functions/lib/image-codec.ts';
import { Translator } from '../functions/lib/translator.ts';
import { maxAbsDiff } from './parity-fixtures.ts';

const ROOT = resolve(import.meta.dirname, '..');
const COMMITTED_MODEL_BYTES = 10 * 1024 * 1024;

// Opened at collection time: a missing or tampered demo model fails here, naming the file.
const translator = await Translator.open(EMBEDDED_MODEL_DIR);
const { manifest } = translator;

afterAll(async () => {
  await translator.close();
});

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? await folderBytes(path) : (await stat(path)).size;
  }
  return total;
}

async function sample(name: string) {
  const size = manifest.image_size;
  return decodeImage(await readFile(join(ROOT, 'samples', name)), {
    width: size,
    height: size,
    fit: 'cover',
    normalization: manifest.normalization,
  });
}

describe('the embedded demo model', () => {
  it('is what the service and the CLI load by default', () => {
    expect(EMBEDDED_MODEL_DIR).toBe(resolve(ROOT, 'models/sa-munit-shapes'));
    expect(DEFAULT_MODEL_DIR).toBe(EMBEDDED_MODEL_DIR);
  });

  it('is a trained SA-MUNIT export carrying its evaluation', () => {
    expect(manifest).toMatchObject({ name: 'sa-munit-shapes', architecture: 'sa-munit', image_size: 64 });
    expect(manifest.domains.map((d) => d.name)).toEqual(['circles', 'squares']);
    const metrics = manifest.metrics as { format?: string; directions?: Record<string, { translation_success?: number }> };
    expect(metrics.format).toBe('sa-munit-evaluation/1');
    expect(Object.keys(metrics.directions ?? {}).sort()).toEqual(['a2b', 'b2a']);
  });

  it(`fits the ${COMMITTED_MODEL_BYTES / 1024 / 1024} MB budget for committed models`, async () => {
    expect(await folderBytes(EMBEDDED_MODEL_DIR)).toBeLessThanOrEqual(COMMITTED_MODEL_BYTES);
  });

  it.each([
    ['a2b', 'circle.png'],
    ['b2a', 'square.png'],
  ] as const)('translates samples/%s %s differently per style seed, in range', async (direction, file) => {
    const image = await sample(file);
    const dim = manifest.style_dim;
    const [first, second] = await Promise.all(
      [[11], [12]].map((seeds) => translator.translate(direction, image, stylesFromSeeds(seeds, dim))),
    );
    for (const out of [first, second]) {
      expect(out?.data.every((v) => v >= -1 && v <= 1)).toBe(true);
      expect(maxAbsDiff(out?.data ?? new Float32Array(), image.data)).toBeGreaterThan(0.1);
    }
    expect(maxAbsDiff(first?.data ?? new Float32Array(), second?.data ?? new Float32Array())).toBeGreaterThan(0.05);
  });
});
