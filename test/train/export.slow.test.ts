import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { ModelManifest } from '../../shared/manifest.ts';
import { sampleLatents } from '../../shared/prng.ts';
import { loadLayersModelFile, saveLayersModel } from 'tfjs-to-onnx';
import { ganforgeSync } from '../helpers/ganforge.ts';
import { maxAbsDiff } from '../helpers/ort.ts';

// `ganforge train-export`, `export` and `convert` as child processes.
const tsx = (command: string, args: string[]) => ganforgeSync([command, ...args]);

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});

test('train:export --iterations 200 --name smoke leaves an ONNX file and honest manifest that match tfjs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-export-'));
  const models = join(dir, 'models');
  const args = ['--iterations', '200', '--name', 'smoke', '--models-dir', models, '--out', join(dir, 'run'), '--progress', 'plain'];
  const r = tsx('train-export', [...args]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /exported .*smoke\.onnx/);
  const manifest = JSON.parse(await readFile(join(models, 'smoke.json'), 'utf8')) as ModelManifest;
  const onnx = await readFile(join(models, 'smoke.onnx'));
  assert.equal(manifest.sha256, createHash('sha256').update(onnx).digest('hex'));
  assert.deepEqual(manifest.inputs, [{ name: 'latent', shape: ['batch', 100], dtype: 'float32' }]);
  assert.deepEqual(manifest.outputs, [{ name: 'image', shape: ['batch', 28, 28, 1], dtype: 'float32' }]);
  assert.deepEqual(
    [manifest.name, manifest.architecture, manifest.latentDim, manifest.iterations, manifest.opset, manifest.layout],
    ['smoke', 'dense', 100, 200, 17, 'NHWC'],
  );
  assert.deepEqual(manifest.valueRange, [-1, 1]);
  assert.equal(manifest.command, `npm run train:export -- ${args.join(' ')}`);
  assert.equal(manifest.backend, 'wasm');
  // Trained on the default engine here (no libtensorflow GPU): ort; it exports and scores like any run.
  assert.equal(manifest.engine, 'ort');
  const scored = tsx('eval', [join(models, 'smoke.onnx'), '--samples', '300']);
  assert.equal(scored.status, 0, scored.stderr);
  assert.match(scored.stdout, /FID/i);
  assert.ok(manifest.wallTimeMs > 0 && manifest.finalLosses !== null && manifest.finalLosses.gLoss > 0);
  assert.equal(manifest.training.batchSize, 128);

  const session = await ort.InferenceSession.create(onnx);
  const z = sampleLatents(7, 5, 100);
  const out = await session.run({ latent: new ort.Tensor('float32', z, [5, 100]) });
  assert.deepEqual(out.image!.dims, [5, 28, 28, 1]);
  const g = await loadLayersModelFile(join(models, 'smoke.tfjs', 'model.json'));
  const ref = (g.predict(tf.tensor2d(z, [5, 100])) as tf.Tensor).dataSync();
  assert.ok(maxAbsDiff(out.image!.data as Float32Array, ref) <= 1e-5);
  // The run keeps the tfjs weights too.
  const runModel = await readFile(join(dir, 'run', 'generator', 'weights.bin'));
  assert.ok(runModel.equals(await readFile(join(models, 'smoke.tfjs', 'weights.bin'))));

  // Re-exporting the finished run under another name gives the same ONNX bytes.
  const again = tsx('export', [join(dir, 'run'), '--name', 'again', '--models-dir', models]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(await readFile(join(models, 'again.json'), 'utf8')).sha256, manifest.sha256);

  // An existing model is never replaced by accident: refused before training, replaced with --force.
  const before = await readFile(join(models, 'smoke.json'));
  const over = tsx('export', [join(dir, 'run'), '--name', 'smoke', '--models-dir', models]);
  assert.equal(over.status, 1);
  assert.match(over.stderr, /smoke\.json exists: a model named 'smoke' is already there; choose another --name, or replace it with --force/);
  const retrain = tsx('train-export', ['--iterations', '1', '--name', 'smoke', '--models-dir', models, '--out', join(dir, 'run2')]);
  assert.equal(retrain.status, 1);
  assert.match(retrain.stderr, /smoke\.json exists/);
  assert.doesNotMatch(retrain.stdout, /backend:/, 'refused before any training');
  assert.deepEqual(await readFile(join(models, 'smoke.json')), before);
  const forced = tsx('export', [join(dir, 'run'), '--name', 'smoke', '--models-dir', models, '--force']);
  assert.equal(forced.status, 0, forced.stderr);
  assert.equal(JSON.parse(await readFile(join(models, 'smoke.json'), 'utf8')).sha256, manifest.sha256);
});

test('export errors: bad names, not a run folder, the gaussian baseline', async () => {
  const bad = tsx('train-export', ['--name', '../etc', '--iterations', '1']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /Expected 1-64 lowercase letters, digits, '-' or '_' .* for --name but received '\.\.\/etc'/);
  const missing = tsx('train-export', ['--iterations', '1']);
  assert.match(missing.stderr, /Expected --name <name> for npm run train:export/);
  const notRun = tsx('export', ['/nonexistent-run', '--name', 'x']);
  assert.match(notRun.stderr, /\/nonexistent-run: no config\.json; is it a run folder\?/);
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-gauss-'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ model: 'gaussian' }));
  assert.match(tsx('export', [dir, '--name', 'g']).stderr, /the gaussian baseline has no generator network to export/);
});

test('npm run convert works on any saved tfjs layers model', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-convert-'));
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, activation: 'softmax', name: 'probs' })] });
  await saveLayersModel(model, join(dir, 'm'));
  const r = tsx('convert', [join(dir, 'm', 'model.json'), join(dir, 'm.onnx')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /inputs probs_input \[batch,3\] float32; outputs probs \[batch,2\] float32/);
  const session = await ort.InferenceSession.create(await readFile(join(dir, 'm.onnx')));
  const out = await session.run({ probs_input: new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [1, 3]) });
  const ref = (model.predict(tf.tensor2d([[1, 2, 3]])) as tf.Tensor).dataSync();
  assert.ok(maxAbsDiff(out.probs!.data as Float32Array, ref) <= 1e-6);
  assert.match(tsx('convert', ['only-one']).stderr, /Expected 2 arguments for <model\.json> <out\.onnx> but received 'only-one'/);
});
