import * as tf from '@tensorflow/tfjs';
import { expected } from './expected.ts';
import { DataType, DEFAULT_OPSET, GraphBuilder, MAX_OPSET, MIN_OPSET, type Producer, serialiseModel } from './graph-builder.ts';
import { LAYER_CONVERTERS, MASK_MAKING, MASK_PASSING, MASK_READING, REFUSED_LAYERS } from './layers.ts';
import { type Dtype, type LayerContext, type Mask, physicalPerm, range, type Shape, type TensorRef } from './layers/context.ts';
import { nameOutputs, optimise } from './optimize.ts';

/** Options for {@link convertModelToOnnx}. */
export interface ConvertOptions {
  /** Graph input names, in model.inputs order (default: the tfjs input layer names). */
  readonly inputNames?: readonly string[];
  /** Graph output names, in model.outputs order (default: the tfjs output layer names). */
  readonly outputNames?: readonly string[];
  /** Name of the dynamic batch dimension. Default 'batch'. */
  readonly batchDim?: string;
  /** String metadata stored in the model (metadata_props). */
  readonly metadata?: Record<string, string>;
  /** The ONNX opset, {@link MIN_OPSET} to {@link MAX_OPSET}. Default {@link DEFAULT_OPSET}. */
  readonly opset?: number;
  /** Store float weights as float16 (cast back to float32 when the model loads). */
  readonly fp16?: boolean;
  /** The producer_name and producer_version written into the model. Default tfjs-to-onnx and its version. */
  readonly producer?: Producer;
}

/** The report row of nodes made for the model outputs themselves. */
const OUTPUTS_ROW = '(model outputs)';

/** A graph input or output of the converted model. */
export interface IoSpec {
  readonly name: string;
  readonly dtype: 'float32' | 'int32';
  /** Dimensions: numbers, or names of dynamic ones ('batch', ...). */
  readonly shape: ReadonlyArray<number | string>;
}

/** One row of the conversion report: a tfjs layer and what it became. */
export interface LayerReport {
  /** The layer's name (nested models: `model/layer`). */
  readonly layer: string;
  readonly className: string;
  /** ONNX op types of the nodes made for it, in graph order (with counts, e.g. 'Conv', 'Relu'). */
  readonly nodes: string[];
  readonly parameters: number;
  /** Folded into that layer's node (batch norms), or other notes. */
  readonly notes: string[];
}

/** What {@link convertModelToOnnx} returns. */
export interface ConvertResult {
  /** The ONNX model (float16 weights with `fp16`). */
  readonly onnx: Uint8Array;
  /** With `fp16`: the same model with float32 weights, to measure the difference. */
  readonly fp32Onnx?: Uint8Array;
  readonly opset: number;
  readonly inputs: IoSpec[];
  readonly outputs: IoSpec[];
  readonly report: LayerReport[];
  /** Nodes in the main graph by op type. */
  readonly ops: Record<string, number>;
}

const DTYPES: Record<string, { onnx: DataType; dtype: 'float32' | 'int32' }> = {
  float32: { onnx: DataType.FLOAT, dtype: 'float32' },
  int32: { onnx: DataType.INT32, dtype: 'int32' },
};

/** Internal tfjs fields the walk needs: a layer's calls (nodes) and their tensors. */
interface InternalNode {
  inputTensors: tf.SymbolicTensor[];
  outputTensors: tf.SymbolicTensor[];
}
type WithNodes = tf.layers.Layer & { inboundNodes: InternalNode[] };

const isModel = (l: tf.layers.Layer): l is tf.LayersModel => l instanceof tf.LayersModel;

/** Does the model make masks with its own layers (not counting nested models)? */
function makesMasks(model: tf.LayersModel): boolean {
  return model.layers.some((l) => {
    const cls = l.getClassName();
    return cls === 'Masking' || (cls === 'Embedding' && (l.getConfig() as { maskZero?: boolean }).maskZero === true);
  });
}

/** Where a layer sits: its report name prefix, and whether tfjs may hand it a stale mask. */
interface Scope {
  readonly prefix: string;
  /** The model running this layer (or one running that model) makes masks. */
  readonly masks: boolean;
}

/**
 * Converts a model's layers into a {@link GraphBuilder}: tracks converted tensors, the layout transposes
 * already inserted, and the report rows. {@link convertModelToOnnx} drives it; exported (subpath
 * `tfjs-to-onnx/convert`) for code that builds graphs of its own around converted layers.
 */
export class Converter {
  readonly g: GraphBuilder;
  private readonly lastCache = new Map<string, TensorRef>();
  private readonly firstCache = new Map<string, TensorRef>();
  readonly rows: { key: string; layer: tf.layers.Layer; notes: string[] }[] = [];
  constructor(opset: number) {
    this.g = new GraphBuilder(opset);
  }

  channelsLast = (t: TensorRef): TensorRef => {
    if (t.layout === 'tfjs') return t;
    let out = this.lastCache.get(t.name);
    if (!out) {
      const perm = physicalPerm(t);
      const inverse = perm.map((_, i) => perm.indexOf(i));
      out = { ...t, name: this.g.transpose(t.name, inverse, `${t.name}_nhwc`), layout: 'tfjs' };
      this.lastCache.set(t.name, out);
    }
    return out;
  };

  channelsFirst = (t: TensorRef): TensorRef => {
    if (t.layout === 'nchw') return t;
    const r = t.shape.length;
    if (r < 3) throw new Error(`Expected a tensor of rank 3 to 5 for a channels-first op but '${t.name}' has shape [${t.shape.map(String)}]`);
    let out = this.firstCache.get(t.name);
    if (!out) {
      out = { ...t, name: this.g.transpose(t.name, [0, r - 1, ...range(1, r - 1)], `${t.name}_nchw`), layout: 'nchw' };
      this.firstCache.set(t.name, out);
    }
    return out;
  };

  /**
   * Converts a (possibly nested) model applied to `inputs`, returning its outputs. Layers are visited
   * through their inbound nodes: a node is converted once all its input tensors are known, so shared
   * layers, several inputs and nested models all follow the model's own graph.
   */
  convertModel(model: tf.LayersModel, inputs: TensorRef[], outer: Scope): TensorRef[] {
    const scope: Scope = { prefix: outer.prefix, masks: outer.masks || makesMasks(model) };
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
          node.inputTensors.map((t) => known.get(t.id)!),
          node.outputTensors.map((t) => t.shape),
          scope,
        );
        node.outputTensors.forEach((t, i) => {
          known.set(t.id, outs[i]!);
        });
      }
    }
    if (!done()) throw new Error(`Model '${model.name}': its outputs cannot be reached from its inputs`);
    return model.outputs.map((t) => known.get(t.id)!);
  }

  convertLayer(layer: tf.layers.Layer, inputs: TensorRef[], outputShapes: readonly Shape[], scope: Scope): TensorRef[] {
    const key = `${scope.prefix}${layer.name}`;
    if (isModel(layer)) {
      // tfjs feeds a nested model's inputs without their masks (and its outputs carry none).
      const outs = this.convertModel(
        layer,
        inputs.map(({ mask: _m, ...t }) => t),
        { prefix: `${key}/`, masks: scope.masks },
      );
      return outs.map(({ mask: _m, ...t }) => t);
    }
    const cls = layer.getClassName();
    const convert = LAYER_CONVERTERS[cls];
    if (!convert) {
      const why = REFUSED_LAYERS[cls];
      if (why) throw new Error(`Layer '${layer.name}' (class ${cls}) cannot be converted: ${why}`);
      throw new Error(`Layer '${layer.name}' (class ${cls}) is not supported by the ONNX converter (supported: ${Object.keys(LAYER_CONVERTERS).join(', ')})`);
    }
    if (MASK_READING.has(cls) || (cls === 'TimeDistributed' && MASK_READING.has((layer as unknown as { layer: tf.layers.Layer }).layer.getClassName()))) {
      if (scope.masks && !inputs[0]!.mask) this.refuseStaleMask(layer, cls);
    }
    const notes: string[] = [];
    const row = { key, layer, notes };
    this.rows.push(row);
    const previous = this.g.layer;
    this.g.layer = key;
    const ctx: LayerContext = {
      g: this.g,
      layer,
      config: layer.getConfig() as Record<string, unknown>,
      outputShapes,
      channelsLast: this.channelsLast,
      channelsFirst: this.channelsFirst,
      convertInner: (inner, innerInputs, shapes) => {
        const saved = this.g.layer;
        try {
          return this.convertLayer(inner, innerInputs, shapes, { prefix: `${key}/`, masks: scope.masks });
        } finally {
          this.g.layer = saved;
        }
      },
      note: (text) => {
        if (!notes.includes(text)) notes.push(text);
      },
    };
    let outs: TensorRef[];
    try {
      outs = convert(ctx, inputs);
    } finally {
      this.g.layer = previous;
    }
    return outs.map((t, i) => ({ ...t, mask: this.outputMask(cls, inputs, outs, i) }));
  }

  /**
   * tfjs' predict hands every layer the mask of the last masked input it saw (kwargs.mask is never
   * reset), so a mask-reading layer whose own input has no mask reads a stale one: refused.
   */
  private refuseStaleMask(layer: tf.layers.Layer, cls: string): never {
    throw new Error(
      `Layer '${layer.name}' (class ${cls}) cannot be converted: its input carries no mask, but the model makes masks and tfjs-layers' predict() passes the last mask it met to every later layer, so this layer's result depends on tfjs' execution order`,
    );
  }

  /** tfjs' output mask of output i (every output of a layer gets the first one's mask). */
  private outputMask(cls: string, inputs: TensorRef[], outs: TensorRef[], _i: number): Mask | undefined {
    if (MASK_MAKING.has(cls)) return outs[0]!.mask;
    if (MASK_PASSING.has(cls)) return inputs[0]?.mask;
    return undefined;
  }
}

function dims(shape: ReadonlyArray<number | null>, batch: string, name: string): Array<number | string> {
  return shape.map((d, i) => d ?? (i === 0 ? batch : `${name}_dim${i}`));
}

/** The default ONNX input and output names of a model: its tfjs input and output layer names. */
export function defaultNames(model: tf.LayersModel): { inputs: string[]; outputs: string[] } {
  const names = model.outputs.map((t) => t.sourceLayer.name);
  // A layer with several outputs (return_state, merge mode null) gets one name per tensor.
  const repeated = (n: string): boolean => names.filter((m) => m === n).length > 1;
  return {
    inputs: model.inputs.map((t) => t.sourceLayer.name),
    outputs: names.map((n, i) => (repeated(n) ? `${n}_${model.outputs[i]!.tensorIndex}` : n)),
  };
}

/** Checks an opset value. */
export function checkOpset(opset: number, parameter = 'opset'): number {
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) throw expected(`integer between ${MIN_OPSET} and ${MAX_OPSET}`, parameter, opset);
  return opset;
}

function countOps(g: GraphBuilder): Record<string, number> {
  const ops: Record<string, number> = {};
  for (const n of g.nodes) ops[n.op] = (ops[n.op] ?? 0) + 1;
  return ops;
}

/**
 * Converts a tfjs LayersModel to ONNX, keeping the tfjs interface: same input and output names, dtypes
 * and shapes (dynamic batch unless the model fixes it), channels-last images. Convolutions run
 * channels-first inside the graph with a Transpose only where a tensor changes layout; batch norms are
 * folded where exact. Unsupported layers or attributes throw an error naming the layer, its class and
 * the attribute.
 */
export function convertModelToOnnx(model: tf.LayersModel, options: ConvertOptions = {}): ConvertResult {
  const opset = checkOpset(options.opset ?? DEFAULT_OPSET);
  const c = new Converter(opset);
  const batch = options.batchDim ?? 'batch';
  const inputNames = options.inputNames ?? defaultNames(model).inputs;
  const outputNames = options.outputNames ?? defaultNames(model).outputs;
  if (inputNames.length !== model.inputs.length) throw expected(`${model.inputs.length} names (one per model input)`, 'inputNames', inputNames.length);
  if (outputNames.length !== model.outputs.length) throw expected(`${model.outputs.length} names (one per model output)`, 'outputNames', outputNames.length);
  const inputs = model.inputs.map((t, i): TensorRef => {
    const type = DTYPES[t.dtype];
    if (type === undefined) throw new Error(`Model input '${t.name}' has dtype ${t.dtype} (expected float32 or int32)`);
    const name = c.g.reserve(inputNames[i]!);
    c.g.input({ name, dataType: type.onnx, dims: dims(t.shape, batch, name) });
    return { name, shape: t.shape, layout: 'tfjs', dtype: type.dtype as Dtype };
  });
  // Reserved before conversion so that no intermediate tensor takes an output's name.
  const reserved = outputNames.map((n) => c.g.reserve(n));
  const converted = c.convertModel(model, inputs, { prefix: '', masks: false });
  // Outputs go back to tfjs' layout; such transposes are reported as the model outputs' nodes.
  c.g.layer = OUTPUTS_ROW;
  const outputs = converted.map(c.channelsLast);
  c.g.layer = undefined;
  const { folded, outputs: tensors } = optimise(
    c.g,
    outputs.map((o) => o.name),
  );
  nameOutputs(c.g, tensors, reserved, new Set(inputs.map((t) => t.name)));
  // The converter's shapes (tfjs' symbolic shape is wrong for a few layers, e.g. Resizing).
  const outputSpecs: IoSpec[] = outputs.map((ref, i) => ({
    name: reserved[i]!,
    dtype: ref.dtype === 'int32' ? 'int32' : 'float32',
    shape: dims(ref.shape, batch, reserved[i]!),
  }));
  for (const spec of outputSpecs) c.g.output({ name: spec.name, dataType: spec.dtype === 'int32' ? DataType.INT32 : DataType.FLOAT, dims: spec.shape });
  const byLayer = new Map<string, string[]>();
  for (const n of c.g.nodes) {
    if (!n.layer) continue;
    byLayer.set(n.layer, [...(byLayer.get(n.layer) ?? []), n.op]);
  }
  const report: LayerReport[] = c.rows.map(({ key, layer, notes }) => ({
    layer: key,
    className: layer.getClassName(),
    nodes: byLayer.get(key) ?? [],
    parameters: layer.countParams(),
    notes: folded.has(key) ? [`folded into ${folded.get(key)}`, ...notes] : notes,
  }));
  const extra = byLayer.get(OUTPUTS_ROW);
  if (extra) report.push({ layer: OUTPUTS_ROW, className: '', nodes: extra, parameters: 0, notes: ['back to tfjs layout'] });
  const graphName = model.name;
  const { metadata, producer } = options;
  const onnx = serialiseModel(c.g, { graphName, metadata, fp16: options.fp16, producer });
  const fp32Onnx = options.fp16 ? serialiseModel(c.g, { graphName, metadata, producer }) : undefined;
  return {
    onnx,
    ...(fp32Onnx ? { fp32Onnx } : {}),
    opset,
    inputs: inputs.map((t, i) => ({ name: t.name, dtype: t.dtype === 'int32' ? 'int32' : 'float32', shape: dims(model.inputs[i]!.shape, batch, t.name) })),
    outputs: outputSpecs,
    report,
    ops: countOps(c.g),
  };
}
