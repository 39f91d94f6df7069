import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { convertGraphModel } from '../src/graph/convert-graph.ts';
import { attr, checkGraph, feedsFor, GraphBuilder, printGraphWorst, runOrt } from './helpers/graph.ts';

// Matrix products (MatMul, BatchMatMulV2, _FusedMatMul as Gemm with its fused ops, Einsum, MatrixBandPart)
// and the value-dependent ops (NonMaxSuppressionV3/V4/V5, Where, TopKV2, Unique, ListDiff, searchsorted).

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});
after(printGraphWorst);

test('MatMul (transposes), BatchMatMulV2 (adjoints, broadcast batch), _FusedMatMul with BiasAdd and Relu, LeakyRelu, Prelu, Elu, Sigmoid; Einsum; MatrixBandPart', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 6]);
  const w = b.random([6, 5], 50);
  const wt = b.random([5, 6], 51);
  const bias = b.random([5], 52, 0.2);
  b.output('matmul', b.op('MatMul', [x, w], { transpose_a: attr.b(false), transpose_b: attr.b(false) }));
  b.output('matmul_tb', b.op('MatMul', [x, wt], { transpose_a: attr.b(false), transpose_b: attr.b(true) }));
  b.output('matmul_ta', b.op('MatMul', [b.op('Transpose', [x, b.const([1, 0], [2], 'int32')]), w], { transpose_a: attr.b(true), transpose_b: attr.b(false) }));
  const fused = (ops: string[], args: string[], extra: Record<string, Record<string, unknown>> = {}) =>
    b.op('_FusedMatMul', [x, w, ...args], {
      fused_ops: attr.strs(ops),
      num_args: attr.i(args.length),
      transpose_a: attr.b(false),
      transpose_b: attr.b(false),
      T: attr.type('DT_FLOAT'),
      ...extra,
    });
  b.output('fused_bias', fused(['BiasAdd'], [bias]));
  b.output('fused_relu', fused(['BiasAdd', 'Relu'], [bias]));
  b.output('fused_leaky', fused(['BiasAdd', 'LeakyRelu'], [bias], { leakyrelu_alpha: attr.f(0.05) }));
  b.output('fused_prelu', fused(['BiasAdd', 'Prelu'], [bias, b.random([5], 53, 0.3)]));
  b.output('fused_elu', fused(['BiasAdd', 'Elu'], [bias]));
  b.output('fused_sigmoid', fused(['BiasAdd', 'Sigmoid'], [bias]));
  const t = b.input('t', [-1, 3, 4, 6]);
  b.output('batch_matmul', b.op('BatchMatMulV2', [t, b.random([6, 2], 54)], { adj_x: attr.b(false), adj_y: attr.b(false) }));
  b.output('batch_matmul_adj', b.op('BatchMatMulV2', [t, b.random([3, 2, 6], 55)], { adj_x: attr.b(false), adj_y: attr.b(true) }));
  b.output('batch_matmul_self', b.op('BatchMatMul', [t, t], { adj_x: attr.b(true), adj_y: attr.b(false) }));
  b.output('einsum', b.op('Einsum', [t, b.random([6, 3], 56)], { equation: attr.s('bijk,kl->bijl'), N: attr.i(2) }));
  // tfjs reads num_lower for both bounds (its op list maps num_upper to input 1): equal bounds compare.
  b.output('band', b.op('MatrixBandPart', [t, b.const([1], [], 'int32'), b.const([1], [], 'int32')]));
  b.output('band_all', b.op('MatrixBandPart', [t, b.const([-1], [], 'int32'), b.const([-1], [], 'int32')]));
  const [c] = await checkGraph('matrices', 'matrix products', b, { x: [4, 6], t: [2, 3, 4, 6] });
  assert.ok((c!.ops.Gemm ?? 0) >= 6, `fused MatMuls become Gemm: ${JSON.stringify(c!.ops)}`);
});

test('_FusedMatMul with a fused Tanh (which tfjs cannot run) follows TensorFlow', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 3]);
  const w = [0.5, -1, 2, 0.25, 1.5, -0.5];
  b.output('y', b.op('_FusedMatMul', [x, b.const(w, [3, 2]), b.const([0.1, -0.2], [2])], { fused_ops: attr.strs(['BiasAdd', 'Tanh']), num_args: attr.i(1) }));
  const conversion = await convertGraphModel(await b.save(), {});
  assert.ok(conversion.loadNotes.some((n) => /fused Tanh: converted with TensorFlow's meaning/.test(n)));
  const feeds = feedsFor(conversion, { x: [2, 3] });
  const out = await runOrt(conversion.onnx, feeds);
  const xs = feeds.x!.data as Float32Array;
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < 2; c++) {
      let s = c === 0 ? 0.1 : -0.2;
      for (let k = 0; k < 3; k++) s += xs[r * 3 + k]! * w[k * 2 + c]!;
      assert.ok(Math.abs((out.y!.data as Float32Array)[r * 2 + c]! - Math.tanh(s)) < 1e-6);
    }
  }
});

test('NonMaxSuppressionV3, V4 (padded) and V5 (sigma 0, with scores), Where, TopKV2, Unique, ListDiff, LowerBound, UpperBound', async () => {
  const b = new GraphBuilder();
  const boxes = b.input('boxes', [-1, 4]);
  const scores = b.input('scores', [-1]);
  // Boxes of unit-ish size around random centres overlap often enough to be suppressed.
  const corners = b.op('AddV2', [b.op('Mul', [boxes, b.const([0.3], [])]), b.const([0, 0, 1, 1], [4])]);
  const max = b.const([5], [], 'int32');
  const iou = b.const([0.4], []);
  b.output('nms_v3', b.op('NonMaxSuppressionV3', [corners, scores, max, iou, b.const([-0.5], [])]), 'DT_INT32');
  const v4 = b.op('NonMaxSuppressionV4', [corners, scores, b.const([12], [], 'int32'), iou, b.const([0.3], [])], { pad_to_max_output_size: attr.b(true) });
  b.output('nms_v4', `${v4}:0`, 'DT_INT32').output('nms_v4_valid', `${v4}:1`, 'DT_INT32');
  const v5 = b.op('NonMaxSuppressionV5', [corners, scores, max, iou, b.const([-10], []), b.const([0], [])], { pad_to_max_output_size: attr.b(false) });
  b.output('nms_v5', `${v5}:0`, 'DT_INT32').output('nms_v5_scores', `${v5}:1`);
  b.output('where', b.op('Where', [b.op('Greater', [boxes, b.const([0.5], [])])]), 'DT_INT64');
  const topk = b.op('TopKV2', [boxes, b.const([3], [], 'int32')], { sorted: attr.b(true) });
  b.output('topk_values', `${topk}:0`).output('topk_indices', `${topk}:1`, 'DT_INT32');
  const top5 = b.op('TopKV2', [scores, b.const([5], [], 'int32')], { sorted: attr.b(true) });
  b.output('top5', `${top5}:1`, 'DT_INT32');
  const ids = b.input('ids', [-1], 'DT_INT32');
  const unique = b.op('Unique', [ids], { out_idx: attr.type('DT_INT32') });
  b.output('unique', `${unique}:0`, 'DT_INT32').output('unique_idx', `${unique}:1`, 'DT_INT32');
  const diff = b.op('ListDiff', [ids, b.const([1, 3, 5], [3], 'int32')], { out_idx: attr.type('DT_INT32') });
  b.output('listdiff', `${diff}:0`, 'DT_INT32').output('listdiff_idx', `${diff}:1`, 'DT_INT32');
  const sorted = b.const([-1, 0, 0.5, 1, 1, 2, -2, 0, 3, 3, 3, 4], [2, 6]);
  const values = b.op('Reshape', [b.op('Slice', [boxes, b.const([0, 0], [2], 'int32'), b.const([2, 4], [2], 'int32')]), b.const([2, 4], [2], 'int32')]);
  b.output('lower', b.op('LowerBound', [sorted, b.op('Round', [values])], { out_type: attr.type('DT_INT32') }), 'DT_INT32');
  b.output('upper', b.op('UpperBound', [sorted, b.op('Round', [values])], { out_type: attr.type('DT_INT32') }), 'DT_INT32');
  await checkGraph(
    'dynamic',
    'value-dependent ops',
    b,
    { boxes: [20, 4], scores: [20], ids: [12] },
    {
      intMax: 7,
      inspect: (out) => {
        const kept = (out.nms_v4_valid!.data as Int32Array)[0]!;
        assert.ok(kept > 1 && kept < 12, `NMS keeps some boxes and suppresses others (${kept})`);
      },
    },
  );
});

test('soft-NMS (NonMaxSuppressionV5 with sigma > 0) is refused by name before anything is written', async () => {
  const b = new GraphBuilder();
  const boxes = b.input('boxes', [-1, 4]);
  const scores = b.input('scores', [-1]);
  const v5 = b.op('NonMaxSuppressionV5', [boxes, scores, b.const([5], [], 'int32'), b.const([0.5], []), b.const([0], []), b.const([0.5], [])], {}, 'soft_nms');
  b.output('selected', `${v5}:0`, 'DT_INT32');
  await assert.rejects(
    convertGraphModel(await b.save(), {}),
    /node 'soft_nms' \(op NonMaxSuppressionV5\) cannot be converted: soft-NMS \(soft_nms_sigma 0\.5\) has no ONNX counterpart/,
  );
});
