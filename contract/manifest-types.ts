/**
 * The manifest's shape as TypeScript types (mirroring contract/manifest.schema.json), the tensor
 * names the graphs must use, and the one error type for an unusable manifest.
 */
export type DomainKey = 'a' | 'b';
export type Direction = 'a2b' | 'b2a';
/** A fixed size, or a dynamic axis: N batch, H height, W width. */
export type Dim = number | 'N' | 'H' | 'W';

export interface TensorSpec {
  readonly name: string;
  readonly dtype: 'float32';
  readonly shape: readonly Dim[];
}

interface GraphFileEntry {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

export interface TranslatorGraph extends GraphFileEntry {
  readonly role: 'translator';
  readonly direction: Direction;
  readonly source: DomainKey;
  readonly target: DomainKey;
}

export interface StyleEncoderGraph extends GraphFileEntry {
  readonly role: 'style_encoder';
  readonly domain: DomainKey;
}

export type GraphEntry = TranslatorGraph | StyleEncoderGraph;

export interface Domain {
  readonly key: DomainKey;
  readonly name: string;
}

export interface Normalization {
  readonly layout: 'NCHW';
  readonly channels: 'RGB';
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly range: readonly [number, number];
}

export interface AttentionPlacement {
  readonly content_encoder: boolean;
  readonly decoder_bottleneck: boolean;
  readonly decoder_upsampling: boolean;
  readonly discriminator: boolean;
  readonly pool_key_value: boolean;
}

export interface Manifest {
  readonly schema_version: 1;
  readonly name: string;
  readonly version: string;
  readonly created_at: string;
  readonly architecture: 'sa-munit' | 'munit';
  readonly domains: readonly Domain[];
  readonly image_size: number;
  readonly size_multiple: number;
  readonly min_size: number;
  readonly style_dim: number;
  readonly normalization: Normalization;
  readonly attention: AttentionPlacement;
  readonly graphs: readonly GraphEntry[];
  readonly opset: number;
  readonly exporter: { readonly torch: string; readonly onnx: string; readonly dynamo: boolean };
  readonly config: Readonly<Record<string, unknown>>;
  readonly metrics: Readonly<Record<string, unknown>> | null;
}

/** A manifest that cannot be used; the message names the file and the field path of each issue. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  readonly file: string;
  readonly issues: readonly string[];

  constructor(file: string, issues: readonly string[]) {
    super(`${file}: ${issues.join('; ')}`);
    this.file = file;
    this.issues = issues;
  }
}

/** Tensor names fixed by the contract (see DESIGN.md, "Graphs"). */
export const TENSOR_NAMES = {
  translator: { image: 'image', style: 'style', output: 'translated' },
  styleEncoder: { image: 'image', output: 'style' },
} as const;
