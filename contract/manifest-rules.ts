/**
 * What the schema cannot express: both domains and all four graphs present and paired, tensor
 * signatures as the serving contract fixes them, sizes that fit together, a real date-time.
 * Runs only on a manifest that already passed the schema.
 */
import { TENSOR_NAMES, type Dim, type DomainKey, type GraphEntry, type Manifest } from './manifest-types.ts';

/** Every rule `m` breaks, one line each naming the field; empty when it keeps them all. */
export function ruleIssues(m: Manifest): string[] {
  const issues: string[] = [];

  if (!isDateTime(m.created_at)) {
    issues.push(`manifest.created_at: must be an RFC 3339 date-time, got ${JSON.stringify(m.created_at)}`);
  }

  const keys = m.domains.map((d) => d.key);
  if (!keys.includes('a') || !keys.includes('b')) {
    issues.push(`manifest.domains: must hold key "a" and key "b", got ${JSON.stringify(keys)}`);
  } else if (m.domains[0]?.name === m.domains[1]?.name) {
    issues.push(`manifest.domains: names must differ, both are ${JSON.stringify(m.domains[0]?.name)}`);
  }

  if (m.image_size % m.size_multiple !== 0 || m.image_size < m.min_size) {
    issues.push(
      `manifest.image_size: must be a multiple of size_multiple (${m.size_multiple}) and >= min_size (${m.min_size}), got ${m.image_size}`,
    );
  }
  m.normalization.std.forEach((std, i) => {
    if (!(std > 0)) issues.push(`manifest.normalization.std[${i}]: must be > 0, got ${std}`);
  });

  issues.push(...graphSetIssues(m));
  m.graphs.forEach((graph, i) => issues.push(...signatureIssues(graph, `manifest.graphs[${i}]`, m.style_dim)));
  return issues;
}

function graphSetIssues(m: Manifest): string[] {
  const issues: string[] = [];
  const seenFiles = new Map<string, number>();
  m.graphs.forEach((graph, i) => {
    const first = seenFiles.get(graph.file);
    if (first !== undefined) {
      issues.push(`manifest.graphs[${i}].file: "${graph.file}" is also used by manifest.graphs[${first}]`);
    } else {
      seenFiles.set(graph.file, i);
    }
    if (graph.role === 'translator') {
      const [source, target]: [DomainKey, DomainKey] = graph.direction === 'a2b' ? ['a', 'b'] : ['b', 'a'];
      if (graph.source !== source || graph.target !== target) {
        issues.push(
          `manifest.graphs[${i}]: translator ${graph.direction} must have source "${source}" and target "${target}", got "${graph.source}" and "${graph.target}"`,
        );
      }
    }
  });
  for (const direction of ['a2b', 'b2a'] as const) {
    const count = m.graphs.filter((g) => g.role === 'translator' && g.direction === direction).length;
    if (count !== 1) issues.push(`manifest.graphs: must hold exactly one ${direction} translator, found ${count}`);
  }
  for (const domain of ['a', 'b'] as const) {
    const count = m.graphs.filter((g) => g.role === 'style_encoder' && g.domain === domain).length;
    if (count !== 1) issues.push(`manifest.graphs: must hold exactly one style encoder for domain ${domain}, found ${count}`);
  }
  return issues;
}

const IMAGE_SHAPE: readonly Dim[] = ['N', 3, 'H', 'W'];

function signatureIssues(graph: GraphEntry, path: string, styleDim: number): string[] {
  const names = TENSOR_NAMES;
  const styleShape: readonly Dim[] = ['N', styleDim];
  const expected =
    graph.role === 'translator'
      ? {
          inputs: [
            { name: names.translator.image, shape: IMAGE_SHAPE },
            { name: names.translator.style, shape: styleShape },
          ],
          outputs: [{ name: names.translator.output, shape: IMAGE_SHAPE }],
        }
      : {
          inputs: [{ name: names.styleEncoder.image, shape: IMAGE_SHAPE }],
          outputs: [{ name: names.styleEncoder.output, shape: styleShape }],
        };
  const issues: string[] = [];
  for (const side of ['inputs', 'outputs'] as const) {
    const actual = graph[side];
    const wanted = expected[side];
    if (actual.length !== wanted.length) {
      issues.push(`${path}.${side}: must be ${wanted.length} tensor(s) named ${wanted.map((w) => `"${w.name}"`).join(', ')}, got ${actual.length}`);
      continue;
    }
    wanted.forEach((w, j) => {
      const tensor = actual[j];
      if (tensor === undefined) return;
      if (tensor.name !== w.name) {
        issues.push(`${path}.${side}[${j}].name: must be "${w.name}", got "${tensor.name}"`);
      }
      if (!sameShape(tensor.shape, w.shape)) {
        issues.push(`${path}.${side}[${j}].shape: must be ${JSON.stringify(w.shape)}, got ${JSON.stringify(tensor.shape)}`);
      }
    });
  }
  return issues;
}

function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** RFC 3339 date-time (the JSON Schema "date-time" format), including calendar validity. */
export function isDateTime(text: string): boolean {
  if (!DATE_TIME.test(text)) return false;
  const [year, month, day, hour, minute, second] = text.split(/[-Tt :.Zz+]/).map(Number) as number[];
  if (year === undefined || month === undefined || day === undefined) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return (
    month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth &&
    (hour ?? 99) <= 23 && (minute ?? 99) <= 59 && (second ?? 99) <= 60
  );
}
