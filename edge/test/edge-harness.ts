/**
 * Calls the real Worker entry point inside workerd with the local bindings of edge/wrangler.toml,
 * optionally overriding vars (e.g. FUNCTION_POOL) per test, and helpers that read real state:
 * keys written to the KV binding, the function's own request counters.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { inject } from 'vitest';
import { mintApiKey, storeKeyFor, type KeyKind } from '../src/auth/api-keys.ts';
import type { EdgeBindings } from '../src/bindings.ts';
import worker from '../src/index.ts';

export const BASE = 'https://edge.test';

export function sampleImage(name: 'circle' | 'square'): Uint8Array {
  const text = atob(inject(name === 'circle' ? 'circlePngBase64' : 'squarePngBase64'));
  return Uint8Array.from(text, (char) => char.charCodeAt(0));
}

export async function callEdge(path: string, init: RequestInit = {}, vars: Record<string, unknown> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(new Request(`${BASE}${path}`, init), { ...env, FUNCTION_POOL: inject('functionUrl'), ...vars } as EdgeBindings, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export async function createKey(kind: KeyKind, origins: string[] = [], monthlyQuota: number | null = null): Promise<{ token: string; id: string }> {
  const key = await mintApiKey({ kind, name: `test ${kind}`, origins, monthlyQuota });
  await env.API_KEYS!.put(storeKeyFor(key.tokenHash), JSON.stringify(key.record));
  return { token: key.token, id: key.record.id };
}

export async function revokeKey(token: string, id: string): Promise<void> {
  const { hashToken } = await import('../src/auth/api-keys.ts');
  const stored = JSON.parse((await env.API_KEYS!.get(storeKeyFor(await hashToken(token))))!) as Record<string, unknown>;
  if (stored['id'] !== id) throw new Error('key mismatch');
  await env.API_KEYS!.put(storeKeyFor(await hashToken(token)), JSON.stringify({ ...stored, revoked_at: new Date().toISOString() }));
}

/** Translate requests the real function has answered (success + failure), from its /metrics. */
export async function functionTranslateCount(): Promise<number> {
  const text = await (await fetch(`${inject('functionUrl')}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (/^nv_inference_request_(success|failure)[{ ]/.test(line)) total += Number(line.split(' ').at(-1));
  }
  return total;
}

export async function errorCodeOf(response: Response): Promise<string> {
  const body = (await response.json()) as { error: { code: string; requestId?: string } };
  return body.error.code;
}
