import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { attr, checkGraph, GraphBuilder, printGraphWorst } from './helpers/graph.ts';

// Convolutions (plain, fused with every activation tfjs fuses, depthwise, transposed, 3-D), pooling,
// batch norms, LRN, resizing with every align_corners / half_pixel_centers combination, DepthToSpace and
// SpaceToBatchND/BatchToSpaceND, in the JSON encodings tensorflowjs_converter writes (base64 fused_ops,
// int64 strings), against tfjs executeAsync.

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});
after(printGraphWorst);

const conv = (strides: number[], padding: string, extra: Record<string, Record<string, unknown>> = {}) => ({
  strides: attr.ints(strides),
  padding: attr.s(padding),
  data_format: attr.s('NHWC'),
  dilations: attr.ints([1, 1, 1, 1]),
  T: attr.type('DT_FLOAT'),
  ...extra,
});

test('Conv2D (valid, same, explicit, strided, dilated) and _FusedConv2D with each fused activation', async () => {
  const b = new GraphBuilder();
  const x = b.input('image', [-1, 9, 8, 3]);
  const w = b.random([3, 3, 3, 5], 1);
  const bias = b.random([5], 2, 0.3);
  b.output('valid', b.op('Conv2D', [x, w], conv([1, 1, 1, 1], 'VALID')));
  b.output('same_strided', b.op('Conv2D', [x, w], conv([1, 2, 2, 1], 'SAME')));
  b.output('same_dilated', b.op('Conv2D', [x, w], conv([1, 1, 1, 1], 'SAME', { dilations: attr.ints([1, 2, 2, 1]) })));
  b.output('explicit', b.op('Conv2D', [x, w], conv([1, 2, 1, 1], 'EXPLICIT', { explicit_paddings: attr.ints([0, 0, 1, 2, 0, 1, 0, 0]) })));
  const nchw = b.op('Transpose', [x, b.const([0, 3, 1, 2], [4], 'int32')]);
  // (tfjs reads NCHW strides at NHWC's positions, so only stride 1 agrees with TensorFlow; others are refused.)
  const convNchw = b.op('Conv2D', [nchw, w], { ...conv([1, 1, 1, 1], 'SAME'), data_format: attr.s('NCHW') });
  b.output('nchw', b.op('Transpose', [convNchw, b.const([0, 2, 3, 1], [4], 'int32')]));
  for (const act of ['Relu', 'Relu6', 'Elu', 'Sigmoid']) {
    b.output(`fused_${act}`, b.op('_FusedConv2D', [x, w, bias], conv([1, 1, 1, 1], 'SAME', { fused_ops: attr.strs(['BiasAdd', act]), num_args: attr.i(1) })));
  }
  b.output('fused_bias', b.op('_FusedConv2D', [x, w, bias], conv([1, 2, 2, 1], 'VALID', { fused_ops: attr.strs(['BiasAdd']), num_args: attr.i(1) })));
  b.output(
    'fused_leaky',
    b.op(
      '_FusedConv2D',
      [x, w, bias],
      conv([1, 1, 1, 1], 'SAME', { fused_ops: attr.strs(['BiasAdd', 'LeakyRelu']), num_args: attr.i(1), leakyrelu_alpha: attr.f(0.3) }),
    ),
  );
  b.output(
    'fused_prelu',
    b.op('_FusedConv2D', [x, w, bias, b.random([5], 3, 0.4)], conv([1, 1, 1, 1], 'SAME', { fused_ops: attr.strs(['BiasAdd', 'Prelu']), num_args: attr.i(2) })),
  );
  const [c13] = await checkGraph('convolutions', 'Conv2D family', b, { image: [2, 9, 8, 3] });
  // One input transpose feeds every convolution (the NCHW one's input included); each of the 12 outputs goes back once.
  assert.equal(c13!.ops.Transpose, 1 + 12, `transposes: ${JSON.stringify(c13!.ops)}`);
});

test('depthwise convolutions (plain, fused with BiasAdd and Relu6, with a multiplier) and a residual block keep channels-first', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 8, 8, 4]);
  const dw = b.random([3, 3, 4, 2], 4);
  const dwAttrs = (strides: number[], padding: string) => ({
    strides: attr.ints(strides),
    padding: attr.s(padding),
    data_format: attr.s('NHWC'),
    dilations: attr.ints([1, 1, 1, 1]),
  });
  b.output('depthwise', b.op('DepthwiseConv2dNative', [x, dw], dwAttrs([1, 2, 2, 1], 'SAME')));
  const dw1 = b.random([3, 3, 4, 1], 5);
  const fused = b.op('FusedDepthwiseConv2dNative', [x, dw1, b.random([4], 6)], {
    ...dwAttrs([1, 1, 1, 1], 'SAME'),
    fused_ops: attr.strs(['BiasAdd', 'Relu6']),
    num_args: attr.i(1),
    T: attr.type('DT_FLOAT'),
  });
  const pw = b.op(
    '_FusedConv2D',
    [fused, b.random([1, 1, 4, 4], 7), b.random([4], 8)],
    conv([1, 1, 1, 1], 'VALID', { fused_ops: attr.strs(['BiasAdd']), num_args: attr.i(1) }),
  );
  const residual = b.op('AddV2', [pw, x]);
  const bn = b.op('FusedBatchNormV3', [residual, b.random([4], 9), b.random([4], 10), b.random([4], 11, 0.2), b.const([0.5, 1, 1.5, 2], [4])], {
    epsilon: attr.f(0.001),
    data_format: attr.s('NHWC'),
    is_training: attr.b(false),
  });
  b.output('block', b.op('Relu6', [bn]));
  b.output(
    'noop_relu',
    b.op('FusedDepthwiseConv2dNative', [x, dw1], { ...dwAttrs([1, 1, 1, 1], 'VALID'), fused_ops: attr.strs(['NoOp', 'Relu']), num_args: attr.i(0) }),
  );
  const [c] = await checkGraph('convolutions', 'depthwise and residual', b, { x: [2, 8, 8, 4] });
  // The batch norm after the residual add stays channels-first (no transposes inside the block).
  assert.ok((c!.ops.Transpose ?? 0) <= 4, `transposes: ${JSON.stringify(c!.ops)}`);
});

test('Conv2DBackpropInput (same and valid, strided) as ConvTranspose, Conv3D and 3-D pooling, Conv1D', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 5, 6, 4]);
  const filter = b.random([3, 3, 2, 4], 12);
  const bp = (sizes: number[], strides: number[], padding: string) =>
    b.op('Conv2DBackpropInput', [b.const(sizes, [4], 'int32'), filter, x], {
      strides: attr.ints(strides),
      padding: attr.s(padding),
      data_format: attr.s('NHWC'),
    });
  b.output('transpose_same', bp([2, 10, 12, 2], [1, 2, 2, 1], 'SAME'));
  b.output('transpose_same_odd', bp([2, 9, 11, 2], [1, 2, 2, 1], 'SAME'));
  b.output('transpose_valid', bp([2, 11, 13, 2], [1, 2, 2, 1], 'VALID'));
  b.output('transpose_valid_extra', bp([2, 12, 14, 2], [1, 2, 2, 1], 'VALID'));
  const v = b.input('v', [-1, 4, 5, 6, 2]);
  b.output(
    'conv3d',
    b.op('Conv3D', [v, b.random([2, 3, 2, 2, 3], 13)], {
      strides: attr.ints([1, 1, 2, 1, 1]),
      padding: attr.s('SAME'),
      dilations: attr.ints([1, 1, 1, 1, 1]),
      data_format: attr.s('NDHWC'),
    }),
  );
  b.output('maxpool3d', b.op('MaxPool3D', [v], { ksize: attr.ints([1, 2, 2, 2, 1]), strides: attr.ints([1, 2, 2, 2, 1]), padding: attr.s('SAME') }));
  b.output('avgpool3d', b.op('AvgPool3D', [v], { ksize: attr.ints([1, 2, 3, 2, 1]), strides: attr.ints([1, 1, 2, 2, 1]), padding: attr.s('VALID') }));
  const s = b.input('seq', [-1, 7, 3]);
  b.output(
    'conv1d',
    b.op('Conv1D', [s, b.random([3, 3, 4], 14)], { stride: attr.i(2), padding: attr.s('SAME'), dilation: attr.i(1), data_format: attr.s('NWC') }),
  );
  await checkGraph('convolutions', 'transposed, 3-D and 1-D convolutions', b, { x: [2, 5, 6, 4], v: [2, 4, 5, 6, 2], seq: [2, 7, 3] });
});

test('MaxPool and AvgPool (same excludes the padding from averages), FusedBatchNorm forms, LRN, Softmax on channels-first tensors', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 7, 9, 3]);
  const pool = (op: string, k: number[], s: number[], padding: string) =>
    b.op(op, [x], { ksize: attr.ints([1, ...k, 1]), strides: attr.ints([1, ...s, 1]), padding: attr.s(padding), data_format: attr.s('NHWC') });
  b.output('max_same', pool('MaxPool', [3, 3], [2, 2], 'SAME'));
  b.output('max_valid', pool('MaxPool', [2, 3], [2, 1], 'VALID'));
  b.output('avg_same', pool('AvgPool', [3, 3], [2, 2], 'SAME'));
  b.output('avg_valid', pool('AvgPool', [2, 2], [2, 2], 'VALID'));
  for (const batchIndex of [false, true]) {
    const argmax = b.op('MaxPoolWithArgmax', [x], {
      ksize: attr.ints([1, 2, 2, 1]),
      strides: attr.ints([1, 2, 2, 1]),
      padding: attr.s('SAME'),
      include_batch_in_index: attr.b(batchIndex),
      Targmax: attr.type('DT_INT64'),
    });
    b.output(`argmax_pool_${batchIndex}`, `${argmax}:0`).output(`argmax_${batchIndex}`, `${argmax}:1`, 'DT_INT32');
  }
  const params = () => [b.random([3], 15), b.random([3], 16), b.random([3], 17, 0.3), b.const([0.4, 1.1, 2.3], [3])];
  b.output('bn_v1', b.op('FusedBatchNorm', [x, ...params()], { epsilon: attr.f(0.01) }));
  b.output('bn_v2', b.op('FusedBatchNormV2', [x, ...params()], { epsilon: attr.f(0.001) }));
  const c = b.op('Conv2D', [x, b.random([1, 1, 3, 6], 18)], conv([1, 1, 1, 1], 'VALID'));
  b.output(
    'bn_after_conv',
    b.op('FusedBatchNormV3', [c, b.random([6], 19), b.random([6], 20), b.random([6], 21), b.const([1, 2, 3, 4, 5, 6], [6])], { epsilon: attr.f(0.001) }),
  );
  b.output('lrn', b.op('LRN', [c], { depth_radius: attr.i(2), bias: attr.f(1.5), alpha: attr.f(0.2), beta: attr.f(0.75) }));
  b.output('softmax_nchw', b.op('Softmax', [c]));
  b.output('mean_hw', b.op('Mean', [c, b.const([1, 2], [2], 'int32')], { keep_dims: attr.b(false) }));
  await checkGraph('pooling and normalisation', 'pooling, batch norms, LRN', b, { x: [2, 7, 9, 3] });
});

test('ResizeBilinear and ResizeNearestNeighbor with align_corners and half_pixel_centers as tfjs computes them', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 5, 7, 2]);
  for (const op of ['ResizeBilinear', 'ResizeNearestNeighbor']) {
    for (const [align, half] of [
      [false, false],
      [true, false],
      [false, true],
    ] as const) {
      for (const size of [
        [11, 13],
        [3, 4],
        [1, 7],
        [10, 14],
      ]) {
        b.output(
          `${op}_${align ? 'align' : half ? 'half' : 'plain'}_${size.join('x')}`,
          b.op(op, [x, b.const(size, [2], 'int32')], { align_corners: attr.b(align), half_pixel_centers: attr.b(half), T: attr.type('DT_FLOAT') }),
        );
      }
    }
  }
  // The size computed when the model runs (from the input's shape).
  const shape = b.op('Shape', [x], { out_type: attr.type('DT_INT32') });
  const hw = b.op('StridedSlice', [shape, b.const([1], [1], 'int32'), b.const([3], [1], 'int32'), b.const([1], [1], 'int32')], {
    begin_mask: attr.i(0),
    end_mask: attr.i(0),
    shrink_axis_mask: attr.i(0),
    ellipsis_mask: attr.i(0),
    new_axis_mask: attr.i(0),
  });
  b.output(
    'dynamic_size',
    b.op('ResizeBilinear', [x, b.op('Mul', [hw, b.const([2], [], 'int32')])], { align_corners: attr.b(false), half_pixel_centers: attr.b(true) }),
  );
  await checkGraph('resize', 'resize', b, { x: [2, 5, 7, 2] }, { opsets: [13, 18] });
});

test('DepthToSpace, SpaceToBatchND and BatchToSpaceND (the atrous convolution pattern)', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 6, 6, 8]);
  b.output('d2s', b.op('DepthToSpace', [x], { block_size: attr.i(2), data_format: attr.s('NHWC') }));
  const s2b = b.op('SpaceToBatchND', [x, b.const([2, 2], [2], 'int32'), b.const([2, 2, 2, 2], [2, 2], 'int32')]);
  const c = b.op('Conv2D', [s2b, b.random([3, 3, 8, 4], 22)], conv([1, 1, 1, 1], 'VALID'));
  b.output('atrous', b.op('BatchToSpaceND', [c, b.const([2, 2], [2], 'int32'), b.const([0, 0, 0, 0], [2, 2], 'int32')]));
  b.output('s2b_uneven', b.op('SpaceToBatchND', [x, b.const([3, 2], [2], 'int32'), b.const([0, 3, 1, 1], [2, 2], 'int32')]));
  b.output(
    'b2s_crop',
    b.op('BatchToSpaceND', [b.op('Tile', [x, b.const([4, 1, 1, 1], [4], 'int32')]), b.const([2, 2], [2], 'int32'), b.const([1, 0, 0, 2], [2, 2], 'int32')]),
  );
  await checkGraph('convolutions', 'space/batch/depth', b, { x: [2, 6, 6, 8] });
});

test('SpaceToBatchND and BatchToSpaceND with paddings and crops computed when the model runs (a dilated convolution on an input of unknown size)', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, -1, -1, 3]);
  const i32 = (v: number[], shape = [v.length]): string => b.const(v, shape, 'int32');
  const masks = { begin_mask: attr.i(0), end_mask: attr.i(0), ellipsis_mask: attr.i(0), new_axis_mask: attr.i(0), shrink_axis_mask: attr.i(1) };
  const shape = b.op('Shape', [x], { out_type: attr.type('DT_INT32') });
  // What TensorFlow's required_space_to_batch_paddings computes: pad each size up to a multiple of the block (2).
  const pad = (axis: number): string => {
    const size = b.op('StridedSlice', [shape, i32([axis]), i32([axis + 1]), i32([1])], masks);
    return b.op('FloorMod', [b.op('Neg', [size]), i32([2], [])]);
  };
  const zero = i32([0], []);
  const row = (p: string): string => b.op('Pack', [zero, p], { N: attr.i(2), axis: attr.i(0) });
  const paddings = b.op('Pack', [row(pad(1)), row(pad(2))], { N: attr.i(2), axis: attr.i(0) });
  const s2b = b.op('SpaceToBatchND', [x, i32([2, 2]), paddings]);
  const c = b.op('Conv2D', [s2b, b.random([3, 3, 3, 4], 23)], conv([1, 1, 1, 1], 'SAME'));
  b.output('dilated', b.op('BatchToSpaceND', [c, i32([2, 2]), paddings]));
  b.output('batched', s2b);
  for (const sizes of [{ x: [1, 5, 6, 3] }, { x: [2, 4, 7, 3] }]) await checkGraph('convolutions', `dynamic space/batch ${sizes.x}`, b, sizes);
});
