/**
 * Sample-quality maths, platform-free: Gaussian fits of feature sets, the Fréchet distance between
 * them, and a classifier Inception Score. Everything in float64.
 */

import { expected } from './expected.ts';

/** Mean and covariance of n rows of d features (row-major). */
export interface GaussianFit {
  readonly d: number;
  readonly n: number;
  readonly mean: Float64Array;
  /** d x d, row-major, unbiased (n - 1). */
  readonly cov: Float64Array;
}

/** Fits mean and covariance to rows of features. */
export function fitFeatures(features: ArrayLike<number>, n: number, d: number): GaussianFit {
  if (features.length !== n * d) throw expected(`${n * d} feature values`, `${n} rows of ${d}`, features.length);
  if (n < 2) throw expected('at least 2 rows', 'a covariance fit', n);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += features[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = features[i * d + j]! - mean[j]!;
    for (let a = 0; a < d; a++) {
      const ra = row[a]!;
      if (ra === 0) continue;
      for (let b = a; b < d; b++) cov[a * d + b]! += ra * row[b]!;
    }
  }
  for (let a = 0; a < d; a++) for (let b = a; b < d; b++) cov[b * d + a] = cov[a * d + b]! /= n - 1;
  return { d, n, mean, cov };
}

/**
 * Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations: returns eigenvalues and the
 * eigenvectors as columns of a row-major matrix. Accurate to float64 rounding for the sizes used here.
 */
export function symmetricEigen(matrix: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += a[p * d + q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * d + q]! - a[p * d + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p]!;
          const akq = a[k * d + q]!;
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k]!;
          const aqk = a[q * d + k]!;
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p]!;
          const vkq = v[k * d + q]!;
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = a[i * d + i]!;
  return { values, vectors: v };
}

function matmul(x: Float64Array, y: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const xik = x[i * d + k]!;
      if (xik === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j]! += xik * y[k * d + j]!;
    }
  }
  return out;
}

/** The symmetric square root of a symmetric positive semi-definite matrix (negative rounding clipped). */
export function sqrtPsd(matrix: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, d);
  const scaled = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) scaled[i * d + j] = vectors[i * d + j]! * Math.sqrt(Math.max(0, values[j]!));
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += scaled[i * d + k]! * vectors[j * d + k]!;
      out[i * d + j] = s;
    }
  return out;
}

/**
 * Fréchet distance between two Gaussians: |m1 - m2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), with
 * tr((S1 S2)^(1/2)) computed as the sum of square roots of the eigenvalues of S1^(1/2) S2 S1^(1/2)
 * (symmetric, so no complex square roots as with scipy's sqrtm).
 */
export function frechetDistance(a: GaussianFit, b: GaussianFit): number {
  if (a.d !== b.d) throw new RangeError(`Feature sizes differ: ${a.d} and ${b.d}`);
  const d = a.d;
  let meanTerm = 0;
  for (let i = 0; i < d; i++) meanTerm += (a.mean[i]! - b.mean[i]!) ** 2;
  const root = sqrtPsd(a.cov, d);
  const inner = matmul(matmul(root, b.cov, d), root, d);
  // Symmetrise against rounding before the eigen-decomposition.
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) inner[i * d + j] = inner[j * d + i] = (inner[i * d + j]! + inner[j * d + i]!) / 2;
  const { values } = symmetricEigen(inner, d);
  let traceSqrt = 0;
  for (const v of values) traceSqrt += Math.sqrt(Math.max(0, v));
  let trace = 0;
  for (let i = 0; i < d; i++) trace += a.cov[i * d + i]! + b.cov[i * d + i]!;
  return Math.max(0, meanTerm + trace - 2 * traceSqrt);
}

/** Inception Score from class probabilities (n rows of k): exp(mean KL(p(y|x) || p(y))). */
export function inceptionScore(probs: ArrayLike<number>, n: number, k: number): number {
  if (probs.length !== n * k) throw expected(`${n * k} probabilities`, `${n} rows of ${k}`, probs.length);
  const marginal = new Float64Array(k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) marginal[j]! += probs[i * k + j]! / n;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const p = probs[i * k + j]!;
      if (p > 0) kl += p * (Math.log(p) - Math.log(marginal[j]!));
    }
  }
  return Math.exp(kl / n);
}

/** Histogram of predicted classes, and the share of predictions at least `threshold` confident. */
export function classCoverage(probs: ArrayLike<number>, n: number, k: number, threshold = 0.9): { histogram: number[]; confident: number } {
  const histogram = new Array<number>(k).fill(0);
  let confident = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j]! > probs[i * k + best]!) best = j;
    histogram[best]!++;
    if (probs[i * k + best]! >= threshold) confident++;
  }
  return { histogram, confident: confident / n };
}

/**
 * Per requested class, the share of its samples whose most probable class (row of `probs`, k columns)
 * is that class; NaN for a class no sample asked for.
 */
export function perClassAccuracy(probs: ArrayLike<number>, labels: ArrayLike<number>, k = 10): number[] {
  const hits = new Array<number>(k).fill(0);
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j]! > probs[i * k + best]!) best = j;
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= k) throw expected(`integer between 0 and ${k - 1}`, `label ${i}`, label);
    counts[label]!++;
    if (best === label) hits[label]!++;
  }
  return hits.map((h, c) => (counts[c] ? h / counts[c]! : NaN));
}
