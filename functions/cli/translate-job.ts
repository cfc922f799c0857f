/**
 * Carries out one checked TranslateJob: load and verify the model, decode the input, pick styles
 * (seeds or a reference image), translate all outputs in one batch, write every file or none.
 * Problems the user can fix become UsageError naming the argument or file; anything else is a bug.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import {
  ManifestError,
  domainName,
  translatorGraph,
  type Direction,
  type DomainKey,
  type Manifest,
} from '../../contract/manifest.ts';
import { deriveSeeds, stylesFromSeeds } from '../../contract/seed-style.ts';
import { concatBatches } from '../lib/image-batch.ts';
import {
  ImageDecodeError,
  batchToRgb,
  decodeToRgb,
  encodeRgb,
  rgbToBatch,
  type DecodeOptions,
  type RgbImage,
} from '../lib/image-codec.ts';
import { UnknownDirectionError, directionNames, resolveDirection } from '../lib/resolve-direction.ts';
import { Translator } from '../lib/translator.ts';
import { sideBySide } from './image-grid.ts';
import { UsageError, type StyleSource, type TranslateJob } from './translate-args.ts';
import { writeAllOrNothing, type OutputFile } from './write-all-or-nothing.ts';

export type Log = (line: string) => void;

export async function runTranslateJob(job: TranslateJob, log: Log): Promise<void> {
  await assertFolderExists(dirname(job.output));
  const translator = await openModel(job.modelDir);
  try {
    const { manifest } = translator;
    const direction = directionArg(manifest, job.direction);
    const { target } = translatorGraph(manifest, direction);
    const decode: DecodeOptions = {
      width: manifest.image_size,
      height: manifest.image_size,
      fit: job.fit,
      normalization: manifest.normalization,
    };
    const input = await readImage(`input ${job.input}`, job.input, decode);

    const { styles, labels } = await chooseStyles(translator, job.style, target, decode);

    log(
      `model ${manifest.name} ${manifest.version} (${manifest.architecture}), ` +
        `${direction} ${directionNames(manifest)[direction]}, ${manifest.image_size}x${manifest.image_size} ${job.fit}`,
    );
    if (job.style.kind === 'seeds' && !job.style.chosen) log(`no --seed given: using random seed ${job.style.base}`);

    const inputBatch = rgbToBatch(input, manifest.normalization);
    const inputs = concatBatches(labels.map(() => inputBatch)); // one copy of the input per style
    const translated = await translator.translate(direction, inputs, styles);
    const outputs = labels.map((_, i) => batchToRgb(translated, i, manifest.normalization));
    const files = await outputFiles(job, input, outputs);
    await writeAllOrNothing(files);
    if (outputs.length === 1) {
      log(`${labels[0]} -> ${job.output}`);
    } else {
      labels.forEach((label, i) => log(`${label} -> ${files[i]?.path}`));
      log(`grid (input, then outputs 1..${outputs.length}) -> ${job.output}`);
    }
  } finally {
    await translator.close();
  }
}

/** One style per output, row-major [n, style_dim], each with a label saying where it came from. */
async function chooseStyles(
  translator: Translator,
  source: StyleSource,
  target: DomainKey,
  decode: DecodeOptions,
): Promise<{ styles: Float32Array; labels: string[] }> {
  const { manifest } = translator;
  if (source.kind === 'image') {
    const reference = await readImage(`--style-image ${source.path}`, source.path, decode);
    return {
      styles: await translator.encodeStyle(target, rgbToBatch(reference, manifest.normalization)),
      labels: [`style of ${source.path} (${domainName(manifest, target)})`],
    };
  }
  const seeds = deriveSeeds(source.base, source.n);
  return { styles: stylesFromSeeds(seeds, manifest.style_dim), labels: seeds.map((seed) => `seed ${seed}`) };
}

/** One output: the file itself. Several: out-1 … out-n, then the grid at the requested name. */
async function outputFiles(job: TranslateJob, input: RgbImage, outputs: readonly RgbImage[]): Promise<OutputFile[]> {
  const only = outputs[0];
  if (outputs.length === 1 && only !== undefined) {
    return [{ path: job.output, bytes: await encodeRgb(only, job.format) }];
  }
  const extension = extname(job.output);
  const stem = job.output.slice(0, job.output.length - extension.length);
  const files = await Promise.all(
    outputs.map(async (image, i) => ({ path: `${stem}-${i + 1}${extension}`, bytes: await encodeRgb(image, job.format) })),
  );
  files.push({ path: job.output, bytes: await encodeRgb(sideBySide([input, ...outputs]), job.format) });
  return files;
}

async function openModel(dir: string): Promise<Translator> {
  try {
    return await Translator.open(dir);
  } catch (error) {
    if (error instanceof ManifestError) throw new UsageError(`--model: ${error.message}`);
    throw error;
  }
}

async function readImage(label: string, path: string, options: DecodeOptions): Promise<RgbImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder' : (error as Error).message;
    throw new UsageError(`${label}: cannot read: ${reason}`);
  }
  try {
    return await decodeToRgb(bytes, options);
  } catch (error) {
    if (error instanceof ImageDecodeError) throw new UsageError(`${label}: ${error.message}`);
    throw error;
  }
}

async function assertFolderExists(folder: string): Promise<void> {
  const info = await stat(folder).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) {
    throw new UsageError(`-o/--output: folder "${folder}" does not exist`);
  }
}

function directionArg(manifest: Manifest, text: string): Direction {
  try {
    return resolveDirection(manifest, text);
  } catch (error) {
    if (error instanceof UnknownDirectionError) throw new UsageError(`--direction: ${error.message}`);
    throw error;
  }
}
