import assert from 'node:assert/strict';
import { test } from 'node:test';
import { curvesPng, curvesSvg, type MetricRecord } from '../../train/run-dir/plot.ts';

const records: MetricRecord[] = [1000, 2000, 3000].map((iteration, i) => ({ iteration, dLoss: 0.6 - i / 10, dAccuracy: 0.7, gLoss: 1 + i / 10 }));

/** The panel titles of an SVG, in order. */
function titles(svg: string): string[] {
  return [...svg.matchAll(/font-weight="bold">([^<]*)</g)].map((m) => m[1]!);
}

test('curves: losses and accuracy, then the FID panel only when evaluations were recorded', () => {
  assert.deepEqual(titles(curvesSvg(records)), ['Losses', 'Discriminator accuracy (%)']);
  const svg = curvesSvg(
    records,
    [],
    [
      { iteration: 2000, fid: 40 },
      { iteration: 3000, fid: 20 },
    ],
  );
  assert.deepEqual(titles(svg), ['Losses', 'Discriminator accuracy (%)', 'Classifier-FID (lower is better)']);
  assert.match(svg, /height="780"/);
});

test('curves: a conditional run also plots its worst digit, in percent', () => {
  const fids = [
    { iteration: 2000, fid: 40, classAccuracy: [0.9, 0.5, 0.95, 1, 1, 1, 1, 1, 1, 1] },
    { iteration: 3000, fid: 20, classAccuracy: [0.99, 0.97, 0.98, 1, 1, 1, 1, 1, 1, 1] },
  ];
  const svg = curvesSvg(records, [], fids);
  assert.deepEqual(titles(svg), [
    'Losses',
    'Discriminator accuracy (%)',
    'Classifier-FID (lower is better)',
    'Worst digit: % classified as asked (higher is better)',
  ]);
  assert.match(svg, /height="1040"/);
  // The worst digit's polyline: 50% then 97% on a 0-100 axis (plot height 194 px from y = 780 + 30).
  const lines = [...svg.matchAll(/<polyline points="([^"]*)"/g)].map((m) => m[1]!);
  const worst = lines
    .at(-1)!
    .split(' ')
    .map((p) => Number(p.split(',')[1]));
  const ph = 260 - 30 - 36;
  assert.deepEqual(
    worst.map((y) => Math.round(((780 + 30 + ph - y) / ph) * 100)),
    [50, 97],
  );
  assert.equal(curvesPng(records, [], fids).subarray(1, 4).toString(), 'PNG');
});

test('curves: no records is an error, not an empty image', () => {
  assert.throws(() => curvesPng([]), /No metric records to plot/);
});
