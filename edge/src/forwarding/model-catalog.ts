/**
 * What the functions serve, from their GET /v1/models, kept briefly in module scope (per isolate)
 * so a cache hit needs no call to any function. The model version is part of every content
 * address; a result whose function reports another version (a reload happened in between) is
 * addressed by the version that actually produced it (see routes/translations.ts).
 */
import { z } from '@hono/zod-openapi';
import { ApiError } from '../../../contract/errors.ts';
import { servedModelSchema, servedModelsSchema, type ServedModel } from '../../../contract/served-model.ts';
import { forwardToFunctions, type ForwardOptions } from './forward.ts';

export type { ServedModel };

const modelsResponseSchema = servedModelsSchema.extend({ models: z.array(servedModelSchema).min(1) });

interface CatalogEntry {
  readonly models: readonly ServedModel[];
  readonly fetchedAt: number;
}

const catalogByPool = new Map<string, CatalogEntry>();

export async function servedModels(options: ForwardOptions & { ttlMs: number }): Promise<readonly ServedModel[]> {
  const now = (options.now ?? Date.now)();
  const key = options.pool.replicas.map((replica) => replica.url).join(' ');
  const cached = catalogByPool.get(key);
  if (cached !== undefined && now - cached.fetchedAt < options.ttlMs) return cached.models;

  const { response, replicaUrl } = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, options);
  if (!response.ok) await response.body?.cancel();
  const parsed = modelsResponseSchema.safeParse(response.ok ? await response.json().catch(() => undefined) : undefined);
  if (!parsed.success) {
    throw new ApiError('not_ready', `function ${replicaUrl} did not describe its model (GET /v1/models answered ${response.status})`, {
      retryAfterSeconds: 1,
    });
  }
  catalogByPool.set(key, { models: parsed.data.models, fetchedAt: now });
  return parsed.data.models;
}

/** The model translations go to: the functions serve one model at a time (functions/README.md). */
export async function servedModel(options: ForwardOptions & { ttlMs: number }): Promise<ServedModel> {
  const [model] = await servedModels(options);
  return model!;
}

/** "a2b", "b2a" or "<domain>-to-<domain>" → the manifest key; 400 unknown_direction otherwise. */
export function resolveDirection(model: ServedModel, text: string): 'a2b' | 'b2a' {
  for (const direction of ['a2b', 'b2a'] as const) {
    if (text === direction || text === model.directions[direction]) return direction;
  }
  throw new ApiError(
    'unknown_direction',
    `direction: unknown "${text}" (use a2b, b2a, ${model.directions.a2b} or ${model.directions.b2a})`,
  );
}
