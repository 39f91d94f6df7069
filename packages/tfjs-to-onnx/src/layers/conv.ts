import { type AttrValue, int, ints } from '../graph-builder.ts';
import { activation } from './activations.ts';
import {
  dataFormat,
  type Dim,
  type LayerContext,
  type LayerConverter,
  only,
  permute,
  physicalAxis,
  range,
  refused,
  same,
  samePads,
  type TensorRef,
  tuple,
  unsupported,
  weights,
} from './context.ts';

type Format = 'channelsLast' | 'channelsFirst';

/** The input as the ONNX convolution wants it: channels on axis 1. */
function convInput(ctx: LayerContext, input: TensorRef, format: Format): TensorRef {
  return format === 'channelsLast' ? ctx.channelsFirst(input) : ctx.channelsLast(input);
}

/** The tfjs spatial sizes of an input in the given data format. */
function spatialSizes(input: TensorRef, format: Format, rank: number): Dim[] {
  return format === 'channelsLast' ? input.shape.slice(1, 1 + rank) : input.shape.slice(2, 2 + rank);
}

/** A converted convolution's output: channels-first inside the graph for channels-last layers. */
function convOutput(name: string, shape: readonly Dim[], format: Format): TensorRef {
  return { name, shape, layout: format === 'channelsLast' ? 'nchw' : 'tfjs', dtype: 'float32' };
}

/** ONNX padding attributes for TF's 'valid', 'same' (explicit when sizes are static) and Keras' 'causal'. */
export function windowPads(
  ctx: LayerContext,
  padding: unknown,
  sizes: Dim[],
  kernel: number[],
  strides: number[],
  dilations: number[],
): Record<string, AttrValue> {
  const n = kernel.length;
  if (padding === 'valid' || padding === undefined || padding === null) return { pads: ints(new Array<number>(2 * n).fill(0)) };
  if (padding === 'same') {
    if (sizes.some((s) => s === null)) return { auto_pad: 'SAME_UPPER' };
    const pads = sizes.map((s, i) => samePads(s as number, kernel[i]!, strides[i]!, dilations[i]!));
    return { pads: ints([...pads.map((p) => p[0]), ...pads.map((p) => p[1])]) };
  }
  if (padding === 'causal' && n === 1) {
    // Keras' causal padding: everything on the left, so step t only sees steps <= t.
    ctx.note('causal padding as Keras defines it (tfjs itself cannot run it)');
    return { pads: ints([(kernel[0]! - 1) * dilations[0]!, 0]) };
  }
  throw unsupported(ctx.layer, 'padding', padding, n === 1 ? "'same', 'valid' or 'causal'" : "'same' or 'valid'");
}

/** The private data format of a layer object (Conv1D drops it from its config). */
function ownFormat(ctx: LayerContext): unknown {
  return (ctx.layer as unknown as { dataFormat?: unknown }).dataFormat;
}

/** Conv1D, Conv2D and Conv3D: kernels [k..., in, out] become ONNX's [out, in, k...]. */
export const conv =
  (rank: 1 | 2 | 3): LayerConverter =>
  (ctx, inputs) => {
    if (rank === 1 && ownFormat(ctx) === 'channelsFirst') {
      throw refused(ctx.layer, 'a channels-first Conv1D: tfjs-layers transposes its input to channels-last and never back, so its output layout is undefined');
    }
    const format: Format = rank === 1 ? 'channelsLast' : dataFormat(ctx);
    const input = only(inputs, ctx);
    const x = convInput(ctx, input, format);
    const { config, layer, g } = ctx;
    const kernelSize = tuple(config.kernelSize, rank);
    const strides = tuple(config.strides, rank);
    const dilations = tuple(config.dilationRate, rank);
    const [kernel, bias] = weights(layer);
    const k = permute(kernel!.data, kernel!.shape, [rank + 1, rank, ...range(0, rank)]);
    const onnxInputs = [x.name, g.floats(`${layer.name}/kernel`, k.data, k.shape)];
    if (config.useBias !== false && bias) onnxInputs.push(g.floats(`${layer.name}/bias`, bias.data, bias.shape));
    const pads = windowPads(ctx, config.padding, spatialSizes(input, format, rank), kernelSize, strides, dilations);
    const y = g.op(
      'Conv',
      onnxInputs,
      { kernel_shape: ints(kernelSize), strides: ints(strides), dilations: ints(dilations), group: int(1), ...pads },
      layer.name,
    );
    // tfjs sizes a causal output like a valid one; Keras (whose semantics this is) keeps the length.
    const length = input.shape[1];
    const shape =
      config.padding === 'causal'
        ? [input.shape[0]!, typeof length === 'number' ? Math.ceil(length / strides[0]!) : null, kernel!.shape[2]!]
        : ctx.outputShapes[0]!;
    return [activation(ctx, config.activation, convOutput(y, shape, format))];
  };

/**
 * Conv2DTranspose and Conv3DTranspose (tfjs ignores their dilation): kernels [k..., out, in] become
 * ONNX's [in, out, k...]; pads reproduce tfjs' output size with TF's cropping (extra at the end), and
 * output_padding adds the zeros tfjs has where the kernel is smaller than the stride.
 */
export const convTranspose =
  (rank: 2 | 3): LayerConverter =>
  (ctx, inputs) => {
    const format = dataFormat(ctx);
    const input = only(inputs, ctx);
    const x = convInput(ctx, input, format);
    const { config, layer, g } = ctx;
    const kernelSize = tuple(config.kernelSize, rank);
    const strides = tuple(config.strides, rank);
    const [kernel, bias] = weights(layer);
    const k = permute(kernel!.data, kernel!.shape, [rank + 1, rank, ...range(0, rank)]);
    const onnxInputs = [x.name, g.floats(`${layer.name}/kernel`, k.data, k.shape)];
    if (config.useBias !== false && bias) onnxInputs.push(g.floats(`${layer.name}/bias`, bias.data, bias.shape));
    const sizes = spatialSizes(input, format, rank);
    const outSizes = spatialSizes({ ...input, shape: ctx.outputShapes[0]! }, format, rank);
    if (sizes.some((s) => s === null) || outSizes.some((s) => s === null)) {
      throw unsupported(layer, 'input shape', input.shape, 'static spatial sizes (a transposed convolution needs them for its padding)');
    }
    const begin: number[] = [];
    const end: number[] = [];
    const extra: number[] = [];
    sizes.forEach((size, i) => {
      const total = strides[i]! * ((size as number) - 1) + kernelSize[i]! - (outSizes[i] as number);
      begin.push(total >= 0 ? Math.floor(total / 2) : 0);
      end.push(total >= 0 ? total - Math.floor(total / 2) : 0);
      extra.push(total >= 0 ? 0 : -total);
    });
    const y = g.op(
      'ConvTranspose',
      onnxInputs,
      { kernel_shape: ints(kernelSize), strides: ints(strides), pads: ints([...begin, ...end]), output_padding: ints(extra), group: int(1) },
      layer.name,
    );
    return [activation(ctx, config.activation, convOutput(y, ctx.outputShapes[0]!, format))];
  };

/** A depthwise kernel [kh, kw, in, mult] as ONNX group-conv weights [in * mult, 1, kh, kw]. */
function depthwiseWeights(data: Float32Array, shape: number[]): { data: Float32Array; shape: number[] } {
  const [kh, kw, channels, mult] = shape as [number, number, number, number];
  // Output channel c * mult + m reads input channel c, as in TF.
  const p = permute(data, [kh, kw, channels * mult], [2, 0, 1]);
  return { data: p.data, shape: [channels * mult, 1, kh, kw] };
}

/** DepthwiseConv2D (tfjs passes no dilation to its kernel, so neither does this). */
export const depthwiseConv2d: LayerConverter = (ctx, inputs) => {
  const format = dataFormat(ctx);
  const input = only(inputs, ctx);
  const x = convInput(ctx, input, format);
  const { config, layer, g } = ctx;
  const kernelSize = tuple(config.kernelSize, 2);
  const strides = tuple(config.strides, 2);
  if (tuple(config.dilationRate, 2).some((d) => d !== 1)) ctx.note('dilation_rate ignored, as tfjs-layers ignores it for DepthwiseConv2D');
  const [kernel, bias] = weights(layer);
  const channels = kernel!.shape[2]!;
  const w = depthwiseWeights(kernel!.data, kernel!.shape);
  const onnxInputs = [x.name, g.floats(`${layer.name}/depthwise_kernel`, w.data, w.shape)];
  if (config.useBias !== false && bias) onnxInputs.push(g.floats(`${layer.name}/bias`, bias.data, bias.shape));
  const pads = windowPads(ctx, config.padding, spatialSizes(input, format, 2), kernelSize, strides, [1, 1]);
  const y = g.op(
    'Conv',
    onnxInputs,
    { kernel_shape: ints(kernelSize), strides: ints(strides), dilations: ints([1, 1]), group: int(channels), ...pads },
    layer.name,
  );
  return [activation(ctx, config.activation, convOutput(y, ctx.outputShapes[0]!, format))];
};

/** SeparableConv2D: a depthwise Conv (strides, dilation) then a 1x1 Conv with the bias. */
export const separableConv2d: LayerConverter = (ctx, inputs) => {
  const format = dataFormat(ctx);
  const { config, layer, g } = ctx;
  if (format === 'channelsFirst' && config.useBias !== false) {
    throw refused(layer, 'a channels-first SeparableConv2D with a bias: tfjs-layers adds the bias along the height axis of its channels-last result');
  }
  const input = only(inputs, ctx);
  const x = convInput(ctx, input, format);
  const kernelSize = tuple(config.kernelSize, 2);
  const strides = tuple(config.strides, 2);
  const dilations = tuple(config.dilationRate, 2);
  const [depthwise, pointwise, bias] = weights(layer);
  const channels = depthwise!.shape[2]!;
  const dw = depthwiseWeights(depthwise!.data, depthwise!.shape);
  const pads = windowPads(ctx, config.padding, spatialSizes(input, format, 2), kernelSize, strides, dilations);
  const mid = g.op(
    'Conv',
    [x.name, g.floats(`${layer.name}/depthwise_kernel`, dw.data, dw.shape)],
    { kernel_shape: ints(kernelSize), strides: ints(strides), dilations: ints(dilations), group: int(channels), ...pads },
    `${layer.name}/depthwise`,
  );
  const pw = permute(pointwise!.data, pointwise!.shape, [3, 2, 0, 1]);
  const onnxInputs = [mid, g.floats(`${layer.name}/pointwise_kernel`, pw.data, pw.shape)];
  if (config.useBias !== false && bias) onnxInputs.push(g.floats(`${layer.name}/bias`, bias.data, bias.shape));
  const y = g.op('Conv', onnxInputs, { kernel_shape: ints([1, 1]), strides: ints([1, 1]), group: int(1) }, layer.name);
  return [activation(ctx, config.activation, convOutput(y, ctx.outputShapes[0]!, format))];
};

/** The tfjs axes of height and width in a data format. */
function hwAxes(format: Format): [number, number] {
  return format === 'channelsLast' ? [1, 2] : [2, 3];
}

/** [[top, bottom], [left, right]] from tfjs' number, [h, w] or [[t, b], [l, r]]. */
function pairs(v: unknown, fallback: number): [[number, number], [number, number]] {
  if (v === undefined || v === null)
    return [
      [fallback, fallback],
      [fallback, fallback],
    ];
  if (typeof v === 'number')
    return [
      [v, v],
      [v, v],
    ];
  const [a, b] = v as Array<number | number[]>;
  const one = (p: number | number[] | undefined): [number, number] => (Array.isArray(p) ? [Number(p[0]), Number(p[1])] : [Number(p), Number(p)]);
  return [one(a), one(b)];
}

/** ZeroPadding2D: a constant Pad on the height and width axes, wherever they sit. */
export const zeroPadding2d: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  const [[t, b], [l, r]] = pairs(ctx.config.padding, 1);
  const [h, w] = hwAxes(dataFormat(ctx)).map((a) => physicalAxis(x, a)) as [number, number];
  const begin = new Array<number>(x.shape.length).fill(0);
  const end = new Array<number>(x.shape.length).fill(0);
  begin[h] = t;
  end[h] = b;
  begin[w] = l;
  end[w] = r;
  const y = ctx.g.op('Pad', [x.name, ctx.g.int64Const([...begin, ...end]), ctx.g.scalar(0)], { mode: 'constant' }, ctx.layer.name);
  return [same(x, y, ctx.outputShapes[0]!)];
};

/** Cropping2D: a Slice on the height and width axes. */
export const cropping2d: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  const [[t, b], [l, r]] = pairs(ctx.config.cropping, 0);
  const axes = hwAxes(dataFormat(ctx)).map((a) => physicalAxis(x, a));
  // Negative ends count from the end, so dynamic sizes crop too.
  const big = 2 ** 62;
  const y = ctx.g.op(
    'Slice',
    [x.name, ctx.g.int64Const([t, l]), ctx.g.int64Const([b > 0 ? -b : big, r > 0 ? -r : big]), ctx.g.int64Const(axes)],
    {},
    ctx.layer.name,
  );
  return [same(x, y, ctx.outputShapes[0]!)];
};

/** UpSampling2D: tfjs resizes with alignCorners = halfPixelCenters = false (ONNX 'asymmetric'). */
export const upSampling2d: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  const { layer, config, g } = ctx;
  const [sh, sw] = tuple(config.size ?? 2, 2);
  const interpolation = config.interpolation ?? 'nearest';
  if (interpolation !== 'nearest' && interpolation !== 'bilinear') throw unsupported(layer, 'interpolation', interpolation, "'nearest' or 'bilinear'");
  const scales = new Array<number>(x.shape.length).fill(1);
  const [h, w] = hwAxes(dataFormat(ctx)).map((a) => physicalAxis(x, a)) as [number, number];
  scales[h] = sh!;
  scales[w] = sw!;
  const attrs: Record<string, AttrValue> =
    interpolation === 'nearest'
      ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
      : { mode: 'linear', coordinate_transformation_mode: 'asymmetric' };
  const y = g.op('Resize', [x.name, '', g.floats(`${layer.name}/scales`, scales, [scales.length])], attrs, layer.name);
  return [same(x, y, ctx.outputShapes[0]!)];
};
