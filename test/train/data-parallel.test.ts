import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { type Dataset, loadMnist } from '../../lib/data.ts';
import { DEFAULT_CONFIG, parseTrainArgs, type TrainConfig } from '../../train/config.ts';
import { createSharedBuffer, SharedReducer, shardOf, weightedMean } from '../../train/gan/all-reduce.ts';
import { resolveWorkers } from '../../train/gan/data-parallel.ts';
import { train } from '../../train/gan/loop.ts';
import { RUN_FILES } from '../../train/run-dir/run-files.ts';
import { loadLayersModelFile } from '../../train/tfjs/model-io.ts';
import { maxAbsDiff } from '../helpers/ort.ts';

// Data-parallel training: worker threads, each with a replica, averaging gradients through shared memory.

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

test('weighted means, shards and the thread count', () => {
  const a = Float32Array.from([1, 2, 3]);
  const b = Float32Array.from([3, 6, 9]);
  const c = Float32Array.from([0, 0, 3]);
  assert.deepEqual(Array.from(weightedMean([a, b], [0.5, 0.5], 3)), [2, 4, 6]);
  assert.deepEqual(Array.from(weightedMean([a, b, c], [0.5, 0.25, 0.25], 3)), [1.25, 2.5, 4.5]);
  // Unequal shards cover the batch in order.
  assert.deepEqual(
    [0, 1, 2].map((r) => shardOf(10, 3, r)),
    [
      { start: 0, count: 4 },
      { start: 4, count: 3 },
      { start: 7, count: 3 },
    ],
  );
  assert.equal(resolveWorkers('auto', 'wasm', 2, 128), 2);
  assert.equal(resolveWorkers('auto', 'tensorflow', 8, 128), 1, 'libtensorflow already uses every core');
  assert.equal(resolveWorkers(4, 'wasm', 2, 3), 3, 'never more threads than rows');
  assert.deepEqual(parseTrainArgs(['--workers', '3']).overrides.workers, 3);
  assert.deepEqual(parseTrainArgs(['--workers', 'auto']).overrides.workers, 'auto');
  assert.throws(() => parseTrainArgs(['--workers', '0']), /^ParameterError: Expected auto or an integer between 1 and 256 for --workers but received '0'$/);
  assert.throws(() => parseTrainArgs(['--workers', 'many']), /Expected auto or an integer between 1 and 256 for --workers but received 'many'/);
});

test("a failed replica's error reaches the others at their next barrier, naming the worker", () => {
  const layout = { ranks: 2, capacity: 4, broadcastCapacity: 0 };
  const buffer = createSharedBuffer(layout);
  const main = new SharedReducer(buffer, layout, 0, [0.5, 0.5]);
  new SharedReducer(buffer, layout, 1, [0.5, 0.5]).fail('out of memory');
  assert.throws(() => main.barrier(), /^Error: data-parallel training failed: worker 1: out of memory$/);
  const lonely = new SharedReducer(createSharedBuffer(layout), layout, 0, [0.5, 0.5]);
  assert.throws(() => lonely.barrier(50), /the other workers did not answer within 0 s/);
});

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
