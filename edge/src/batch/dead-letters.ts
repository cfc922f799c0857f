/**
 * The dead-letter queue's consumer: a message lands here after max_retries failed deliveries, or
 * at once when the function refused the item (batch-consumer.ts). Either way the item is recorded
 * as failed in its job, with the refusal or the last reason its job kept, so the job can finish and
 * its owner can read why. The dead-letter queue keeps nothing else: the job is the record.
 */
import type { BatchItemMessage } from '../../../contract/batch-api.ts';
import type { EdgeBindings, QueueBatch } from '../bindings.ts';
import { loadConfig } from '../config.ts';

export async function consumeDeadLetters(batch: QueueBatch<BatchItemMessage>, env: EdgeBindings): Promise<void> {
  const { batch: settings } = loadConfig(env);
  await Promise.all(
    batch.messages.map(async (message) => {
      try {
        const job = settings.jobs.get(settings.jobs.idFromString(message.body.job) as never);
        await job.deadLetter(message.body.index, message.body.refusal);
        console.warn(JSON.stringify({ level: 'warn', msg: 'batch item dead-lettered', job: message.body.job, index: message.body.index, refusal: message.body.refusal?.code ?? null, deliveries: message.attempts }));
        message.ack();
      } catch (error) {
        console.error(JSON.stringify({ level: 'error', msg: 'dead letter not recorded', job: message.body.job, index: message.body.index, error: String(error) }));
        message.retry({ delaySeconds: 5 });
      }
    }),
  );
}
