/**
 * The batch job's stall check, inside workerd with the real local Queue and its consumer (the
 * Worker's queue handler): a job whose queued items had their messages lost is noticed by its
 * alarm, which sends those messages again, and the consumer then works on them; a job that is
 * alive (changed or claimed lately) is left alone. Losing a message is simulated by writing the
 * item's state directly, since nothing outside can drop a message from a queue.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { BatchJobNamespace } from '../src/bindings.ts';
import type { JobSpec } from '../src/batch/batch-job.ts';

const jobs = env['BATCH_JOBS'] as BatchJobNamespace;
const MINUTES = 60_000;

function spec(keyId: string): JobSpec {
  return {
    keyId,
    fingerprint: `fingerprint-${keyId}`,
    origin: 'https://edge.test',
    model: { name: 'sa-munit-shapes', version: 'test' },
    direction: 'a2b',
    webhook: null,
    quotaMonth: null,
    items: [{ name: 'lost.png', params: { direction: 'a2b', n: 1, format: 'png', quality: 90, fit: 'cover', keep_aspect: false, seed: 7 } }],
  };
}

/** A job whose one item is queued with no message behind it, last changed `idleMs` ago. */
async function jobWithLostMessage(keyId: string, idleMs: number) {
  const stub = jobs.get(jobs.newUniqueId() as never);
  await stub.create(spec(keyId));
  await runInDurableObject(stub, async (_instance, state) => {
    const then = Date.now() - idleMs;
    state.storage.sql.exec(`UPDATE items SET status = 'queued'`);
    state.storage.sql.exec('UPDATE job SET updated_at = ?, seen_at = ?', then, then);
    await state.storage.setAlarm(Date.now() + 10 * MINUTES); // run by the test (runDurableObjectAlarm), not by the clock
  });
  return stub;
}

async function attemptsAfter(stub: ReturnType<typeof jobs.get>, keyId: string, waitMs: number): Promise<number> {
  const until = Date.now() + waitMs;
  for (;;) {
    const page = await stub.results(keyId, -1, 10, undefined);
    const attempts = page!.items[0]!.attempts;
    if (attempts > 0 || Date.now() > until) return attempts;
    await new Promise((wake) => setTimeout(wake, 100));
  }
}

describe('a batch job whose queued items lost their messages', () => {
  it('sends them again from its alarm once it has been still for the stall time, and the consumer takes them', async () => {
    const stub = await jobWithLostMessage('stall-key', 6 * MINUTES);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // The consumer claimed it (its image was never uploaded, so it then fails: what matters is that it ran).
    expect(await attemptsAfter(stub, 'stall-key', 15_000)).toBeGreaterThan(0);
  });

  it('leaves a job alone that changed or was claimed within the stall time', async () => {
    const stub = await jobWithLostMessage('alive-key', 1 * MINUTES);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await attemptsAfter(stub, 'alive-key', 3000)).toBe(0);
  });
});
