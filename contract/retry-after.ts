/**
 * Retry-After as milliseconds from now (delta-seconds or an HTTP date), at most `capMs`: a replica
 * must not be able to take itself out of this isolate's pool for hours with one header. Undefined
 * when absent or unreadable.
 */
export function retryAfterMs(header: string | null, now: number, capMs: number): number | undefined {
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
