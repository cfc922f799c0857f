/**
 * `.local/dev-keys.json`: the local stack's keys (`npm start` writes it, infra/local/dev-keys.ts),
 * read by the CLI client (client/) as its default when talking to a local edge. A token is shown
 * only once and the key store keeps its sha256, so this file is the only copy: owner-only.
 */
import { z } from 'zod';

export const DEV_KEYS_FILE_NAME = 'dev-keys.json';

export const devKeysFileSchema = z.object({
  edgeUrl: z.string(),
  secretKey: z.string().startsWith('sk_'),
  publishableKey: z.string().startsWith('pk_'),
  /** The origins the publishable key is registered for (the edge's own page). */
  publishableOrigins: z.array(z.string()),
});
export type DevKeysFile = z.infer<typeof devKeysFileSchema>;
