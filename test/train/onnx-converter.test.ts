import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Prng } from '../../shared/prng.ts';
import { convertToOnnx } from '../../train/export/onnx/convert.ts';
import { permute } from '../../train/export/onnx/layers.ts';
import { feeds, maxAbsDiff, runOnnx } from '../helpers/ort.ts';

const TOLERANCE = 1e-5;
let worst = { diff: 0, name: '' };

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});
after(() => console.log(`# worst tfjs/onnxruntime difference over all layer cases: ${worst.diff.toExponential(2)} (${worst.name})`));

/** Seeded values so every case is reproducible. */
function input(shape: number[], seed: number, dtype: 'float32' | 'int32' = 'float32', max = 10): tf.Tensor {
  const p = new Prng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'int32')
    return tf.tensor(
      Int32Array.from({ length: n }, () => p.nextInt(max)),
      shape,
      'int32',
    );
  return tf.tensor(p.normals(n), shape);
}

/** Gives every weight seeded random values (BatchNorm variances positive) so nothing is trivially zero. */
function randomise(model: tf.LayersModel, seed: number): void {
  const p = new Prng(seed);
  model.setWeights(
    model.weights.map((w) => {
      const shape = w.shape as number[];
      const values = p.normals(shape.reduce((a, b) => a * b, 1)).map((v) => 0.5 * v);
      return tf.tensor(/variance/.test(w.name) ? values.map((v) => Math.abs(v) + 0.1) : values, shape);
    }),
  );
}

/** Converts, runs both runtimes on the same inputs and checks every output. */
async function agree(name: string, model: tf.LayersModel, inputs: tf.Tensor[], seed = 1): Promise<void> {
  randomise(model, seed);
  const expected = model.predict(inputs.length === 1 ? inputs[0]! : inputs);
  const expectedList = Array.isArray(expected) ? expected : [expected];
  const bytes = convertToOnnx(model);
  const outputs = await runOnnx(bytes, feeds(model.inputNames, inputs));
  assert.equal(outputs.length, expectedList.length, name);
  outputs.forEach((o, i) => {
    const e = expectedList[i]!;
    assert.deepEqual(o.dims.slice(1), e.shape.slice(1), `${name}: output ${i} shape`);
    const diff = maxAbsDiff(o.data as Float32Array, e.dataSync());
    if (diff > worst.diff) worst = { diff, name };
    assert.ok(diff <= TOLERANCE, `${name}: max |tfjs - onnx| = ${diff}`);
  });
}

const seq = (layers: tf.layers.Layer[]): tf.Sequential => tf.sequential({ layers });

test('Dense with every activation tfjs allows, with and without bias, on rank 2 and 3', async () => {
  const acts = [
    'linear',
    'relu',
    'relu6',
    'tanh',
    'sigmoid',
    'hardSigmoid',
    'softmax',
    'elu',
    'selu',
    'softplus',
    'softsign',
    'swish',
    'mish',
    'gelu',
    'gelu_new',
  ] as const;
  for (const activation of acts) {
    await agree(`Dense ${activation}`, seq([tf.layers.dense({ inputShape: [7], units: 5, activation })]), [input([3, 7], 2)]);
  }
  await agree('Dense no bias', seq([tf.layers.dense({ inputShape: [7], units: 5, useBias: false })]), [input([3, 7], 3)]);
  await agree('Dense rank 3', seq([tf.layers.dense({ inputShape: [4, 6], units: 3, activation: 'tanh' })]), [input([2, 4, 6], 4)]);
});

test('LeakyReLU (alpha written explicitly), ReLU with and without max, Activation, Dropout', async () => {
  await agree('LeakyReLU default alpha 0.3', seq([tf.layers.leakyReLU({ inputShape: [9] })]), [input([4, 9], 5)]);
  await agree('LeakyReLU 0.01', seq([tf.layers.leakyReLU({ inputShape: [9], alpha: 0.01 })]), [input([4, 9], 6)]);
  await agree('ReLU', seq([tf.layers.reLU({ inputShape: [9] })]), [input([4, 9], 7)]);
  await agree('ReLU max 0.5', seq([tf.layers.reLU({ inputShape: [9], maxValue: 0.5 })]), [input([4, 9], 8)]);
  for (const activation of ['linear', 'relu', 'tanh', 'sigmoid', 'softmax', 'elu', 'softplus'] as const) {
    await agree(`Activation ${activation}`, seq([tf.layers.activation({ inputShape: [9], activation })]), [input([4, 9], 9)]);
  }
  await agree('Dropout is the identity at inference', seq([tf.layers.dense({ inputShape: [6], units: 4 }), tf.layers.dropout({ rate: 0.5 })]), [
    input([3, 6], 10),
  ]);
});

test('Reshape and Flatten keep channels-last order, also after convolutions', async () => {
  await agree('Reshape', seq([tf.layers.dense({ inputShape: [12], units: 24 }), tf.layers.reshape({ targetShape: [2, 3, 4] })]), [input([2, 12], 11)]);
  await agree(
    'Conv then Flatten',
    seq([tf.layers.conv2d({ inputShape: [6, 5, 2], filters: 3, kernelSize: 3 }), tf.layers.flatten(), tf.layers.dense({ units: 2 })]),
    [input([2, 6, 5, 2], 12)],
  );
  await agree('Conv then Reshape', seq([tf.layers.conv2d({ inputShape: [4, 4, 2], filters: 3, kernelSize: 1 }), tf.layers.reshape({ targetShape: [16, 3] })]), [
    input([2, 4, 4, 2], 13),
  ]);
});

test('Conv2D: strides, same/valid padding, kernel sizes, odd sizes, dilation, bias and activation', async () => {
  let seed = 20;
  for (const strides of [1, 2])
    for (const padding of ['same', 'valid'] as const)
      for (const kernelSize of [1, 3, 4, 5])
        for (const size of [7, 8]) {
          const name = `Conv2D k${kernelSize} s${strides} ${padding} ${size}x${size}`;
          await agree(name, seq([tf.layers.conv2d({ inputShape: [size, size, 3], filters: 4, kernelSize, strides, padding, activation: 'relu' })]), [
            input([2, size, size, 3], seed++),
          ]);
        }
  await agree(
    'Conv2D no bias, rectangular kernel',
    seq([tf.layers.conv2d({ inputShape: [9, 7, 2], filters: 3, kernelSize: [3, 2], strides: [2, 1], padding: 'same', useBias: false })]),
    [input([2, 9, 7, 2], seed++)],
  );
  await agree('Conv2D dilation 2', seq([tf.layers.conv2d({ inputShape: [9, 9, 2], filters: 3, kernelSize: 3, dilationRate: 2, padding: 'same' })]), [
    input([2, 9, 9, 2], seed++),
  ]);
});

test('Conv2DTranspose: strides, same/valid padding, kernel sizes including smaller than the stride', async () => {
  let seed = 60;
  for (const strides of [1, 2])
    for (const padding of ['same', 'valid'] as const)
      for (const kernelSize of [1, 3, 4, 5])
        for (const size of [4, 5]) {
          const name = `Conv2DTranspose k${kernelSize} s${strides} ${padding} ${size}x${size}`;
          await agree(name, seq([tf.layers.conv2dTranspose({ inputShape: [size, size, 3], filters: 2, kernelSize, strides, padding })]), [
            input([2, size, size, 3], seed++),
          ]);
        }
  await agree(
    'Conv2DTranspose no bias, tanh',
    seq([tf.layers.conv2dTranspose({ inputShape: [7, 7, 4], filters: 1, kernelSize: 3, strides: 2, padding: 'same', useBias: false, activation: 'tanh' })]),
    [input([2, 7, 7, 4], seed++)],
  );
});

test('BatchNormalization (inference form) on images and vectors, with and without scale/center', async () => {
  await agree('BatchNorm 4D', seq([tf.layers.batchNormalization({ inputShape: [5, 5, 3] })]), [input([2, 5, 5, 3], 90)]);
  await agree('BatchNorm 2D eps', seq([tf.layers.batchNormalization({ inputShape: [6], epsilon: 0.01 })]), [input([3, 6], 91)]);
  await agree('BatchNorm no scale/center', seq([tf.layers.batchNormalization({ inputShape: [4, 4, 2], scale: false, center: false })]), [
    input([2, 4, 4, 2], 92),
  ]);
});

test('UpSampling2D nearest and bilinear, square and rectangular', async () => {
  await agree('UpSampling2D nearest 2', seq([tf.layers.upSampling2d({ inputShape: [3, 4, 2] })]), [input([2, 3, 4, 2], 93)]);
  await agree(
    'UpSampling2D nearest [2,3] after conv',
    seq([tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 3, padding: 'same' }), tf.layers.upSampling2d({ size: [2, 3] })]),
    [input([2, 4, 4, 1], 94)],
  );
  await agree('UpSampling2D bilinear', seq([tf.layers.upSampling2d({ inputShape: [3, 3, 2], size: [2, 2], interpolation: 'bilinear' })]), [
    input([2, 3, 3, 2], 95),
  ]);
});

test('functional models: two inputs, Embedding, Concatenate, Multiply, Add, nested Sequentials', async () => {
  const z = tf.input({ shape: [6], name: 'latent' });
  const label = tf.input({ shape: [1], name: 'label', dtype: 'int32' });
  const emb = tf.layers.flatten().apply(tf.layers.embedding({ inputDim: 10, outputDim: 6 }).apply(label)) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate().apply([z, emb]) as tf.SymbolicTensor;
  const mult = tf.layers.multiply().apply([z, emb]) as tf.SymbolicTensor;
  const inner = seq([tf.layers.dense({ inputShape: [12], units: 8 }), tf.layers.leakyReLU({ alpha: 0.2 })]);
  const nested = seq([inner, tf.layers.dense({ units: 8 })]);
  const sum = tf.layers
    .add()
    .apply([nested.apply(joined) as tf.SymbolicTensor, tf.layers.dense({ units: 8 }).apply(mult) as tf.SymbolicTensor]) as tf.SymbolicTensor;
  const model = tf.model({ inputs: [z, label], outputs: [sum, emb] });
  await agree('conditional functional model', model, [input([5, 6], 96), input([5, 1], 97, 'int32')]);

  // Image branches: Add, Multiply and Concatenate of channels-first tensors inside the graph.
  const img = tf.input({ shape: [6, 6, 2] });
  const a = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(img) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 3, kernelSize: 1 }).apply(img) as tf.SymbolicTensor;
  const merged = tf.layers
    .concatenate({ axis: -1 })
    .apply([tf.layers.add().apply([a, b]) as tf.SymbolicTensor, tf.layers.multiply().apply([a, b]) as tf.SymbolicTensor, img]) as tf.SymbolicTensor;
  const rows = tf.layers.concatenate({ axis: 1 }).apply([a, b]) as tf.SymbolicTensor;
  await agree('image merges', tf.model({ inputs: img, outputs: [merged, rows] }), [input([2, 6, 6, 2], 98)]);
});

test('the ONNX model keeps the tfjs interface: names, NHWC output, dynamic batch', async () => {
  const model = seq([
    tf.layers.dense({ inputShape: [4], units: 2 * 2 * 3 }),
    tf.layers.reshape({ targetShape: [2, 2, 3] }),
    tf.layers.conv2dTranspose({ filters: 1, kernelSize: 3, strides: 2, padding: 'same' }),
  ]);
  const bytes = convertToOnnx(model, { inputNames: ['latent'], outputNames: ['image'] });
  for (const batch of [1, 7]) {
    const [out] = await runOnnx(bytes, feeds(['latent'], [input([batch, 4], 99)]));
    assert.deepEqual(out!.dims, [batch, 4, 4, 1]);
  }
});

test('unsupported layers and attributes fail with the layer, its class and the attribute', () => {
  assert.throws(
    () => convertToOnnx(seq([tf.layers.conv1d({ inputShape: [8, 2], filters: 2, kernelSize: 3 })])),
    /Layer 'conv1d_Conv1D\d+' \(class Conv1D\) is not supported by the ONNX converter \(supported: Dense, /,
  );
  assert.throws(
    () => convertToOnnx(seq([tf.layers.conv2d({ inputShape: [2, 6, 6], filters: 2, kernelSize: 3, dataFormat: 'channelsFirst' })])),
    /Layer 'conv2d_Conv2D\d+' \(class Conv2D\): dataFormat "channelsFirst" is not supported \(expected channelsLast\)/,
  );
  assert.throws(
    () => convertToOnnx(seq([tf.layers.batchNormalization({ inputShape: [4, 4, 2], axis: 1 })])),
    /Layer 'batch_normalization_BatchNormalization\d+' \(class BatchNormalization\): axis 1 is not supported/,
  );
  assert.throws(
    () => convertToOnnx(seq([tf.layers.conv2d({ inputShape: [4, 4, 2], filters: 2, kernelSize: 3, padding: 'causal' })])),
    /Layer 'conv2d_Conv2D\d+' \(class Conv2D\): padding "causal" is not supported \(expected 'same' or 'valid'\)/,
  );
  assert.throws(
    () => convertToOnnx(seq([tf.layers.upSampling2d({ inputShape: [2, 4, 4], dataFormat: 'channelsFirst' })])),
    /\(class UpSampling2D\): dataFormat "channelsFirst" is not supported/,
  );
});

test('weight layout permutation is a true transpose', () => {
  const { data, shape } = permute(Float32Array.from([0, 1, 2, 3, 4, 5]), [2, 3], [1, 0]);
  assert.deepEqual(shape, [3, 2]);
  assert.deepEqual(Array.from(data), [0, 3, 1, 4, 2, 5]);
});
