import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { GraphModelConversion } from '../src/graph/convert-graph.ts';
import { attr, checkGraph, GraphBuilder, printGraphWorst } from './helpers/graph.ts';

// Whole models of the kinds people convert from TF Hub, rebuilt by hand in tensorflowjs_converter's
// graph-model JSON (fused ops as its optimiser leaves them): a segmenter, a detector head with NMS, a
// pose heatmap decoder, a style-transfer network and a text classifier; each against tfjs executeAsync,
// with the layout optimisations checked.

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});
after(printGraphWorst);

const convAttrs = (strides: number[], padding: string, fused?: string[], extra: Record<string, Record<string, unknown>> = {}) => ({
  strides: attr.ints(strides),
  padding: attr.s(padding),
  data_format: attr.s('NHWC'),
  dilations: attr.ints([1, 1, 1, 1]),
  T: attr.type('DT_FLOAT'),
  ...(fused ? { fused_ops: attr.strs(fused), num_args: attr.i(1) } : {}),
  ...extra,
});

const i32 = (b: GraphBuilder, v: number[], shape = [v.length]): string => b.const(v, shape, 'int32');
const count = (c: GraphModelConversion, op: string): number => c.ops[op] ?? 0;

test('a MobileNet-style segmenter with a classification head: fused convs, depthwise, residual, batch norm, resize, concat', async () => {
  const b = new GraphBuilder();
  let seed = 100;
  const w = (shape: number[], scale = 0.4): string => b.random(shape, seed++, scale);
  const x = b.input('image', [-1, 32, 32, 3]);
  const stem = b.op('_FusedConv2D', [x, w([3, 3, 3, 8]), w([8], 0.1)], convAttrs([1, 2, 2, 1], 'SAME', ['BiasAdd', 'Relu6']));
  const dw = b.op('FusedDepthwiseConv2dNative', [stem, w([3, 3, 8, 1]), w([8], 0.1)], { ...convAttrs([1, 1, 1, 1], 'SAME', ['BiasAdd', 'Relu6']) });
  const project = b.op('_FusedConv2D', [dw, w([1, 1, 8, 8]), w([8], 0.1)], convAttrs([1, 1, 1, 1], 'VALID', ['BiasAdd']));
  const residual = b.op('AddV2', [project, stem]);
  const down = b.op('Conv2D', [residual, w([3, 3, 8, 16])], convAttrs([1, 2, 2, 1], 'SAME'));
  const bn = b.op(
    'FusedBatchNormV3',
    [
      down,
      w([16], 0.2),
      w([16], 0.2),
      w([16], 0.2),
      b.const(
        Array.from({ length: 16 }, (_, k) => 0.5 + k / 16),
        [16],
      ),
    ],
    {
      epsilon: attr.f(0.001),
      is_training: attr.b(false),
    },
  );
  const act = b.op('Relu6', [bn]);
  const up = b.op('ResizeBilinear', [act, i32(b, [16, 16])], { align_corners: attr.b(false), half_pixel_centers: attr.b(true) });
  const joined = b.op('ConcatV2', [up, residual, i32(b, [3], [])], { N: attr.i(2) });
  const logits = b.op('_FusedConv2D', [joined, w([1, 1, 24, 1]), w([1], 0.1)], convAttrs([1, 1, 1, 1], 'VALID', ['BiasAdd']));
  b.output('mask', b.op('Sigmoid', [logits]));
  const pooled = b.op('Mean', [act, i32(b, [1, 2])], { keep_dims: attr.b(false) });
  const head = b.op('_FusedMatMul', [pooled, w([16, 5]), w([5], 0.1)], {
    fused_ops: attr.strs(['BiasAdd']),
    num_args: attr.i(1),
    transpose_a: attr.b(false),
    transpose_b: attr.b(false),
  });
  b.output('classes', b.op('Softmax', [head]));
  const [c13, c26] = await checkGraph('whole models', 'segmenter', b, { image: [2, 32, 32, 3] });
  for (const c of [c13!, c26!]) {
    // One transpose in (the image), one out (the mask): everything between stays channels-first.
    assert.equal(count(c, 'Transpose'), 2, JSON.stringify(c.ops));
    assert.equal(count(c, 'BatchNormalization'), 0, 'the batch norm after the convolution is folded into it');
    assert.equal(count(c, 'Conv'), 5);
  }
  assert.deepEqual(c13!.outputs, [
    { name: 'mask', dtype: 'float32', shape: ['batch', 16, 16, 1] },
    { name: 'classes', dtype: 'float32', shape: ['batch', 5] },
  ]);
});

test('an SSD-style detector head: box decoding, class scores, NonMaxSuppressionV5 and the kept boxes gathered', async () => {
  const b = new GraphBuilder();
  const x = b.input('image', [1, 16, 16, 3]);
  const feat = b.op('_FusedConv2D', [x, b.random([3, 3, 3, 8], 200), b.random([8], 201, 0.1)], convAttrs([1, 2, 2, 1], 'SAME', ['BiasAdd', 'Relu']));
  const boxHead = b.op('_FusedConv2D', [feat, b.random([1, 1, 8, 8], 202), b.random([8], 203, 0.1)], convAttrs([1, 1, 1, 1], 'VALID', ['BiasAdd']));
  const clsHead = b.op('_FusedConv2D', [feat, b.random([1, 1, 8, 2], 204), b.random([2], 205, 0.1)], convAttrs([1, 1, 1, 1], 'VALID', ['BiasAdd']));
  // 8x8 cells, 2 anchors each: deltas [128, 4] added to anchor boxes, scores [128].
  const deltas = b.op('Reshape', [boxHead, i32(b, [-1, 4])]);
  const anchors: number[] = [];
  for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) for (const s of [0.1, 0.2]) anchors.push(r / 8, c / 8, r / 8 + s, c / 8 + s);
  const boxes = b.op('AddV2', [b.op('Mul', [deltas, b.const([0.05], [])]), b.const(anchors, [128, 4])]);
  const scores = b.op('Sigmoid', [b.op('Reshape', [clsHead, i32(b, [-1])])]);
  const nms = b.op('NonMaxSuppressionV5', [boxes, scores, i32(b, [10], []), b.const([0.3], []), b.const([0.2], []), b.const([0], [])], {
    pad_to_max_output_size: attr.b(false),
  });
  b.output('detection_indices', `${nms}:0`, 'DT_INT32');
  b.output('detection_scores', `${nms}:1`);
  b.output('detection_boxes', b.op('GatherV2', [boxes, `${nms}:0`, i32(b, [0], [])], { batch_dims: attr.i(0) }));
  b.output('num_detections', b.op('Size', [`${nms}:0`], { out_type: attr.type('DT_INT32') }), 'DT_INT32');
  await checkGraph(
    'whole models',
    'detector',
    b,
    {},
    {
      inspect: (out) => {
        // Some boxes kept, some suppressed or below the score threshold: the comparison is not trivial.
        const n = (out.num_detections!.data as Int32Array)[0]!;
        assert.ok(n > 1 && n <= 10, `detections: ${n}`);
      },
    },
  );
});

test('a pose-style heatmap decoder: argmax over flattened heatmaps, FloorDiv/FloorMod to coordinates, offsets gathered', async () => {
  const b = new GraphBuilder();
  const x = b.input('input', [-1, 24, 24, 3]);
  const f = b.op(
    '_FusedConv2D',
    [x, b.random([3, 3, 3, 12], 300), b.random([12], 301, 0.1)],
    convAttrs([1, 2, 2, 1], 'SAME', ['BiasAdd', 'LeakyRelu'], { leakyrelu_alpha: attr.f(0.1) }),
  );
  const heat = b.op('_FusedConv2D', [f, b.random([1, 1, 12, 5], 302), b.random([5], 303, 0.1)], convAttrs([1, 1, 1, 1], 'VALID', ['BiasAdd', 'Sigmoid']));
  const shape = b.op('Shape', [heat], { out_type: attr.type('DT_INT32') });
  const batch = b.op('StridedSlice', [shape, i32(b, [0]), i32(b, [1]), i32(b, [1])], {
    begin_mask: attr.i(0),
    end_mask: attr.i(0),
    ellipsis_mask: attr.i(0),
    new_axis_mask: attr.i(0),
    shrink_axis_mask: attr.i(1),
  });
  const flat = b.op('Reshape', [heat, b.op('Pack', [batch, i32(b, [144], []), i32(b, [5], [])], { axis: attr.i(0), N: attr.i(3) })]);
  const idx = b.op('ArgMax', [flat, i32(b, [1], [])], { output_type: attr.type('DT_INT32') });
  const y = b.op('FloorDiv', [idx, i32(b, [12], [])]);
  const xcoord = b.op('FloorMod', [idx, i32(b, [12], [])]);
  b.output('keypoints', b.op('Pack', [y, xcoord], { axis: attr.i(-1), N: attr.i(2) }), 'DT_INT32');
  b.output('confidence', b.op('Max', [flat, i32(b, [1], [])], { keep_dims: attr.b(false) }));
  const normalised = b.op('RealDiv', [
    b.op('Cast', [b.op('Pack', [y, xcoord], { axis: attr.i(-1), N: attr.i(2) })], { DstT: attr.type('DT_FLOAT') }),
    b.const([11], []),
  ]);
  b.output('normalised', normalised);
  await checkGraph('whole models', 'pose decoder', b, { input: [2, 24, 24, 3] });
});

test('a style-transfer network: reflect padding, instance norm from moments, residual, transposed convolutions, scaled tanh', async () => {
  const b = new GraphBuilder();
  let seed = 400;
  const w = (shape: number[], scale = 0.3): string => b.random(shape, seed++, scale);
  const x = b.input('content', [-1, 16, 16, 3]);
  const instanceNorm = (t: string, channels: number): string => {
    const mean = b.op('Mean', [t, i32(b, [1, 2])], { keep_dims: attr.b(true) });
    const variance = b.op('Mean', [b.op('SquaredDifference', [t, mean]), i32(b, [1, 2])], { keep_dims: attr.b(true) });
    const norm = b.op('Mul', [b.op('Sub', [t, mean]), b.op('Rsqrt', [b.op('AddV2', [variance, b.const([1e-3], [])])])]);
    return b.op('AddV2', [b.op('Mul', [norm, w([channels], 0.2)]), w([channels], 0.1)]);
  };
  const padded = b.op('MirrorPad', [x, i32(b, [0, 0, 2, 2, 2, 2, 0, 0], [4, 2])], { mode: attr.s('REFLECT') });
  const c1 = b.op('Relu', [instanceNorm(b.op('Conv2D', [padded, w([5, 5, 3, 8])], convAttrs([1, 1, 1, 1], 'VALID')), 8)]);
  const c2 = b.op('Relu', [instanceNorm(b.op('Conv2D', [c1, w([3, 3, 8, 16])], convAttrs([1, 2, 2, 1], 'SAME')), 16)]);
  const r = b.op('AddV2', [c2, instanceNorm(b.op('Conv2D', [b.op('Relu', [c2]), w([3, 3, 16, 16])], convAttrs([1, 1, 1, 1], 'SAME')), 16)]);
  const shape = b.op('Shape', [x], { out_type: attr.type('DT_INT32') });
  const batch = b.op('StridedSlice', [shape, i32(b, [0]), i32(b, [1]), i32(b, [1])], {
    begin_mask: attr.i(0),
    end_mask: attr.i(0),
    ellipsis_mask: attr.i(0),
    new_axis_mask: attr.i(0),
    shrink_axis_mask: attr.i(1),
  });
  const upSize = b.op('Pack', [batch, i32(b, [16], []), i32(b, [16], []), i32(b, [8], [])], { axis: attr.i(0), N: attr.i(4) });
  const up = b.op('Relu', [instanceNorm(b.op('Conv2DBackpropInput', [upSize, w([3, 3, 8, 16]), r], convAttrs([1, 2, 2, 1], 'SAME')), 8)]);
  const out = b.op('Conv2D', [up, w([3, 3, 8, 3])], convAttrs([1, 1, 1, 1], 'SAME'));
  b.output('stylized', b.op('AddV2', [b.op('Mul', [b.op('Tanh', [out]), b.const([150], [])]), b.const([127.5], [])]));
  const [c] = await checkGraph('whole models', 'style transfer', b, { content: [2, 16, 16, 3] });
  assert.equal(c!.outputs[0]!.shape.join(), 'batch,16,16,3');
  assert.ok(count(c!, 'Transpose') <= 3, JSON.stringify(c!.ops));
});

test('a text classifier over int32 token ids: embedding lookup, masked mean, dense layers', async () => {
  const b = new GraphBuilder();
  const ids = b.input('tokens', [-1, -1], 'DT_INT32');
  const table = b.random([20, 6], 500, 0.8);
  const emb = b.op('GatherV2', [table, ids, i32(b, [0], [])], { batch_dims: attr.i(0) });
  const mask = b.op('Cast', [b.op('NotEqual', [ids, i32(b, [0], [])])], { DstT: attr.type('DT_FLOAT') });
  const summed = b.op('Sum', [b.op('Mul', [emb, b.op('ExpandDims', [mask, i32(b, [-1], [])])]), i32(b, [1])], { keep_dims: attr.b(false) });
  const n = b.op('Maximum', [b.op('Sum', [mask, i32(b, [1])], { keep_dims: attr.b(true) }), b.const([1], [])]);
  const mean = b.op('RealDiv', [summed, n]);
  const hidden = b.op('_FusedMatMul', [mean, b.random([6, 8], 501), b.random([8], 502, 0.1)], {
    fused_ops: attr.strs(['BiasAdd', 'Relu']),
    num_args: attr.i(1),
  });
  b.output(
    'positive',
    b.op('Sigmoid', [
      b.op('_FusedMatMul', [hidden, b.random([8, 1], 503), b.random([1], 504, 0.1)], { fused_ops: attr.strs(['BiasAdd']), num_args: attr.i(1) }),
    ]),
  );
  await checkGraph('whole models', 'text classifier', b, { tokens: [3, 7] }, { intMax: 20 });
});
