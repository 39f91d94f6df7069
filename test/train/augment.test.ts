import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng } from '../../shared/prng.ts';
import { type AugmentDraw, augmentImages, drawAugmentation, sliceDraw } from '../../train/gan/augment.ts';
import { parseTrainArgs } from '../../train/flags.ts';

const H = 28;
const W = 28;

/** The shift a 0/1 shift matrix [side, side] encodes: out[i] = x[i + shift] (rows) or out[:, j] = x[:, j + shift] (cols). */
function shiftOf(m: Float32Array, offset: number, side: number, transposed: boolean): number {
  for (let i = 0; i < side; i++) {
    for (let k = 0; k < side; k++) if (m[offset + (transposed ? k * side + i : i * side + k)] === 1) return k - i;
  }
  throw new Error('no 1 in the shift matrix');
}

test('translation: every image gets one shift per axis in [-4, 4] (1/8 of 28), and all of them occur', () => {
  const draw = drawAugmentation(new Prng(3), ['translation'], 400, H, W);
  assert.equal(draw.mask, undefined);
  const seen = new Set<number>();
  for (let b = 0; b < 400; b++) {
    for (const [m, side, t] of [
      [draw.rows!, H, false],
      [draw.cols!, W, true],
    ] as const) {
      const s = shiftOf(m, b * side * side, side, t);
      assert.ok(s >= -4 && s <= 4, `shift ${s}`);
      seen.add(s);
      // A shift matrix holds side - |s| ones.
      let ones = 0;
      for (let k = 0; k < side * side; k++) ones += m[b * side * side + k]!;
      assert.equal(ones, side - Math.abs(s));
    }
  }
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    [-4, -3, -2, -1, 0, 1, 2, 3, 4],
  );
});

test('cut-out: one zero square of 14x14 per image, clipped at the borders, anywhere in the image', () => {
  const draw = drawAugmentation(new Prng(5), ['cutout'], 300, H, W);
  assert.equal(draw.rows, undefined);
  let full = 0;
  let clipped = 0;
  for (let b = 0; b < 300; b++) {
    const zeros: Array<[number, number]> = [];
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (draw.mask![b * H * W + y * W + x] === 0) zeros.push([y, x]);
    const ys = zeros.map(([y]) => y);
    const xs = zeros.map(([, x]) => x);
    const [h, w] = [Math.max(...ys) - Math.min(...ys) + 1, Math.max(...xs) - Math.min(...xs) + 1];
    // The zeros fill their bounding box exactly (a rectangle), at most 14 on a side.
    assert.equal(zeros.length, h * w);
    assert.ok(h <= 14 && w <= 14 && h >= 1 && w >= 1);
    if (h === 14 && w === 14) full++;
    else {
      clipped++;
      assert.ok(Math.min(...ys) === 0 || Math.max(...ys) === H - 1 || Math.min(...xs) === 0 || Math.max(...xs) === W - 1, 'only a border clips');
    }
  }
  assert.ok(full > 0 && clipped > 0, `${full} whole squares, ${clipped} clipped`);
});

test("draws are the PRNG's: the same seed gives the same bytes, and no kinds draw nothing", () => {
  const a = drawAugmentation(new Prng(9), ['translation', 'cutout'], 8, H, W);
  const b = drawAugmentation(new Prng(9), ['translation', 'cutout'], 8, H, W);
  assert.deepEqual(a, b);
  const prng = new Prng(9);
  const none = drawAugmentation(prng, [], 8, H, W);
  assert.deepEqual(none, { n: 8, h: H, w: W });
  assert.equal(prng.nextUint32(), new Prng(9).nextUint32());
});

test("sliceDraw keeps a replica's rows of every part", () => {
  const draw = drawAugmentation(new Prng(2), ['translation', 'cutout'], 6, H, W);
  const part = sliceDraw(draw, 2, 3);
  assert.equal(part.n, 3);
  assert.deepEqual(part.rows, draw.rows!.slice(2 * H * H, 5 * H * H));
  assert.deepEqual(part.cols, draw.cols!.slice(2 * W * W, 5 * W * W));
  assert.deepEqual(part.mask, draw.mask!.slice(2 * H * W, 5 * H * W));
});

/** The augmentation by direct indexing: translation with -1 coming in, then the mask. */
function reference(x: Float32Array, draw: AugmentDraw, c: number): Float32Array {
  const { n, h, w } = draw;
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    const sy = draw.rows ? shiftOf(draw.rows, b * h * h, h, false) : 0;
    const sx = draw.cols ? shiftOf(draw.cols, b * w * w, w, true) : 0;
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        for (let k = 0; k < c; k++) {
          const [yy, xs] = [y + sy, xx + sx];
          const inside = yy >= 0 && yy < h && xs >= 0 && xs < w;
          // (v + 1) - 1 in float32, as the engines compute the shift with the background coming in.
          const v = !inside ? -1 : draw.rows ? Math.fround(Math.fround(x[((b * h + yy) * w + xs) * c + k]! + 1) - 1) : x[((b * h + yy) * w + xs) * c + k]!;
          out[((b * h + y) * w + xx) * c + k] = v * (draw.mask ? draw.mask[(b * h + y) * w + xx]! : 1);
        }
      }
    }
  }
  return out;
}

test('augmentImages shifts with the background coming in and cuts out with 0, exactly, for 1 and 3 channels', () => {
  const prng = new Prng(11);
  for (const c of [1, 3]) {
    const draw = drawAugmentation(prng, ['translation', 'cutout'], 5, H, W);
    const x = Float32Array.from({ length: 5 * H * W * c }, () => prng.nextFloat() * 2 - 1);
    const y = tf.tidy(() => augmentImages(tf.tensor4d(x, [5, H, W, c]), draw).dataSync() as Float32Array);
    // 0 * a negative value is -0 on one side and may be 0 on the other: compare with +0.
    assert.deepEqual(
      Array.from(y, (v) => v + 0),
      Array.from(reference(x, draw, c), (v) => v + 0),
    );
  }
});

test("augmentImages is differentiable: the gradient is the transform's transpose (what G's step uses)", () => {
  const prng = new Prng(13);
  const draw = drawAugmentation(prng, ['translation', 'cutout'], 3, H, W);
  const x = tf.randomNormal([3, H, W, 1], 0, 1, 'float32', 1);
  const r = tf.randomNormal([3, H, W, 1], 0, 1, 'float32', 2);
  const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(augmentImages(t, draw), r)))(x);
  // <grad, u> = <A u + 1-terms', r> - <A 0, r> for any u: the map is affine, so compare on basis-like probes.
  const f = (u: Float32Array): number => tf.tidy(() => tf.sum(tf.mul(augmentImages(tf.tensor4d(u, [3, H, W, 1]), draw), r)).dataSync()[0]!);
  const zero = f(new Float32Array(3 * H * W));
  const g = grad.dataSync();
  for (const i of [0, 5 * W + 7, H * W + 13 * W + 13, 2 * H * W + 27 * W + 27, 2 * H * W + 14 * W + 3]) {
    const u = new Float32Array(3 * H * W);
    u[i] = 1;
    assert.ok(Math.abs(f(u) - zero - g[i]!) < 1e-4, `pixel ${i}: ${f(u) - zero} vs ${g[i]}`);
  }
  tf.dispose([x, r, grad]);
});

test("--augment takes translation and cutout in any order, and none clears a preset's list", () => {
  assert.deepEqual(parseTrainArgs(['--augment', 'cutout,translation']).overrides.augment, ['translation', 'cutout']);
  assert.deepEqual(parseTrainArgs(['--augment', 'none']).overrides.augment, []);
  assert.throws(
    () => parseTrainArgs(['--augment', 'colour']),
    /Expected a comma-separated list of translation, cutout \(or none\) for --augment but received 'colour'/,
  );
});
