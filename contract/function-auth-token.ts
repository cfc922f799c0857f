/**
 * FUNCTION_AUTH_TOKEN: the bearer token the edge sends to the functions and the functions require
 * (functions/http/middleware/caller-auth.ts). One rule for both configs: a token either side
 * accepts must be one the other can send and check, and RFC 6750's token68 is all a bearer
 * token may contain (Hono's bearerAuth refuses anything else as a malformed header).
 */
import { z } from 'zod';

export const functionAuthTokenSchema = z
  .string()
  .min(16, 'must be at least 16 characters')
  .regex(/^[A-Za-z0-9._~+/-]+=*$/, 'may contain only letters, digits and . _ ~ + / - (e.g. `openssl rand -hex 24`)');
