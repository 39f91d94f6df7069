import type { Dataset } from './dataset.ts';
import { fitFeatures } from './metrics.ts';
import type { Prng } from './prng.ts';

/**
 * The seed's opening baseline: a single multivariate Gaussian fitted to the training pixels and sampled.
 * Full covariance (784x784 for MNIST) with a small ridge: MNIST's border pixels are constant, so the
 * sample covariance is singular and the ridge (1e-3 times the mean pixel variance) makes the Cholesky
 * factorisation exist. Pure JS in float64; fitting MNIST takes a few seconds.
 */
export interface GaussianModel {
  readonly dim: number;
  readonly mean: Float64Array;
  /** Lower-triangular Cholesky factor of the covariance, row-major dim x dim. */
  readonly chol: Float64Array;
  readonly ridge: number;
}

/** Relative ridge added to the covariance diagonal. */
export const GAUSSIAN_RIDGE = 1e-3;

/** Fits mean and full covariance to the data set's images (the covariance fit of `metrics.ts`), plus the ridge. */
export function fitGaussian(data: Dataset): GaussianModel {
  const dim = data.height * data.width;
  const n = data.count;
  if (n < 2) throw new Error(`The gaussian baseline needs at least 2 images but the data set has ${n}`);
  const { mean, cov } = fitFeatures(data.images.subarray(0, n * dim), n, dim);
  let trace = 0;
  for (let a = 0; a < dim; a++) trace += cov[a * dim + a]!;
  const ridge = GAUSSIAN_RIDGE * Math.max(trace / dim, 1e-12);
  for (let a = 0; a < dim; a++) cov[a * dim + a]! += ridge;
  return { dim, mean, chol: cholesky(cov, dim), ridge };
}

/** In-place-free Cholesky factorisation of a symmetric positive-definite matrix (row-major). */
export function cholesky(matrix: Float64Array, dim: number): Float64Array {
  const l = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = matrix[i * dim + j]!;
      for (let k = 0; k < j; k++) sum -= l[i * dim + k]! * l[j * dim + k]!;
      if (i === j) {
        if (!(sum > 0)) throw new Error(`Covariance is not positive definite at pivot ${i} (${sum})`);
        l[i * dim + i] = Math.sqrt(sum);
      } else {
        l[i * dim + j] = sum / l[j * dim + j]!;
      }
    }
  }
  return l;
}

/** Draws n samples (mean + L z), clipped to the data's range [-1, 1], as float32 NHWC rows. */
export function sampleGaussian(model: GaussianModel, n: number, prng: Prng): Float32Array {
  const { dim, mean, chol } = model;
  const out = new Float32Array(n * dim);
  const z = new Float64Array(dim);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < dim; j++) z[j] = prng.nextNormal();
    for (let i = 0; i < dim; i++) {
      let v = mean[i]!;
      const base = i * dim;
      for (let k = 0; k <= i; k++) v += chol[base + k]! * z[k]!;
      out[s * dim + i] = Math.max(-1, Math.min(1, v));
    }
  }
  return out;
}
