/** OpenAPI descriptions of error answers, generated from the one error-code table. */
import { z } from '@hono/zod-openapi';
import { ERROR_CODES, type ErrorCode } from '../../../contract/errors.ts';

const codes = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(codes),
      message: z.string(),
      requestId: z.string().optional(),
    }),
  })
  .openapi('Error');

export function errorResponses(...statuses: number[]) {
  const responses: Record<number, { description: string; content: { 'application/json': { schema: typeof errorBodySchema } } }> = {};
  for (const status of statuses) {
    const matching = codes.filter((code) => ERROR_CODES[code].status === status);
    responses[status] = {
      description: matching.map((code) => `${code}: ${ERROR_CODES[code].description}`).join(' '),
      content: { 'application/json': { schema: errorBodySchema } },
    };
  }
  return responses;
}
