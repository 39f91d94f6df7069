import type * as tf from '@tensorflow/tfjs';
import { int, ints, type AttrValue, type GraphBuilder } from './graph-builder.ts';

/** A tensor being converted: its ONNX name, its tfjs (channels-last) shape, and its physical layout. */
export interface TensorRef {
  readonly name: string;
  /** The tfjs shape, batch first (null = dynamic). */
  readonly shape: ReadonlyArray<number | null>;
  /** 'nchw' when a rank-4 tensor is physically channels-first inside the ONNX graph. */
  readonly layout: 'nhwc' | 'nchw';
}

/** What a layer converter gets. */
export interface LayerContext {
  readonly g: GraphBuilder;
  readonly layer: tf.layers.Layer;
  readonly config: Record<string, unknown>;
  /** The tfjs output shapes of this call. */
  readonly outputShapes: ReadonlyArray<ReadonlyArray<number | null>>;
  /** Converts a tensor to channels-last (cached: one Transpose per tensor at most). */
  readonly channelsLast: (t: TensorRef) => TensorRef;
  /** Converts a rank-4 tensor to channels-first (cached). */
  readonly channelsFirst: (t: TensorRef) => TensorRef;
}

export type LayerConverter = (ctx: LayerContext, inputs: TensorRef[]) => TensorRef[];

/** An unsupported-attribute error naming the layer, its class and the attribute. */
export function unsupported(layer: tf.layers.Layer, attribute: string, value: unknown, expected: string): Error {
  return new Error(`Layer '${layer.name}' (class ${layer.getClassName()}): ${attribute} ${JSON.stringify(value)} is not supported (expected ${expected})`);
}

function weights(layer: tf.layers.Layer): { data: Float32Array; shape: number[] }[] {
  return layer.getWeights().map((w) => {
    if (w.dtype !== 'float32') throw unsupported(layer, 'weight dtype', w.dtype, 'float32');
    return { data: w.dataSync() as Float32Array, shape: w.shape };
  });
}

/** Transposes a row-major array with the given shape by `perm`. */
export function permute(data: Float32Array, shape: number[], perm: number[]): { data: Float32Array; shape: number[] } {
  const outShape = perm.map((p) => shape[p]!);
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  inStrides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1]! * shape[i + 1]!;
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d]! * inStrides[perm[d]!]!;
    out[o] = data[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < outShape[d]!) break;
      idx[d] = 0;
    }
  }
  return { data: out, shape: outShape };
}

/** The activations tfjs layers accept, as ONNX subgraphs. */
const ACTIVATIONS: Record<string, (g: GraphBuilder, x: string) => string> = {
  linear: (_g, x) => x,
  relu: (g, x) => g.op('Relu', [x]),
  relu6: (g, x) => g.op('Clip', [x, g.floats('zero', [0], []), g.floats('six', [6], [])]),
  tanh: (g, x) => g.op('Tanh', [x]),
  sigmoid: (g, x) => g.op('Sigmoid', [x]),
  // tfjs' hard sigmoid is Keras': clip(0.2 x + 0.5, 0, 1), which is ONNX's HardSigmoid with these values.
  hardsigmoid: (g, x) => g.op('HardSigmoid', [x], { alpha: 0.2, beta: 0.5 }),
  softmax: (g, x) => g.op('Softmax', [x], { axis: int(-1) }),
  elu: (g, x) => g.op('Elu', [x], { alpha: 1 }),
  selu: (g, x) => g.op('Selu', [x], { alpha: 1.6732632423543772, gamma: 1.0507009873554805 }),
  softplus: (g, x) => g.op('Softplus', [x]),
  softsign: (g, x) => g.op('Softsign', [x]),
  swish: (g, x) => g.op('Mul', [x, g.op('Sigmoid', [x])]),
  mish: (g, x) => g.op('Mul', [x, g.op('Tanh', [g.op('Softplus', [x])])]),
  // tfjs gelu: 0.5 x (1 + erf(x / sqrt 2)).
  gelu: (g, x) => {
    const erf = g.op('Erf', [g.op('Mul', [x, g.floats('inv_sqrt2', [Math.SQRT1_2], [])])]);
    return g.op('Mul', [g.op('Mul', [x, g.floats('half', [0.5], [])]), g.op('Add', [erf, g.floats('one', [1], [])])]);
  },
  // tfjs gelu_new: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
  gelu_new: (g, x) => {
    const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
    const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [cube, g.floats('c', [0.044715], [])])]), g.floats('k', [Math.sqrt(2 / Math.PI)], [])]);
    return g.op('Mul', [g.op('Mul', [x, g.floats('half', [0.5], [])]), g.op('Add', [g.op('Tanh', [inner]), g.floats('one', [1], [])])]);
  },
};

/** Applies a tfjs activation by its config name (camelCase or snake_case). */
export function activation(ctx: LayerContext, name: unknown, x: string): string {
  const key = String(name ?? 'linear')
    .replace(/_/g, '')
    .toLowerCase();
  const normalised = key === 'gelunew' ? 'gelu_new' : key;
  const f = ACTIVATIONS[normalised];
  if (!f) throw unsupported(ctx.layer, 'activation', name, Object.keys(ACTIVATIONS).join(', '));
  return f(ctx.g, x);
}

const same = (t: TensorRef, name: string, shape = t.shape): TensorRef => ({ name, shape, layout: t.layout });
const plain = (name: string, shape: ReadonlyArray<number | null>): TensorRef => ({ name, shape, layout: 'nhwc' });
const only = (inputs: TensorRef[], ctx: LayerContext): TensorRef => {
  if (inputs.length !== 1) throw unsupported(ctx.layer, 'input count', inputs.length, '1');
  return inputs[0]!;
};

function checkChannelsLast(ctx: LayerContext): void {
  const format = ctx.config.dataFormat ?? ctx.config.data_format;
  if (format !== undefined && format !== 'channelsLast' && format !== 'channels_last') {
    throw unsupported(ctx.layer, 'dataFormat', format, 'channelsLast');
  }
}

function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)];
}

/** TF 'same' padding for a forward convolution, as explicit begin/end pads. */
function samePads(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

function staticSpatial(ctx: LayerContext, x: TensorRef): [number, number] {
  const [, h, w] = x.shape;
  if (typeof h !== 'number' || typeof w !== 'number') throw unsupported(ctx.layer, 'input shape', x.shape, 'static height and width');
  return [h, w];
}

/** What Conv2D and Conv2DTranspose share: NCHW input, checked attributes, weights as ONNX inputs. */
function convSetup(
  ctx: LayerContext,
  inputs: TensorRef[],
): { x: TensorRef; onnxInputs: string[]; kh: number; kw: number; sh: number; sw: number; h: number; w: number } {
  const x = ctx.channelsFirst(only(inputs, ctx));
  checkChannelsLast(ctx);
  const { layer, config, g } = ctx;
  if (config.padding !== 'same' && config.padding !== 'valid') throw unsupported(layer, 'padding', config.padding, "'same' or 'valid'");
  const [kernel, bias] = weights(layer);
  // tfjs kernels are [kh, kw, in, out] (Conv2D) or [kh, kw, out, in] (Conv2DTranspose); ONNX wants
  // [out, in, kh, kw] and [in, out, kh, kw]: the same permutation.
  const k = permute(kernel!.data, kernel!.shape, [3, 2, 0, 1]);
  const onnxInputs = [x.name, g.floats(`${layer.name}/kernel`, k.data, k.shape)];
  if (config.useBias !== false && bias) onnxInputs.push(g.floats(`${layer.name}/bias`, bias.data, bias.shape));
  const [kh, kw] = pair(config.kernelSize);
  const [sh, sw] = pair(config.strides ?? 1);
  const [h, w] = staticSpatial(ctx, x);
  return { x, onnxInputs, kh, kw, sh, sw, h, w };
}

const conv2d: LayerConverter = (ctx, inputs) => {
  const { onnxInputs, kh, kw, sh, sw, h, w } = convSetup(ctx, inputs);
  const [dh, dw] = pair(ctx.config.dilationRate ?? 1);
  const same = ctx.config.padding === 'same';
  const [t, b] = same ? samePads(h, kh, sh, dh) : [0, 0];
  const [l, r] = same ? samePads(w, kw, sw, dw) : [0, 0];
  const y = ctx.g.op(
    'Conv',
    onnxInputs,
    { kernel_shape: ints([kh, kw]), strides: ints([sh, sw]), dilations: ints([dh, dw]), pads: ints([t, l, b, r]), group: int(1) },
    ctx.layer.name,
  );
  return [{ name: activation(ctx, ctx.config.activation, y), shape: ctx.outputShapes[0]!, layout: 'nchw' }];
};

const conv2dTranspose: LayerConverter = (ctx, inputs) => {
  // tfjs' Conv2DTranspose ignores dilationRate (neither serialised nor applied), so it is ignored here too.
  const { onnxInputs, kh, kw, sh, sw, h, w } = convSetup(ctx, inputs);
  const outShape = ctx.outputShapes[0]!;
  const [oh, ow] = [outShape[1] as number, outShape[2] as number];
  // ONNX: out = s (in - 1) + output_padding + k - pad_begin - pad_end. Solve for tfjs' out size, padding
  // like TF's forward convolution (extra at the end), and use output_padding when k < s.
  const pads = (size: number, k: number, s: number, out: number): { begin: number; end: number; extra: number } => {
    const total = s * (size - 1) + k - out;
    if (total >= 0) return { begin: Math.floor(total / 2), end: total - Math.floor(total / 2), extra: 0 };
    return { begin: 0, end: 0, extra: -total };
  };
  const ph = pads(h, kh, sh, oh);
  const pw = pads(w, kw, sw, ow);
  const y = ctx.g.op(
    'ConvTranspose',
    onnxInputs,
    {
      kernel_shape: ints([kh, kw]),
      strides: ints([sh, sw]),
      pads: ints([ph.begin, pw.begin, ph.end, pw.end]),
      output_padding: ints([ph.extra, pw.extra]),
      group: int(1),
    },
    ctx.layer.name,
  );
  return [{ name: activation(ctx, ctx.config.activation, y), shape: outShape, layout: 'nchw' }];
};

const dense: LayerConverter = (ctx, inputs) => {
  const x = ctx.channelsLast(only(inputs, ctx));
  const { layer, config, g } = ctx;
  const [kernel, bias] = weights(layer);
  const k = g.floats(`${layer.name}/kernel`, kernel!.data, kernel!.shape);
  const b = config.useBias !== false && bias ? g.floats(`${layer.name}/bias`, bias.data, bias.shape) : null;
  let y: string;
  if (x.shape.length === 2) {
    y = g.op('Gemm', b ? [x.name, k, b] : [x.name, k], {}, layer.name);
  } else {
    y = g.op('MatMul', [x.name, k], {}, layer.name);
    if (b) y = g.op('Add', [y, b]);
  }
  return [plain(activation(ctx, config.activation, y), ctx.outputShapes[0]!)];
};

const batchNorm: LayerConverter = (ctx, inputs) => {
  const { layer, config, g } = ctx;
  const input = only(inputs, ctx);
  const rank = input.shape.length;
  const axis = Number(Array.isArray(config.axis) ? config.axis[0] : (config.axis ?? -1));
  if (axis !== -1 && axis !== rank - 1) throw unsupported(layer, 'axis', config.axis, `-1 (the channel axis, ${rank - 1})`);
  if (rank !== 2 && rank !== 4) throw unsupported(layer, 'input rank', rank, '2 or 4');
  const x = rank === 4 ? ctx.channelsFirst(input) : input;
  const channels = input.shape[rank - 1] as number;
  const ws = weights(layer);
  let i = 0;
  const gamma = config.scale !== false ? ws[i++]!.data : new Float32Array(channels).fill(1);
  const beta = config.center !== false ? ws[i++]!.data : new Float32Array(channels);
  const mean = ws[i++]!.data;
  const variance = ws[i++]!.data;
  const y = g.op(
    'BatchNormalization',
    [
      x.name,
      g.floats(`${layer.name}/gamma`, gamma, [channels]),
      g.floats(`${layer.name}/beta`, beta, [channels]),
      g.floats(`${layer.name}/moving_mean`, mean, [channels]),
      g.floats(`${layer.name}/moving_variance`, variance, [channels]),
    ],
    { epsilon: Number(config.epsilon ?? 1e-3) },
    layer.name,
  );
  return [same(x, y, ctx.outputShapes[0]!)];
};

const upSampling2d: LayerConverter = (ctx, inputs) => {
  checkChannelsLast(ctx);
  const x = only(inputs, ctx);
  const { layer, config, g } = ctx;
  const [sh, sw] = pair(config.size ?? 2);
  const interpolation = config.interpolation ?? 'nearest';
  if (interpolation !== 'nearest' && interpolation !== 'bilinear') throw unsupported(layer, 'interpolation', interpolation, "'nearest' or 'bilinear'");
  const scales = x.layout === 'nchw' ? [1, 1, sh, sw] : [1, sh, sw, 1];
  // tfjs resizes with alignCorners = halfPixelCenters = false: ONNX's 'asymmetric' with floor.
  const attrs: Record<string, AttrValue> =
    interpolation === 'nearest'
      ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
      : { mode: 'linear', coordinate_transformation_mode: 'asymmetric' };
  const y = g.op('Resize', [x.name, '', g.floats(`${layer.name}/scales`, scales, [4])], attrs, layer.name);
  return [same(x, y, ctx.outputShapes[0]!)];
};

const reshape: LayerConverter = (ctx, inputs) => {
  const x = ctx.channelsLast(only(inputs, ctx));
  const target = (ctx.config.targetShape as number[]).map((d) => (d === null ? -1 : d));
  const y = ctx.g.op('Reshape', [x.name, ctx.g.int64s(`${ctx.layer.name}/shape`, [-1, ...target])], {}, ctx.layer.name);
  return [plain(y, ctx.outputShapes[0]!)];
};

const flatten: LayerConverter = (ctx, inputs) => {
  checkChannelsLast(ctx);
  const x = ctx.channelsLast(only(inputs, ctx));
  return [plain(ctx.g.op('Flatten', [x.name], { axis: int(1) }, ctx.layer.name), ctx.outputShapes[0]!)];
};

const leakyRelu: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  // Always explicit: ONNX's default alpha (0.01) differs from tfjs' (0.3).
  return [same(x, ctx.g.op('LeakyRelu', [x.name], { alpha: Number(ctx.config.alpha ?? 0.3) }, ctx.layer.name))];
};

const relu: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  const max = ctx.config.maxValue;
  const y =
    max === null || max === undefined
      ? ctx.g.op('Relu', [x.name], {}, ctx.layer.name)
      : ctx.g.op('Clip', [x.name, ctx.g.floats('zero', [0], []), ctx.g.floats(`${ctx.layer.name}/max`, [Number(max)], [])], {}, ctx.layer.name);
  return [same(x, y)];
};

const activationLayer: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  if (String(ctx.config.activation).toLowerCase() === 'softmax' && x.layout === 'nchw') return activationLayer(ctx, [ctx.channelsLast(x)]);
  return [same(x, activation(ctx, ctx.config.activation, x.name))];
};

const identity: LayerConverter = (ctx, inputs) => [only(inputs, ctx)];

const embedding: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  const [table] = weights(ctx.layer);
  const indices = ctx.g.op('Cast', [x.name], { to: int(7) /* INT64 */ });
  const y = ctx.g.op('Gather', [ctx.g.floats(`${ctx.layer.name}/embeddings`, table!.data, table!.shape), indices], { axis: int(0) }, ctx.layer.name);
  return [plain(y, ctx.outputShapes[0]!)];
};

/** Brings every input into one layout: channels-first only when all rank-4 inputs already are. */
function commonLayout(ctx: LayerContext, inputs: TensorRef[]): TensorRef[] {
  const allFirst = inputs.every((t) => t.layout === 'nchw');
  return allFirst ? inputs : inputs.map(ctx.channelsLast);
}

const merge =
  (op: 'Add' | 'Mul'): LayerConverter =>
  (ctx, inputs) => {
    if (inputs.length < 2) throw unsupported(ctx.layer, 'input count', inputs.length, 'at least 2');
    const xs = commonLayout(ctx, inputs);
    let y = xs[0]!.name;
    for (const t of xs.slice(1)) y = ctx.g.op(op, [y, t.name], {}, ctx.layer.name);
    return [{ name: y, shape: ctx.outputShapes[0]!, layout: xs[0]!.layout }];
  };

const concatenate: LayerConverter = (ctx, inputs) => {
  const xs = commonLayout(ctx, inputs);
  const rank = inputs[0]!.shape.length;
  let axis = Number(ctx.config.axis ?? -1);
  if (axis < 0) axis += rank;
  if (axis === 0) throw unsupported(ctx.layer, 'axis', ctx.config.axis, 'a non-batch axis');
  // Channels-last axis -> channels-first axis for rank-4 tensors kept in NCHW.
  if (xs[0]!.layout === 'nchw') axis = [0, 2, 3, 1][axis]!;
  const y = ctx.g.op(
    'Concat',
    xs.map((t) => t.name),
    { axis: int(axis) },
    ctx.layer.name,
  );
  return [{ name: y, shape: ctx.outputShapes[0]!, layout: xs[0]!.layout }];
};

/** The supported tfjs layer classes. */
export const LAYER_CONVERTERS: Readonly<Record<string, LayerConverter>> = {
  Dense: dense,
  LeakyReLU: leakyRelu,
  ReLU: relu,
  Activation: activationLayer,
  Reshape: reshape,
  Flatten: flatten,
  Conv2D: conv2d,
  Conv2DTranspose: conv2dTranspose,
  BatchNormalization: batchNorm,
  UpSampling2D: upSampling2d,
  Dropout: identity,
  SpatialDropout1D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  Embedding: embedding,
  Concatenate: concatenate,
  Multiply: merge('Mul'),
  Add: merge('Add'),
};
