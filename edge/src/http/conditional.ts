/** Strong ETags that are content addresses, and If-None-Match against them. */
import type { Context } from 'hono';

export const etagOf = (address: string): string => `"${address}"`;

/** Whether If-None-Match names this address (any listed tag, weak or strong, or `*`). */
export function ifNoneMatchHits(c: Context, address: string): boolean {
  const header = c.req.header('if-none-match');
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const bare = tag.trim().replace(/^W\//, '');
    return bare === '*' || bare === etagOf(address);
  });
}
