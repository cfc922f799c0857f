/**
 * A style between two seeds' styles: the same seed → style PRNG the function uses
 * (contract/seed-style.ts, the only copy), both vectors computed here, mixed linearly and sent as
 * an explicit `style=` parameter. At t = 0 the request names exactly seed A's style (float32 values
 * written in full), so its result is the same image as seed A's.
 */
import { styleFromSeed } from '../../../../contract/seed-style.ts';

/** The `style` parameter for (1 − t)·style(seedA) + t·style(seedB), t in [0, 1]. */
export function blendedStyle(seedA: number, seedB: number, t: number, styleDim: number): string {
  const a = styleFromSeed(seedA, styleDim);
  const b = styleFromSeed(seedB, styleDim);
  // Math.fround: each value is a float32, as the model reads it; String() writes it exactly.
  return Array.from(a, (value, i) => String(Math.fround(value + (b[i]! - value) * t))).join(',');
}
