/** The Worker's entry point (edge/wrangler.toml `main`): HTTP, and the batch queues' consumers. */
import type { BatchItemMessage } from '../../contract/batch-api.ts';
import { createApp } from './app.ts';
import { consumeBatchItems } from './batch/batch-consumer.ts';
import { consumeDeadLetters } from './batch/dead-letters.ts';
import type { BackgroundWork, EdgeBindings, QueueBatch } from './bindings.ts';

export { BatchJob } from './batch/batch-job.ts';
export { KeyQuota } from './quota/key-quota.ts';

const app = createApp();

/** edge/wrangler.toml names every dead-letter queue with this suffix; the Worker consumes both kinds. */
const DEAD_LETTER_SUFFIX = '-dlq';

export default {
  fetch(request: Request, env: EdgeBindings, ctx: BackgroundWork & { passThroughOnException(): void; props: unknown }): Response | Promise<Response> {
    return app.fetch(request, env, ctx);
  },
  queue(batch: QueueBatch<BatchItemMessage>, env: EdgeBindings): Promise<void> {
    return batch.queue.endsWith(DEAD_LETTER_SUFFIX) ? consumeDeadLetters(batch, env) : consumeBatchItems(batch, env);
  },
};
