import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { loadLayersModelFile } from 'tfjs-to-onnx';
import { fromBase64, generate, GOLDEN_DIR, MODELS_DIR, shippedGenerators, type Golden, tfjsReference } from '../helpers/golden.ts';
import { maxAbsDiff } from '../helpers/ort.ts';

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});

test('models/ ships the dense generator and every shipped generator has an honest manifest', async () => {
  const models = await shippedGenerators();
  assert.ok(
    models.some((m) => m.name === 'dense'),
    'models/dense.json',
  );
  for (const m of models) {
    const onnx = await readFile(join(MODELS_DIR, `${m.name}.onnx`));
    assert.equal(createHash('sha256').update(onnx).digest('hex'), m.sha256, `${m.name}: sha256`);
    assert.match(m.command, /^npm run (train:export|export) -- /, `${m.name}: command`);
    assert.ok(m.iterations > 0 && m.wallTimeMs > 0, `${m.name}: iterations and wall time`);
  }
});

test('shipped generators: tfjs and onnxruntime-node agree on seeded latents, and match the committed outputs', async () => {
  let worst = 0;
  for (const m of await shippedGenerators()) {
    const golden = JSON.parse(
      await readFile(join(GOLDEN_DIR, `${m.name}.json`), 'utf8').catch(() => {
        throw new Error(`test/golden/${m.name}.json is missing: run npm run golden:update`);
      }),
    ) as Golden;
    assert.equal(golden.sha256, m.sha256, `models/${m.name}.onnx changed since its golden outputs were recorded (npm run golden:update)`);
    const session = await ort.InferenceSession.create(await readFile(join(MODELS_DIR, `${m.name}.onnx`)), { executionProviders: ['cpu'] });
    const g = await loadLayersModelFile(join(MODELS_DIR, `${m.name}.tfjs`, 'model.json'));
    for (const [i, seed] of golden.seeds.entries()) {
      const onnx = await generate(session, m, seed, golden.n);
      const reference = tfjsReference(g, m, seed, golden.n);
      const vsTfjs = maxAbsDiff(onnx, reference);
      const vsGolden = maxAbsDiff(onnx, fromBase64(golden.outputs[i]!));
      worst = Math.max(worst, vsTfjs, vsGolden);
      assert.ok(vsTfjs <= 1e-5, `${m.name} seed ${seed}: |onnx - tfjs| = ${vsTfjs}`);
      assert.ok(vsGolden <= 1e-5, `${m.name} seed ${seed}: |onnx - committed| = ${vsGolden}`);
    }
    g.dispose();
    await session.release();
  }
  console.log(`# shipped generators: worst difference ${worst.toExponential(2)}`);
});
