import * as tf from '@tensorflow/tfjs';
import { expected } from '../../../shared/expected.ts';
import { DataType, GraphBuilder, OPSET } from './graph-builder.ts';
import { LAYER_CONVERTERS, type TensorRef } from './layers.ts';

/** Options for {@link convertToOnnx}. */
export interface ConvertOptions {
  /** Graph input names, in model.inputs order (default: the tfjs input layer names). */
  readonly inputNames?: readonly string[];
  /** Graph output names, in model.outputs order (default: the tfjs output layer names). */
  readonly outputNames?: readonly string[];
  /** Name of the dynamic batch dimension. Default 'batch'. */
  readonly batchDim?: string;
  /** String metadata stored in the model (metadata_props). */
  readonly metadata?: Record<string, string>;
}

/** The ONNX opset written by the converter. */
export const ONNX_OPSET = OPSET;

const DTYPES: Record<string, DataType> = { float32: DataType.FLOAT, int32: DataType.INT32 };

/** Internal tfjs fields the walk needs: a layer's calls (nodes) and their tensors. */
interface InternalNode {
  inputTensors: tf.SymbolicTensor[];
  outputTensors: tf.SymbolicTensor[];
}
type WithNodes = tf.layers.Layer & { inboundNodes: InternalNode[] };

/** Tracks converted tensors and the layout transposes already inserted for them. */
class Converter {
  readonly g = new GraphBuilder();
  private readonly lastCache = new Map<string, TensorRef>();
  private readonly firstCache = new Map<string, TensorRef>();

  channelsLast = (t: TensorRef): TensorRef => {
    if (t.layout === 'nhwc') return t;
    let out = this.lastCache.get(t.name);
    if (!out) {
      out = { name: this.g.op('Transpose', [t.name], { perm: { ints: [0, 2, 3, 1] } }, `${t.name}_nhwc`), shape: t.shape, layout: 'nhwc' };
      this.lastCache.set(t.name, out);
    }
    return out;
  };

  channelsFirst = (t: TensorRef): TensorRef => {
    if (t.layout === 'nchw') return t;
    if (t.shape.length !== 4) throw new Error(`Expected a rank-4 tensor for a convolution but '${t.name}' has shape [${t.shape.map(String)}]`);
    let out = this.firstCache.get(t.name);
    if (!out) {
      out = { name: this.g.op('Transpose', [t.name], { perm: { ints: [0, 3, 1, 2] } }, `${t.name}_nchw`), shape: t.shape, layout: 'nchw' };
      this.firstCache.set(t.name, out);
    }
    return out;
  };

  /**
   * Converts a (possibly nested) model applied to `inputs`, returning its outputs. Layers are visited
   * through their inbound nodes: a node is converted once all its input tensors are known, so shared
   * layers, several inputs and nested Sequentials all follow the model's own graph.
   */
  convertModel(model: tf.LayersModel, inputs: TensorRef[]): TensorRef[] {
    const known = new Map<number, TensorRef>();
    model.inputs.forEach((t, i) => {
      known.set(t.id, inputs[i]!);
    });
    const pending = new Set<InternalNode>();
    const owner = new Map<InternalNode, tf.layers.Layer>();
    for (const layer of model.layers) {
      if (layer.getClassName() === 'InputLayer') continue;
      for (const node of (layer as WithNodes).inboundNodes) {
        pending.add(node);
        owner.set(node, layer);
      }
    }
    const done = (): boolean => model.outputs.every((t) => known.has(t.id));
    let progress = true;
    while (!done() && progress) {
      progress = false;
      for (const node of pending) {
        if (!node.inputTensors.every((t) => known.has(t.id))) continue;
        pending.delete(node);
        progress = true;
        const layer = owner.get(node)!;
        const outs = this.convertLayer(
          layer,
          node,
          node.inputTensors.map((t) => known.get(t.id)!),
        );
        node.outputTensors.forEach((t, i) => {
          known.set(t.id, outs[i]!);
        });
      }
    }
    if (!done()) throw new Error(`Model '${model.name}': its outputs cannot be reached from its inputs`);
    return model.outputs.map((t) => known.get(t.id)!);
  }

  private convertLayer(layer: tf.layers.Layer, node: InternalNode, inputs: TensorRef[]): TensorRef[] {
    if (layer instanceof tf.LayersModel) return this.convertModel(layer, inputs);
    const cls = layer.getClassName();
    const convert = LAYER_CONVERTERS[cls];
    if (!convert) {
      throw new Error(`Layer '${layer.name}' (class ${cls}) is not supported by the ONNX converter (supported: ${Object.keys(LAYER_CONVERTERS).join(', ')})`);
    }
    return convert(
      {
        g: this.g,
        layer,
        config: layer.getConfig() as Record<string, unknown>,
        outputShapes: node.outputTensors.map((t) => t.shape),
        channelsLast: this.channelsLast,
        channelsFirst: this.channelsFirst,
      },
      inputs,
    );
  }
}

function dims(shape: ReadonlyArray<number | null>, batch: string, name: string): Array<number | string> {
  return shape.map((d, i) => (i === 0 ? batch : (d ?? `${name}_dim${i}`)));
}

/** The default ONNX input and output names of a model: its tfjs input and output layer names. */
export function defaultNames(model: tf.LayersModel): { inputs: string[]; outputs: string[] } {
  return { inputs: model.inputs.map((t) => t.sourceLayer.name), outputs: model.outputs.map((t) => t.sourceLayer.name) };
}

/**
 * Converts a tfjs LayersModel to an ONNX ModelProto (opset {@link ONNX_OPSET}), keeping the tfjs
 * interface: same input and output shapes with a dynamic batch, channels-last images. Convolutions run
 * channels-first inside the graph with the transposes they need. Unsupported layers or attributes throw
 * an error naming the layer, its class and the attribute.
 */
export function convertToOnnx(model: tf.LayersModel, options: ConvertOptions = {}): Uint8Array {
  const c = new Converter();
  const batch = options.batchDim ?? 'batch';
  const inputNames = options.inputNames ?? defaultNames(model).inputs;
  const outputNames = options.outputNames ?? defaultNames(model).outputs;
  if (inputNames.length !== model.inputs.length) throw expected(`${model.inputs.length} names (one per model input)`, 'inputNames', inputNames.length);
  if (outputNames.length !== model.outputs.length) throw expected(`${model.outputs.length} names (one per model output)`, 'outputNames', outputNames.length);
  const inputs = model.inputs.map((t, i): TensorRef => {
    const dataType = DTYPES[t.dtype];
    if (dataType === undefined) throw new Error(`Model input '${t.name}' has dtype ${t.dtype} (expected float32 or int32)`);
    const name = c.g.reserve(inputNames[i]!);
    c.g.input({ name, dataType, dims: dims(t.shape, batch, name) });
    return { name, shape: t.shape, layout: 'nhwc' };
  });
  // Reserved before conversion so that no intermediate tensor takes an output's name.
  const reserved = outputNames.map((n) => c.g.reserve(n));
  const outputs = c.convertModel(model, inputs);
  outputs.forEach((ref, i) => {
    const name = reserved[i]!;
    c.g.node('Identity', [c.channelsLast(ref).name], {}, name, [name]);
    c.g.output({ name, dataType: DataType.FLOAT, dims: dims(model.outputs[i]!.shape, batch, name) });
  });
  return c.g.toBinary(model.name, options.metadata);
}
