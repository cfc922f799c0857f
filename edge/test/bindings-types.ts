/**
 * Compile-time only (npx tsc --noEmit): the real Workers binding types must still fit the narrow
 * shapes in src/bindings.ts, so a workers-types upgrade that changes them fails the type check.
 */
import type { KVNamespace, R2Bucket, RateLimit } from '@cloudflare/workers-types/latest/index.ts';
import type { KeyValueStore, RateLimiter, ResultBucket } from '../src/bindings.ts';

type Fits<Actual extends Narrow, Narrow> = Actual;

export type BindingShapesFit = [Fits<R2Bucket, ResultBucket>, Fits<KVNamespace, KeyValueStore>, Fits<RateLimit, RateLimiter>];

import type { DurableObjectState } from '@cloudflare/workers-types/latest/index.ts';
import type { DurableObjectStateSlice } from 'cloudflare:workers';

export type DurableObjectStateFits = Fits<DurableObjectState, DurableObjectStateSlice>;
