/**
 * Publishing one export folder as `<root>/<name>/<version>/`, all or nothing:
 *
 * 1. the folder is read and checked (manifest valid, every graph's sha256 as declared, every graph
 *    among the files to upload);
 * 2. if the version already has a manifest.json it is published: identical content (every object
 *    read back and hashed) is a no-op, anything else is refused, since versions are immutable;
 * 3. otherwise every file but manifest.json is uploaded (leftovers of an interrupted earlier
 *    attempt, which was never visible, are replaced or removed), then read back and hashed;
 * 4. only then manifest.json goes up (create-only where the store supports it) and is read back:
 *    its presence marks a whole, verified version.
 *
 * Moving the pointer is a separate step (pointer-moves.ts), so nothing here is visible through
 * current.json until the caller asks for it.
 */
import { MANIFEST_FILE } from '../../contract/manifest-dir.ts';
import { checkGraphsListed, type ExportFile, type ExportFolder } from './export-folder.ts';
import type { ModelCatalog, ObjectDigest } from './model-catalog.ts';
import { PublishError } from './publish-error.ts';
import { TransferProgress, formatBytes, type ProgressSink } from './transfer-progress.ts';

export interface PublishResult {
  readonly name: string;
  readonly version: string;
  /** s3://bucket/<root>/<name>/<version>/ */
  readonly location: string;
  /** false: the same content was there already. */
  readonly uploaded: boolean;
  readonly files: number;
  readonly bytes: number;
  /** manifestDigest() of manifest.json as published (what the pointer records). */
  readonly manifestSha256: string;
}

/** Differences listed in a refusal before "and N more". */
const MAX_LISTED = 5;

export async function publishVersion(folder: ExportFolder, catalog: ModelCatalog, say: ProgressSink): Promise<PublishResult> {
  const { name, version } = folder.manifest;
  // Before any request: a version without one of its graphs must never get its manifest.
  checkGraphsListed(folder);
  const prefix = catalog.versionPrefix(name, version);
  const manifestFile = folder.files.find((file) => file.name === MANIFEST_FILE);
  if (manifestFile === undefined) throw new Error('readExportFolder always lists manifest.json');
  const result = {
    name,
    version,
    location: catalog.label(prefix),
    files: folder.files.length,
    bytes: folder.totalBytes,
    manifestSha256: manifestFile.sha256,
  };

  const stored = new Map((await catalog.list(prefix)).map((object) => [object.key.slice(prefix.length), object.bytes]));
  if (stored.has(MANIFEST_FILE)) {
    say(`${result.location} is published already; comparing it with ${folder.dir}`);
    await compareWithPublished(folder, stored, prefix, catalog, say);
    say(`identical: ${folder.files.length} files, ${formatBytes(folder.totalBytes)}; nothing uploaded`);
    return { ...result, uploaded: false };
  }

  // Never published (no manifest): whatever an interrupted attempt left is not part of any version.
  const wanted = new Set(folder.files.map((file) => file.name));
  for (const leftover of [...stored.keys()].filter((file) => !wanted.has(file))) {
    say(`removing ${catalog.label(prefix + leftover)}, left by an interrupted publish`);
    await catalog.delete(prefix + leftover);
  }

  const body = folder.files.filter((file) => file !== manifestFile);
  say(`publishing ${name} ${version} to ${result.location} (${folder.files.length} files, ${formatBytes(folder.totalBytes)})`);
  const bodyBytes = body.reduce((sum, file) => sum + file.bytes, 0);
  const upload = new TransferProgress('upload', { bytes: bodyBytes, files: body.length }, say);
  for (const file of body) {
    await catalog.upload(prefix + file.name, file, (bytes) => upload.add(bytes, file.name));
    upload.fileDone(file.name, file.bytes);
  }
  await verifyUploads(body, prefix, catalog, say);

  await catalog.upload(prefix + MANIFEST_FILE, manifestFile, () => {}, { ifNoneMatch: true });
  await verifyUploads([manifestFile], prefix, catalog, say);
  say(`published ${name} ${version}: ${folder.files.length} files verified`);
  return { ...result, uploaded: true };
}

/** Reads every uploaded object back and compares its sha256 and size with the local file. */
async function verifyUploads(files: readonly ExportFile[], prefix: string, catalog: ModelCatalog, say: ProgressSink): Promise<void> {
  const progress = new TransferProgress('verify', { bytes: files.reduce((sum, f) => sum + f.bytes, 0), files: files.length }, say);
  for (const file of files) {
    const digest = await catalog.digest(prefix + file.name, (bytes) => progress.add(bytes, file.name));
    const problem = mismatch(file, digest);
    if (problem !== undefined) {
      throw new PublishError(
        'store',
        `checksum mismatch after upload: ${catalog.label(prefix + file.name)} ${problem}; the version is not published (run again to retry)`,
      );
    }
    progress.fileDone(file.name, file.bytes);
  }
}

/** Throws a refusal listing how the published version differs from the folder. */
async function compareWithPublished(
  folder: ExportFolder,
  stored: ReadonlyMap<string, number>,
  prefix: string,
  catalog: ModelCatalog,
  say: ProgressSink,
): Promise<void> {
  const differences: string[] = [];
  const local = new Set(folder.files.map((file) => file.name));
  for (const file of stored.keys()) if (!local.has(file)) differences.push(`${file} is published but not in the folder`);
  const progress = new TransferProgress('compare', { bytes: folder.totalBytes, files: folder.files.length }, say);
  for (const file of folder.files) {
    const bytes = stored.get(file.name);
    if (bytes === undefined) {
      differences.push(`${file.name} is in the folder but not published`);
    } else if (bytes !== file.bytes) {
      differences.push(`${file.name}: published ${bytes} bytes, folder ${file.bytes}`);
    } else {
      const problem = mismatch(file, await catalog.digest(prefix + file.name, (n) => progress.add(n, file.name)));
      if (problem !== undefined) differences.push(`${file.name}: ${problem}`);
    }
    progress.fileDone(file.name, file.bytes);
  }
  if (differences.length === 0) return;
  const listed = differences.slice(0, MAX_LISTED).join('; ');
  const more = differences.length > MAX_LISTED ? `; and ${differences.length - MAX_LISTED} more` : '';
  throw new PublishError(
    'refused',
    `${folder.manifest.name} ${folder.manifest.version} is published already with other content (${listed}${more}). ` +
      'Published versions are immutable: give the export a new version label.',
  );
}

function mismatch(file: ExportFile, digest: ObjectDigest): string | undefined {
  if (digest.bytes !== file.bytes) return `has ${digest.bytes} bytes, the file ${file.bytes}`;
  if (digest.sha256 !== file.sha256) return `hashes to ${digest.sha256}, the file to ${file.sha256}`;
  return undefined;
}
