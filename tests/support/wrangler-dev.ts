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
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const edge = startEdgeDev({ port, inspectorPort: await freePort(), persistTo: options.persistTo, vars: options.vars, onLine: options.onLine });
    const url = `http://127.0.0.1:${port}`;
    try {
      await edge.waitUntilReady(`${url}/healthz`, options.readyTimeoutMs ?? 60_000);
      return { url, persistTo: options.persistTo, output: () => edge.lastLines().join('\n'), stop: () => edge.stop(5000) };
    } catch (error) {
      await edge.stop(5000);
      // wrangler rebuilds once its watcher is ready and restarts workerd; now and then, on a busy
      // machine, the new workerd binds before the old one has let the port go and wrangler exits
      // ("Address already in use" on its own port). That start is retried once, on fresh ports.
      const ownPortRace = edge.lastLines().some((line) => line.includes('Address already in use'));
      if (!ownPortRace || attempt >= 2) throw error;
    }
  }
}
