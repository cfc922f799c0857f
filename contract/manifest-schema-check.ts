/**
 * JSON Schema validation of a manifest (ajv, draft 2020-12), turned into one line per problem
 * that names the field path: "manifest.graphs[2].sha256: must match pattern ...".
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import schema from './manifest.schema.json' with { type: 'json' };
import type { GraphEntry } from './manifest-types.ts';

// Formats are checked by isDateTime in manifest-rules.ts, not by ajv-formats: one format is not
// worth a dependency. allErrors so that one message can list every problem at once.
const ajv = new Ajv2020({ allErrors: true, validateFormats: false, verbose: true });
const validateManifestSchema = ajv.compile(schema);
const graphValidators: Readonly<Record<GraphEntry['role'], ValidateFunction>> = {
  translator: subschema('translatorGraph'),
  style_encoder: subschema('styleEncoderGraph'),
};

function subschema(name: string): ValidateFunction {
  const validate = ajv.getSchema(`${schema.$id}#/$defs/${name}`);
  if (validate === undefined) throw new Error(`manifest.schema.json has no $defs/${name}`);
  return validate;
}

/** Every way `json` breaks the schema; empty when it conforms. */
export function schemaIssues(json: unknown): string[] {
  if (validateManifestSchema(json)) return [];
  const errors = validateManifestSchema.errors ?? [];
  // A graph entry is oneOf(translator, style encoder): ajv reports the failures of both branches,
  // which reads as nonsense. Validate each failing entry again against the branch its role names.
  const failingGraphs = new Set<number>();
  const issues: string[] = [];
  for (const error of errors) {
    const graphIndex = /^\/graphs\/(\d+)(\/|$)/.exec(error.instancePath)?.[1];
    if (graphIndex !== undefined) failingGraphs.add(Number(graphIndex));
    else issues.push(...formatErrors([error], errors, 'manifest'));
  }
  for (const index of [...failingGraphs].sort((x, y) => x - y)) {
    // An error under /graphs/<i> means json.graphs is an array that holds item i.
    const entry = (json as { graphs: unknown[] }).graphs[index];
    issues.push(...graphIssues(entry, `manifest.graphs[${index}]`));
  }
  return [...new Set(issues)];
}

function graphIssues(entry: unknown, path: string): string[] {
  const role = isRecord(entry) ? entry['role'] : undefined;
  if (role !== 'translator' && role !== 'style_encoder') {
    return [`${path}.role: must be "translator" or "style_encoder"`];
  }
  const validate = graphValidators[role];
  if (validate(entry)) return [];
  const errors = validate.errors ?? [];
  return formatErrors(errors, errors, path);
}

/** One line per error; a oneOf's branch errors at the same place collapse into the oneOf's. */
function formatErrors(
  selected: readonly ErrorObject[],
  all: readonly ErrorObject[],
  root: string,
): string[] {
  const oneOfPaths = new Set(all.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  return selected
    .filter((e) => e.keyword === 'oneOf' || !oneOfPaths.has(e.instancePath))
    .map((e) => formatError(e, root));
}

function formatError(error: ErrorObject, root: string): string {
  const path = root + jsonPointerToPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `${path}.${String(params['missingProperty'])}: is required`;
    case 'additionalProperties':
      return `${path}.${String(params['additionalProperty'])}: is not allowed`;
    case 'unevaluatedProperties':
      return `${path}.${String(params['unevaluatedProperty'])}: is not allowed`;
    case 'enum':
      return `${path}: must be one of ${JSON.stringify(params['allowedValues'])}`;
    case 'const':
      return `${path}: must be ${JSON.stringify(params['allowedValue'])}`;
    case 'oneOf': {
      const description = (error.parentSchema as { description?: unknown } | undefined)?.description;
      return typeof description === 'string'
        ? `${path}: must be ${lowerFirst(description.replace(/\.$/, ''))}`
        : `${path}: ${error.message ?? 'is invalid'}`;
    }
    default:
      return `${path}: ${error.message ?? 'is invalid'}`;
  }
}

/** "/graphs/2/sha256" → ".graphs[2].sha256" */
function jsonPointerToPath(pointer: string): string {
  if (pointer === '') return '';
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => raw.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`))
    .join('');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
