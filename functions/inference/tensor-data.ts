/**
 * Tensors as they cross thread boundaries: a bare Float32Array plus its dims, which
 * structured clone carries as-is (an onnxruntime Tensor object does not survive postMessage).
 */
export interface TensorData {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** Named graph inputs (or outputs). */
export type Feeds = Readonly<Record<string, TensorData>>;

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((product, dim) => product * dim, 1);
}

/**
 * Why `tensor` is not a usable float32 tensor, or null. Catches a buffer already transferred
 * elsewhere (detached: length 0), which matters beyond tidiness: Node 20 silently drops a
 * postMessage whose transfer list holds a detached ArrayBuffer, so the run would never answer.
 */
export function tensorProblem(name: string, tensor: TensorData): string | null {
  if (!(tensor.data instanceof Float32Array)) return `input ${name} must be a Float32Array`;
  if (tensor.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) return `input ${name} has invalid dims [${tensor.dims.join(',')}]`;
  const expected = elementCount(tensor.dims);
  if (tensor.data.length !== expected) {
    const detached = tensor.data.length === 0 ? ' (was its buffer already transferred?)' : '';
    return `input ${name} [${tensor.dims.join(',')}] needs ${expected} values, got ${tensor.data.length}${detached}`;
  }
  return null;
}

/**
 * The tensor with a buffer it owns alone, and that buffer, ready to be transferred.
 *
 * Transferring detaches the whole ArrayBuffer, and cloning a view clones the whole buffer too; a
 * view into a larger buffer (a Node Buffer pool slice, a batch output) is therefore copied first,
 * so neither another owner's memory is detached nor a large buffer cloned for a small view.
 */
export function ownedForTransfer(tensor: TensorData): { tensor: TensorData; buffer: ArrayBuffer } {
  const { data } = tensor;
  if (data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) {
    return { tensor, buffer: data.buffer };
  }
  const copy = data.slice();
  return { tensor: { data: copy, dims: tensor.dims }, buffer: copy.buffer };
}

/** Every tensor made transferable, and the transfer list for postMessage. */
export function transferableFeeds(feeds: Feeds): { feeds: Record<string, TensorData>; transfer: ArrayBuffer[] } {
  const owned: Record<string, TensorData> = {};
  const transfer: ArrayBuffer[] = [];
  for (const [name, tensor] of Object.entries(feeds)) {
    const { tensor: movable, buffer } = ownedForTransfer(tensor);
    owned[name] = movable;
    // The same buffer twice in one transfer list is a DataCloneError.
    if (!transfer.includes(buffer)) transfer.push(buffer);
  }
  return { feeds: owned, transfer };
}
