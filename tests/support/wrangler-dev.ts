/**
 * The edge Worker under `wrangler dev` (workerd with local bindings), started the way TOOLING.md
 * says works non-interactively: its own process group (workerd runs as a grandchild and would
 * outlive a plain kill of wrangler), no interactive session, metrics off, state in a temp folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort } from './function-process.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export interface WranglerDev {
  readonly url: string;
  readonly persistTo: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startWranglerDev(options: { vars: Record<string, string>; persistTo: string; readyTimeoutMs?: number }): Promise<WranglerDev> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const vars = Object.entries(options.vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]);
  const child: ChildProcess = spawn(
    resolve(ROOT, 'node_modules/.bin/wrangler'),
    ['dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort), '--show-interactive-dev-session=false', '--persist-to', options.persistTo, ...vars],
    { cwd: resolve(ROOT, 'edge'), detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' } },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.pid === undefined || child.exitCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return; // the group is gone already
    }
    const killer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000);
    await exited;
    clearTimeout(killer);
  };

  const until = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${output.slice(-3000)}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, persistTo: options.persistTo, output: () => output, stop };
    } catch {
      // not listening yet
    }
    await new Promise((wake) => setTimeout(wake, 200));
  }
  await stop();
  throw new Error(`wrangler dev not ready:\n${output.slice(-3000)}`);
}
