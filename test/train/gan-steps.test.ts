import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { binaryAccuracy, binaryCrossEntropy, discriminatorStep, generatorStep, rejectionLoss, sparseCategoricalCrossEntropy } from '../../train/gan/steps.ts';
import { buildGan } from '../../train/gan/models.ts';

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
  assert.ok(
    d1.every((w, i) => w.some((v, j) => v !== d0[i]![j])),
    'every D weight moves',
  );
  tf.dispose(generatorStep(generator, discriminator, gOpt, tf.randomNormal([5, 8])));
  assert.deepEqual(snapshot(discriminator), d1);
  assert.ok(
    snapshot(generator).every((w, i) => w.some((v, j) => v !== g0[i]![j])),
    'every G weight moves',
  );
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

test('the rejection loss is -log(1 - p(asked digit)), clipped', () => {
  const probs = tf.tensor2d([
    [0.7, 0.2, 0.1],
    [0.1, 0.1, 0.8],
  ]);
  close(rejectionLoss(probs, tf.tensor2d([[0], [2]], [2, 1], 'int32')).dataSync()[0]!, -(Math.log(0.3) + Math.log(0.2)) / 2);
  close(rejectionLoss(tf.tensor2d([[1, 0]]), tf.tensor2d([[0]], [1, 1], 'int32')).dataSync()[0]!, -Math.log(1 - Math.fround(1 - 1e-7)), 1e-2);
});

test("sparse categorical cross-entropy is Keras' (clipped, mean over the batch)", () => {
  const probs = tf.tensor2d([
    [0.7, 0.2, 0.1],
    [0.1, 0.1, 0.8],
  ]);
  close(sparseCategoricalCrossEntropy(probs, tf.tensor2d([[0], [1]], [2, 1], 'int32')).dataSync()[0]!, -(Math.log(0.7) + Math.log(0.1)) / 2);
  close(sparseCategoricalCrossEntropy(tf.tensor2d([[1, 0]]), tf.tensor2d([[1]], [1, 1], 'int32')).dataSync()[0]!, -Math.log(Math.fround(1e-7)), 1e-3);
});

test('acgan: D names the digit from the image alone; its loss adds the digit cross-entropy; the steps stay separate', () => {
  const { generator, discriminator } = buildGan('acgan', { latentDim: 8, imageShape: [8, 8, 1], seed: 3, width: 0.1 });
  assert.equal(discriminator.inputs.length, 1, 'image only: the label is what D must find');
  assert.deepEqual(
    discriminator.outputs.map((o) => o.shape),
    [
      [null, 1],
      [null, 10],
    ],
  );
  assert.equal(generator.inputs.length, 2);
  const images = tf.randomUniform([6, 8, 8, 1], -1, 1, 'float32', 1);
  const classes = tf.tensor2d([0, 1, 2, 3, 4, 9], [6, 1], 'int32');
  const [validity, digits] = discriminator.apply(images, { training: true }) as tf.Tensor[];
  const expected = binaryCrossEntropy(validity!, 0).dataSync()[0]! + sparseCategoricalCrossEntropy(digits!, classes).dataSync()[0]!;
  const dOpt = tf.train.adam();
  const gOpt = tf.train.adam();
  const g0 = snapshot(generator);
  const step = discriminatorStep(discriminator, dOpt, images, 0, { classes });
  close(step.loss.dataSync()[0]!, expected);
  assert.deepEqual(snapshot(generator), g0);
  assert.throws(() => discriminatorStep(discriminator, dOpt, images, 0), /auxiliary-classifier discriminator needs the digit labels/);
  // Trainable weights only: D's batch-norm statistics follow whatever batch it sees, as in Keras.
  const trainable = (m: tf.LayersModel): Float32Array[] => m.trainableWeights.map((w) => w.read().dataSync() as Float32Array);
  const d1 = trainable(discriminator);
  tf.dispose(generatorStep(generator, discriminator, gOpt, tf.randomNormal([6, 8]), { classes }));
  assert.deepEqual(trainable(discriminator), d1);
  assert.ok(
    snapshot(generator).some((w, i) => w.some((v, j) => v !== g0[i]![j])),
    'G moves',
  );
  // The G step's loss includes the digit term: with other requested digits it differs.
  const z = tf.randomNormal([6, 8], 0, 1, 'float32', 4);
  const gLoss = (c: number[]): number =>
    generatorStep(generator, discriminator, tf.train.sgd(0), z, { classes: tf.tensor2d(c, [6, 1], 'int32') }).dataSync()[0]!;
  assert.notEqual(gLoss([0, 1, 2, 3, 4, 9]), gLoss([9, 9, 9, 9, 9, 9]));
});

test('one-sided label smoothing: real images get the soft target, fakes keep 0', () => {
  const p = tf.tensor2d([[0.9], [0.2]]);
  close(binaryCrossEntropy(p, 0.9).dataSync()[0]!, -(0.9 * Math.log(0.9) + 0.1 * Math.log(0.1) + 0.9 * Math.log(0.2) + 0.1 * Math.log(0.8)) / 2);
  const { discriminator } = buildGan('dense', { latentDim: 8, imageShape: [4, 4, 1], seed: 3 });
  const images = tf.randomUniform([5, 4, 4, 1], -1, 1, 'float32', 2);
  const q = (discriminator.predict(images) as tf.Tensor).dataSync();
  const bce = (t: number): number => -Array.from(q).reduce((s, v) => s + t * Math.log(v) + (1 - t) * Math.log(1 - v), 0) / q.length;
  const sgd = tf.train.sgd(0);
  close(discriminatorStep(discriminator, sgd, images, 1, { smoothing: 0.1 }).loss.dataSync()[0]!, bce(0.9));
  close(discriminatorStep(discriminator, sgd, images, 0, { smoothing: 0.1 }).loss.dataSync()[0]!, bce(0), 1e-5);
  close(discriminatorStep(discriminator, sgd, images, 1).loss.dataSync()[0]!, bce(1));
});

test("cgan's auxiliary digit head: a second D output, weighted into the loss, left out at weight 0", () => {
  const { generator, discriminator } = buildGan('cgan', { latentDim: 8, imageShape: [8, 8, 1], seed: 3, width: 0.1, auxClassifier: true });
  assert.equal(discriminator.inputs.length, 2, 'the label is still an input');
  assert.deepEqual(
    discriminator.outputs.map((o) => o.shape),
    [
      [null, 1],
      [null, 10],
    ],
  );
  const images = tf.randomUniform([6, 8, 8, 1], -1, 1, 'float32', 1);
  const classes = tf.tensor2d([0, 1, 2, 3, 4, 9], [6, 1], 'int32');
  const [validity, digits] = discriminator.apply([images, classes], { training: true }) as tf.Tensor[];
  const bce = binaryCrossEntropy(validity!, 1).dataSync()[0]!;
  const ce = sparseCategoricalCrossEntropy(digits!, classes).dataSync()[0]!;
  const sgd = tf.train.sgd(0);
  close(discriminatorStep(discriminator, sgd, [images, classes], 1, { classes, classWeight: 0.5 }).loss.dataSync()[0]!, bce + 0.5 * ce);
  close(discriminatorStep(discriminator, sgd, [images, classes], 1, { classes, classWeight: 0 }).loss.dataSync()[0]!, bce);
  // 'reject' (fakes): the head is rewarded for NOT seeing the asked digit.
  const rejected = rejectionLoss(digits!, classes).dataSync()[0]!;
  close(
    discriminatorStep(discriminator, sgd, [images, classes], 0, { classes, classWeight: 2, classTarget: 'reject' }).loss.dataSync()[0]!,
    binaryCrossEntropy(validity!, 0).dataSync()[0]! + 2 * rejected,
  );
  const z = tf.randomNormal([6, 8], 0, 1, 'float32', 4);
  const g0 = generatorStep(generator, discriminator, sgd, z, { classes, classWeight: 0 }).dataSync()[0]!;
  const g1 = generatorStep(generator, discriminator, sgd, z, { classes, classWeight: 1 }).dataSync()[0]!;
  assert.ok(g1 > g0, 'the digit term adds to the G loss');
});

test('a G step with update: false (D warm-up) reports the loss and leaves G alone', () => {
  const { generator, discriminator } = buildGan('dense', { latentDim: 8, imageShape: [4, 4, 1], seed: 3 });
  const z = tf.randomNormal([5, 8], 0, 1, 'float32', 6);
  const g0 = snapshot(generator);
  const measured = generatorStep(generator, discriminator, tf.train.adam(), z, { update: false }).dataSync()[0]!;
  assert.deepEqual(snapshot(generator), g0);
  const trained = generatorStep(generator, discriminator, tf.train.adam(), z).dataSync()[0]!;
  close(measured, trained);
  assert.notDeepEqual(snapshot(generator), g0);
});
