/**
 * Every finished result of a job as one ZIP, streamed: client-zip pulls entries one at a time from
 * the generator below, which pages the job's items and reads one result from R2 at a time, so the
 * Worker holds one result (not the archive) however many items the job has. Entries are
 * `<index>-<item name>.<format>`; a result with n > 1 outputs becomes one entry per output seed.
 */
import { downloadZip } from 'client-zip';
import type { BatchResultItem } from '../../../contract/batch-api.ts';
import type { BatchJobStub, ResultBucket } from '../bindings.ts';

const PAGE = 200;
const EXTENSIONS: Readonly<Record<string, string>> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };

interface ZipEntry {
  readonly name: string;
  readonly input: Uint8Array;
}

/** The item's name without folders or its extension, safe as a ZIP entry name. */
function stem(item: BatchResultItem): string {
  const base = (item.name ?? `item-${item.index}`).split(/[\\/]/).pop()!.replace(/\.[a-z0-9]{1,5}$/i, '');
  const safe = base.replace(/[^\w.\- ]+/g, '_').slice(0, 100);
  return `${String(item.index).padStart(5, '0')}-${safe === '' ? 'item' : safe}`;
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

async function* entries(job: BatchJobStub, keyId: string, bucket: ResultBucket): AsyncGenerator<ZipEntry> {
  for (let after = -1; ; ) {
    const page = await job.results(keyId, after, PAGE, 'done');
    if (page === undefined) return;
    for (const item of page.items) {
      if (item.address === null) continue;
      const object = await bucket.get(`results/${item.address}`);
      if (object === null) continue; // results are never deleted; a missing one is an operator's doing
      const contentType = object.httpMetadata?.contentType ?? 'application/octet-stream';
      const bytes = new Uint8Array(await object.arrayBuffer());
      if (contentType.startsWith('application/json')) {
        const multi = JSON.parse(new TextDecoder().decode(bytes)) as { format: string; outputs: { seed: number | null; image: string }[] };
        const extension = multi.format === 'jpeg' ? 'jpg' : multi.format;
        for (const [i, output] of multi.outputs.entries()) {
          yield { name: `${stem(item)}-${output.seed ?? i}.${extension}`, input: fromBase64(output.image) };
        }
      } else {
        yield { name: `${stem(item)}.${EXTENSIONS[contentType] ?? 'bin'}`, input: bytes };
      }
    }
    if (page.last === null) return;
    after = page.last;
  }
}

export function resultsZip(job: BatchJobStub, keyId: string, bucket: ResultBucket, fileName: string): Response {
  const zip = downloadZip(entries(job, keyId, bucket));
  const headers = new Headers(zip.headers);
  headers.set('content-type', 'application/zip');
  headers.set('content-disposition', `attachment; filename="${fileName}"`);
  headers.set('cache-control', 'no-store');
  return new Response(zip.body, { status: 200, headers });
}
