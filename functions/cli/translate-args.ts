/**
 * Command line of `npm run translate` → a checked TranslateJob. Everything that can be judged
 * without the model is judged here, so mistakes fail before a model is loaded; each error names
 * the argument it is about.
 */
import { randomInt } from 'node:crypto';
import { extname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_SEED, parseSeed } from '../../contract/seed-style.ts';
import { MAX_OUTPUTS } from '../../contract/translate-params.ts';
import { FIT_MODES, OUTPUT_FORMATS, type FitMode, type OutputFormat } from '../lib/image-codec.ts';

export const DEFAULT_MODEL_DIR = resolve(import.meta.dirname, '../../models/sa-munit-shapes');

export const USAGE = `usage: npm run translate -- <input image> -o <out.png> [options]

  -o, --output <file>      where to write the result; its extension picks the format
  --model <dir>            export folder with manifest.json (default models/sa-munit-shapes)
  --direction <d>          a2b, b2a or <domain>-to-<domain> (default a2b)
  --seed <int>             style seed, 0..${MAX_SEED} (default: random, printed)
  --n <1..${MAX_OUTPUTS}>               number of styles; output i uses seed + i - 1
  --style-image <file>     take the style from this image (of the target domain) instead of a seed
  --size <cover|contain>   fit to the model's square size by cropping or padding (default cover)
  --format <png|webp|jpeg> output format (default: from the extension of -o)

With --n above 1 it writes <out>-1.<ext> … <out>-n.<ext> and, at <out>, one grid image:
the input as the model saw it, then the n outputs, left to right.`;

/** Bad command line; the message names the argument. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type StyleSource =
  | { readonly kind: 'seeds'; readonly base: number; readonly n: number; readonly chosen: boolean }
  | { readonly kind: 'image'; readonly path: string };

export interface TranslateJob {
  readonly input: string;
  readonly output: string;
  readonly format: OutputFormat;
  readonly modelDir: string;
  readonly direction: string;
  readonly style: StyleSource;
  readonly fit: FitMode;
}

export type ParsedCommand = { readonly kind: 'help' } | { readonly kind: 'translate'; readonly job: TranslateJob };

const EXTENSION_FORMATS: Readonly<Record<string, OutputFormat>> = {
  '.png': 'png',
  '.webp': 'webp',
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
};

export function parseTranslateArgs(argv: readonly string[]): ParsedCommand {
  const { values, positionals } = parseOrThrow(argv);
  if (values.help === true) return { kind: 'help' };

  const [input, ...extra] = positionals;
  if (input === undefined) throw new UsageError('<input image>: missing');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}" (one input image at a time)`);
  if (values.output === undefined) throw new UsageError('-o/--output: missing');

  return {
    kind: 'translate',
    job: {
      input,
      output: values.output,
      format: outputFormat(values.output, values.format),
      modelDir: values.model ?? DEFAULT_MODEL_DIR,
      direction: values.direction ?? 'a2b',
      style: styleSource(values),
      fit: oneOf('--size', values.size ?? 'cover', FIT_MODES),
    },
  };
}

function parseOrThrow(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: 'string', short: 'o' },
        model: { type: 'string' },
        direction: { type: 'string' },
        seed: { type: 'string' },
        n: { type: 'string' },
        'style-image': { type: 'string' },
        size: { type: 'string' },
        format: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    // parseArgs' first sentence names the option ("Unknown option '--sead'."); the rest is advice
    // about '--' that confuses more than it helps here.
    const message = (error as Error).message;
    throw new UsageError(/^[^]*?\.(?=\s|$)/.exec(message)?.[0] ?? message);
  }
}

function styleSource(values: { seed?: string; n?: string; 'style-image'?: string }): StyleSource {
  const styleImage = values['style-image'];
  if (styleImage !== undefined) {
    if (values.seed !== undefined || values.n !== undefined) {
      throw new UsageError('--style-image: cannot be combined with --seed or --n (the image fixes the style)');
    }
    return { kind: 'image', path: styleImage };
  }
  const n = values.n === undefined ? 1 : outputCount(values.n);
  if (values.seed === undefined) {
    // A fresh seed per run, printed so the run can be repeated. Below 2^48: randomInt's range limit.
    return { kind: 'seeds', base: randomInt(0, 2 ** 48 - 1), n, chosen: false };
  }
  try {
    return { kind: 'seeds', base: parseSeed(values.seed), n, chosen: true };
  } catch (error) {
    throw new UsageError(`--seed: ${(error as Error).message}`);
  }
}

function outputCount(text: string): number {
  const n = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= MAX_OUTPUTS)) {
    throw new UsageError(`--n: must be an integer from 1 to ${MAX_OUTPUTS}, got "${text}"`);
  }
  return n;
}

function outputFormat(output: string, requested: string | undefined): OutputFormat {
  const fromExtension = EXTENSION_FORMATS[extname(output).toLowerCase()];
  if (requested === undefined) {
    if (fromExtension === undefined) {
      throw new UsageError(`-o/--output: cannot tell the format of "${output}"; end it in .png, .webp or .jpg, or pass --format`);
    }
    return fromExtension;
  }
  const format = oneOf('--format', requested, OUTPUT_FORMATS);
  if (fromExtension !== undefined && fromExtension !== format) {
    throw new UsageError(`--format: ${format} contradicts the extension of "${output}"`);
  }
  return format;
}

function oneOf<T extends string>(label: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`${label}: must be one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}
