import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { convertLayersModel, difference, loadLayersModelFile, registerKerasLayers } from 'tfjs-to-onnx';
import { assertOptimised, runSession } from '../../packages/tfjs-to-onnx/test/helpers/convert.ts';
import { fromBase64, GOLDEN_DIR, generate, type Golden, MODELS_DIR, shippedGenerators, tfjsReference } from '../helpers/golden.ts';

// ganforge's own models through the converter package: the shipped generators and the classifier,
// converted again from their tfjs weights, give their committed outputs (the converter's own suite is
// packages/tfjs-to-onnx/test/).

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  registerKerasLayers();
});

test('the shipped generators and classifier, converted again, keep their committed outputs (within 1e-5)', async () => {
  let worstDiff = 0;
  for (const m of await shippedGenerators()) {
    const golden = JSON.parse(await readFile(join(GOLDEN_DIR, `${m.name}.json`), 'utf8')) as Golden;
    const result = await convertLayersModel(join(MODELS_DIR, `${m.name}.tfjs`, 'model.json'), {
      inputNames: m.inputs.map((i) => i.name),
      outputNames: m.outputs.map((o) => o.name),
    });
    assertOptimised(m.name, result.onnx);
    const session = await ort.InferenceSession.create(result.onnx);
    const g = await loadLayersModelFile(join(MODELS_DIR, `${m.name}.tfjs`, 'model.json'));
    for (const [i, seed] of golden.seeds.entries()) {
      const onnx = await generate(session, m, seed, golden.n);
      const reference = tfjsReference(g, m, seed, golden.n);
      const vsGolden = difference(
        { y: { dtype: 'float32', shape: [], data: fromBase64(golden.outputs[i]!) } },
        { y: { dtype: 'float32', shape: [], data: onnx } },
      ).abs;
      const vsTfjs = difference({ y: { dtype: 'float32', shape: [], data: reference } }, { y: { dtype: 'float32', shape: [], data: onnx } }).abs;
      worstDiff = Math.max(worstDiff, vsGolden, vsTfjs);
      assert.ok(
        vsGolden <= 1e-5 && vsTfjs <= 1e-5,
        `${m.name} seed ${seed}: |onnx - committed| = ${vsGolden}, |onnx - tfjs| = ${vsTfjs} (limit 1e-5 absolute)`,
      );
    }
    g.dispose();
    await session.release();
  }
  const classifier = await convertLayersModel(join(MODELS_DIR, 'classifier.tfjs', 'model.json'), { sampleBatch: 4 });
  const session = await ort.InferenceSession.create(classifier.onnx);
  const d = difference(classifier.sample!.outputs, await runSession(session, classifier.sample!.inputs));
  await session.release();
  worstDiff = Math.max(worstDiff, d.abs);
  assert.ok(d.abs <= 1e-5, `classifier: |onnx - tfjs| = ${d.abs}`);
  console.log(`# shipped models converted again: worst difference ${worstDiff.toExponential(2)} (vs committed outputs and tfjs)`);
});
