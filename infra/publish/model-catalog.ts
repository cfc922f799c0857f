/**
 * The published models in an S3-protocol store (AWS S3, Cloudflare R2, MinIO, s3rver), laid out as
 *
 *   <root>/<name>/<version>/manifest.json, graphs, fixtures…   one immutable version
 *   <root>/<name>/current.json                                 the pointer (model-pointer.ts)
 *
 * Every request goes through here, so every store failure becomes a PublishError naming the
 * object. The client is set up like the function's (s3ClientConfig: path style for custom
 * endpoints, checksums only when required; see shared/TOOLING.md for why).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { POINTER_FILE, versionPrefix } from '../../functions/registry/model-pointer.ts';
import type { S3Location } from '../../functions/registry/model-source.ts';
import { describeStoreError, isStoreUnreachable, s3ClientConfig, type S3Overrides } from '../../functions/registry/s3-model-store.ts';
import type { ExportFile } from './export-folder.ts';
import { PublishError } from './publish-error.ts';

export interface StoredObject {
  readonly key: string;
  readonly bytes: number;
}

export interface ObjectDigest {
  readonly sha256: string;
  readonly bytes: number;
}

export interface PointerObject {
  readonly text: string;
  /** As the store sent it (quoted); sent back in If-Match when the pointer is replaced. */
  readonly etag: string;
}

/** An upload is retried this many times in all when the store cannot be reached. */
const UPLOAD_ATTEMPTS = 3;
const RETRY_DELAY_MS = 1_000;

export class ModelCatalog {
  readonly root: S3Location;
  readonly #client: S3Client;
  /** Uploads retry themselves (a consumed file stream cannot be replayed by the SDK). */
  readonly #uploadClient: S3Client;

  constructor(root: S3Location, overrides: S3Overrides) {
    this.root = root;
    const config: S3ClientConfig = s3ClientConfig(overrides);
    this.#client = new S3Client(config);
    this.#uploadClient = new S3Client({ ...config, maxAttempts: 1 });
  }

  /** `<root>/<name>/` */
  modelPrefix(name: string): string {
    return `${this.root.prefix}${name}/`;
  }

  /** `<root>/<name>/<version>/` */
  versionPrefix(name: string, version: string): string {
    return versionPrefix(this.modelPrefix(name), version);
  }

  pointerKey(name: string): string {
    return `${this.modelPrefix(name)}${POINTER_FILE}`;
  }

  label(key: string): string {
    return `s3://${this.root.bucket}/${key}`;
  }

  /** Every object under `prefix`, all pages. */
  async list(prefix: string): Promise<StoredObject[]> {
    const objects: StoredObject[] = [];
    let token: string | undefined;
    do {
      const input = { Bucket: this.root.bucket, Prefix: prefix, ...(token === undefined ? {} : { ContinuationToken: token }) };
      const page = await this.#call(`list ${this.label(prefix)}`, () => this.#client.send(new ListObjectsV2Command(input)));
      for (const item of page.Contents ?? []) {
        if (item.Key !== undefined) objects.push({ key: item.Key, bytes: item.Size ?? 0 });
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return objects;
  }

  /** Version labels of `name`: the folders below its prefix, sorted as strings. */
  async listVersions(name: string): Promise<string[]> {
    const prefix = this.modelPrefix(name);
    const versions: string[] = [];
    let token: string | undefined;
    do {
      const input = { Bucket: this.root.bucket, Prefix: prefix, Delimiter: '/', ...(token === undefined ? {} : { ContinuationToken: token }) };
      const page = await this.#call(`list ${this.label(prefix)}`, () => this.#client.send(new ListObjectsV2Command(input)));
      for (const common of page.CommonPrefixes ?? []) {
        if (common.Prefix !== undefined) versions.push(common.Prefix.slice(prefix.length, -1));
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return versions.sort();
  }

  /** sha256 and size of the object's bytes as the store returns them now (a full read). */
  async digest(key: string, onBytes?: (bytes: number) => void): Promise<ObjectDigest> {
    const body = await this.#open(key);
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
        onBytes?.(chunk.length);
      }
    } catch (error) {
      throw this.#storeError(`read ${this.label(key)}`, error);
    }
    return { sha256: hash.digest('hex'), bytes };
  }

  /** The object's bytes exactly as stored, or undefined when there is no such object. */
  async readBytes(key: string): Promise<{ bytes: Uint8Array; etag: string } | undefined> {
    let output;
    try {
      output = await this.#client.send(new GetObjectCommand({ Bucket: this.root.bucket, Key: key }));
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw this.#storeError(`read ${this.label(key)}`, error);
    }
    if (output.Body === undefined) throw new PublishError('store', `read ${this.label(key)}: the store answered without a body`);
    try {
      return { bytes: await output.Body.transformToByteArray(), etag: output.ETag ?? '' };
    } catch (error) {
      throw this.#storeError(`read ${this.label(key)}`, error);
    }
  }

  /** The object's text (UTF-8), or undefined when there is no such object. */
  async readText(key: string): Promise<{ text: string; etag: string } | undefined> {
    const stored = await this.readBytes(key);
    return stored === undefined ? undefined : { text: Buffer.from(stored.bytes).toString('utf8'), etag: stored.etag };
  }

  /**
   * Uploads one file under `key` with its MD5 (the store refuses a body damaged on the way) and
   * its sha256 as metadata, streamed from disk (no file sits in memory whole). `onBytes` sees each
   * chunk as the SDK reads it. `ifNoneMatch`: only if no object has that key yet (stores that
   * support conditional writes answer 412 otherwise).
   */
  async upload(key: string, file: ExportFile, onBytes: (bytes: number) => void, options: { ifNoneMatch?: boolean } = {}): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let sent = 0;
      const count = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          sent += chunk.length;
          onBytes(chunk.length);
          callback(null, chunk);
        },
      });
      const body: Readable = createReadStream(file.path).pipe(count);
      try {
        await this.#uploadClient.send(
          new PutObjectCommand({
            Bucket: this.root.bucket,
            Key: key,
            Body: body,
            ContentLength: file.bytes,
            ContentMD5: file.md5,
            ContentType: contentType(file.name),
            Metadata: { sha256: file.sha256 },
            ...(options.ifNoneMatch === true ? { IfNoneMatch: '*' } : {}),
          }),
          // A large graph may take minutes: no overall limit, the idle socket timeout still applies.
          { requestTimeout: 0 },
        );
        return;
      } catch (error) {
        body.destroy();
        onBytes(-sent); // progress counts this attempt again
        if (isPreconditionFailed(error)) {
          throw new PublishError('refused', `${this.label(key)} appeared while publishing (someone else is publishing the same version)`, { cause: error });
        }
        if (attempt >= UPLOAD_ATTEMPTS || !isStoreUnreachable(error)) throw this.#storeError(`upload ${this.label(key)}`, error);
        await new Promise((wake) => setTimeout(wake, RETRY_DELAY_MS * attempt));
      }
    }
  }

  async delete(key: string): Promise<void> {
    await this.#call(`delete ${this.label(key)}`, () => this.#client.send(new DeleteObjectCommand({ Bucket: this.root.bucket, Key: key })));
  }

  async readPointer(name: string): Promise<PointerObject | undefined> {
    return this.readText(this.pointerKey(name));
  }

  /**
   * Replaces `name`'s pointer with `text` in one PutObject, only if it is still the one read
   * (`expected`: its ETag, or 'absent' when there was none). AWS S3 and R2 enforce the condition
   * and answer 412 when someone else moved the pointer meanwhile; a store that ignores conditional
   * writes (s3rver) just writes.
   */
  async writePointer(name: string, text: string, expected: { etag: string } | 'absent'): Promise<void> {
    const key = this.pointerKey(name);
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.root.bucket,
          Key: key,
          Body: text,
          ContentType: 'application/json',
          // Readers must see a move at once, whatever caches sit in front of the bucket.
          CacheControl: 'no-store',
          ...(expected === 'absent' ? { IfNoneMatch: '*' } : { IfMatch: expected.etag }),
        }),
      );
    } catch (error) {
      if (isPreconditionFailed(error)) {
        throw new PublishError(
          'refused',
          `${this.label(key)} was changed by someone else after it was read; nothing was moved. Check \`current\` and run again.`,
          { cause: error },
        );
      }
      throw this.#storeError(`write ${this.label(key)}`, error);
    }
  }

  close(): void {
    this.#client.destroy();
    this.#uploadClient.destroy();
  }

  async #open(key: string): Promise<Readable> {
    try {
      const output = await this.#client.send(new GetObjectCommand({ Bucket: this.root.bucket, Key: key }));
      if (output.Body === undefined) throw new Error('the store answered without a body');
      return output.Body as Readable;
    } catch (error) {
      if (error instanceof NoSuchKey) throw new PublishError('store', `${this.label(key)} is missing`, { cause: error });
      throw this.#storeError(`read ${this.label(key)}`, error);
    }
  }

  /** Runs one request; its failure becomes a PublishError that says `what` was being done. */
  async #call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.#storeError(what, error);
    }
  }

  #storeError(what: string, error: unknown): PublishError {
    if (error instanceof PublishError) return error;
    const reach = isStoreUnreachable(error) ? ' (is the endpoint right and the store up?)' : '';
    return new PublishError('store', `${what}: ${describeStoreError(error)}${reach}`, { cause: error });
  }
}

function isPreconditionFailed(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  // 409 ConditionalRequestConflict: AWS S3's answer to two conditional writes racing each other.
  return status === 412 || (status === 409 && (error as Error).name === 'ConditionalRequestConflict');
}

function contentType(name: string): string {
  if (name.endsWith('.json')) return 'application/json';
  if (name.endsWith('.md')) return 'text/markdown; charset=utf-8';
  if (name.endsWith('.png')) return 'image/png';
  return 'application/octet-stream';
}
