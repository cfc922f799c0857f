/** The two result layers in workerd: the Cache API in front of R2, refilled from R2 on a cache miss. */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ResultBucket } from '../src/bindings.ts';
import { defaultCache } from '../src/bindings.ts';
import { ResultStore, type StoredResult } from '../src/cache/result-store.ts';

const address = (digit: string) => digit.repeat(64);
const result: StoredResult = {
  bytes: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 9, 9]).buffer,
  contentType: 'image/png',
  seed: '12',
  modelName: 'sa-munit',
  modelVersion: '1.0.0',
};

function store(origin: string): ResultStore {
  return new ResultStore({ bucket: env.RESULTS as unknown as ResultBucket, cache: defaultCache(), origin, background: undefined });
}

describe('ResultStore', () => {
  it('serves from the Cache API after a put, and from R2 where the cache is cold, refilling it', async () => {
    expect(defaultCache()).toBeDefined();
    await store('https://a.test').put(address('a'), result);
    await new Promise((wake) => setTimeout(wake, 50)); // the cache write is fire-and-forget without an ExecutionContext
    const warm = await store('https://a.test').get(address('a'));
    expect(warm?.layer).toBe('cache');
    expect(new Uint8Array(warm!.result.bytes)).toEqual(new Uint8Array(result.bytes));
    expect(warm!.result).toMatchObject({ seed: '12', modelName: 'sa-munit', modelVersion: '1.0.0', contentType: 'image/png' });

    // Another hostname is another cache key space (another data centre, in effect): R2 answers.
    const cold = await store('https://b.test').get(address('a'));
    expect(cold?.layer).toBe('r2');
    expect(cold!.result).toMatchObject({ seed: '12', modelVersion: '1.0.0' });
    await new Promise((wake) => setTimeout(wake, 50));
    expect((await store('https://b.test').get(address('a')))?.layer).toBe('cache');
  });

  it('finds nothing for unknown or malformed addresses', async () => {
    expect(await store('https://a.test').get(address('b'))).toBeUndefined();
    expect(await store('https://a.test').get('../etc/passwd')).toBeUndefined();
  });
});
