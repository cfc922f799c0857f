import { rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestError, isDateTime, parseManifest, styleEncoderGraph, translatorGraph } from '../contract/manifest.ts';
import { loadManifestFromDir, sha256OfFile } from '../contract/manifest-dir.ts';
import { stubGraphFiles, validManifest, writeExportDir, type JsonObject } from './manifest-fixture.ts';

/** A deep copy of the valid manifest with `edit` applied. */
function variant(edit: (m: any) => void): JsonObject {
  const manifest = structuredClone(validManifest());
  edit(manifest);
  return manifest;
}

function parseError(json: unknown): ManifestError {
  try {
    parseManifest(json, 'm.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return error as ManifestError;
  }
  throw new Error('parseManifest accepted an invalid manifest');
}

describe('parseManifest', () => {
  it('accepts a valid manifest and returns it frozen', () => {
    const manifest = parseManifest(validManifest());
    expect(manifest.style_dim).toBe(8);
    expect(translatorGraph(manifest, 'b2a').file).toBe('translator_b2a.onnx');
    expect(styleEncoderGraph(manifest, 'a').file).toBe('style_encoder_a.onnx');
    expect(Object.isFrozen(manifest.graphs[0])).toBe(true);
  });

  it('does not keep a reference to the caller\'s object', () => {
    const json = validManifest();
    const manifest = parseManifest(json);
    (json as any).name = 'changed';
    expect(manifest.name).toBe('sa-munit-test');
  });

  it('accepts plain MUNIT with a metrics object and dynamo exporter', () => {
    const json = variant((m) => {
      m.architecture = 'munit';
      m.metrics = { fid: 12.5 };
      m.exporter.dynamo = true;
    });
    expect(parseManifest(json).architecture).toBe('munit');
  });

  const broken: [string, (m: any) => void, RegExp][] = [
    ['missing top-level field', (m) => delete m.style_dim, /^m\.json: manifest\.style_dim: is required/],
    ['missing graph field', (m) => delete m.graphs[1].sha256, /manifest\.graphs\[1\]\.sha256: is required/],
    ['bad sha256 pattern', (m) => (m.graphs[2].sha256 = 'ABC'), /manifest\.graphs\[2\]\.sha256: must match pattern/],
    ['unknown field', (m) => (m.colour = 'red'), /manifest\.colour: is not allowed/],
    ['unknown graph field', (m) => (m.graphs[0].extra = 1), /manifest\.graphs\[0\]\.extra: is not allowed/],
    ['bad role', (m) => (m.graphs[3].role = 'decoder'), /manifest\.graphs\[3\]\.role: must be "translator" or "style_encoder"/],
    ['bad direction', (m) => (m.graphs[0].direction = 'a2c'), /manifest\.graphs\[0\]\.direction: must be one of \["a2b","b2a"\]/],
    ['zero dim', (m) => (m.graphs[0].inputs[0].shape[1] = 0), /manifest\.graphs\[0\]\.inputs\[0\]\.shape\[1\]: must be a fixed size/],
    ['wrong channel dim', (m) => (m.graphs[0].inputs[0].shape = ['N', 4, 'H', 'W']), /manifest\.graphs\[0\]\.inputs\[0\]\.shape: must be \["N",3,"H","W"\]/],
    ['style dim differs from style_dim', (m) => (m.graphs[1].inputs[1].shape = ['N', 16]), /manifest\.graphs\[1\]\.inputs\[1\]\.shape: must be \["N",8\]/],
    ['encoder output dim', (m) => (m.graphs[2].outputs[0].shape = ['N', 9]), /manifest\.graphs\[2\]\.outputs\[0\]\.shape/],
    ['wrong output name', (m) => (m.graphs[0].outputs[0].name = 'image'), /manifest\.graphs\[0\]\.outputs\[0\]\.name: must be "translated"/],
    ['missing style input', (m) => m.graphs[0].inputs.pop(), /manifest\.graphs\[0\]\.inputs: must be 2 tensor/],
    ['missing translator', (m) => {
      m.graphs[1] = { ...m.graphs[3], file: 'style_encoder_b2.onnx' };
    }, /must hold exactly one b2a translator, found 0/],
    ['translator with wrong source', (m) => (m.graphs[0].source = 'b'), /manifest\.graphs\[0\]: translator a2b must have source "a"/],
    ['missing style encoder', (m) => (m.graphs[3].domain = 'a'), /exactly one style encoder for domain b, found 0/],
    ['duplicate file name', (m) => (m.graphs[1].file = m.graphs[0].file), /manifest\.graphs\[1\]\.file: "translator_a2b\.onnx" is also used by manifest\.graphs\[0\]/],
    ['only one domain key', (m) => (m.domains[1].key = 'a'), /manifest\.domains: must hold key "a" and key "b"/],
    ['same domain names', (m) => (m.domains[1].name = 'circles'), /manifest\.domains: names must differ/],
    ['bad date', (m) => (m.created_at = '2026-02-30T00:00:00Z'), /manifest\.created_at: must be an RFC 3339 date-time/],
    ['image_size not a multiple', (m) => (m.image_size = 130), /manifest\.image_size: must be a multiple of size_multiple \(4\)/],
    ['zero std', (m) => (m.normalization.std[1] = 0), /manifest\.normalization\.std\[1\]: must be > 0/],
    ['wrong schema_version', (m) => (m.schema_version = 2), /manifest\.schema_version: must be 1/],
    ['bad name', (m) => (m.name = 'Has Spaces'), /manifest\.name: must match pattern/],
  ];

  it.each(broken)('rejects %s, naming the field', (_label, edit, message) => {
    expect(parseError(variant(edit)).message).toMatch(message);
  });

  it('reports every schema problem at once', () => {
    const error = parseError(variant((m) => {
      delete m.name;
      m.graphs[2].sha256 = 'nope';
    }));
    expect(error.issues).toHaveLength(2);
    expect(error.file).toBe('m.json');
  });

  it('rejects things that are not manifests', () => {
    expect(parseError(null).message).toMatch(/^m\.json: manifest: must be object/);
    expect(parseError([]).message).toMatch(/manifest: must be object/);
  });
});

describe('isDateTime', () => {
  it.each(['2026-11-27T13:30:00Z', '2026-11-27T13:30:00.123456+01:00', '2024-02-29T23:59:60z'])('accepts %s', (text) => {
    expect(isDateTime(text)).toBe(true);
  });
  it.each(['2026-11-27', '2026-13-01T00:00:00Z', '2023-02-29T00:00:00Z', '2026-11-27T24:00:00Z', '2026-11-27T13:30:00'])(
    'rejects %s',
    (text) => {
      expect(isDateTime(text)).toBe(false);
    },
  );
});

describe('loadManifestFromDir', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  async function exportDir(...args: Parameters<typeof writeExportDir>): Promise<string> {
    const dir = await writeExportDir(...args);
    dirs.push(dir);
    return dir;
  }
  async function loadError(dir: string): Promise<ManifestError> {
    const error = await loadManifestFromDir(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ManifestError);
    return error as ManifestError;
  }

  it('loads a folder whose files match the manifest', async () => {
    const dir = await exportDir();
    expect((await loadManifestFromDir(dir)).graphs).toHaveLength(4);
  });

  it('hashes files by streaming (sha256 of a known string)', async () => {
    const dir = await exportDir();
    await writeFile(join(dir, 'abc.txt'), 'abc');
    expect(await sha256OfFile(join(dir, 'abc.txt'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('rejects a file whose bytes changed but not its size', async () => {
    const files = stubGraphFiles();
    const dir = await exportDir(files);
    const changed = Uint8Array.from(files['style_encoder_a.onnx'] ?? []);
    changed[10] = (changed[10] ?? 0) ^ 0xff;
    await writeFile(join(dir, 'style_encoder_a.onnx'), changed);
    const error = await loadError(dir);
    expect(error.file).toBe(join(dir, 'style_encoder_a.onnx'));
    expect(error.message).toMatch(/style_encoder_a\.onnx: manifest\.graphs\[2\]\.sha256: manifest says [0-9a-f]{64}, file hashes to/);
  });

  it('rejects a truncated file, naming it and both sizes', async () => {
    const dir = await exportDir();
    await truncate(join(dir, 'translator_b2a.onnx'), 10);
    const error = await loadError(dir);
    expect(error.message).toMatch(/translator_b2a\.onnx: manifest\.graphs\[1\]\.bytes: manifest says 1001 bytes, file has 10/);
  });

  it('rejects a missing graph file', async () => {
    const dir = await exportDir();
    await rm(join(dir, 'translator_a2b.onnx'));
    expect((await loadError(dir)).message).toMatch(/translator_a2b\.onnx: manifest\.graphs\[0\]\.file: cannot read: no such file/);
  });

  it('rejects a missing manifest, naming manifest.json', async () => {
    const dir = await exportDir();
    await rm(join(dir, 'manifest.json'));
    expect((await loadError(dir)).message).toMatch(/manifest\.json: cannot read: no such file/);
  });

  it('rejects a manifest that is not JSON', async () => {
    const dir = await exportDir();
    await writeFile(join(dir, 'manifest.json'), '{"name": ');
    expect((await loadError(dir)).message).toMatch(/manifest\.json: is not valid JSON/);
  });

  it('names the manifest file when the schema fails', async () => {
    const dir = await exportDir(undefined, variant((m) => (m.graphs[0].bytes = 0)));
    const error = await loadError(dir);
    expect(error.file).toBe(join(dir, 'manifest.json'));
    expect(error.message).toContain('manifest.graphs[0].bytes: must be >= 1');
  });
});
