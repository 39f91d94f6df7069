import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '../../shared/prng.ts';
import type { Dataset } from '../../lib/data.ts';
import { cholesky, fitGaussian, sampleGaussian } from '../../shared/gaussian.ts';

test('cholesky factors a known matrix and rejects an indefinite one', () => {
  // [[4, 2], [2, 3]] = L L^T with L = [[2, 0], [1, sqrt(2)]].
  const l = cholesky(new Float64Array([4, 2, 2, 3]), 2);
  assert.deepEqual(
    Array.from(l).map((v) => +v.toFixed(12)),
    [2, 0, 1, +Math.SQRT2.toFixed(12)],
  );
  assert.throws(() => cholesky(new Float64Array([1, 2, 2, 1]), 2), /not positive definite at pivot 1/);
});

test("the fit recovers the seed's 2-D example and its samples follow it", () => {
  // The notebook's warm-up: C = [[0.1, 0.1], [0.1, 0.4]], mean [1, 2] -> here scaled into [-1, 1].
  const prng = new Prng(11);
  const n = 20000;
  const images = new Float32Array(2 * n);
  const lc = cholesky(new Float64Array([0.01, 0.01, 0.01, 0.04]), 2);
  for (let i = 0; i < n; i++) {
    const a = prng.nextNormal();
    const b = prng.nextNormal();
    images[2 * i] = 0.1 + lc[0]! * a;
    images[2 * i + 1] = -0.2 + lc[2]! * a + lc[3]! * b;
  }
  const data: Dataset = { images, labels: null, count: n, height: 1, width: 2, source: 'synthetic' };
  const model = fitGaussian(data);
  assert.ok(Math.abs(model.mean[0]! - 0.1) < 0.005 && Math.abs(model.mean[1]! + 0.2) < 0.005);
  const s = sampleGaussian(model, n, new Prng(12));
  let m0 = 0;
  let m1 = 0;
  for (let i = 0; i < n; i++) {
    m0 += s[2 * i]! / n;
    m1 += s[2 * i + 1]! / n;
  }
  let c01 = 0;
  let c11 = 0;
  for (let i = 0; i < n; i++) {
    c01 += ((s[2 * i]! - m0) * (s[2 * i + 1]! - m1)) / n;
    c11 += (s[2 * i + 1]! - m1) ** 2 / n;
  }
  assert.ok(Math.abs(c01 - 0.01) < 0.002, `cov01 ${c01}`);
  assert.ok(Math.abs(c11 - 0.04) < 0.004, `var1 ${c11}`);
});

test('constant pixels (MNIST borders) are handled by the ridge, and samples stay in [-1, 1]', () => {
  const n = 50;
  const prng = new Prng(3);
  const images = new Float32Array(n * 9);
  for (let i = 0; i < n; i++) for (let j = 0; j < 9; j++) images[i * 9 + j] = j < 3 ? -1 : Math.tanh(2 * prng.nextNormal());
  const model = fitGaussian({ images, labels: null, count: n, height: 3, width: 3, source: 'synthetic' });
  assert.ok(model.ridge > 0);
  const s = sampleGaussian(model, 100, new Prng(4));
  assert.ok(s.every((v) => v >= -1 && v <= 1));
  assert.throws(() => fitGaussian({ images: new Float32Array(9), labels: null, count: 1, height: 3, width: 3, source: 'x' }), /at least 2 images/);
});
