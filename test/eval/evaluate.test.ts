import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { PNG } from 'pngjs';
import { conversionBackend } from 'tfjs-to-onnx';
import type { ClassifierManifest } from '../../shared/manifest.ts';
import { DEFAULT_CONFIG } from '../../train/config.ts';
import { loadMnist } from '../../lib/data.ts';
import { createFidMonitor } from '../../train/classifier/fid-monitor.ts';
import { exportRun } from '../../train/export/export-run.ts';
import { train } from '../../train/gan/loop.ts';
import { isBetterEvaluation, readBest, readMetrics, RUN_FILES, type EvaluationRecord } from '../../train/run-dir/run-files.ts';
import { registerWasmConvKernels } from '../../train/tfjs/wasm-conv-kernels.ts';
import { registerWasmKernels } from '../../train/tfjs/wasm-kernels.ts';

const root = join(import.meta.dirname, '..', '..');
const models = join(root, 'models');

before(async () => {
  tf.enableProdMode();
  await tf.setBackend('wasm');
  registerWasmKernels();
  registerWasmConvKernels();
});

test('the shipped classifier reaches 98% on the held-out digits', async () => {
  const m = JSON.parse(await readFile(join(models, 'classifier.json'), 'utf8')) as ClassifierManifest;
  assert.ok(m.heldOutAccuracy >= 0.98, `held-out accuracy ${m.heldOutAccuracy}`);
  assert.deepEqual(m.split, { seed: m.split.seed, train: 9000, heldOut: 1000 });
  assert.match(m.command, /^npm run train:classifier/);
});

test('--eval-interval records the classifier-FID in the metrics file and the curve plot', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-fid-'));
  const config = { ...DEFAULT_CONFIG, iterations: 20, batchSize: 16, sampleInterval: 10, checkpointInterval: 10, evalInterval: 10, evalSamples: 200, out: dir };
  const lines: string[] = [];
  const monitor = await createFidMonitor(models, config.evalSamples, config.latentDim);
  await train({ config, runDir: dir, dataset: loadMnist(), backend: 'wasm', log: (l) => lines.push(l), evaluate: monitor });
  const fids = (await readMetrics(dir)).filter((l) => 'fid' in l);
  assert.deepEqual(
    fids.map((f) => f.iteration),
    [10, 20],
  );
  assert.ok(lines.some((l) => /^10 \[classifier-FID: [\d.]+ over 200 samples\]$/.test(l)));
  const plot = PNG.sync.read(await readFile(join(dir, RUN_FILES.curves)));
  assert.equal(plot.height, 3 * 260, 'a third panel for the FID');
});

test('a conditional run records per-digit accuracy, --keep-best keeps the best generator, and export --generator best ships it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-best-'));
  const config = {
    ...DEFAULT_CONFIG,
    model: 'cgan' as const,
    width: 0.125,
    iterations: 30,
    batchSize: 16,
    sampleInterval: 10,
    checkpointInterval: 10,
    evalInterval: 10,
    evalSamples: 200,
    fakeMode: 'training' as const,
    keepBest: 'class-accuracy' as const,
    out: dir,
  };
  const lines: string[] = [];
  const monitor = await createFidMonitor(models, config.evalSamples, config.latentDim);
  await train({ config, runDir: dir, dataset: loadMnist(), backend: 'wasm', log: (l) => lines.push(l), evaluate: monitor });
  const evals = (await readMetrics(dir)).filter((l): l is EvaluationRecord => 'fid' in l);
  assert.deepEqual(
    evals.map((e) => e.iteration),
    [10, 20, 30],
  );
  for (const e of evals) {
    assert.equal(e.classAccuracy?.length, 10);
    assert.ok(e.classAccuracy!.every((a) => a >= 0 && a <= 1));
  }
  assert.ok(
    lines.some((l) => /^10 \[classifier-FID: [\d.]+ over 200 samples\] \[digit accuracy: (\d+\/){9}\d+%, worst \d: [\d.]+%\]$/.test(l)),
    lines.join('\n'),
  );
  // The kept generator is the one the comparison prefers over every other evaluation.
  const best = (await readBest(dir))!;
  const expected = evals.reduce<EvaluationRecord | null>((b, e) => (isBetterEvaluation('class-accuracy', e, b) ? e : b), null)!;
  assert.deepEqual(best, expected);

  const modelsDir = join(dir, 'models');
  await conversionBackend();
  const manifest = await exportRun({ runDir: dir, name: 'best', modelsDir, command: 'test', generator: 'best' });
  await tf.setBackend('wasm');
  assert.equal(manifest.iterations, best.iteration);
  assert.deepEqual(manifest.selected, { by: 'class-accuracy', ...best });
  const report = (await readMetrics(dir)).find((l) => l.iteration === best.iteration && 'dLoss' in l) as { dLoss: number };
  assert.equal(manifest.finalLosses?.dLoss, report.dLoss, 'the losses of the exported iteration, not the last');
  assert.deepEqual(await readFile(join(modelsDir, 'best.tfjs', 'weights.bin')), await readFile(join(dir, RUN_FILES.bestGenerator, 'weights.bin')));
  const final = await exportRun({ runDir: dir, name: 'final', modelsDir, command: 'test' });
  assert.equal(final.iterations, 30);
  assert.equal(final.selected, undefined);
});

test('training shifts move digits and fill with the background', async () => {
  const { shiftImage } = await import('../../train/classifier/classifier.ts');
  const src = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const dst = new Float32Array(10).fill(0);
  shiftImage(src, dst, 1, 3, 3, 1, -1);
  assert.deepEqual(Array.from(dst), [0, -1, 4, 5, -1, 7, 8, -1, -1, -1]);
});

test('per-class accuracy counts, per requested digit, the samples the classifier agrees with', async () => {
  const { perClassAccuracy } = await import('../../shared/metrics.ts');
  const probs = new Float32Array(4 * 10);
  // Two samples asked to be 3 (one recognised), one asked to be 5 (recognised), one asked to be 0 (seen as 8).
  [3, 1, 5, 8].forEach((predicted, i) => {
    probs[i * 10 + predicted] = 1;
  });
  const acc = perClassAccuracy(probs, Int32Array.from([3, 3, 5, 0]));
  assert.equal(acc[3], 0.5);
  assert.equal(acc[5], 1);
  assert.equal(acc[0], 0);
  assert.ok(Number.isNaN(acc[9]), 'no samples asked for 9: NaN, not a misleading 0');
  assert.throws(() => perClassAccuracy(probs, Int32Array.from([3, 3, 5, 10])), /Expected integer between 0 and 9 for label 3 but received 10/);
});
