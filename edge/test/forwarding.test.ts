/**
 * Forwarding: the breaker's state machine and power-of-two choices (pure, with a fake clock), then
 * failover through the edge against a real function with dead, hung and overloaded replicas beside it.
 */
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { REQUEST_ID_HEADER } from '../../contract/headers.ts';
import { CircuitBreaker } from '../src/forwarding/circuit-breaker.ts';
import { forwardToFunctions } from '../src/forwarding/forward.ts';
import { ReplicaPool, type Replica } from '../src/forwarding/replica-pool.ts';
import { callEdge, createKey, errorCodeOf, sampleImage } from './edge-harness.ts';

/** Makes a replica look busy (n attempts in flight) so power of two choices prefers the other. */
function load(replica: Replica | undefined, n: number): void {
  for (let i = 0; i < n; i += 1) replica!.beginAttempt(Date.now());
}

describe('CircuitBreaker', () => {
  it('opens after the threshold, lets one probe through after the cooldown, closes on its success', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000, probeTimeoutMs: 60_000 });
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
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1000, probeTimeoutMs: 60_000 });
    breaker.onFailure(0);
    breaker.onSend(1000);
    breaker.onFailure(1001);
    expect(breaker.state(1500)).toBe('open');
    expect(breaker.reopensAt()).toBe(2001);
  });

  it('lets another probe through once a probe has gone unanswered for the attempt timeout (cancelled request)', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1000, probeTimeoutMs: 500 });
    breaker.onFailure(0);
    breaker.onSend(1000); // its request is cancelled: neither onSuccess nor onFailure ever comes
    expect(breaker.admits(1400)).toBe(false);
    expect(breaker.admits(1500)).toBe(true);
  });

  it('an inconclusive attempt releases the probe without counting a failure', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1000, probeTimeoutMs: 60_000 });
    breaker.onFailure(0);
    breaker.onSend(1000);
    breaker.onInconclusive();
    expect(breaker.admits(1001)).toBe(true);
  });
});

describe('ReplicaPool', () => {
  it('picks the less loaded of two, skips tried and non-admitting replicas', () => {
    const pool = new ReplicaPool(['http://a', 'http://b', 'http://c'], { failureThreshold: 1, cooldownMs: 1000, probeTimeoutMs: 60_000 }, () => 0);
    const [a, b, c] = pool.replicas;
    for (let i = 0; i < 5; i += 1) a!.beginAttempt(0);
    b!.beginAttempt(0);
    expect(pool.choose(0)).toBe(b); // random() = 0 samples a, then b
    expect(pool.choose(0, new Set([b!]))).toBe(c);
    b!.breaker.onFailure(0);
    c!.notBefore = 10_000;
    expect(pool.choose(1)).toBe(a);
    a!.breaker.onFailure(0);
    expect(pool.choose(1)).toBeUndefined();
    expect(pool.retryAfterSeconds(1)).toBe(1);
  });

  it('counts an attempt until it ends, or until the attempt timeout when it never ends (cancelled)', () => {
    const [replica] = new ReplicaPool(['http://a'], { failureThreshold: 1, cooldownMs: 1000, probeTimeoutMs: 500 }).replicas;
    const end = replica!.beginAttempt(0);
    replica!.beginAttempt(0); // never ended
    expect(replica!.outstanding(10)).toBe(2);
    end();
    expect(replica!.outstanding(10)).toBe(1);
    expect(replica!.outstanding(500)).toBe(0);
  });
});

describe('forwardToFunctions against real replicas', () => {
  const options = (urls: string[], extra: Partial<Parameters<typeof forwardToFunctions>[1]> = {}, extraThreshold?: number) => ({
    pool: new ReplicaPool(urls, { failureThreshold: extraThreshold ?? 2, cooldownMs: 60_000, probeTimeoutMs: 60_000 }),
    maxAttempts: 3,
    attemptTimeoutMs: 2000,
    deadline: Date.now() + 10_000,
    requestId: 'forward-test',
    ...extra,
  });

  it('fails over from a dead replica, passes the request id, and opens the dead one\'s breaker', async () => {
    const [dead] = inject('deadReplicaUrls');
    const opts = options([dead!, inject('functionUrl')]);
    load(opts.pool.replicas[1], 100); // power of two choices then always tries the dead one first
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
    load(opts.pool.replicas[1], 100); // make power-of-two choices try the hung one first
    const started = Date.now();
    const { response, attempts } = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts);
    expect(response.status).toBe(200);
    expect(attempts).toBe(2);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('honours 429 Retry-After: goes elsewhere now and keeps away from that replica meanwhile', async () => {
    const opts = options([inject('busyReplicaUrl'), inject('functionUrl')]);
    load(opts.pool.replicas[1], 100);
    const first = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts);
    expect(first.attempts).toBe(2);
    const busy = opts.pool.replicas[0]!;
    expect(busy.notBefore).toBeGreaterThan(Date.now() + 25_000);
    expect(busy.breaker.state(Date.now())).toBe('closed'); // overloaded is not broken
    const second = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts);
    expect(second.attempts).toBe(1);
  });

  it('a 429 to batch work does not keep interactive requests away from that replica', async () => {
    const opts = options([inject('busyReplicaUrl'), inject('functionUrl')]);
    load(opts.pool.replicas[1], 100);
    const busy = opts.pool.replicas[0]!;
    const before = busy.notBefore;
    const first = await forwardToFunctions({ method: 'GET', path: '/v1/models', priority: 'batch' }, opts);
    expect(first.attempts).toBe(2);
    expect(busy.notBefore).toBe(before);
  });

  it('answers 429 queue_full with Retry-After when every replica tried is full (busy, not broken)', async () => {
    const opts = options([inject('busyReplicaUrl')]);
    const error = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'queue_full', status: 429 });
    expect((error as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(opts.pool.replicas[0]!.breaker.state(Date.now())).toBe('closed');
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

  it('a short caller deadline blames no replica: its timeouts leave the breaker closed', async () => {
    const short = options([inject('hungReplicaUrl')], { attemptTimeoutMs: 5000, deadline: Date.now() + 200 }, 1);
    await expect(forwardToFunctions({ method: 'GET', path: '/v1/models' }, short)).rejects.toMatchObject({ code: 'deadline_exceeded' });
    expect(short.pool.replicas[0]!.breaker.state(Date.now())).toBe('closed');
    // The same replica timing out with the full attempt timeout is blamed.
    const full = options([inject('hungReplicaUrl')], { attemptTimeoutMs: 200 }, 1);
    await expect(forwardToFunctions({ method: 'GET', path: '/v1/models' }, full)).rejects.toMatchObject({ code: 'not_ready' });
    expect(full.pool.replicas[0]!.breaker.state(Date.now())).toBe('open');
  });

  it('the last attempt running out of deadline is deadline_exceeded, not not_ready', async () => {
    const opts = options([inject('hungReplicaUrl')], { maxAttempts: 1, attemptTimeoutMs: 5000, deadline: Date.now() + 200 });
    await expect(forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts)).rejects.toMatchObject({ code: 'deadline_exceeded' });
  });

  it('a function\'s 503 deadline_exceeded moves on without blaming it; other 503s do blame it', async () => {
    const urls = [inject('scriptedReplicaUrl'), inject('functionUrl')];
    const deadline = options(urls, { requestId: 'answer-503-deadline_exceeded' }, 1);
    load(deadline.pool.replicas[1], 100);
    const moved = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, deadline);
    expect(moved.response.status).toBe(200);
    expect(moved.attempts).toBe(2);
    expect(deadline.pool.replicas[0]!.breaker.state(Date.now())).toBe('closed');

    const overloaded = options(urls, { requestId: 'answer-503-queue_full' }, 1);
    load(overloaded.pool.replicas[1], 100);
    expect((await forwardToFunctions({ method: 'GET', path: '/v1/models' }, overloaded)).attempts).toBe(2);
    expect(overloaded.pool.replicas[0]!.breaker.state(Date.now())).toBe('open');
  });

  it('a function refusing the edge (401/403: a FUNCTION_AUTH_TOKEN mismatch) is that replica\'s failure, never the caller\'s 401', async () => {
    const urls = [inject('scriptedReplicaUrl'), inject('functionUrl')];
    const moved = options(urls, { requestId: 'answer-401-unauthorized' }, 1);
    load(moved.pool.replicas[1], 100);
    const answer = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, moved);
    expect([answer.response.status, answer.attempts]).toEqual([200, 2]);
    expect(moved.pool.replicas[0]!.breaker.state(Date.now())).toBe('open');

    const alone = options([inject('scriptedReplicaUrl')], { requestId: 'answer-403-forbidden', maxAttempts: 1 });
    await expect(forwardToFunctions({ method: 'GET', path: '/v1/models' }, alone)).rejects.toMatchObject({
      code: 'not_ready',
      status: 503,
      message: expect.stringContaining('refused the edge: check FUNCTION_AUTH_TOKEN'),
    });
  });

  it('a 500 is final: not retried elsewhere and not blamed', async () => {
    const opts = options([inject('scriptedReplicaUrl'), inject('functionUrl')], { requestId: 'answer-500-internal' }, 1);
    load(opts.pool.replicas[1], 100);
    const { response, attempts } = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts);
    expect(response.status).toBe(500);
    expect(attempts).toBe(1);
    expect(opts.pool.replicas[0]!.breaker.state(Date.now())).toBe('closed');
  });

  it('a body that stalls after the headers is a failed attempt, retried elsewhere', async () => {
    const opts = options([inject('scriptedReplicaUrl'), inject('functionUrl')], { requestId: 'answer-stall', attemptTimeoutMs: 300 });
    load(opts.pool.replicas[1], 100);
    const { response, attempts, replicaUrl } = await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts);
    expect(attempts).toBe(2);
    expect(replicaUrl).toBe(inject('functionUrl'));
    expect(((await response.json()) as { models: unknown[] }).models.length).toBeGreaterThan(0);
  });

  it('caps a replica\'s Retry-After at the breaker cooldown', async () => {
    const opts = options([inject('scriptedReplicaUrl'), inject('functionUrl')], { requestId: 'answer-429-queue_full-retry-86400' });
    load(opts.pool.replicas[1], 100);
    await forwardToFunctions({ method: 'GET', path: '/v1/models' }, opts);
    expect(opts.pool.replicas[0]!.notBefore).toBeLessThanOrEqual(Date.now() + 60_000);
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
