/**
 * Seed → style: the one PRNG that turns an integer seed into a standard-normal style vector.
 *
 * It is part of the serving contract: the same seed must give the same style (and so the same
 * image) in every process, language and release, which is what makes results cacheable. Change it
 * only together with the manifest's schema_version. model-export mirrors it in Python for tests.
 *
 * Algorithm (all integer arithmetic on unsigned 64-bit values, i.e. mod 2^64):
 *
 * 1. A seed is an integer with 0 ≤ seed ≤ 2^53 − 1 (Number.MAX_SAFE_INTEGER); anything else is
 *    rejected, never coerced, so no two spellings of a seed can collide.
 * 2. SplitMix64 with state = seed:
 *      next(): state = (state + 0x9E3779B97F4A7C15) mod 2^64
 *              z = state
 *              z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) mod 2^64
 *              z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) mod 2^64
 *              return z ^ (z >> 31)
 * 3. Uniform: u = (Number(next() >> 11) + 0.5) / 2^53, computed in float64. Not exact: above
 *    2^52 the "+ 0.5" rounds (to even), and the top value 2^53 − 1 + 0.5 rounds to 2^53, so u lies
 *    in (0, 1], not (0, 1). Both languages round the same way (IEEE 754), so they still agree;
 *    u is never 0, so ln(u) is finite, and u = 1 only makes r = 0.
 * 4. Standard normals by Box–Muller over consecutive pairs (u1, u2), in float64:
 *      r = sqrt(−2 ln u1), θ = 2π u2; emit r·cos θ, then r·sin θ.
 *    The first `count` values are kept; for an odd count the last pair's sine is dropped.
 * 5. A style vector is the first style_dim normals, rounded to float32 (Float32Array).
 *
 * Several outputs from one request: output i (0-based) of n uses seed (base + i) mod 2^53, so
 * seeds base, base+1, …, base+n−1, wrapping past 2^53 − 1 to 0. Output i of a request with base s
 * is therefore the same image as output 0 of a request with base s + i.
 *
 * The Python mirror can match bit for bit up to libm: V8's Math.log/cos/sin and CPython's math
 * module may differ in the last float64 bit, which float32 rounding hides almost always; compare
 * with a tolerance of ~1e-6, not exact equality.
 */

/** Largest accepted seed: 2^53 − 1. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/**
 * Seeds chosen at random (by the function or the edge when a request names none) are drawn from
 * [0, RANDOM_SEED_LIMIT): below 2^48, so base + n - 1 stays far from MAX_SEED, and the largest
 * range node:crypto's randomInt accepts.
 */
export const RANDOM_SEED_LIMIT = 2 ** 48 - 1;

/**
 * A uniform seed in [0, RANDOM_SEED_LIMIT) for a request that named none, chosen by the edge so the
 * request's content address (and so its cache entry) is fixed before any function runs.
 */
export function edgeChosenSeed(): number {
  for (;;) {
    const [high, low] = crypto.getRandomValues(new Uint32Array(2));
    const seed = (high! % 2 ** 16) * 2 ** 32 + low!; // 48 random bits
    if (seed < RANDOM_SEED_LIMIT) return seed;
  }
}

const SEED_MODULUS = 2n ** 53n;
const UINT64_MASK = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;
const MIX_1 = 0xbf58476d1ce4e5b9n;
const MIX_2 = 0x94d049bb133111ebn;
const TWO_POW_53 = 2 ** 53;

/** Throws a RangeError unless `seed` is an integer in [0, 2^53 − 1]. */
export function assertSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`seed must be an integer from 0 to ${MAX_SEED}, got ${String(seed)}`);
  }
}

/**
 * Parses a seed written in decimal digits only: no sign, exponent, fraction or whitespace, so
 * "7", "7.0" and "7e0" cannot name the same result under different cache keys.
 */
export function parseSeed(text: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) {
    throw new RangeError(`seed must be an integer from 0 to ${MAX_SEED}, got "${text}"`);
  }
  const seed = Number(text);
  assertSeed(seed);
  return seed;
}

/** A SplitMix64 generator started at `seed`; each call returns the next uint64. */
export function splitMix64(seed: number): () => bigint {
  assertSeed(seed);
  let state = BigInt(seed);
  return () => {
    state = (state + GOLDEN_GAMMA) & UINT64_MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * MIX_1) & UINT64_MASK;
    z = ((z ^ (z >> 27n)) * MIX_2) & UINT64_MASK;
    return z ^ (z >> 31n);
  };
}

/** Uniform in (0, 1] from one uint64: its top 53 bits plus a half, over 2^53 (see step 3). */
export function uniformFromUint64(bits: bigint): number {
  return (Number(bits >> 11n) + 0.5) / TWO_POW_53;
}

/** The first `count` standard normals of `seed`'s stream (float64, before any rounding). */
export function standardNormals(seed: number, count: number): Float64Array {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`count must be a non-negative integer, got ${String(count)}`);
  }
  const next = splitMix64(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniformFromUint64(next())));
    const theta = 2 * Math.PI * uniformFromUint64(next());
    out[i] = r * Math.cos(theta);
    if (i + 1 < count) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

/** The style vector for `seed`: `styleDim` standard normals rounded to float32. */
export function styleFromSeed(seed: number, styleDim: number): Float32Array {
  if (!Number.isSafeInteger(styleDim) || styleDim < 1) {
    throw new RangeError(`style_dim must be a positive integer, got ${String(styleDim)}`);
  }
  return Float32Array.from(standardNormals(seed, styleDim));
}

/** Seeds for `n` outputs from one base seed: base, base+1, …, base+n−1, each mod 2^53. */
export function deriveSeeds(base: number, n: number): number[] {
  assertSeed(base);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`n must be a non-negative integer, got ${String(n)}`);
  }
  // BigInt because base + i can pass 2^53, where float64 addition is no longer exact.
  const start = BigInt(base);
  return Array.from({ length: n }, (_, i) => Number((start + BigInt(i)) % SEED_MODULUS));
}

/** Style vectors for `seeds`, concatenated row-major into one [seeds.length, styleDim] array. */
export function stylesFromSeeds(seeds: readonly number[], styleDim: number): Float32Array {
  const out = new Float32Array(seeds.length * styleDim);
  seeds.forEach((seed, i) => out.set(styleFromSeed(seed, styleDim), i * styleDim));
  return out;
}
