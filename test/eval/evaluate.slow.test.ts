import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Evaluation } from '../../eval/evaluate.ts';
import type { ModelManifest } from '../../shared/manifest.ts';
import { ganforgeSync, ROOT } from '../helpers/ganforge.ts';

// `ganforge eval` as a child process.

const models = join(ROOT, 'models');
const evalCli = (args: string[]) => ganforgeSync(['eval', ...args]);

test('npm run eval is seeded, writes JSON beside the model and into its manifest, and has reference rows', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-eval-'));
  for (const f of ['classifier.onnx', 'classifier.json', 'dense.onnx', 'dense.json']) await copyFile(join(models, f), join(dir, f));
  const run = (target: string, seed = '3') => {
    const r = evalCli([target, '--samples', '400', '--seed', seed, '--models-dir', dir]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  run('dense');
  const first = JSON.parse(await readFile(join(dir, 'dense.eval.json'), 'utf8')) as Evaluation;
  run('dense');
  const second = JSON.parse(await readFile(join(dir, 'dense.eval.json'), 'utf8')) as Evaluation;
  assert.deepEqual({ ...first, date: '' }, { ...second, date: '' });
  assert.equal(first.samples, 400);
  assert.equal(
    first.classHistogram.reduce((a, b) => a + b, 0),
    400,
  );
  assert.ok(first.fid > 0 && first.inceptionScore > 1 && first.inceptionScore <= 10);
  const manifest = JSON.parse(await readFile(join(dir, 'dense.json'), 'utf8')) as ModelManifest;
  assert.deepEqual(manifest.evaluation, second);
  run('dense', '4');
  const other = JSON.parse(await readFile(join(dir, 'dense.eval.json'), 'utf8')) as Evaluation;
  assert.notEqual(other.fid, first.fid);

  assert.match(run('real'), /^real: classifier-FID [\d.]+, IS [\d.]+/);
  const real = JSON.parse(await readFile(join(dir, 'reference-real.eval.json'), 'utf8')) as Evaluation;
  assert.equal(real.samples, 9000);
  assert.ok(real.fid < first.fid, `real digits (${real.fid}) score better than the dense GAN (${first.fid})`);
  run('gaussian');
  const gauss = JSON.parse(await readFile(join(dir, 'reference-gaussian.eval.json'), 'utf8')) as Evaluation;
  assert.ok(gauss.fid > real.fid);

  const bad = evalCli(['nope', '--models-dir', dir]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /nope\.onnx: cannot read \(ENOENT\); expected a model name in .*, an \.onnx file, 'real' or 'gaussian'/);
  assert.match(evalCli(['dense', '--samples', 'lots']).stderr, /Expected integer between 2 and 100000 for --samples but received 'lots'/);
});
