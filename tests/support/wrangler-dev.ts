/**
 * The edge under `wrangler dev` for tests and benchmarks: infra/local/edge-dev.ts on free ports,
 * its output kept for failure messages.
 */
import { startEdgeDev } from '../../infra/local/edge-dev.ts';
import { freePort } from './function-process.ts';

export interface WranglerDev {
  readonly url: string;
  readonly persistTo: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startWranglerDev(options: {
  vars: Record<string, string>;
  persistTo: string;
  readyTimeoutMs?: number;
  /** Every output line, for a caller that keeps the whole log (output() has the last lines only). */
  onLine?: (line: string) => void;
}): Promise<WranglerDev> {
  const port = await freePort();
  const edge = startEdgeDev({ port, inspectorPort: await freePort(), persistTo: options.persistTo, vars: options.vars, onLine: options.onLine });
  const url = `http://127.0.0.1:${port}`;
  try {
    await edge.waitUntilReady(`${url}/healthz`, options.readyTimeoutMs ?? 60_000);
  } catch (error) {
    await edge.stop(5000);
    throw error;
  }
  return { url, persistTo: options.persistTo, output: () => edge.lastLines().join('\n'), stop: () => edge.stop(5000) };
}
