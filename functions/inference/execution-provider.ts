/**
 * Chooses where inference runs, at start and for each model version loaded: the CUDA execution
 * provider when it is installed, a GPU is visible and a session really opens with it; otherwise
 * the CPU. The reason travels with the choice so the start-up log and the model metadata
 * endpoint can say why.
 *
 * onnxruntime-node bundles only the CPU (and WebGPU) providers; the CUDA provider is two shared
 * libraries its install step downloads (README: ONNXRUNTIME_NODE_INSTALL=cuda12), so
 * listSupportedBackends() cannot tell whether CUDA is usable: it reports cuda as not bundled
 * whether or not the libraries were installed. The files themselves can.
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { CudaProbeResult } from './cuda-probe-worker.ts';
import { launchWorker } from './worker-launch.ts';
import type { ProviderName } from './worker-protocol.ts';

export type { ProviderName } from './worker-protocol.ts';
export type ProviderRequest = 'auto' | ProviderName;

export interface ProviderChoice {
  readonly provider: ProviderName;
  /** One sentence for logs and the metadata endpoint. */
  readonly reason: string;
}

export interface ProviderProbes {
  /** Why the CUDA provider libraries cannot be loaded, or null when they are installed. */
  cudaLibrariesMissing(): Promise<string | null>;
  /** Why no GPU is visible, or null when one is. */
  gpuMissing(): Promise<string | null>;
  /** Opens `graphPath` with CUDA (in a worker thread) and releases it; rejects with onnxruntime's reason. */
  openWithCuda(graphPath: string): Promise<void>;
}

export class ExecutionProviderError extends Error {
  override readonly name = 'ExecutionProviderError';
}

/** Both are required: the CUDA provider library and the bridge it is loaded through. */
const CUDA_LIBRARIES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

/**
 * `probeGraph` is the first graph to serve (a real session is opened with CUDA on it, since the
 * libraries can be present but unloadable: wrong CUDA or cuDNN version, driver mismatch).
 * 'cuda' requested but unusable throws; 'auto' falls back to the CPU, with a warning when a GPU
 * is visible (a misbuilt image or a driver problem) and quietly when there is none.
 */
export async function chooseExecutionProvider(options: {
  readonly requested: ProviderRequest;
  readonly probeGraph: string;
  readonly logger: Logger;
  readonly probes?: ProviderProbes;
}): Promise<ProviderChoice> {
  const { requested, probeGraph, logger } = options;
  if (requested === 'cpu') {
    const reason = 'CPU requested by configuration';
    logger.info({ provider: 'cpu', reason }, 'execution provider chosen');
    return { provider: 'cpu', reason };
  }
  const probes = options.probes ?? systemProbes;
  const noGpu = await probes.gpuMissing();
  let unusable = noGpu ?? (await probes.cudaLibrariesMissing());
  if (unusable === null) {
    try {
      await probes.openWithCuda(probeGraph);
    } catch (error) {
      unusable = `a session on ${probeGraph} did not open with CUDA: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  if (unusable === null) {
    const reason = `CUDA ${requested === 'cuda' ? 'requested' : 'chosen'}: provider installed, GPU visible, a test session opened`;
    logger.info({ provider: 'cuda', reason }, 'execution provider chosen');
    return { provider: 'cuda', reason };
  }
  if (requested === 'cuda') throw new ExecutionProviderError(`CUDA execution provider requested but unusable: ${unusable}`);
  const reason = `CUDA unusable (${unusable}); running on the CPU`;
  if (noGpu === null) logger.warn({ provider: 'cpu', reason }, 'GPU visible but the CUDA execution provider is unusable; falling back to CPU');
  else logger.info({ provider: 'cpu', reason }, 'execution provider chosen');
  return { provider: 'cpu', reason };
}

const execFileAsync = promisify(execFile);

export const systemProbes: ProviderProbes = {
  async cudaLibrariesMissing() {
    // The native binding sits in bin/napi-v6/<platform>/<arch>/ and loads providers from there.
    const packageDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    const binDir = join(packageDir, 'bin', 'napi-v6', process.platform, process.arch);
    for (const library of CUDA_LIBRARIES) {
      const found = await access(join(binDir, library)).then(() => true, () => false);
      if (!found) return `${library} is not installed in ${binDir}`;
    }
    return null;
  },

  async gpuMissing() {
    if (await access('/dev/nvidia0').then(() => true, () => false)) return null;
    // Some container runtimes expose the GPU without /dev/nvidia0 in the usual place.
    try {
      const { stdout } = await execFileAsync('nvidia-smi', ['-L'], { timeout: 10_000 });
      return stdout.includes('GPU') ? null : 'nvidia-smi lists no GPU';
    } catch {
      return 'no NVIDIA GPU visible (/dev/nvidia0 absent, nvidia-smi -L failed)';
    }
  },

  async openWithCuda(graphPath) {
    const worker = launchWorker(new URL('./cuda-probe-worker.ts', import.meta.url), import.meta.url, { graphPath });
    const result = await new Promise<CudaProbeResult>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the CUDA probe worker exited with code ${code} without an answer`)));
    });
    if (!result.ok) throw new Error(result.message);
  },
};
