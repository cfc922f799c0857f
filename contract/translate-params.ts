/**
 * The parameters of one translation, shared by the edge and the function: both validate with this
 * schema, and the edge's content address hashes its normalised output, so two spellings of the
 * same request ("n=01", "n=1") can never get different cache keys.
 *
 * Parameters arrive as strings (query string or multipart text fields), hence the string-to-value
 * parsing here. Checks that need the model (direction names, style length) happen where the
 * manifest is known: see checkAgainstModel.
 */
import { z } from '@hono/zod-openapi';
import { MAX_SEED, parseSeed } from './seed-style.ts';

export const MAX_OUTPUTS = 8;
export const OUTPUT_FORMATS = ['png', 'webp', 'jpeg'] as const;
export const FIT_MODES = ['cover', 'contain'] as const;
export const DEFAULT_QUALITY = 90;

const seedText = z
  .string()
  .transform((text, ctx) => {
    try {
      return parseSeed(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be an integer from 0 to ${MAX_SEED} written in digits` });
      return z.NEVER;
    }
  })
  .openapi({ type: 'string', example: '7', description: `Style seed, 0 to 2^53-1; output i of n uses seed + i.` });

const styleVectorText = z
  .string()
  .transform((text, ctx) => {
    const parts = text.split(',');
    const values = parts.map((part) => (/^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(part) ? Number(part) : NaN));
    if (values.some((v) => !Number.isFinite(v) || Math.abs(v) > 1e3)) {
      ctx.addIssue({ code: 'custom', message: 'must be comma-separated finite numbers (|x| <= 1000)' });
      return z.NEVER;
    }
    return values;
  })
  .openapi({ type: 'string', example: '0.1,-1.2,0.3,0.8,-0.5,1.1,0,0.4', description: 'An explicit style vector of style_dim numbers.' });

function integerText(min: number, max: number, fallback: number) {
  return z
    .string()
    .regex(/^\d{1,4}$/, `must be an integer from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be an integer from ${min} to ${max}`).max(max, `must be an integer from ${min} to ${max}`))
    .optional()
    .transform((value) => value ?? fallback);
}

const booleanText = z
  .enum(['true', 'false', '1', '0'], { message: 'must be true or false' })
  .optional()
  .transform((value) => value === 'true' || value === '1');

/** Parameters as they arrive (all strings) → normalised values with defaults applied. */
export const translateParamsSchema = z
  .object({
    direction: z
      .string()
      .min(1)
      .max(80)
      .regex(/^[a-z0-9_-]+$/, 'must be a2b, b2a or <domain>-to-<domain>')
      .optional()
      .transform((value) => value ?? 'a2b')
      .openapi({ type: 'string', example: 'a2b', description: 'a2b, b2a, or <domain>-to-<domain> with the model\'s domain names.' }),
    seed: seedText.optional(),
    style: styleVectorText.optional(),
    n: integerText(1, MAX_OUTPUTS, 1).openapi({ type: 'string', example: '4', description: `Number of outputs, 1-${MAX_OUTPUTS}, each with its own seed.` }),
    format: z
      .enum(OUTPUT_FORMATS, { message: `must be one of ${OUTPUT_FORMATS.join(', ')}` })
      .optional()
      .transform((value) => value ?? 'png'),
    quality: integerText(1, 100, DEFAULT_QUALITY).openapi({ type: 'string', example: '90', description: 'JPEG/WebP quality, 1-100.' }),
    fit: z
      .enum(FIT_MODES, { message: `must be one of ${FIT_MODES.join(', ')}` })
      .optional()
      .transform((value) => value ?? 'cover')
      .openapi({ type: 'string', description: "How the input becomes the model's square: crop (cover) or pad (contain)." }),
    keep_aspect: booleanText.openapi({
      type: 'string',
      description: "With fit=contain: crop the padding off the result, giving the input's aspect ratio.",
    }),
  })
  .strict()
  .superRefine((params, ctx) => {
    if (params.style !== undefined && params.seed !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['style'], message: 'give either seed or style, not both' });
    }
    if (params.style !== undefined && params.n > 1) {
      ctx.addIssue({ code: 'custom', path: ['n'], message: 'n > 1 needs seeds (one style each), not an explicit style' });
    }
    if (params.keep_aspect && params.fit !== 'contain') {
      ctx.addIssue({ code: 'custom', path: ['keep_aspect'], message: 'only applies with fit=contain' });
    }
  });

export type TranslateParams = z.output<typeof translateParamsSchema>;

/** One line naming every offending parameter, for the invalid_parameters error message. */
export function describeParamIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length > 0 ? issue.path.join('.') : 'parameters';
      const message = issue.code === 'unrecognized_keys' ? `unknown parameter(s) ${issue.keys.join(', ')}` : issue.message;
      return `${field}: ${message}`;
    })
    .join('; ');
}

/** Normalised parameters back as a query string, which this schema parses to the same values. */
export function translateQuery(params: TranslateParams): string {
  const query = new URLSearchParams({
    direction: params.direction,
    n: String(params.n),
    format: params.format,
    quality: String(params.quality),
    fit: params.fit,
    keep_aspect: String(params.keep_aspect),
  });
  if (params.seed !== undefined) query.set('seed', String(params.seed));
  if (params.style !== undefined) query.set('style', params.style.join(','));
  return query.toString();
}
