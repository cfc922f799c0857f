/**
 * Where the results go, decided from -o/--out before any request (so a typo in the folder costs no
 * translation) and turned into file names once the answer says which seeds were used:
 *
 *   -o out.png  (a file)       n = 1: out.png; n > 1: out-<seed>.png for each output, beside it
 *   -o results/ (an existing folder, or a path ending in /)
 *                              <image name>-<seed>.<ext> inside it (created if missing);
 *                              with --style-image: <image name>-<style image name>.<ext>
 *
 * The format comes from --format, else from the extension of a file path, else png; a --format
 * that contradicts the extension is refused. Existing files are replaced.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, extname, join, sep } from 'node:path';
import { OUTPUT_FORMATS } from '../../contract/translate-params.ts';
import { UsageError } from './usage-error.ts';

export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

const EXTENSION_FORMATS: Readonly<Record<string, OutputFormat>> = { '.png': 'png', '.webp': 'webp', '.jpg': 'jpeg', '.jpeg': 'jpeg' };
export const FORMAT_EXTENSIONS: Readonly<Record<OutputFormat, string>> = { png: '.png', webp: '.webp', jpeg: '.jpg' };

export type OutputTarget =
  | { readonly kind: 'file'; readonly path: string; readonly format: OutputFormat }
  | { readonly kind: 'folder'; readonly dir: string; readonly format: OutputFormat };

/** Named for the file names a folder target gets. */
export interface OutputNaming {
  readonly imagePath: string;
  readonly styleImagePath: string | undefined;
}

export async function resolveOutputTarget(out: string, requestedFormat: OutputFormat | undefined): Promise<OutputTarget> {
  const existing = await stat(out).catch(() => undefined);
  if (out.endsWith('/') || out.endsWith(sep) || existing?.isDirectory() === true) {
    if (existing !== undefined && !existing.isDirectory()) throw new UsageError(`-o ${out}: exists and is not a folder`);
    return { kind: 'folder', dir: out, format: requestedFormat ?? 'png' };
  }
  const folder = dirname(out);
  const folderStat = await stat(folder).catch(() => undefined);
  if (folderStat?.isDirectory() !== true) throw new UsageError(`-o ${out}: folder ${folder} does not exist`);
  const fromExtension = EXTENSION_FORMATS[extname(out).toLowerCase()];
  if (requestedFormat !== undefined && fromExtension !== undefined && requestedFormat !== fromExtension) {
    throw new UsageError(`--format ${requestedFormat} contradicts the extension of -o ${out}`);
  }
  return { kind: 'file', path: out, format: requestedFormat ?? fromExtension ?? 'png' };
}

/** One path per output, in order. */
export function outputPaths(target: OutputTarget, seeds: readonly (number | undefined)[], naming: OutputNaming): string[] {
  if (target.kind === 'file') {
    if (seeds.length === 1) return [target.path];
    const extension = extname(target.path);
    const known = EXTENSION_FORMATS[extension.toLowerCase()] !== undefined;
    const stem = known ? target.path.slice(0, -extension.length) : target.path;
    const suffix = known ? extension : FORMAT_EXTENSIONS[target.format];
    return seeds.map((seed) => `${stem}-${label(seed, naming)}${suffix}`);
  }
  const stem = withoutExtension(basename(naming.imagePath));
  return seeds.map((seed) => join(target.dir, `${stem}-${label(seed, naming)}${FORMAT_EXTENSIONS[target.format]}`));
}

function label(seed: number | undefined, naming: OutputNaming): string {
  if (seed !== undefined) return String(seed);
  return naming.styleImagePath === undefined ? 'translated' : withoutExtension(basename(naming.styleImagePath));
}

const withoutExtension = (name: string): string => name.slice(0, name.length - extname(name).length) || name;
