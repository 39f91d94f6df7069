import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { type Dataset, loadMnist } from '../../lib/data.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../train/config.ts';
import { train } from '../../train/gan/loop.ts';
import { RUN_FILES } from '../../train/run-dir/run-files.ts';
import { loadLayersModelFile } from 'tfjs-to-onnx';
import { maxAbsDiff } from '../helpers/ort.ts';

// Data-parallel training runs: 1, 2 and 3 threads (each loading its own tfjs), compared byte for byte.

let mnist: Dataset;
before(async () => {
  await tf.setBackend('cpu');
  mnist = loadMnist();
});

/** Trains in a new folder with `workers` threads and returns the folder. */
async function run(workers: number, overrides: Partial<TrainConfig> = {}, dir?: string, resume = false): Promise<string> {
  const out = dir ?? (await mkdtemp(join(tmpdir(), `ganforge-dp${workers}-`)));
  const config: TrainConfig = { ...DEFAULT_CONFIG, iterations: 4, batchSize: 12, sampleInterval: 2, checkpointInterval: 2, seed: 5, out, ...overrides };
  await train({ config, runDir: out, dataset: mnist, backend: 'cpu', workers, log: () => {}, resume });
  return out;
}

/** Every weight of the run's final G and D. */
async function weights(dir: string): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const net of [RUN_FILES.generator, RUN_FILES.discriminator]) {
    const model = await loadLayersModelFile(join(dir, net, 'model.json'));
    out.push(...model.getWeights().map((w) => w.dataSync() as Float32Array));
    model.dispose();
  }
  return out;
}

const bytes = async (dir: string): Promise<Buffer[]> =>
  Promise.all(
    [RUN_FILES.generator, RUN_FILES.discriminator, RUN_FILES.emaGenerator].map((net) => readFile(join(dir, net, 'weights.bin')).catch(() => Buffer.alloc(0))),
  );

test('without batch norm, 2 and 3 threads end where 1 thread does, within float tolerance', async () => {
  const one = await weights(await run(1));
  for (const workers of [2, 3]) {
    const many = await weights(await run(workers));
    let worst = 0;
    one.forEach((w, i) => {
      worst = Math.max(worst, maxAbsDiff(w, many[i]!));
    });
    // Summation order only. Adam divides by the gradient's size, so a rounding difference in a
    // near-zero gradient moves a weight by up to ~1e-6 per step: 4 steps stay below 1% of one step (lr 1e-3).
    assert.ok(worst < 1e-5, `${workers} threads differ from 1 by ${worst}`);
    assert.ok(worst > 0, 'not bit-identical: the averages are really computed');
  }
});

test('data-parallel runs are deterministic: the same seed and thread count give the same bytes', async () => {
  const [a, b] = [await run(2), await run(2)];
  assert.deepEqual(await bytes(a), await bytes(b));
  const other = await run(2, { seed: 6 });
  assert.notDeepEqual(await bytes(a), await bytes(other));
});

test('a resumed 2-thread run (batch norm, discriminator reset, EMA) ends with the bytes of an uninterrupted one', async () => {
  // The DCGAN has batch norm in both networks: replicas stay equal only if rank 0's statistics reach them.
  const dcgan: Partial<TrainConfig> = { model: 'dcgan', width: 0.1, batchSize: 6, iterations: 6, resetDiscriminatorAt: [3], emaDecay: 0.5 };
  const straight = await run(2, dcgan);
  const split = await run(2, { ...dcgan, iterations: 4 });
  await run(2, dcgan, split, true);
  const resumed = await bytes(split);
  assert.ok(resumed[2]!.length > 0, 'the EMA generator is saved');
  assert.deepEqual(resumed, await bytes(straight));
  const metrics = async (dir: string): Promise<string> =>
    (await readFile(join(dir, RUN_FILES.metrics), 'utf8'))
      .split('\n')
      .map((l) => l.replace(/"elapsedMs":\d+/, ''))
      .join('\n');
  assert.equal(await metrics(split), await metrics(straight));
});
