/**
 * Retry-After as milliseconds from now (delta-seconds or an HTTP date), or undefined when absent or
 * unreadable. Read by the edge (a replica's 429/503) and the CLI client (the edge's), each capping
 * it as it needs: the edge so that one header cannot take a replica out of its pool for hours.
 */
export function retryAfterMs(header: string | null, now: number, capMs = Number.POSITIVE_INFINITY): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const date = Date.parse(text);
    if (Number.isNaN(date)) return undefined;
    ms = Math.max(0, date - now);
  }
  return Math.min(ms, capMs);
}
