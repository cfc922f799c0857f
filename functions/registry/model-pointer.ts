/**
 * The pointer file of a published model: `models/<name>/current.json` in a store names the
 * version being served, the folder `models/<name>/<version>/` beside it. Versions never change once
 * published; rolling forward or back rewrites only this small file, in one PutObject, so a reader
 * sees either the old version or the new one, never a mixture.
 *
 * Written by the publishing command (infra/publish/), read by the registry when MODEL_SOURCE names
 * a model's folder rather than one version. The pointer carries the sha256 of the version's
 * manifest.json as published: a manifest changed after publishing is refused, not served.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import manifestSchema from '../../contract/manifest.schema.json' with { type: 'json' };

export const POINTER_FILE = 'current.json';
/** current.json is a few hundred bytes; anything much larger under that key is not a pointer. */
export const POINTER_MAX_BYTES = 64 * 1024; // 64 KiB

// The manifest's own patterns: a version label is a folder name, so it must never hold "/" or "..".
const MODEL_NAME = new RegExp(manifestSchema.properties.name.pattern);
const VERSION = new RegExp(manifestSchema.properties.version.pattern);

const version = z.string().regex(VERSION, 'must be a manifest version label (letters, digits, . _ + -)');

export const modelPointerSchema = z.object({
  /** Format of this file; a reader refuses a format it does not know. */
  pointer_version: z.literal(1),
  name: z.string().regex(MODEL_NAME, 'must be a manifest model name'),
  version,
  /** sha256 (hex) of `<version>/manifest.json` exactly as published: manifestDigest() of its bytes. */
  manifest_sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex sha256'),
  /** When the pointer was last moved (ISO 8601). */
  updated_at: z.iso.datetime({ offset: true }),
  /** The version it pointed at before, for `rollback` without a version; null for the first. */
  previous_version: version.nullable(),
});

export type ModelPointer = z.infer<typeof modelPointerSchema>;

/** A pointer that is not JSON or does not match the schema; `issues` name the fields. */
export class ModelPointerError extends Error {
  override readonly name = 'ModelPointerError';
  readonly issues: readonly string[];

  constructor(label: string, issues: readonly string[]) {
    super(`${label} is not a valid model pointer: ${issues.join('; ')}`);
    this.issues = issues;
  }
}

/** Parses the text of a current.json; `label` names it in the error (e.g. its s3:// URL). */
export function parseModelPointer(text: string, label: string): ModelPointer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelPointerError(label, [`not JSON: ${(error as Error).message}`]);
  }
  const parsed = modelPointerSchema.safeParse(json);
  if (!parsed.success) {
    throw new ModelPointerError(
      label,
      parsed.error.issues.map((issue) => `${issue.path.length === 0 ? '(root)' : issue.path.join('.')}: ${issue.message}`),
    );
  }
  return parsed.data;
}

/**
 * The pointer's `manifest_sha256`: lower-case hex sha256 of a manifest.json's bytes exactly as
 * stored (no decoding, no re-encoding, no newline or BOM handling). The one definition used by the
 * publisher (of the export's file and of the object read back) and by the registry (of the object
 * it reads), so the two can only disagree when the bytes do.
 */
export function manifestDigest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The text written to current.json: stable key order, one trailing newline. */
export function serializeModelPointer(pointer: ModelPointer): string {
  const checked = modelPointerSchema.parse(pointer);
  return `${JSON.stringify(checked, null, 2)}\n`;
}

/** Key prefix of a version, given the key prefix of its model's folder ("" or ending in "/"). */
export function versionPrefix(modelPrefix: string, versionLabel: string): string {
  if (!VERSION.test(versionLabel)) throw new Error(`not a version label: ${JSON.stringify(versionLabel)}`);
  return `${modelPrefix}${versionLabel}/`;
}

export function isVersionLabel(text: string): boolean {
  return VERSION.test(text);
}

export function isModelName(text: string): boolean {
  return MODEL_NAME.test(text);
}
