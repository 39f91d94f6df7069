import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { Browser } from 'playwright-core';
import { convertLayersModel, difference, type NamedTensors, registerKerasLayers, saveLayersModel, withinTolerance } from 'tfjs-to-onnx';
// The converter's own test models and helpers (packages/tfjs-to-onnx/test/helpers/).
import { acganGenerator, lstmTextClassifier, mobileNetV2Style, realisticWeights, unetStyle } from '../../packages/tfjs-to-onnx/test/helpers/architectures.ts';
import { runSession, tempDir, toleranceMessage } from '../../packages/tfjs-to-onnx/test/helpers/convert.ts';
import { launchChromium, staticServer } from '../helpers/browser.ts';

// Converted models load and run in onnxruntime-web (WASM, in Chromium) and give onnxruntime-node's outputs.

const root = join(import.meta.dirname, '..', '..');
const ortDist = join(root, 'node_modules', 'onnxruntime-web', 'dist');
let browser: Browser;

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  registerKerasLayers();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});

/** A page that loads onnxruntime-web's WASM bundle and runs a given .onnx file on given inputs. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>converted models</title>
<script type="module">
  import * as ort from './ort.wasm.bundle.min.mjs';
  ort.env.wasm.wasmPaths = { wasm: new URL('ort-wasm-simd-threaded.wasm', location.href).href };
  ort.env.wasm.numThreads = 1;
  window.runModel = async (file, inputs) => {
    const session = await ort.InferenceSession.create(file, { executionProviders: ['wasm'] });
    const feeds = {};
    for (const [name, t] of Object.entries(inputs)) {
      feeds[name] = new ort.Tensor(t.dtype, t.dtype === 'int32' ? Int32Array.from(t.data) : Float32Array.from(t.data), t.shape);
    }
    const out = await session.run(feeds);
    const result = {};
    for (const name of session.outputNames) result[name] = { dtype: out[name].type, shape: out[name].dims, data: Array.from(out[name].data) };
    await session.release();
    return result;
  };
  window.ready = true;
</script>`;

type Wire = Record<string, { dtype: 'float32' | 'int32'; shape: number[]; data: number[] }>;
const toWire = (t: NamedTensors): Wire =>
  Object.fromEntries(Object.entries(t).map(([n, v]) => [n, { dtype: v.dtype, shape: [...v.shape], data: Array.from(v.data) }]));
const fromWire = (w: Wire): NamedTensors =>
  Object.fromEntries(
    Object.entries(w).map(([n, v]) => [n, { dtype: v.dtype, shape: v.shape, data: v.dtype === 'int32' ? Int32Array.from(v.data) : Float32Array.from(v.data) }]),
  );

test('converted models (MobileNetV2-style at opset 13, masked LSTM text classifier, U-Net at opset 26, fp16 ACGAN generator) run in onnxruntime-web like in onnxruntime-node', async () => {
  const dir = await tempDir('onnx-web');
  for (const f of ['ort.wasm.bundle.min.mjs', 'ort-wasm-simd-threaded.wasm']) await copyFile(join(ortDist, f), join(dir, f));
  await writeFile(join(dir, 'index.html'), PAGE);
  const models = [
    { file: 'mobilenet-opset13.onnx', model: mobileNetV2Style(), fp16: false, opset: 13 },
    { file: 'text.onnx', model: lstmTextClassifier(30), fp16: false, opset: 17 },
    { file: 'unet-opset26.onnx', model: unetStyle(), fp16: false, opset: 26 },
    { file: 'acgan-fp16.onnx', model: acganGenerator(), fp16: true, opset: 17 },
  ];
  const runs: { file: string; inputs: NamedTensors; node: NamedTensors; ops: string[] }[] = [];
  for (const [i, m] of models.entries()) {
    realisticWeights(m.model, 60 + i);
    const saved = join(dir, m.file.replace('.onnx', ''));
    await saveLayersModel(m.model, saved);
    const result = await convertLayersModel(join(saved, 'model.json'), { fp16: m.fp16, opset: m.opset, sampleBatch: 3 });
    await writeFile(join(dir, m.file), result.onnx);
    const session = await ort.InferenceSession.create(result.onnx);
    const node = await runSession(session, result.sample!.inputs);
    await session.release();
    runs.push({ file: m.file, inputs: result.sample!.inputs, node, ops: Object.keys(result.ops) });
  }
  assert.ok(runs[1]!.ops.includes('Scan'), 'the text model runs a Scan (masked LSTMs)');
  const server = await staticServer(dir);
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    let worst = 0;
    for (const run of runs) {
      const wire = await page.evaluate(
        ([file, inputs]) => (window as unknown as { runModel: (f: string, i: unknown) => Promise<unknown> }).runModel(file as string, inputs),
        [run.file, toWire(run.inputs)] as const,
      );
      const web = fromWire(wire as Wire);
      for (const [name, t] of Object.entries(run.node)) assert.deepEqual(web[name]?.shape, [...t.shape], `${run.file}: ${name} shape`);
      const d = difference(run.node, web);
      worst = Math.max(worst, d.abs);
      assert.ok(withinTolerance(d), toleranceMessage(`${run.file}: onnxruntime-web vs onnxruntime-node`, d));
    }
    assert.deepEqual(errors, []);
    console.log(`# onnxruntime-web vs onnxruntime-node over ${runs.length} converted models: worst difference ${worst.toExponential(2)}`);
    await page.close();
  } finally {
    await server.close();
  }
});
