/**
 * The edge Worker under `wrangler dev` (workerd with local R2, KV, Durable Objects and rate
 * limits), started the way shared/TOOLING.md found works non-interactively: no interactive
 * session, no metrics, CI=true (wrangler asks nothing), its own process group, state in one folder.
 * Used by the local stack, the tests and the edge benchmark.
 */
import { resolve } from 'node:path';
import { startSupervised, type SupervisedProcess } from './supervised-process.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export interface EdgeDevOptions {
  readonly port: number;
  readonly inspectorPort: number;
  /** Local bindings' state (wrangler's --persist-to); the keys CLI reads the same folder. */
  readonly persistTo: string;
  /** Wrangler vars on top of edge/wrangler.toml's. */
  readonly vars: Readonly<Record<string, string>>;
  readonly onLine?: ((line: string) => void) | undefined;
}

export function startEdgeDev(options: EdgeDevOptions): SupervisedProcess {
  return startSupervised({
    name: 'edge',
    command: resolve(ROOT, 'node_modules/.bin/wrangler'),
    args: [
      'dev',
      '--ip', '127.0.0.1',
      '--port', String(options.port),
      '--inspector-port', String(options.inspectorPort),
      '--show-interactive-dev-session=false',
      '--persist-to', options.persistTo,
      ...Object.entries(options.vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
    ],
    cwd: resolve(ROOT, 'edge'),
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
    onLine: options.onLine,
  });
}
