/**
 * Open Inference Protocol v2 inference bodies: JSON tensors, and the binary tensor data extension
 * (a JSON header of Inference-Header-Content-Length bytes followed by raw little-endian tensors, in
 * the order of the inputs that declare `parameters.binary_data_size`).
 *
 * Only FP32 is served: every graph of the model takes and returns float32.
 */
import { z } from '@hono/zod-openapi';
import { ApiError } from '../../../contract/errors.ts';

export const INFERENCE_HEADER_LENGTH = 'inference-header-content-length';

const tensorParameters = z
  .object({ binary_data_size: z.number().int().nonnegative().optional(), binary_data: z.boolean().optional() })
  .passthrough()
  .optional();

export const inferRequestSchema = z
  .object({
    id: z.string().max(256).optional(),
    parameters: z.object({ binary_data_output: z.boolean().optional() }).passthrough().optional(),
    inputs: z
      .array(
        z.object({
          name: z.string().min(1),
          shape: z.array(z.number().int().min(0).max(1 << 20)).min(1).max(8),
          datatype: z.string(),
          parameters: tensorParameters,
          data: z.array(z.unknown()).optional(),
        }),
      )
      .min(1)
      .max(16),
    outputs: z.array(z.object({ name: z.string().min(1), parameters: tensorParameters })).optional(),
  })
  .openapi('InferRequest');

export const inferResponseSchema = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string().optional(),
    outputs: z.array(
      z.object({
        name: z.string(),
        shape: z.array(z.number().int()),
        datatype: z.literal('FP32'),
        parameters: z.object({ binary_data_size: z.number().int() }).optional(),
        data: z.array(z.number()).optional(),
      }),
    ),
  })
  .openapi('InferResponse');

export interface DecodedTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface InferRequest {
  readonly id: string | undefined;
  readonly inputs: ReadonlyMap<string, DecodedTensor>;
  /** Output names the caller asked for (undefined = all), and which of them come back binary. */
  readonly requestedOutputs: readonly string[] | undefined;
  readonly binaryOutputs: (name: string) => boolean;
}

export function decodeInferRequest(body: Uint8Array, headerLengthText: string | undefined): InferRequest {
  let jsonBytes: Uint8Array = body;
  let binary: Uint8Array = new Uint8Array(0);
  if (headerLengthText !== undefined) {
    const headerLength = /^\d{1,9}$/.test(headerLengthText) ? Number(headerLengthText) : NaN;
    if (!(headerLength <= body.byteLength)) {
      throw new ApiError('invalid_parameters', `${INFERENCE_HEADER_LENGTH}: must be a byte count within the body`);
    }
    jsonBytes = body.subarray(0, headerLength);
    binary = body.subarray(headerLength);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(jsonBytes));
  } catch {
    throw new ApiError('invalid_parameters', 'inference request: body is not valid JSON');
  }
  const parsed = inferRequestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    throw new ApiError('invalid_parameters', `inference request: ${issues}`);
  }
  const request = parsed.data;
  const inputs = new Map<string, DecodedTensor>();
  let offset = 0;
  for (const input of request.inputs) {
    const where = `inputs.${input.name}`;
    if (input.datatype !== 'FP32') throw new ApiError('invalid_parameters', `${where}: datatype must be FP32, got ${input.datatype}`);
    if (inputs.has(input.name)) throw new ApiError('invalid_parameters', `${where}: given twice`);
    const count = input.shape.reduce((product, dim) => product * dim, 1);
    const binarySize = input.parameters?.binary_data_size;
    let data: Float32Array;
    if (binarySize !== undefined) {
      if (binarySize !== count * 4) {
        throw new ApiError('invalid_parameters', `${where}: binary_data_size ${binarySize} does not match shape (${count} FP32 = ${count * 4} bytes)`);
      }
      if (offset + binarySize > binary.byteLength) throw new ApiError('invalid_parameters', `${where}: binary data is truncated`);
      // Copy: the body's buffer is not 4-byte aligned in general, and little-endian is required.
      const view = new DataView(binary.buffer, binary.byteOffset + offset, binarySize);
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
      offset += binarySize;
    } else {
      const flat = (input.data ?? []).flat(Infinity as 1);
      if (flat.length !== count) throw new ApiError('invalid_parameters', `${where}: data has ${flat.length} values, shape needs ${count}`);
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const value = flat[i];
        if (typeof value !== 'number' || !Number.isFinite(value)) {
          throw new ApiError('invalid_parameters', `${where}: data[${i}] is not a finite number`);
        }
        data[i] = value;
      }
    }
    inputs.set(input.name, { shape: input.shape, data });
  }
  if (offset !== binary.byteLength) throw new ApiError('invalid_parameters', 'inference request: binary data longer than declared');
  const allBinary = request.parameters?.binary_data_output === true;
  const binaryNames = new Set((request.outputs ?? []).filter((o) => o.parameters?.binary_data === true).map((o) => o.name));
  return {
    id: request.id,
    inputs,
    requestedOutputs: request.outputs?.map((o) => o.name),
    binaryOutputs: (name) => allBinary || binaryNames.has(name),
  };
}

export interface EncodedResponse {
  readonly body: Uint8Array<ArrayBuffer>;
  readonly headers: Readonly<Record<string, string>>;
}

export function encodeInferResponse(
  model: { name: string; version: string },
  request: InferRequest,
  outputs: ReadonlyMap<string, DecodedTensor>,
): EncodedResponse {
  const binaryParts: Uint8Array[] = [];
  const entries = [...outputs].map(([name, tensor]) => {
    const base = { name, shape: [...tensor.shape], datatype: 'FP32' as const };
    if (!request.binaryOutputs(name)) return { ...base, data: Array.from(tensor.data) };
    const bytes = new Uint8Array(tensor.data.byteLength);
    const view = new DataView(bytes.buffer);
    tensor.data.forEach((value, i) => view.setFloat32(i * 4, value, true));
    binaryParts.push(bytes);
    return { ...base, parameters: { binary_data_size: bytes.byteLength } };
  });
  const json: Uint8Array<ArrayBuffer> = Buffer.from(
    JSON.stringify({ model_name: model.name, model_version: model.version, ...(request.id === undefined ? {} : { id: request.id }), outputs: entries }),
    'utf8',
  );
  if (binaryParts.length === 0) return { body: json, headers: { 'content-type': 'application/json' } };
  const body = new Uint8Array(json.byteLength + binaryParts.reduce((sum, part) => sum + part.byteLength, 0));
  body.set(json, 0);
  let offset = json.byteLength;
  for (const part of binaryParts) {
    body.set(part, offset);
    offset += part.byteLength;
  }
  return { body, headers: { 'content-type': 'application/octet-stream', [INFERENCE_HEADER_LENGTH]: String(json.byteLength) } };
}
