import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { Dataset } from '../../lib/data.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../train/config.ts';
import { train } from '../../train/gan/loop.ts';

// The conditional GANs' training loops, each for a few iterations (seconds of work in all).

before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

test('cgan, cgan with the auxiliary digit head, and acgan train on the labelled digits without leaking tensors; unlabelled data is refused', async () => {
  // 40 labelled 8x8 images (the conditional models need sides divisible by 4): fast on the JS backend.
  const data: Dataset = {
    images: Float32Array.from({ length: 40 * 64 }, (_, i) => Math.sin(i * 0.37)),
    labels: Uint8Array.from({ length: 40 }, (_, i) => i % 10),
    count: 40,
    height: 8,
    width: 8,
    source: 'synthetic',
  };
  for (const [model, auxWeight] of [
    ['cgan', 0],
    ['cgan', 0.5],
    ['acgan', 0],
  ] as const) {
    const out = await mkdtemp(join(tmpdir(), `ganforge-${model}-`));
    const config: TrainConfig = {
      ...DEFAULT_CONFIG,
      model,
      auxWeight,
      width: 0.25,
      latentDim: 16,
      iterations: 8,
      batchSize: 8,
      sampleInterval: 4,
      checkpointInterval: 4,
      fakeMode: 'training',
      out,
    };
    const counts = new Map<number, number>();
    const lines: string[] = [];
    await train({ config, runDir: out, dataset: data, backend: 'cpu', log: (l) => lines.push(l), tick: (i) => counts.set(i, tf.memory().numTensors) });
    assert.equal(counts.get(3), counts.get(8), `${model}: tensors leak`);
    assert.match(lines.join('\n'), /^8 \[D loss: [\d.]+, acc\.: [\d.]+%\] \[G loss: [\d.]+\]$/m);
    await assert.rejects(
      train({ config, runDir: out, dataset: { ...data, labels: null, source: 'idx:images-only' }, backend: 'cpu', log: () => {} }),
      /idx:images-only: the conditional GAN needs labels/,
    );
  }
});
