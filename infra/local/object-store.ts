/**
 * The local stack's object store: s3rver (a real S3-protocol server) in this process, its objects
 * in a folder that outlives the stack, so a second start finds what the first seeded. It stands in
 * for S3/R2: the function reads its model from it exactly as it would in the cloud, over the S3 API.
 */
import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';
import { parseModelSource } from '../../functions/registry/model-source.ts';
import { readExportFolder } from '../publish/export-folder.ts';
import { ModelCatalog } from '../publish/model-catalog.ts';
import { setCurrent } from '../publish/pointer-moves.ts';
import { publishVersion } from '../publish/publish-version.ts';

/** s3rver accepts exactly these credentials. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
const REGION = 'us-east-1';
/** Models live under models/<name>/<version>/, as the publishing command puts them. */
const MODELS_PREFIX = 'models/';

export interface LocalObjectStore {
  readonly endpoint: string;
  readonly bucket: string;
  /** The AWS SDK's standard variables pointing at this store, for the function's environment. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Publishes a model export folder under models/<name>/<version>/ (nothing is uploaded when the
   * same version is there already; a different one under the same version is refused) and points
   * models/<name>/current.json at it; returns the model's folder as a MODEL_SOURCE.
   */
  seedModel(dir: string, say: (line: string) => void): Promise<{ source: string; name: string; version: string; uploaded: boolean }>;
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
  const { bucket } = options;
  const root = parseModelSource(`s3://${bucket}/${MODELS_PREFIX}`);
  if (root.kind !== 's3') throw new Error('unreachable: an s3:// source');
  const catalog = new ModelCatalog(root, { endpoint, region: REGION, credentials: CREDENTIALS });

  return {
    endpoint,
    bucket,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    },
    async seedModel(dir, say) {
      // Published exactly as in production (infra/publish/): immutable version, read back and
      // verified, then the model's current.json moved to it; the function follows that pointer.
      const folder = await readExportFolder(dir);
      const { name, version } = folder.manifest;
      const published = await publishVersion(folder, catalog, say);
      await setCurrent(catalog, name, version, say, { expectManifestSha256: published.manifestSha256 });
      return { source: catalog.label(catalog.modelPrefix(name)), name, version, uploaded: published.uploaded };
    },
    async stop() {
      catalog.close();
      // Keep-alive sockets (the function's SDK) would hold close() open.
      server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}
