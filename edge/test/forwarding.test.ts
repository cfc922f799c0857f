/**
 * Forwarding: the breaker's state machine and power-of-two choices (pure, with a fake clock), then
 * failover through the edge against a real function with dead, hung and overloaded replicas beside it.
 */
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { REQUEST_ID_HEADER } from '../../contract/headers.ts';
import { CircuitBreaker } from '../src/forwarding/circuit-breaker.ts';
import { forwardToFunctions } from '../src/forwarding/forward.ts';
import { ReplicaPool } from '../src/forwarding/replica-pool.ts';
import { callEdge, createKey, errorCodeOf, sampleImage } from './edge-harness.ts';

describe('CircuitBreaker', () => {
  it('opens after the threshold, lets one probe through after the cooldown, closes on its success', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000 });
    breaker.onFailure(0);
    breaker.onFailure(1);
    expect(breaker.admits(2)).toBe(true);
    breaker.onFailure(2);
    expect(breaker.state(3)).toBe('open');
    expect(breaker.admits(500)).toBe(false);
    expect(breaker.state(1002)).toBe('half-open');
    expect(breaker.admits(1002)).toBe(true);
    breaker.onSend(1002);
    expect(breaker.admits(1003)).toBe(false); // only one probe at a time
    breaker.onSuccess();
    expect(breaker.state(1004)).toBe('closed');
    breaker.onFailure(1005);
    expect(breaker.admits(1006)).toBe(true); // the failure count restarted
  });

  it('re-opens for a full cooldown when the probe fails', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1000 });
    breaker.onFailure(0);
    breaker.onSend(1000);
    breaker.onFailure(1001);
    expect(breaker.state(1500)).toBe('open');
    expect(breaker.reopensAt()).toBe(2001);
  });
});

describe('ReplicaPool', () => {
  it('picks the less loaded of two, skips tried and non-admitting replicas', () => {
    const pool = new ReplicaPool(['http://a', 'http://b', 'http://c'], { failureThreshold: 1, cooldownMs: 1000 }, () => 0);
    const [a, b, c] = pool.replicas;
    a!.outstanding = 5;
    b!.outstanding = 1;
    expect(pool.choose(0)).toBe(b); // random() = 0 samples a, then b
    expect(pool.choose(0, new Set([b!]))).toBe(c);
    b!.breaker.onFailure(0);
    c!.notBefore = 10_000;
    expect(pool.choose(1)).toBe(a);
    a!.breaker.onFailure(0);
    expect(pool.choose(1)).toBeUndefined();
    expect(pool.retryAfterSeconds(1)).toBe(1);
  });
});

describe('forwardToFunctions against real replicas', () => {
  const options = (urls: string[], extra: Partial<Parameters<typeof forwardToFunctions>[1]> = {}) => ({
    pool: new ReplicaPool(urls, { failureThreshold: 2, cooldownMs: 60_000 }),
    maxAttempts: 3,
    attemptTimeoutMs: 2000,
    deadline: Date.now() + 10_000,
    requestId: 'forward-test',
    ...extra,
  });

  it('fails over from a dead replica, passes the request id, and opens the dead one\'s breaker', async () => {
    const [dead] = inject('deadReplicaUrls');
    const opts = options([dead!, inject('functionUrl')]);
    opts.pool.replicas[1]!.outstanding = 100; // power of two choices then always tries the dead one first
    const attemptsPerRequest: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const { response, replicaUrl, attempts } = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts);
      expect(response.status).toBe(200);
      expect(replicaUrl).toBe(inject('functionUrl'));
      expect(response.headers.get(REQUEST_ID_HEADER)).toBe('forward-test');
      attemptsPerRequest.push(attempts);
    }
    expect(attemptsPerRequest).toEqual([2, 2, 1, 1]);
    // Threshold 2: two failed attempts opened the breaker; the last two requests went straight to the live one.
    const deadReplica = opts.pool.replicas[0]!;
    expect(deadReplica.breaker.state(Date.now())).toBe('open');
  });

  it('moves past a hung replica after the per-attempt timeout', async () => {
    const opts = options([inject('hungReplicaUrl'), inject('functionUrl')], { attemptTimeoutMs: 300 });
    opts.pool.replicas[1]!.outstanding = 100; // make power-of-two choices try the hung one first
    const started = Date.now();
    const { response, attempts } = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts);
    expect(response.status).toBe(200);
    expect(attempts).toBe(2);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('honours 429 Retry-After: goes elsewhere now and keeps away from that replica meanwhile', async () => {
    const opts = options([inject('busyReplicaUrl'), inject('functionUrl')]);
    opts.pool.replicas[1]!.outstanding = 100;
    const first = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts);
    expect(first.attempts).toBe(2);
    const busy = opts.pool.replicas[0]!;
    expect(busy.notBefore).toBeGreaterThan(Date.now() + 25_000);
    expect(busy.breaker.state(Date.now())).toBe('closed'); // overloaded is not broken
    const second = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts);
    expect(second.attempts).toBe(1);
  });

  it('answers 503 with Retry-After when no replica can take the request', async () => {
    const dead = inject('deadReplicaUrls').slice(1, 3);
    const opts = options(dead);
    await expect(forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts)).rejects.toMatchObject({ code: 'not_ready', status: 503 });
    await expect(forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts)).rejects.toMatchObject({ code: 'not_ready' });
    // Both breakers are open now: refused without touching the network, Retry-After = cooldown.
    const error = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'not_ready', message: expect.stringContaining('no replica is admitting') });
    expect((error as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(50);
  });

  it('gives up with deadline_exceeded when the overall deadline runs out first', async () => {
    const opts = options([inject('hungReplicaUrl')], { attemptTimeoutMs: 5000, deadline: Date.now() + 300 });
    const started = Date.now();
    await expect(forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts)).rejects.toMatchObject({ code: 'deadline_exceeded' });
    expect(Date.now() - started).toBeLessThan(1000); // the attempt was cut to the deadline, not to 5 s
    const tight = options([inject('hungReplicaUrl')], { deadline: Date.now() + 10 });
    await expect(forwardToFunctions({ method: 'GET', path: '/v1/models' }, tight)).rejects.toMatchObject({ code: 'deadline_exceeded', status: 503 });
  });
});

describe('failover through the edge', () => {
  it('translates while one configured replica is down, and /readyz shows its breaker open', async () => {
    const { token } = await createKey('secret');
    const pool = `${inject('deadReplicaUrls')[3]},${inject('functionUrl')}`;
    const vars = { FUNCTION_POOL: pool, BREAKER_FAILURE_THRESHOLD: '1' };
    const readiness = async () => (await (await callEdge('/readyz', {}, vars)).json()) as { ready: boolean; replicas: { breaker: string }[] };
    // Power of two choices picks the dead replica first about half the time: keep translating until
    // it has been (every request must succeed all the same); 20 misses in a row would be ~1e-6.
    let ready = await readiness();
    for (let seed = 500; seed < 520 && ready.replicas[0]!.breaker !== 'open'; seed += 1) {
      const response = await callEdge(`/v1/translations?seed=${seed}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' },
        body: sampleImage('circle'),
      }, vars);
      expect(response.status).toBe(200);
      ready = await readiness();
    }
    expect(ready.ready).toBe(true);
    expect(ready.replicas.map((r) => r.breaker)).toEqual(['open', 'closed']);
  });

  it('answers 503 not_ready with Retry-After when every replica is down', async () => {
    const response = await callEdge('/v1/models', {}, { FUNCTION_POOL: inject('deadReplicaUrls').slice(4, 6).join(',') });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await errorCodeOf(response)).toBe('not_ready');
  });
});
