/**
 * Reads a model export from an S3-protocol store (AWS S3, Cloudflare R2, MinIO, s3rver) through
 * @aws-sdk/client-s3. Region, credentials and endpoint come from the SDK's standard chain
 * (AWS_REGION, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL,
 * ~/.aws) unless the caller overrides them; this module never reads the environment itself.
 */
import { Readable } from 'node:stream';
import { GetObjectCommand, NoSuchKey, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { POINTER_FILE, POINTER_MAX_BYTES } from './model-pointer.ts';
import type { S3Location } from './model-source.ts';

export interface S3Overrides {
  /** e.g. http://127.0.0.1:9000 or https://<account>.r2.cloudflarestorage.com */
  readonly endpoint?: string;
  /** R2 takes "auto"; any value works for MinIO and s3rver. */
  readonly region?: string;
  /** Default: true when `endpoint` is given (S3-compatible stores rarely serve bucket subdomains). */
  readonly forcePathStyle?: boolean;
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
}

// Bounds chosen so an unreachable store fails start-up in seconds, not the SDK's default minutes,
// while a slow but working store can still stream a large graph.
const MAX_ATTEMPTS = 3;
const CONNECTION_TIMEOUT_MS = 3_000;
/** Until the response headers arrive; the body is bounded by the idle timeout below instead. */
const REQUEST_TIMEOUT_MS = 5_000;
/** A body that sends nothing for this long is a dead connection. */
const SOCKET_IDLE_TIMEOUT_MS = 30_000;
/** manifest.json is a few KiB; a larger object under that key is not a manifest. */
const MANIFEST_MAX_BYTES = 1024 * 1024; // 1 MiB

const MANIFEST_KEY = 'manifest.json';

/** Client settings for `overrides`; exported so tests and tools talk to the store the same way. */
export function s3ClientConfig(overrides: S3Overrides = {}): S3ClientConfig {
  const { endpoint, region, credentials } = overrides;
  return {
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(region === undefined ? {} : { region }),
    ...(credentials === undefined ? {} : { credentials: { ...credentials } }),
    forcePathStyle: overrides.forcePathStyle ?? endpoint !== undefined,
    // With the newer defaults the SDK adds checksum trailers that S3-compatible stores (R2,
    // s3rver) do not all understand; see shared/TOOLING.md. Our own sha256 covers integrity.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      // Without it a request timeout only logs a warning and the request hangs on.
      throwOnRequestTimeout: true,
      socketTimeout: SOCKET_IDLE_TIMEOUT_MS,
    },
  };
}

export class S3ModelStore {
  readonly location: S3Location;
  readonly #client: S3Client;
  /** False for a view made by at(): the client belongs to the store it came from. */
  readonly #ownsClient: boolean;

  /** `shared`: reuse another store's client (see at()); `overrides` are ignored then. */
  constructor(location: S3Location, overrides: S3Overrides = {}, shared?: S3Client) {
    this.location = location;
    this.#client = shared ?? new S3Client(s3ClientConfig(overrides));
    this.#ownsClient = shared === undefined;
  }

  /**
   * The same bucket at another key prefix ("" or ending in "/"), sharing this store's connections:
   * closing the view does nothing, closing this store ends both.
   */
  at(prefix: string): S3ModelStore {
    const location: S3Location = { kind: 's3', bucket: this.location.bucket, prefix, label: `s3://${this.location.bucket}/${prefix}` };
    return new S3ModelStore(location, {}, this.#client);
  }

  /** Label of an object of this export in messages: `s3://bucket/prefix/file`. */
  label(file: string): string {
    return `${this.location.label}${file}`;
  }

  async readManifest(signal?: AbortSignal): Promise<string> {
    return this.#readText(MANIFEST_KEY, MANIFEST_MAX_BYTES, signal);
  }

  /** The text of this folder's current.json (model-pointer.ts), or undefined when there is none. */
  async readPointer(signal?: AbortSignal): Promise<string | undefined> {
    try {
      return await this.#readText(POINTER_FILE, POINTER_MAX_BYTES, signal);
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }

  /** The object's bytes as a stream: the caller pipes it to disk, so no graph sits in memory. */
  openFile(file: string, signal?: AbortSignal): Promise<Readable> {
    return this.#get(file, signal);
  }

  close(): void {
    if (this.#ownsClient) this.#client.destroy();
  }

  async #readText(file: string, maxBytes: number, signal: AbortSignal | undefined): Promise<string> {
    const body = await this.#get(file, signal);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        body.destroy();
        throw new Error(`${this.label(file)} is larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async #get(file: string, signal: AbortSignal | undefined): Promise<Readable> {
    const command = new GetObjectCommand({ Bucket: this.location.bucket, Key: `${this.location.prefix}${file}` });
    const output = await this.#client.send(command, signal === undefined ? {} : { abortSignal: signal });
    if (!(output.Body instanceof Readable)) {
      throw new Error(`${this.label(file)}: the store answered without a body`);
    }
    return output.Body;
  }
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

/**
 * Whether `error` says the store could not be reached or could not answer (network, timeout,
 * 5xx), as opposed to answering "no" (missing key, access denied) or sending bad bytes. Only the
 * first kind may fall back to a cached copy: a store that answers is the truth.
 */
export function isStoreUnreachable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, name, $metadata } = error as { code?: unknown; name?: unknown; $metadata?: { httpStatusCode?: number } };
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
  if (name === 'TimeoutError') return true;
  const status = $metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  if (error instanceof AggregateError) return error.errors.some(isStoreUnreachable);
  return false;
}

/** One line for a store error: the S3 error code and status, or the network error's message. */
export function describeStoreError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status !== undefined && error.name !== 'Error') {
    // A service error: its name is the S3 code (NoSuchKey, AccessDenied, ...).
    return `${error.name} (HTTP ${status})${error.message === '' || error.message === 'UnknownError' ? '' : `: ${error.message}`}`;
  }
  // Node's happy-eyeballs connect fails with an AggregateError whose own message is empty.
  if (error instanceof AggregateError && error.message === '') {
    const inner = [...new Set(error.errors.map(describeStoreError))];
    if (inner.length > 0) return inner.join('; ');
  }
  // The SDK's own messages start with the package name and a level: noise in a ready reason.
  const message = error.message.replace(/^@smithy\/[\w-]+ - (\[\w+\] )?/, '').replace(/\.$/, '');
  if (message !== '') return message;
  const code = (error as NodeJS.ErrnoException).code;
  return code ?? error.name;
}
