/**
 * Worker-thread entry: owns one onnxruntime session per graph and runs them on request.
 *
 * onnxruntime-node's run() is synchronous native code that holds its thread for the whole
 * inference; here that thread is this worker's, so the service's event loop keeps answering
 * health checks, metrics and new uploads meanwhile. Runs arrive one at a time per worker
 * (messages queue while a run holds the thread), so a session is never entered concurrently.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { openGraphSession } from '../lib/onnx-session.ts';
import { ownedForTransfer, type TensorData } from './tensor-data.ts';
import type { FromWorker, ToWorker, WorkerSetup } from './worker-protocol.ts';

if (parentPort === null) throw new Error('inference-worker.ts must run in a worker thread');
const port = parentPort;
const setup = workerData as WorkerSetup;
const sessions = new Map<string, InferenceSession>();

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

async function openAll(): Promise<void> {
  const started = performance.now();
  let opening = '';
  try {
    for (const [file, path] of setup.graphs) {
      opening = file;
      sessions.set(
        file,
        await openGraphSession(path, { executionProviders: [setup.provider], intraOpNumThreads: setup.intraOpThreads }),
      );
    }
  } catch (error) {
    send({ type: 'open-failed', message: `${opening}: ${messageOf(error)}` });
    await releaseAll();
    port.close();
    return;
  }
  send({ type: 'ready', openMs: performance.now() - started });
}

async function run(id: number, graph: string, feeds: Record<string, TensorData>): Promise<void> {
  const session = sessions.get(graph);
  if (session === undefined) {
    send({ type: 'run-failed', id, message: `graph ${graph} is not loaded in this worker` });
    return;
  }
  try {
    const tensors = Object.fromEntries(
      Object.entries(feeds).map(([name, t]) => [name, new Tensor('float32', t.data, t.dims)]),
    );
    const results = await session.run(tensors);
    const outputs: Record<string, TensorData> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, tensor] of Object.entries(results)) {
      if (tensor.type !== 'float32') throw new Error(`output ${name} is ${tensor.type}, expected float32`);
      const owned = ownedForTransfer({ data: tensor.data as Float32Array, dims: [...tensor.dims] });
      outputs[name] = owned.tensor;
      if (!transfer.includes(owned.buffer)) transfer.push(owned.buffer);
    }
    send({ type: 'result', id, outputs }, transfer);
  } catch (error) {
    send({ type: 'run-failed', id, message: `graph ${graph}: ${messageOf(error)}` });
  }
}

async function releaseAll(): Promise<void> {
  const open = [...sessions.values()];
  sessions.clear();
  await Promise.allSettled(open.map((session) => session.release()));
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'run':
      void run(message.id, message.graph, message.feeds);
      break;
    case 'close':
      // Closing the port ends the thread once the sessions are released: a clean exit code 0,
      // which the pool tells apart from a crash.
      void releaseAll().then(() => port.close());
      break;
    case 'crash':
      // Thrown synchronously, so runs whose messages arrived with this one never start.
      throw new Error('simulated inference worker crash');
  }
});

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

await openAll();
