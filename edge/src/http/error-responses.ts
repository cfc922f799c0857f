/** OpenAPI responses for error statuses, described by every shared code that maps to each status. */
import { z } from '@hono/zod-openapi';
import { ERROR_CODES, type ErrorCode } from '../../../contract/errors.ts';

const codes = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

export const errorBodySchema = z
  .object({ error: z.object({ code: z.enum(codes), message: z.string(), requestId: z.string().optional() }) })
  .openapi('Error');

export function errorResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => {
      const matching = codes.filter((code) => ERROR_CODES[code].status === status);
      return [
        status,
        {
          description: matching.map((code) => `${code}: ${ERROR_CODES[code].description}`).join(' '),
          content: { 'application/json': { schema: errorBodySchema } },
        },
      ];
    }),
  );
}
