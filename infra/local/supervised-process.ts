/**
 * A child process of the local stack: started in its own process group (wrangler runs workerd as a
 * grandchild, which would outlive a plain kill of wrangler), its output kept as the last lines for
 * a crash report, readiness polled over HTTP, and stopped as a whole group: SIGTERM, then SIGKILL
 * after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** Lines of output kept per process: enough for a stack trace, bounded for a long session. */
const KEPT_LINES = 40;

export interface SupervisedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** The last lines the process wrote (stdout and stderr interleaved). */
  lastLines(): string[];
  /** Resolves once `url` answers 2xx; rejects with the last lines if the process exits first. */
  waitUntilReady(url: string, timeoutMs: number): Promise<void>;
  /** Resolves with the exit code (or signal) when the process ends, whoever ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once stop() was called: an exit after that is not a crash. */
  readonly stopping: boolean;
  stop(graceMs?: number): Promise<void>;
  /** Synchronous last resort (process 'exit' handler): SIGKILL to the whole group. */
  killNow(): void;
}

export interface SpawnOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Called with every complete output line, e.g. to print it with a prefix. */
  readonly onLine?: ((line: string) => void) | undefined;
}

export function startSupervised(options: SpawnOptions): SupervisedProcess {
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const collector = () => {
    let partial = '';
    return (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        if (line.trim() === '') continue;
        lines.push(line);
        if (lines.length > KEPT_LINES) lines.shift();
        options.onLine?.(line);
      }
    };
  };
  child.stdout?.on('data', collector());
  child.stderr?.on('data', collector());

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.once('exit', (code, signal) => done({ code, signal }));
    // A spawn failure (missing executable) emits 'error' and no 'exit'.
    child.once('error', () => done({ code: child.exitCode ?? -1, signal: null }));
  });
  let ended = false;
  void exited.then(() => (ended = true));
  let stopping = false;

  const signalGroup = (signal: NodeJS.Signals, evenAfterExit = false) => {
    if (child.pid === undefined || (ended && !evenAfterExit)) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };

  return {
    name: options.name,
    child,
    exited,
    get stopping() {
      return stopping;
    },
    lastLines: () => [...lines],
    async waitUntilReady(url, timeoutMs) {
      const until = Date.now() + timeoutMs;
      let lastProblem = 'no answer yet';
      while (Date.now() < until) {
        if (ended) throw new Error(`${options.name} exited before it was ready (code ${child.exitCode ?? child.signalCode}); last lines:\n${lines.join('\n')}`);
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
          if (response.ok) return;
          lastProblem = `${url} answered ${response.status}`;
          await response.body?.cancel();
        } catch (error) {
          lastProblem = error instanceof Error ? error.message : String(error);
        }
        await new Promise((wake) => setTimeout(wake, 200));
      }
      throw new Error(`${options.name} not ready after ${Math.round(timeoutMs / 1000)} s (${lastProblem}); last lines:\n${lines.join('\n')}`);
    },
    async stop(graceMs = 10_000) {
      stopping = true;
      if (ended) return;
      signalGroup('SIGTERM');
      const killer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
      // workerd may still be running in the group after wrangler itself exited.
      signalGroup('SIGKILL', true);
    },
    killNow() {
      stopping = true;
      // Not after the group has ended: its id may belong to another process group by now.
      signalGroup('SIGKILL');
    },
  };
}
