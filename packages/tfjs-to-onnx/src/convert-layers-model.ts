import * as tf from '@tensorflow/tfjs';
import { type LoadedModel, type LoadOptions, loadLayersModelArtifacts, loadLayersModelFileWithNotes } from './model-io.ts';
import { Prng } from './prng.ts';
import type { NamedTensors } from './tensor-data.ts';
import { type ConvertOptions, type ConvertResult, convertModelToOnnx } from './convert.ts';

/** Options for {@link convertLayersModel}. */
export interface ConvertLayersModelOptions extends ConvertOptions, LoadOptions {
  /**
   * Also return seeded random inputs (this batch size; dynamic non-batch sizes become 8) and tfjs'
   * outputs for them, to check the ONNX model against (the CLI does, with onnxruntime-node).
   */
  readonly sampleBatch?: number;
  /** Seed of the sample inputs. Default 1. */
  readonly sampleSeed?: number;
}

/** Seeded inputs and the tfjs model's outputs for them. */
export interface Sample {
  readonly inputs: NamedTensors;
  readonly outputs: NamedTensors;
}

/** What {@link convertLayersModel} returns. */
export interface LayersModelConversion extends ConvertResult {
  readonly kind: 'layers-model';
  /** Parameters the topology declares. */
  readonly parameters: number;
  /** What loading mapped (Keras options tfjs lacks, dtype policies). */
  readonly loadNotes: string[];
  readonly sample?: Sample;
}

/** The largest id an int32 input may take: the smallest inputDim / numTokens among the layers reading it. */
function idRange(model: tf.LayersModel, input: tf.SymbolicTensor): number {
  let limit = Number.POSITIVE_INFINITY;
  for (const layer of model.layers) {
    const config = layer.getConfig() as { inputDim?: number; numTokens?: number };
    const size = config.inputDim ?? config.numTokens;
    if (size === undefined) continue;
    const reads = layer.inboundNodes.some((n) => n.inputTensors.some((t) => t.id === input.id));
    if (reads) limit = Math.min(limit, size);
  }
  return Number.isFinite(limit) ? limit : 2;
}

/** Seeded inputs for a model (normal floats; ids in each int input's range) and tfjs' outputs. */
export function sampleOf(model: tf.LayersModel, names: { inputs: string[]; outputs: string[] }, batch: number, seed: number): Sample {
  const prng = new Prng(seed);
  const inputs: NamedTensors = {};
  const tensors = model.inputs.map((t, i) => {
    const shape = t.shape.map((d, k) => d ?? (k === 0 ? batch : 8));
    const n = shape.reduce((a, b) => a * b, 1);
    const data =
      t.dtype === 'int32'
        ? (() => {
            const max = idRange(model, t);
            return Int32Array.from({ length: n }, () => prng.nextInt(max));
          })()
        : prng.normals(n);
    inputs[names.inputs[i]!] = { dtype: t.dtype === 'int32' ? 'int32' : 'float32', shape, data };
    return tf.tensor(data, shape, t.dtype === 'int32' ? 'int32' : 'float32');
  });
  const predicted = model.predict(tensors.length === 1 ? tensors[0]! : tensors);
  const list = Array.isArray(predicted) ? predicted : [predicted];
  const outputs: NamedTensors = {};
  list.forEach((t, i) => {
    outputs[names.outputs[i]!] = {
      dtype: t.dtype === 'int32' ? 'int32' : 'float32',
      shape: t.shape,
      data: t.dtype === 'int32' ? Int32Array.from(t.dataSync()) : Float32Array.from(t.dataSync()),
    };
  });
  tf.dispose([...tensors, ...list]);
  return { inputs, outputs };
}

/**
 * Converts a tfjs layers model to ONNX: from `model.json` (weights beside it, every file checked
 * before a byte of weights is read) or from in-memory artifacts (`tf.io.ModelArtifacts`: topology,
 * weight specs, weight data). Any layout tfjs and Keras write is accepted (see model-io.ts and
 * keras-topology.ts), quantized weights are dequantized as tfjs does, and the parameter ceiling is
 * checked before anything is allocated. The model is disposed afterwards.
 *
 * @example
 * const { onnx, report } = await convertLayersModel('model/model.json', { opset: 17 });
 */
export async function convertLayersModel(source: string | tf.io.ModelArtifacts, options: ConvertLayersModelOptions = {}): Promise<LayersModelConversion> {
  const loaded: LoadedModel =
    typeof source === 'string' ? await loadLayersModelFileWithNotes(source, options) : await loadLayersModelArtifacts(source, 'model artifacts', options);
  const { model } = loaded;
  try {
    const result = convertModelToOnnx(model, options);
    const names = { inputs: result.inputs.map((i) => i.name), outputs: result.outputs.map((o) => o.name) };
    const sample = options.sampleBatch ? sampleOf(model, names, options.sampleBatch, options.sampleSeed ?? 1) : undefined;
    return { kind: 'layers-model', ...result, parameters: loaded.parameters, loadNotes: loaded.notes, ...(sample ? { sample } : {}) };
  } finally {
    model.dispose();
  }
}
