/**
 * Byte progress of an upload or a read-back: a line at most every `intervalMs`, one when a large
 * file completes and one at the end, so a slow store shows how far it got and how fast it goes
 * without a line per small fixture file.
 */
const DEFAULT_INTERVAL_MS = 1_000;
/** A completed file this large always gets its line. */
const LARGE_FILE_BYTES = 1_000_000; // 1 MB

export type ProgressSink = (line: string) => void;

export class TransferProgress {
  readonly #what: string;
  readonly #totalBytes: number;
  readonly #totalFiles: number;
  readonly #sink: ProgressSink;
  readonly #intervalMs: number;
  readonly #startedAt = performance.now();
  #lastAt = this.#startedAt;
  #bytes = 0;
  #files = 0;

  constructor(what: string, totals: { bytes: number; files: number }, sink: ProgressSink, intervalMs = DEFAULT_INTERVAL_MS) {
    this.#what = what;
    this.#totalBytes = totals.bytes;
    this.#totalFiles = totals.files;
    this.#sink = sink;
    this.#intervalMs = intervalMs;
  }

  /** Counts `bytes` more of `file`; an arrow so it can be handed to a stream as a callback. */
  readonly add = (bytes: number, file: string): void => {
    this.#bytes += bytes;
    const now = performance.now();
    if (now - this.#lastAt < this.#intervalMs) return;
    this.#lastAt = now;
    this.#sink(this.#line(file));
  };

  /** `bytes`: the file's size, which decides whether its completion is worth a line. */
  fileDone(file: string, bytes = 0): void {
    this.#files++;
    const now = performance.now();
    if (bytes < LARGE_FILE_BYTES && this.#files < this.#totalFiles && now - this.#lastAt < this.#intervalMs) return;
    this.#lastAt = now;
    this.#sink(this.#line(file));
  }

  #line(file: string): string {
    const seconds = Math.max((performance.now() - this.#startedAt) / 1000, 1e-3);
    const percent = this.#totalBytes === 0 ? 100 : Math.floor((100 * this.#bytes) / this.#totalBytes);
    return (
      `${this.#what} ${this.#files}/${this.#totalFiles} files, ${formatBytes(this.#bytes)} of ${formatBytes(this.#totalBytes)} ` +
      `(${percent}%, ${formatBytes(this.#bytes / seconds)}/s) ${file}`
    );
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}
