/**
 * `npm start`, the README's run command, as a user runs it: a real process tree (object store,
 * function, wrangler dev) on free loopback ports with its state in a temp folder. It translates
 * with the key it prints, serves the page, stops every process on Ctrl-C (SIGINT), reuses what the
 * first start seeded, reports a crashed child with its last lines, and names a busy port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { freePort } from './support/function-process.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

interface StartedStack {
  readonly child: ChildProcess;
  /** What a terminal does on Ctrl-C: SIGINT to every process of the foreground job. */
  ctrlC(): void;
  kill(): void;
  output(): string;
  /** Resolves with the first match of `pattern` in the output (rejects if the process exits first). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  readonly exited: Promise<number | null>;
}

function npmStart(args: string[]): StartedStack {
  // Its own process group, like a shell job: Ctrl-C in a terminal signals the whole group.
  const child = spawn('npm', ['start', '--silent', '--', ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let text = '';
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group has ended
    }
  };
  return {
    child,
    ctrlC: () => signalGroup('SIGINT'),
    kill: () => signalGroup('SIGKILL'),
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 150_000) {
      return new Promise((done, fail) => {
        const check = () => {
          const match = pattern.exec(text);
          if (match !== null) {
            cleanup();
            done(match);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          fail(new Error(`no ${pattern} in the output after ${timeoutMs} ms:\n${text.slice(-3000)}`));
        }, timeoutMs);
        void exited.then((code) => {
          check();
          cleanup();
          fail(new Error(`npm start exited (${code}) without ${pattern}:\n${text.slice(-3000)}`));
        });
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  try {
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(port, '127.0.0.1', done);
    });
    await new Promise((done) => server.close(done));
    return true;
  } catch {
    return false;
  }
}

/** Whether process group `pgid` is empty within a few seconds (killed processes are reaped asynchronously). */
async function groupEnds(pgid: number): Promise<boolean> {
  for (const until = Date.now() + 5000; Date.now() < until; await new Promise((wake) => setTimeout(wake, 100))) {
    try {
      process.kill(-pgid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
      throw error;
    }
  }
  return false;
}

const bannerValue = (output: string, label: string): string => {
  const match = new RegExp(`^  ${label} +(\\S+)`, 'm').exec(output);
  if (match === null) throw new Error(`no "${label}" line in the banner:\n${output.slice(-2000)}`);
  return match[1]!;
};

let dataDir = '';
let circle: Buffer;
const running = new Set<StartedStack>();

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'local-stack-'));
  circle = await readFile(join(ROOT, 'samples/circle.png'));
});

afterAll(async () => {
  for (const stack of running) {
    stack.ctrlC();
    const killer = setTimeout(() => stack.kill(), 30_000);
    await stack.exited;
    clearTimeout(killer);
  }
  await rm(dataDir, { recursive: true, force: true });
});

/** A start with a fresh seed and keys, on a busy 2-core machine, then a stop. */
const STACK_TEST_MS = 300_000;

describe('npm start (the local stack)', () => {
  let firstKey = '';
  let edgePort = 0;

  it('starts store, function and edge, prints URLs and a key that translates, serves the page, and stops everything on Ctrl-C', async () => {
    edgePort = await freePort();
    const stack = npmStart(['--edge-port', String(edgePort), '--function-port', '0', '--store-port', '0', '--data-dir', dataDir]);
    running.add(stack);
    await stack.waitFor(/Ctrl-C stops everything/);
    const output = stack.output();
    expect(output).toMatch(/published model sa-munit-shapes /);
    const pageUrl = bannerValue(output, 'web page');
    const functionUrl = bannerValue(output, 'function');
    const storeUrl = bannerValue(output, 'object store');
    firstKey = bannerValue(output, 'secret key');
    expect(firstKey).toMatch(/^sk_/);
    expect(bannerValue(output, 'page key')).toMatch(/^pk_/);

    const response = await fetch(`${pageUrl}v1/translations?direction=a2b&seed=7`, {
      method: 'POST',
      headers: { authorization: `Bearer ${firstKey}`, 'content-type': 'image/png' },
      body: circle,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-model-name')).toBe('sa-munit-shapes');
    const meta = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);

    // The function answers only the edge (a per-start caller token), its probes anyone.
    expect((await fetch(`${functionUrl}/v1/models`)).status).toBe(401);
    expect((await fetch(`${functionUrl}/v2/health/ready`)).status).toBe(200);

    const page = await fetch(pageUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);

    const ports = [pageUrl, functionUrl, storeUrl].map((url) => Number(new URL(url).port));
    stack.ctrlC();
    await stack.exited; // npm's own status on SIGINT is its signal; what matters is what it ran:
    running.delete(stack);
    expect(stack.output()).toMatch(/\[stack\] SIGINT: stopping[^]*\[function\] stopped[^]*\[stack\] everything stopped/);
    for (const port of ports) expect(await portIsFree(port)).toBe(true);
    // No process outlived the stack: each printed pid leads its own process group (wrangler's
    // group holds workerd and the page build too), and every member of those groups is gone.
    for (const [, pid] of stack.output().matchAll(/\(pid (\d+)\)/g)) expect(await groupEnds(Number(pid))).toBe(true);
  }, STACK_TEST_MS);

  it('reuses the seeded model and the keys on a second start, and reports a crashed child with its last lines', async () => {
    const stack = npmStart(['--edge-port', String(edgePort), '--function-port', '0', '--store-port', '0', '--data-dir', dataDir]);
    running.add(stack);
    await stack.waitFor(/Ctrl-C stops everything/);
    const output = stack.output();
    expect(output).toMatch(/found model sa-munit-shapes /);
    expect(bannerValue(output, 'secret key')).toBe(firstKey);
    expect(output).toMatch(/keys file .*\(reused\)/);

    const functionPid = Number(/function starting \(pid (\d+)\)/.exec(output)![1]);
    process.kill(functionPid, 'SIGKILL');
    expect(await stack.exited).toBe(1);
    running.delete(stack);
    expect(stack.output()).toMatch(/the function stopped unexpectedly \(SIGKILL\); its last lines:\n {2}\S/);
    expect(stack.output()).toMatch(/stopping the rest/);
    const edgePid = Number(/edge starting under wrangler dev \(pid (\d+)\)/.exec(output)![1]);
    expect(await groupEnds(edgePid)).toBe(true);
  }, STACK_TEST_MS);

  it('names a port that is taken, and a bad option, without starting anything', async () => {
    const blocker: Server = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const taken = (blocker.address() as { port: number }).port;
    try {
      const stack = npmStart(['--edge-port', String(taken), '--function-port', '0', '--store-port', '0', '--data-dir', dataDir]);
      expect(await stack.exited).toBe(1);
      expect(stack.output()).toContain(`edge port ${taken} is not free`);
      expect(stack.output()).not.toMatch(/function starting/);
    } finally {
      blocker.close();
    }
    const bad = npmStart(['--edge-port', 'eighty']);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toContain('--edge-port / EDGE_PORT must be a port number');
  });
});
