/**
 * The model manifest: parse and validate one (schema first, then the rules the schema cannot
 * express), and look graphs and domains up by role.
 *
 * Pure (no file system) so any reader of the contract can import it; reading an export folder and
 * verifying its checksums lives in manifest-dir.ts.
 */
import { schemaIssues } from './manifest-schema-check.ts';
import { ruleIssues } from './manifest-rules.ts';
import {
  ManifestError,
  type Direction,
  type DomainKey,
  type Manifest,
  type StyleEncoderGraph,
  type TranslatorGraph,
} from './manifest-types.ts';

export * from './manifest-types.ts';
export { isDateTime } from './manifest-rules.ts';

/**
 * Validates `json` (an already parsed manifest.json) and returns it as a frozen Manifest.
 * `file` only labels the error messages.
 */
export function parseManifest(json: unknown, file = 'manifest.json'): Manifest {
  const problems = schemaIssues(json);
  if (problems.length > 0) throw new ManifestError(file, problems);
  const manifest = deepFreeze(structuredClone(json)) as Manifest;
  const broken = ruleIssues(manifest);
  if (broken.length > 0) throw new ManifestError(file, broken);
  return manifest;
}

export function translatorGraph(manifest: Manifest, direction: Direction): TranslatorGraph {
  const graph = manifest.graphs.find(
    (g): g is TranslatorGraph => g.role === 'translator' && g.direction === direction,
  );
  // parseManifest guarantees both translators, so a miss means an unparsed object was passed.
  if (graph === undefined) throw new Error(`manifest has no ${direction} translator`);
  return graph;
}

export function styleEncoderGraph(manifest: Manifest, domain: DomainKey): StyleEncoderGraph {
  const graph = manifest.graphs.find(
    (g): g is StyleEncoderGraph => g.role === 'style_encoder' && g.domain === domain,
  );
  if (graph === undefined) throw new Error(`manifest has no style encoder for domain ${domain}`);
  return graph;
}

export function domainName(manifest: Manifest, key: DomainKey): string {
  const domain = manifest.domains.find((d) => d.key === key);
  if (domain === undefined) throw new Error(`manifest has no domain ${key}`);
  return domain.name;
}

/** Whether the graphs accept an image height or width of `side` pixels (manifest size_multiple, min_size). */
export function acceptsImageSide(manifest: Manifest, side: number): boolean {
  return side % manifest.size_multiple === 0 && side >= manifest.min_size;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}
