import { int } from '../../graph-builder.ts';
import type { GraphContext } from '../context.ts';
import { tfjsDtype } from '../graph-def.ts';
import type { Dim, Dtype, Value } from '../value.ts';
import { addBias, clip, elementwise, elementwiseOp, input, type OpConverter, promote, SELU_SCALE, SELU_SCALEALPHA, unaryOp } from './common.ts';

/** The element-wise unary, binary and logical ops, each with tfjs' dtype rules. */

/** A unary op that keeps its input's dtype (tfjs runs it on int32 as well). */
const sameType =
  (op: string, attrs = {}): OpConverter =>
  (ctx, _node, inputs) => [unaryOp(ctx, op, input(ctx, inputs, 0), attrs)];

/** A unary op on floats (tfjs casts int32 inputs to float32 or its kernel outputs float32). */
const floatOnly =
  (op: string, attrs = {}): OpConverter =>
  (ctx, _node, inputs) => [unaryOp(ctx, op, ctx.cast(input(ctx, inputs, 0), 'float32'), attrs)];

/** A unary op built from others, on floats. */
const floatFormula =
  (build: (ctx: GraphContext, x: Value) => Value): OpConverter =>
  (ctx, _node, inputs) => [build(ctx, ctx.cast(input(ctx, inputs, 0), 'float32'))];

const f32 = (ctx: GraphContext, v: number): Value => ctx.scalar(v, 'float32');
const bin = (ctx: GraphContext, op: string, a: Value, b: Value, dtype: Dtype = a.dtype): Value => elementwiseOp(ctx, op, [a, b], dtype);

/** Known entries of an int32 result computed from two int32 scalars or vectors with known entries (shape arithmetic). */
function elemsOf(a: Value, b: Value, f: (x: number, y: number) => number): Dim[] | undefined {
  if (!a.elems || !b.elems || a.dtype !== 'int32' || b.dtype !== 'int32') return undefined;
  const n = Math.max(a.elems.length, b.elems.length);
  if ((a.elems.length !== n && a.elems.length !== 1) || (b.elems.length !== n && b.elems.length !== 1)) return undefined;
  return Array.from({ length: n }, (_, i) => {
    const x = a.elems![a.elems!.length === 1 ? 0 : i]!;
    const y = b.elems![b.elems!.length === 1 ? 0 : i]!;
    return typeof x === 'number' && typeof y === 'number' ? f(x, y) : null;
  });
}

const withElems = (v: Value, elems: Dim[] | undefined): Value => (elems && v.shape && v.shape.length <= 1 ? { ...v, elems } : v);

/** Both operands promoted to a common dtype, as tfjs' makeTypesMatch does. */
function operands(ctx: GraphContext, inputs: Value[]): [Value, Value, Dtype] {
  const a = input(ctx, inputs, 0);
  const b = input(ctx, inputs, 1);
  const t = promote(a.dtype, b.dtype);
  return [ctx.cast(a, t), ctx.cast(b, t), t];
}

/** An arithmetic op mapped to one ONNX op (with the known entries of shape arithmetic). */
const arithmetic =
  (op: string, f?: (x: number, y: number) => number): OpConverter =>
  (ctx, _node, inputs) => {
    const [a, b, t] = operands(ctx, inputs);
    return [withElems(bin(ctx, op, a, b, t), f && elemsOf(a, b, f))];
  };

/** floor(a / b) on int32, exactly: truncating division corrected where the signs differ and it is inexact. */
function floorDivInt(ctx: GraphContext, a: Value, b: Value): Value {
  const q = bin(ctx, 'Div', a, b);
  const inexact = unaryOp(ctx, 'Not', bin(ctx, 'Equal', bin(ctx, 'Mul', q, b), a, 'bool'), {}, 'bool');
  const zero = ctx.scalar(0, 'int32');
  const signs = bin(ctx, 'Xor', bin(ctx, 'Less', a, zero, 'bool'), bin(ctx, 'Less', b, zero, 'bool'), 'bool');
  const fix = ctx.cast(bin(ctx, 'And', inexact, signs, 'bool'), 'int32');
  return bin(ctx, 'Sub', q, fix);
}

/** tfjs' floorDiv: floor(a / b), always int32 (its kernels output int32 even for floats). */
function floorDiv(ctx: GraphContext, a: Value, b: Value): Value {
  if (a.dtype === 'int32')
    return withElems(
      floorDivInt(ctx, a, b),
      elemsOf(a, b, (x, y) => Math.floor(x / y)),
    );
  return ctx.cast(unaryOp(ctx, 'Floor', bin(ctx, 'Div', a, b)), 'int32');
}

/** tfjs' mod: the remainder with the sign of the divisor (C fmod, corrected when the signs differ). */
function floorMod(ctx: GraphContext, a: Value, b: Value): Value {
  if (a.dtype === 'int32') return bin(ctx, 'Mod', a, b, 'int32');
  const r = elementwiseOp(ctx, 'Mod', [a, b], 'float32', { fmod: int(1) });
  const shifted = elementwiseOp(ctx, 'Mod', [bin(ctx, 'Add', r, b), b], 'float32', { fmod: int(1) });
  const zero = f32(ctx, 0);
  const differ = bin(ctx, 'Xor', bin(ctx, 'Less', a, zero, 'bool'), bin(ctx, 'Less', b, zero, 'bool'), 'bool');
  return elementwiseOp(ctx, 'Where', [differ, shifted, r], 'float32');
}

/** atan2(a, b) from Atan with the quadrant corrections (ONNX has no Atan2). */
function atan2(ctx: GraphContext, a: Value, b: Value): Value {
  const zero = f32(ctx, 0);
  const base = unaryOp(ctx, 'Atan', bin(ctx, 'Div', a, b));
  const pi = f32(ctx, Math.PI);
  const where = (c: Value, x: Value, y: Value): Value => elementwiseOp(ctx, 'Where', [c, x, y], 'float32');
  const bNeg = bin(ctx, 'Less', b, zero, 'bool');
  const aNeg = bin(ctx, 'Less', a, zero, 'bool');
  const negB = where(aNeg, bin(ctx, 'Sub', base, pi), bin(ctx, 'Add', base, pi));
  const bZero = bin(ctx, 'Equal', b, zero, 'bool');
  const onAxis = where(bin(ctx, 'Greater', a, zero, 'bool'), f32(ctx, Math.PI / 2), where(aNeg, f32(ctx, -Math.PI / 2), zero));
  return where(bZero, onAxis, where(bNeg, negB, base));
}

const comparison =
  (op: string, negate = false): OpConverter =>
  (ctx, _node, inputs) => {
    const [a, b] = operands(ctx, inputs);
    const r = bin(ctx, op, a, b, 'bool');
    return [negate ? unaryOp(ctx, 'Not', r) : r];
  };

const logical =
  (op: string): OpConverter =>
  (ctx, _node, inputs) => {
    const a = ctx.cast(input(ctx, inputs, 0), 'bool');
    const b = ctx.cast(input(ctx, inputs, 1), 'bool');
    return [bin(ctx, op, a, b, 'bool')];
  };

export const MATH_OPS: Record<string, OpConverter> = {
  Abs: sameType('Abs'),
  Neg: sameType('Neg'),
  Sign: sameType('Sign'),
  Relu: sameType('Relu'),
  Relu6: (ctx, _n, inputs) => [clip(ctx, input(ctx, inputs, 0), 0, 6)],
  Round: floatOnly('Round'),
  Square: (ctx, _n, inputs) => {
    const x = input(ctx, inputs, 0);
    return [bin(ctx, 'Mul', x, x)];
  },
  Reciprocal: floatOnly('Reciprocal'),
  Acos: floatOnly('Acos'),
  Acosh: floatOnly('Acosh'),
  Asin: floatOnly('Asin'),
  Asinh: floatOnly('Asinh'),
  Atan: floatOnly('Atan'),
  Atanh: floatOnly('Atanh'),
  Ceil: floatOnly('Ceil'),
  Cos: floatOnly('Cos'),
  Cosh: floatOnly('Cosh'),
  Elu: floatOnly('Elu', { alpha: 1 }),
  Erf: floatOnly('Erf'),
  Exp: floatOnly('Exp'),
  Floor: floatOnly('Floor'),
  Log: floatOnly('Log'),
  Sigmoid: floatOnly('Sigmoid'),
  Sin: floatOnly('Sin'),
  Sinh: floatOnly('Sinh'),
  Softplus: floatOnly('Softplus'),
  Sqrt: floatOnly('Sqrt'),
  Tan: floatOnly('Tan'),
  Tanh: floatOnly('Tanh'),
  // tfjs' constants, not ONNX's defaults (which are rounded differently).
  Selu: floatOnly('Selu', { alpha: SELU_SCALEALPHA / SELU_SCALE, gamma: SELU_SCALE }),
  Rsqrt: floatFormula((ctx, x) => unaryOp(ctx, 'Reciprocal', unaryOp(ctx, 'Sqrt', x))),
  Expm1: floatFormula((ctx, x) => bin(ctx, 'Sub', unaryOp(ctx, 'Exp', x), f32(ctx, 1))),
  Log1p: floatFormula((ctx, x) => unaryOp(ctx, 'Log', bin(ctx, 'Add', x, f32(ctx, 1)))),
  IsNan: floatFormula((ctx, x) => unaryOp(ctx, 'IsNaN', x, {}, 'bool')),
  IsInf: floatFormula((ctx, x) => unaryOp(ctx, 'IsInf', x, {}, 'bool')),
  IsFinite: floatFormula((ctx, x) => unaryOp(ctx, 'Not', bin(ctx, 'Or', unaryOp(ctx, 'IsNaN', x, {}, 'bool'), unaryOp(ctx, 'IsInf', x, {}, 'bool'), 'bool'))),
  LeakyRelu: (ctx, node, inputs) => [unaryOp(ctx, 'LeakyRelu', ctx.cast(input(ctx, inputs, 0), 'float32'), { alpha: node.float('alpha', 0.2) })],
  Prelu: (ctx, _n, inputs) => {
    const x = input(ctx, inputs, 0);
    return [bin(ctx, 'PRelu', x, ctx.cast(input(ctx, inputs, 1, 'alpha'), x.dtype))];
  },
  ClipByValue: (ctx, _n, inputs) => {
    const x = input(ctx, inputs, 0);
    // tfjs reads min and max as numbers (the first value of each tensor).
    const bound = (v: Value): string => {
      const c = ctx.cast(v, x.dtype);
      if (c.shape?.length === 0) return ctx.ref(c);
      return ctx.g.op('Reshape', [
        ctx.g.op('Slice', [ctx.g.op('Reshape', [ctx.ref(c), ctx.g.int64Const([-1])]), ctx.g.int64Const([0]), ctx.g.int64Const([1])]),
        ctx.g.int64Const([]),
      ]);
    };
    const lo = bound(input(ctx, inputs, 1, 'clip_value_min'));
    const hi = bound(input(ctx, inputs, 2, 'clip_value_max'));
    return [ctx.emit('Clip', [ctx.ref(x, x.perm), lo, hi], {}, { dtype: x.dtype, shape: x.shape, ...(x.perm ? { perm: x.perm } : {}) })];
  },
  Cast: (ctx, node, inputs) => {
    const to = node.dtype('DstT');
    if (to === null || to === 'complex64' || to === 'string') throw ctx.refuse(`it casts to ${node.dtypeRaw('DstT') ?? 'no dtype'}, which tfjs cannot hold`);
    const x = input(ctx, inputs, 0);
    if (x.dtype === 'string') throw ctx.refuse('it casts a string tensor');
    return [ctx.cast(x, to)];
  },

  Add: arithmetic('Add', (x, y) => x + y),
  AddV2: arithmetic('Add', (x, y) => x + y),
  Sub: arithmetic('Sub', (x, y) => x - y),
  Mul: arithmetic('Mul', (x, y) => x * y),
  Maximum: arithmetic('Max', Math.max),
  Minimum: arithmetic('Min', Math.min),
  Pow: arithmetic('Pow'),
  BiasAdd: (ctx, node, inputs) => {
    // tfjs ignores data_format and adds along the last axis, which differs from TensorFlow for NCHW.
    if ((node.str('data_format', 'nhwc') ?? 'nhwc') === 'nchw') throw ctx.refuse('data_format NCHW: tfjs ignores it and adds the bias along the last axis');
    const [a, b] = operands(ctx, inputs);
    return [addBias(ctx, a, b)];
  },
  RealDiv: (ctx, _n, inputs) => {
    const [a, b] = operands(ctx, inputs);
    // tfjs' div is floorDiv on two int32 tensors.
    return [a.dtype === 'int32' ? floorDiv(ctx, a, b) : bin(ctx, 'Div', a, b)];
  },
  Div: (ctx, _n, inputs) => {
    const [a, b] = operands(ctx, inputs);
    return [a.dtype === 'int32' ? floorDiv(ctx, a, b) : bin(ctx, 'Div', a, b)];
  },
  FloorDiv: (ctx, _n, inputs) => {
    const [a, b] = operands(ctx, inputs);
    return [floorDiv(ctx, a, b)];
  },
  FloorMod: (ctx, _n, inputs) => {
    const [a, b] = operands(ctx, inputs);
    return [floorMod(ctx, a, b)];
  },
  Mod: (ctx, _n, inputs) => {
    const [a, b] = operands(ctx, inputs);
    return [floorMod(ctx, a, b)];
  },
  DivNoNan: (ctx, _n, inputs) => {
    const [a, b, t] = operands(ctx, inputs);
    const zero = ctx.scalar(0, t);
    const q = t === 'int32' ? floorDiv(ctx, a, b) : bin(ctx, 'Div', a, b);
    return [elementwiseOp(ctx, 'Where', [bin(ctx, 'Equal', b, zero, 'bool'), zero, q], t)];
  },
  SquaredDifference: (ctx, _n, inputs) => {
    const [a, b] = operands(ctx, inputs);
    const d = bin(ctx, 'Sub', a, b);
    return [bin(ctx, 'Mul', d, d)];
  },
  AddN: (ctx, _n, inputs) => {
    if (inputs.length === 0) throw ctx.refuse('it has no inputs');
    const t = promote(...inputs.map((v) => v.dtype));
    if (inputs.length === 1) return [ctx.cast(inputs[0]!, t)];
    return [
      elementwiseOp(
        ctx,
        'Sum',
        inputs.map((v) => ctx.cast(v, t)),
        t,
      ),
    ];
  },
  Atan2: (ctx, _n, inputs) => [atan2(ctx, ctx.cast(input(ctx, inputs, 0), 'float32'), ctx.cast(input(ctx, inputs, 1), 'float32'))],
  BitwiseAnd: (ctx, _n, inputs) => {
    if (ctx.opset < 18) throw ctx.refuse(`ONNX BitwiseAnd needs opset 18 or newer (this conversion writes ${ctx.opset}; use --opset 18)`);
    const [a, b] = operands(ctx, inputs);
    return [bin(ctx, 'BitwiseAnd', a, b)];
  },

  Equal: comparison('Equal'),
  NotEqual: comparison('Equal', true),
  Greater: comparison('Greater'),
  GreaterEqual: comparison('GreaterOrEqual'),
  Less: comparison('Less'),
  LessEqual: comparison('LessOrEqual'),
  LogicalAnd: logical('And'),
  LogicalOr: logical('Or'),
  LogicalNot: (ctx, _n, inputs) => [unaryOp(ctx, 'Not', ctx.cast(input(ctx, inputs, 0), 'bool'))],
  Select: select,
  SelectV2: select,
};

/** Select and SelectV2: tfjs' where broadcasts condition, a and b (Select's row selection included). */
function select(ctx: GraphContext, _n: unknown, inputs: Value[]): Value[] {
  const c = ctx.cast(input(ctx, inputs, 0, 'condition'), 'bool');
  const t = promote(input(ctx, inputs, 1).dtype, input(ctx, inputs, 2).dtype);
  const e = elementwise(ctx, [c, ctx.cast(inputs[1]!, t), ctx.cast(inputs[2]!, t)]);
  return [ctx.emit('Where', e.names, {}, { dtype: t, shape: e.shape, ...(e.perm ? { perm: e.perm } : {}) })];
}

/** The tfjs dtype a type attribute names, refusing types tfjs lacks. */
export function attrDtype(ctx: GraphContext, raw: string | number | undefined, what: string): Dtype {
  const t = raw === undefined ? null : tfjsDtype(raw);
  if (t === null || t === 'complex64') throw ctx.refuse(`its ${what} ${raw ?? '(missing)'} is not a dtype tfjs holds`);
  return t;
}
