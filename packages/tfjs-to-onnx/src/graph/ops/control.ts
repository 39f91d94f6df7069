import { DataType, int } from '../../graph-builder.ts';
import { type GraphContext, onnxType } from '../context.ts';
import type { TfNode } from '../graph-def.ts';
import { type Dim, type Dtype, isConst, numbers, type PendingList, type Value } from '../value.ts';
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
  // Loop invariants (variables the body returns unchanged) are read from the outer scope inside the
  // body, so constants stay known there (shapes, axes); ONNX Loop still carries them through.
  const invariant = r.passedThrough(bodyName);
  const carried: Value[] = inputs.map((a, i) => {
    if (a.dtype === 'string') throw ctx.refuse('a string loop variable');
    const name = body.g.name(`loop_var${i}`);
    body.g.input({ name, dataType: onnxType(a.dtype) });
    if (invariant[i]) return a;
    return { dtype: a.dtype, shape: shapes[i]!, name, ...(a.list ? { list: true } : {}), ...(a.pending ? { pending: a.pending } : {}) };
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
  // Lists reserved with an unknown element shape get their zeros now that the body showed their items.
  const initial = inputs.map((a) => (a.pending && a.name === undefined ? materialise(ctx, a, null, 'a loop variable') : a));
  const loopInputs = ['', conditionScalar(ctx, first), ...initial.map((a) => ctx.ref(a))];
  const results = ctx.emitN(
    'Loop',
    loopInputs,
    { body: { graph: body.g } },
    initial.map((a, i) => {
      const p = inputs[i]!.pending;
      // A list that grows to its items' shape in the first iteration: only its length is known.
      const shape = !p ? shapes[i]! : p.learned ? a.shape : a.shape ? [a.shape[0]!, ...a.shape.slice(1).map(() => null)] : null;
      return { dtype: a.dtype, shape, ...(a.list ? { list: true } : {}) };
    }),
  );
  return results.map((v, i) => (invariant[i] ? inputs[i]! : v));
};

/** A TensorList's element dtype (element_dtype). */
const elementDtype = (ctx: GraphContext, node: TfNode): Dtype => attrDtype(ctx, node.dtypeRaw('element_dtype'), 'element_dtype');

/** An element shape input as known sizes, or null (-1 or a -1 size: unknown). */
function knownElementShape(v: Value | undefined): number[] | null {
  const dims = v && isConst(v) ? numbers(v) : null;
  if (!dims || (v!.shape && v!.shape.length === 0) || dims.some((d) => d < 0)) return null;
  return dims;
}

const unknownElementShape = (ctx: GraphContext, what: string) =>
  ctx.refuse(
    `the element shape of its TensorList must be known when converting (${what}: from its element_shape or from an item written to it); fix the model's input shapes with --input-shape`,
  );

/**
 * A list made by TensorListReserve or EmptyTensorList: dense zeros when the element shape is known,
 * else a pending list whose zeros are made once the shape is known (an item written to it, or the
 * element_shape of an op reading it, as TensorFlow fills in an unknown element shape).
 */
function newList(ctx: GraphContext, dtype: Dtype, count: Value | number, shape: Value): Value {
  const elem = knownElementShape(shape);
  if (elem) return zerosList(ctx, dtype, count, elem);
  const pending: PendingList = { dtype, count };
  return { dtype, shape: null, list: true, pending };
}

/**
 * A pending list's zeros, its item shape from `hint`, from what a loop body wrote to it, or read when the
 * model runs from `items` (a tensor whose shape after its first `skip` axes is the item shape).
 */
function materialise(ctx: GraphContext, l: Value, hint: Dim[] | null | undefined, what: string, items?: { value: Value; skip: number }): Value {
  const p = l.pending;
  if (!p || l.name !== undefined) return l;
  const shape = hint?.every((d) => typeof d === 'number' && d >= 0) ? (hint as number[]) : p.learned;
  if (shape) return zerosList(ctx, p.dtype, p.count, shape);
  if (!items?.value.shape && p.learnedRank !== undefined) return zerosList(ctx, p.dtype, p.count, new Array<number>(p.learnedRank).fill(1));
  if (!items?.value.shape) throw unknownElementShape(ctx, what);
  const n = p.count;
  const count = typeof n === 'number' ? ctx.g.int64Const([n]) : ctx.g.op('Reshape', [ctx.int64(n), ctx.g.int64Const([1])]);
  const rest = ctx.shapeParts(ctx.logical(items.value)).slice(items.skip);
  const dims = ctx.g.op('Concat', [count, ctx.vector(rest)], { axis: int(0) }, 'list_shape');
  const known = (items.value.shape ?? []).slice(items.skip);
  return {
    ...ctx.emit('Expand', [ctx.ref(ctx.scalar(0, p.dtype)), dims], {}, { dtype: p.dtype, shape: [typeof n === 'number' ? n : null, ...known] }),
    list: true,
  };
}

/** Records the item shape (or only its rank) a write into a pending list (a loop variable) shows. */
function learn(l: Value, item: Value): void {
  const p = l.pending;
  if (!p || p.learned || !item.shape) return;
  if (item.shape.every((d) => typeof d === 'number')) p.learned = item.shape as number[];
  else p.learnedRank ??= item.shape.length;
}

/**
 * A loop-carried list whose item shape is only known when the model runs: it enters the loop as
 * [count, 1, ..., 1] zeros and is broadcast to [count, ...item shape] by each write (a no-op once grown),
 * so it takes the items' shape in the first iteration.
 */
function grown(ctx: GraphContext, l: Value, item: Value): Value {
  const p = l.pending;
  if (!p || l.name === undefined || p.learned || p.learnedRank === undefined) return l;
  const dims = ctx.g.op('Concat', [ctx.dimTensor(l, 0), ctx.shapeTensor(ctx.logical(item))], { axis: int(0) }, 'list_shape');
  return { ...ctx.emit('Expand', [ctx.ref(l), dims], {}, { dtype: l.dtype, shape: null }), list: true };
}

/** A list of `count` zero items of a shape. */
function zerosList(ctx: GraphContext, dtype: Dtype, count: Value | number, elem: number[]): Value {
  const n =
    typeof count === 'number' ? count : isConst(count) ? numbers(count)[0]! : { tensor: ctx.g.op('Reshape', [ctx.int64(count), ctx.g.int64Const([1])]) };
  const shape = ctx.vector([n, ...elem]);
  return { ...ctx.emit('Expand', [ctx.ref(ctx.scalar(0, dtype)), shape], {}, { dtype, shape: [typeof n === 'number' ? n : null, ...elem] }), list: true };
}

/** A list input (a pending list made with the item shape `hint`, or that of `items`), or a refusal. */
function listInput(ctx: GraphContext, inputs: Value[], i: number, hint?: Dim[] | null, items?: { value: Value; skip: number }): Value {
  const l = input(ctx, inputs, i, 'input_handle');
  if (!l.list) throw ctx.refuse('its list input is not a TensorList this converter made');
  return ctx.logical(materialise(ctx, l, hint, ctx.node?.op ?? 'TensorList', items));
}

/** The element_shape input of a list op as a hint for a pending list. */
const shapeHint = (inputs: Value[], i: number): number[] | null => knownElementShape(inputs[i]);

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
    newList(ctx, elementDtype(ctx, node), input(ctx, inputs, 1, 'num_elements'), input(ctx, inputs, 0, 'element_shape')),
  ],
  EmptyTensorList: (ctx, node, inputs) => [newList(ctx, elementDtype(ctx, node), 0, input(ctx, inputs, 0, 'element_shape'))],
  TensorListFromTensor: (ctx, _node, inputs) => [asList(ctx.logical(input(ctx, inputs, 0, 'tensor')))],
  TensorListStack: (ctx, _node, inputs) => [asTensor(listInput(ctx, inputs, 0, shapeHint(inputs, 1)))],
  TensorListLength: (ctx, _node, inputs) => {
    const pending = inputs[0]?.pending;
    if (pending && inputs[0]!.name === undefined) {
      const n = pending.count;
      return [typeof n === 'number' ? ctx.constant('int32', [n], []) : ctx.cast(n, 'int32')];
    }
    const l = listInput(ctx, inputs, 0);
    const n = l.shape?.[0];
    if (typeof n === 'number') return [ctx.constant('int32', [n], [])];
    const len = ctx.g.op('Reshape', [ctx.dimTensor(l, 0), ctx.g.int64Const([])]);
    return [ctx.emit('Cast', [len], { to: int(DataType.INT32) }, { dtype: 'int32', shape: [] })];
  },
  TensorListGetItem: (ctx, _node, inputs) => {
    const l = listInput(ctx, inputs, 0, shapeHint(inputs, 2));
    return [ctx.emit('Gather', [ctx.ref(l), index64(ctx, input(ctx, inputs, 1, 'index'), [])], { axis: int(0) }, { dtype: l.dtype, shape: itemShape(l) })];
  },
  TensorListSetItem: (ctx, _node, inputs) => {
    const raw = input(ctx, inputs, 2, 'item');
    learn(input(ctx, inputs, 0, 'input_handle'), raw);
    const l = grown(ctx, listInput(ctx, inputs, 0, raw.shape, { value: raw, skip: 0 }), raw);
    const item = ctx.cast(raw, l.dtype);
    const update = ctx.g.unsqueeze(ctx.ref(item), [0]);
    return [
      {
        ...ctx.emit('ScatterND', [ctx.ref(l), index64(ctx, input(ctx, inputs, 1, 'index'), [1, 1]), update], {}, { dtype: l.dtype, shape: l.shape }),
        list: true,
      },
    ];
  },
  TensorListGather: (ctx, _node, inputs) => {
    const l = listInput(ctx, inputs, 0, shapeHint(inputs, 2));
    const indices = input(ctx, inputs, 1, 'indices');
    return [
      ctx.emit('Gather', [ctx.ref(l), ctx.int64(indices)], { axis: int(0) }, { dtype: l.dtype, shape: [indices.shape?.[0] ?? null, ...(itemShape(l) ?? [])] }),
    ];
  },
  TensorListScatter: scatter(false),
  TensorListScatterV2: scatter(true),
  TensorListPushBack: (ctx, _node, inputs) => {
    const raw = input(ctx, inputs, 1, 'tensor');
    learn(input(ctx, inputs, 0, 'input_handle'), raw);
    const l = listInput(ctx, inputs, 0, raw.shape);
    const item = ctx.cast(raw, l.dtype);
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
    const l = listInput(ctx, inputs, 0, shapeHint(inputs, 1));
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

/**
 * TF1 TensorArrays (tf.compat.v1 TensorArray, the tf.map_fn of TF1 graphs) as dense lists: an array's
 * handle only names it, its flow tensor carries it (each write returns a new flow the next op reads), so
 * the flow is the list here and the handle a placeholder nothing reads. Element shapes unknown where
 * the array is made come from the first item written to it, or from the element_shape of a gather.
 */
const flowInput = (ctx: GraphContext, inputs: Value[], i: number, hint?: Dim[] | null, items?: { value: Value; skip: number }): Value =>
  listInput(ctx, inputs, i, hint, items);

/** The element_shape attribute as a hint (unknown rank or any unknown size: none). */
function shapeAttrHint(node: TfNode, name: string): number[] | null {
  const s = node.shape(name);
  return s?.every((d) => d >= 0) ? s : null;
}

export const TENSOR_ARRAY_OPS: Record<string, OpConverter> = {
  TensorArrayV3: (ctx, node, inputs) => {
    const dtype = attrDtype(ctx, node.dtypeRaw('dtype'), 'dtype');
    const elem = shapeAttrHint(node, 'element_shape');
    const size = input(ctx, inputs, 0, 'size');
    const flow = elem ? zerosList(ctx, dtype, size, elem) : { dtype, shape: null, list: true, pending: { dtype, count: size } };
    return [ctx.constant('int32', [0], []), flow];
  },
  TensorArrayWriteV3: (ctx, _node, inputs) => {
    const raw = input(ctx, inputs, 2, 'value');
    learn(input(ctx, inputs, 3, 'flow_in'), raw);
    const l = grown(ctx, flowInput(ctx, inputs, 3, raw.shape, { value: raw, skip: 0 }), raw);
    const update = ctx.g.unsqueeze(ctx.ref(ctx.cast(raw, l.dtype)), [0]);
    return [
      {
        ...ctx.emit('ScatterND', [ctx.ref(l), index64(ctx, input(ctx, inputs, 1, 'index'), [1, 1]), update], {}, { dtype: l.dtype, shape: l.shape }),
        list: true,
      },
    ];
  },
  TensorArrayReadV3: (ctx, _node, inputs) => {
    const l = flowInput(ctx, inputs, 2);
    return [ctx.emit('Gather', [ctx.ref(l), index64(ctx, input(ctx, inputs, 1, 'index'), [])], { axis: int(0) }, { dtype: l.dtype, shape: itemShape(l) })];
  },
  TensorArrayGatherV3: (ctx, node, inputs) => {
    const hint = shapeAttrHint(node, 'element_shape');
    const l = flowInput(ctx, inputs, 2, hint);
    const indices = input(ctx, inputs, 1, 'indices');
    const items = itemShape(l)?.map((d, k) => d ?? hint?.[k] ?? null) ?? hint;
    return [
      ctx.emit('Gather', [ctx.ref(l), ctx.int64(indices)], { axis: int(0) }, { dtype: l.dtype, shape: items ? [indices.shape?.[0] ?? null, ...items] : null }),
    ];
  },
  TensorArrayScatterV3: (ctx, _node, inputs) => {
    const value = ctx.logical(input(ctx, inputs, 2, 'value'));
    const l = flowInput(ctx, inputs, 3, value.shape ? value.shape.slice(1) : null, { value, skip: 1 });
    const idx = ctx.g.unsqueeze(ctx.int64(input(ctx, inputs, 1, 'indices')), [-1]);
    return [asList(ctx.emit('ScatterND', [ctx.ref(l), idx, ctx.ref(ctx.cast(value, l.dtype))], {}, { dtype: l.dtype, shape: l.shape }))];
  },
  TensorArraySizeV3: (ctx, _node, inputs) => CONTROL_OPS.TensorListLength!(ctx, _node, [inputs[1]!]),
  TensorArrayConcatV3: (ctx, node, inputs) => concatList(ctx, node, [input(ctx, inputs, 1, 'flow_in')]),
  TensorArraySplitV3: (ctx, node, inputs) =>
    CONTROL_OPS.TensorListSplit!(ctx, node, [input(ctx, inputs, 1, 'value'), ctx.constant('int32', [-1], []), input(ctx, inputs, 2, 'lengths')]),
  TensorArrayCloseV3: () => [],
};

/** TensorListConcat: the items joined along their first axis (equal item shapes). */
function concatList(ctx: GraphContext, _node: TfNode, inputs: Value[]): Value[] {
  const l = listInput(ctx, inputs, 0, shapeHint(inputs, 1));
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
