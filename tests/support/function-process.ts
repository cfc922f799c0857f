/**
 * The inference function as a real child process, started exactly like the container's entry point
 * (`node --import tsx functions/main.ts`), on a free loopback port, with its JSON logs captured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export interface FunctionProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Every log line so far, parsed (non-JSON lines kept as { msg }). */
  logs(): Record<string, unknown>[];
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  waitUntilReady(timeoutMs?: number): Promise<void>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export async function startFunction(env: Record<string, string>): Promise<FunctionProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'functions/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    for (const text of chunk.toString('utf8').split('\n')) {
      if (text.trim() === '') continue;
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        lines.push({ msg: text });
      }
    }
    for (const wake of waiters) wake();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const url = `http://127.0.0.1:${port}`;

  const waitForLog: FunctionProcess['waitForLog'] = (predicate, timeoutMs = 60_000) =>
    new Promise((done, fail) => {
      const check = () => {
        const found = lines.find(predicate);
        if (found !== undefined) {
          cleanup();
          done(found);
        } else if (child.exitCode !== null) {
          cleanup();
          fail(new Error(`function exited (${child.exitCode}) before the expected log line; last lines:\n${tail()}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        fail(new Error(`timed out waiting for a log line; last lines:\n${tail()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', check);
      };
      waiters.add(check);
      child.on('exit', check);
      check();
    });

  const tail = () => lines.slice(-15).map((line) => JSON.stringify(line)).join('\n');

  return {
    url,
    port,
    child,
    logs: () => [...lines],
    waitForLog,
    async waitUntilReady(timeoutMs = 90_000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        if (child.exitCode !== null) throw new Error(`function exited (${child.exitCode}); last lines:\n${tail()}`);
        try {
          const response = await fetch(`${url}/v2/health/ready`);
          if (response.ok) return;
        } catch {
          // not listening yet
        }
        await new Promise((wake) => setTimeout(wake, 100));
      }
      throw new Error(`function not ready after ${timeoutMs} ms; last lines:\n${tail()}`);
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode; // already gone (a test's SIGKILL)
      const exited = once(child, 'exit');
      child.kill(signal);
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}
