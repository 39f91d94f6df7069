import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.ts';
import { canvasVsServer, type Demo, generateIn, nodeGrid, openDemo, startDemo } from '../helpers/demo.ts';
import { maxAbsDiff } from '../helpers/ort.ts';

// The page on onnxruntime-web's WebGPU backend, in Chromium's software WebGPU adapter (SwiftShader),
// and its fallbacks to WASM when WebGPU fails in each way it can.

/**
 * WebGPU against onnxruntime-node's CPU provider: the GPU kernels sum and round in another order
 * (measured here: 1.5e-6 for dense, 5.4e-6 for dcgan, 8.2e-6 for cgan).
 */
const WEBGPU_TOLERANCE = 1e-4;
let demo: Demo;
let browser: Browser;

before(async () => {
  demo = await startDemo();
  browser = await launchChromium({ webgpu: true });
});
after(async () => {
  await browser?.close();
  await demo?.close();
});

test('WebGPU golden: the page runs on WebGPU, gives onnxruntime-node floats within tolerance, and draws the server PNG', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const info = await openDemo(page, `${demo.base}/?seed=11`);
  assert.deepEqual([info.backend, info.reason], ['webgpu', null]);
  assert.equal(await page.textContent('#runtime'), 'Runtime: onnxruntime-web on WebGPU.');
  const conditional = [...demo.models.values()].find((m) => m.manifest.inputs.length === 2)!;
  const worst: Record<string, number> = {};
  for (const [name, seeds, digit] of [
    ['dense', [0, 11, 4294967295], null],
    ['dcgan', [3, 4294967295], null],
    [conditional.manifest.name, [12], 7],
  ] as const) {
    await page.selectOption('#model', name);
    for (const seed of seeds) {
      const { floats } = await generateIn(page, seed, digit);
      const diff = maxAbsDiff(floats, await nodeGrid(demo.models.get(name)!, seed, digit));
      worst[name] = Math.max(worst[name] ?? 0, diff);
      assert.ok(diff <= WEBGPU_TOLERANCE, `${name} seed ${seed}: |webgpu - node| = ${diff}`);
      const query = `n=16&seed=${seed}&model=${name}${digit === null ? '' : `&digit=${digit}`}`;
      const grey = await canvasVsServer(page, `${demo.base}/sample?${query}`);
      assert.ok(grey <= 1, `${name} seed ${seed}: canvas differs from the server PNG by ${grey} grey levels`);
    }
  }
  console.log(`# webgpu vs node worst difference ${JSON.stringify(worst)}`);
  assert.equal(await page.evaluate(async () => (await (window as unknown as { ganforge: Promise<{ backend: string }> }).ganforge).backend), 'webgpu');
  await context.close();
});

for (const [fault, reason] of [
  ['no-adapter', 'WebGPU: no WebGPU adapter (fault injected)'],
  ['webgpu-create', 'WebGPU: session creation failed (fault injected)'],
  ['webgpu-run', 'WebGPU: run failed (fault injected)'],
  ['webgpu-nan', 'WebGPU: the result has NaN (first at index 0, fault injected)'],
] as const) {
  test(`fallback: with ?fault=${fault} the page runs on WASM, says why, and gives onnxruntime-node's floats`, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const info = await openDemo(page, `${demo.base}/?seed=5&fault=${fault}`);
    assert.deepEqual([info.backend, info.reason], ['wasm', reason]);
    assert.equal(await page.textContent('#runtime'), `Runtime: onnxruntime-web on WASM, ${info.threads} threads. Fallback from ${reason}.`);
    const { floats } = await generateIn(page, 5);
    assert.ok(maxAbsDiff(floats, await nodeGrid(demo.models.get('dense')!, 5)) <= 1e-5);
    assert.ok((await canvasVsServer(page, `${demo.base}/sample?n=16&seed=5`)) <= 1);
    await context.close();
  });
}

test('an unknown ?fault is an error naming the parameter and the choices', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${demo.base}/?fault=gpu-on-fire`);
  await page.waitForFunction(() => /^Could not start/.test(document.getElementById('status')!.textContent ?? ''));
  assert.equal(
    await page.textContent('#status'),
    "Could not start: Expected one of no-adapter, webgpu-create, webgpu-run, webgpu-nan for ?fault but received 'gpu-on-fire'",
  );
  await context.close();
});
