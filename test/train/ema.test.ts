import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { type Dataset, loadMnist } from '../../lib/data.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../train/config.ts';
import { updateEma } from '../../train/gan/ema.ts';
import { buildOptions } from '../../train/gan/iteration.ts';
import { train } from '../../train/gan/loop.ts';
import { buildGan } from '../../train/gan/models.ts';
import { exportRun } from '../../train/export/export-run.ts';
import { RUN_FILES } from '../../train/run-dir/run-files.ts';
import { loadLayersModelFile } from 'tfjs-to-onnx';
import { maxAbsDiff } from '../helpers/ort.ts';

// The exponential moving average of the generator's weights (--ema-decay).

let mnist: Dataset;
before(async () => {
  await tf.setBackend('cpu');
  mnist = loadMnist();
});

const weightsOf = async (dir: string): Promise<Float32Array[]> => {
  const m = await loadLayersModelFile(join(dir, 'model.json'));
  const out = m.getWeights().map((w) => w.dataSync() as Float32Array);
  m.dispose();
  return out;
};

test('updateEma: every weight becomes decay * ema + (1 - decay) * source', () => {
  const make = (): tf.Sequential => tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 2 }), tf.layers.batchNormalization()] });
  const [ema, source] = [make(), make()];
  ema.setWeights(ema.getWeights().map((w) => tf.fill(w.shape, 1)));
  source.setWeights(source.getWeights().map((w) => tf.fill(w.shape, 3)));
  const before = tf.memory().numTensors;
  updateEma(ema, source, 0.75);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  for (const w of ema.getWeights()) assert.deepEqual(Array.from(w.dataSync()), new Array(w.size).fill(0.75 * 1 + 0.25 * 3));
  const other = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 2 })] });
  assert.throws(() => updateEma(ema, other, 0.5), /EMA generator has 6 weights, the generator 2/);
});

test('a run with --ema-decay saves the average: after one iteration d * G0 + (1 - d) * G1', async () => {
  const out = await mkdtemp(join(tmpdir(), 'ganforge-ema-'));
  const config: TrainConfig = { ...DEFAULT_CONFIG, iterations: 1, batchSize: 8, sampleInterval: 1, checkpointInterval: 1, seed: 3, emaDecay: 0.9, out };
  await train({ config, runDir: out, dataset: mnist, backend: 'cpu', log: () => {} });
  const gan = buildGan('dense', buildOptions(config, mnist, config.seed));
  const g0 = gan.generator.getWeights().map((w) => w.dataSync() as Float32Array);
  gan.generator.dispose();
  gan.discriminator.dispose();
  const g1 = await weightsOf(join(out, RUN_FILES.generator));
  const ema = await weightsOf(join(out, RUN_FILES.emaGenerator));
  assert.equal(ema.length, g0.length);
  ema.forEach((w, i) => {
    const expected = g0[i]!.map((v, j) => 0.9 * v + 0.1 * g1[i]![j]!);
    assert.ok(maxAbsDiff(w, expected) < 1e-7, `weight ${i}`);
    assert.ok(maxAbsDiff(w, g1[i]!) > 0, 'the average is not the generator');
  });
  // Exportable; a run without the average says so.
  const models = await mkdtemp(join(tmpdir(), 'ganforge-ema-models-'));
  const manifest = await exportRun({ runDir: out, name: 'ema-test', modelsDir: models, command: 'test', generator: 'ema' });
  assert.equal(manifest.name, 'ema-test');
  assert.deepEqual(await readFile(join(models, 'ema-test.tfjs', 'weights.bin')), await readFile(join(out, RUN_FILES.emaGenerator, 'weights.bin')));
  const plain = await mkdtemp(join(tmpdir(), 'ganforge-no-ema-'));
  await train({ config: { ...config, emaDecay: 0, out: plain }, runDir: plain, dataset: mnist, backend: 'cpu', log: () => {} });
  await assert.rejects(
    exportRun({ runDir: plain, name: 'x', modelsDir: models, command: 'test', generator: 'ema' }),
    new RegExp(`${plain}: --generator ema needs a run trained with --ema-decay`),
  );
});
