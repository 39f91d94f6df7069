import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { forward } from '../../train/gan/forward.ts';
import { buildDcganDiscriminator, buildDcganGenerator, buildGan } from '../../train/gan/models.ts';

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});
const mnist = { latentDim: 100, imageShape: [28, 28, 1] as const, seed: 1 };

test("the dense GAN is exactly the seed's: 114,064 + 100,609 parameters", () => {
  const { generator, discriminator } = buildGan('dense', mnist);
  assert.equal(generator.countParams(), 114064);
  assert.equal(discriminator.countParams(), 100609);
  const img = generator.predict(tf.zeros([3, 100])) as tf.Tensor;
  assert.deepEqual(img.shape, [3, 28, 28, 1]);
  const p = discriminator.predict(img) as tf.Tensor;
  assert.deepEqual(p.shape, [3, 1]);
  const values = p.dataSync();
  assert.ok(values.every((v) => v > 0 && v < 1));
  assert.deepEqual(
    generator.layers.map((l) => l.getClassName()),
    ['Dense', 'LeakyReLU', 'Dense', 'Reshape'],
  );
  assert.deepEqual(
    discriminator.layers.map((l) => l.getClassName()),
    ['Flatten', 'Dense', 'LeakyReLU', 'Dense'],
  );
  assert.equal((generator.layers[1]!.getConfig() as { alpha: number }).alpha, 0.01);
});

test("the DCGAN is the book's at width 1 and scales its channels", () => {
  const g = buildDcganGenerator(mnist);
  const d = buildDcganDiscriminator(mnist);
  assert.deepEqual(g.outputs[0]!.shape, [null, 28, 28, 1]);
  assert.deepEqual(d.outputs[0]!.shape, [null, 1]);
  const filters = (m: tf.LayersModel): number[] => m.layers.flatMap((l) => ('filters' in l.getConfig() ? [l.getConfig().filters as number] : []));
  assert.deepEqual(filters(g), [128, 64, 1]);
  assert.deepEqual(filters(d), [32, 64, 128]);
  assert.equal((g.layers[0]!.getConfig() as { units: number }).units, 7 * 7 * 256);
  const q = { ...mnist, width: 0.25 };
  assert.deepEqual(filters(buildDcganGenerator(q)), [32, 16, 1]);
  assert.deepEqual(filters(buildDcganDiscriminator(q)), [8, 16, 32]);
  assert.throws(() => buildDcganGenerator({ ...mnist, imageShape: [30, 30, 1] }), /image sides divisible by 4 .* the data is 30x30/);
});

test('the same seed builds the same weights; another seed differs', () => {
  const a = buildGan('dense', mnist).generator.getWeights()[0]!.dataSync();
  const b = buildGan('dense', mnist).generator.getWeights()[0]!.dataSync();
  const c = buildGan('dense', { ...mnist, seed: 2 })
    .generator.getWeights()[0]!
    .dataSync();
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('the training forward pass equals predict for dense and dcgan models', () => {
  const z = tf.randomNormal([4, 100], 0, 1, 'float32', 3);
  for (const kind of ['dense', 'dcgan'] as const) {
    const { generator, discriminator } = buildGan(kind, { ...mnist, width: 0.125 });
    const img = generator.predict(z) as tf.Tensor;
    const diff = tf.max(tf.abs(tf.sub(forward(generator, z, false), img))).dataSync()[0]!;
    assert.ok(diff < 1e-6, `${kind} G ${diff}`);
    const dDiff = tf.max(tf.abs(tf.sub(forward(discriminator, img, false), discriminator.predict(img) as tf.Tensor))).dataSync()[0]!;
    assert.ok(dDiff < 1e-6, `${kind} D ${dDiff}`);
  }
});

test("the conditional G's digit embedding starts at +-0.05 (the book) or at 1 +- 0.05 (identity), and only there", () => {
  const options = { latentDim: 8, imageShape: [28, 28, 1] as const, seed: 3, width: 0.25 };
  const embedding = (g: tf.LayersModel): Float32Array =>
    g
      .getLayer(g.layers.find((l) => l.getClassName() === 'Embedding')!.name)
      .getWeights()[0]!
      .dataSync() as Float32Array;
  const book = buildGan('cgan', options);
  const identity = buildGan('cgan', { ...options, labelEmbeddingInit: 'identity' });
  const [b, i] = [embedding(book.generator), embedding(identity.generator)];
  assert.equal(b.length, 10 * 8);
  assert.ok(b.every((v) => Math.abs(v) <= 0.05) && b.some((v) => v < 0));
  assert.ok(i.every((v) => Math.abs(v - 1) <= 0.05));
  // The same draws shifted by 1: nothing else of G changes.
  for (const [k, v] of b.entries()) assert.ok(Math.abs(i[k]! - (v + 1)) < 1e-6);
  const rest = (g: tf.LayersModel): number[][] => g.weights.filter((w) => !w.name.includes('embedding')).map((w) => Array.from(w.read().dataSync()));
  assert.deepEqual(rest(identity.generator), rest(book.generator));
  // D keeps its own label map's initialiser.
  assert.deepEqual(
    book.discriminator.weights.map((w) => Array.from(w.read().dataSync())),
    identity.discriminator.weights.map((w) => Array.from(w.read().dataSync())),
  );
  for (const gan of [book, identity]) {
    gan.generator.dispose();
    gan.discriminator.dispose();
  }
});
