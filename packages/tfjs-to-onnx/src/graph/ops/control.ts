import { DataType, int } from '../../graph-builder.ts';
import { type GraphContext, onnxType } from '../context.ts';
import type { TfNode } from '../graph-def.ts';
import { type Dim, type Dtype, isConst, numbers, type Value } from '../value.ts';
import { input, type OpConverter } from './common.ts';
import { attrDtype } from './math.ts';

/**
 * TF2 control flow as tfjs runs it: StatelessIf/If (a branch function chosen by the first value of the
 * condition) as ONNX If, StatelessWhile/While (body applied while cond holds) as ONNX Loop, each function
 * converted into its subgraph; a condition known when converting inlines the branch (or skips the loop).
 * TensorLists (the loop state of tf.map_fn and TensorArray in TF2) are dense tensors of their stacked
 * items.
 */

/** The first value of a condition as an ONNX bool scalar (tfjs reads `cond.dataSync()[0]`). */
function conditionScalar(ctx: GraphContext, c: Value): string {
  const b = ctx.cast(c, 'bool');
  if (b.shape && b.shape.length === 0) return ctx.ref(b);
  const flat = ctx.g.op('Reshape', [ctx.ref(b), ctx.g.int64Const([-1])]);
  return ctx.g.op('Reshape', [ctx.g.op('Slice', [flat, ctx.g.int64Const([0]), ctx.g.int64Const([1])]), ctx.g.int64Const([])], {}, 'condition');
}

/** A condition known when converting, or undefined. */
function knownCondition(c: Value): boolean | undefined {
  if (!isConst(c) || Array.isArray(c.data) || c.data.length === 0) return undefined;
  return numbers(c)[0] !== 0;
}

/** A subgraph's output: the value in its logical layout, copied by an Identity made inside the subgraph. */
function subgraphOutput(sub: GraphContext, v: Value, dtype: Dtype = v.dtype): string {
  const name = sub.g.op('Identity', [sub.ref(sub.cast(v, dtype))], {}, 'out');
  sub.g.output({ name, dataType: onnxType(dtype) });
  return name;
}

/** The shapes two branches may give: equal sizes kept, others unknown. */
function merged(a: Dim[] | null, b: Dim[] | null): Dim[] | null {
  if (!a || !b || a.length !== b.length) return null;
  return a.map((d, i) => (d === b[i] ? d : null));
}

const functionOf = (ctx: GraphContext, node: TfNode, attr: string): string => {
  const name = node.func(attr);
  if (!name) throw ctx.refuse(`its ${attr} function is missing`);
  return name;
};

const runner = (ctx: GraphContext) => {
  if (!ctx.runner) throw ctx.refuse('control flow needs the graph converter (not available here)');
  return ctx.runner;
};

/** StatelessIf and If: ONNX If whose branches are the converted functions (no inputs: they read the outer values). */
const ifOp: OpConverter = async (ctx, node, inputs) => {
  const cond = input(ctx, inputs, 0, 'cond');
  const args = inputs.slice(1);
  const thenName = functionOf(ctx, node, 'then_branch');
  const elseName = functionOf(ctx, node, 'else_branch');
  const known = knownCondition(cond);
  if (known !== undefined) return runner(ctx).call(ctx, known ? thenName : elseName, args);
  const condName = conditionScalar(ctx, cond);
  const thenCtx = ctx.subgraph();
  const elseCtx = ctx.subgraph();
  const thenOuts = await runner(ctx).call(thenCtx, thenName, args);
  const elseOuts = await runner(ctx).call(elseCtx, elseName, args);
  if (thenOuts.length !== elseOuts.length) throw ctx.refuse(`its branches return ${thenOuts.length} and ${elseOuts.length} values`);
  const specs = thenOuts.map((t, i) => {
    const e = elseOuts[i]!;
    if (t.dtype !== e.dtype) throw ctx.refuse(`its branches return output ${i} as ${t.dtype} and ${e.dtype}`);
    if (Boolean(t.list) !== Boolean(e.list)) throw ctx.refuse(`its branches return output ${i} as a TensorList in one branch only`);
    subgraphOutput(thenCtx, t);
    subgraphOutput(elseCtx, e);
    return { dtype: t.dtype, shape: merged(t.shape, e.shape), ...(t.list ? { list: true } : {}) };
  });
  if (specs.length === 0) return [];
  return ctx.emitN('If', [condName], { then_branch: { graph: thenCtx.g }, else_branch: { graph: elseCtx.g } }, specs);
};

/** The shapes loop variables keep across iterations: output_shapes (TF's shape invariants), else the rank only. */
function loopShapes(node: TfNode, args: Value[]): (Dim[] | null)[] {
  const listed = node.attr.output_shapes?.list?.shape;
  return args.map((a, i) => {
    const s = listed?.[i];
    if (s && !s.unknownRank && !s.unknown_rank) {
      const dims = (s.dim ?? []).map((d) => Number(d.size ?? -1));
      if (!a.shape || a.shape.length === dims.length) return dims.map((d, k) => (d >= 0 ? d : a.shape?.[k] === d ? d : null));
    }
    return a.shape ? a.shape.map(() => null) : null;
  });
}

/**
 * StatelessWhile and While: ONNX Loop (no trip count) carrying every loop variable; the condition is
 * evaluated once before the loop and at the end of each iteration, as tfjs does.
 */
const whileOp: OpConverter = async (ctx, node, inputs) => {
  const condName = functionOf(ctx, node, 'cond');
  const bodyName = functionOf(ctx, node, 'body');
  const r = runner(ctx);
  const [first] = await r.call(ctx, condName, inputs);
  if (!first) throw ctx.refuse(`its cond function '${condName}' returns nothing`);
  if (knownCondition(first) === false) return inputs;
  const shapes = loopShapes(node, inputs);
  const body = ctx.subgraph();
  const iter = body.g.name('iteration');
  const condIn = body.g.name('cond_in');
  body.g.input({ name: iter, dataType: DataType.INT64, dims: [] });
  body.g.input({ name: condIn, dataType: DataType.BOOL, dims: [] });
  const carried: Value[] = inputs.map((a, i) => {
    if (a.dtype === 'string') throw ctx.refuse('a string loop variable');
    const name = body.g.name(`loop_var${i}`);
    body.g.input({ name, dataType: onnxType(a.dtype) });
    return { dtype: a.dtype, shape: shapes[i]!, name, ...(a.list ? { list: true } : {}) };
  });
  const outs = await r.call(body, bodyName, carried);
  if (outs.length !== inputs.length) throw ctx.refuse(`its body '${bodyName}' returns ${outs.length} values for ${inputs.length} loop variables`);
  const [next] = await r.call(body, condName, outs);
  const condOut = body.g.op('Identity', [conditionScalar(body, next!)], {}, 'cond_out');
  body.g.output({ name: condOut, dataType: DataType.BOOL, dims: [] });
  outs.forEach((o, i) => {
    if (Boolean(o.list) !== Boolean(inputs[i]!.list)) throw ctx.refuse(`loop variable ${i} is a TensorList on one side of the body only`);
    subgraphOutput(body, o, inputs[i]!.dtype);
  });
  const loopInputs = ['', conditionScalar(ctx, first), ...inputs.map((a) => ctx.ref(a))];
  return ctx.emitN(
    'Loop',
    loopInputs,
    { body: { graph: body.g } },
    inputs.map((a, i) => ({ dtype: a.dtype, shape: shapes[i]!, ...(a.list ? { list: true } : {}) })),
  );
};

/** A TensorList's element dtype (element_dtype). */
const elementDtype = (ctx: GraphContext, node: TfNode): Dtype => attrDtype(ctx, node.dtypeRaw('element_dtype'), 'element_dtype');

/** An element shape input as known sizes, or a refusal (a dense list needs them to make its zeros). */
function elementShape(ctx: GraphContext, v: Value, what: string): number[] {
  const dims = isConst(v) ? numbers(v) : null;
  if (!dims || (v.shape && v.shape.length === 0) || dims.some((d) => d < 0)) {
    throw ctx.refuse(`the element shape of its TensorList must be fully known when converting (${what}); fix the model's input shapes with --input-shape`);
  }
  return dims;
}

/** A list of `count` zero items of a shape. */
function zerosList(ctx: GraphContext, dtype: Dtype, count: Value | number, elem: number[]): Value {
  const n =
    typeof count === 'number' ? count : isConst(count) ? numbers(count)[0]! : { tensor: ctx.g.op('Reshape', [ctx.int64(count), ctx.g.int64Const([1])]) };
  const shape = ctx.vector([n, ...elem]);
  return { ...ctx.emit('Expand', [ctx.ref(ctx.scalar(0, dtype)), shape], {}, { dtype, shape: [typeof n === 'number' ? n : null, ...elem] }), list: true };
}

/** A list input, or a refusal. */
function listInput(ctx: GraphContext, inputs: Value[], i: number): Value {
  const l = input(ctx, inputs, i, 'input_handle');
  if (!l.list) throw ctx.refuse('its list input is not a TensorList this converter made');
  return ctx.logical(l);
}

const asList = (v: Value): Value => ({ ...v, list: true, elems: undefined });
const asTensor = (v: Value): Value => {
  const { list: _l, ...rest } = v;
  return rest;
};

/** An index input as an int64 [1, 1] (ScatterND) or scalar (Gather). */
const index64 = (ctx: GraphContext, v: Value, shape: number[]): string => ctx.g.op('Reshape', [ctx.int64(v), ctx.g.int64Const(shape)]);

const itemShape = (l: Value): Dim[] | null => (l.shape ? l.shape.slice(1) : null);

export const CONTROL_OPS: Record<string, OpConverter> = {
  StatelessIf: ifOp,
  If: ifOp,
  StatelessWhile: whileOp,
  While: whileOp,
  TensorListReserve: (ctx, node, inputs) => [
    zerosList(
      ctx,
      elementDtype(ctx, node),
      input(ctx, inputs, 1, 'num_elements'),
      elementShape(ctx, input(ctx, inputs, 0, 'element_shape'), 'TensorListReserve'),
    ),
  ],
  EmptyTensorList: (ctx, node, inputs) => [
    zerosList(ctx, elementDtype(ctx, node), 0, elementShape(ctx, input(ctx, inputs, 0, 'element_shape'), 'EmptyTensorList')),
  ],
  TensorListFromTensor: (ctx, _node, inputs) => [asList(ctx.logical(input(ctx, inputs, 0, 'tensor')))],
  TensorListStack: (ctx, _node, inputs) => [asTensor(listInput(ctx, inputs, 0))],
  TensorListLength: (ctx, _node, inputs) => {
    const l = listInput(ctx, inputs, 0);
    const n = l.shape?.[0];
    if (typeof n === 'number') return [ctx.constant('int32', [n], [])];
    const len = ctx.g.op('Reshape', [ctx.dimTensor(l, 0), ctx.g.int64Const([])]);
    return [ctx.emit('Cast', [len], { to: int(DataType.INT32) }, { dtype: 'int32', shape: [] })];
  },
  TensorListGetItem: (ctx, _node, inputs) => {
    const l = listInput(ctx, inputs, 0);
    return [ctx.emit('Gather', [ctx.ref(l), index64(ctx, input(ctx, inputs, 1, 'index'), [])], { axis: int(0) }, { dtype: l.dtype, shape: itemShape(l) })];
  },
  TensorListSetItem: (ctx, _node, inputs) => {
    const l = listInput(ctx, inputs, 0);
    const item = ctx.cast(input(ctx, inputs, 2, 'item'), l.dtype);
    const update = ctx.g.unsqueeze(ctx.ref(item), [0]);
    return [
      {
        ...ctx.emit('ScatterND', [ctx.ref(l), index64(ctx, input(ctx, inputs, 1, 'index'), [1, 1]), update], {}, { dtype: l.dtype, shape: l.shape }),
        list: true,
      },
    ];
  },
  TensorListGather: (ctx, _node, inputs) => {
    const l = listInput(ctx, inputs, 0);
    const indices = input(ctx, inputs, 1, 'indices');
    return [
      ctx.emit('Gather', [ctx.ref(l), ctx.int64(indices)], { axis: int(0) }, { dtype: l.dtype, shape: [indices.shape?.[0] ?? null, ...(itemShape(l) ?? [])] }),
    ];
  },
  TensorListScatter: scatter(false),
  TensorListScatterV2: scatter(true),
  TensorListPushBack: (ctx, _node, inputs) => {
    const l = listInput(ctx, inputs, 0);
    const item = ctx.cast(input(ctx, inputs, 1, 'tensor'), l.dtype);
    const n = l.shape?.[0];
    const joined = ctx.emit(
      'Concat',
      [ctx.ref(l), ctx.g.unsqueeze(ctx.ref(item), [0])],
      { axis: int(0) },
      {
        dtype: l.dtype,
        shape: l.shape ? [typeof n === 'number' ? n + 1 : null, ...l.shape.slice(1)] : null,
      },
    );
    return [asList(joined)];
  },
  TensorListPopBack: (ctx, _node, inputs) => {
    const l = listInput(ctx, inputs, 0);
    const n = l.shape?.[0];
    const rest = ctx.emit(
      'Slice',
      [ctx.ref(l), ctx.g.int64Const([0]), ctx.g.int64Const([-1]), ctx.g.int64Const([0])],
      {},
      {
        dtype: l.dtype,
        shape: l.shape ? [typeof n === 'number' ? n - 1 : null, ...l.shape.slice(1)] : null,
      },
    );
    const last = ctx.emit('Gather', [ctx.ref(l), ctx.g.int64s(`${ctx.node!.name}/last`, [-1], [])], { axis: int(0) }, { dtype: l.dtype, shape: itemShape(l) });
    return [asList(rest), last];
  },
  TensorListConcat: concatList,
  TensorListConcatV2: concatList,
  TensorListSplit: (ctx, _node, inputs) => {
    const t = ctx.logical(input(ctx, inputs, 0, 'tensor'));
    const lengths = ctx.constNumbers(input(ctx, inputs, 2, 'lengths'), 'lengths');
    const size = lengths[0];
    if (size === undefined || lengths.some((l) => l !== size))
      throw ctx.refuse('a TensorList split into pieces of different lengths (a dense list needs equal ones)');
    const rest = (t.shape ?? []).slice(1);
    const shape = ctx.vector([lengths.length, size, ...ctx.shapeParts(t).slice(1)]);
    return [asList(ctx.emit('Reshape', [ctx.ref(t), shape], {}, { dtype: t.dtype, shape: [lengths.length, size, ...rest] }))];
  },
  TensorListResize: (ctx, _node, inputs) => {
    const l = listInput(ctx, inputs, 0);
    const size = ctx.g.op('Reshape', [ctx.int64(input(ctx, inputs, 1, 'size')), ctx.g.int64Const([1])]);
    const r = l.shape?.length ?? 1;
    const grow = ctx.g.op('Max', [ctx.g.op('Sub', [size, ctx.dimTensor(l, 0)]), ctx.g.int64Const([0])]);
    const pads = ctx.g.op('Concat', [ctx.g.int64Const(new Array<number>(r).fill(0)), grow, ctx.g.int64Const(new Array<number>(r - 1).fill(0))], {
      axis: int(0),
    });
    const padded = ctx.g.op('Pad', [ctx.ref(l), pads], { mode: 'constant' });
    const cut = ctx.emit(
      'Slice',
      [padded, ctx.g.int64Const([0]), size, ctx.g.int64Const([0])],
      {},
      { dtype: l.dtype, shape: l.shape ? [null, ...l.shape.slice(1)] : null },
    );
    return [asList(cut)];
  },
};

/** TensorListConcat: the items joined along their first axis (equal item shapes). */
function concatList(ctx: GraphContext, _node: TfNode, inputs: Value[]): Value[] {
  const l = listInput(ctx, inputs, 0);
  if (!l.shape || l.shape.length < 2) throw ctx.refuse('a TensorList of scalars cannot be concatenated');
  const [n, d] = [l.shape[0], l.shape[1]];
  const merged = typeof n === 'number' && typeof d === 'number' ? n * d : null;
  return [ctx.emit('Reshape', [ctx.ref(l), ctx.vector([-1, ...ctx.shapeParts(l).slice(2)])], {}, { dtype: l.dtype, shape: [merged, ...l.shape.slice(2)] })];
}

/** TensorListScatter(V2): a list holding the tensor's rows at the indices (size max + 1, or num_elements). */
function scatter(v2: boolean): OpConverter {
  return (ctx, node, inputs) => {
    const t = ctx.cast(ctx.logical(input(ctx, inputs, 0, 'tensor')), elementDtype(ctx, node));
    const indices = input(ctx, inputs, 1, 'indices');
    const elem = (t.shape ?? []).slice(1);
    if (!t.shape || elem.some((d) => typeof d !== 'number')) throw ctx.refuse('the items of its tensor must have a known shape');
    const given = v2 ? input(ctx, inputs, 3, 'num_elements') : undefined;
    const maxPlusOne = ctx.g.op('Add', [ctx.g.reduce('ReduceMax', ctx.int64(indices), [0], true), ctx.g.int64Const([1])]);
    let count: Value;
    if (given && isConst(given) && numbers(given)[0]! >= 0) count = given;
    else if (given && !isConst(given)) {
      const g64 = ctx.g.op('Reshape', [ctx.int64(given), ctx.g.int64Const([1])]);
      count = {
        dtype: 'int32',
        shape: [1],
        name: ctx.g.op('Cast', [ctx.g.op('Where', [ctx.g.op('Less', [g64, ctx.g.int64Const([0])]), maxPlusOne, g64])], { to: int(DataType.INT32) }),
      };
    } else count = { dtype: 'int32', shape: [1], name: ctx.g.op('Cast', [maxPlusOne], { to: int(DataType.INT32) }) };
    const zeros = zerosList(ctx, t.dtype, count, elem as number[]);
    const idx = ctx.g.unsqueeze(ctx.int64(indices), [-1]);
    return [asList(ctx.emit('ScatterND', [ctx.ref(zeros), idx, ctx.ref(t)], {}, { dtype: t.dtype, shape: zeros.shape }))];
  };
}
