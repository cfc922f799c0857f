/**
 * The local stack's object store: s3rver (a real S3-protocol server) in this process, its objects
 * in a folder that outlives the stack, so a second start finds what the first seeded. It stands in
 * for S3/R2: the function reads its model from it exactly as it would in the cloud, over the S3 API.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { MANIFEST_FILE, loadManifestFromDir } from '../../contract/manifest-dir.ts';
import { s3ClientConfig } from '../../functions/registry/s3-model-store.ts';

/** s3rver accepts exactly these credentials. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
const REGION = 'us-east-1';

export interface LocalObjectStore {
  readonly endpoint: string;
  readonly bucket: string;
  /** The AWS SDK's standard variables pointing at this store, for the function's environment. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Puts a model export folder under models/<name>/<version>/ unless the same manifest is there
   * already; returns its s3:// location and whether anything was uploaded.
   */
  seedModel(dir: string): Promise<{ source: string; name: string; version: string; uploaded: boolean }>;
  stop(): Promise<void>;
}

export async function startObjectStore(options: { directory: string; port: number; bucket: string }): Promise<LocalObjectStore> {
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port,
    silent: true,
    directory: options.directory,
    configureBuckets: [{ name: options.bucket }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client(s3ClientConfig({ endpoint, region: REGION, credentials: CREDENTIALS }));
  const { bucket } = options;

  const storedText = async (key: string): Promise<string | undefined> => {
    try {
      return await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString();
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
  };

  return {
    endpoint,
    bucket,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    },
    async seedModel(dir) {
      const manifest = await loadManifestFromDir(dir);
      const prefix = `models/${manifest.name}/${manifest.version}/`;
      const source = `s3://${bucket}/${prefix}`;
      const localManifest = await readFile(join(dir, MANIFEST_FILE), 'utf8');
      if ((await storedText(prefix + MANIFEST_FILE)) === localManifest) {
        return { source, name: manifest.name, version: manifest.version, uploaded: false };
      }
      // The manifest goes last: a seed interrupted half-way has no manifest, so it is redone
      // next time instead of being served incomplete (the function also verifies every sha256).
      const files = (await filesUnder(dir)).filter((path) => relative(dir, path) !== MANIFEST_FILE);
      for (const path of [...files, join(dir, MANIFEST_FILE)]) {
        const key = prefix + relative(dir, path).split(sep).join('/');
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(path) }));
      }
      return { source, name: manifest.name, version: manifest.version, uploaded: true };
    },
    async stop() {
      client.destroy();
      // Keep-alive sockets (the function's SDK) would hold close() open.
      server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}

/** Walked by hand: readdir's `recursive` + `parentPath` need Node 20.12, package.json allows 20.9. */
async function filesUnder(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files.sort();
}
