import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { binaryAccuracy, binaryCrossEntropy, discriminatorStep, generatorStep } from '../train/gan-steps.ts';
import { buildGan } from '../train/models.ts';

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});
const close = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) < tol, `${a} vs ${b}`);

test("binary cross-entropy and accuracy are Keras'", () => {
  const p = tf.tensor2d([[0.9], [0.2]]);
  close(binaryCrossEntropy(p, 1).dataSync()[0]!, -(Math.log(0.9) + Math.log(0.2)) / 2);
  close(binaryCrossEntropy(p, 0).dataSync()[0]!, -(Math.log(0.1) + Math.log(0.8)) / 2);
  // Clipped to [1e-7, 1 - 1e-7] in float32 like Keras: a confident mistake costs ~15.94, not infinity.
  close(binaryCrossEntropy(tf.tensor1d([1]), 0).dataSync()[0]!, -Math.log(1 - Math.fround(1 - 1e-7)), 1e-3);
  assert.equal(binaryAccuracy(p, 1).dataSync()[0], 0.5);
  assert.equal(binaryAccuracy(tf.tensor1d([0.1, 0.5, 0.7]), 0).dataSync()[0], Math.fround(2 / 3));
});

function snapshot(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

test('the D step updates only D; the G step only G (explicit variable lists, no freezing)', () => {
  const { generator, discriminator } = buildGan('dense', { latentDim: 8, imageShape: [4, 4, 1], seed: 3 });
  const dOpt = tf.train.adam();
  const gOpt = tf.train.adam();
  const g0 = snapshot(generator);
  const d0 = snapshot(discriminator);
  tf.dispose(discriminatorStep(discriminator, dOpt, tf.randomUniform([5, 4, 4, 1], -1, 1), 1));
  assert.deepEqual(snapshot(generator), g0);
  const d1 = snapshot(discriminator);
  assert.ok(d1.every((w, i) => w.some((v, j) => v !== d0[i]![j])), 'every D weight moves');
  tf.dispose(generatorStep(generator, discriminator, gOpt, tf.randomNormal([5, 8])));
  assert.deepEqual(snapshot(discriminator), d1);
  assert.ok(snapshot(generator).every((w, i) => w.some((v, j) => v !== g0[i]![j])), 'every G weight moves');
});

test('steps leak no tensors', () => {
  const { generator, discriminator } = buildGan('dcgan', { latentDim: 8, imageShape: [8, 8, 1], seed: 3, width: 0.05 });
  const dOpt = tf.train.adam();
  const gOpt = tf.train.adam();
  const real = tf.randomUniform([4, 8, 8, 1], -1, 1);
  const z = tf.randomNormal([4, 8]);
  const step = (): void => {
    tf.dispose(discriminatorStep(discriminator, dOpt, real, 1));
    tf.dispose(generatorStep(generator, discriminator, gOpt, z));
  };
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) step();
  assert.equal(tf.memory().numTensors, before);
});
