import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { convertGraphModel } from '../src/graph/convert-graph.ts';
import { attr, checkGraph, feedsFor, FunctionScope, GraphBuilder, printGraphWorst, runOrt } from './helpers/graph.ts';

// TF2 control flow in the function-library form tensorflowjs_converter writes: StatelessIf as ONNX If
// (inlined when the condition is a constant), StatelessWhile as ONNX Loop with a trip count known only
// when the model runs, and the TensorList pattern of tf.map_fn; TF1 control flow refused by name.

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

test('TF1 control flow and a function missing from the library are refused by name', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 3]);
  const sw = b.op('Switch', [x, b.const([1], [], 'bool')], {}, 'cond/Switch');
  b.output('merged', b.op('Merge', [`${sw}:0`, `${sw}:1`], {}, 'cond/Merge'));
  b.output('missing', b.op('StatelessIf', [b.const([1], [], 'bool'), x], { then_branch: func('nowhere'), else_branch: func('nowhere') }, 'if_missing'));
  await assert.rejects(
    convertGraphModel(await b.save(), {}),
    /op Merge \(node 'cond\/Merge'\): TF1 control flow .*; op StatelessIf \(node 'if_missing'\): its then_branch function 'nowhere' is not in the graph's function library; op Switch \(node 'cond\/Switch'\): TF1 control flow/,
  );
});
