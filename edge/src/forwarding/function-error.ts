/**
 * A final non-2xx answer of a function (a 4xx that is the caller's fault, e.g. invalid_image for a
 * truncated file) becomes the same ApiError at the edge: the codes are shared, so the client sees
 * the function's code and message under the edge's request id.
 */
import { ERROR_CODES, ApiError, type ErrorCode } from '../../../contract/errors.ts';

export async function functionError(response: Response, replicaUrl: string): Promise<ApiError> {
  const body = (await response.json().catch(() => undefined)) as { error?: { code?: unknown; message?: unknown } } | undefined;
  const code = body?.error?.code;
  const message = body?.error?.message;
  if (typeof code === 'string' && code in ERROR_CODES && typeof message === 'string') return new ApiError(code as ErrorCode, message);
  return new ApiError('internal', `function ${replicaUrl} answered HTTP ${response.status} without a known error code`);
}
