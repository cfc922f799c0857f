/**
 * The whole service on one machine, with no cloud account: a local S3-protocol store seeded with
 * the committed demo model → one inference function on CPU reading the model from that store →
 * the edge Worker under `wrangler dev` (local R2, KV, Durable Objects) forwarding to it, with a
 * development key. `npm start` (start.ts) runs it for people; the browser tests run it for tests.
 *
 * State lives in one data folder (default .local/): the store's objects, the edge's local
 * bindings, the function's model cache and the dev keys, so a second start reuses all of them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { EMBEDDED_MODEL_DIR } from '../../functions/config.ts';
import { ensureDevKeys, type DevKeys } from './dev-keys.ts';
import { startObjectStore, type LocalObjectStore } from './object-store.ts';
import { startEdgeDev } from './edge-dev.ts';
import { startSupervised, type SupervisedProcess } from './supervised-process.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const MODEL_BUCKET = 'sa-munit-models';
/** The function's own drain limit (SHUTDOWN_GRACE_MS, 30 s by default) and a margin, before SIGKILL. */
const FUNCTION_STOP_GRACE_MS = 35_000;

export interface LocalStackOptions {
  /** Folder for everything the stack keeps between starts. */
  readonly dataDir: string;
  /** 0 picks a free port. */
  readonly edgePort: number;
  readonly functionPort: number;
  readonly storePort: number;
  /** A model export folder to seed and serve (default: the committed demo model). */
  readonly modelDir?: string | undefined;
  readonly readyTimeoutMs?: number;
  /** Progress messages ("seeding…", "edge ready"). */
  readonly onStatus?: (message: string) => void;
  /** Every output line of the function and the edge, by process name. */
  readonly onProcessLine?: ((name: string, line: string) => void) | undefined;
  /** Extra environment for the function (tests size its worker pool with these). */
  readonly functionEnv?: Readonly<Record<string, string>>;
  /** Extra wrangler vars for the edge (tests shorten timeouts with these). */
  readonly edgeVars?: Readonly<Record<string, string>>;
  /** Aborting it during start-up stops what has started and rejects. */
  readonly signal?: AbortSignal;
}

export interface LocalStack {
  readonly edgeUrl: string;
  readonly functionUrl: string;
  readonly storeEndpoint: string;
  readonly modelSource: string;
  readonly model: { readonly name: string; readonly version: string; readonly seeded: boolean };
  readonly keys: DevKeys & { readonly reused: boolean };
  /** The edge's local persistence folder (its key store lives there; see edge/cli/keys.ts --persist-to). */
  readonly edgePersistDir: string;
  /** Resolves when a process of the stack ends without stop() having been called. */
  readonly crashed: Promise<{ name: string; code: number | null; signal: NodeJS.Signals | null; lastLines: string[] }>;
  stop(): Promise<void>;
}

/** Fails with the port and its option named when something else listens there already. */
async function claimPort(port: number, name: string): Promise<number> {
  const server = createServer();
  try {
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(port, '127.0.0.1', done);
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`${name} port ${port} is not free (${code ?? String(error)}): stop what uses it or choose another port (see npm start -- --help)`);
  }
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === 'string') throw new Error(`no port for ${name}`);
  return address.port;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const status = options.onStatus ?? (() => {});
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const dataDir = resolve(options.dataDir);
  const edgePersistDir = join(dataDir, 'edge');
  await mkdir(edgePersistDir, { recursive: true });

  const edgePort = await claimPort(options.edgePort, 'edge');
  const functionPort = await claimPort(options.functionPort, 'function');
  const storePort = await claimPort(options.storePort, 'object store');
  const inspectorPort = await claimPort(0, 'edge inspector');

  const processes: SupervisedProcess[] = [];
  let store: LocalObjectStore | undefined;
  // One stop for every caller (a crash and a Ctrl-C during the drain wait for the same one).
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // The edge first, so nothing new reaches the function while it drains.
      for (const child of [...processes].reverse()) await child.stop(child.name === 'function' ? FUNCTION_STOP_GRACE_MS : undefined);
      // Only now: should this process die while stopping, the exit handler still kills the rest.
      process.off('exit', killOnExit);
      await store?.stop();
    })());
  // If this process dies abruptly, the children (own process groups) must not outlive it.
  const killOnExit = () => {
    for (const child of processes) child.killNow();
  };
  process.on('exit', killOnExit);

  // Every wait during start-up also ends when the caller gives up.
  const unlessAborted = <T>(work: Promise<T>): Promise<T> =>
    options.signal === undefined
      ? work
      : Promise.race([
          work,
          new Promise<never>((_, fail) => {
            const abort = () => fail(new Error('stopped before the stack was ready'));
            if (options.signal!.aborted) abort();
            else options.signal!.addEventListener('abort', abort, { once: true });
          }),
        ]);

  try {
    status(`object store: ${join(dataDir, 'object-store')}`);
    store = await unlessAborted(startObjectStore({ directory: join(dataDir, 'object-store'), port: storePort, bucket: MODEL_BUCKET }));
    const seeded = await unlessAborted(store.seedModel(options.modelDir ?? EMBEDDED_MODEL_DIR, (line) => status(`publish: ${line}`)));
    status(`${seeded.uploaded ? 'published' : 'found'} model ${seeded.name} ${seeded.version}; serving ${seeded.source} (current.json)`);

    const functionUrl = `http://127.0.0.1:${functionPort}`;
    // As in production: the function answers only the edge (a fresh token per start).
    const functionToken = randomBytes(24).toString('base64url');
    const onLine = (name: string) => (line: string) => options.onProcessLine?.(name, line);
    const fn = startSupervised({
      name: 'function',
      command: process.execPath,
      args: ['--import', 'tsx', 'functions/main.ts'],
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '/tmp',
        HOST: '127.0.0.1',
        PORT: String(functionPort),
        LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info',
        MODEL_SOURCE: seeded.source,
        MODEL_CACHE_DIR: join(dataDir, 'model-cache'),
        FUNCTION_AUTH_TOKEN: functionToken,
        ...store.env,
        ...options.functionEnv,
      },
      onLine: onLine('function'),
    });
    processes.push(fn);
    status(`function starting (pid ${fn.child.pid})`);

    status('creating or reusing the development keys');
    const keys = await unlessAborted(ensureDevKeys({ dataDir, edgePersistDir, edgePort }));

    const edgeUrl = `http://127.0.0.1:${edgePort}`;
    const vars = { FUNCTION_POOL: functionUrl, FUNCTION_AUTH_TOKEN: functionToken, PAGE_PUBLISHABLE_KEY: keys.publishableKey, ...options.edgeVars };
    const edge = startEdgeDev({ port: edgePort, inspectorPort, persistTo: edgePersistDir, vars, onLine: onLine('edge') });
    processes.push(edge);
    status(`edge starting under wrangler dev (pid ${edge.child.pid})`);

    status('waiting for the function (model download, verification, warm-up) and the edge');
    await unlessAborted(Promise.all([fn.waitUntilReady(`${functionUrl}/v2/health/ready`, readyTimeoutMs), edge.waitUntilReady(`${edgeUrl}/healthz`, readyTimeoutMs)]));
    // The edge's readiness includes reaching the function through its pool.
    await unlessAborted(edge.waitUntilReady(`${edgeUrl}/readyz`, readyTimeoutMs));

    const crashed = new Promise<Awaited<LocalStack['crashed']>>((report) => {
      for (const child of processes) {
        void child.exited.then(({ code, signal }) => {
          if (!child.stopping) report({ name: child.name, code, signal, lastLines: child.lastLines() });
        });
      }
    });
    return {
      edgeUrl,
      functionUrl,
      storeEndpoint: store.endpoint,
      modelSource: seeded.source,
      model: { name: seeded.name, version: seeded.version, seeded: seeded.uploaded },
      keys,
      edgePersistDir,
      crashed,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
