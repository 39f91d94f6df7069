import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultColumns, layoutGrid, toGray } from '../../shared/grid.ts';

test('toGray maps [-1, 1] to 0-255 like the seed, clamping and mapping NaN to black', () => {
  assert.deepEqual([-1, 0, 1, -2, 2, NaN].map(toGray), [0, 128, 255, 0, 255, 0]);
});

test('near-square default columns', () => {
  assert.deepEqual([1, 2, 4, 5, 16, 17, 256].map(defaultColumns), [1, 2, 2, 3, 4, 5, 16]);
});

test('layout places each cell with padding and nearest-neighbour scale', () => {
  // Three 1x2 images: [-1, 1], [1, -1], [0, 0]; two columns, padding 1, scale 2.
  const img = layoutGrid(new Float32Array([-1, 1, 1, -1, 0, 0]), 3, 1, 2, { cols: 2, padding: 1, scale: 2, background: 7 });
  assert.equal(img.width, 2 * 4 + 3);
  assert.equal(img.height, 2 * 2 + 3);
  const row = (y: number): number[] => Array.from(img.data.subarray(y * img.width, (y + 1) * img.width));
  assert.deepEqual(row(0), new Array(11).fill(7));
  assert.deepEqual(row(1), [7, 0, 0, 255, 255, 7, 255, 255, 0, 0, 7]);
  assert.deepEqual(row(2), row(1));
  assert.deepEqual(row(4), [7, 128, 128, 128, 128, 7, 7, 7, 7, 7, 7]);
});

test('a pixel count that does not match n x h x w is an error', () => {
  assert.throws(() => layoutGrid(new Float32Array(5), 2, 1, 2), /Expected 4 pixels for 2 images of 1x2 but received 5/);
});
