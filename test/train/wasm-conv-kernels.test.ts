import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { Prng } from '../../shared/prng.ts';
import { buildGan } from '../../train/gan/models.ts';
import { binaryCrossEntropy, trainableVariables } from '../../train/gan/steps.ts';
import { forward } from '../../train/gan/forward.ts';
import { registerWasmConvKernels } from '../../train/tfjs/wasm-conv-kernels.ts';
import { registerWasmKernels } from '../../train/tfjs/wasm-kernels.ts';

// Not IS_TEST: tfjs' per-kernel leak check misfires on WASM's fused conv2d under a gradient tape.
before(async () => {
  tf.enableProdMode();
  await tf.setBackend('wasm');
  registerWasmKernels();
  registerWasmConvKernels();
});

const values = (shape: number[], seed: number): Float32Array => new Prng(seed).normals(shape.reduce((a, b) => a * b, 1));

/** Runs f on WASM and on the plain JS backend; returns both results as plain arrays. */
async function both(f: () => tf.Tensor | tf.Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
  const read = (): Float32Array[] => tf.tidy(() => [f()].flat().map((t) => t.dataSync() as Float32Array));
  const wasm = read();
  await tf.setBackend('cpu');
  try {
    return [wasm, read()];
  } finally {
    await tf.setBackend('wasm');
  }
}

function assertClose(a: Float32Array, b: Float32Array, what: string, rel = 1e-4): void {
  assert.equal(a.length, b.length, what);
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i]! - b[i]!) / Math.max(1, scale);
    assert.ok(err <= rel, `${what}: element ${i} ${a[i]} vs ${b[i]} (relative ${err})`);
  }
}

test('Conv2DBackpropFilter and Conv2DBackpropInput match the JS backend over strides, paddings, kernels, sizes, channels, batches', async () => {
  let seed = 1;
  let cases = 0;
  for (const stride of [1, 2])
    for (const pad of ['same', 'valid'] as const)
      for (const k of [1, 3, 4, 5])
        for (const size of [7, 8]) {
          const batch = 1 + (seed % 3);
          const ci = [1, 3, 8][seed % 3]!;
          const co = [2, 5, 16][(seed + 1) % 3]!;
          if (pad === 'valid' && k > size) continue;
          const x = tf.tensor4d(values([batch, size, size, ci], seed++), [batch, size, size, ci]);
          const w = tf.tensor4d(values([k, k, ci, co], seed++), [k, k, ci, co]);
          const outShape = tf.conv2d(x, w, stride, pad).shape;
          const dy = tf.tensor4d(values(outShape, seed++), outShape);
          const what = `k${k} s${stride} ${pad} ${size}x${size} n${batch} ci${ci} co${co}`;
          const [wasm, cpu] = await both(() => [
            tf.conv2dTranspose(dy, w, [batch, size, size, ci], stride, pad), // Conv2DBackpropInput
            tf.grad((f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, f as tf.Tensor4D, stride, pad), dy)))(w), // Conv2DBackpropFilter
            tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(v as tf.Tensor4D, w, stride, pad), dy)))(x), // input gradient
          ]);
          wasm.forEach((a, i) => {
            assertClose(a, cpu[i]!, `${what} output ${i}`);
          });
          cases++;
        }
  assert.ok(cases >= 28);
});

test('leading-axes Sum and the tile-free batch-norm gradient match the JS backend', async () => {
  const x = tf.tensor4d(values([3, 5, 4, 6], 50), [3, 5, 4, 6]);
  const [wasm, cpu] = await both(() => [
    tf.sum(x, [0, 1, 2]),
    tf.sum(x, [0, 1, 2], true),
    tf.sum(x, [0]),
    tf.sum(x, [1, 3]),
    ...tf.grads((a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(a, mean, variance, o, s, 1e-3), tf.sin(a)));
    })([x, tf.tensor1d(values([6], 51)), tf.tensor1d(values([6], 52))]),
  ]);
  wasm.forEach((a, i) => {
    assertClose(a, cpu[i]!, `output ${i}`);
  });
});

test('a whole DCGAN step: gradients on WASM equal the JS backend on the same weights and inputs', async () => {
  const opts = { latentDim: 16, imageShape: [28, 28, 1] as const, seed: 4, width: 0.125 };
  const z = values([8, 16], 60);
  const real = values([8, 28, 28, 1], 61).map(Math.tanh);
  const grads = (): tf.Tensor[] => {
    const { generator: g, discriminator: d } = buildGan('dcgan', opts);
    const zt = tf.tensor2d(z, [8, 16]);
    const dGrads = tf.variableGrads(() => binaryCrossEntropy(forward(d, tf.tensor4d(real, [8, 28, 28, 1])), 1), trainableVariables(d)).grads;
    const gGrads = tf.variableGrads(() => binaryCrossEntropy(forward(d, forward(g, zt)), 1), trainableVariables(g)).grads;
    return [...Object.values(dGrads), ...Object.values(gGrads)];
  };
  const [wasm, cpu] = await both(grads);
  assert.equal(wasm.length, 12 + 12);
  wasm.forEach((a, i) => {
    assertClose(a, cpu[i]!, `gradient ${i}`, 1e-4);
  });
});

test('no tensor or WASM memory growth over repeated DCGAN steps', () => {
  const { generator: g, discriminator: d } = buildGan('dcgan', { latentDim: 8, imageShape: [8, 8, 1], seed: 2, width: 0.05 });
  const opt = tf.train.adam();
  const z = tf.randomNormal([4, 8]);
  const step = (): void => {
    const loss = opt.minimize(() => binaryCrossEntropy(forward(d, forward(g, z)), 1), true, trainableVariables(g));
    loss?.dispose();
  };
  step();
  const before = tf.memory();
  for (let i = 0; i < 10; i++) step();
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors);
  assert.equal(after.numBytes, before.numBytes);
  assert.equal(after.numDataBuffers, before.numDataBuffers);
});
