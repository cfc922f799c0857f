/**
 * Byte progress of a set of parallel downloads, logged at most every `intervalMs` and once at the
 * end, so a slow start-up shows in the logs how far it got and how fast the store is.
 */
import type { Logger } from 'pino';

const DEFAULT_INTERVAL_MS = 500;
const BYTES_PER_MB = 1e6;

export class DownloadProgress {
  readonly #logger: Logger;
  readonly #totalBytes: number;
  readonly #files: number;
  readonly #intervalMs: number;
  readonly #startedAt = performance.now();
  #lastLoggedAt = this.#startedAt;
  #doneBytes = 0;

  constructor(logger: Logger, totalBytes: number, files: number, intervalMs = DEFAULT_INTERVAL_MS) {
    this.#logger = logger;
    this.#totalBytes = totalBytes;
    this.#files = files;
    this.#intervalMs = intervalMs;
  }

  /** Counts `bytes` more; an arrow so it can be handed to a stream as a callback. */
  readonly add = (bytes: number): void => {
    this.#doneBytes += bytes;
    const now = performance.now();
    if (now - this.#lastLoggedAt < this.#intervalMs) return;
    this.#lastLoggedAt = now;
    this.#logger.info(this.#fields(now), 'downloading model files');
  };

  finish(): void {
    this.#logger.info(this.#fields(performance.now()), 'downloaded model files');
  }

  #fields(now: number) {
    const seconds = Math.max((now - this.#startedAt) / 1000, 1e-3);
    return {
      files: this.#files,
      doneBytes: this.#doneBytes,
      totalBytes: this.#totalBytes,
      percent: this.#totalBytes === 0 ? 100 : Math.round((1000 * this.#doneBytes) / this.#totalBytes) / 10,
      seconds: Math.round(seconds * 100) / 100,
      mbPerSecond: Math.round((100 * this.#doneBytes) / BYTES_PER_MB / seconds) / 100,
    };
  }
}
