/**
 * Runs in Node before the edge tests (which run inside workerd): builds the static assets if they are
 * out of date, starts one real inference function
 * serving the committed model, plus two stand-ins for misbehaving replicas that a real function
 * cannot be made to be on demand from inside workerd: one that accepts connections and never
 * answers (hung), one that answers 429 with Retry-After (overloaded). Dead replicas are simply
 * ports nobody listens on.
 */
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { EMBEDDED_MODEL_DIR } from '../../functions/config.ts';
import { buildPage } from '../page/build-page.ts';
import { freePort, startFunction, type FunctionProcess } from '../../tests/support/function-process.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    functionUrl: string;
    hungReplicaUrl: string;
    busyReplicaUrl: string;
    scriptedReplicaUrl: string;
    deadReplicaUrls: string[];
    circlePngBase64: string;
    squarePngBase64: string;
  }
}

let fn: FunctionProcess | undefined;
let hung: TcpServer | undefined;
let busy: Server | undefined;
let scripted: Server | undefined;
const hungSockets = new Set<Socket>();

async function listen(server: Server | TcpServer): Promise<string> {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

export async function setup(project: TestProject): Promise<void> {
  // wrangler.toml's [assets] directory must exist before the Workers pool starts (it refuses a
  // missing one); wrangler's [build] is not run by the pool. A no-op when the build is current.
  await buildPage();
  fn = await startFunction({ MODEL_SOURCE: EMBEDDED_MODEL_DIR, INFERENCE_WORKERS: '1', INTRA_OP_THREADS: '1' });
  await fn.waitUntilReady();

  hung = createTcpServer((socket) => {
    hungSockets.add(socket);
    socket.on('close', () => hungSockets.delete(socket));
  });
  busy = createHttpServer((_request, response) => {
    response.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' });
    response.end(JSON.stringify({ error: { code: 'queue_full', message: 'the inference queue is full' } }));
  });

  // Answers as its X-Request-Id says: "answer-<status>-<code>[-retry-<s>]" → that status with the
  // error code (and Retry-After); "answer-stall" → 200 headers and part of a body, then silence.
  scripted = createHttpServer((request, response) => {
    const id = String(request.headers['x-request-id'] ?? '');
    if (id === 'answer-stall') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"models": [');
      return;
    }
    const match = /^answer-(\d{3})-([a-z_]+)(?:-retry-(\d+))?$/.exec(id);
    const status = match === null ? 500 : Number(match[1]);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (match?.[3] !== undefined) headers['retry-after'] = match[3];
    response.writeHead(status, headers);
    response.end(JSON.stringify({ error: { code: match?.[2] ?? 'internal', message: `scripted ${status}` } }));
  });

  const samples = resolve(import.meta.dirname, '../../samples');
  project.provide('functionUrl', fn.url);
  project.provide('hungReplicaUrl', await listen(hung));
  project.provide('busyReplicaUrl', await listen(busy));
  project.provide('scriptedReplicaUrl', await listen(scripted));
  project.provide('deadReplicaUrls', await Promise.all(Array.from({ length: 8 }, async () => `http://127.0.0.1:${await freePort()}`)));
  project.provide('circlePngBase64', (await readFile(`${samples}/circle.png`)).toString('base64'));
  project.provide('squarePngBase64', (await readFile(`${samples}/square.png`)).toString('base64'));
}

export async function teardown(): Promise<void> {
  for (const socket of hungSockets) socket.destroy();
  scripted?.closeAllConnections();
  await Promise.all([
    fn?.stop(),
    new Promise((done) => (hung === undefined ? done(undefined) : hung.close(done))),
    new Promise((done) => (busy === undefined ? done(undefined) : busy.close(done))),
    new Promise((done) => (scripted === undefined ? done(undefined) : scripted.close(done))),
  ]);
}
