/**
 * GET /v1/results/{address}: a stored result by its content address. The URL never changes
 * meaning (the address covers every input), so it is immutable, cacheable by anyone and public:
 * knowing the address requires having had the result, and it is what <img src> embeds.
 */
import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { CONTENT_ADDRESS_PATTERN } from '../../../contract/content-address.ts';
import { ApiError } from '../../../contract/errors.ts';
import type { EdgeEnv } from '../app-env.ts';
import { resultStoreFor } from '../cache/result-store-for.ts';
import { ifNoneMatch } from '../http/conditional.ts';
import { errorResponses } from '../http/error-responses.ts';
import { notModified, resultResponse } from './result-response.ts';

export function registerResultRoutes(app: OpenAPIHono<EdgeEnv>): void {
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/results/{address}',
    summary: 'A stored result by its content address (immutable)',
    request: { params: z.object({ address: z.string().regex(CONTENT_ADDRESS_PATTERN).openapi({ description: 'sha256 hex, as in the ETag' }) }) },
    responses: {
      200: { description: 'The result, with the headers of the translation that made it', content: { 'image/png': { schema: z.string().openapi({ format: 'binary' }) } } },
      304: { description: 'If-None-Match named this address' },
      ...errorResponses(404),
    },
  });
  app.get('/v1/results/:address', async function resultRoute(c) {
    const address = c.req.param('address');
    if (!CONTENT_ADDRESS_PATTERN.test(address)) throw new ApiError('not_found', 'a result address is 64 lower-case hex digits');
    const condition = ifNoneMatch(c, address);
    if (condition === 'address') return notModified(c, address);
    const found = await resultStoreFor(c).get(address);
    if (found === undefined) throw new ApiError('not_found', `no result with address ${address}`);
    if (condition === 'any') return notModified(c, address); // `*` matches only a result that exists
    return resultResponse(c, address, found.result, 'HIT');
  });
}
