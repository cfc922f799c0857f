/**
 * The webhook signature scheme (contract/webhook-signature.ts) against an independent HMAC
 * (node:crypto), and every way a receiver must refuse: another body, another secret, a replay
 * outside the tolerance, and malformed headers; plus secret rotation (two v1 entries).
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from '../contract/webhook-signature.ts';

const SECRET = 'whsec_0123456789abcdef';
const body = new TextEncoder().encode('{"id":"job_1","status":"done","counts":{"done":500,"failed":1}}');
const T = 1_795_000_000;

const independentMac = (secret: string, timestamp: number, bytes: Uint8Array) =>
  createHmac('sha256', secret).update(`${timestamp}.`).update(bytes).digest('hex');

describe('webhook signatures', () => {
  it('signs HMAC-SHA256 over "<t>.<raw body>", as an independent implementation computes it', async () => {
    expect(await signWebhook(SECRET, body, T)).toBe(`t=${T},v1=${independentMac(SECRET, T, body)}`);
  });

  it('verifies its own signature within the tolerance, and names what is wrong otherwise', async () => {
    const header = await signWebhook(SECRET, body, T);
    expect(await verifyWebhook(SECRET, body, header, T + 299)).toEqual({ valid: true, timestamp: T });
    expect(await verifyWebhook(SECRET, body, header, T - 299)).toEqual({ valid: true, timestamp: T });
    expect(await verifyWebhook(SECRET, body, header, T + 301)).toEqual({ valid: false, reason: 'stale' });
    expect(await verifyWebhook(SECRET, body, header, T + 30, 10)).toEqual({ valid: false, reason: 'stale' });

    const tampered = new Uint8Array(body);
    tampered[10] = tampered[10]! ^ 1;
    expect(await verifyWebhook(SECRET, tampered, header, T)).toEqual({ valid: false, reason: 'mismatch' });
    expect(await verifyWebhook('whsec_another_secret_0000', body, header, T)).toEqual({ valid: false, reason: 'mismatch' });
    // The timestamp is inside the MAC: moving it forward to dodge the tolerance breaks the MAC.
    const moved = header.replace(`t=${T}`, `t=${T + 1000}`);
    expect(await verifyWebhook(SECRET, body, moved, T + 1000)).toEqual({ valid: false, reason: 'mismatch' });
  });

  it('accepts any one matching v1 entry (secret rotation) and ignores unknown schemes', async () => {
    const old = await signWebhook('whsec_old_secret_000000', body, T);
    const current = await signWebhook(SECRET, body, T);
    const both = `${old},v1=${current.split('v1=')[1]},v0=ignored`;
    expect(await verifyWebhook(SECRET, body, both, T)).toEqual({ valid: true, timestamp: T });
    expect(await verifyWebhook('whsec_old_secret_000000', body, both, T)).toEqual({ valid: true, timestamp: T });
  });

  it.each([
    ['no header', null],
    ['empty', ''],
    ['no timestamp', `v1=${'ab'.repeat(32)}`],
    ['no mac', `t=${T}`],
    ['two timestamps', `t=${T},t=${T},v1=${'ab'.repeat(32)}`],
    ['a short mac', `t=${T},v1=abcd`],
    ['an uppercase or non-hex mac', `t=${T},v1=${'AB'.repeat(32)}`],
    ['a non-numeric timestamp', `t=soon,v1=${'ab'.repeat(32)}`],
    ['an extra "="', `t=${T},v1=${'ab'.repeat(32)}=`],
  ])('refuses a malformed header (%s)', async (_case, header) => {
    expect(await verifyWebhook(SECRET, body, header, T)).toEqual({ valid: false, reason: 'malformed' });
  });

  it('refuses secrets too short to be secret, and timestamps that are not unix seconds', async () => {
    await expect(signWebhook('short', body, T)).rejects.toThrow(/at least 16 characters/);
    await expect(signWebhook(SECRET, body, 1.5)).rejects.toThrow(/whole unix seconds/);
  });
});
