/**
 * One webhook delivery: the event body POSTed to the job's URL, signed with the job's secret over
 * the exact bytes sent (contract/webhook-signature.ts). Only a 2xx counts as delivered; the job's
 * alarm retries anything else with backoff.
 */
import { SIGNATURE_HEADER, signWebhook } from '../../../contract/webhook-signature.ts';

const DELIVERY_TIMEOUT_MS = 10_000;

export type DeliveryOutcome = { readonly ok: true } | { readonly ok: false; readonly error: string };

export async function deliverWebhook(url: string, secret: string, body: string, now: () => number = Date.now): Promise<DeliveryOutcome> {
  const bytes = new TextEncoder().encode(body);
  const signature = await signWebhook(secret, bytes, Math.floor(now() / 1000));
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature, 'user-agent': 'sa-munit-webhooks/1' },
      body: bytes,
      redirect: 'manual', // a redirect could send the signed body somewhere the job's owner never named
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await response.body?.cancel();
    return response.ok ? { ok: true } : { ok: false, error: `HTTP ${response.status}` };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}
