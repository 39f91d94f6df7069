import { type AttrValue, DataType, int, ints } from '../../graph-builder.ts';
import type { GraphContext } from '../context.ts';
import type { TfNode } from '../graph-def.ts';
import { type Dim, isConst, numbers, permuteData, range, type Value } from '../value.ts';
import { activation, addBias, elementwiseOp, fusedOps, input, type OpConverter, unaryOp } from './common.ts';

/** Convolutions, pooling, batch norms, softmax, resizing and the other neural-network ops. */

/** TensorFlow's 'SAME' padding of one spatial axis: begin and end pads. */
export function samePads(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** The layout ONNX convolutions want for a tensor of rank r in a data format: channels on axis 1. */
export const channelsFirst = (rank: number): number[] => [0, rank - 1, ...range(1, rank - 1)];

/** A TF data_format as channels-last or channels-first. */
function dataFormat(ctx: GraphContext, node: TfNode, rank: number): 'last' | 'first' {
  const f = (node.str('data_format', '') ?? '').toUpperCase();
  if (f === '' || f === 'NHWC' || f === 'NDHWC' || f === 'NWC') return 'last';
  if (f === 'NCHW' || f === 'NCDHW' || f === 'NCW') return 'first';
  throw ctx.refuse(`data_format '${f}' is not one of NHWC, NCHW (rank ${rank})`);
}

/** The spatial entries of a per-axis attribute (strides, dilations, ksize) in the data format. */
function spatial(list: number[] | undefined, rank: number, format: 'last' | 'first', def: number): number[] {
  if (!list || list.length === 0) return new Array<number>(rank - 2).fill(def);
  return format === 'last' ? list.slice(1, rank - 1) : list.slice(2, rank);
}

/** The logical spatial axes of a data format. */
const spatialAxes = (rank: number, format: 'last' | 'first'): number[] => (format === 'last' ? range(1, rank - 1) : range(2, rank));
const channelAxis = (rank: number, format: 'last' | 'first'): number => (format === 'last' ? rank - 1 : 1);

/** ONNX window attributes (pads or auto_pad) and the output sizes for TF's valid, same and explicit padding. */
function windowPads(
  ctx: GraphContext,
  padding: string,
  sizes: Dim[],
  kernel: number[],
  strides: number[],
  dilations: number[],
  explicit?: number[][],
): { attrs: Record<string, AttrValue>; out: Dim[] } {
  const n = kernel.length;
  const eff = kernel.map((k, i) => (k - 1) * dilations[i]! + 1);
  if (padding === 'valid') {
    return {
      attrs: { pads: ints(new Array<number>(2 * n).fill(0)) },
      out: sizes.map((s, i) => (typeof s === 'number' ? Math.floor((s - eff[i]!) / strides[i]!) + 1 : null)),
    };
  }
  if (padding === 'same') {
    const out = sizes.map((s, i) => (typeof s === 'number' ? Math.ceil(s / strides[i]!) : null));
    if (sizes.some((s) => typeof s !== 'number')) return { attrs: { auto_pad: 'SAME_UPPER' }, out };
    const pads = sizes.map((s, i) => samePads(s as number, kernel[i]!, strides[i]!, dilations[i]!));
    return { attrs: { pads: ints([...pads.map((p) => p[0]), ...pads.map((p) => p[1])]) }, out };
  }
  if (padding === 'explicit' && explicit) {
    return {
      attrs: { pads: ints([...explicit.map((p) => p[0]!), ...explicit.map((p) => p[1]!)]) },
      out: sizes.map((s, i) => (typeof s === 'number' ? Math.floor((s + explicit[i]![0]! + explicit[i]![1]! - eff[i]!) / strides[i]!) + 1 : null)),
    };
  }
  throw ctx.refuse(`padding '${padding}' is not one of VALID, SAME${explicit ? ', EXPLICIT' : ''}`);
}

/** The explicit paddings of the spatial axes ([begin, end] each) from explicit_paddings in the data format. */
function explicitPads(ctx: GraphContext, node: TfNode, rank: number, format: 'last' | 'first'): number[][] | undefined {
  if (node.str('padding') !== 'explicit') return undefined;
  const list = node.ints('explicit_paddings', []) ?? [];
  if (list.length !== 2 * rank) throw ctx.refuse(`explicit_paddings has ${list.length} entries, expected ${2 * rank}`);
  return spatialAxes(rank, format).map((a) => [list[2 * a]!, list[2 * a + 1]!]);
}

/** A constant kernel permuted (and reshaped) for ONNX, or the ONNX nodes doing so for a computed one. */
function kernelFor(ctx: GraphContext, filter: Value, perm: number[], shape?: number[]): string {
  const f = ctx.cast(filter, 'float32');
  if (isConst(f)) {
    const data = permuteData(f.data as Float32Array, f.shape, perm);
    return ctx.g.floats(`${ctx.node!.name}/kernel`, data, shape ?? perm.map((p) => f.shape[p]!));
  }
  const t = ctx.g.transpose(ctx.ref(f), perm, `${ctx.node!.name}/kernel`);
  return shape ? ctx.g.op('Reshape', [t, ctx.g.int64Const(shape)], {}, `${ctx.node!.name}/kernel`) : t;
}

/** A known size, or a refusal naming what must be known. */
function knownDim(ctx: GraphContext, d: Dim | undefined, what: string): number {
  if (typeof d !== 'number') throw ctx.refuse(`${what} must be known when converting (fix the model's input shapes with --input-shape)`);
  return d;
}

interface ConvSpec {
  readonly rank: number;
  /** Reads the spatial strides and dilations (Conv1D has scalars). */
  readonly strides: (node: TfNode, format: 'last' | 'first') => number[];
  readonly dilations: (node: TfNode, format: 'last' | 'first') => number[];
  readonly depthwise: boolean;
  readonly fused: boolean;
}

/** Conv1D/2D/3D, depthwise and their fused forms: one ONNX Conv (bias included) then the fused activation. */
const conv =
  (spec: ConvSpec): OpConverter =>
  (ctx, node, inputs) => {
    const { rank } = spec;
    const x0 = ctx.cast(input(ctx, inputs, 0), 'float32');
    const filter = input(ctx, inputs, 1, 'filter');
    if (ctx.rank(x0) !== rank) throw ctx.refuse(`its input has rank ${ctx.rank(x0)}, expected ${rank}`);
    const format = dataFormat(ctx, node, rank);
    const filterFormat = node.str('filter_format', 'hwio');
    if (filterFormat !== 'hwio') throw ctx.refuse(`filter_format ${node.str('filter_format', '', true)}: tfjs ignores it and reads the filter as HWIO`);
    if (format === 'first') {
      // tfjs' executors read strides and dilations at NHWC's positions (1 and 2) whatever the format.
      for (const name of ['strides', 'dilations']) {
        const list = node.ints(name) ?? [];
        if (list.length === rank && (list[1] !== list[2] || list.slice(2).some((v) => v !== list[2]))) {
          throw ctx.refuse(
            `data_format ${node.str('data_format', '', true)} with ${name} [${list}]: tfjs reads them at the NHWC positions, so it runs this convolution differently from TensorFlow`,
          );
        }
      }
    }
    if (!filter.shape?.every((d) => typeof d === 'number') || filter.shape.length !== rank) {
      throw ctx.refuse(`its filter must have a known shape of rank ${rank}`);
    }
    const fshape = filter.shape as number[];
    const kernel = fshape.slice(0, rank - 2);
    const strides = spec.strides(node, format);
    const dilations = spec.dilations(node, format);
    const sizes = spatialAxes(rank, format).map((a) => x0.shape![a]!);
    const inChannels = x0.shape![channelAxis(rank, format)];
    const pads = windowPads(ctx, node.str('padding') ?? '', sizes, kernel, strides, dilations, explicitPads(ctx, node, rank, format));
    let weights: string;
    let group = 1;
    let outChannels: number;
    if (spec.depthwise) {
      const [channels, mult] = [fshape[2]!, fshape[3]!];
      if (typeof inChannels === 'number' && inChannels !== channels) throw ctx.refuse(`its input has ${inChannels} channels but its filter ${channels}`);
      // Output channel c * mult + m reads input channel c, as in TF: [kh, kw, C, M] -> [C * M, 1, kh, kw].
      weights = kernelFor(ctx, filter, [2, 3, 0, 1], [channels * mult, 1, ...kernel]);
      group = channels;
      outChannels = channels * mult;
    } else {
      if (typeof inChannels === 'number' && inChannels !== fshape[rank - 2]) {
        throw ctx.refuse(`its input has ${inChannels} channels but its filter ${fshape[rank - 2]} (grouped convolutions: tfjs cannot run them)`);
      }
      weights = kernelFor(ctx, filter, [rank - 1, rank - 2, ...range(0, rank - 2)]);
      outChannels = fshape[rank - 1]!;
    }
    const perm = format === 'last' ? channelsFirst(rank) : undefined;
    const onnxInputs = [ctx.ref(x0, perm), weights];
    const fused = spec.fused ? fusedOps(ctx, node, inputs.slice(2)) : {};
    const bias = fused.bias ? ctx.cast(fused.bias, 'float32') : undefined;
    const inlineBias = bias && isConst(bias) && bias.shape.length === 1 && bias.shape[0] === outChannels;
    if (bias && inlineBias) onnxInputs.push(ctx.ref(bias));
    const outShape: Dim[] = format === 'last' ? [x0.shape![0]!, ...pads.out, outChannels] : [x0.shape![0]!, outChannels, ...pads.out];
    let y = ctx.emit(
      'Conv',
      onnxInputs,
      { kernel_shape: ints(kernel), strides: ints(strides), dilations: ints(dilations), group: int(group), ...pads.attrs },
      { dtype: 'float32', shape: outShape, ...(perm ? { perm } : {}) },
    );
    if (bias && !inlineBias) y = addBias(ctx, y, bias);
    return [activation(ctx, node, y, fused.activation, fused.prelu)];
  };

const listAttr =
  (name: string, def: number) =>
  (rank: number) =>
  (node: TfNode, format: 'last' | 'first'): number[] =>
    spatial(node.ints(name), rank, format, def);

const conv2d = (depthwise: boolean, fused: boolean): ConvSpec => ({
  rank: 4,
  strides: listAttr('strides', 1)(4),
  dilations: listAttr('dilations', 1)(4),
  depthwise,
  fused,
});

/**
 * Conv2DBackpropInput (tfjs' conv2dTranspose): an ONNX ConvTranspose whose pads and output padding give
 * exactly the requested output size with TF's padding (tfjs ignores its data_format and dilations, so
 * those must be the defaults).
 */
const conv2dBackpropInput: OpConverter = (ctx, node, inputs) => {
  const sizesInput = input(ctx, inputs, 0, 'input_sizes');
  const filter = input(ctx, inputs, 1, 'filter');
  const x = ctx.cast(input(ctx, inputs, 2, 'out_backprop'), 'float32');
  if (dataFormat(ctx, node, 4) !== 'last') throw ctx.refuse('data_format NCHW: tfjs ignores it and runs the transposed convolution as NHWC');
  if ((node.ints('dilations') ?? [1, 1, 1, 1]).some((d) => d !== 1)) throw ctx.refuse('dilations other than 1: tfjs ignores them');
  if (ctx.rank(x) !== 4) throw ctx.refuse(`its input has rank ${ctx.rank(x)}, expected 4`);
  if (filter.shape?.length !== 4 || !filter.shape.every((d) => typeof d === 'number')) throw ctx.refuse('its filter must have a known 4-D shape');
  const [kh, kw, outC, inC] = filter.shape as number[];
  const wanted = sizesInput.elems;
  if (wanted?.length !== 4) throw ctx.refuse('its output shape (input_sizes) must be a known 4-vector');
  const strides = spatial(node.ints('strides'), 4, 'last', 1);
  const kernel = [kh!, kw!];
  const inSizes = [1, 2].map((a) => knownDim(ctx, x.shape![a], 'the spatial size of its input'));
  const outSizes = [1, 2].map((a) => knownDim(ctx, wanted[a], 'its output size (input_sizes)'));
  const padding = node.str('padding') ?? '';
  const explicit = explicitPads(ctx, node, 4, 'last');
  const begin: number[] = [];
  const end: number[] = [];
  const extra: number[] = [];
  inSizes.forEach((size, i) => {
    const full = strides[i]! * (size - 1) + kernel[i]!;
    let b = 0;
    let e = 0;
    if (padding === 'same') {
      const total = Math.max(0, full - outSizes[i]!);
      b = Math.floor(total / 2);
      e = total - b;
    } else if (padding === 'explicit' && explicit) {
      [b, e] = explicit[i] as [number, number];
    } else if (padding !== 'valid') {
      throw ctx.refuse(`padding '${padding}' is not one of VALID, SAME, EXPLICIT`);
    }
    const pad = outSizes[i]! - (full - b - e);
    if (pad < 0) throw ctx.refuse(`its output size ${outSizes[i]} is smaller than the transposed convolution gives (${full - b - e})`);
    begin.push(b);
    end.push(e);
    extra.push(pad);
  });
  const c = x.shape![3];
  if (typeof c === 'number' && c !== inC) throw ctx.refuse(`its input has ${c} channels but its filter ${inC}`);
  const perm = channelsFirst(4);
  const y = ctx.emit(
    'ConvTranspose',
    [ctx.ref(x, perm), kernelFor(ctx, filter, [3, 2, 0, 1])],
    { kernel_shape: ints(kernel), strides: ints(strides), pads: ints([...begin, ...end]), output_padding: ints(extra), group: int(1) },
    { dtype: 'float32', shape: [x.shape![0]!, outSizes[0]!, outSizes[1]!, outC!], perm },
  );
  return [y];
};

/** MaxPool, AvgPool and their 3-D forms (tfjs reads ksize and strides as NHWC, ignoring data_format). */
const pool =
  (op: 'MaxPool' | 'AveragePool', rank: 4 | 5): OpConverter =>
  (ctx, node, inputs) => {
    const x = ctx.cast(input(ctx, inputs, 0), 'float32');
    if (ctx.rank(x) !== rank) throw ctx.refuse(`its input has rank ${ctx.rank(x)}, expected ${rank}`);
    if (dataFormat(ctx, node, rank) !== 'last') throw ctx.refuse('data_format NCHW: tfjs ignores it and pools as NHWC');
    const ksize = node.ints('ksize') ?? [];
    const stridesAll = node.ints('strides') ?? [];
    if (ksize.length !== rank || stridesAll.length !== rank) throw ctx.refuse(`ksize and strides must have ${rank} entries`);
    if (ksize[0] !== 1 || ksize[rank - 1] !== 1 || stridesAll[0] !== 1 || stridesAll[rank - 1] !== 1) {
      throw ctx.refuse('a window or stride over the batch or channel axis: tfjs ignores those entries');
    }
    const padding = node.str('padding') ?? '';
    if (padding === 'explicit') throw ctx.refuse('padding EXPLICIT: tfjs cannot pool with it');
    const kernel = ksize.slice(1, rank - 1);
    const strides = stridesAll.slice(1, rank - 1);
    const sizes = range(1, rank - 1).map((a) => x.shape![a]!);
    const pads = windowPads(
      ctx,
      padding,
      sizes,
      kernel,
      strides,
      kernel.map(() => 1),
    );
    const perm = channelsFirst(rank);
    // AveragePool's count_include_pad defaults to 0: 'same' averages leave the padding out, as TF does.
    return [
      ctx.emit(
        op,
        [ctx.ref(x, perm)],
        { kernel_shape: ints(kernel), strides: ints(strides), ...pads.attrs },
        {
          dtype: 'float32',
          shape: [x.shape![0]!, ...pads.out, x.shape![rank - 1]!],
          perm,
        },
      ),
    ];
  };

/**
 * MaxPoolWithArgmax: ONNX MaxPool's indices (flat over the NCHW input) turned into tfjs' (flat over NHWC:
 * (y * W + x) * C + c, plus the batch offset with include_batch_in_index); first maximum on ties in both.
 */
const maxPoolWithArgmax: OpConverter = (ctx, node, inputs) => {
  const x = ctx.cast(input(ctx, inputs, 0), 'float32');
  if (ctx.rank(x) !== 4) throw ctx.refuse(`its input has rank ${ctx.rank(x)}, expected 4`);
  const [, h, w, c] = x.shape!;
  if (typeof h !== 'number' || typeof w !== 'number' || typeof c !== 'number')
    throw ctx.refuse('its input height, width and channels must be known (to re-index the argmax)');
  const ksize = node.ints('ksize') ?? [];
  const stridesAll = node.ints('strides') ?? [];
  if (ksize.length !== 4 || stridesAll.length !== 4 || ksize[0] !== 1 || ksize[3] !== 1 || stridesAll[0] !== 1 || stridesAll[3] !== 1) {
    throw ctx.refuse('ksize and strides must be [1, h, w, 1]');
  }
  const padding = node.str('padding') ?? '';
  const kernel = ksize.slice(1, 3);
  const strides = stridesAll.slice(1, 3);
  const pads = windowPads(ctx, padding, [h, w], kernel, strides, [1, 1]);
  const perm = channelsFirst(4);
  const shape: Dim[] = [x.shape![0]!, ...pads.out, c];
  const [y, idx] = ctx.g.node(
    'MaxPool',
    [ctx.ref(x, perm)],
    { kernel_shape: ints(kernel), strides: ints(strides), storage_order: int(0), ...pads.attrs },
    ctx.node!.name,
    2,
  );
  const k = (v: number): string => ctx.g.int64Const([v]);
  const plane = ctx.g.op('Mod', [idx!, k(h * w)]);
  const channel = ctx.g.op('Mod', [ctx.g.op('Div', [idx!, k(h * w)]), k(c)]);
  let flat = ctx.g.op('Add', [ctx.g.op('Mul', [plane, k(c)]), channel]);
  if (node.bool('include_batch_in_index', false)) flat = ctx.g.op('Add', [flat, ctx.g.op('Mul', [ctx.g.op('Div', [idx!, k(c * h * w)]), k(h * w * c)])]);
  return [{ dtype: 'float32', shape, name: y!, perm }, ctx.emit('Cast', [flat], { to: int(DataType.INT32) }, { dtype: 'int32', shape, perm })];
};

/** The physical axis of a logical axis. */
const physical = (v: Value, axis: number): number => (v.perm ? v.perm.indexOf(axis) : axis);

/**
 * FusedBatchNorm/V2/V3 as tfjs runs them (always with the given mean and variance, along the last
 * axis): an ONNX BatchNormalization where the channels are on axis 1 (after a convolution, where the
 * optimiser folds it into the Conv), else a multiply-add with constants folded.
 */
const batchNorm: OpConverter = (ctx, node, inputs) => {
  const x = ctx.cast(input(ctx, inputs, 0), 'float32');
  const [scale, offset, mean, variance] = [1, 2, 3, 4].map((i) => ctx.cast(input(ctx, inputs, i), 'float32')) as [Value, Value, Value, Value];
  if (node.str('data_format', 'nhwc') === 'nchw') throw ctx.refuse('data_format NCHW: tfjs ignores it and normalises the last axis');
  if (node.bool('is_training', false)) ctx.note(`${node.op} with is_training: tfjs (and this conversion) use the stored mean and variance`);
  const eps = node.float('epsilon', 0.001);
  const r = ctx.rank(x);
  const params = [scale, offset, mean, variance];
  const vectors = params.every((p) => p.shape?.length === 1);
  if (r >= 2 && vectors && physical(x, r - 1) === 1) {
    return [
      ctx.emit(
        'BatchNormalization',
        [ctx.ref(x, x.perm), ...params.map((p) => ctx.ref(p))],
        { epsilon: eps },
        {
          dtype: 'float32',
          shape: x.shape,
          ...(x.perm ? { perm: x.perm } : {}),
        },
      ),
    ];
  }
  let s: Value;
  let t: Value;
  if (params.every(isConst)) {
    const [g, b, m, v] = params.map((p) => numbers(p as never));
    const sv = v!.map((vi, i) => g![i % g!.length]! / Math.sqrt(vi + eps));
    s = ctx.constant('float32', sv, variance.shape as number[]);
    t = ctx.constant(
      'float32',
      sv.map((si, i) => b![i % b!.length]! - m![i % m!.length]! * si),
      variance.shape as number[],
    );
  } else {
    const op = (o: string, a: Value, b: Value): Value => elementwiseOp(ctx, o, [a, b], 'float32');
    s = op('Mul', scale, unaryOp(ctx, 'Reciprocal', unaryOp(ctx, 'Sqrt', op('Add', variance, ctx.scalar(eps)))));
    t = op('Sub', offset, op('Mul', mean, s));
  }
  return [elementwiseOp(ctx, 'Add', [elementwiseOp(ctx, 'Mul', [x, s], 'float32'), t], 'float32')];
};

/** Softmax and LogSoftmax over the last logical axis, in whatever layout the input is. */
const softmax =
  (op: 'Softmax' | 'LogSoftmax'): OpConverter =>
  (ctx, _node, inputs) => {
    const x = ctx.cast(input(ctx, inputs, 0), 'float32');
    const r = ctx.rank(x);
    if (r === 0) throw ctx.refuse('softmax of a scalar');
    return [unaryOp(ctx, op, x, { axis: int(physical(x, r - 1)) })];
  };

/** LRN (tfjs' localResponseNormalization): ONNX LRN over channels, whose alpha is divided by the window size. */
const lrn: OpConverter = (ctx, node, inputs) => {
  const x = ctx.cast(input(ctx, inputs, 0), 'float32');
  if (ctx.rank(x) !== 4) throw ctx.refuse(`its input has rank ${ctx.rank(x)}, expected 4`);
  const radius = node.int('depth_radius', 5);
  const size = 2 * radius + 1;
  const perm = channelsFirst(4);
  return [
    ctx.emit(
      'LRN',
      [ctx.ref(x, perm)],
      { size: int(size), alpha: node.float('alpha', 1) * size, beta: node.float('beta', 0.5), bias: node.float('bias', 1) },
      { dtype: 'float32', shape: x.shape, perm },
    ),
  ];
};

/**
 * ResizeBilinear and ResizeNearestNeighbor as tfjs-backend-cpu computes them: align_corners (with more
 * than one output pixel) reads (in - 1) / (out - 1) apart, half_pixel_centers samples at pixel centres,
 * neither samples at out/in steps from 0; nearest rounds half up with align_corners and floors otherwise.
 */
const resize =
  (mode: 'linear' | 'nearest'): OpConverter =>
  (ctx, node, inputs) => {
    const images = input(ctx, inputs, 0);
    const size = input(ctx, inputs, 1, 'size');
    const x = mode === 'linear' ? ctx.cast(images, 'float32') : images;
    if (ctx.rank(x) !== 4) throw ctx.refuse(`its input has rank ${ctx.rank(x)}, expected 4 (NHWC)`);
    const align = node.bool('align_corners', false);
    const half = node.bool('half_pixel_centers', false);
    if (align && half) throw ctx.refuse('align_corners and half_pixel_centers together (TensorFlow refuses the combination)');
    const out = size.elems && size.elems.length === 2 ? size.elems : [null, null];
    let coordinate: string;
    let nearest: string | undefined;
    if (mode === 'linear') {
      coordinate = align ? 'align_corners' : half ? 'half_pixel' : 'asymmetric';
    } else if (align) {
      coordinate = 'align_corners';
      nearest = 'round_prefer_ceil';
    } else if (half) {
      // floor((x + 0.5) * in / out) = round-half-up of the half-pixel coordinate.
      coordinate = 'half_pixel';
      nearest = 'round_prefer_ceil';
    } else {
      coordinate = 'asymmetric';
      nearest = 'floor';
    }
    const perm = channelsFirst(4);
    const hw = typeof out[0] === 'number' && typeof out[1] === 'number' ? [out[0], out[1]] : [{ tensor: ctx.int64(size) }];
    const attrs: Record<string, AttrValue> = { mode, coordinate_transformation_mode: coordinate };
    if (nearest) attrs.nearest_mode = nearest;
    // Sizes of every axis, batch and channels read from the input (Resize-18's axes attribute would spare that,
    // but onnxruntime 1.30's transpose optimiser rewrites such a Resize into an invalid one).
    const sizes = ctx.vector([...ctx.shapeParts(x).filter((_, i) => i === 0 || i === 3), ...(hw as (number | { tensor: string })[])]);
    return [ctx.emit('Resize', [ctx.ref(x, perm), '', '', sizes], attrs, { dtype: x.dtype, shape: [x.shape![0]!, out[0]!, out[1]!, x.shape![3]!], perm })];
  };

/** DepthToSpace (NHWC as tfjs requires): ONNX DepthToSpace in DCR mode is TF's order. */
const depthToSpace: OpConverter = (ctx, node, inputs) => {
  const x = input(ctx, inputs, 0);
  if (ctx.rank(x) !== 4) throw ctx.refuse(`its input has rank ${ctx.rank(x)}, expected 4`);
  if (dataFormat(ctx, node, 4) !== 'last') throw ctx.refuse('data_format NCHW: tfjs supports only NHWC');
  const b = node.int('block_size', 0);
  if (b < 2) throw ctx.refuse(`block_size ${b} (must be at least 2)`);
  const s = x.shape!;
  const c = s[3];
  const perm = channelsFirst(4);
  return [
    ctx.emit(
      'DepthToSpace',
      [ctx.ref(x, perm)],
      { blocksize: int(b), mode: 'DCR' },
      {
        dtype: x.dtype,
        shape: [s[0]!, typeof s[1] === 'number' ? s[1] * b : null, typeof s[2] === 'number' ? s[2] * b : null, typeof c === 'number' ? c / (b * b) : null],
        perm,
      },
    ),
  ];
};

type Part = number | { tensor: string };

/** Products and quotients of shape parts: numbers when known, int64 [1] tensors otherwise. */
function partOp(ctx: GraphContext, op: 'Mul' | 'Div' | 'Add', a: Part, b: Part): Part {
  if (typeof a === 'number' && typeof b === 'number') return op === 'Mul' ? a * b : op === 'Add' ? a + b : a / b;
  const t = (p: Part): string => (typeof p === 'number' ? ctx.g.int64Const([p]) : p.tensor);
  return { tensor: ctx.g.op(op, [t(a), t(b)], {}, 'dim') };
}

const partDim = (p: Part): Dim => (typeof p === 'number' ? p : null);

/**
 * Reads SpaceToBatchND/BatchToSpaceND's block shape (a constant, [M]) and paddings or crops ([M, 2]:
 * constants, or computed when the model runs, as TensorFlow computes them for a dilated convolution on
 * an input of unknown size).
 */
function blockArgs(ctx: GraphContext, inputs: Value[], what: string): { block: number[]; pads: Part[][] } {
  const block = ctx.constNumbers(input(ctx, inputs, 1, 'block_shape'), 'block_shape');
  if (block.some((b) => !Number.isInteger(b) || b < 1)) throw ctx.refuse('its block_shape must be positive');
  const v = input(ctx, inputs, 2, what);
  if (!isConst(v)) {
    const known = v.shape?.map((d) => (typeof d === 'number' ? d : null));
    if (known && (known.length !== 2 || (known[0] !== null && known[0] !== block.length) || (known[1] !== null && known[1] !== 2))) {
      throw ctx.refuse(`its ${what} has shape [${known.map((d) => d ?? '?')}] for a block of rank ${block.length} (expected [${block.length}, 2])`);
    }
    const flat = ctx.g.op('Reshape', [ctx.int64(v), ctx.g.int64Const([-1])]);
    const at = (k: number): Part => ({ tensor: ctx.g.op('Slice', [flat, ctx.g.int64Const([k]), ctx.g.int64Const([k + 1])], {}, what) });
    return { block, pads: block.map((_, i) => [at(2 * i), at(2 * i + 1)]) };
  }
  const flat = numbers(v);
  if (flat.length !== 2 * block.length) throw ctx.refuse(`its ${what} has ${flat.length} entries for a block of rank ${block.length}`);
  if (flat.some((p) => p < 0)) throw ctx.refuse(`its ${what} must not be negative`);
  return { block, pads: block.map((_, i) => [flat[2 * i]!, flat[2 * i + 1]!]) };
}

const nonZero = (p: Part): boolean => typeof p !== 'number' || p !== 0;

/** SpaceToBatchND: pad the block axes, split each into (size / block, block), move the blocks to the batch. */
const spaceToBatch: OpConverter = (ctx, _node, inputs) => {
  const x = ctx.logical(input(ctx, inputs, 0));
  const { block, pads } = blockArgs(ctx, inputs, 'paddings');
  const m = block.length;
  const r = ctx.rank(x);
  if (r < m + 1) throw ctx.refuse(`its input has rank ${r}, less than 1 + the block rank ${m}`);
  const zeros = new Array<number>(r - m - 1).fill(0);
  const padAll = ctx.vector([0, ...pads.map((p) => p[0]!), ...zeros, 0, ...pads.map((p) => p[1]!), ...zeros]);
  const padded = pads.some((p) => nonZero(p[0]!) || nonZero(p[1]!)) ? ctx.g.op('Pad', [ctx.ref(x), padAll], { mode: 'constant' }) : ctx.ref(x);
  const parts = ctx.shapeParts(x);
  const spatialParts = range(0, m).map((i) => partOp(ctx, 'Add', parts[i + 1]!, partOp(ctx, 'Add', pads[i]![0]!, pads[i]![1]!)));
  const rest = parts.slice(m + 1);
  const split = ctx.vector([parts[0]!, ...spatialParts.flatMap((p, i) => [partOp(ctx, 'Div', p, block[i]!), block[i]!]), ...rest]);
  const reshaped = ctx.g.op('Reshape', [padded, split]);
  const perm = [...range(0, m).map((i) => 2 + 2 * i), 0, ...range(0, m).map((i) => 1 + 2 * i), ...range(2 * m + 1, 2 * m + 1 + rest.length)];
  const moved = ctx.g.transpose(reshaped, perm);
  const batch = partOp(
    ctx,
    'Mul',
    parts[0]!,
    block.reduce((a, b) => a * b, 1),
  );
  const outSpatial = spatialParts.map((p, i) => partOp(ctx, 'Div', p, block[i]!));
  const shape = ctx.vector([batch, ...outSpatial, ...rest]);
  return [ctx.emit('Reshape', [moved, shape], {}, { dtype: x.dtype, shape: [partDim(batch), ...outSpatial.map(partDim), ...x.shape!.slice(m + 1)] })];
};

/** BatchToSpaceND: the inverse of SpaceToBatchND, then the crops. */
const batchToSpace: OpConverter = (ctx, _node, inputs) => {
  const x = ctx.logical(input(ctx, inputs, 0));
  const { block, pads: crops } = blockArgs(ctx, inputs, 'crops');
  const m = block.length;
  const r = ctx.rank(x);
  if (r < m + 1) throw ctx.refuse(`its input has rank ${r}, less than 1 + the block rank ${m}`);
  const parts = ctx.shapeParts(x);
  const prod = block.reduce((a, b) => a * b, 1);
  const batch = partOp(ctx, 'Div', parts[0]!, prod);
  const rest = parts.slice(m + 1);
  const split = ctx.vector([...block, batch, ...parts.slice(1, m + 1), ...rest]);
  const reshaped = ctx.g.op('Reshape', [ctx.ref(x), split]);
  const perm = [m, ...range(0, m).flatMap((i) => [m + 1 + i, i]), ...range(2 * m + 1, 2 * m + 1 + rest.length)];
  const moved = ctx.g.transpose(reshaped, perm);
  const full = range(0, m).map((i) => partOp(ctx, 'Mul', parts[i + 1]!, block[i]!));
  const merged = ctx.g.op('Reshape', [moved, ctx.vector([batch, ...full, ...rest])]);
  const cropped = crops.some((c) => nonZero(c[0]!) || nonZero(c[1]!));
  const known = (p: Part): p is number => typeof p === 'number';
  const outSpatial = full.map((p, i) => (known(p) && known(crops[i]![0]!) && known(crops[i]![1]!) ? p - crops[i]![0]! - crops[i]![1]! : null));
  const shape: Dim[] = [partDim(batch), ...outSpatial, ...x.shape!.slice(m + 1)];
  if (!cropped) return [{ dtype: x.dtype, shape, name: merged }];
  const axes = range(1, m + 1);
  const starts = ctx.vector(crops.map((c) => c[0]!));
  const ends = full.map((p, i) => (known(p) && known(crops[i]![1]!) ? p - crops[i]![1]! : null));
  const endsTensor = ends.every((e) => e !== null)
    ? ctx.g.int64Const(ends as number[])
    : ctx.g.op('Sub', [ctx.vector(full), ctx.vector(crops.map((c) => c[1]!))], {}, 'crop_end');
  return [ctx.emit('Slice', [merged, starts, endsTensor, ctx.g.int64Const(axes)], {}, { dtype: x.dtype, shape })];
};

/** Conv1D (a tfjs op): NWC with a scalar stride and dilation. */
const conv1dSpec: ConvSpec = {
  rank: 3,
  strides: (node) => [node.int('stride', 1)],
  dilations: (node) => [node.int('dilation', 1)],
  depthwise: false,
  fused: false,
};

export const NN_OPS: Record<string, OpConverter> = {
  Conv1D: conv(conv1dSpec),
  Conv2D: conv(conv2d(false, false)),
  _FusedConv2D: conv(conv2d(false, true)),
  DepthwiseConv2d: conv(conv2d(true, false)),
  DepthwiseConv2dNative: conv(conv2d(true, false)),
  FusedDepthwiseConv2dNative: conv(conv2d(true, true)),
  Conv3D: conv({ rank: 5, strides: listAttr('strides', 1)(5), dilations: listAttr('dilations', 1)(5), depthwise: false, fused: false }),
  Conv2DBackpropInput: conv2dBackpropInput,
  MaxPool: pool('MaxPool', 4),
  AvgPool: pool('AveragePool', 4),
  MaxPool3D: pool('MaxPool', 5),
  MaxPoolWithArgmax: maxPoolWithArgmax,
  AvgPool3D: pool('AveragePool', 5),
  FusedBatchNorm: batchNorm,
  FusedBatchNormV2: batchNorm,
  FusedBatchNormV3: batchNorm,
  Softmax: softmax('Softmax'),
  LogSoftmax: softmax('LogSoftmax'),
  LRN: lrn,
  ResizeBilinear: resize('linear'),
  ResizeNearestNeighbor: resize('nearest'),
  DepthToSpace: depthToSpace,
  SpaceToBatchND: spaceToBatch,
  BatchToSpaceND: batchToSpace,
};
