import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { convertGraphModel } from '../src/graph/convert-graph.ts';
import { attr, checkGraph, GraphBuilder, printGraphWorst } from './helpers/graph.ts';

// Shape ops: shapes computed when the model runs (an unknown batch), reshapes with -1, StridedSlice with
// every mask, joining, splitting, padding, gathering, scattering and creating tensors.

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});
after(printGraphWorst);

const i32 = (b: GraphBuilder, v: number[], shape = [v.length]): string => b.const(v, shape, 'int32');

/** StridedSlice attributes. */
const masks = (m: { begin?: number; end?: number; ellipsis?: number; newAxis?: number; shrink?: number } = {}) => ({
  begin_mask: attr.i(m.begin ?? 0),
  end_mask: attr.i(m.end ?? 0),
  ellipsis_mask: attr.i(m.ellipsis ?? 0),
  new_axis_mask: attr.i(m.newAxis ?? 0),
  shrink_axis_mask: attr.i(m.shrink ?? 0),
  Index: attr.type('DT_INT32'),
  T: attr.type('DT_FLOAT'),
});

test('StridedSlice with every mask, negative strides, clamping and computed bounds', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 5, 6]);
  const ss = (begin: number[], end: number[], strides: number[], m = {}): string =>
    b.op('StridedSlice', [x, i32(b, begin), i32(b, end), i32(b, strides)], masks(m));
  b.output('range', ss([0, 1, 0], [0, 4, 6], [1, 1, 2], { begin: 1, end: 1 }));
  b.output('ellipsis_shrink', ss([0, 2], [0, 3], [1, 1], { ellipsis: 1, shrink: 2 }));
  b.output('new_axis', ss([0, 0, 2], [0, 0, 100], [1, 1, 1], { begin: 1, end: 1, newAxis: 2 }));
  b.output('reversed', ss([0, 0], [0, 0], [1, -1], { begin: 3, end: 3 }));
  b.output('negative_shrink', ss([0, -1], [0, 0], [1, 1], { begin: 1, end: 1, shrink: 2 }));
  b.output('negative_stride', ss([0, 4, 5], [0, 0, 0], [1, -2, -2], { begin: 1, end: 1 }));
  b.output('clamped', ss([0, -10, 3], [0, 50, 100], [1, 1, 1], { begin: 1, end: 1 }));
  b.output('implicit_tail', ss([1], [2], [1]));
  // (An end below the begin gives TensorFlow an empty slice; tfjs' stridedSlice throws, so it is not compared.)
  b.output('empty', ss([0, 3], [0, 3], [1, 1], { begin: 1, end: 1 }));
  b.output('ellipsis_middle', ss([1, 0, 1], [2, 0, 3], [1, 1, 1], { ellipsis: 2, shrink: 1 }));
  // Bounds computed from the input's shape: x[:, n - 3 : n - 1] with n = shape[1].
  const n = b.op('StridedSlice', [b.op('Shape', [x], { out_type: attr.type('DT_INT32') }), i32(b, [1]), i32(b, [2]), i32(b, [1])], masks({ shrink: 1 }));
  const lo = b.op('Sub', [n, i32(b, [3], [])]);
  const hi = b.op('Sub', [n, i32(b, [1], [])]);
  const begin = b.op('Pack', [i32(b, [0], []), lo], { axis: attr.i(0), N: attr.i(2) });
  const end = b.op('Pack', [i32(b, [0], []), hi], { axis: attr.i(0), N: attr.i(2) });
  b.output('computed', b.op('StridedSlice', [x, begin, end, i32(b, [1, 1])], masks({ begin: 1, end: 1 })));
  await checkGraph('shape ops', 'strided slices', b, { x: [3, 5, 6] });
});

test('Shape, Reshape with -1 and a computed batch, Squeeze, ExpandDims, Transpose, Concat, Pack, Unpack, Split, SplitV, Slice, Tile', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 4, 6]);
  const shape = b.op('Shape', [x], { out_type: attr.type('DT_INT32') });
  const batch = b.op('StridedSlice', [shape, i32(b, [0]), i32(b, [1]), i32(b, [1])], masks({ shrink: 1 }));
  const flat = b.op('Reshape', [x, b.op('Pack', [batch, i32(b, [-1], [])], { axis: attr.i(0), N: attr.i(2) })]);
  b.output('flat', flat);
  b.output('reshape_const', b.op('Reshape', [x, i32(b, [-1, 3, 8])]));
  b.output('squeeze', b.op('Squeeze', [b.op('ExpandDims', [x, i32(b, [2], [])])], { squeeze_dims: attr.ints([2]) }));
  b.output('expand_neg', b.op('ExpandDims', [x, i32(b, [-1], [])]));
  b.output('transpose', b.op('Transpose', [x, i32(b, [2, 0, 1])], { Tperm: attr.type('DT_INT32') }));
  b.output('concat', b.op('ConcatV2', [x, b.op('Neg', [x]), i32(b, [-1], [])], { N: attr.i(2), Tidx: attr.type('DT_INT32') }));
  b.output('concat_v1', b.op('Concat', [i32(b, [1], []), x, x], { N: attr.i(2) }));
  b.output('pack', b.op('Pack', [x, x, b.op('Neg', [x])], { axis: attr.i(1), N: attr.i(3) }));
  for (const [k, u] of ['u0', 'u1', 'u2', 'u3'].entries()) b.output(u, `${b.op('Unpack', [x], { axis: attr.i(1), num: attr.i(4) }, `unpack_${k}`)}:${k}`);
  const split = b.op('Split', [i32(b, [2], []), x], { num_split: attr.i(3) });
  b.output('split0', `${split}:0`).output('split2', `${split}:2`);
  const splitV = b.op('SplitV', [x, i32(b, [1, -1, 2]), i32(b, [2], [])], { num_split: attr.i(3) });
  b.output('splitv1', `${splitV}:1`).output('splitv2', `${splitV}:2`);
  b.output('slice', b.op('Slice', [x, i32(b, [0, 1, 2]), i32(b, [-1, 2, -1])]));
  b.output(
    'slice_computed',
    b.op('Slice', [x, b.op('Pack', [i32(b, [0], []), b.op('Sub', [batch, batch]), i32(b, [1], [])], { axis: attr.i(0), N: attr.i(3) }), i32(b, [-1, 3, 4])]),
  );
  b.output('tile', b.op('Tile', [x, i32(b, [1, 2, 3])]));
  b.output('tile_computed', b.op('Tile', [x, b.op('Pack', [i32(b, [1], []), batch, i32(b, [1], [])], { axis: attr.i(0), N: attr.i(3) })]));
  b.output('rank', b.op('Rank', [x]), 'DT_INT32');
  b.output('size', b.op('Size', [x], { out_type: attr.type('DT_INT32') }), 'DT_INT32');
  b.output('shape', shape, 'DT_INT32');
  const [c] = await checkGraph('shape ops', 'reshaping and joining', b, { x: [3, 4, 6] });
  assert.deepEqual(c!.outputs.find((o) => o.name === 'flat')!.shape, ['batch', 24], 'Reshape to [batch, -1] keeps the named batch and resolves -1');
});

test('Fill, ZerosLike, OnesLike, Range, LinSpace, BroadcastTo, BroadcastArgs, Pad, PadV2, MirrorPad, Reverse, OneHot, Cumsum', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 3, 4]);
  const ids = b.input('ids', [-1], 'DT_INT32');
  const shape = b.op('Shape', [x], { out_type: attr.type('DT_INT32') });
  b.output('fill', b.op('Fill', [shape, b.const([2.5], [])], { index_type: attr.type('DT_INT32') }));
  b.output('zeros_like', b.op('ZerosLike', [x]));
  b.output(
    'ones_like',
    b.op('OnesLike', [
      b.op('Conv2D', [b.op('ExpandDims', [x, i32(b, [-1], [])]), b.random([1, 1, 1, 2], 1)], {
        strides: attr.ints([1, 1, 1, 1]),
        padding: attr.s('VALID'),
        dilations: attr.ints([1, 1, 1, 1]),
      }),
    ]),
  );
  b.output('range', b.op('Range', [i32(b, [1], []), b.op('Size', [ids]), i32(b, [2], [])], { Tidx: attr.type('DT_INT32') }), 'DT_INT32');
  b.output('range_float', b.op('Range', [b.const([0.5], []), b.const([3], []), b.const([0.75], [])], { Tidx: attr.type('DT_FLOAT') }));
  b.output('linspace', b.op('LinSpace', [b.const([-1], []), b.const([2], []), i32(b, [7], [])]));
  b.output('broadcast_to', b.op('BroadcastTo', [b.op('Slice', [x, i32(b, [0, 0, 0]), i32(b, [-1, 1, 4])]), shape]));
  b.output('broadcast_args', b.op('BroadcastArgs', [shape, i32(b, [5, 1, 1, 4])]), 'DT_INT32');
  b.output('pad', b.op('Pad', [x, i32(b, [0, 0, 1, 2, 3, 0], [3, 2])]));
  b.output('padv2', b.op('PadV2', [x, i32(b, [1, 0, 0, 1, 2, 2], [3, 2]), b.const([-7], [])]));
  b.output('reflect', b.op('MirrorPad', [x, i32(b, [0, 0, 2, 1, 1, 3], [3, 2])], { mode: attr.s('REFLECT') }));
  b.output('symmetric', b.op('MirrorPad', [x, i32(b, [0, 0, 3, 1, 1, 4], [3, 2])], { mode: attr.s('SYMMETRIC') }));
  b.output('reverse_v2', b.op('ReverseV2', [x, i32(b, [1, -1])]));
  b.output('reverse', b.op('Reverse', [x, b.const([0, 1, 0], [3], 'bool')]));
  b.output(
    'one_hot',
    b.op('OneHot', [b.op('Sub', [ids, i32(b, [2], [])]), i32(b, [5], []), b.const([3], []), b.const([-1], [])], { axis: attr.i(-1), T: attr.type('DT_FLOAT') }),
  );
  b.output('cumsum', b.op('Cumsum', [x, i32(b, [1], [])], { exclusive: attr.b(false), reverse: attr.b(false) }));
  b.output('cumsum_excl_rev', b.op('Cumsum', [x, i32(b, [2], [])], { exclusive: attr.b(true), reverse: attr.b(true) }));
  await checkGraph('shape ops', 'creating and padding', b, { x: [2, 3, 4], ids: [6] });
});

test('Gather, GatherV2 (axis, batch_dims), GatherNd, ScatterNd (summing duplicates), TensorScatterUpdate, SparseToDense', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 5, 4]);
  const ids = b.input('ids', [-1, 3], 'DT_INT32');
  b.output('gather', b.op('Gather', [b.op('Transpose', [x, i32(b, [1, 0, 2])]), i32(b, [4, 0, 2, 2])]));
  b.output('gather_v2_axis1', b.op('GatherV2', [x, ids, i32(b, [1], [])], { batch_dims: attr.i(0) }));
  b.output('gather_v2_scalar', b.op('GatherV2', [x, i32(b, [3], []), i32(b, [-1], [])], { batch_dims: attr.i(0) }));
  b.output('gather_v2_batch', b.op('GatherV2', [x, ids, i32(b, [1], [])], { batch_dims: attr.i(1) }));
  b.output('gather_v2_batch_axis2', b.op('GatherV2', [x, b.op('FloorMod', [ids, i32(b, [4], [])]), i32(b, [2], [])], { batch_dims: attr.i(1) }));
  b.output('gather_nd', b.op('GatherNd', [x, i32(b, [0, 1, 1, 4, 0, 0], [3, 2])]));
  const updates = b.random([3, 4], 30);
  b.output('scatter_nd', b.op('ScatterNd', [i32(b, [1, 3, 1], [3, 1]), updates, i32(b, [6, 4])]));
  b.output('tensor_scatter_update', b.op('TensorScatterUpdate', [x, i32(b, [0, 1, 0, 3], [2, 2]), b.random([2, 4], 31)]));
  b.output(
    'sparse_to_dense',
    b.op('SparseToDense', [i32(b, [0, 1, 2, 3], [2, 2]), i32(b, [3, 4]), b.const([5, 6], [2]), b.const([-1], [])], { validate_indices: attr.b(true) }),
  );
  await checkGraph('shape ops', 'gathering and scattering', b, { x: [2, 5, 4], ids: [2, 3] }, { opsets: [16, 26], intMax: 5 });
});

test('reductions (constant and empty axes, keep_dims, in channels-first layout), ArgMax/ArgMin, EuclideanNorm, Cumprod at opset 26', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 4, 5, 3]);
  const c = b.op('Conv2D', [x, b.random([1, 1, 3, 3], 40)], { strides: attr.ints([1, 1, 1, 1]), padding: attr.s('VALID'), dilations: attr.ints([1, 1, 1, 1]) });
  for (const op of ['Sum', 'Mean', 'Max', 'Min', 'Prod']) {
    b.output(`${op}_12`, b.op(op, [c, i32(b, [1, 2])], { keep_dims: attr.b(false) }));
    b.output(`${op}_keep`, b.op(op, [x, i32(b, [-1])], { keep_dims: attr.b(true) }));
  }
  b.output('sum_none', b.op('Sum', [x, i32(b, [])], { keep_dims: attr.b(false) }));
  b.output('mean_all', b.op('Mean', [x, i32(b, [0, 1, 2, 3])], { keep_dims: attr.b(false) }));
  const positive = b.op('Greater', [x, b.const([0], [])]);
  b.output('all', b.op('All', [positive, i32(b, [3])], { keep_dims: attr.b(false) }));
  b.output('any', b.op('Any', [positive, i32(b, [1, 3])], { keep_dims: attr.b(true) }));
  b.output('argmax', b.op('ArgMax', [c, i32(b, [3], [])], { output_type: attr.type('DT_INT64') }), 'DT_INT32');
  b.output('argmin', b.op('ArgMin', [x, i32(b, [1], [])], { output_type: attr.type('DT_INT32') }), 'DT_INT32');
  b.output('norm', b.op('EuclideanNorm', [x, i32(b, [2])], { keep_dims: attr.b(false) }));
  b.output(
    'int_sum',
    b.op('Sum', [b.op('Cast', [b.op('Mul', [x, b.const([4], [])])], { DstT: attr.type('DT_INT32') }), i32(b, [1])], { keep_dims: attr.b(false) }),
    'DT_INT32',
  );
  const ids = b.input('ids', [-1], 'DT_INT32');
  const rows = b.op('Reshape', [ids, i32(b, [2, -1])]);
  b.output('bincount', b.op('Bincount', [ids, i32(b, [6], []), b.const([], [0])]));
  b.output('bincount_weighted', b.op('Bincount', [ids, i32(b, [4], []), b.op('Cast', [ids], { DstT: attr.type('DT_FLOAT') })]));
  b.output('dense_bincount', b.op('DenseBincount', [rows, i32(b, [7], []), b.const([], [0])], { binary_output: attr.b(false) }));
  b.output('dense_bincount_binary', b.op('DenseBincount', [rows, i32(b, [7], []), b.const([], [0])], { binary_output: attr.b(true) }));
  await checkGraph('reductions', 'reductions', b, { x: [2, 4, 5, 3], ids: [8] }, { intMax: 7 });
  const p = new GraphBuilder();
  const y = p.input('y', [-1, 4]);
  p.output('cumprod', p.op('Cumprod', [y, i32(p, [1], [])], { exclusive: attr.b(true), reverse: attr.b(false) }));
  await checkGraph('reductions', 'cumprod', p, { y: [3, 4] }, { opsets: [26] });
  await assert.rejects(
    convertGraphModel(await p.save(), { opset: 17 }),
    /node 'cumprod_\d+' \(op Cumprod\) cannot be converted: ONNX CumProd exists from opset 26/,
  );
});

test('IdentityN, Squeeze of every size-1 axis, uint8 and int64 inputs (int32 as tfjs holds them), a constant output', async () => {
  const b = new GraphBuilder();
  const pixels = b.input('pixels', [1, 4, 4, 3], 'DT_UINT8');
  const ids = b.input('ids', [-1], 'DT_INT64');
  const image = b.op('Cast', [pixels], { SrcT: attr.type('DT_UINT8'), DstT: attr.type('DT_FLOAT') });
  const pair = b.op('IdentityN', [image, ids], { T: { list: { type: ['DT_FLOAT', 'DT_INT64'] } } });
  b.output('scaled', b.op('Squeeze', [b.op('Mul', [`${pair}:0`, b.const([1 / 255], [])])]));
  b.output('ids_plus', b.op('AddV2', [`${pair}:1`, i32(b, [1], [])]), 'DT_INT32');
  b.output('table', b.const([1, 2, 3], [3]));
  const [c] = await checkGraph('shape ops', 'identities and input dtypes', b, { ids: [5] }, { intMax: 250 });
  assert.deepEqual(
    c!.inputs.map((i) => [i.name, i.dtype]),
    [
      ['pixels', 'int32'],
      ['ids', 'int32'],
    ],
  );
  assert.deepEqual(c!.outputs[0]!.shape, [4, 4, 3]);
});
