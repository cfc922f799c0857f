/**
 * Worker-thread entry: opens one graph with the CUDA execution provider and reports whether it
 * opened. Off the main thread because creating a CUDA session (context, cuDNN, weights to the
 * device) can take seconds of synchronous native work, and the probe runs again at every model
 * load while the service is answering requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openGraphSession } from '../lib/onnx-session.ts';

export type CudaProbeResult = { readonly ok: true } | { readonly ok: false; readonly message: string };

const { graphPath } = workerData as { graphPath: string };
let result: CudaProbeResult;
try {
  const session = await openGraphSession(graphPath, { executionProviders: ['cuda'] });
  await session.release();
  result = { ok: true };
} catch (error) {
  result = { ok: false, message: error instanceof Error ? error.message : String(error) };
}
parentPort?.postMessage(result);
