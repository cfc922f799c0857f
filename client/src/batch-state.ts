/**
 * What a batch run must remember to be continued by running the same command again:
 * `<out>/.sa-munit-batch.json` holds the job id, the edge it lives on, the folder and its files as
 * they were sent (index, name, size, sha256), the parameters, and which results are on disk.
 * It is written right after the job is created (before any upload) and whenever a download lands,
 * always by writing a temporary file and renaming it over the old one, so a crash or Ctrl-C
 * leaves either the previous state or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { BATCH_ID_PATTERN } from '../../contract/batch-api.ts';
import type { BatchFile } from './batch-folder.ts';
import { UsageError } from './usage-error.ts';

export const STATE_FILE_NAME = '.sa-munit-batch.json';
const STATE_VERSION = 1;
/** Downloads land many per second in a big batch; the state is rewritten at most this often. */
const SAVE_INTERVAL_MS = 1000;

const stateSchema = z.object({
  version: z.literal(STATE_VERSION),
  job: z.string().regex(BATCH_ID_PATTERN),
  edgeUrl: z.string(),
  folder: z.string(),
  params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  webhook: z.string().nullable(),
  files: z.array(z.object({ index: z.number().int().min(0), name: z.string(), size: z.number().int().min(0), sha256: z.string() })),
  /** Indices whose results are written in the output folder. */
  downloaded: z.array(z.number().int().min(0)),
});

export type BatchParams = Readonly<Record<string, string | number | boolean>>;

export interface BatchStateData {
  readonly job: string;
  /** The base URL the job was created at: its id means nothing to another edge. */
  readonly edgeUrl: string;
  /** Absolute. */
  readonly folder: string;
  readonly params: BatchParams;
  readonly webhook: string | null;
  readonly files: readonly BatchFile[];
  readonly downloaded: readonly number[];
}

export const statePath = (out: string): string => join(out, STATE_FILE_NAME);

/** The state in `out`, or undefined when there is none (a first run). */
export async function loadBatchState(out: string): Promise<BatchStateData | undefined> {
  const path = statePath(out);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`${path}: cannot read it (${(error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`${path}: not valid JSON; delete it to start a new job (or pass --resume <job id>)`);
  }
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success) {
    throw new UsageError(`${path}: not a batch state written by this client (${parsed.error.issues[0]?.message ?? 'malformed'}); delete it to start a new job`);
  }
  return parsed.data;
}

/**
 * The state of one run, saved as it changes. Saves are serialised (one rename at a time, the last
 * one holding the newest state) and batched: `markDownloaded` asks for a save within a second,
 * `flush` saves now and waits.
 */
export class BatchState {
  readonly #out: string;
  readonly #data: Omit<BatchStateData, 'downloaded'>;
  readonly #downloaded: Set<number>;
  #saving: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;

  constructor(out: string, data: BatchStateData) {
    this.#out = out;
    const { downloaded, ...rest } = data;
    this.#data = rest;
    this.#downloaded = new Set(downloaded);
  }

  get data(): BatchStateData {
    return { ...this.#data, downloaded: [...this.#downloaded].sort((a, b) => a - b) };
  }

  get job(): string {
    return this.#data.job;
  }

  get params(): BatchParams {
    return this.#data.params;
  }

  get files(): readonly BatchFile[] {
    return this.#data.files;
  }

  get path(): string {
    return statePath(this.#out);
  }

  isDownloaded(index: number): boolean {
    return this.#downloaded.has(index);
  }

  get downloadedCount(): number {
    return this.#downloaded.size;
  }

  markDownloaded(index: number): void {
    this.#downloaded.add(index);
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush().catch(() => {
        // reported by the next flush, which the run always ends with
      });
    }, SAVE_INTERVAL_MS);
  }

  /** Writes the state now (after any save in progress) and resolves once it is on disk. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const text = `${JSON.stringify({ version: STATE_VERSION, ...this.data }, null, 2)}\n`;
    this.#saving = this.#saving.catch(() => {}).then(() => writeAtomically(this.path, text));
    return this.#saving.catch((error: unknown) => {
      throw new UsageError(`${this.path}: cannot save the batch state (${(error as Error).message})`);
    });
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  // Created with the first save, so a run refused before its job exists leaves no empty folder.
  await mkdir(dirname(path), { recursive: true });
  try {
    await writeFile(temp, text, { flag: 'wx' });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
