/**
 * Results by content address: the Cache API of the data centre in front of R2, the durable store.
 * A result never changes once stored (its address covers every input), so both layers hold it as
 * immutable; a Cache API miss that R2 answers is put back into the cache for the next reader.
 */
import { CONTENT_ADDRESS_PATTERN } from '../../../contract/content-address.ts';
import { MODEL_NAME_HEADER, MODEL_VERSION_HEADER, SEED_HEADER } from '../../../contract/headers.ts';
import type { BackgroundWork, EdgeCache, ResultBucket } from '../bindings.ts';

export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';

export interface StoredResult {
  readonly bytes: ArrayBuffer;
  readonly contentType: string;
  readonly seed: string | undefined;
  readonly modelName: string;
  readonly modelVersion: string;
}

export interface Lookup {
  readonly result: StoredResult;
  readonly layer: 'cache' | 'r2';
}

const objectKey = (address: string): string => `results/${address}`;

/** The Cache API key: a GET of the public result URL, so the cache entry is the embeddable resource. */
function cacheKey(origin: string, address: string): Request {
  return new Request(`${origin}/v1/results/${address}`, { method: 'GET' });
}

function toCachedResponse(result: StoredResult): Response {
  const headers = new Headers({ 'content-type': result.contentType, 'cache-control': IMMUTABLE_CACHE_CONTROL });
  headers.set(MODEL_NAME_HEADER, result.modelName);
  headers.set(MODEL_VERSION_HEADER, result.modelVersion);
  if (result.seed !== undefined) headers.set(SEED_HEADER, result.seed);
  return new Response(result.bytes, { headers });
}

async function fromCachedResponse(response: Response): Promise<StoredResult | undefined> {
  const modelName = response.headers.get(MODEL_NAME_HEADER);
  const modelVersion = response.headers.get(MODEL_VERSION_HEADER);
  if (modelName === null || modelVersion === null) return undefined;
  return {
    bytes: await response.arrayBuffer(),
    contentType: response.headers.get('content-type') ?? 'application/octet-stream',
    seed: response.headers.get(SEED_HEADER) ?? undefined,
    modelName,
    modelVersion,
  };
}

export class ResultStore {
  readonly #bucket: ResultBucket;
  readonly #cache: EdgeCache | undefined;
  readonly #origin: string;
  readonly #background: BackgroundWork | undefined;

  /** `origin` scopes the Cache API keys; `background` lets cache writes finish after the response. */
  constructor(options: { bucket: ResultBucket; cache: EdgeCache | undefined; origin: string; background: BackgroundWork | undefined }) {
    this.#bucket = options.bucket;
    this.#cache = options.cache;
    this.#origin = options.origin;
    this.#background = options.background;
  }

  async get(address: string): Promise<Lookup | undefined> {
    if (!CONTENT_ADDRESS_PATTERN.test(address)) return undefined;
    const cached = await this.#cache?.match(cacheKey(this.#origin, address));
    if (cached !== undefined) {
      const result = await fromCachedResponse(cached);
      if (result !== undefined) return { result, layer: 'cache' };
    }
    const object = await this.#bucket.get(objectKey(address));
    if (object === null) return undefined;
    const meta = object.customMetadata ?? {};
    const result: StoredResult = {
      bytes: await object.arrayBuffer(),
      contentType: object.httpMetadata?.contentType ?? 'application/octet-stream',
      seed: meta['seed'],
      modelName: meta['model_name'] ?? 'unknown',
      modelVersion: meta['model_version'] ?? 'unknown',
    };
    this.#putInCache(address, result);
    return { result, layer: 'r2' };
  }

  /** Whether R2 holds the address (metadata only: nothing is read or cached). */
  async has(address: string): Promise<boolean> {
    return CONTENT_ADDRESS_PATTERN.test(address) && (await this.#bucket.head(objectKey(address))) !== null;
  }

  /** R2 first and awaited (the durable copy exists before the client hears of the address), then the cache. */
  async put(address: string, result: StoredResult): Promise<void> {
    await this.#bucket.put(objectKey(address), result.bytes, {
      httpMetadata: { contentType: result.contentType },
      customMetadata: {
        model_name: result.modelName,
        model_version: result.modelVersion,
        ...(result.seed === undefined ? {} : { seed: result.seed }),
      },
    });
    this.#putInCache(address, result);
  }

  #putInCache(address: string, result: StoredResult): void {
    if (this.#cache === undefined) return;
    const write = this.#cache.put(cacheKey(this.#origin, address), toCachedResponse(result)).catch(() => {
      // The cache is an optimisation in front of R2: a failed write costs one R2 read later.
    });
    if (this.#background !== undefined) this.#background.waitUntil(write);
  }
}
