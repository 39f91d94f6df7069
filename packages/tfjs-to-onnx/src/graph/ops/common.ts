import type { AttrValue } from '../../graph-builder.ts';
import type { GraphContext } from '../context.ts';
import type { TfNode } from '../graph-def.ts';
import { broadcast, type Dim, type Dtype, isConst, isIdentity, range, type Value } from '../value.ts';

/** Converts one node: its inputs (data inputs, in order) to its outputs. */
export type OpConverter = (ctx: GraphContext, node: TfNode, inputs: Value[]) => Value[] | Promise<Value[]>;

/** The input at `i`, or a refusal saying how many the node has. */
export function input(ctx: GraphContext, inputs: Value[], i: number, what = `input ${i}`): Value {
  const v = inputs[i];
  if (!v) throw ctx.refuse(`it has ${inputs.length} inputs, ${what} is missing`);
  return v;
}

/** tfjs' dtype promotion (makeTypesMatch): float32 over int32 over bool. */
export function promote(...dtypes: Dtype[]): Dtype {
  if (dtypes.includes('float32')) return 'float32';
  if (dtypes.includes('int32')) return 'int32';
  return dtypes[0] ?? 'float32';
}

/** What {@link elementwise} returns: the inputs' ONNX names in the chosen layout, the output shape and layout. */
export interface Elementwise {
  readonly names: string[];
  readonly shape: Dim[] | null;
  readonly perm?: readonly number[];
}

/** A constant of lower rank padded with leading 1s to `rank` (same values). */
function padRank(v: Value, rank: number): Value {
  const shape = v.shape!;
  return { ...v, shape: [...new Array<number>(rank - shape.length).fill(1), ...shape], elems: undefined };
}

/**
 * Element-wise ops broadcast in any layout as long as every input uses the same one: the layout that
 * needs the fewest transposes is chosen (constants are permuted for free, lower-rank constants padded to
 * the full rank first), so a chain of convolutions, batch norms, activations and residual adds stays
 * channels-first.
 */
export function elementwise(ctx: GraphContext, inputs: Value[]): Elementwise {
  let shape: Dim[] | null;
  try {
    shape = inputs.reduce<Dim[] | null>((s, v) => broadcast(s, v.shape), []);
  } catch (err) {
    throw ctx.refuse((err as Error).message);
  }
  if (!shape || inputs.some((v) => !v.shape)) return { names: inputs.map((v) => ctx.ref(v)), shape: shape && inputs.every((v) => v.shape) ? shape : null };
  const rank = shape.length;
  const full = inputs.filter((v) => !isConst(v) && v.shape!.length === rank);
  const candidates: (readonly number[] | undefined)[] = [undefined];
  for (const v of full) if (!isIdentity(v.perm) && !candidates.some((c) => c && c.join() === v.perm!.join())) candidates.push(v.perm);
  const cost = (p: readonly number[] | undefined): number =>
    inputs.reduce((n, v) => {
      if (isConst(v) || v.shape!.length === 0) return n;
      if (v.shape!.length === rank) return n + ((v.perm && !isIdentity(v.perm) ? v.perm.join() : '') === (p && !isIdentity(p) ? p.join() : '') ? 0 : 1);
      return n + (p && !isIdentity(p) ? 2 : isIdentity(v.perm) ? 0 : 1);
    }, 0);
  let best = candidates[0];
  let bestCost = cost(best);
  for (const c of candidates.slice(1)) {
    const k = cost(c);
    if (k <= bestCost) {
      best = c;
      bestCost = k;
    }
  }
  const names = inputs.map((v) => {
    const r = v.shape!.length;
    if (r === rank || r === 0) return ctx.ref(v, r === rank ? best : undefined);
    if (!best) return ctx.ref(v);
    if (isConst(v)) return ctx.ref(padRank(v, rank), best);
    const up = ctx.g.unsqueeze(ctx.ref(v), range(0, rank - r), `${v.name}_rank${rank}`);
    return ctx.ref({ dtype: v.dtype, shape: [...new Array<number>(rank - r).fill(1), ...v.shape!], name: up }, best);
  });
  return { names, shape, ...(best ? { perm: best } : {}) };
}

/** An element-wise ONNX op over inputs (already of matching dtypes), output of `dtype`. */
export function elementwiseOp(ctx: GraphContext, op: string, inputs: Value[], dtype: Dtype, attrs: Record<string, AttrValue> = {}): Value {
  const e = elementwise(ctx, inputs);
  return ctx.emit(op, e.names, attrs, { dtype, shape: e.shape, ...(e.perm ? { perm: e.perm } : {}) });
}

/** A unary op keeping the layout. */
export function unaryOp(ctx: GraphContext, op: string, x: Value, attrs: Record<string, AttrValue> = {}, dtype: Dtype = x.dtype): Value {
  return ctx.emit(op, [ctx.ref(x, x.perm)], attrs, { dtype, shape: x.shape, ...(x.perm ? { perm: x.perm } : {}) });
}

/** Clip to [lo, hi] (Relu6) in the input's layout. */
export function clip(ctx: GraphContext, x: Value, lo: number, hi: number): Value {
  return ctx.emit(
    'Clip',
    [ctx.ref(x, x.perm), ctx.ref(ctx.scalar(lo, x.dtype)), ctx.ref(ctx.scalar(hi, x.dtype))],
    {},
    {
      dtype: x.dtype,
      shape: x.shape,
      ...(x.perm ? { perm: x.perm } : {}),
    },
  );
}

/** tfjs' SELU constants (selu_util.ts): scale * alpha and scale. */
export const SELU_SCALEALPHA = 1.7580993408473768;
export const SELU_SCALE = 1.0507009873554805;

/**
 * A fused activation as tfjs-core's applyActivation runs it (linear, relu, relu6, elu, prelu, leakyrelu,
 * sigmoid), plus the ones TensorFlow's remapper fuses and tfjs cannot run (tanh, the GELUs), converted
 * with TensorFlow's meaning and a note.
 */
export function activation(ctx: GraphContext, node: TfNode, y: Value, name: string | undefined, prelu: Value | undefined): Value {
  switch (name) {
    case undefined:
    case 'linear':
      return y;
    case 'relu':
      return unaryOp(ctx, 'Relu', y);
    case 'relu6':
      return clip(ctx, y, 0, 6);
    case 'elu':
      return unaryOp(ctx, 'Elu', y, { alpha: 1 });
    case 'sigmoid':
      return unaryOp(ctx, 'Sigmoid', y);
    case 'leakyrelu':
      // Written even when it is ONNX's default 0.01: tfjs' default (0.2) differs.
      return unaryOp(ctx, 'LeakyRelu', y, { alpha: node.float('leakyrelu_alpha', 0.2) });
    case 'prelu': {
      if (!prelu) throw ctx.refuse('its fused Prelu has no alpha argument');
      return elementwiseOp(ctx, 'PRelu', [y, ctx.cast(prelu, y.dtype)], y.dtype);
    }
    case 'tanh':
      ctx.note(`${node.op} with a fused Tanh: converted with TensorFlow's meaning (tfjs itself throws "Unknown fused activation tanh")`);
      return unaryOp(ctx, 'Tanh', y);
    case 'geluexact':
    case 'geluapproximate': {
      ctx.note(
        `${node.op} with a fused ${name === 'geluexact' ? 'GeluExact' : 'GeluApproximate'}: converted with TensorFlow's meaning (tfjs itself cannot run it)`,
      );
      return gelu(ctx, y, name === 'geluapproximate');
    }
    default:
      throw ctx.refuse(`its fused activation '${name}' is not one tfjs runs (linear, relu, relu6, elu, prelu, leakyrelu, sigmoid)`);
  }
}

/** GELU: x * Phi(x), exact (erf) or TensorFlow's tanh approximation. */
export function gelu(ctx: GraphContext, x: Value, approximate: boolean): Value {
  const f = (v: number): Value => ctx.scalar(v);
  const op = (o: string, a: Value, b: Value): Value => elementwiseOp(ctx, o, [a, b], 'float32');
  let inner: Value;
  if (approximate) {
    const cube = op('Mul', op('Mul', x, x), x);
    const arg = op('Mul', op('Add', x, op('Mul', cube, f(0.044715))), f(Math.sqrt(2 / Math.PI)));
    inner = unaryOp(ctx, 'Tanh', arg);
  } else {
    inner = unaryOp(ctx, 'Erf', op('Mul', x, f(Math.SQRT1_2)));
  }
  return op('Mul', op('Mul', x, f(0.5)), op('Add', inner, f(1)));
}

/** The fused ops of _FusedConv2D, FusedDepthwiseConv2dNative and _FusedMatMul, read as tfjs does. */
export interface Fused {
  readonly bias?: Value;
  readonly prelu?: Value;
  readonly activation?: string;
}

/**
 * Reads `fused_ops` and the extra arguments as tfjs' executors do: [BiasAdd|NoOp, activation], bias then
 * (for Prelu) alpha; `num_args` checked as tfjs checks it. A fused batch norm (tfjs throws) and lists
 * tfjs would misread are refused.
 */
export function fusedOps(ctx: GraphContext, node: TfNode, args: Value[]): Fused {
  const ops = node.strs('fused_ops');
  const shown = node.strs('fused_ops', [], true).join(', ');
  if (ops.length > 2) throw ctx.refuse(`fused_ops [${shown}]: tfjs applies only the first two`);
  const [extra, act] = ops;
  if (extra === 'fusedbatchnorm')
    throw ctx.refuse('fused_ops [FusedBatchNorm]: tfjs throws "FusedConv2d and DepthwiseConv2d with FusedBatchNorm is not supported"');
  if (extra !== undefined && extra !== 'biasadd' && extra !== 'noop') {
    throw ctx.refuse(`fused_ops [${shown}]: tfjs reads the first fused op as BiasAdd or nothing, so it would ignore '${extra}'`);
  }
  const numArgs = node.int('num_args', 0);
  const isPrelu = act === 'prelu';
  if (extra === 'biasadd') {
    if (isPrelu && numArgs !== 2) throw ctx.refuse('fused BiasAdd and Prelu need two extra arguments (bias and alpha), as tfjs checks');
    if (!isPrelu && numArgs !== 1) throw ctx.refuse('a fused BiasAdd needs one extra argument (the bias), as tfjs checks');
    return { bias: args[0], prelu: args[1], activation: act };
  }
  return { prelu: args[0], activation: act };
}

/** Adds a bias along the last logical axis (BiasAdd and fused biases), in the value's layout. */
export function addBias(ctx: GraphContext, y: Value, bias: Value): Value {
  return elementwiseOp(ctx, 'Add', [y, ctx.cast(bias, y.dtype)], y.dtype);
}
