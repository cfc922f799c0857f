/**
 * One served model as GET /v1/models describes it: the functions answer it, the edge reads it
 * (model version for content addresses, domain names for directions) and passes it on. Defined
 * once here so both sides document and validate the same shape.
 */
import { z } from '@hono/zod-openapi';

export const servedModelSchema = z
  .object({
    name: z.string().min(1),
    version: z.string().min(1),
    architecture: z.string(),
    domains: z.object({ a: z.string(), b: z.string() }),
    directions: z.object({ a2b: z.string(), b2a: z.string() }),
    image_size: z.number().int(),
    size_multiple: z.number().int(),
    style_dim: z.number().int(),
    attention: z.record(z.string(), z.boolean()),
    execution_provider: z.string(),
    source: z.string(),
    loaded_at: z.string(),
    metrics: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('ServedModel');

export type ServedModel = z.infer<typeof servedModelSchema>;

/** The body of GET /v1/models. */
export const servedModelsSchema = z.object({ models: z.array(servedModelSchema) });
