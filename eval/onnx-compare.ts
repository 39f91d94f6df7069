import * as ort from 'onnxruntime-node';
import type { NamedTensors } from '../shared/tensor-spec.ts';

/** Runs an ONNX model on onnxruntime-node's CPU provider and returns its outputs by name. */
export async function runOnnxModel(bytes: Uint8Array, inputs: NamedTensors): Promise<NamedTensors> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  try {
    const feeds = Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, new ort.Tensor(t.dtype, t.data, [...t.shape])]));
    const out = await session.run(feeds);
    return Object.fromEntries(
      session.outputNames.map((name) => {
        const t = out[name]!;
        return [name, { dtype: t.type === 'int32' ? 'int32' : 'float32', shape: t.dims.map(Number), data: t.data as Float32Array | Int32Array }];
      }),
    );
  } finally {
    await session.release();
  }
}
