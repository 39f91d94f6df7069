import type * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';

/** Feeds for ORT from tfjs tensors, keyed by graph input name. */
export function feeds(names: readonly string[], tensors: readonly tf.Tensor[]): Record<string, ort.Tensor> {
  return Object.fromEntries(
    names.map((n, i) => {
      const t = tensors[i]!;
      const data = t.dtype === 'int32' ? Int32Array.from(t.dataSync()) : Float32Array.from(t.dataSync());
      return [n, new ort.Tensor(t.dtype === 'int32' ? 'int32' : 'float32', data, t.shape)];
    }),
  );
}

/** Runs an ONNX model on ORT's CPU provider and returns every output in graph order. */
export async function runOnnx(bytes: Uint8Array, inputs: Record<string, ort.Tensor>): Promise<ort.Tensor[]> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  try {
    const out = await session.run(inputs);
    return session.outputNames.map((n) => out[n]!);
  } finally {
    await session.release();
  }
}

/** Largest absolute difference between two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`Length mismatch: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
