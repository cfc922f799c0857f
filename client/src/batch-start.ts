/**
 * Which job a `sa-munit batch` run works on, and its state file:
 *
 *   state in --out   that job; the folder, edge and options must be the ones it was started with
 *                    (a file changed since is refused, naming it: its upload or result would be
 *                    another image's)
 *   --resume <id>    that job, when --out holds no state: its items are matched to the folder's
 *                    files by name
 *   neither          a new job. Its Idempotency-Key is a digest of the files (names, sizes,
 *                    sha256s), the options and the output folder, so a run that crashed between
 *                    the create and saving the state gets the same job back instead of a second
 *                    one, while the same folder sent again into another --out is a new job.
 *
 * The state is saved before any image is uploaded.
 */
import { join, resolve } from 'node:path';
import type { BatchCreateInput, BatchJobView, UploadTarget } from '../../contract/batch-api.ts';
import type { ApiClient } from './api-client.ts';
import { sha256Hex, type BatchFile } from './batch-folder.ts';
import { BatchState, statePath, type BatchParams, type BatchStateData } from './batch-state.ts';
import { UsageError } from './usage-error.ts';

export interface StartRequest {
  /** As given: file messages name it the way the user wrote it. */
  readonly folder: string;
  readonly out: string;
  readonly files: readonly BatchFile[];
  readonly params: BatchParams;
  readonly webhook: string | undefined;
  readonly resume: string | undefined;
  readonly baseUrl: URL;
}

export interface StartedJob {
  readonly state: BatchState;
  readonly job: BatchJobView;
  /** Upload URLs the create answer handed out; undefined when they must be asked for (a continued job). */
  readonly uploads: readonly UploadTarget[] | undefined;
  readonly how: 'created' | 'created before' | 'continued';
  readonly webhookSecret: string | undefined;
}

export async function startJob(client: ApiClient, request: StartRequest, saved: BatchStateData | undefined): Promise<StartedJob> {
  if (saved !== undefined) return continueSaved(client, request, saved);
  if (request.resume !== undefined) return adoptJob(client, request, request.resume);
  return createJob(client, request);
}

/** What the Idempotency-Key covers: every byte sent for the job and where its results go. */
export function idempotencyKey(files: readonly BatchFile[], body: BatchCreateInput, out: string): string {
  const fingerprint = JSON.stringify({ files: files.map((file) => [file.name, file.size, file.sha256]), body, out: resolve(out) });
  return `sa-munit-batch-${sha256Hex(fingerprint)}`;
}

async function createJob(client: ApiClient, request: StartRequest): Promise<StartedJob> {
  const { files, params, webhook } = request;
  const body: BatchCreateInput = {
    params: { ...params },
    items: files.map((file) => ({ name: file.name })),
    ...(webhook === undefined ? {} : { webhook: { url: webhook } }),
  };
  const { job, replayed } = await client.createBatch(body, idempotencyKey(files, body, request.out));
  for (const upload of job.uploads) {
    if (files[upload.index] === undefined) throw new Error(`the created job hands out an upload URL for item ${upload.index}, which it was not sent`);
  }
  const state = new BatchState(request.out, stateOf(request, job.id, files, []));
  await state.flush();
  return {
    state,
    job,
    // A replayed create may hand out URLs for items an earlier run already sent: the uploads
    // endpoint lists only those still missing.
    uploads: replayed ? undefined : job.uploads,
    how: replayed ? 'created before' : 'created',
    webhookSecret: job.webhook_secret,
  };
}

async function continueSaved(client: ApiClient, request: StartRequest, saved: BatchStateData): Promise<StartedJob> {
  const path = statePath(request.out);
  if (request.resume !== undefined && request.resume !== saved.job) {
    throw new UsageError(`--resume ${request.resume}: ${path} is the state of job ${saved.job}; give another --out for another job`);
  }
  if (saved.edgeUrl !== request.baseUrl.href) {
    throw new UsageError(`${path}: job ${saved.job} lives at ${saved.edgeUrl}, not ${request.baseUrl.href}: pass --url ${saved.edgeUrl}`);
  }
  if (saved.folder !== resolve(request.folder)) {
    throw new UsageError(`${path}: job ${saved.job} is of the folder ${saved.folder}, not ${resolve(request.folder)}; give another --out for another folder`);
  }
  const changed = changedOptions(saved.params, request.params);
  if (changed.length > 0) {
    throw new UsageError(`${path}: job ${saved.job} was started with other options (${changed.join(', ')}): run it with the same ones, or give another --out`);
  }
  checkSameFiles(request, saved);
  const job = await client.batchJob(saved.job);
  return { state: new BatchState(request.out, saved), job, uploads: undefined, how: 'continued', webhookSecret: undefined };
}

/** --resume without a state file: the job's item names say which file each index is. */
async function adoptJob(client: ApiClient, request: StartRequest, id: string): Promise<StartedJob> {
  const job = await client.batchJob(id);
  const items = await client.allBatchResults(id);
  const byName = new Map(request.files.map((file) => [file.name, file]));
  const files: BatchFile[] = [];
  for (const item of items) {
    const file = item.name === null ? undefined : byName.get(item.name);
    if (file === undefined) {
      const what = item.name === null ? 'has no name' : `is "${item.name}", and ${join(request.folder, item.name)} does not exist`;
      throw new UsageError(`--resume ${id}: item ${item.index} of the job ${what}; give the folder the job was made from`);
    }
    byName.delete(file.name);
    files.push({ ...file, index: item.index });
  }
  const extra = [...byName.keys()][0];
  if (extra !== undefined) throw new UsageError(`--resume ${id}: ${join(request.folder, extra)} is not an item of the job; give the folder the job was made from`);
  const state = new BatchState(request.out, stateOf(request, id, files.sort((a, b) => a.index - b.index), []));
  await state.flush();
  return { state, job, uploads: undefined, how: 'continued', webhookSecret: undefined };
}

function stateOf(request: StartRequest, job: string, files: readonly BatchFile[], downloaded: readonly number[]): BatchStateData {
  return {
    job,
    edgeUrl: request.baseUrl.href,
    folder: resolve(request.folder),
    params: request.params,
    webhook: request.webhook ?? null,
    files,
    downloaded,
  };
}

/** `--n 2 (was 1)` for each option that differs from the saved ones. */
function changedOptions(saved: BatchParams, now: BatchParams): string[] {
  const names = [...new Set([...Object.keys(saved), ...Object.keys(now)])].sort();
  return names
    .filter((name) => saved[name] !== now[name])
    .map((name) => `--${name.replace('_', '-')} ${now[name] ?? '(not given)'} (was ${saved[name] ?? 'not given'})`);
}

/** The folder must hold exactly the files the job was made of, with the same bytes. */
function checkSameFiles(request: StartRequest, saved: BatchStateData): void {
  const now = new Map(request.files.map((file) => [file.name, file]));
  const since = `since job ${saved.job} started`;
  for (const file of saved.files) {
    const current = now.get(file.name);
    const path = join(request.folder, file.name);
    if (current === undefined) throw new UsageError(`${path}: gone ${since}; put it back, or give another --out for a new job`);
    if (current.size !== file.size || current.sha256 !== file.sha256) {
      throw new UsageError(`${path}: changed ${since} (its sha256 differs); restore it, or give another --out for a new job`);
    }
    now.delete(file.name);
  }
  const added = [...now.keys()][0];
  if (added !== undefined) throw new UsageError(`${join(request.folder, added)}: new ${since}; move it out, or give another --out for a new job`);
}
