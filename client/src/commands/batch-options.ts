/**
 * The command line of `sa-munit batch` → checked options. The translation parameters are checked
 * as `translate` checks them (the API's own schema), the webhook URL with the batch API's, so a
 * mistake is a usage error naming the option before any file is read or request sent.
 */
import { BATCH_ID_PATTERN, MAX_BATCH_ITEMS, webhookInputSchema } from '../../../contract/batch-api.ts';
import { MAX_SEED } from '../../../contract/seed-style.ts';
import { FIT_MODES, MAX_OUTPUTS, OUTPUT_FORMATS } from '../../../contract/translate-params.ts';
import { STATE_FILE_NAME, type BatchParams } from '../batch-state.ts';
import { parseCommandLine } from '../command.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE } from '../connection-config.ts';
import { UsageError } from '../usage-error.ts';
import { API_PARAM_OPTIONS, checkApiParams } from './translate-options.ts';

export const DEFAULT_CONCURRENCY = 8;
const MAX_CONCURRENCY = 64;

export const BATCH_USAGE = `usage: sa-munit batch <folder> --out <folder> [options]

Translate every image in a folder (PNG, JPEG or WebP; not its subfolders; at most ${MAX_BATCH_ITEMS})
as one batch job: create the job, upload the images, follow its progress and download each
result as it finishes. Interrupted (Ctrl-C, a lost connection), the same command continues the job.

  -o, --out <folder>        where the results go (created if missing): <image name>.<ext> for n = 1,
                            <image name>-<seed>.<ext> for each of n > 1; also holds ${STATE_FILE_NAME}
  --direction <d>           a2b, b2a or <domain>-to-<domain> (default a2b)
  --seed <int>              style seed, 0..${MAX_SEED}, the same for every image; output i uses seed + i
                            (default: the API picks one per image)
  --n <1..${MAX_OUTPUTS}>                number of outputs per image, each with its own seed (default 1)
  --format <${OUTPUT_FORMATS.join('|')}>  output format (default png)
  --quality <1..100>        JPEG/WebP quality (default 90)
  --fit <${FIT_MODES.join('|')}>     crop (cover) or pad (contain) to the model's square (default cover)
  --keep-aspect             with --fit contain: crop the padding off again (the input's aspect ratio)
  --webhook <url>           also have the API POST a signed notice to this http(s) URL when the job completes
  --resume <job id>         continue this job when --out holds no state (the folder maps its items to files)
  --concurrency <1..${MAX_CONCURRENCY}>    uploads and downloads at a time (default ${DEFAULT_CONCURRENCY})
  --no-progress             plain progress lines every few seconds instead of a bar (also when stderr is no terminal)
  -h, --help                this text

${CONNECTION_USAGE}
  (--timeout bounds each request of the run, not the whole run)

Prints the job id, what was uploaded, then a summary: done and failed counts, each failed image
with the API's reason, and the output folder.
Exit codes: 0 every image done and written; 1 some failed, or the API answered with an error;
2 a usage or local file problem (an option, a file that is not an image, a folder that changed
since the job started); 3 the API could not be reached; 130 interrupted (Ctrl-C; run the same
command again to continue).`;

const BATCH_OPTIONS = {
  ...CONNECTION_OPTIONS,
  ...API_PARAM_OPTIONS,
  out: { type: 'string', short: 'o' },
  webhook: { type: 'string' },
  resume: { type: 'string' },
  concurrency: { type: 'string' },
  'no-progress': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface BatchOptions {
  readonly folder: string;
  readonly out: string;
  /**
   * The job's shared parameters, as the create request's JSON carries them (only those given,
   * and the format, which names the result files); also what the Idempotency-Key covers.
   */
  readonly params: BatchParams;
  readonly webhook: string | undefined;
  readonly resume: string | undefined;
  readonly concurrency: number;
  readonly progress: boolean;
  readonly connection: { readonly url?: string | undefined; readonly key?: string | undefined; readonly timeout?: string | undefined };
}

export type BatchCommandLine = { readonly kind: 'help' } | { readonly kind: 'batch'; readonly options: BatchOptions };

export function parseBatchOptions(argv: readonly string[]): BatchCommandLine {
  const { values, positionals } = parseCommandLine(argv, BATCH_OPTIONS);
  if (values.help === true) return { kind: 'help' };
  const [folder, ...extra] = positionals;
  if (folder === undefined) throw new UsageError('<folder>: missing (sa-munit batch <folder> --out <folder>)');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}" (one folder at a time)`);
  if (values.out === undefined || values.out === '') throw new UsageError('-o/--out: missing (the folder the results go to)');

  const { checked } = checkApiParams(values);
  // JSON's own types, as the batch API takes them; defaults are left to the API except the
  // format, which the result files' extension depends on.
  const params: Record<string, string | number | boolean> = { direction: checked.direction, n: checked.n, format: checked.format };
  if (checked.seed !== undefined) params['seed'] = checked.seed;
  if (values.quality !== undefined) params['quality'] = checked.quality;
  if (values.fit !== undefined) params['fit'] = checked.fit;
  if (values['keep-aspect'] === true) params['keep_aspect'] = true;

  const webhook = values.webhook;
  if (webhook !== undefined && !webhookInputSchema.safeParse({ url: webhook }).success) {
    throw new UsageError(`--webhook: must be an http(s) URL, got "${webhook}"`);
  }
  const resume = values.resume;
  if (resume !== undefined && !BATCH_ID_PATTERN.test(resume)) {
    throw new UsageError(`--resume: a job id is 64 hex digits (as sa-munit batch prints it), got "${resume}"`);
  }
  return {
    kind: 'batch',
    options: {
      folder,
      out: values.out,
      params,
      webhook,
      resume,
      concurrency: parseConcurrency(values.concurrency),
      progress: values['no-progress'] !== true,
      connection: { url: values.url, key: values.key, timeout: values.timeout },
    },
  };
}

function parseConcurrency(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CONCURRENCY;
  const value = /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= MAX_CONCURRENCY)) throw new UsageError(`--concurrency: must be an integer from 1 to ${MAX_CONCURRENCY}, got "${text}"`);
  return value;
}
