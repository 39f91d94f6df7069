import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { convertLayersModel } from '../src/convert-layers-model.ts';
import { KerasReLU, registerKerasLayers } from '../src/keras-layers.ts';
import { ACTIVATION_NAMES } from '../src/layers/activations.ts';
import { saveLayersModel } from '../src/model-io.ts';
import { Prng } from '../src/prng.ts';
import { BATCH, type GoldenCase, goldenGroup, printWorst, runSession, tempDir } from './helpers/convert.ts';

// Per-layer golden tests: every case is a small model with seeded random weights, saved in tfjs'
// layout, converted from the file at opsets 13 and 26 and run in tfjs and onnxruntime-node. Each group
// is one functional model holding all its cases, so it costs one conversion and one session per opset.

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  // The converter's workarounds for tfjs-layers shape and save bugs, before any model is built.
  registerKerasLayers();
});
after(printWorst);

const seq = (layers: tf.layers.Layer[]): tf.Sequential => tf.sequential({ layers });
/** A model over an int32 input (ids, pixels). */
const overInts = (shape: Array<number | null>, layers: tf.layers.Layer[]): tf.LayersModel => {
  const x = tf.input({ shape: shape as number[], dtype: 'int32' });
  return tf.model({ inputs: x, outputs: layers.reduce<tf.SymbolicTensor>((t, l) => l.apply(t) as tf.SymbolicTensor, x) });
};
const conv = (inputShape: number[], filters = 3): tf.layers.Layer => tf.layers.conv2d({ inputShape, filters, kernelSize: 3, padding: 'same' });
/** Inputs whose every other step (all features) equals `value`, for masks. */
const withMaskedSteps =
  (shape: number[], value: number) =>
  (_time: number, prng: Prng): tf.Tensor[] => {
    const [t, f] = shape as [number, number];
    const data = prng.normals(BATCH * t * f);
    for (let b = 0; b < BATCH; b++) for (let s = 0; s < t; s++) if ((s + b) % 2 === 1) for (let k = 0; k < f; k++) data[(b * t + s) * f + k] = value;
    return [tf.tensor(data, [BATCH, t, f])];
  };

test('activations: every tfjs activation name, ReLU (max value; Keras threshold and negative slope), LeakyReLU, PReLU (shared axes), ELU, ThresholdedReLU, Softmax (axis)', async () => {
  const cases: GoldenCase[] = [];
  for (const activation of ACTIVATION_NAMES) {
    const name = activation === 'hardsigmoid' ? 'hardSigmoid' : activation === 'logsoftmax' ? 'logSoftmax' : activation;
    cases.push({ name: `Activation ${name}`, model: seq([tf.layers.activation({ inputShape: [7], activation: name as 'relu' })]) });
    cases.push({ name: `Activation ${name} after a convolution`, model: seq([conv([5, 4, 2]), tf.layers.activation({ activation: name as 'relu' })]) });
  }
  cases.push(
    { name: 'ReLU', model: seq([tf.layers.reLU({ inputShape: [9] })]) },
    { name: 'ReLU max 0.5', model: seq([tf.layers.reLU({ inputShape: [3, 9], maxValue: 0.5 })]) },
    {
      name: 'Keras ReLU threshold 0.3, slope 0.1, max 1.2',
      model: seq([new KerasReLU({ inputShape: [9], threshold: 0.3, negativeSlope: 0.1, maxValue: 1.2 })]),
    },
    { name: 'Keras ReLU slope 0.2 after a convolution', model: seq([conv([4, 4, 2]), new KerasReLU({ negativeSlope: 0.2 })]) },
    { name: 'LeakyReLU default alpha 0.3', model: seq([tf.layers.leakyReLU({ inputShape: [9] })]) },
    { name: 'LeakyReLU 0.01 rank 3', model: seq([tf.layers.leakyReLU({ inputShape: [4, 9], alpha: 0.01 })]) },
    { name: 'PReLU', model: seq([tf.layers.prelu({ inputShape: [6] })]) },
    { name: 'PReLU rank 3 shared time axis', model: seq([tf.layers.prelu({ inputShape: [4, 5], sharedAxes: [1] })]) },
    { name: 'PReLU after a convolution, shared spatial axes', model: seq([conv([5, 6, 2], 4), tf.layers.prelu({ sharedAxes: [1, 2] })]) },
    { name: 'PReLU after a convolution, per pixel', model: seq([conv([3, 4, 2], 2), tf.layers.prelu({})]) },
    { name: 'ELU', model: seq([tf.layers.elu({ inputShape: [8] })]) },
    { name: 'ThresholdedReLU default theta', model: seq([tf.layers.thresholdedReLU({ inputShape: [8] })]) },
    { name: 'ThresholdedReLU theta 0.2', model: seq([tf.layers.thresholdedReLU({ inputShape: [2, 8], theta: 0.2 })]) },
    { name: 'Softmax default axis (1)', model: seq([tf.layers.softmax({ inputShape: [7] })]) },
    { name: 'Softmax axis -1 rank 3', model: seq([tf.layers.softmax({ inputShape: [3, 7], axis: -1 })]) },
    { name: 'Softmax axes [1, 2]', model: seq([tf.layers.softmax({ inputShape: [3, 4], axis: [1, 2] as unknown as number })]) },
    { name: 'Softmax channels after a convolution', model: seq([conv([4, 5, 2], 5), tf.layers.softmax({ axis: -1 })]) },
    // tfjs adds (1 - mask) * -1e9 to a Softmax fed a mask, the [batch, time] mask broadcast against the
    // last two axes (so it only runs when batch = time = features): copied, broadcast and all.
    {
      name: 'Softmax of a masked sequence',
      model: seq([tf.layers.masking({ inputShape: [BATCH, BATCH], maskValue: 0.5 }), tf.layers.softmax({ axis: -1 })]),
      inputs: withMaskedSteps([BATCH, BATCH], 0.5),
    },
  );
  await goldenGroup('activations', cases);
});

test('core: Dense (activations, no bias, rank 3 and 4), Flatten, Reshape (-1), Permute, RepeatVector, Embedding, Masking, dropout and noise identities', async () => {
  const cases: GoldenCase[] = [
    { name: 'Dense tanh', model: seq([tf.layers.dense({ inputShape: [7], units: 5, activation: 'tanh' })]) },
    { name: 'Dense no bias', model: seq([tf.layers.dense({ inputShape: [7], units: 3, useBias: false })]) },
    { name: 'Dense rank 3 softmax', model: seq([tf.layers.dense({ inputShape: [4, 6], units: 3, activation: 'softmax' })]) },
    { name: 'Dense rank 4 after a convolution', model: seq([conv([3, 4, 2]), tf.layers.dense({ units: 5, activation: 'relu' })]) },
    {
      name: 'Dense with every initializer and regularizer set',
      model: seq([
        tf.layers.dense({
          inputShape: [5],
          units: 4,
          kernelInitializer: 'orthogonal',
          biasInitializer: 'ones',
          kernelRegularizer: 'l1l2',
          biasConstraint: 'nonNeg',
        }),
      ]),
    },
    { name: 'Dropout', model: seq([tf.layers.dense({ inputShape: [6], units: 4 }), tf.layers.dropout({ rate: 0.5 })]) },
    { name: 'SpatialDropout1D', model: seq([tf.layers.spatialDropout1d({ inputShape: [4, 3], rate: 0.3 })]) },
    { name: 'GaussianNoise', model: seq([tf.layers.gaussianNoise({ inputShape: [5], stddev: 1 })]) },
    { name: 'GaussianDropout', model: seq([tf.layers.gaussianDropout({ inputShape: [5], rate: 0.4 })]) },
    { name: 'AlphaDropout', model: seq([tf.layers.dense({ inputShape: [5], units: 3 }), tf.layers.alphaDropout({ rate: 0.4 })]) },
    { name: 'Flatten rank 3', model: seq([tf.layers.flatten({ inputShape: [3, 5] })]) },
    { name: 'Flatten after a convolution', model: seq([conv([4, 3, 2]), tf.layers.flatten()]) },
    { name: 'Flatten channels first', model: seq([tf.layers.flatten({ inputShape: [2, 3, 4], dataFormat: 'channelsFirst' })]) },
    {
      name: 'Flatten channels first after a channels-first convolution',
      model: seq([
        tf.layers.conv2d({ inputShape: [2, 5, 4], filters: 3, kernelSize: 2, dataFormat: 'channelsFirst' }),
        tf.layers.flatten({ dataFormat: 'channelsFirst' }),
      ]),
    },
    { name: 'Reshape', model: seq([tf.layers.dense({ inputShape: [12], units: 24 }), tf.layers.reshape({ targetShape: [2, 3, 4] })]) },
    { name: 'Reshape with -1', model: seq([tf.layers.reshape({ inputShape: [12], targetShape: [-1, 3] })]) },
    { name: 'Reshape after a convolution', model: seq([conv([4, 4, 2]), tf.layers.reshape({ targetShape: [16, 3] })]) },
    { name: 'Permute rank 3', model: seq([tf.layers.permute({ inputShape: [3, 5], dims: [2, 1] })]) },
    { name: 'Permute after a convolution', model: seq([conv([3, 5, 2], 4), tf.layers.permute({ dims: [3, 1, 2] })]) },
    { name: 'RepeatVector', model: seq([tf.layers.dense({ inputShape: [3], units: 4 }), tf.layers.repeatVector({ n: 3 })]) },
    { name: 'Embedding over int32 ids of any length', model: overInts([null], [tf.layers.embedding({ inputDim: 11, outputDim: 5 })]) },
    {
      name: 'Embedding of float ids (truncated like tfjs)',
      model: seq([tf.layers.embedding({ inputShape: [4], inputDim: 6, outputDim: 3 })]),
      inputs: (_t, p) => [
        tf.tensor2d(
          Array.from({ length: BATCH * 4 }, () => p.nextInt(6) + 0.7),
          [BATCH, 4],
        ),
      ],
    },
    {
      name: 'Embedding mask_zero then Dense',
      model: overInts([5], [tf.layers.embedding({ inputDim: 4, outputDim: 3, maskZero: true }), tf.layers.dense({ units: 2 })]),
    },
    { name: 'Masking', model: seq([tf.layers.masking({ inputShape: [6, 3], maskValue: 0.5 })]), inputs: withMaskedSteps([6, 3], 0.5) },
  ];
  await goldenGroup('core layers', cases);
});

test('convolutions: Conv1D/2D/3D (strides, same/valid/causal, dilation, no bias, channels first), transposed, separable, depthwise, Cropping2D, UpSampling2D, ZeroPadding2D', async () => {
  const cases: GoldenCase[] = [];
  for (const strides of [1, 2])
    for (const padding of ['same', 'valid'] as const)
      for (const kernelSize of [1, 3, 4])
        for (const size of [7, 8]) {
          cases.push({
            name: `Conv2D k${kernelSize} s${strides} ${padding} ${size}x${size}`,
            model: seq([tf.layers.conv2d({ inputShape: [size, size, 3], filters: 4, kernelSize, strides, padding, activation: 'relu' })]),
          });
          cases.push({
            name: `Conv2DTranspose k${kernelSize} s${strides} ${padding} ${size - 3}`,
            model: seq([tf.layers.conv2dTranspose({ inputShape: [size - 3, size - 3, 3], filters: 2, kernelSize, strides, padding })]),
          });
        }
  cases.push(
    {
      name: 'Conv2D no bias, rectangular kernel and strides',
      model: seq([tf.layers.conv2d({ inputShape: [9, 7, 2], filters: 3, kernelSize: [3, 2], strides: [2, 1], padding: 'same', useBias: false })]),
    },
    { name: 'Conv2D dilation 2 same', model: seq([tf.layers.conv2d({ inputShape: [9, 9, 2], filters: 3, kernelSize: 3, dilationRate: 2, padding: 'same' })]) },
    { name: 'Conv2D dilation [2, 3] valid', model: seq([tf.layers.conv2d({ inputShape: [9, 10, 2], filters: 3, kernelSize: 2, dilationRate: [2, 3] })]) },
    {
      name: 'Conv2D channels first',
      model: seq([tf.layers.conv2d({ inputShape: [3, 7, 6], filters: 2, kernelSize: 3, strides: 2, padding: 'same', dataFormat: 'channelsFirst' })]),
    },
    {
      name: 'Conv2DTranspose channels first k5 s2 same',
      model: seq([tf.layers.conv2dTranspose({ inputShape: [2, 4, 3], filters: 3, kernelSize: 5, strides: 2, padding: 'same', dataFormat: 'channelsFirst' })]),
    },
    {
      name: 'Conv2DTranspose k5 s3 valid tanh no bias',
      model: seq([tf.layers.conv2dTranspose({ inputShape: [3, 4, 2], filters: 1, kernelSize: 5, strides: 3, useBias: false, activation: 'tanh' })]),
    },
    { name: 'Conv1D k3 valid', model: seq([tf.layers.conv1d({ inputShape: [9, 3], filters: 4, kernelSize: 3 })]) },
    { name: 'Conv1D k4 s2 same', model: seq([tf.layers.conv1d({ inputShape: [9, 3], filters: 2, kernelSize: 4, strides: 2, padding: 'same' })]) },
    {
      name: 'Conv1D dilation 2 no bias',
      model: seq([tf.layers.conv1d({ inputShape: [10, 2], filters: 3, kernelSize: 3, dilationRate: 2, useBias: false, activation: 'elu' })]),
    },
    {
      name: 'Conv1D same over any length',
      model: seq([tf.layers.conv1d({ inputShape: [null, 2] as unknown as number[], filters: 3, kernelSize: 3, padding: 'same' })]),
    },
    causalConv(3, 1),
    causalConv(2, 3),
    { name: 'Conv3D k3 valid', model: seq([tf.layers.conv3d({ inputShape: [5, 6, 4, 2], filters: 3, kernelSize: 3 })]) },
    { name: 'Conv3D k2 s2 same', model: seq([tf.layers.conv3d({ inputShape: [5, 6, 4, 2], filters: 2, kernelSize: 2, strides: 2, padding: 'same' })]) },
    {
      name: 'Conv3D channels first',
      model: seq([tf.layers.conv3d({ inputShape: [2, 4, 5, 3], filters: 2, kernelSize: [2, 3, 2], padding: 'same', dataFormat: 'channelsFirst' })]),
    },
    {
      name: 'Conv3DTranspose k3 s2 same',
      model: seq([tf.layers.conv3dTranspose({ inputShape: [3, 2, 4, 2], filters: 2, kernelSize: 3, strides: 2, padding: 'same' })]),
    },
    { name: 'Conv3DTranspose k2 s1 valid', model: seq([tf.layers.conv3dTranspose({ inputShape: [3, 2, 4, 2], filters: 3, kernelSize: 2 })]) },
    { name: 'SeparableConv2D', model: seq([tf.layers.separableConv2d({ inputShape: [7, 6, 3], filters: 4, kernelSize: 3, padding: 'same' })]) },
    {
      name: 'SeparableConv2D depth multiplier 2, stride 2, valid',
      model: seq([tf.layers.separableConv2d({ inputShape: [8, 7, 2], filters: 3, kernelSize: 3, strides: 2, depthMultiplier: 2 })]),
    },
    {
      name: 'SeparableConv2D dilation 2',
      model: seq([tf.layers.separableConv2d({ inputShape: [9, 9, 2], filters: 3, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'relu' })]),
    },
    {
      name: 'SeparableConv2D channels first, no bias',
      model: seq([tf.layers.separableConv2d({ inputShape: [2, 6, 5], filters: 3, kernelSize: 3, useBias: false, dataFormat: 'channelsFirst' })]),
    },
    { name: 'DepthwiseConv2D', model: seq([tf.layers.depthwiseConv2d({ inputShape: [7, 7, 3], kernelSize: 3, padding: 'same' })]) },
    {
      name: 'DepthwiseConv2D depth multiplier 3, stride 2, valid, no bias',
      model: seq([tf.layers.depthwiseConv2d({ inputShape: [8, 9, 2], kernelSize: 3, strides: 2, depthMultiplier: 3, useBias: false })]),
    },
    {
      name: 'DepthwiseConv2D channels first',
      model: seq([tf.layers.depthwiseConv2d({ inputShape: [3, 6, 5], kernelSize: [2, 3], depthMultiplier: 2, padding: 'same', dataFormat: 'channelsFirst' })]),
    },
    { name: 'Cropping2D symmetric', model: seq([tf.layers.cropping2D({ inputShape: [7, 6, 2], cropping: 1 })]) },
    {
      name: 'Cropping2D asymmetric after a convolution',
      model: seq([
        conv([7, 8, 2]),
        tf.layers.cropping2D({
          cropping: [
            [1, 2],
            [0, 3],
          ],
        }),
      ]),
    },
    {
      name: 'Cropping2D channels first',
      model: seq([
        tf.layers.cropping2D({
          inputShape: [2, 6, 7],
          cropping: [
            [2, 0],
            [1, 1],
          ],
          dataFormat: 'channelsFirst',
        }),
      ]),
    },
    { name: 'UpSampling2D nearest 2', model: seq([tf.layers.upSampling2d({ inputShape: [3, 4, 2] })]) },
    { name: 'UpSampling2D nearest [2, 3] after a convolution', model: seq([conv([4, 4, 1], 2), tf.layers.upSampling2d({ size: [2, 3] })]) },
    { name: 'UpSampling2D bilinear', model: seq([tf.layers.upSampling2d({ inputShape: [3, 3, 2], size: [2, 2], interpolation: 'bilinear' })]) },
    { name: 'UpSampling2D channels first', model: seq([tf.layers.upSampling2d({ inputShape: [2, 3, 4], size: [3, 2], dataFormat: 'channelsFirst' })]) },
    { name: 'ZeroPadding2D default', model: seq([tf.layers.zeroPadding2d({ inputShape: [3, 4, 2] })]) },
    {
      name: 'ZeroPadding2D asymmetric after a convolution',
      model: seq([
        conv([4, 4, 2]),
        tf.layers.zeroPadding2d({
          padding: [
            [1, 2],
            [0, 3],
          ],
        }),
      ]),
    },
    {
      name: 'ZeroPadding2D [h, w] channels first',
      model: seq([tf.layers.zeroPadding2d({ inputShape: [2, 3, 4], padding: [2, 1], dataFormat: 'channelsFirst' })]),
    },
  );
  await goldenGroup('convolutions', cases);
});

/**
 * Keras' causal Conv1D (tfjs builds it but cannot run it): its reference is a valid convolution of the
 * input padded on the left with (kernel - 1) * dilation zero steps.
 */
function causalConv(kernelSize: number, dilationRate: number): GoldenCase {
  const model = seq([tf.layers.conv1d({ inputShape: [8, 2], filters: 3, kernelSize, dilationRate, padding: 'causal' })]);
  return {
    name: `Conv1D causal k${kernelSize} dilation ${dilationRate} (Keras semantics)`,
    model,
    reference: ([x]) =>
      tf.tidy(() => {
        const [kernel, bias] = model.getWeights();
        const padded = tf.pad(x!, [
          [0, 0],
          [(kernelSize - 1) * dilationRate, 0],
          [0, 0],
        ]) as tf.Tensor3D;
        return [tf.add(tf.conv1d(padded, kernel as tf.Tensor3D, 1, 'valid', 'NWC', dilationRate), bias!)];
      }),
  };
}

test('pooling: Max/AveragePooling1D/2D/3D (pool sizes, strides, same/valid, odd sizes, channels first), global pooling 1D/2D', async () => {
  const cases: GoldenCase[] = [];
  for (const [kind, make1, make2, make3] of [
    ['Max', tf.layers.maxPooling1d, tf.layers.maxPooling2d, tf.layers.maxPooling3d],
    ['Average', tf.layers.averagePooling1d, tf.layers.averagePooling2d, tf.layers.averagePooling3d],
  ] as const) {
    for (const padding of ['same', 'valid'] as const) {
      cases.push(
        { name: `${kind}Pooling1D pool 2 ${padding}`, model: seq([make1({ inputShape: [7, 3], poolSize: 2, padding })]) },
        { name: `${kind}Pooling1D pool 3 stride 2 ${padding}`, model: seq([make1({ inputShape: [8, 2], poolSize: 3, strides: 2, padding })]) },
        { name: `${kind}Pooling2D pool 2 ${padding} odd size`, model: seq([make2({ inputShape: [7, 5, 3], poolSize: 2, padding })]) },
        { name: `${kind}Pooling2D pool 3 stride 1 ${padding}`, model: seq([make2({ inputShape: [6, 6, 2], poolSize: 3, strides: 1, padding })]) },
        {
          name: `${kind}Pooling2D pool [3, 2] stride [2, 1] ${padding} after a convolution`,
          model: seq([conv([7, 6, 2]), make2({ poolSize: [3, 2], strides: [2, 1], padding })]),
        },
        {
          name: `${kind}Pooling2D channels first ${padding}`,
          model: seq([make2({ inputShape: [2, 7, 6], poolSize: 3, strides: 2, padding, dataFormat: 'channelsFirst' })]),
        },
        { name: `${kind}Pooling3D pool 2 ${padding}`, model: seq([make3({ inputShape: [5, 4, 5, 2], poolSize: 2, padding })]) },
        {
          name: `${kind}Pooling3D pool 3 stride 2 channels first ${padding}`,
          model: seq([make3({ inputShape: [2, 5, 6, 5], poolSize: 3, strides: 2, padding, dataFormat: 'channelsFirst' })]),
        },
      );
    }
  }
  cases.push(
    { name: 'GlobalAveragePooling1D', model: seq([tf.layers.globalAveragePooling1d({ inputShape: [6, 4] })]) },
    { name: 'GlobalMaxPooling1D over any length', model: seq([tf.layers.globalMaxPooling1d({ inputShape: [null, 4] as unknown as number[] })]) },
    {
      name: 'GlobalAveragePooling1D after a Conv1D',
      model: seq([tf.layers.conv1d({ inputShape: [7, 2], filters: 3, kernelSize: 2 }), tf.layers.globalAveragePooling1d({})]),
    },
    { name: 'GlobalAveragePooling2D after a convolution', model: seq([conv([5, 4, 2], 4), tf.layers.globalAveragePooling2d({})]) },
    { name: 'GlobalMaxPooling2D', model: seq([tf.layers.globalMaxPooling2d({ inputShape: [5, 4, 3] })]) },
    { name: 'GlobalAveragePooling2D channels first', model: seq([tf.layers.globalAveragePooling2d({ inputShape: [3, 4, 5], dataFormat: 'channelsFirst' })]) },
    { name: 'GlobalMaxPooling2D channels first', model: seq([tf.layers.globalMaxPooling2d({ inputShape: [3, 4, 5], dataFormat: 'channelsFirst' })]) },
  );
  await goldenGroup('pooling', cases);
});

/** A functional model from a builder over fresh inputs. */
function fn(shapes: number[][], build: (xs: tf.SymbolicTensor[]) => tf.SymbolicTensor | tf.SymbolicTensor[]): tf.LayersModel {
  const xs = shapes.map((shape) => tf.input({ shape }));
  return tf.model({ inputs: xs, outputs: build(xs) });
}
const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]): tf.SymbolicTensor => layer.apply(x) as tf.SymbolicTensor;

test('merging: Add, Average, Maximum, Minimum, Multiply (2 and 3 inputs, broadcast ranks, images), Concatenate (any axis), Dot (axes, normalize)', async () => {
  const cases: GoldenCase[] = [];
  for (const [kind, make] of [
    ['Add', tf.layers.add],
    ['Average', tf.layers.average],
    ['Maximum', tf.layers.maximum],
    ['Minimum', tf.layers.minimum],
    ['Multiply', tf.layers.multiply],
  ] as const) {
    cases.push(
      { name: `${kind} of 2`, model: fn([[5], [5]], (xs) => apply(make({}), xs)) },
      {
        name: `${kind} of 3 sequences`,
        model: fn(
          [
            [3, 4],
            [3, 4],
            [3, 4],
          ],
          (xs) => apply(make({}), xs),
        ),
      },
      {
        name: `${kind} of convolutions`,
        model: fn([[4, 5, 2]], ([x]) => apply(make({}), [apply(conv([4, 5, 2]), x!), apply(tf.layers.conv2d({ filters: 3, kernelSize: 1 }), x!)])),
      },
      { name: `${kind} of a vector and a sequence (tfjs inserts axes)`, model: fn([[4], [3, 4]], (xs) => apply(make({}), xs)) },
    );
  }
  cases.push(
    {
      name: 'Concatenate last axis',
      model: fn(
        [
          [3, 4],
          [3, 2],
        ],
        (xs) => apply(tf.layers.concatenate({}), xs),
      ),
    },
    {
      name: 'Concatenate axis 1',
      model: fn(
        [
          [3, 4],
          [2, 4],
        ],
        (xs) => apply(tf.layers.concatenate({ axis: 1 }), xs),
      ),
    },
    {
      name: 'Concatenate convolutions on channels and on rows',
      model: fn([[4, 4, 2]], ([x]) => {
        const a = apply(conv([4, 4, 2]), x!);
        const b = apply(tf.layers.conv2d({ filters: 3, kernelSize: 1 }), x!);
        return [
          apply(tf.layers.concatenate({ axis: -1 }), [a, b, x!]),
          apply(tf.layers.concatenate({ axis: 1 }), [a, b]),
          apply(tf.layers.concatenate({ axis: 2 }), [a, b]),
        ];
      }),
    },
    { name: 'Dot vectors', model: fn([[5], [5]], (xs) => apply(tf.layers.dot({ axes: 1 }), xs)) },
    { name: 'Dot vectors normalized (cosine)', model: fn([[5], [5]], (xs) => apply(tf.layers.dot({ axes: -1, normalize: true }), xs)) },
  );
  for (const axes of [
    [2, 2],
    [1, 1],
    [1, 2],
    [2, 1],
  ] as [number, number][]) {
    cases.push({
      name: `Dot sequences axes [${axes}]`,
      model: fn([[3, 4], axes[0] === axes[1] ? [3, 4] : [4, 3]], (xs) => apply(tf.layers.dot({ axes }), xs)),
    });
  }
  cases.push(
    { name: 'Dot sequence and vector', model: fn([[3, 4], [4]], (xs) => apply(tf.layers.dot({ axes: [2, 1] }), xs)) },
    { name: 'Dot vector and sequence normalized', model: fn([[3], [3, 4]], (xs) => apply(tf.layers.dot({ axes: [1, 1], normalize: true }), xs)) },
  );
  await goldenGroup('merging', cases);
});

/**
 * Batch norm on a non-last axis as Keras defines it: tfjs' CPU (and WASM) kernels apply the statistics
 * cyclically over the flattened tensor instead of along the axis, so their output is not the reference.
 */
function keepsAxis(model: tf.LayersModel, axis: number, before: (x: tf.Tensor) => tf.Tensor = (x) => x): (inputs: tf.Tensor[]) => tf.Tensor[] {
  return ([x]) =>
    tf.tidy(() => {
      const bnLayer = model.layers[model.layers.length - 1]!;
      const c = bnLayer.getConfig() as { scale: boolean; center: boolean; epsilon: number };
      const w = bnLayer.getWeights();
      let k = 0;
      const gamma = c.scale ? w[k++]! : null;
      const beta = c.center ? w[k++]! : null;
      const [mean, variance] = [w[k++]!, w[k++]!];
      const y = before(x!);
      const shape = y.shape.map((d, i) => (i === axis ? d : 1));
      let out = tf.div(tf.sub(y, mean!.reshape(shape)), tf.sqrt(tf.add(variance!.reshape(shape), c.epsilon)));
      if (gamma) out = tf.mul(out, gamma.reshape(shape));
      if (beta) out = tf.add(out, beta.reshape(shape));
      return [out];
    });
}

test('normalisation: BatchNormalization (any axis, center/scale off, folded into Dense/Conv where exact), LayerNormalization (axes)', async () => {
  const bn = (args: Parameters<typeof tf.layers.batchNormalization>[0] = {}): tf.layers.Layer => tf.layers.batchNormalization({ epsilon: 0.01, ...args });
  const onTime = seq([bn({ inputShape: [4, 3], axis: 1 })]);
  const onHeight = seq([conv([4, 5, 2]), bn({ axis: 1 })]);
  const onWidth = seq([bn({ inputShape: [4, 5, 2], axis: 2, scale: false, center: false })]);
  const cases: GoldenCase[] = [
    { name: 'BatchNorm vectors', model: seq([bn({ inputShape: [6] })]) },
    { name: 'BatchNorm after Dense (folded into Gemm)', model: seq([tf.layers.dense({ inputShape: [5], units: 4 }), bn()]) },
    { name: 'BatchNorm after Dense with an activation (not folded)', model: seq([tf.layers.dense({ inputShape: [5], units: 4, activation: 'relu' }), bn()]) },
    { name: 'BatchNorm after a rank-3 Dense (folded into MatMul + Add)', model: seq([tf.layers.dense({ inputShape: [3, 5], units: 4 }), bn()]) },
    { name: 'BatchNorm after a rank-3 Dense without bias', model: seq([tf.layers.dense({ inputShape: [3, 5], units: 4, useBias: false }), bn()]) },
    { name: 'BatchNorm sequences axis 1 (Keras semantics)', model: onTime, reference: keepsAxis(onTime, 1) },
    { name: 'BatchNorm after a convolution (folded into Conv)', model: seq([conv([5, 5, 2], 4), bn()]) },
    {
      name: 'BatchNorm after a convolution without bias',
      model: seq([tf.layers.conv2d({ inputShape: [5, 5, 2], filters: 3, kernelSize: 3, useBias: false }), bn()]),
    },
    {
      name: 'BatchNorm after a transposed convolution (folded)',
      model: seq([tf.layers.conv2dTranspose({ inputShape: [3, 3, 2], filters: 3, kernelSize: 3, strides: 2, padding: 'same' }), bn({ center: false })]),
    },
    {
      name: 'BatchNorm images, height axis (Keras semantics)',
      model: onHeight,
      reference: keepsAxis(onHeight, 1, (x) => onHeight.layers[0]!.apply(x) as tf.Tensor),
    },
    { name: 'BatchNorm images, width axis, no scale or center (Keras semantics)', model: onWidth, reference: keepsAxis(onWidth, 2) },
    {
      name: 'BatchNorm on a convolution read twice (not folded)',
      model: fn([[4, 4, 2]], ([x]) => {
        const c = apply(conv([4, 4, 2]), x!);
        return [apply(bn(), c), apply(tf.layers.reLU({}), c)];
      }),
    },
    { name: 'LayerNormalization vectors', model: seq([tf.layers.layerNormalization({ inputShape: [7] })]) },
    { name: 'LayerNormalization sequences, epsilon 0.1', model: seq([tf.layers.layerNormalization({ inputShape: [3, 6], epsilon: 0.1 })]) },
    { name: 'LayerNormalization axes [1, 2]', model: seq([tf.layers.layerNormalization({ inputShape: [3, 4], axis: [1, 2] })]) },
    { name: 'LayerNormalization axis 1 of a sequence', model: seq([tf.layers.layerNormalization({ inputShape: [4, 3], axis: 1, center: false })]) },
    { name: 'LayerNormalization after a convolution, no scale', model: seq([conv([3, 4, 2], 4), tf.layers.layerNormalization({ scale: false })]) },
  ];
  const [at13, at26] = await goldenGroup('normalisation', cases);
  // Folding removed the batch norms after linear ops: fewer BatchNormalization nodes than layers.
  for (const r of [at13!, at26!]) {
    const folded = r.report.filter((row) => row.notes.some((n) => n.startsWith('folded into')));
    assert.equal(folded.length, 6, folded.map((f) => f.layer).join(', '));
    assert.equal(r.ops.BatchNormalization ?? 0, 4, JSON.stringify(r.ops));
  }
  assert.equal(at13!.ops.LayerNormalization ?? 0, 0, 'opset 13 has no LayerNormalization op');
  assert.equal(at26!.ops.LayerNormalization, 4, 'opset 26 uses LayerNormalization for trailing axes');
});

test('preprocessing: Rescaling, CenterCrop (crop and upsize), Resizing (bilinear, nearest, up and down), CategoryEncoding (oneHot, multiHot, count)', async () => {
  const ids = (shape: number[], max: number) => (_t: number, p: Prng) => [
    tf.tensor(
      Int32Array.from({ length: BATCH * shape.reduce((a, b) => a * b, 1) }, () => p.nextInt(max)),
      [BATCH, ...shape],
      'int32',
    ),
  ];
  const cases: GoldenCase[] = [
    { name: 'Rescaling 1/255', model: seq([tf.layers.rescaling({ inputShape: [4, 4, 3], scale: 1 / 255 })]) },
    { name: 'Rescaling with offset after a convolution', model: seq([conv([3, 3, 2]), tf.layers.rescaling({ scale: 2, offset: -1 })]) },
    { name: 'Rescaling of int32 pixels', model: overInts([5], [tf.layers.rescaling({ scale: 0.5, offset: 0.25 })]), inputs: ids([5], 255) },
  ];
  for (const [h, w, crop] of [
    [8, 8, [4, 4]],
    [7, 9, [3, 5]],
    [6, 7, [4, 6]],
    [5, 5, [5, 5]],
    [9, 4, [5, 3]],
  ] as [number, number, [number, number]][]) {
    cases.push({
      name: `CenterCrop ${h}x${w} to ${crop.join('x')}`,
      model: seq([tf.layers.centerCrop({ inputShape: [h, w, 2], height: crop[0], width: crop[1] })]),
    });
  }
  // A crop larger than the input upsizes (bilinear).
  cases.push({ name: 'CenterCrop 4x5 to 6x6 (upsize)', model: seq([tf.layers.centerCrop({ inputShape: [4, 5, 2], height: 6, width: 6 })]) });
  for (const interpolation of ['bilinear', 'nearest'] as const) {
    for (const [size, cropToAspectRatio] of [
      [[9, 7], false],
      [[3, 2], false],
      [[4, 9], true],
    ] as [[number, number], boolean][]) {
      cases.push({
        name: `Resizing ${interpolation} 6x5 to ${size.join('x')}${cropToAspectRatio ? ' (no align corners)' : ''}`,
        model: seq([tf.layers.resizing({ inputShape: [6, 5, 2], height: size[0], width: size[1], interpolation, cropToAspectRatio })]),
      });
    }
  }
  cases.push(
    { name: 'CategoryEncoding oneHot', model: overInts([1], [tf.layers.categoryEncoding({ numTokens: 6, outputMode: 'oneHot' })]), inputs: ids([1], 6) },
    { name: 'CategoryEncoding multiHot', model: overInts([4], [tf.layers.categoryEncoding({ numTokens: 5, outputMode: 'multiHot' })]), inputs: ids([4], 5) },
    { name: 'CategoryEncoding count', model: overInts([6], [tf.layers.categoryEncoding({ numTokens: 4, outputMode: 'count' })]), inputs: ids([6], 4) },
  );
  await goldenGroup('preprocessing', cases);
});

test('random augmentation layers are the identity at inference (tfjs RandomWidth resizes even in predict, so ONNX is compared with the input)', async () => {
  const model = seq([tf.layers.randomWidth({ inputShape: [4, 6, 2], factor: 0.5 })]);
  const dir = await tempDir('random');
  await saveLayersModel(model, dir);
  const result = await convertLayersModel(join(dir, 'model.json'));
  assert.deepEqual(result.report[0]!.nodes, []);
  const session = await ort.InferenceSession.create(result.onnx);
  const x = tf.tensor4d(new Prng(3).normals(2 * 4 * 6 * 2), [2, 4, 6, 2]);
  const out = await runSession(session, { [result.inputs[0]!.name]: { dtype: 'float32', shape: x.shape, data: x.dataSync() as Float32Array } });
  assert.deepEqual(Array.from(Object.values(out)[0]!.data), Array.from(x.dataSync()));
  await session.release();
});
