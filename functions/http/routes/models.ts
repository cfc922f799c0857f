/**
 * What is served: GET /v1/models (the product's view: domains, directions, sizes, execution
 * provider) and the OIP v2 model endpoints, where each ONNX graph of the manifest is one model
 * named by its file stem (translator_a2b, translator_b2a, style_encoder_a, style_encoder_b).
 * OIP inference goes through the same batcher as translations, one item per batch row.
 */
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { ApiError } from '../../../contract/errors.ts';
import { acceptsImageSide, type GraphEntry, type Manifest } from '../../../contract/manifest.ts';
import { servedModelsSchema } from '../../../contract/served-model.ts';
import type { FunctionConfig } from '../../config.ts';
import type { ServiceMetrics } from '../../metrics.ts';
import { directionNames } from '../../lib/resolve-direction.ts';
import type { ActiveModel, ModelHost } from '../../serving/model-host.ts';
import type { AppEnv } from '../app-env.ts';
import { uploadLimit } from '../middleware/upload-limit.ts';
import { deadlineOf } from '../deadline.ts';
import { INFERENCE_HEADER_LENGTH, decodeInferRequest, encodeInferResponse, inferRequestSchema, inferResponseSchema, type DecodedTensor } from '../oip/infer-codec.ts';
import { errorResponses } from './error-responses.ts';

/** Rows of one OIP request; each becomes one batcher item. */
const MAX_OIP_BATCH = 64;

const tensorMetadataSchema = z.object({ name: z.string(), datatype: z.literal('FP32'), shape: z.array(z.number().int()) });
const modelMetadataSchema = z
  .object({
    name: z.string(),
    versions: z.array(z.string()),
    platform: z.literal('onnxruntime_onnx'),
    inputs: z.array(tensorMetadataSchema),
    outputs: z.array(tensorMetadataSchema),
    parameters: z.object({ execution_provider: z.string(), model: z.string(), size_multiple: z.number().int(), min_size: z.number().int() }),
  })
  .openapi('ModelMetadata');

const graphName = (graph: GraphEntry): string => graph.file.replace(/\.onnx$/, '');

function graphByName(manifest: Manifest, name: string): GraphEntry {
  const graph = manifest.graphs.find((g) => graphName(g) === name);
  if (graph === undefined) {
    const known = manifest.graphs.map(graphName).join(', ');
    throw new ApiError('unknown_model', `no model named "${name}" (served: ${known})`);
  }
  return graph;
}

/** OIP shapes use -1 for dynamic dimensions. */
const oipShape = (shape: readonly (number | string)[]): number[] => shape.map((d) => (typeof d === 'number' ? d : -1));

export function registerModelRoutes(app: OpenAPIHono<AppEnv>, host: ModelHost, config: FunctionConfig, metrics: ServiceMetrics): void {
  app.openAPIRegistry.registerPath({
    method: 'get', path: '/v1/models', summary: 'The model version served here, its domains, directions and sizes',
    responses: { 200: { description: 'Served model', content: { 'application/json': { schema: servedModelsSchema } } }, ...errorResponses(503) },
  });
  app.get('/v1/models', (c) => {
    const active = host.active();
    const m = active.manifest;
    const domain = (key: 'a' | 'b') => m.domains.find((d) => d.key === key)?.name ?? key;
    return c.json({
      models: [
        {
          name: m.name,
          version: m.version,
          architecture: m.architecture,
          domains: { a: domain('a'), b: domain('b') },
          directions: directionNames(m),
          image_size: m.image_size,
          size_multiple: m.size_multiple,
          style_dim: m.style_dim,
          attention: m.attention,
          execution_provider: active.pool.provider,
          source: active.model.source,
          loaded_at: active.loadedAt.toISOString(),
          metrics: m.metrics,
        },
      ],
    });
  });

  app.openAPIRegistry.registerPath({
    method: 'get', path: '/v2/models/{name}', summary: 'Model metadata (OIP v2)',
    request: { params: z.object({ name: z.string() }) },
    responses: { 200: { description: 'Metadata', content: { 'application/json': { schema: modelMetadataSchema } } }, ...errorResponses(404, 503) },
  });
  app.get('/v2/models/:name', (c) => {
    const active = host.active();
    const graph = graphByName(active.manifest, c.req.param('name'));
    const tensors = (list: GraphEntry['inputs']) => list.map((t) => ({ name: t.name, datatype: 'FP32' as const, shape: oipShape(t.shape) }));
    return c.json({
      name: graphName(graph),
      versions: [active.manifest.version],
      platform: 'onnxruntime_onnx' as const,
      inputs: tensors(graph.inputs),
      outputs: tensors(graph.outputs),
      parameters: {
        execution_provider: active.pool.provider,
        model: active.manifest.name,
        size_multiple: active.manifest.size_multiple,
        min_size: active.manifest.min_size,
      },
    });
  });

  app.openAPIRegistry.registerPath({
    method: 'get', path: '/v2/models/{name}/ready', summary: 'Model readiness (OIP v2)',
    request: { params: z.object({ name: z.string() }) },
    responses: { 200: { description: 'Ready', content: { 'application/json': { schema: z.object({ name: z.string(), ready: z.boolean() }) } } }, ...errorResponses(404, 503) },
  });
  app.get('/v2/models/:name/ready', (c) => {
    const graph = graphByName(host.active().manifest, c.req.param('name'));
    return c.json({ name: graphName(graph), ready: true });
  });

  app.openAPIRegistry.registerPath({
    method: 'post', path: '/v2/models/{name}/infer', summary: 'Inference on one graph (OIP v2; JSON or binary tensor extension)',
    request: {
      params: z.object({ name: z.string() }),
      body: { content: { 'application/json': { schema: inferRequestSchema }, 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
    },
    responses: {
      200: { description: 'Outputs', content: { 'application/json': { schema: inferResponseSchema }, 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
      ...errorResponses(400, 404, 413, 429, 503),
    },
  });
  app.post(
    '/v2/models/:name/infer',
    uploadLimit(config.limits.maxBodyBytes),
    async (c) =>
      host.use(async (active) => {
        const graph = graphByName(active.manifest, c.req.param('name'));
        const labels = { model: active.manifest.name, version: active.manifest.version };
        const started = performance.now();
        try {
          const deadline = deadlineOf(c, config.batching.defaultDeadlineMs);
          const request = decodeInferRequest(new Uint8Array(await c.req.arrayBuffer()), c.req.header(INFERENCE_HEADER_LENGTH));
          const outputs = await inferRows(active, graph, request.inputs, deadline);
          const requested = request.requestedOutputs;
          if (requested !== undefined) {
            for (const name of requested) if (!outputs.has(name)) throw new ApiError('invalid_parameters', `outputs: "${name}" is not an output of ${graphName(graph)}`);
            for (const name of [...outputs.keys()]) if (!requested.includes(name)) outputs.delete(name);
          }
          const response = encodeInferResponse({ name: graphName(graph), version: active.manifest.version }, request, outputs);
          metrics.requestSuccess.inc(labels);
          for (const [name, value] of Object.entries(response.headers)) c.header(name, value);
          return c.body(response.body);
        } catch (error) {
          metrics.requestFailure.inc({ ...labels, reason: error instanceof ApiError ? error.code : 'internal' });
          throw error;
        } finally {
          metrics.requestDurationUs.inc(labels, (performance.now() - started) * 1000);
        }
      }),
  );
}

/** Checks the inputs against the graph's signature, runs each row as one batcher item, restacks. */
async function inferRows(
  active: ActiveModel,
  graph: GraphEntry,
  inputs: ReadonlyMap<string, DecodedTensor>,
  deadline: number,
): Promise<Map<string, DecodedTensor>> {
  const manifest = active.manifest;
  const expected = new Set(graph.inputs.map((t) => t.name));
  for (const name of inputs.keys()) {
    if (!expected.has(name)) throw new ApiError('invalid_parameters', `inputs.${name}: not an input of ${graphName(graph)} (inputs: ${[...expected].join(', ')})`);
  }
  let rows: number | undefined;
  const symbols = new Map<string, number>();
  for (const spec of graph.inputs) {
    const tensor = inputs.get(spec.name);
    if (tensor === undefined) throw new ApiError('invalid_parameters', `inputs.${spec.name}: missing`);
    const where = `inputs.${spec.name}`;
    if (tensor.shape.length !== spec.shape.length) {
      throw new ApiError('invalid_parameters', `${where}: shape must have ${spec.shape.length} dimensions [${oipShape(spec.shape).join(',')}]`);
    }
    spec.shape.forEach((dim, i) => {
      const given = tensor.shape[i] ?? 0;
      if (typeof dim === 'number') {
        if (given !== dim) throw new ApiError('invalid_parameters', `${where}: dimension ${i} must be ${dim}, got ${given}`);
        return;
      }
      const seen = symbols.get(dim);
      if (seen !== undefined && seen !== given) throw new ApiError('invalid_parameters', `${where}: dimension ${dim} must be ${seen} as in the other inputs`);
      symbols.set(dim, given);
      if (dim !== 'N' && !acceptsImageSide(manifest, given)) {
        throw new ApiError('invalid_parameters', `${where}: ${dim} must be a multiple of ${manifest.size_multiple} and at least ${manifest.min_size}, got ${given}`);
      }
    });
    rows = tensor.shape[0];
  }
  if (rows === undefined || rows < 1 || rows > MAX_OIP_BATCH) {
    throw new ApiError('invalid_parameters', `batch dimension N must be from 1 to ${MAX_OIP_BATCH}`);
  }
  const rowResults = await Promise.all(
    Array.from({ length: rows }, (_, row) => {
      const feeds = Object.fromEntries(
        [...inputs].map(([name, tensor]) => {
          const rowLength = tensor.data.length / tensor.shape[0]!;
          return [name, { data: tensor.data.slice(row * rowLength, (row + 1) * rowLength), dims: [1, ...tensor.shape.slice(1)] }];
        }),
      );
      return active.infer(graph.file, feeds, deadline);
    }),
  );
  const outputs = new Map<string, DecodedTensor>();
  for (const spec of graph.outputs) {
    const parts = rowResults.map((result) => result[spec.name]);
    const first = parts[0];
    if (first === undefined || parts.some((p) => p === undefined)) throw new Error(`${graph.file} returned no ${spec.name}`);
    const data = new Float32Array(first.data.length * rows);
    parts.forEach((part, row) => data.set(part!.data, row * first.data.length));
    outputs.set(spec.name, { shape: [rows, ...first.dims.slice(1)], data });
  }
  return outputs;
}
