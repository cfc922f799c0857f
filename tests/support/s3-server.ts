/**
 * A real S3-protocol server for tests (s3rver on 127.0.0.1, a free port, a temp folder), with a
 * client that talks to it the way the service does, helpers to seed it, and a log of the requests
 * it received, so a test can tell what was fetched.
 *
 * For a child process (the whole service against this store), `env` holds the standard AWS
 * variables that point the SDK at it.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { s3ClientConfig, type S3Overrides } from '../../functions/registry/s3-model-store.ts';

export interface RecordedRequest {
  readonly method: string;
  /** Path and query as sent, e.g. /models/sa-munit/manifest.json */
  readonly url: string;
}

export interface S3TestServer {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** Endpoint, region and the keys s3rver accepts (S3RVER / S3RVER), for S3Overrides. */
  readonly overrides: S3Overrides & Required<Pick<S3Overrides, 'endpoint' | 'region' | 'credentials'>>;
  /** The same settings as AWS SDK environment variables, for a child process. */
  readonly env: Readonly<Record<string, string>>;
  readonly client: S3Client;
  /** Every request received since start or the last clearRequests(). */
  readonly requests: readonly RecordedRequest[];
  clearRequests(): void;
  createBucket(bucket: string): Promise<void>;
  putObject(bucket: string, key: string, body: Uint8Array | string): Promise<void>;
  deleteObject(bucket: string, key: string): Promise<void>;
  /** Uploads every file under `dir` to `prefix` + its relative path (prefix "" or ending in "/"); returns the keys. */
  uploadDir(bucket: string, prefix: string, dir: string): Promise<string[]>;
  /** Stops listening (the port then refuses connections) and deletes the stored objects; idempotent. */
  stop(): Promise<void>;
}

export async function startS3Server(options: { buckets?: readonly string[] } = {}): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  const { port } = await server.run();
  const requests: RecordedRequest[] = [];
  server.httpServer?.on('request', (request: { method?: string; url?: string }) => {
    requests.push({ method: request.method ?? '', url: request.url ?? '' });
  });

  const endpoint = `http://127.0.0.1:${port}`;
  const overrides = {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  };
  const client = new S3Client(s3ClientConfig(overrides));
  let stopped = false;

  return {
    endpoint,
    overrides,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: overrides.region,
      AWS_ACCESS_KEY_ID: overrides.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: overrides.credentials.secretAccessKey,
    },
    client,
    requests,
    clearRequests: () => void requests.splice(0),
    async createBucket(bucket) {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    },
    async putObject(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async deleteObject(bucket, key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    async uploadDir(bucket, prefix, dir) {
      const keys: string[] = [];
      for (const path of await filesUnder(dir)) {
        const key = prefix + relative(dir, path).split(sep).join('/');
        // Whole-file bodies: a streamed body needs a known length, and test exports are small.
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(path) }));
        keys.push(key);
      }
      return keys;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      client.destroy();
      // Keep-alive sockets would hold close() open; the SDK under test may still hold some.
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name)).sort();
}
