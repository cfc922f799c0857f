/**
 * How far a batch run is, on stderr: a redrawn bar (cli-progress) when stderr is a terminal, else
 * one plain line every few seconds, so a CI log shows progress without a screenful of carriage
 * returns. Two phases: images sent, then items finished (done or failed) with the rate and ETA.
 */
import cliProgress from 'cli-progress';
import type { ItemCounts } from '../../contract/batch-api.ts';

/** A plain line at most this often (and at the start of each phase). */
export const PLAIN_INTERVAL_MS = 5000;

export interface BatchProgress {
  /** `sent` of `total` images are on the edge (those an earlier run sent included). */
  uploads(sent: number, total: number): void;
  work(counts: ItemCounts): void;
  /** A line to print without tearing the bar. */
  notice(line: string): void;
  stop(): void;
}

export interface ProgressOutput {
  /** stderr when it is a terminal the bar can redraw; undefined for plain lines. */
  readonly terminal: NodeJS.WriteStream | undefined;
  readonly err: (line: string) => void;
}

const finishedOf = (counts: ItemCounts): number => counts.done + counts.failed + counts.cancelled;

/** Items per second since the first count of this run, and the time the rest will take at that rate. */
class Rate {
  #start: { at: number; finished: number } | undefined;

  measure(counts: ItemCounts, now = Date.now()): { perSecond: number; etaSeconds: number | undefined } {
    const finished = finishedOf(counts);
    this.#start ??= { at: now, finished };
    const seconds = (now - this.#start.at) / 1000;
    const perSecond = seconds > 0 ? (finished - this.#start.finished) / seconds : 0;
    const left = counts.total - finished;
    return { perSecond, etaSeconds: left === 0 ? 0 : perSecond > 0 ? left / perSecond : undefined };
  }
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '?';
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
}

export function createBatchProgress(output: ProgressOutput): BatchProgress {
  return output.terminal === undefined ? plainProgress(output.err) : barProgress(output.terminal);
}

function plainProgress(err: (line: string) => void): BatchProgress {
  const rate = new Rate();
  let phase: 'uploads' | 'work' | undefined;
  let lastAt = 0;
  const due = (next: 'uploads' | 'work'): boolean => {
    const now = Date.now();
    if (phase === next && now - lastAt < PLAIN_INTERVAL_MS) return false;
    phase = next;
    lastAt = now;
    return true;
  };
  return {
    uploads(sent, total) {
      if (due('uploads')) err(`uploading: ${sent} of ${total} images sent`);
    },
    work(counts) {
      const { perSecond, etaSeconds } = rate.measure(counts);
      if (!due('work')) return;
      const cancelled = counts.cancelled > 0 ? `, cancelled ${counts.cancelled}` : '';
      err(
        `translating: ${finishedOf(counts)} of ${counts.total} finished (done ${counts.done}, failed ${counts.failed}${cancelled}), ` +
          `${perSecond.toFixed(1)} items/s, ETA ${formatDuration(etaSeconds)}`,
      );
    },
    notice: err,
    stop() {},
  };
}

function barProgress(stream: NodeJS.WriteStream): BatchProgress {
  const rate = new Rate();
  const bars = new cliProgress.MultiBar(
    { stream, format: '{phase} |{bar}| {value}/{total}{detail}', barsize: 20, hideCursor: true, clearOnComplete: false, stopOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(1, 0, { phase: 'uploading  ', detail: '' });
  let stopped = false;
  return {
    uploads(sent, total) {
      bar.setTotal(total);
      bar.update(sent, { phase: 'uploading  ', detail: ' images sent' });
    },
    work(counts) {
      const { perSecond, etaSeconds } = rate.measure(counts);
      bar.setTotal(counts.total);
      bar.update(finishedOf(counts), {
        phase: 'translating',
        detail: `  failed ${counts.failed}  ${perSecond.toFixed(1)} items/s  ETA ${formatDuration(etaSeconds)}`,
      });
    },
    notice(line) {
      bars.log(`${line}\n`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bars.stop();
    },
  };
}
