/**
 * Where a model version comes from: `s3://bucket/prefix` (any S3-protocol store) or a local
 * export folder (the embedded default). Parsed once so every later step works on a checked,
 * normalised location and messages name it the same way.
 */
import { resolve } from 'node:path';
import { ModelLoadError } from './model-load-error.ts';

export interface S3Location {
  readonly kind: 's3';
  readonly bucket: string;
  /** Key prefix of the export: empty, or ending in "/" so `prefix + file` is the object key. */
  readonly prefix: string;
  /** Canonical form, `s3://bucket/prefix/`: the cache key of the source and its name in messages. */
  readonly label: string;
}

export interface FolderLocation {
  readonly kind: 'folder';
  /** Absolute path of the export folder. */
  readonly dir: string;
  readonly label: string;
}

export type ModelLocation = S3Location | FolderLocation;

const S3_SCHEME = 's3://';
// Lenient on purpose: legacy AWS buckets and other stores allow upper case and underscores; the
// store itself rejects names it does not know, this only catches what cannot be a bucket at all.
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;
const OTHER_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
const EXPECTED = 'expected s3://bucket/prefix or a folder path';

/** Throws ModelLoadError (reason names the text and what is wrong) for anything unusable. */
export function parseModelSource(text: string): ModelLocation {
  if (text.trim() === '') throw invalid(text, 'it is empty');
  if (text.startsWith(S3_SCHEME)) return parseS3(text);
  const scheme = OTHER_SCHEME.exec(text);
  if (scheme !== null) throw invalid(text, `scheme "${scheme[1]}://" is not supported`);
  const dir = resolve(text);
  return { kind: 'folder', dir, label: dir };
}

function parseS3(text: string): S3Location {
  const rest = text.slice(S3_SCHEME.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash + 1);
  if (bucket === '') throw invalid(text, 'no bucket name');
  if (!BUCKET_NAME.test(bucket)) throw invalid(text, `"${bucket}" is not a bucket name`);
  if (path.startsWith('/') || path.includes('//')) throw invalid(text, 'the prefix has an empty path segment');
  if (/\s/.test(path)) throw invalid(text, 'the prefix contains white space');
  const prefix = path === '' || path.endsWith('/') ? path : `${path}/`;
  return { kind: 's3', bucket, prefix, label: `${S3_SCHEME}${bucket}/${prefix}` };
}

function invalid(text: string, problem: string): ModelLoadError {
  return new ModelLoadError(`invalid model source ${JSON.stringify(text)}: ${problem} (${EXPECTED})`);
}
