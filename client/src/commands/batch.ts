/**
 * `sa-munit batch <folder> -o <folder>`: a folder of images through the batch API. Everything local
 * (options, every file's bytes, the output folder, the key) is checked first; then the job is
 * created (or the saved one continued: batch-start.ts), the images still missing are uploaded
 * `--concurrency` at a time, and the job is polled about once a second while the results that
 * finished are downloaded, each written all or nothing and recorded in the state file. It ends
 * when the job has finished and every done result is on disk, with a summary.
 *
 * Ctrl-C stops the uploads and downloads in flight (a file is either written whole or not at all),
 * saves the state and says how to continue: the job itself goes on at the edge.
 */
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { MAX_PAGE_SIZE, type BatchJobView, type BatchResultItem, type UploadTarget } from '../../../contract/batch-api.ts';
import { sniffImageFormat } from '../../../contract/image-sniff.ts';
import { writeAllOrNothing } from '../../../functions/cli/write-all-or-nothing.ts';
import { ApiClient, type Translation } from '../api-client.ts';
import { ApiResponseError } from '../api-errors.ts';
import { fileStem, isNonFolder, readBatchFolder, readBatchImage, sha256Hex, type BatchFile } from '../batch-folder.ts';
import { createBatchProgress, type BatchProgress } from '../batch-progress.ts';
import { startJob } from '../batch-start.ts';
import { loadBatchState, statePath, type BatchState } from '../batch-state.ts';
import type { Command, CommandIo } from '../command.ts';
import { resolveConnection } from '../connection-config.ts';
import { EXIT_CODES, failureReport } from '../exit-status.ts';
import { FORMAT_EXTENSIONS, type OutputFormat } from '../output-target.ts';
import { UsageError } from '../usage-error.ts';
import { BATCH_USAGE, parseBatchOptions, type BatchOptions } from './batch-options.ts';

/** How often the job's progress is asked for. */
const POLL_INTERVAL_MS = 1000;
/** Tries at one result (each with the client's own retries of 429/503) before it counts as not downloaded. */
const MAX_DOWNLOAD_ATTEMPTS = 3;

export const batchCommand: Command = {
  name: 'batch',
  summary: 'translate a folder of images as one job (sa-munit batch <folder> -o <folder> [--n 2] [--format webp])',
  run: runBatch,
};

/** The reason the run's stop signal carries for Ctrl-C. */
class Interrupted extends Error {
  override readonly name = 'Interrupted';
}

interface ItemProblem {
  readonly name: string;
  readonly reason: string;
}

interface UploadTally {
  /** Whether the uploads were looked at (not for a cancelled job, nor before the run got there). */
  counted: boolean;
  /** Items whose image an earlier run sent (not handed out for upload, or answered 409). */
  already: number;
  sent: number;
  /** Items cancelled before their image was sent (not needed any more). */
  cancelled: number;
  /** Still missing when the run stopped. */
  left: number;
  readonly failures: ItemProblem[];
}

async function runBatch(argv: readonly string[], io: CommandIo): Promise<number | void> {
  const commandLine = parseBatchOptions(argv);
  if (commandLine.kind === 'help') {
    io.out(BATCH_USAGE);
    return;
  }
  const { options } = commandLine;
  if (resolve(options.folder) === resolve(options.out)) {
    throw new UsageError(`-o ${options.out}: the results cannot go into the input folder (the next run would read them as inputs)`);
  }
  if (await isNonFolder(options.out)) throw new UsageError(`-o ${options.out}: exists and is not a folder`);
  const saved = await loadBatchState(options.out);
  const files = await readBatchFolder(options.folder);
  const connection = await resolveConnection(options.connection, io.cwd);

  // From here on the job may exist at the edge: Ctrl-C must end with the state saved, not halfway.
  const stop = new AbortController();
  const onInterrupt = () => {
    process.off('SIGINT', onInterrupt); // a second Ctrl-C ends the process at once
    stop.abort(new Interrupted('interrupted'));
  };
  process.on('SIGINT', onInterrupt);
  let progress: BatchProgress | undefined;
  const notice = (line: string) => (progress === undefined ? io.err(line) : progress.notice(line));
  const client = new ApiClient({
    ...connection,
    signal: stop.signal,
    onRetry: ({ error, waitMs, retry, maxRetries }) =>
      notice(`sa-munit batch: ${error.describe()}; retrying in ${(waitMs / 1000).toFixed(1)} s (${retry}/${maxRetries})`),
  });
  let run: BatchRun | undefined;
  try {
    const started = await startJob(client, { ...options, files, baseUrl: connection.baseUrl }, saved);
    io.out(`job ${started.job.id}: ${files.length} images from ${options.folder} (${started.how}); state in ${started.state.path}`);
    if (started.webhookSecret !== undefined) io.out(`webhook secret ${started.webhookSecret} (shown this once: it verifies the webhook's signatures)`);
    progress = createBatchProgress({ terminal: options.progress ? io.errTerminal : undefined, err: io.err });
    run = new BatchRun({ client, options, state: started.state, stop, progress });
    const outcome = await run.run(started.job, started.uploads);
    await run.state.flush();
    progress.stop();
    return report(io, options, run, outcome);
  } catch (error) {
    progress?.stop();
    await run?.state.flush().catch((saveError: unknown) => io.err(`sa-munit batch: ${(saveError as Error).message}`));
    if (run?.uploads.counted === true) io.out(describeUploads(run.uploads));
    if (run !== undefined) io.out(`results in ${options.out}: ${run.state.downloadedCount} of ${files.length} so far`);
    const reason = stop.signal.aborted ? (stop.signal.reason as unknown) : error;
    const job = run?.state.job ?? saved?.job;
    const resume = job === undefined ? '' : `; job ${job} is saved in ${statePath(options.out)}: run the same command again to continue it`;
    if (reason instanceof Interrupted) {
      // The create may have reached the edge: its Idempotency-Key finds that job again.
      const before = '; run the same command again (it creates the job, or finds the one just created)';
      io.err(`sa-munit batch: interrupted${job === undefined ? ` before the job was saved${before}` : resume}`);
      return EXIT_CODES.interrupted;
    }
    const { exitCode, message } = failureReport(reason);
    io.err(`sa-munit batch: ${message}`);
    if (run === undefined && saved !== undefined && reason instanceof ApiResponseError && reason.status === 404) {
      io.err(`sa-munit batch: ${statePath(options.out)} names a job this edge does not know for this key: delete it, or give another --out, to start a new job`);
    } else if (job !== undefined && !(reason instanceof UsageError)) {
      // A usage error says itself what to fix before running again.
      io.err(`sa-munit batch: the job goes on at the edge${resume}`);
    }
    return exitCode;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

interface RunParts {
  readonly client: ApiClient;
  readonly options: BatchOptions;
  readonly state: BatchState;
  readonly stop: AbortController;
  readonly progress: BatchProgress;
}

interface Outcome {
  readonly job: BatchJobView;
  readonly failed: readonly ItemProblem[];
  readonly notDownloaded: readonly ItemProblem[];
  readonly downloadedNow: number;
}

class BatchRun {
  readonly state: BatchState;
  readonly uploads: UploadTally = { counted: false, already: 0, sent: 0, cancelled: 0, left: 0, failures: [] };
  readonly #parts: RunParts;
  readonly #files: ReadonlyMap<number, BatchFile>;
  readonly #downloadAttempts = new Map<number, number>();
  readonly #notDownloaded = new Map<number, ItemProblem>();
  #downloadedNow = 0;

  constructor(parts: RunParts) {
    this.#parts = parts;
    this.state = parts.state;
    this.#files = new Map(parts.state.files.map((file) => [file.index, file]));
  }

  async run(job: BatchJobView, handedOut: readonly UploadTarget[] | undefined): Promise<Outcome> {
    if (job.status !== 'cancelled') await this.#upload(job.id, handedOut ?? (await this.#parts.client.allBatchUploads(job.id)));
    const finished = await this.#follow(job.id);
    const failed = await this.#failedItems(job.id, finished.counts.failed);
    return { job: finished, failed, notDownloaded: [...this.#notDownloaded.values()], downloadedNow: this.#downloadedNow };
  }

  /** Sends each handed-out image once; a 409 says an earlier run got there first. */
  async #upload(id: string, targets: readonly UploadTarget[]): Promise<void> {
    const { client, options, progress } = this.#parts;
    const total = this.#files.size;
    const tally = this.uploads;
    tally.already = total - targets.length;
    tally.left = targets.length;
    tally.counted = true;
    if (targets.length === 0) return;
    const show = () => progress.uploads(total - tally.left - tally.failures.length - tally.cancelled, total);
    show();
    await this.#each(targets, async (target) => {
      const file = this.#file(target.index, id);
      const image = await readBatchImage(options.folder, file.name);
      if (sha256Hex(image.bytes) !== file.sha256) {
        throw new UsageError(`${join(options.folder, file.name)}: changed since job ${id} started (its sha256 differs); restore it, or give another --out for a new job`);
      }
      try {
        const outcome = await client.uploadBatchItem(target, image);
        if (outcome === 'uploaded') tally.sent += 1;
        else if (outcome === 'already_uploaded') tally.already += 1;
        else tally.cancelled += 1;
      } catch (error) {
        if (!(error instanceof ApiResponseError)) throw error;
        tally.failures.push({ name: file.name, reason: error.describe() });
      }
      tally.left -= 1;
      show();
    });
  }

  /**
   * Polls until nothing more will happen: the job completed or was cancelled, or it holds items
   * whose upload failed and nothing else is queued or running. Whenever a poll shows more done
   * items than are on disk, a sweep pages through the done results and downloads the new ones;
   * polling (and so the progress) goes on while it runs, and the run ends only after it.
   */
  async #follow(id: string): Promise<BatchJobView> {
    const { client, progress, stop } = this.#parts;
    let sweep: Promise<void> | undefined;
    let stalledPolls = 0;
    try {
      for (;;) {
        const job = await client.batchJob(id);
        progress.work(job.counts);
        const settled = this.state.downloadedCount + this.#notDownloaded.size >= job.counts.done;
        if (!settled && sweep === undefined) {
          sweep = this.#downloadDone(id)
            .catch((error: unknown) => {
              if (!stop.signal.aborted) stop.abort(error);
            })
            .finally(() => (sweep = undefined));
        }
        const { queued, running, awaiting_upload } = job.counts;
        // Two polls in a row, so an upload answered just before a poll cannot end the run early.
        stalledPolls = awaiting_upload > 0 && queued === 0 && running === 0 ? stalledPolls + 1 : 0;
        if ((job.status === 'completed' || job.status === 'cancelled' || stalledPolls >= 2) && settled && sweep === undefined) return job;
        await sleep(POLL_INTERVAL_MS, undefined, { signal: stop.signal }).catch(() => {
          throw stop.signal.reason;
        });
      }
    } catch (error) {
      if (!stop.signal.aborted) stop.abort(error);
      throw error;
    } finally {
      // Nothing may write after the state's last save.
      await sweep;
    }
  }

  async #downloadDone(id: string): Promise<void> {
    for (let cursor: string | null = null; ; ) {
      const page = await this.#parts.client.batchResults(id, { cursor, limit: MAX_PAGE_SIZE, status: 'done' });
      const wanted = page.items.filter((item) => !this.state.isDownloaded(item.index) && !this.#notDownloaded.has(item.index));
      await this.#each(wanted, (item) => this.#download(id, item));
      cursor = page.next_cursor;
      if (cursor === null) return;
    }
  }

  async #download(id: string, item: BatchResultItem): Promise<void> {
    const { client, options } = this.#parts;
    const file = this.#file(item.index, id);
    let translation: Translation;
    try {
      if (item.result_url === null) throw new ApiResponseError('http_200', 'the job lists it as done without a result URL', 200, undefined);
      translation = await client.fetchResult(item.result_url);
    } catch (error) {
      if (!(error instanceof ApiResponseError)) throw error;
      const attempts = (this.#downloadAttempts.get(item.index) ?? 0) + 1;
      this.#downloadAttempts.set(item.index, attempts);
      if (attempts >= MAX_DOWNLOAD_ATTEMPTS) this.#notDownloaded.set(item.index, { name: file.name, reason: error.describe() });
      return;
    }
    const outputs = resultFiles(options.out, file.name, translation, this.state.params['format']);
    try {
      await writeAllOrNothing(outputs);
    } catch (error) {
      throw new UsageError(`-o ${options.out}: cannot write ${outputs[0]?.path ?? 'a result'} (${(error as Error).message})`);
    }
    this.state.markDownloaded(item.index);
    this.#downloadedNow += 1;
  }

  /** The failed items with the API's reason (the job's own failures, not this client's). */
  async #failedItems(id: string, count: number): Promise<ItemProblem[]> {
    if (count === 0) return [];
    return (await this.#parts.client.allBatchResults(id, 'failed')).map((item) => ({
      name: item.name ?? this.#files.get(item.index)?.name ?? `item ${item.index}`,
      reason: item.error === null ? 'no reason given' : `${item.error.code}: ${item.error.message}`,
    }));
  }

  #file(index: number, id: string): BatchFile {
    const file = this.#files.get(index);
    if (file === undefined) throw new Error(`job ${id} names item ${index}, which is not one of the ${this.#files.size} files it was made of`);
    return file;
  }

  /**
   * `work` for each item, --concurrency at a time. The first failure stops the rest (through the
   * run's stop signal, which also aborts requests in flight), and every started task has ended
   * before this returns or throws: nothing writes after the state's last save.
   */
  async #each<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
    const { stop, options } = this.#parts;
    const limit = pLimit(options.concurrency);
    await Promise.all(
      items.map((item) =>
        limit(async () => {
          if (stop.signal.aborted) return;
          try {
            await work(item);
          } catch (error) {
            if (!stop.signal.aborted) stop.abort(error);
          }
        }),
      ),
    );
    if (stop.signal.aborted) throw stop.signal.reason;
  }
}

/**
 * `<stem>.<ext>` for one output, `<stem>-<seed>.<ext>` for each of several; the extension follows
 * the bytes (the job's format, unless the job was made with another than this run's options say).
 */
function resultFiles(out: string, name: string, translation: Translation, format: unknown): { path: string; bytes: Uint8Array }[] {
  const stem = fileStem(name);
  const fallback = FORMAT_EXTENSIONS[(typeof format === 'string' ? format : 'png') as OutputFormat] ?? '.png';
  const { outputs } = translation;
  return outputs.map((output, i) => {
    const sniffed = sniffImageFormat(output.bytes);
    const extension = sniffed === undefined ? fallback : FORMAT_EXTENSIONS[sniffed];
    const fileName = outputs.length === 1 ? `${stem}${extension}` : `${stem}-${output.seed ?? i}${extension}`;
    return { path: join(out, fileName), bytes: output.bytes };
  });
}

function describeUploads(tally: UploadTally): string {
  const left = tally.left > 0 ? `, ${tally.left} still to upload` : '';
  const failed = tally.failures.length > 0 ? `, ${tally.failures.length} refused` : '';
  const cancelled = tally.cancelled > 0 ? `, ${tally.cancelled} cancelled` : '';
  const total = tally.sent + tally.already + tally.cancelled + tally.failures.length + tally.left;
  return `uploaded ${tally.sent}, already uploaded ${tally.already}${cancelled}${failed}${left} (of ${total})`;
}

function report(io: CommandIo, options: BatchOptions, run: BatchRun, outcome: Outcome): number {
  const { counts } = outcome.job;
  if (run.uploads.counted) io.out(describeUploads(run.uploads));
  const cancelled = counts.cancelled > 0 ? `, cancelled ${counts.cancelled}` : '';
  const waiting = counts.awaiting_upload > 0 ? `, not uploaded ${counts.awaiting_upload}` : '';
  io.out(`done ${counts.done}, failed ${counts.failed}${cancelled}${waiting} (of ${counts.total}); results in ${options.out} (${outcome.downloadedNow} written by this run)`);
  for (const problem of run.uploads.failures) io.out(`upload refused ${problem.name}: ${problem.reason}`);
  for (const problem of outcome.failed) io.out(`failed ${problem.name}: ${problem.reason}`);
  for (const problem of outcome.notDownloaded) io.out(`not downloaded ${problem.name}: ${problem.reason}`);
  const missing = counts.total - counts.done + outcome.notDownloaded.length;
  if (missing === 0) return EXIT_CODES.ok;
  io.err(`sa-munit batch: ${missing} of ${counts.total} images have no result in ${options.out} (listed above)`);
  return EXIT_CODES.apiError;
}
