import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classCoverage, fitFeatures, frechetDistance, inceptionScore, sqrtPsd, symmetricEigen } from '../../shared/metrics.ts';
import { Prng } from '../../shared/prng.ts';

/** n samples of N(mean, L L^T) in d dimensions. */
function gaussianSamples(n: number, mean: number[], chol: number[][], seed: number): Float64Array {
  const d = mean.length;
  const p = new Prng(seed);
  const out = new Float64Array(n * d);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) z[j] = p.nextNormal();
    for (let r = 0; r < d; r++) {
      let v = mean[r]!;
      for (let c = 0; c <= r; c++) v += chol[r]![c]! * z[c]!;
      out[i * d + r] = v;
    }
  }
  return out;
}

test('eigen-decomposition and matrix square root', () => {
  const { values } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  assert.deepEqual(
    Array.from(values)
      .sort()
      .map((v) => +v.toFixed(12)),
    [1, 3],
  );
  const m = Float64Array.from([4, 2, 0, 2, 5, 1, 0, 1, 3]);
  const r = sqrtPsd(m, 3);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += r[i * 3 + k]! * r[k * 3 + j]!;
      assert.ok(Math.abs(s - m[i * 3 + j]!) < 1e-10);
    }
});

test('the Fréchet distance of a set against itself is ~0', () => {
  const x = gaussianSamples(
    2000,
    [0.5, -1, 2, 0],
    [
      [1, 0, 0, 0],
      [0.3, 0.8, 0, 0],
      [0, 0.5, 1.2, 0],
      [0.1, 0, 0.2, 0.4],
    ],
    1,
  );
  const f = fitFeatures(x, 2000, 4);
  assert.ok(frechetDistance(f, f) < 1e-9, String(frechetDistance(f, f)));
});

test('the Fréchet distance of two known Gaussians equals the closed form', () => {
  // Diagonal covariances: |m1 - m2|^2 + sum (s1 + s2 - 2 sqrt(s1 s2)) = |m1 - m2|^2 + sum (sqrt s1 - sqrt s2)^2.
  const exact = (m1: number[], m2: number[], s1: number[], s2: number[]): number =>
    m1.reduce((t, v, i) => t + (v - m2[i]!) ** 2, 0) + s1.reduce((t, v, i) => t + (Math.sqrt(v) - Math.sqrt(s2[i]!)) ** 2, 0);
  const fit = (mean: number[], variances: number[]) => ({
    d: mean.length,
    n: 0,
    mean: Float64Array.from(mean),
    cov: Float64Array.from(mean.flatMap((_, i) => mean.map((__, j) => (i === j ? variances[i]! : 0)))),
  });
  const a = fit([0, 1, 2], [1, 4, 9]);
  const b = fit([1, 1, 0], [4, 1, 1]);
  assert.ok(Math.abs(frechetDistance(a, b) - exact([0, 1, 2], [1, 1, 0], [1, 4, 9], [4, 1, 1])) < 1e-9);
  // Full covariances: rotating both by the same rotation leaves the distance unchanged.
  const c = Math.cos(0.7);
  const s = Math.sin(0.7);
  const rot = (v: number[]) => {
    const [v1, v2] = v as [number, number];
    return Float64Array.from([c * c * v1 + s * s * v2, c * s * (v1 - v2), c * s * (v1 - v2), s * s * v1 + c * c * v2]);
  };
  const ra = { d: 2, n: 0, mean: Float64Array.from([0, 0]), cov: rot([1, 4]) };
  const rb = { d: 2, n: 0, mean: Float64Array.from([3, 4]), cov: rot([9, 16]) };
  assert.ok(Math.abs(frechetDistance(ra, rb) - (25 + (1 - 3) ** 2 + (2 - 4) ** 2)) < 1e-9);
  // And sampled sets converge to it.
  const x = fitFeatures(
    gaussianSamples(
      20000,
      [0, 0],
      [
        [1, 0],
        [0, 2],
      ],
      2,
    ),
    20000,
    2,
  );
  const y = fitFeatures(
    gaussianSamples(
      20000,
      [1, 0],
      [
        [2, 0],
        [0, 2],
      ],
      3,
    ),
    20000,
    2,
  );
  assert.ok(Math.abs(frechetDistance(x, y) - (1 + 1)) < 0.1);
});

test('Inception Score: uniform confident predictions over 10 classes give 10; one class gives 1', () => {
  const n = 1000;
  const confident = new Float64Array(n * 10);
  for (let i = 0; i < n; i++) confident[i * 10 + (i % 10)] = 1;
  assert.ok(Math.abs(inceptionScore(confident, n, 10) - 10) < 1e-9);
  const collapsed = new Float64Array(n * 10);
  for (let i = 0; i < n; i++) collapsed[i * 10 + 3] = 1;
  assert.ok(Math.abs(inceptionScore(collapsed, n, 10) - 1) < 1e-9);
  const unsure = new Float64Array(n * 10).fill(0.1);
  assert.ok(Math.abs(inceptionScore(unsure, n, 10) - 1) < 1e-9);
  const cov = classCoverage(confident, n, 10);
  assert.deepEqual(cov.histogram, new Array(10).fill(100));
  assert.equal(cov.confident, 1);
  assert.equal(classCoverage(unsure, n, 10).confident, 0);
});
