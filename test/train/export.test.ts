import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { loadLayersModelFile, saveLayersModel } from 'tfjs-to-onnx';

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});

test('malformed model.json and weight files get clear errors', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-bad-'));
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 })] });
  await saveLayersModel(model, join(dir, 'good'));
  const json = JSON.parse(await readFile(join(dir, 'good', 'model.json'), 'utf8'));
  const weights = await readFile(join(dir, 'good', 'weights.bin'));
  const variant = async (name: string, mutate: (j: typeof json) => void, bytes: Uint8Array = weights): Promise<string> => {
    const d = join(dir, name);
    await mkdir(d, { recursive: true });
    const copy = structuredClone(json);
    mutate(copy);
    await writeFile(join(d, 'model.json'), JSON.stringify(copy));
    await writeFile(join(d, 'weights.bin'), bytes);
    return join(d, 'model.json');
  };
  const missingWeight = await variant('missing', (j) => j.weightsManifest[0].weights.pop(), weights.subarray(0, weights.length - 8));
  await assert.rejects(loadLayersModelFile(missingWeight), /missing\/model\.json: 1 of 2 weights are not set: dense_Dense\d+\/bias/);
  const short = await variant('short', () => {}, weights.subarray(0, weights.length - 4));
  await assert.rejects(loadLayersModelFile(short), /short\/model\.json: weight files \.\/weights\.bin hold 28 bytes but the manifest describes 32/);
  const dtype = await variant('dtype', (j) => (j.weightsManifest[0].weights[0].dtype = 'float64'));
  await assert.rejects(loadLayersModelFile(dtype), /weight 'dense_Dense\d+\/kernel' has unknown dtype 'float64' \(expected float32, int32, bool\)/);
  const noFile = await variant('nofile', (j) => (j.weightsManifest[0].paths = ['./gone.bin']));
  await assert.rejects(loadLayersModelFile(noFile), /nofile\/gone\.bin: cannot read weight file listed in .*model\.json \(ENOENT\)/);
  const notLayers = await variant('graph', (j) => (j.format = 'graph-model'));
  await assert.rejects(loadLayersModelFile(notLayers), /format 'graph-model' is not a layers model/);
  await writeFile(join(dir, 'broken.json'), '{"modelTopology": ');
  await assert.rejects(loadLayersModelFile(join(dir, 'broken.json')), /broken\.json: invalid JSON/);
  await assert.rejects(loadLayersModelFile(join(dir, 'none.json')), /none\.json: cannot read \(ENOENT\)/);
});
