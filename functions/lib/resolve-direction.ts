/**
 * Turns what a user writes for a direction into the manifest's a2b / b2a: either the key itself or
 * "<source name>-to-<target name>" with the manifest's domain names (e.g. "horse-to-zebra").
 */
import { domainName, type Direction, type Manifest } from '../../contract/manifest.ts';

export class UnknownDirectionError extends Error {
  override readonly name = 'UnknownDirectionError';
}

export function directionNames(manifest: Manifest): Record<Direction, string> {
  const a = domainName(manifest, 'a');
  const b = domainName(manifest, 'b');
  return { a2b: `${a}-to-${b}`, b2a: `${b}-to-${a}` };
}

export function resolveDirection(manifest: Manifest, text: string): Direction {
  const names = directionNames(manifest);
  for (const direction of ['a2b', 'b2a'] as const) {
    if (text === direction || text === names[direction]) return direction;
  }
  throw new UnknownDirectionError(
    `unknown direction "${text}" (use a2b, b2a, ${names.a2b} or ${names.b2a})`,
  );
}
