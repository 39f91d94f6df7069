import type * as Ort from 'onnxruntime-node';
import type { GraphTensors, NamedTensors } from './tensor-data.ts';

/**
 * onnxruntime-node, an optional peer dependency used only to check a conversion against tfjs: imported
 * when a check runs, so converting needs no native runtime. Missing, it is an error that says what to do.
 */
async function onnxRuntime(): Promise<typeof Ort> {
  try {
    return await import('onnxruntime-node');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes("'onnxruntime-node'");
    if (!missing) throw err;
    throw new Error(
      'checking the ONNX model against tfjs needs onnxruntime-node, an optional peer dependency of tfjs-to-onnx: install it (npm install onnxruntime-node), or skip the check (--samples 0)',
      { cause: err },
    );
  }
}

/** Throws an error that says how to install it unless onnxruntime-node can be imported (the command asks before converting anything). */
export async function requireOnnxRuntime(): Promise<void> {
  await onnxRuntime();
}

/** Runs an ONNX model on onnxruntime-node's CPU provider and returns its outputs by name. */
export async function runOnnxModel(bytes: Uint8Array, inputs: NamedTensors): Promise<NamedTensors> {
  return (await runOnnxGraph(bytes, inputs)) as NamedTensors;
}

/** {@link runOnnxModel} for graph models, whose inputs and outputs may also be bool. */
export async function runOnnxGraph(bytes: Uint8Array, inputs: GraphTensors): Promise<GraphTensors> {
  const ort = await onnxRuntime();
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  try {
    const feeds = Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, new ort.Tensor(t.dtype, t.data, [...t.shape])]));
    const out = await session.run(feeds);
    return Object.fromEntries(
      session.outputNames.map((name) => {
        const t = out[name]!;
        const dtype = t.type === 'int32' ? 'int32' : t.type === 'bool' ? 'bool' : 'float32';
        return [name, { dtype, shape: t.dims.map(Number), data: t.data as Float32Array | Int32Array | Uint8Array }];
      }),
    );
  } finally {
    await session.release();
  }
}
