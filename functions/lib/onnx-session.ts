/**
 * Opens one ONNX graph in onnxruntime-node with the settings every caller must share, so the
 * parity tests and the benchmark measure exactly what the service runs.
 */
import { InferenceSession } from 'onnxruntime-node';

export type ExecutionProvider = InferenceSession.ExecutionProviderConfig;

export interface SessionSettings {
  /** Tried in order; onnxruntime falls back along the list. Default: CPU only. */
  readonly executionProviders?: readonly ExecutionProvider[];
  /** Threads inside one operator; default lets onnxruntime use every core. */
  readonly intraOpNumThreads?: number;
}

export async function openGraphSession(path: string, settings: SessionSettings = {}): Promise<InferenceSession> {
  return InferenceSession.create(path, {
    executionProviders: settings.executionProviders ?? ['cpu'],
    graphOptimizationLevel: 'all',
    // The graphs are one chain of convolutions: parallel execution of branches buys nothing.
    executionMode: 'sequential',
    ...(settings.intraOpNumThreads === undefined ? {} : { intraOpNumThreads: settings.intraOpNumThreads }),
    // 3 = errors only: the default warnings about unused initialisers are noise in a CLI.
    logSeverityLevel: 3,
  });
}
