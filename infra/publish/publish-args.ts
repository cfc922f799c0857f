/**
 * The publishing command's arguments and the environment it reads (this is its config module:
 * nothing else in infra/publish/ reads the environment, and it is handed the environment rather
 * than reading process.env, so a test can run the command in-process). Endpoint and region are
 * checked here, so a bad value is named before any request.
 */
import { parseArgs } from 'node:util';
import { ModelLoadError } from '../../functions/registry/model-load-error.ts';
import { parseModelSource, type S3Location } from '../../functions/registry/model-source.ts';
import type { S3Overrides } from '../../functions/registry/s3-model-store.ts';
import { PublishError } from './publish-error.ts';

export const USAGE = `usage: npm run publish-model -- <command> [arguments] --to s3://bucket/prefix [options]

commands:
  publish <export-dir> [--set-current]
      Upload a model export folder to <prefix>/<name>/<version>/ (name and version from its
      manifest.json; symbolic links are followed), read every object back and compare its sha256,
      then, with --set-current, check the version in the store again and point
      <prefix>/<name>/current.json at it. A version that is published already is compared:
      identical content is a no-op, other content is refused (versions are immutable).
  <export-dir> [--set-current]           the same as publish
  set-current <name> <version>           point current.json at a published version (checked first)
  rollback <name> [<version>]            the same; without <version>, to the pointer's previous_version:
                                         the version it named before its last move. A rollback is a
                                         move too, so a second rollback without <version> goes forward
                                         again to the version the first one left; name older ones.
  current <name>                         print current.json
  list <name> [--json]                   the published versions, the current one marked

options:
  --to s3://bucket/prefix   where the models live, e.g. s3://sa-munit-models/models
  --endpoint URL            S3 endpoint (default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL;
                            Cloudflare R2: https://<account id>.r2.cloudflarestorage.com)
  --region REGION           default: AWS_REGION (R2: auto)
  --path-style              path-style URLs (default: on when an endpoint is set; S3_FORCE_PATH_STYLE)
  --quiet                   no progress lines
  -h, --help                this text

Credentials come from the AWS SDK's standard chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
or ~/.aws). Progress goes to stderr, results to stdout.

exit codes: 0 done; 2 bad arguments or a bad export folder (missing, invalid manifest, a graph
that does not match its checksum or is not among the files to upload, a dangling symbolic link or
a link loop); 3 the store failed (unreachable, refused the credentials, or returned other bytes
than were uploaded: nothing was pointed at them); 4 refused by the rules (the version is
published with other content, someone else published the same version at the same time, the
pointer was moved by someone else meanwhile, the version to point at is missing or broken,
nothing to roll back to); 1 a bug.`;

export type PublishCommand =
  | { readonly kind: 'publish'; readonly dir: string; readonly setCurrent: boolean }
  | { readonly kind: 'set-current'; readonly name: string; readonly version: string }
  | { readonly kind: 'rollback'; readonly name: string; readonly version: string | undefined }
  | { readonly kind: 'current'; readonly name: string }
  | { readonly kind: 'list'; readonly name: string; readonly json: boolean };

export interface PublishInvocation {
  readonly command: PublishCommand;
  readonly root: S3Location;
  readonly s3: S3Overrides;
  readonly quiet: boolean;
}

const SUBCOMMANDS = new Set(['publish', 'set-current', 'rollback', 'current', 'list']);

function usage(message: string): PublishError {
  return new PublishError('input', message);
}

/** 'help' for --help or no arguments at all; throws PublishError('input') naming a bad argument. */
export function parsePublishArgs(argv: readonly string[], env: NodeJS.ProcessEnv): PublishInvocation | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        to: { type: 'string' },
        endpoint: { type: 'string' },
        region: { type: 'string' },
        'path-style': { type: 'boolean' },
        'set-current': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw usage((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true || positionals.length === 0) return 'help';

  const [first = '', ...rest] = positionals;
  const verb = SUBCOMMANDS.has(first) ? first : 'publish';
  const args = SUBCOMMANDS.has(first) ? rest : positionals;
  const command = commandOf(verb, args, values['set-current'] === true, values.json === true);
  if (values['set-current'] === true && command.kind !== 'publish') throw usage('--set-current goes with publish');
  if (values.json === true && command.kind !== 'list') throw usage('--json goes with list');

  if (values.to === undefined) throw usage('--to s3://bucket/prefix is required (where the models live)');
  let root: S3Location;
  try {
    const location = parseModelSource(values.to);
    if (location.kind !== 's3') throw usage(`--to must be an s3:// URL, got "${values.to}"`);
    root = location;
  } catch (error) {
    if (error instanceof ModelLoadError) throw usage(`--to: ${error.reason}`);
    throw error;
  }
  return { command, root, s3: storeSettings(values, env), quiet: values.quiet === true };
}

function commandOf(verb: string, args: readonly string[], setCurrent: boolean, json: boolean): PublishCommand {
  const arity = (min: number, max: number, shape: string) => {
    if (args.length < min || args.length > max) throw usage(`${verb} takes ${shape}, got ${args.length === 0 ? 'nothing' : args.join(' ')}`);
  };
  switch (verb) {
    case 'publish':
      arity(1, 1, 'one export folder');
      return { kind: 'publish', dir: args[0] ?? '', setCurrent };
    case 'set-current':
      arity(2, 2, '<name> <version>');
      return { kind: 'set-current', name: args[0] ?? '', version: args[1] ?? '' };
    case 'rollback':
      arity(1, 2, '<name> [<version>]');
      return { kind: 'rollback', name: args[0] ?? '', version: args[1] };
    case 'current':
      arity(1, 1, '<name>');
      return { kind: 'current', name: args[0] ?? '' };
    default:
      arity(1, 1, '<name>');
      return { kind: 'list', name: args[0] ?? '', json };
  }
}

function storeSettings(
  values: { endpoint?: string | undefined; region?: string | undefined; 'path-style'?: boolean | undefined },
  env: NodeJS.ProcessEnv,
): S3Overrides {
  const nonEmpty = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);
  const endpoint = nonEmpty(values.endpoint) ?? nonEmpty(env['AWS_ENDPOINT_URL_S3']) ?? nonEmpty(env['AWS_ENDPOINT_URL']);
  if (endpoint !== undefined && !URL.canParse(endpoint)) throw usage(`the S3 endpoint "${endpoint}" is not a URL (--endpoint or AWS_ENDPOINT_URL_S3)`);
  const region = nonEmpty(values.region) ?? nonEmpty(env['AWS_REGION']) ?? nonEmpty(env['AWS_DEFAULT_REGION']);
  if (region === undefined) throw usage('no region: pass --region or set AWS_REGION (Cloudflare R2: auto)');
  const pathStyleEnv = nonEmpty(env['S3_FORCE_PATH_STYLE']);
  if (pathStyleEnv !== undefined && !['true', 'false', '1', '0'].includes(pathStyleEnv)) {
    throw usage(`S3_FORCE_PATH_STYLE must be true or false, got "${pathStyleEnv}"`);
  }
  const forcePathStyle = values['path-style'] ?? (pathStyleEnv === undefined ? endpoint !== undefined : pathStyleEnv === 'true' || pathStyleEnv === '1');
  // Keys in the given environment win, as in the SDK's own chain; without them the chain decides
  // (~/.aws profiles, SSO, instance roles).
  const accessKeyId = nonEmpty(env['AWS_ACCESS_KEY_ID']);
  const secretAccessKey = nonEmpty(env['AWS_SECRET_ACCESS_KEY']);
  const sessionToken = nonEmpty(env['AWS_SESSION_TOKEN']);
  const credentials =
    accessKeyId === undefined || secretAccessKey === undefined
      ? undefined
      : { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) };
  return { ...(endpoint === undefined ? {} : { endpoint }), region, forcePathStyle, ...(credentials === undefined ? {} : { credentials }) };
}
