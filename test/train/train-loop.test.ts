import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { PNG } from 'pngjs';
import { loadCheckpoint } from '../../train/run-dir/checkpoint.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../train/config.ts';
import { loadDataset, loadMnist, type Dataset } from '../../lib/data.ts';
import { train, type RunContext } from '../../train/gan/loop.ts';
import { formatEvaluation, isBetterEvaluation, readMetrics, RUN_FILES } from '../../train/run-dir/run-files.ts';
import { registerWasmKernels } from '../../train/tfjs/wasm-kernels.ts';
import { idxFile } from '../helpers/idx.ts';

let mnist: Dataset;
before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('wasm');
  registerWasmKernels();
  mnist = loadMnist();
});

const small: Partial<TrainConfig> = { iterations: 30, batchSize: 16, sampleInterval: 10, checkpointInterval: 10, seed: 5 };

async function run(
  overrides: Partial<TrainConfig>,
  extra: Partial<RunContext> = {},
): Promise<{ dir: string; lines: string[]; result: Awaited<ReturnType<typeof train>> }> {
  const dir = extra.runDir ?? (await mkdtemp(join(tmpdir(), 'ganforge-run-')));
  const lines: string[] = [];
  const config: TrainConfig = { ...DEFAULT_CONFIG, ...small, ...overrides, out: dir };
  const result = await train({ config, runDir: dir, dataset: mnist, backend: 'wasm', log: (l) => lines.push(l), ...extra });
  return { dir, lines, result };
}

/** Every tensor of a run's checkpoint (weights and optimizer state), its iteration and RNG state. */
async function finalWeights(dir: string): Promise<Buffer> {
  const ck = await loadCheckpoint(join(dir, RUN_FILES.checkpoint));
  const tensors = Object.values(ck.groups).flat();
  const bytes = Buffer.concat([Buffer.from(JSON.stringify([ck.iteration, ck.rng])), ...tensors.map((t) => Buffer.from((t.dataSync() as Float32Array).buffer))]);
  tf.dispose(tensors);
  return bytes;
}

test("a run prints the seed's lines and writes metrics, grids, curves, config, checkpoint and tfjs models", async () => {
  const { dir, lines, result } = await run({});
  const reports = lines.filter((l) => /^\d+ \[D loss/.test(l));
  assert.equal(reports.length, 3);
  for (const l of reports) assert.match(l, /^\d+ \[D loss: \d+\.\d{6}, acc\.: \d+\.\d{2}%\] \[G loss: \d+\.\d{6}\]$/);
  assert.equal(result.iteration, 30);
  const metrics = await readMetrics(dir);
  assert.deepEqual(
    metrics.map((m) => m.iteration),
    [10, 20, 30],
  );
  const grids = (await readdir(join(dir, RUN_FILES.samples))).sort();
  assert.deepEqual(grids, ['iter-10.png', 'iter-20.png', 'iter-30.png']);
  const grid = PNG.sync.read(await readFile(join(dir, RUN_FILES.samples, grids[0]!)));
  // 4x4 cells of 28x28 scaled x2 with 2-pixel padding.
  assert.deepEqual([grid.width, grid.height], [4 * 56 + 5 * 2, 4 * 56 + 5 * 2]);
  const curves = PNG.sync.read(await readFile(join(dir, RUN_FILES.curves)));
  assert.ok(curves.width > 500 && curves.height > 300);
  const config = JSON.parse(await readFile(join(dir, RUN_FILES.config), 'utf8'));
  assert.deepEqual([config.iterations, config.batchSize, config.backend, config.iterationsDone, config.dataSource], [30, 16, 'wasm', 30, 'mnist']);
  const model = JSON.parse(await readFile(join(dir, RUN_FILES.generator, 'model.json'), 'utf8'));
  assert.equal(model.format, 'layers-model');
  const weights = await readFile(join(dir, RUN_FILES.generator, 'weights.bin'));
  assert.equal(weights.length, 114064 * 4);
  const loaded = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: model.weightsManifest[0].weights, weightData: new Uint8Array(weights).buffer }),
  );
  assert.deepEqual(loaded.outputs[0]!.shape, [null, 28, 28, 1]);
});

test('the same seed gives the same run; another seed does not', async () => {
  const a = await run({ iterations: 12 });
  const b = await run({ iterations: 12 });
  const c = await run({ iterations: 12, seed: 6 });
  assert.ok((await finalWeights(a.dir)).equals(await finalWeights(b.dir)));
  assert.ok(!(await finalWeights(a.dir)).equals(await finalWeights(c.dir)));
});

test('a run stopped by a signal and resumed ends with the same weights as an uninterrupted one', async () => {
  const whole = await run({});
  let at = 0;
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-resume-'));
  const first = await run({}, { runDir: dir, shouldStop: () => at === 13, tick: (i) => (at = i) });
  assert.equal(first.result.stopped, true);
  assert.equal(first.result.iteration, 13);
  assert.equal((await loadCheckpoint(join(dir, RUN_FILES.checkpoint))).iteration, 13);
  assert.match(first.lines.at(-1)!, /stopped at iteration 13; checkpoint saved, continue with --resume/);
  const second = await run({}, { runDir: dir, resume: true });
  assert.equal(second.result.iteration, 30);
  assert.ok((await finalWeights(dir)).equals(await finalWeights(whole.dir)), 'checkpoints identical');
  assert.deepEqual(
    (await readMetrics(dir)).map((m) => ({ ...m, elapsedMs: 0 })),
    (await readMetrics(whole.dir)).map((m) => ({ ...m, elapsedMs: 0 })),
  );
});

test('a run can be extended by resuming with more iterations', async () => {
  const whole = await run({});
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-extend-'));
  await run({ iterations: 20 }, { runDir: dir });
  await run({ iterations: 30 }, { runDir: dir, resume: true });
  assert.ok((await finalWeights(dir)).equals(await finalWeights(whole.dir)));
});

test('the discriminator reset re-initialises D and its optimizer, keeps G, and is logged', async () => {
  const { dir, lines } = await run({ iterations: 20, resetDiscriminatorAt: [10] }, {});
  const plain = await run({ iterations: 20 });
  assert.ok(lines.includes('10 discriminator re-initialised (weights and optimizer state); generator kept'));
  const events = (await readMetrics(dir)).filter((m) => 'event' in m);
  assert.deepEqual(events, [{ iteration: 10, event: 'reset-discriminator' }]);
  // Reports up to the reset are those of a run without one.
  const strip = (m: object): object => ({ ...m, elapsedMs: 0 });
  assert.deepEqual(strip((await readMetrics(dir))[0]!), strip((await readMetrics(plain.dir))[0]!));
  // Stop right after the reset: D's optimizer has taken no step, G's has taken 10.
  const stopDir = await mkdtemp(join(tmpdir(), 'ganforge-reset-'));
  let at = 0;
  await run({ iterations: 20, resetDiscriminatorAt: [10] }, { runDir: stopDir, tick: (i) => (at = i), shouldStop: () => at === 10 });
  const ck = await loadCheckpoint(join(stopDir, RUN_FILES.checkpoint));
  assert.equal(ck.groups.gOptimizer![0]!.dataSync()[0], 10);
  assert.equal(ck.groups.dOptimizer![0]!.dataSync()[0], 0);
  assert.equal(ck.groups.dOptimizer!.length, 3, 'no Adam slots yet');
  const plainCk = await loadCheckpoint(join(plain.dir, RUN_FILES.checkpoint));
  assert.notDeepEqual(ck.groups.discriminator![0]!.dataSync(), plainCk.groups.discriminator![0]!.dataSync());
});

test('training leaks no tensors: the count is the same after N and N+k iterations', async () => {
  const counts = new Map<number, number>();
  await run({ iterations: 25, model: 'dense' }, { tick: (i) => counts.set(i, tf.memory().numTensors) });
  assert.equal(counts.get(5), counts.get(25));
  assert.equal(counts.get(11), counts.get(24));
});

test('any IDX grey image size trains, and the gaussian baseline writes a grid', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-idx-train-'));
  const images = Array.from({ length: 20 * 8 * 12 }, (_, i) => (i * 31) % 256);
  await writeFile(join(dir, 'img.idx'), idxFile([20, 8, 12], images));
  const data = await loadDataset(`idx:${join(dir, 'img.idx')}`);
  const out = join(dir, 'run');
  const config: TrainConfig = { ...DEFAULT_CONFIG, ...small, iterations: 5, sampleInterval: 5, batchSize: 4, out };
  const lines: string[] = [];
  await train({ config, runDir: out, dataset: data, backend: 'wasm', log: (l) => lines.push(l) });
  const grid = PNG.sync.read(await readFile(join(out, RUN_FILES.samples, 'iter-5.png')));
  assert.deepEqual([grid.width, grid.height], [4 * 24 + 10, 4 * 16 + 10]);
  const gdir = join(dir, 'gauss');
  await train({ config: { ...config, model: 'gaussian', out: gdir }, runDir: gdir, dataset: data, backend: 'wasm', log: () => {} });
  const g = PNG.sync.read(await readFile(join(gdir, RUN_FILES.samples, 'gaussian.png')));
  assert.deepEqual([g.width, g.height], [4 * 24 + 10, 4 * 16 + 10]);
});

test('--keep-best compares evaluations: lower FID, or higher worst-digit accuracy with FID breaking ties', () => {
  const a = { iteration: 1000, fid: 40, classAccuracy: [0.95, 0.99, 0.9, 0.85, 0.97, 0.88, 0.92, 0.93, 0.84, 0.86] };
  const b = { iteration: 2000, fid: 45, classAccuracy: [0.93, 0.98, 0.9, 0.9, 0.95, 0.9, 0.91, 0.93, 0.9, 0.91] };
  assert.equal(isBetterEvaluation('fid', a, null), true, 'anything beats nothing');
  assert.equal(isBetterEvaluation('fid', b, a), false);
  assert.equal(isBetterEvaluation('fid', a, b), true);
  assert.equal(isBetterEvaluation('class-accuracy', b, a), true, 'worst digit 90% beats 84% despite the higher FID');
  assert.equal(isBetterEvaluation('class-accuracy', a, b), false);
  assert.equal(isBetterEvaluation('class-accuracy', { ...b, fid: 44 }, b), true, 'same worst digit: the lower FID wins');
  assert.equal(isBetterEvaluation('class-accuracy', b, b), false, 'equal is not better');
  assert.equal(formatEvaluation(b, 5000), '2000 [classifier-FID: 45.000 over 5000 samples] [digit accuracy: 93/98/90/90/95/90/91/93/90/91%, worst 2: 90.0%]');
  assert.equal(formatEvaluation({ iteration: 10, fid: 1.5 }, 200), '10 [classifier-FID: 1.500 over 200 samples]');
});
