import { describe, expect, it } from 'vitest';
import {
  MAX_SEED,
  deriveSeeds,
  parseSeed,
  splitMix64,
  standardNormals,
  styleFromSeed,
  stylesFromSeeds,
  uniformFromUint64,
} from '../contract/seed-style.ts';

// Golden vectors: computed once with this implementation and confirmed, value for value, by the
// Python mirror (model-export/sa_munit/seed_style.py). A change here breaks every cached result.
const GOLDEN: [seed: number, dim: number, values: number[]][] = [
  [0, 8, [-0.45275774598121643, 0.20776604115962982, 2.6506059169769287, -0.4904228150844574,
    -0.9886041283607483, 1.8721014261245728, 0.2524627149105072, -1.853424310684204]],
  [7, 5, [1.3649922609329224, 0.14452122151851654, -0.39652398228645325, -0.22759631276130676,
    0.0044985259883105755]],
  [123456789, 4, [-1.9881494045257568, 0.2665560245513916, -1.8035035133361816, -0.2277131825685501]],
  [MAX_SEED, 3, [0.7198044061660767, 1.8344979286193848, -0.03981032967567444]],
];

/**
 * SplitMix64 written independently of the module: BigInt.asUintN for the mod-2^64 wrap instead of
 * masks, a class instead of a closure.
 */
class ReferenceSplitMix64 {
  #state: bigint;
  constructor(seed: bigint) {
    this.#state = seed;
  }
  next(): bigint {
    this.#state = BigInt.asUintN(64, this.#state + 0x9e3779b97f4a7c15n);
    let z = this.#state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    return z ^ (z >> 31n);
  }
}

describe('splitMix64', () => {
  it('matches the published SplitMix64 outputs for seed 0', () => {
    // The first outputs of Vigna's reference splitmix64.c started at x = 0.
    const next = splitMix64(0);
    expect([next(), next(), next()]).toEqual([0xe220a8397b1dcdafn, 0x6e789e6aa1b965f4n, 0x06c45d188009454fn]);
  });

  it.each([0, 1, 7, 2 ** 32, 2 ** 52 + 3, MAX_SEED])('matches an independent implementation for seed %d', (seed) => {
    const next = splitMix64(seed);
    const reference = new ReferenceSplitMix64(BigInt(seed));
    for (let i = 0; i < 50; i++) expect(next()).toBe(reference.next());
  });
});

describe('uniformFromUint64', () => {
  it('is never 0, and reaches exactly 1 only at the very top (float64 rounding)', () => {
    expect(uniformFromUint64(0n)).toBe(0.5 / 2 ** 53);
    // (2^53 − 1) + 0.5 is not a float64; it rounds to 2^53, so u = 1 and r = sqrt(−2 ln 1) = 0.
    expect(uniformFromUint64((1n << 64n) - 1n)).toBe(1);
    expect(uniformFromUint64((1n << 64n) - (1n << 12n))).toBeLessThan(1);
  });
});

describe('styleFromSeed', () => {
  it.each(GOLDEN)('gives the golden vector for seed %d (style_dim %d)', (seed, dim, values) => {
    expect(Array.from(styleFromSeed(seed, dim))).toEqual(values);
  });

  it('agrees with Box–Muller worked by hand from the published seed-0 outputs', () => {
    const u1 = (Number(0xe220a8397b1dcdafn >> 11n) + 0.5) / 2 ** 53;
    const u2 = (Number(0x6e789e6aa1b965f4n >> 11n) + 0.5) / 2 ** 53;
    // u1 ≈ 0.88332, so r = sqrt(−2 ln u1) ≈ 0.4981; u2 ≈ 0.43153, so θ ≈ 2.7114 rad (second quadrant)
    expect(u1).toBeCloseTo(0.883311, 5);
    expect(u2).toBeCloseTo(0.431529, 5);
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    const [first, second] = styleFromSeed(0, 2);
    expect(first).toBe(Math.fround(r * Math.cos(theta)));
    expect(second).toBe(Math.fround(r * Math.sin(theta)));
    expect(first).toBeLessThan(0); // cos of a second-quadrant angle
    expect(second).toBeGreaterThan(0);
  });

  it('is deterministic and returns a Float32Array of style_dim values', () => {
    const a = styleFromSeed(42, 8);
    expect(a).toBeInstanceOf(Float32Array);
    expect(a).toHaveLength(8);
    expect(styleFromSeed(42, 8)).toEqual(a);
    expect(styleFromSeed(43, 8)).not.toEqual(a);
  });

  it('drops the last sine for an odd style_dim, so shorter vectors are prefixes', () => {
    const four = styleFromSeed(9, 4);
    expect(styleFromSeed(9, 3)).toEqual(four.subarray(0, 3));
    expect(styleFromSeed(9, 1)).toEqual(four.subarray(0, 1));
  });

  it.each([-1, 1.5, MAX_SEED + 1, Number.NaN, Number.POSITIVE_INFINITY])('rejects seed %s', (seed) => {
    expect(() => styleFromSeed(seed, 8)).toThrow(RangeError);
    expect(() => styleFromSeed(seed, 8)).toThrow(/seed must be an integer from 0 to 9007199254740991/);
  });

  it.each([0, -2, 2.5])('rejects style_dim %s', (dim) => {
    expect(() => styleFromSeed(1, dim)).toThrow(/style_dim must be a positive integer/);
  });

  it('looks standard normal over many seeds (mean ≈ 0, std ≈ 1, no NaN)', () => {
    const values = stylesFromSeeds(deriveSeeds(1000, 4000), 8); // 32,000 values, 8 per seed
    const stats = moments(values);
    // Standard error of the mean is 1/sqrt(32000) ≈ 0.0056: 0.03 is over 5 sigma.
    expect(Math.abs(stats.mean)).toBeLessThan(0.03);
    expect(Math.abs(stats.std - 1)).toBeLessThan(0.03);
    expect(values.every(Number.isFinite)).toBe(true);
    // Each position of the vector on its own, across seeds, is standard normal too.
    for (let position = 0; position < 8; position++) {
      const column = values.filter((_, i) => i % 8 === position);
      const columnStats = moments(column);
      expect(Math.abs(columnStats.mean)).toBeLessThan(0.08);
      expect(Math.abs(columnStats.std - 1)).toBeLessThan(0.08);
    }
  });

  it('has roughly normal tails within one long stream', () => {
    const values = standardNormals(5, 100_000);
    const beyond2 = values.filter((v) => Math.abs(v) > 2).length / values.length;
    expect(beyond2).toBeGreaterThan(0.04); // P(|Z| > 2) ≈ 0.0455
    expect(beyond2).toBeLessThan(0.051);
  });
});

describe('deriveSeeds', () => {
  it('gives base, base+1, … base+n−1', () => {
    expect(deriveSeeds(7, 4)).toEqual([7, 8, 9, 10]);
    expect(deriveSeeds(7, 0)).toEqual([]);
  });

  it('wraps past 2^53 − 1 to 0, exactly', () => {
    expect(deriveSeeds(MAX_SEED - 1, 4)).toEqual([MAX_SEED - 1, MAX_SEED, 0, 1]);
  });

  it('rejects a bad base or count', () => {
    expect(() => deriveSeeds(-1, 2)).toThrow(RangeError);
    expect(() => deriveSeeds(1, -1)).toThrow(/n must be a non-negative integer/);
  });

  it('makes output i of base s the same style as output 0 of base s+i', () => {
    const [, , third] = deriveSeeds(100, 3);
    expect(styleFromSeed(third ?? -1, 8)).toEqual(styleFromSeed(102, 8));
  });
});

describe('parseSeed', () => {
  it.each([['0', 0], ['7', 7], [String(MAX_SEED), MAX_SEED]])('parses %s', (text, seed) => {
    expect(parseSeed(text)).toBe(seed);
  });

  it.each(['', '-1', '+1', '1.0', '1e3', ' 1', '01', '0x10', String(MAX_SEED + 1), '99999999999999999', 'abc'])(
    'rejects "%s"',
    (text) => {
      expect(() => parseSeed(text)).toThrow(/seed must be an integer from 0 to/);
    },
  );
});

function moments(values: ArrayLike<number>): { mean: number; std: number } {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] ?? 0;
  const mean = sum / values.length;
  let squares = 0;
  for (let i = 0; i < values.length; i++) squares += ((values[i] ?? 0) - mean) ** 2;
  return { mean, std: Math.sqrt(squares / values.length) };
}
