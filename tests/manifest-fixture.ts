/**
 * A valid manifest and an export folder for it, with stand-in graph files (random bytes: the
 * manifest tests check sizes and hashes, never run the graphs).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GRAPH_FILES = ['translator_a2b.onnx', 'translator_b2a.onnx', 'style_encoder_a.onnx', 'style_encoder_b.onnx'] as const;
const STYLE_DIM = 8;

export type JsonObject = Record<string, unknown>;

function imageTensor(name: string) {
  return { name, dtype: 'float32', shape: ['N', 3, 'H', 'W'] };
}

function styleTensor() {
  return { name: 'style', dtype: 'float32', shape: ['N', STYLE_DIM] };
}

export function validManifest(files: Readonly<Record<string, Uint8Array>> = stubGraphFiles()): JsonObject {
  const entry = (file: string) => {
    const bytes = files[file];
    if (bytes === undefined) throw new Error(`no stub bytes for ${file}`);
    return { file, bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
  };
  return {
    schema_version: 1,
    name: 'sa-munit-test',
    version: '2026-11-27.1',
    created_at: '2026-11-27T13:30:00Z',
    architecture: 'sa-munit',
    domains: [
      { key: 'a', name: 'circles' },
      { key: 'b', name: 'squares' },
    ],
    image_size: 128,
    size_multiple: 4,
    min_size: 16,
    style_dim: STYLE_DIM,
    normalization: { layout: 'NCHW', channels: 'RGB', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], range: [-1, 1] },
    attention: {
      content_encoder: false,
      decoder_bottleneck: true,
      decoder_upsampling: false,
      discriminator: true,
      pool_key_value: false,
    },
    graphs: [
      {
        ...entry('translator_a2b.onnx'),
        role: 'translator',
        direction: 'a2b',
        source: 'a',
        target: 'b',
        inputs: [imageTensor('image'), styleTensor()],
        outputs: [imageTensor('translated')],
      },
      {
        ...entry('translator_b2a.onnx'),
        role: 'translator',
        direction: 'b2a',
        source: 'b',
        target: 'a',
        inputs: [imageTensor('image'), styleTensor()],
        outputs: [imageTensor('translated')],
      },
      { ...entry('style_encoder_a.onnx'), role: 'style_encoder', domain: 'a', inputs: [imageTensor('image')], outputs: [styleTensor()] },
      { ...entry('style_encoder_b.onnx'), role: 'style_encoder', domain: 'b', inputs: [imageTensor('image')], outputs: [styleTensor()] },
    ],
    opset: 18,
    exporter: { torch: '2.13.0', onnx: '1.23.0', dynamo: false },
    config: { gen: { dim: 64, style_dim: STYLE_DIM } },
    metrics: null,
  };
}

export function stubGraphFiles(): Record<string, Uint8Array> {
  return Object.fromEntries(GRAPH_FILES.map((file, i) => [file, randomBytes(1000 + i)]));
}

/** A temp export folder holding `files` and the manifest built from them (or `manifest`). */
export async function writeExportDir(
  files: Readonly<Record<string, Uint8Array>> = stubGraphFiles(),
  manifest: JsonObject = validManifest(files),
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'manifest-test-'));
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  for (const [file, bytes] of Object.entries(files)) await writeFile(join(dir, file), bytes);
  return dir;
}
