import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultCandidates, describeSelection, selectBackend, type BackendCandidate } from '../../train/tfjs/backend.ts';

tf.env().set('IS_TEST', true);
const failing = (name: BackendCandidate['name'], reason: string): BackendCandidate => ({
  name,
  tfName: 'tensorflow',
  install: `npm install pkg-for-${name}`,
  load: async () => {
    throw new Error(reason);
  },
});
const cpu: BackendCandidate = { name: 'cpu', tfName: 'cpu', install: 'npm install @tensorflow/tfjs', load: async () => {} };

test('auto falls back down the table and records why each backend was skipped', async () => {
  const sel = await selectBackend(tf, 'auto', [
    failing('tensorflow-gpu', 'libcudnn.so.8: cannot open'),
    failing('tensorflow', "Cannot find package '@tensorflow/tfjs-node'"),
    cpu,
  ]);
  assert.equal(sel.name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.deepEqual(sel.skipped, [
    { name: 'tensorflow-gpu', reason: 'libcudnn.so.8: cannot open' },
    { name: 'tensorflow', reason: "Cannot find package '@tensorflow/tfjs-node'" },
  ]);
  assert.equal(
    describeSelection(sel),
    "backend: cpu (skipped tensorflow-gpu: libcudnn.so.8: cannot open; tensorflow: Cannot find package '@tensorflow/tfjs-node')",
  );
});

test('a GPU build that sees no GPU is skipped, not used silently', async () => {
  const quietCpu: BackendCandidate = {
    name: 'tensorflow-gpu',
    tfName: 'cpu',
    install: 'x',
    load: async () => {},
    verify: async () => 'libtensorflow loaded but sees no CUDA GPU',
  };
  const sel = await selectBackend(tf, 'auto', [quietCpu, cpu]);
  assert.deepEqual(sel.skipped, [{ name: 'tensorflow-gpu', reason: 'libtensorflow loaded but sees no CUDA GPU' }]);
});

test('an explicit backend that cannot load is an error with install advice', async () => {
  await assert.rejects(
    selectBackend(tf, 'tensorflow', [failing('tensorflow', 'Cannot find package'), cpu]),
    /Backend 'tensorflow' is not available: Cannot find package\. Install it with: npm install pkg-for-tensorflow/,
  );
});

test('a backend lacking a kernel the model needs is skipped (auto) or refused (explicit)', async () => {
  tf.registerKernel({ kernelName: 'CpuOnlyKernel', backendName: 'cpu', kernelFunc: () => ({}) as tf.TensorInfo });
  const wasm = defaultCandidates().find((c) => c.name === 'wasm')!;
  const sel = await selectBackend(tf, 'auto', [wasm, cpu], ['CpuOnlyKernel']);
  assert.equal(sel.name, 'cpu');
  assert.deepEqual(sel.skipped, [{ name: 'wasm', reason: 'it has no CpuOnlyKernel kernel, which training this model needs' }]);
  await assert.rejects(
    selectBackend(tf, 'cpu', [cpu], ['NoSuchKernel']),
    /Backend 'cpu' cannot train this model: it has no NoSuchKernel kernel, which training this model needs; choose another --backend/,
  );
});

test('the real table on a machine without tfjs-node picks wasm and says why', async () => {
  const sel = await selectBackend(tf, 'auto', defaultCandidates());
  const tfjsNode = await import('@tensorflow/tfjs-node' as string).then(
    () => true,
    () => false,
  );
  if (!tfjsNode) {
    assert.equal(sel.name, 'wasm');
    assert.deepEqual(
      sel.skipped.map((s) => s.name),
      ['tensorflow-gpu', 'tensorflow'],
    );
    assert.match(sel.skipped[1]!.reason, /tfjs-node/);
  } else {
    assert.ok(['tensorflow-gpu', 'tensorflow'].includes(sel.name));
  }
});
