import * as tf from '@tensorflow/tfjs';
import type { Prng } from '../../shared/prng.ts';

// Differentiable augmentation (DiffAugment, Zhao et al. 2020): every image D sees, real or fake, in
// its own steps and in G's, is translated and/or has a square cut out, with fresh random values each
// time. D then cannot memorise the 10,000 embedded digits, and G's gradient flows through the same
// transform. Both are linear in the image, so each engine applies them as matrix products and a mask
// drawn here from the run's PRNG: the tfjs and ort engines see the same numbers.

/** The augmentations `--augment` takes, in the order they are applied. */
export const AUGMENTATIONS = ['translation', 'cutout'] as const;

/** One augmentation. */
export type Augmentation = (typeof AUGMENTATIONS)[number];

/** DiffAugment's ratios: translation by up to 1/8 of the side, a cut-out square of half the side. */
const TRANSLATION_RATIO = 0.125;
const CUTOUT_RATIO = 0.5;

/** The random values of one augmented batch of n images of h x w. */
export interface AugmentDraw {
  readonly n: number;
  readonly h: number;
  readonly w: number;
  /** Translation: out = rows · (x + 1) · cols - 1 per image; rows [n, h, h], cols [n, w, w] (0/1 shifts). */
  readonly rows?: Float32Array;
  readonly cols?: Float32Array;
  /** Cut-out: out = x · mask per image, mask [n, h, w] of 0 and 1. */
  readonly mask?: Float32Array;
}

/** Which of the three D passes of an iteration a draw belongs to. */
export const AUGMENT_PASSES = ['real', 'fake', 'g'] as const;

/** DiffAugment's integer size of a ratio of a side: int(side * ratio + 0.5). */
function sizeOf(side: number, ratio: number): number {
  return Math.floor(side * ratio + 0.5);
}

/** A 0/1 matrix [side, side] per image whose product shifts by `shift` (zeros come in). */
function shiftMatrix(out: Float32Array, offset: number, side: number, shift: number, transposed: boolean): void {
  for (let i = 0; i < side; i++) {
    const k = i + shift;
    if (k < 0 || k >= side) continue;
    // rows: out[i] = x[i + shift] -> R[i, k] = 1; cols (right factor): out[:, j] = x[:, j + shift] -> C[k, j] = 1.
    out[offset + (transposed ? k * side + i : i * side + k)] = 1;
  }
}

/**
 * Draws one batch's augmentation: per image, a translation in [-r, r] pixels on each axis (r = side/8)
 * and a cut-out square of side/2 centred anywhere (clipped at the borders), as DiffAugment draws them.
 * Draws nothing for an empty `kinds`.
 */
export function drawAugmentation(prng: Prng, kinds: readonly Augmentation[], n: number, h: number, w: number): AugmentDraw {
  const draw: { -readonly [K in keyof AugmentDraw]: AugmentDraw[K] } = { n, h, w };
  if (kinds.includes('translation')) {
    const ry = sizeOf(h, TRANSLATION_RATIO);
    const rx = sizeOf(w, TRANSLATION_RATIO);
    draw.rows = new Float32Array(n * h * h);
    draw.cols = new Float32Array(n * w * w);
    for (let b = 0; b < n; b++) {
      shiftMatrix(draw.rows, b * h * h, h, prng.nextInt(2 * ry + 1) - ry, false);
      shiftMatrix(draw.cols, b * w * w, w, prng.nextInt(2 * rx + 1) - rx, true);
    }
  }
  if (kinds.includes('cutout')) {
    const sy = sizeOf(h, CUTOUT_RATIO);
    const sx = sizeOf(w, CUTOUT_RATIO);
    draw.mask = new Float32Array(n * h * w).fill(1);
    for (let b = 0; b < n; b++) {
      const cy = prng.nextInt(h + (1 - (sy % 2))) - Math.floor(sy / 2);
      const cx = prng.nextInt(w + (1 - (sx % 2))) - Math.floor(sx / 2);
      for (let y = Math.max(0, cy); y < Math.min(h, cy + sy); y++)
        draw.mask.fill(0, b * h * w + y * w + Math.max(0, cx), b * h * w + y * w + Math.min(w, cx + sx));
    }
  }
  return draw;
}

/** The draws of images [start, start + count) (a data-parallel replica's rows). */
export function sliceDraw(draw: AugmentDraw, start: number, count: number): AugmentDraw {
  const { h, w } = draw;
  return {
    n: count,
    h,
    w,
    ...(draw.rows ? { rows: draw.rows.slice(start * h * h, (start + count) * h * h), cols: draw.cols!.slice(start * w * w, (start + count) * w * w) } : {}),
    ...(draw.mask ? { mask: draw.mask.slice(start * h * w, (start + count) * h * w) } : {}),
  };
}

/**
 * Applies a draw to images [n, h, w, c] with tfjs ops (differentiable: G's step takes gradients
 * through it). Translation fills with the background (-1, black in the [-1, 1] range); the cut-out
 * square is 0, as DiffAugment's.
 */
export function augmentImages(images: tf.Tensor, draw: AugmentDraw): tf.Tensor {
  return tf.tidy(() => {
    const [n, h, w, c] = images.shape as [number, number, number, number];
    let x = images;
    if (draw.rows) {
      // Rows act on [n, h, w * c], columns on the transposed [n, w, h * c]: one batched product each.
      const rows = tf.tensor3d(draw.rows, [n, h, h]);
      const cols = tf.tensor3d(draw.cols!, [n, w, w]);
      const shiftedRows = tf.matMul(rows, tf.reshape(tf.add(x, 1), [n, h, w * c]));
      const byColumn = tf.reshape(tf.transpose(tf.reshape(shiftedRows, [n, h, w, c]), [0, 2, 1, 3]), [n, w, h * c]);
      const shifted = tf.matMul(cols, byColumn, true, false);
      x = tf.sub(tf.transpose(tf.reshape(shifted, [n, w, h, c]), [0, 2, 1, 3]), 1);
    }
    if (draw.mask) x = tf.mul(x, tf.tensor4d(draw.mask, [n, h, w, 1]));
    return x;
  });
}
