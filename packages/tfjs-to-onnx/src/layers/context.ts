import type * as tf from '@tensorflow/tfjs';
import type { GraphBuilder } from '../graph-builder.ts';

/** A tfjs dimension (null: dynamic). */
export type Dim = number | null;
/** A tfjs shape, batch first. */
export type Shape = ReadonlyArray<Dim>;

/**
 * How a tensor sits in the ONNX graph: 'tfjs' as tfjs holds it, or 'nchw' with its last (channel) axis
 * moved to axis 1 (NWC -> NCW, NHWC -> NCHW, NDHWC -> NCDHW), the order ONNX convolutions want.
 */
export type Layout = 'tfjs' | 'nchw';

/** The dtypes tensors carry through the conversion. */
export type Dtype = 'float32' | 'int32' | 'bool';

/** A tfjs mask: a float 0/1 tensor [batch, time], or the reason it cannot be expressed. */
export type Mask = { readonly name: string } | { readonly unsupported: string };

/** A tensor being converted. */
export interface TensorRef {
  readonly name: string;
  /** The tfjs shape, batch first (null = dynamic). */
  readonly shape: Shape;
  readonly layout: Layout;
  readonly dtype: Dtype;
  readonly mask?: Mask;
}

/** What a layer converter gets. */
export interface LayerContext {
  readonly g: GraphBuilder;
  readonly layer: tf.layers.Layer;
  readonly config: Record<string, unknown>;
  /** The tfjs output shapes of this call. */
  readonly outputShapes: readonly Shape[];
  /** The same tensor as tfjs holds it (cached: one Transpose per tensor at most). */
  readonly channelsLast: (t: TensorRef) => TensorRef;
  /** The same tensor with its channels on axis 1 (cached). */
  readonly channelsFirst: (t: TensorRef) => TensorRef;
  /** Converts a layer that is not a node of the model (a wrapper's inner layer). */
  readonly convertInner: (layer: tf.layers.Layer, inputs: TensorRef[], outputShapes: readonly Shape[]) => TensorRef[];
  /** Records a note for the report (something tfjs does that a reader would not expect). */
  readonly note: (text: string) => void;
}

/** Converts one call of a layer: ONNX nodes for its inputs, tfjs' outputs returned. */
export type LayerConverter = (ctx: LayerContext, inputs: TensorRef[]) => TensorRef[];

/** An unsupported-attribute error naming the layer, its class and the attribute. */
export function unsupported(layer: tf.layers.Layer, attribute: string, value: unknown, expected: string): Error {
  return new Error(`Layer '${layer.name}' (class ${layer.getClassName()}): ${attribute} ${JSON.stringify(value)} is not supported (expected ${expected})`);
}

/** A refusal naming the layer, its class and why ONNX (or tfjs) cannot express it. */
export function refused(layer: tf.layers.Layer, why: string): Error {
  return new Error(`Layer '${layer.name}' (class ${layer.getClassName()}) cannot be converted: ${why}`);
}

/** A weight's values and shape. */
export interface Weight {
  readonly data: Float32Array;
  readonly shape: number[];
}

/** A layer's weights as float32 arrays, in tfjs order. */
export function weights(layer: tf.layers.Layer): Weight[] {
  return layer.getWeights().map((w) => {
    if (w.dtype !== 'float32') throw unsupported(layer, 'weight dtype', w.dtype, 'float32');
    return { data: w.dataSync() as Float32Array, shape: w.shape };
  });
}

/** The integers from `from` up to `to` (exclusive). */
export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

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

/** physical = transpose(logical, physicalPerm(t)). */
export function physicalPerm(t: TensorRef): number[] {
  const r = t.shape.length;
  return t.layout === 'nchw' ? [0, r - 1, ...range(1, r - 1)] : range(0, r);
}

/** Where a logical (tfjs) axis sits in the ONNX tensor; negative axes count from the end. */
export function physicalAxis(t: TensorRef, axis: number): number {
  const r = t.shape.length;
  return physicalPerm(t).indexOf(axis < 0 ? axis + r : axis);
}

/** The physical shape of a tensor. */
export function physicalShape(t: TensorRef): Dim[] {
  return physicalPerm(t).map((p) => t.shape[p]!);
}

/** A number or list from a config, as a list of `n` numbers. */
export function tuple(v: unknown, n: number): number[] {
  if (Array.isArray(v)) {
    const out = v.map(Number);
    while (out.length < n) out.push(out[out.length - 1] ?? 1);
    return out.slice(0, n);
  }
  return new Array<number>(n).fill(v === undefined || v === null ? 1 : Number(v));
}

/** TF 'same' padding for a forward window (convolution or pooling), as explicit begin/end pads. */
export function samePads(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** The layer's data format ('channelsLast' unless it says channels first, in either spelling). */
export function dataFormat(ctx: LayerContext): 'channelsLast' | 'channelsFirst' {
  const f = ctx.config.dataFormat ?? ctx.config.data_format;
  if (f === undefined || f === null || f === 'channelsLast' || f === 'channels_last') return 'channelsLast';
  if (f === 'channelsFirst' || f === 'channels_first') return 'channelsFirst';
  throw unsupported(ctx.layer, 'dataFormat', f, "'channelsLast' or 'channelsFirst'");
}

/** The single input of a one-input layer. */
export function only(inputs: TensorRef[], ctx: LayerContext): TensorRef {
  if (inputs.length !== 1) throw unsupported(ctx.layer, 'input count', inputs.length, '1');
  return inputs[0]!;
}

/** A tensor with a new name (and optionally shape), keeping layout, dtype and mask. */
export const same = (t: TensorRef, name: string, shape: Shape = t.shape): TensorRef => ({ ...t, name, shape });

/** A float tensor as tfjs holds it. */
export const plain = (name: string, shape: Shape, dtype: Dtype = 'float32'): TensorRef => ({ name, shape, layout: 'tfjs', dtype });
