/**
 * The command line of `sa-munit translate` → checked options. The API parameters are checked
 * with the API's own schema (contract/translate-params.ts), so whatever the API would refuse as
 * invalid_parameters is refused here first, naming the option, without a request.
 */
import { MAX_SEED } from '../../../contract/seed-style.ts';
import { FIT_MODES, MAX_OUTPUTS, OUTPUT_FORMATS, translateParamsSchema, type TranslateParams } from '../../../contract/translate-params.ts';
import { parseCommandLine } from '../command.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE } from '../connection-config.ts';
import type { OutputFormat } from '../output-target.ts';
import { UsageError } from '../usage-error.ts';

export const TRANSLATE_USAGE = `usage: sa-munit translate <image> -o <out> [options]

Translate one image (PNG, JPEG or WebP) through the API and write the result(s).

  -o, --out <path>          a file: the result (n = 1), or <out>-<seed>.<ext> beside it for each of n > 1;
                            a folder (existing, or ending in /): <image name>-<seed>.<ext> inside it
  --direction <d>           a2b, b2a or <domain>-to-<domain> (default a2b)
  --seed <int>              style seed, 0..${MAX_SEED}; output i uses seed + i (default: the API picks one)
  --n <1..${MAX_OUTPUTS}>                number of outputs, each with its own seed (default 1)
  --style-image <file>      take the style from this reference image (of the target domain) instead of a seed
  --format <${OUTPUT_FORMATS.join('|')}>  output format (default: from the extension of --out, else png)
  --quality <1..100>        JPEG/WebP quality (default 90)
  --fit <${FIT_MODES.join('|')}>     crop (cover) or pad (contain) to the model's square (default cover)
  --keep-aspect             with --fit contain: crop the padding off again (the input's aspect ratio)
  -h, --help                this text

${CONNECTION_USAGE}

Prints one line per file written: its path, seed, cache HIT/MISS and the model version.
Exit codes: 0 written; 1 the API answered with an error (code: message (request id …));
2 a usage or local file problem (nothing sent, nothing written); 3 the API could not be reached.`;

/** The translation options every command that translates shares (checked by checkApiParams). */
export const API_PARAM_OPTIONS = {
  direction: { type: 'string' },
  seed: { type: 'string' },
  n: { type: 'string' },
  format: { type: 'string' },
  quality: { type: 'string' },
  fit: { type: 'string' },
  'keep-aspect': { type: 'boolean' },
} as const;

const TRANSLATE_OPTIONS = {
  ...CONNECTION_OPTIONS,
  ...API_PARAM_OPTIONS,
  out: { type: 'string', short: 'o' },
  'style-image': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface TranslateOptions {
  readonly image: string;
  readonly out: string;
  readonly styleImage: string | undefined;
  readonly format: OutputFormat | undefined;
  /** API parameters as given (the API normalises them; the content address does not depend on spelling). */
  readonly params: Readonly<Record<string, string>>;
  readonly connection: { readonly url?: string | undefined; readonly key?: string | undefined; readonly timeout?: string | undefined };
}

/** The translation options every command that translates shares, as the command line spells them. */
export interface ApiParamValues {
  readonly direction?: string | undefined;
  readonly seed?: string | undefined;
  readonly n?: string | undefined;
  readonly format?: string | undefined;
  readonly quality?: string | undefined;
  readonly fit?: string | undefined;
  readonly 'keep-aspect'?: boolean | undefined;
}

/**
 * The options given, as API parameters (query-string spelling), and as the API's schema reads
 * them; a value the API would refuse is a usage error naming the option.
 */
export function checkApiParams(values: ApiParamValues): { params: Record<string, string>; checked: TranslateParams } {
  const given: Record<string, string | undefined> = {
    direction: values.direction,
    seed: values.seed,
    n: values.n,
    format: values.format,
    quality: values.quality,
    fit: values.fit,
    keep_aspect: values['keep-aspect'] === true ? 'true' : undefined,
  };
  const params = Object.fromEntries(Object.entries(given).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const checked = translateParamsSchema.safeParse(params);
  if (!checked.success) {
    const problems = checked.error.issues.map((issue) => `--${String(issue.path[0] ?? 'parameters').replace('_', '-')}: ${issue.message}`);
    throw new UsageError(problems.join('; '));
  }
  return { params, checked: checked.data };
}

export type TranslateCommandLine = { readonly kind: 'help' } | { readonly kind: 'translate'; readonly options: TranslateOptions };

export function parseTranslateOptions(argv: readonly string[]): TranslateCommandLine {
  const { values, positionals } = parseCommandLine(argv, TRANSLATE_OPTIONS);
  if (values.help === true) return { kind: 'help' };
  const [image, ...extra] = positionals;
  if (image === undefined) throw new UsageError('<image>: missing (sa-munit translate <image> -o <out>)');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}" (one image at a time)`);
  if (values.out === undefined || values.out === '') throw new UsageError('-o/--out: missing (a file, or a folder ending in /)');
  const styleImage = values['style-image'];
  if (styleImage !== undefined && (values.seed !== undefined || values.n !== undefined)) {
    throw new UsageError('--style-image: cannot be combined with --seed or --n (the reference image fixes the style)');
  }

  const { params, checked } = checkApiParams(values);
  return {
    kind: 'translate',
    options: {
      image,
      out: values.out,
      styleImage,
      format: values.format === undefined ? undefined : checked.format,
      params,
      connection: { url: values.url, key: values.key, timeout: values.timeout },
    },
  };
}
