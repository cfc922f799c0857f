/**
 * Stacking items of leading dimension 1 into one batch along dim 0, and splitting a batch's
 * outputs back into one result per item. Items of a batch share a key (graph + input shape), so
 * their shapes agree; the batcher refuses an item whose shapes differ from its key's at submit, so
 * only that item fails.
 */
import { tensorProblem, type Feeds, type TensorData } from '../inference/tensor-data.ts';

/** Why `inputs` cannot be an item of a batch, or null when it can. */
export function itemProblem(inputs: Feeds): string | null {
  const names = Object.keys(inputs);
  if (names.length === 0) return 'an item needs at least one input tensor';
  for (const name of names) {
    const tensor = inputs[name] as TensorData;
    if (tensor.dims[0] !== 1) return `input ${name} must have leading dimension 1, got [${tensor.dims.join(',')}]`;
    const problem = tensorProblem(name, tensor);
    if (problem !== null) return problem;
  }
  return null;
}

/** Whether `item` has exactly the tensor names and dims of `reference`. */
export function sameSignature(reference: Feeds, item: Feeds): boolean {
  const names = Object.keys(reference);
  if (Object.keys(item).length !== names.length) return false;
  return names.every((name) => {
    const a = reference[name] as TensorData;
    const b = item[name];
    return b !== undefined && b.dims.length === a.dims.length && b.dims.every((d, i) => d === a.dims[i]);
  });
}

/**
 * One batch from items of identical signature. A single item is passed through as it is: no
 * copy, and its buffers travel on to the executor.
 */
export function stack(items: readonly Feeds[]): Feeds {
  const first = items[0];
  if (first === undefined) throw new RangeError('cannot stack zero items');
  if (items.length === 1) return first;
  const batch: Record<string, TensorData> = {};
  for (const [name, tensor] of Object.entries(first)) {
    const size = tensor.data.length;
    const data = new Float32Array(size * items.length);
    items.forEach((item, i) => data.set((item[name] as TensorData).data, i * size));
    batch[name] = { data, dims: [items.length, ...tensor.dims.slice(1)] };
  }
  return batch;
}

/**
 * Splits every output of a batch of `count` into per-item outputs of leading dimension 1. Each
 * item gets its own buffer (a copy), so a caller may keep or transfer it without pinning or
 * detaching its neighbours' results. Throws if an output does not lead with `count`.
 */
export function unstack(outputs: Readonly<Record<string, TensorData>>, count: number): Record<string, TensorData>[] {
  if (count === 1) {
    for (const [name, tensor] of Object.entries(outputs)) {
      if (tensor.dims[0] !== 1) throw new Error(`output ${name} has dims [${tensor.dims.join(',')}], expected a batch of 1`);
    }
    return [{ ...outputs }];
  }
  const items = Array.from({ length: count }, () => ({}) as Record<string, TensorData>);
  for (const [name, tensor] of Object.entries(outputs)) {
    if (tensor.dims[0] !== count || tensor.data.length % count !== 0) {
      throw new Error(`output ${name} has dims [${tensor.dims.join(',')}], expected a batch of ${count}`);
    }
    const size = tensor.data.length / count;
    const dims = [1, ...tensor.dims.slice(1)];
    items.forEach((item, i) => {
      item[name] = { data: tensor.data.slice(i * size, (i + 1) * size), dims };
    });
  }
  return items;
}
