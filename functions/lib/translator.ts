/**
 * Runs a model export: translators (image + style → image) and style encoders (image → style)
 * in onnxruntime-node, one lazily opened session per graph, inputs checked against the manifest
 * so a wrong size fails with a sentence instead of an onnxruntime shape error.
 */
import { join } from 'node:path';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import {
  TENSOR_NAMES,
  acceptsImageSide,
  styleEncoderGraph,
  translatorGraph,
  type Direction,
  type DomainKey,
  type Manifest,
} from '../../contract/manifest.ts';
import { loadManifestFromDir } from '../../contract/manifest-dir.ts';
import { batchDims, imageBatch, type ImageBatch } from './image-batch.ts';
import { openGraphSession, type SessionSettings } from './onnx-session.ts';

/** The caller passed tensors the model cannot take (size, batch, style length). */
export class TranslationInputError extends Error {
  override readonly name = 'TranslationInputError';
}

export class Translator {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly #settings: SessionSettings;
  readonly #sessions = new Map<string, Promise<InferenceSession>>();

  /** Loads and verifies the export in `dir` (manifest + checksums), then opens graphs on demand. */
  static async open(dir: string, settings: SessionSettings = {}): Promise<Translator> {
    return new Translator(dir, await loadManifestFromDir(dir), settings);
  }

  /** For a manifest already loaded and verified by the caller. */
  constructor(dir: string, manifest: Manifest, settings: SessionSettings = {}) {
    this.dir = dir;
    this.manifest = manifest;
    this.#settings = { ...settings };
  }

  /** Translates each image with its style: styles is [images.n, style_dim] row-major. */
  async translate(direction: Direction, images: ImageBatch, styles: Float32Array): Promise<ImageBatch> {
    this.#checkImages(images);
    const styleLength = images.n * this.manifest.style_dim;
    if (styles.length !== styleLength) {
      throw new TranslationInputError(
        `styles must hold ${images.n} x ${this.manifest.style_dim} = ${styleLength} values, got ${styles.length}`,
      );
    }
    if (!styles.every(Number.isFinite)) throw new TranslationInputError('styles must be finite numbers');
    const names = TENSOR_NAMES.translator;
    const session = await this.#session(translatorGraph(this.manifest, direction).file);
    const outputs = await session.run({
      [names.image]: new Tensor('float32', images.data, batchDims(images)),
      [names.style]: new Tensor('float32', styles, [images.n, this.manifest.style_dim]),
    });
    const output = outputs[names.output];
    if (output === undefined) throw new Error(`translator ${direction} returned no "${names.output}"`);
    expectDims(output, batchDims(images), `translator ${direction}`);
    return imageBatch(output.data as Float32Array, images.n, images.height, images.width);
  }

  /** The style of each image, as domain `domain` sees it: [images.n, style_dim] row-major. */
  async encodeStyle(domain: DomainKey, images: ImageBatch): Promise<Float32Array> {
    this.#checkImages(images);
    const names = TENSOR_NAMES.styleEncoder;
    const session = await this.#session(styleEncoderGraph(this.manifest, domain).file);
    const outputs = await session.run({ [names.image]: new Tensor('float32', images.data, batchDims(images)) });
    const output = outputs[names.output];
    if (output === undefined) throw new Error(`style encoder ${domain} returned no "${names.output}"`);
    expectDims(output, [images.n, this.manifest.style_dim], `style encoder ${domain}`);
    return output.data as Float32Array;
  }

  /** Releases every opened session; the translator must not be used afterwards. */
  async close(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(sessions.map(async (pending) => (await pending).release()));
  }

  #checkImages(images: ImageBatch): void {
    const { size_multiple: multiple, min_size: minSize } = this.manifest;
    for (const [label, value] of [['height', images.height], ['width', images.width]] as const) {
      if (!acceptsImageSide(this.manifest, value)) {
        throw new TranslationInputError(
          `image ${label} ${value} must be a multiple of ${multiple} and at least ${minSize} (model ${this.manifest.name} ${this.manifest.version})`,
        );
      }
    }
  }

  #session(file: string): Promise<InferenceSession> {
    let pending = this.#sessions.get(file);
    if (pending === undefined) {
      pending = openGraphSession(join(this.dir, file), this.#settings);
      // Forget a failed open so a later call can retry instead of replaying the old rejection.
      pending.catch(() => this.#sessions.delete(file));
      this.#sessions.set(file, pending);
    }
    return pending;
  }
}

function expectDims(tensor: Tensor, expected: readonly number[], label: string): void {
  if (tensor.type !== 'float32' || tensor.dims.length !== expected.length || tensor.dims.some((d, i) => d !== expected[i])) {
    throw new Error(`${label} returned ${tensor.type} [${tensor.dims.join(',')}], expected float32 [${expected.join(',')}]`);
  }
}
