/** Strong ETags that are content addresses, and If-None-Match against them. */
import type { Context } from 'hono';

export const etagOf = (address: string): string => `"${address}"`;

/**
 * What If-None-Match says about this address: 'address' when it lists the address's tag (weak or
 * strong), 'any' when it is `*` (a match only if a result exists: the caller must look it up),
 * undefined otherwise.
 */
export function ifNoneMatch(c: Context, address: string): 'address' | 'any' | undefined {
  const header = c.req.header('if-none-match');
  if (header === undefined) return undefined;
  const tags = header.split(',').map((tag) => tag.trim().replace(/^W\//, ''));
  if (tags.includes(etagOf(address))) return 'address';
  return tags.includes('*') ? 'any' : undefined;
}
