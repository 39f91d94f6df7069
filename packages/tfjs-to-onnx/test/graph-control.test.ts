import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { convertGraphModel } from '../src/graph/convert-graph.ts';
import { assertSame, attr, checkGraph, feedsFor, FunctionScope, GraphBuilder, printGraphWorst, runOrt, runTfjs } from './helpers/graph.ts';

// TF2 control flow in the function-library form tensorflowjs_converter writes: StatelessIf as ONNX If
// (inlined when the condition is a constant), StatelessWhile as ONNX Loop with a trip count known only
// when the model runs, and the TensorList pattern of tf.map_fn; TF1 control flow (Switch/Merge conds,
// Enter/Exit loop frames) restructured into the same If and Loop.

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});
after(printGraphWorst);

const func = (name: string) => ({ func: { name } });
const types = (l: string[]) => ({ list: { type: l } });
const i32 = (b: GraphBuilder, v: number[], shape = [v.length]): string => b.const(v, shape, 'int32');
const noMasks = (shrink = 0) => ({
  begin_mask: attr.i(0),
  end_mask: attr.i(0),
  ellipsis_mask: attr.i(0),
  new_axis_mask: attr.i(0),
  shrink_axis_mask: attr.i(shrink),
});

test('StatelessIf: ONNX If with both branches taken (a condition computed from the input), inlined for a constant condition', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 3]);
  const twice = b.fn('cond_true_10', [['a', 'DT_FLOAT']], (f) => {
    const m = f.op('Mul', ['a', f.const([2], [])]);
    return [['identity', f.op('Identity', [m]), 'DT_FLOAT']];
  });
  const less = b.fn('cond_false_11', [['a', 'DT_FLOAT']], (f) => {
    const s = f.op('Sub', ['a', f.const([1], [])]);
    const r = f.op('Relu', [s]);
    return [['identity', f.op('Identity', [r]), 'DT_FLOAT']];
  });
  const positive = b.op('Greater', [b.op('Sum', [x, i32(b, [0, 1])], { keep_dims: attr.b(false) }), b.const([0], [])]);
  const ifAttrs = {
    then_branch: func(twice),
    else_branch: func(less),
    Tcond: attr.type('DT_BOOL'),
    Tin: types(['DT_FLOAT']),
    Tout: types(['DT_FLOAT']),
    output_shapes: { list: { shape: [{ dim: [{ size: '-1' }, { size: '3' }] }] } },
  };
  b.output('taken', b.op('StatelessIf', [positive, x], ifAttrs));
  b.output('other', b.op('StatelessIf', [b.op('LogicalNot', [positive]), x], ifAttrs));
  b.output('constant', b.op('If', [b.const([1], [], 'bool'), x], ifAttrs));
  const [c] = await checkGraph('control flow', 'StatelessIf', b, { x: [2, 3] });
  assert.equal(c!.ops.If, 2, `a constant condition inlines its branch: ${JSON.stringify(c!.ops)}`);
});

test('StatelessWhile: ONNX Loop carrying a counter, a bound read from the input and an accumulator', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 3]);
  const cond = b.fn(
    'while_cond_20',
    [
      ['i', 'DT_INT32'],
      ['n', 'DT_INT32'],
      ['acc', 'DT_FLOAT'],
    ],
    (f) => [['less', f.op('Less', ['i', 'n']), 'DT_BOOL']],
  );
  const body = b.fn(
    'while_body_21',
    [
      ['i', 'DT_INT32'],
      ['n', 'DT_INT32'],
      ['acc', 'DT_FLOAT'],
    ],
    (f) => {
      const next = f.op('AddV2', ['i', f.const([1], [], 'int32')]);
      const acc = f.op('AddV2', [f.op('Mul', ['acc', f.const([0.5], [])]), f.op('Cast', ['i'], { DstT: attr.type('DT_FLOAT') })]);
      return [
        ['i', f.op('Identity', [next]), 'DT_INT32'],
        ['n', f.op('Identity', ['n']), 'DT_INT32'],
        ['acc', f.op('Identity', [acc]), 'DT_FLOAT'],
      ];
    },
  );
  const n = b.op('Size', [x], { out_type: attr.type('DT_INT32') });
  const loop = b.op('StatelessWhile', [i32(b, [0], []), n, x], {
    cond: func(cond),
    body: func(body),
    T: types(['DT_INT32', 'DT_INT32', 'DT_FLOAT']),
    output_shapes: { list: { shape: [{}, {}, { dim: [{ size: '-1' }, { size: '3' }] }] } },
    parallel_iterations: attr.i(10),
  });
  b.output('acc', `${loop}:2`).output('steps', `${loop}:0`, 'DT_INT32');
  const [c] = await checkGraph('control flow', 'StatelessWhile', b, { x: [2, 3] });
  assert.equal(c!.ops.Loop, 1);
});

test('the tf.map_fn pattern: TensorListFromTensor, TensorListReserve, GetItem and SetItem in a While, TensorListStack', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 3]);
  const batch = b.op('StridedSlice', [b.op('Shape', [x], { out_type: attr.type('DT_INT32') }), i32(b, [0]), i32(b, [1]), i32(b, [1])], noMasks(1));
  const listAttrs = { element_dtype: attr.type('DT_FLOAT'), shape_type: attr.type('DT_INT32') };
  const source = b.op('TensorListFromTensor', [x, i32(b, [3])], listAttrs);
  const target = b.op('TensorListReserve', [i32(b, [3]), batch], listAttrs);
  const args: [string, string][] = [
    ['i', 'DT_INT32'],
    ['n', 'DT_INT32'],
    ['source', 'DT_VARIANT'],
    ['target', 'DT_VARIANT'],
  ];
  const cond = b.fn('map_while_cond_30', args, (f) => [['less', f.op('Less', ['i', 'n']), 'DT_BOOL']]);
  const body = b.fn('map_while_body_31', args, (f) => {
    const item = f.op('TensorListGetItem', ['source', 'i', f.const([3], [1], 'int32')], { element_dtype: attr.type('DT_FLOAT') });
    const y = f.op('AddV2', [f.op('Mul', [item, item]), f.op('Cast', ['i'], { DstT: attr.type('DT_FLOAT') })]);
    const set = f.op('TensorListSetItem', ['target', 'i', y], { element_dtype: attr.type('DT_FLOAT') });
    return [
      ['i', f.op('AddV2', ['i', f.const([1], [], 'int32')]), 'DT_INT32'],
      ['n', f.op('Identity', ['n']), 'DT_INT32'],
      ['source', f.op('Identity', ['source']), 'DT_VARIANT'],
      ['target', FunctionScope.out(set, 'output_handle'), 'DT_VARIANT'],
    ];
  });
  const loop = b.op('While', [i32(b, [0], []), batch, source, target], {
    cond: func(cond),
    body: func(body),
    T: types(['DT_INT32', 'DT_INT32', 'DT_VARIANT', 'DT_VARIANT']),
    output_shapes: { list: { shape: [{}, {}, {}, {}] } },
  });
  b.output('mapped', b.op('TensorListStack', [`${loop}:3`, i32(b, [3])], { element_dtype: attr.type('DT_FLOAT'), num_elements: attr.i(-1) }));
  b.output('length', b.op('TensorListLength', [`${loop}:3`]), 'DT_INT32');
  // tfjs 4.22 cannot run this graph: the body's executor disposes the items TensorListSetItem stored, and
  // TensorListStack then reads disposed tensors (with or without KEEP_INTERMEDIATE_TENSORS). So the
  // expected values are TensorFlow's, computed here: row r becomes x[r]^2 + r.
  for (const opset of [13, 26]) {
    const c = await convertGraphModel(await b.save(), { opset });
    const feeds = feedsFor(c, { x: [4, 3] });
    const out = await runOrt(c.onnx, feeds);
    const xs = feeds.x!.data as Float32Array;
    assert.deepEqual(out.mapped!.shape, [4, 3]);
    (out.mapped!.data as Float32Array).forEach((v, k) => {
      const want = xs[k]! * xs[k]! + Math.floor(k / 3);
      assert.ok(Math.abs(v - want) <= 1e-6 * Math.max(1, Math.abs(want)), `mapped[${k}] = ${v}, TensorFlow ${want}`);
    });
    assert.deepEqual(Array.from(out.length!.data as Int32Array), [4]);
    assert.equal(c.ops.Loop, 1);
  }
});

/** tf.compat.v1.cond as TensorFlow writes it: pred_id, a pivot per branch, one Switch per outer tensor, Merge of the two results. */
function tf1Cond(
  b: GraphBuilder,
  scope: string,
  pred: string,
  inputs: string[],
  then: (pivot: string, x: string[]) => string,
  otherwise: (pivot: string, x: string[]) => string,
): string {
  const sw = b.op('Switch', [pred, pred], { T: attr.type('DT_BOOL') }, `${scope}/Switch`);
  const pivotT = b.op('Identity', [`${sw}:1`], {}, `${scope}/switch_t`);
  const pivotF = b.op('Identity', [`${sw}:0`], {}, `${scope}/switch_f`);
  const predId = b.op('Identity', [pred], {}, `${scope}/pred_id`);
  const sws = inputs.map((x, k) => b.op('Switch', [x, predId], {}, `${scope}/Switch_${k + 1}`));
  const t = then(
    pivotT,
    sws.map((w) => `${w}:1`),
  );
  const f = otherwise(
    pivotF,
    sws.map((w) => `${w}:0`),
  );
  return b.op('Merge', [f, t], { N: attr.i(2) }, `${scope}/Merge`);
}

/** A Const inside a TF1 branch or loop body: a control input on the pivot puts it there. */
function pivotConst(
  b: GraphBuilder,
  pivot: string,
  values: number[],
  dtype: 'float32' | 'int32' = 'float32',
  shape = values.length === 1 ? [] : [values.length],
): string {
  const name = b.const(values, shape, dtype);
  const node = b.nodes.find((n) => n.name === name)!;
  node.input = [`^${pivot}`];
  return name;
}

test('TF1 conds (Switch/Merge, as tf.compat.v1.cond and lowered TF2 Ifs leave them): ONNX If, branches of different shapes, nested', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 3]);
  const positive = b.op('Greater', [b.op('Sum', [x, i32(b, [0, 1])], { keep_dims: attr.b(false) }), b.const([0], [])]);
  // Then: x tiled to 6 columns; else: relu(x - 1): the branches' shapes differ, so only If can merge them.
  const widened = tf1Cond(
    b,
    'cond',
    positive,
    [x],
    (pivot, [xt]) => b.op('Tile', [xt!, pivotConst(b, pivot, [1, 2], 'int32')]),
    (pivot, [xf]) => b.op('Relu', [b.op('Sub', [xf!, pivotConst(b, pivot, [1])])]),
  );
  b.output('widened', widened);
  // A cond nested in the else branch of another, on a second predicate.
  const big = b.op('Greater', [b.op('Max', [x, i32(b, [0, 1])], { keep_dims: attr.b(false) }), b.const([1], [])]);
  const nested = tf1Cond(
    b,
    'outer',
    positive,
    [x, big],
    (pivot, [xt]) => b.op('Mul', [xt!, pivotConst(b, pivot, [2])]),
    (_pivot, [xf, bigf]) =>
      tf1Cond(
        b,
        'outer/inner',
        bigf!,
        [xf!],
        (p, [y]) => b.op('Neg', [b.op('AddV2', [y!, pivotConst(b, p, [3])])]),
        (_p, [y]) => b.op('Exp', [y!]),
      ),
  );
  b.output('nested', nested);
  for (const [label, sizes] of [
    ['positive', { x: [2, 3] }],
    ['other branch', { x: [1, 3] }],
  ] as [string, Record<string, number[]>][]) {
    let taken = 0;
    for (let seed = 0; seed < 6; seed++) {
      const path = await b.save();
      for (const opset of [13, 26]) {
        const c = await convertGraphModel(path, { opset });
        // The two outer conds share their predicate and context, so they are one If of two outputs (the nested one is in its else branch).
        assert.equal(c.ops.If, 1, `one If at the top: ${JSON.stringify(c.ops)}`);
        assert.ok(
          c.loadNotes.some((n) => /TF1 control flow: 2 conditionals restructured/.test(n)),
          c.loadNotes.join('; '),
        );
        const feeds = feedsFor(c, sizes, seed);
        const reference = await runTfjs(path, feeds, ['widened', 'nested']);
        const actual = await runOrt(c.onnx, feeds);
        assertSame('control flow', `TF1 cond, ${label} (opset ${opset}, seed ${seed})`, reference, actual);
        taken += reference.widened!.shape[1] === 6 ? 1 : 0;
      }
    }
    assert.ok(taken > 0 && taken < 12, `both branches taken over the seeds (${label}: ${taken} of 12)`);
  }
});

test('TF1 while loops (Enter/Merge/Switch/LoopCond/NextIteration/Exit frames): ONNX Loop, invariants, a cond in the body, a TensorList of unknown element shape', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 3]);
  const steps = b.input('steps', [], 'DT_INT32');
  const frame = { frame_name: attr.s('while/while_context'), is_constant: attr.b(false), parallel_iterations: attr.i(10) };
  const invariant = { ...frame, is_constant: attr.b(true) };
  const enterI = b.op('Enter', [i32(b, [0], [])], frame, 'while/Enter');
  const enterAcc = b.op('Enter', [x], frame, 'while/Enter_1');
  // The lowered tf.map_fn pattern: a list reserved with element shape -1, items set in the body.
  const list = b.op('TensorListReserve', [i32(b, [-1], []), steps], { element_dtype: attr.type('DT_FLOAT'), shape_type: attr.type('DT_INT32') }, 'while/list');
  const enterList = b.op('Enter', [list], frame, 'while/Enter_2');
  const enterN = b.op('Enter', [steps], invariant, 'while/Enter_3');
  const enterW = b.op('Enter', [b.const([0.5, -1, 2], [3])], invariant, 'while/Enter_4');
  const mergeI = b.op('Merge', [enterI, 'while/NextIteration'], {}, 'while/Merge');
  const mergeAcc = b.op('Merge', [enterAcc, 'while/NextIteration_1'], {}, 'while/Merge_1');
  const mergeList = b.op('Merge', [enterList, 'while/NextIteration_2'], {}, 'while/Merge_2');
  const loopCond = b.op('LoopCond', [b.op('Less', [mergeI, enterN], {}, 'while/Less')], {}, 'while/LoopCond');
  const swI = b.op('Switch', [mergeI, loopCond], {}, 'while/Switch');
  const swAcc = b.op('Switch', [mergeAcc, loopCond], {}, 'while/Switch_1');
  const swList = b.op('Switch', [mergeList, loopCond], {}, 'while/Switch_2');
  const i = b.op('Identity', [`${swI}:1`], {}, 'while/Identity');
  const acc = b.op('Identity', [`${swAcc}:1`], {}, 'while/Identity_1');
  const lst = b.op('Identity', [`${swList}:1`], {}, 'while/Identity_2');
  // Body: acc * w on even steps, acc + 1 on odd ones (a cond inside the frame); the step's row sum goes to the list.
  const even = b.op('Equal', [b.op('FloorMod', [i, pivotConst(b, i, [2], 'int32')]), pivotConst(b, i, [0], 'int32')], {}, 'while/even');
  const nextAcc = tf1Cond(
    b,
    'while/cond',
    even,
    [acc, enterW],
    (_p, [a, w]) => b.op('Mul', [a!, w!]),
    (p, [a]) => b.op('AddV2', [a!, pivotConst(b, p, [1])]),
  );
  const rowSums = b.op('Sum', [nextAcc, pivotConst(b, i, [1], 'int32')], { keep_dims: attr.b(false) }, 'while/rows');
  const item = b.op('Reshape', [b.op('Sum', [rowSums, pivotConst(b, i, [0], 'int32')], { keep_dims: attr.b(false) }), pivotConst(b, i, [1], 'int32', [1])]);
  const set = b.op('TensorListSetItem', [lst, i, item], { element_dtype: attr.type('DT_FLOAT') }, 'while/set');
  b.op('NextIteration', [b.op('AddV2', [i, pivotConst(b, i, [1], 'int32')], {}, 'while/add')], {}, 'while/NextIteration');
  b.op('NextIteration', [nextAcc], {}, 'while/NextIteration_1');
  b.op('NextIteration', [set], {}, 'while/NextIteration_2');
  const exitI = b.op('Exit', [`${swI}:0`], {}, 'while/Exit');
  const exitAcc = b.op('Exit', [`${swAcc}:0`], {}, 'while/Exit_1');
  const exitList = b.op('Exit', [`${swList}:0`], {}, 'while/Exit_2');
  b.output('acc', exitAcc).output('steps_taken', exitI, 'DT_INT32');
  b.output('sums', b.op('TensorListStack', [exitList, i32(b, [1])], { element_dtype: attr.type('DT_FLOAT'), num_elements: attr.i(-1) }));
  const path = await b.save();
  for (const opset of [13, 26]) {
    const c = await convertGraphModel(path, { opset });
    assert.equal(c.ops.Loop, 1, JSON.stringify(c.ops));
    assert.ok(
      c.loadNotes.some((n) => /1 while loop and 1 conditional restructured/.test(n)),
      c.loadNotes.join('; '),
    );
    for (const n of [0, 1, 5]) {
      const feeds = feedsFor(c, { x: [2, 3] });
      feeds.steps = { dtype: 'int32', shape: [], data: Int32Array.from([n]) };
      // tfjs cannot stack an empty list (tf.stack of no tensors), so with 0 steps only the other outputs are compared.
      const names = n ? ['acc', 'steps_taken', 'sums'] : ['acc', 'steps_taken'];
      const reference = await runTfjs(path, feeds, names);
      const actual = await runOrt(c.onnx, feeds);
      if (!n) assert.deepEqual(actual.sums!.shape, [0, 1]);
      assertSame('control flow', `TF1 while, ${n} steps (opset ${opset})`, reference, Object.fromEntries(names.map((k) => [k, actual[k]!])));
      assert.deepEqual(Array.from(actual.steps_taken!.data as Int32Array), [n]);
    }
  }
});

test('TF1 structures TensorFlow does not build, and a function missing from the library, are refused by name', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 3]);
  const sw = b.op('Switch', [x, b.const([1], [], 'bool')], {}, 'cond/Switch');
  b.output('branch', `${sw}:1`);
  await assert.rejects(
    convertGraphModel(await b.save(), {}),
    /op Switch \(node 'cond\/Switch'\): TF1 control flow: has outputs that reach the model outputs without a Merge/,
  );
  const m = new GraphBuilder();
  const y = m.input('x', [-1, 3]);
  const a = m.op('Switch', [y, m.const([1], [], 'bool')], {}, 'a/Switch');
  const c = m.op('Switch', [y, m.const([0], [], 'bool')], {}, 'c/Switch');
  m.output('mixed', m.op('Merge', [`${a}:0`, `${c}:1`], {}, 'mixed/Merge'));
  await assert.rejects(
    convertGraphModel(await m.save(), {}),
    /op Merge \(node 'mixed\/Merge'\): TF1 control flow: merges values that are not the two branches of one Switch predicate/,
  );
  const n = new GraphBuilder();
  const z = n.input('x', [-1, 3]);
  n.output('missing', n.op('StatelessIf', [n.const([1], [], 'bool'), z], { then_branch: func('nowhere'), else_branch: func('nowhere') }, 'if_missing'));
  await assert.rejects(
    convertGraphModel(await n.save(), {}),
    /op StatelessIf \(node 'if_missing'\): its then_branch function 'nowhere' is not in the graph's function library/,
  );
});

test('TF1 TensorArrays (the tf.compat.v1 map_fn): scatter, read and write in a while frame, gather; item shapes known only when the model runs', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, -1]);
  const n = b.op('StridedSlice', [b.op('Shape', [x], { out_type: attr.type('DT_INT32') }), i32(b, [0]), i32(b, [1]), i32(b, [1])], noMasks(1), 'map/n');
  const unknown = { dtype: attr.type('DT_FLOAT'), element_shape: attr.shape(null), dynamic_size: attr.b(false), identical_element_shapes: attr.b(true) };
  const taIn = b.op('TensorArrayV3', [n], unknown, 'map/TensorArray');
  const taOut = b.op('TensorArrayV3', [n], unknown, 'map/TensorArray_1');
  const rows = b.op('Range', [i32(b, [0], []), n, i32(b, [1], [])], { Tidx: attr.type('DT_INT32') }, 'map/range');
  const scattered = b.op('TensorArrayScatterV3', [taIn, rows, x, `${taIn}:1`], { T: attr.type('DT_FLOAT') }, 'map/scatter');
  const frame = { frame_name: attr.s('map/while/while_context'), is_constant: attr.b(false), parallel_iterations: attr.i(10) };
  const invariant = { ...frame, is_constant: attr.b(true) };
  const enterI = b.op('Enter', [i32(b, [0], [])], frame, 'map/while/Enter');
  const enterFlow = b.op('Enter', [`${taOut}:1`], frame, 'map/while/Enter_1');
  const enterN = b.op('Enter', [n], invariant, 'map/while/Less/Enter');
  const enterIn = b.op('Enter', [taIn], invariant, 'map/while/TensorArrayReadV3/Enter');
  const enterScattered = b.op('Enter', [scattered], invariant, 'map/while/TensorArrayReadV3/Enter_1');
  const enterOut = b.op('Enter', [taOut], invariant, 'map/while/TensorArrayWrite/Enter');
  const mergeI = b.op('Merge', [enterI, 'map/while/NextIteration'], {}, 'map/while/Merge');
  const mergeFlow = b.op('Merge', [enterFlow, 'map/while/NextIteration_1'], {}, 'map/while/Merge_1');
  const loopCond = b.op('LoopCond', [b.op('Less', [mergeI, enterN], {}, 'map/while/Less')], {}, 'map/while/LoopCond');
  const swI = b.op('Switch', [mergeI, loopCond], {}, 'map/while/Switch');
  const swFlow = b.op('Switch', [mergeFlow, loopCond], {}, 'map/while/Switch_1');
  const i = b.op('Identity', [`${swI}:1`], {}, 'map/while/Identity');
  const flow = b.op('Identity', [`${swFlow}:1`], {}, 'map/while/Identity_1');
  const item = b.op('TensorArrayReadV3', [enterIn, i, enterScattered], { dtype: attr.type('DT_FLOAT') }, 'map/while/TensorArrayReadV3');
  const y = b.op('AddV2', [b.op('Mul', [item, item]), b.op('Cast', [i], { DstT: attr.type('DT_FLOAT') })], {}, 'map/while/y');
  const written = b.op('TensorArrayWriteV3', [enterOut, i, y, flow], { T: attr.type('DT_FLOAT') }, 'map/while/TensorArrayWrite');
  b.op('NextIteration', [b.op('AddV2', [i, pivotConst(b, i, [1], 'int32')], {}, 'map/while/add')], {}, 'map/while/NextIteration');
  b.op('NextIteration', [written], {}, 'map/while/NextIteration_1');
  const exitFlow = b.op('Exit', [`${swFlow}:0`], {}, 'map/while/Exit_1');
  const size = b.op('TensorArraySizeV3', [taOut, exitFlow], {}, 'map/size');
  const all = b.op('Range', [i32(b, [0], []), size, i32(b, [1], [])], { Tidx: attr.type('DT_INT32') }, 'map/range_1');
  b.output('mapped', b.op('TensorArrayGatherV3', [taOut, all, exitFlow], { dtype: attr.type('DT_FLOAT'), element_shape: attr.shape(null) }, 'map/gather'));
  b.output('size', size, 'DT_INT32');
  const [c] = await checkGraph('control flow', 'TF1 TensorArray map', b, { x: [3, 5] });
  assert.equal(c!.ops.Loop, 1, JSON.stringify(c!.ops));
  assert.deepEqual(c!.outputs[0]!.shape.length, 2);
});
