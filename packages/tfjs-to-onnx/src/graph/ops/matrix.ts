import { int } from '../../graph-builder.ts';
import { broadcast, type Dim, isConst, range, type Value } from '../value.ts';
import { activation, addBias, elementwiseOp, fusedOps, input, type OpConverter, promote } from './common.ts';

/** Matrix products: MatMul, BatchMatMul(V2), _FusedMatMul (as Gemm where it can), Einsum, MatrixBandPart. */

/** The last two axes swapped. */
const swapLast = (rank: number): number[] => [...range(0, rank - 2), rank - 1, rank - 2];

/** MatMul and BatchMatMul(V2) (adj_x/adj_y), with _FusedMatMul's bias and activation. */
const matMul =
  (fused: boolean, adjA: string, adjB: string): OpConverter =>
  (ctx, node, inputs) => {
    const t = promote(input(ctx, inputs, 0).dtype, input(ctx, inputs, 1).dtype);
    let a = ctx.cast(inputs[0]!, t);
    let b = ctx.cast(inputs[1]!, t);
    const ra = ctx.rank(a, 'first input');
    const rb = ctx.rank(b, 'second input');
    if (ra < 2 || rb < 2) throw ctx.refuse(`tfjs multiplies matrices of rank 2 or more (here ${ra} and ${rb})`);
    const transA = node.bool(adjA, false);
    const transB = node.bool(adjB, false);
    const f = fused ? fusedOps(ctx, node, inputs.slice(2)) : {};
    const bias = f.bias ? ctx.cast(f.bias, t) : undefined;
    const sa = transA ? swapLast(ra).map((p) => a.shape![p]!) : a.shape!;
    const sb = transB ? swapLast(rb).map((p) => b.shape![p]!) : b.shape!;
    let batch: Dim[] | null;
    try {
      batch = broadcast(sa.slice(0, -2), sb.slice(0, -2));
    } catch (err) {
      throw ctx.refuse((err as Error).message);
    }
    const shape: Dim[] = [...(batch ?? []), sa[sa.length - 2]!, sb[sb.length - 1]!];
    let y: Value;
    const gemmBias = bias && isConst(bias) && bias.shape.length === 1 && bias.shape[0] === sb[1];
    if (ra === 2 && rb === 2 && t === 'float32') {
      // Gemm: transA as an attribute, a constant B transposed in place (so that batch norms fold into it).
      if (transB) b = ctx.transposed(b, [1, 0]);
      const ins = [ctx.ref(a), ctx.ref(b), ...(gemmBias ? [ctx.ref(bias!)] : [])];
      y = ctx.emit('Gemm', ins, transA ? { transA: int(1) } : {}, { dtype: t, shape });
      if (bias && !gemmBias) y = addBias(ctx, y, bias);
    } else {
      if (transA) a = ctx.transposed(a, swapLast(ra));
      if (transB) b = ctx.transposed(b, swapLast(rb));
      y = ctx.emit('MatMul', [ctx.ref(a), ctx.ref(b)], {}, { dtype: t, shape });
      if (bias) y = addBias(ctx, y, bias);
    }
    return [activation(ctx, node, y, f.activation, f.prelu)];
  };

/** Einsum: ONNX Einsum takes the same equations (the output shape read from the letters). */
const einsum: OpConverter = (ctx, node, inputs) => {
  const equation = node.str('equation', undefined, true);
  if (!equation) throw ctx.refuse('it has no equation');
  if (inputs.length === 0) throw ctx.refuse('it has no inputs');
  const t = promote(...inputs.map((v) => v.dtype));
  const ins = inputs.map((v) => ctx.cast(v, t));
  const [lhs, rhs] = equation.replace(/\s/g, '').split('->');
  let shape: Dim[] | null = null;
  if (rhs !== undefined && !equation.includes('.')) {
    const sizes = new Map<string, Dim>();
    const terms = lhs!.split(',');
    if (terms.length !== ins.length) throw ctx.refuse(`its equation '${equation}' has ${terms.length} operands for ${ins.length} inputs`);
    terms.forEach((term, k) => {
      const s = ins[k]!.shape;
      [...term].forEach((letter, i) => {
        const d = s?.[i] ?? null;
        if (!sizes.has(letter) || typeof sizes.get(letter) !== 'number') sizes.set(letter, d);
      });
    });
    shape = [...rhs].map((letter) => sizes.get(letter) ?? null);
  }
  return [
    ctx.emit(
      'Einsum',
      ins.map((v) => ctx.ref(v)),
      { equation },
      { dtype: t, shape },
    ),
  ];
};

/** MatrixBandPart: the band (num_lower below, num_upper above the diagonal; negative: all) of the last two axes kept. */
const bandPart: OpConverter = (ctx, _node, inputs) => {
  const a = ctx.logical(input(ctx, inputs, 0));
  const r = ctx.rank(a);
  if (r < 2) throw ctx.refuse(`its input has rank ${r}, expected 2 or more`);
  const lower = ctx.constNumbers(input(ctx, inputs, 1, 'num_lower'), 'num_lower')[0]!;
  const upper = ctx.constNumbers(input(ctx, inputs, 2, 'num_upper'), 'num_upper')[0]!;
  if (lower !== upper) {
    // tfjs-converter 4.22's op list reads both bounds from input 1.
    ctx.note(
      `MatrixBandPart '${ctx.node!.name}' keeps ${lower} below and ${upper} above the diagonal as TensorFlow does; tfjs reads num_lower for both, so it differs from tfjs`,
    );
  }
  const m = a.shape![r - 2];
  const n = a.shape![r - 1];
  if (typeof m !== 'number' || typeof n !== 'number') throw ctx.refuse('the sizes of its last two axes must be known');
  const mask: number[] = [];
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) mask.push((lower < 0 || i - j <= lower) && (upper < 0 || j - i <= upper) ? 1 : 0);
  return [elementwiseOp(ctx, 'Where', [ctx.constant('bool', mask, [m, n]), a, ctx.scalar(0, a.dtype)], a.dtype)];
};

export const MATRIX_OPS: Record<string, OpConverter> = {
  MatMul: matMul(false, 'transpose_a', 'transpose_b'),
  _FusedMatMul: matMul(true, 'transpose_a', 'transpose_b'),
  BatchMatMul: matMul(false, 'adj_x', 'adj_y'),
  BatchMatMulV2: matMul(false, 'adj_x', 'adj_y'),
  Einsum: einsum,
  MatrixBandPart: bandPart,
};
