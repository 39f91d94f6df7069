import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { type Dataset, loadMnist } from '../../lib/data.ts';
import { Prng } from '../../shared/prng.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../train/config.ts';
import { newStepState, type StepLosses, step } from '../../train/gan/iteration.ts';
import { type RunContext, train } from '../../train/gan/loop.ts';
import { OrtEngine } from '../../train/ort/engine.ts';
import { checkTrainable } from '../../train/ort/lower.ts';
import { loadCheckpoint } from '../../train/run-dir/checkpoint.ts';
import { readMetrics, RUN_FILES } from '../../train/run-dir/run-files.ts';
import { registerWasmConvKernels } from '../../train/tfjs/wasm-conv-kernels.ts';
import { registerWasmKernels } from '../../train/tfjs/wasm-kernels.ts';
import { loadLayersModelFile } from 'tfjs-to-onnx';
import { resolveEngine } from '../../train/run.ts';

let mnist: Dataset;
before(async () => {
  await tf.setBackend('wasm');
  registerWasmKernels();
  registerWasmConvKernels();
  mnist = loadMnist();
});

const read = (l: StepLosses): number[] => [l.dReal.loss, l.dReal.accuracy, l.dFake.loss, l.dFake.accuracy, l.gLoss].map((t) => t.dataSync()[0]!);

/**
 * One iteration (D on real, D on fakes, G through D) from identical weights and batches on both
 * engines. Losses agree to float rounding. Weights agree within 1e-5 of each tensor's scale except
 * where Adam's first step is decided by float noise: its step is lr * m / (sqrt(v) + eps), about
 * +-lr whatever the gradient's size, so a gradient entry that is zero up to rounding (the biases of
 * layers followed by batch norm, whose true gradient is exactly 0, and a few near-zero entries of
 * other tensors) becomes a +-lr step whose sign is the rounding's. Those may differ by up to 2 lr per update.
 */
async function oneStep(overrides: Partial<TrainConfig>, noisyShare = 0.02): Promise<void> {
  const config: TrainConfig = { ...DEFAULT_CONFIG, batchSize: 16, width: 0.25, ...overrides };
  const a = newStepState(config, mnist, new Prng(1), 1);
  const b = newStepState(config, mnist, new Prng(1), 1);
  const engine = await OrtEngine.create({ ...b, ema: null }, { threads: 1 });
  try {
    const la = read(step(a));
    const lb = read(await engine.step(b));
    for (const [i, v] of la.entries()) assert.ok(Math.abs(v - lb[i]!) <= 1e-5 * Math.max(1, Math.abs(v)), `loss ${i}: tfjs ${v}, ort ${lb[i]}`);
    await engine.store({ ...b, ema: null });
    const beforeBatchNorm = new Set(biasesBeforeBatchNorm(a.generator).concat(biasesBeforeBatchNorm(a.discriminator)));
    // D takes two Adam steps per iteration, G one.
    for (const [ma, mb, updates] of [
      [a.generator, b.generator, 1],
      [a.discriminator, b.discriminator, 2],
    ] as const) {
      ma.weights.forEach((w, i) => {
        const x = w.read().dataSync();
        const y = mb.weights[i]!.read().dataSync();
        let scale = 1e-3;
        for (const v of x) scale = Math.max(scale, Math.abs(v as number));
        let off = 0;
        for (let k = 0; k < x.length; k++) {
          const diff = Math.abs(x[k]! - y[k]!);
          assert.ok(diff <= 2 * updates * config.lr + 1e-5 * scale, `${w.name}[${k}]: tfjs ${x[k]}, ort ${y[k]}`);
          if (diff > 1e-5 * scale) off++;
        }
        // Moving statistics follow those biases; everything else agrees but for a few noise-decided entries.
        const noisy = beforeBatchNorm.has(w.name) || w.name.includes('moving_mean');
        if (!noisy) assert.ok(off <= Math.max(1, noisyShare * x.length), `${w.name}: ${off} of ${x.length} values differ by more than 1e-5 relative`);
      });
    }
  } finally {
    await engine.close();
  }
}

/** Names of the bias weights of layers whose next layer is a batch norm. */
function biasesBeforeBatchNorm(model: tf.LayersModel): string[] {
  const layers = model.layers.flatMap((l) => ('layers' in l ? (l as tf.LayersModel).layers : [l]));
  return layers.flatMap((l, i) =>
    layers[i + 1]?.getClassName() === 'BatchNormalization' ? l.weights.filter((w) => w.name.endsWith('bias')).map((w) => w.name) : [],
  );
}

test('one iteration on ort equals tfjs: dense', () => oneStep({ model: 'dense' }));
test('one iteration on ort equals tfjs: dcgan (batch norm)', () => oneStep({ model: 'dcgan' }));
test('one iteration on ort equals tfjs: cgan (embeddings, fakes in training mode, label smoothing)', () =>
  oneStep({ model: 'cgan', fakeMode: 'training', labelSmoothing: 0.1 }));
test('one iteration on ort equals tfjs: cgan with the rejecting auxiliary head', () => oneStep({ model: 'cgan', auxWeight: 2, auxFakes: 'reject' }));
test('one iteration on ort equals tfjs: acgan', () => oneStep({ model: 'acgan' }));
test('one iteration on ort equals tfjs: dcgan with DiffAugment (translation and cut-out, through G too)', () =>
  oneStep({ model: 'dcgan', augment: ['translation', 'cutout'] }));
// The label map cgan's D stacks onto the image holds embeddings of +-0.05, so the first kernel's
// label-channel gradients are small and Adam's sign-like first steps amplify their rounding: 8 of
// its 144 entries (the label channel of one filter) differ by ~1% of an update here.
test('one iteration on ort equals tfjs: cgan with translation only (the labelled D sees augmented images)', () =>
  oneStep({ model: 'cgan', augment: ['translation'], auxWeight: 1, auxFakes: 'reject' }, 0.06));

async function runLoop(overrides: Partial<TrainConfig>, engine: 'ort' | 'tfjs', extra: Partial<RunContext> = {}): Promise<string> {
  const dir = extra.runDir ?? (await mkdtemp(join(tmpdir(), `ganforge-${engine}-`)));
  const config: TrainConfig = { ...DEFAULT_CONFIG, batchSize: 32, width: 0.25, seed: 9, sampleInterval: 1, checkpointInterval: 10, ...overrides, out: dir };
  await train({ config, runDir: dir, dataset: mnist, backend: 'wasm', log: () => {}, engine, workers: 1, ...extra });
  return dir;
}

async function lossCurves(dir: string): Promise<number[][]> {
  return (await readMetrics(dir)).filter((m) => 'dLoss' in m).map((m) => [m.dLoss as number, m.gLoss as number]);
}

for (const model of ['dense', 'dcgan'] as const) {
  test(`${model}: 20 iterations on both engines give the same losses (1e-3 at iteration 1, 2e-2 through 20)`, async () => {
    const overrides = { model, iterations: 20 };
    const ort = await lossCurves(await runLoop(overrides, 'ort'));
    const tfjs = await lossCurves(await runLoop(overrides, 'tfjs'));
    assert.equal(ort.length, 20);
    ort.forEach((row, i) => {
      row.forEach((v, k) => {
        const ref = tfjs[i]![k]!;
        const tol = i === 0 ? 1e-3 : 2e-2;
        assert.ok(Math.abs(v - ref) <= tol * Math.abs(ref), `iteration ${i + 1}, ${k === 0 ? 'D' : 'G'} loss: ort ${v}, tfjs ${ref}`);
      });
    });
  });
}

test('--d-warmup, --init-generator, --eval-interval and --keep-best work on ort as on tfjs (cgan, digit head)', async () => {
  const base: Partial<TrainConfig> = { model: 'cgan', iterations: 6, batchSize: 16, dWarmup: 3, auxWeight: 1, auxFakes: 'reject', fakeMode: 'training' };
  const evaluate = (g: tf.LayersModel): { fid: number; classAccuracy: number[] } => {
    // A stand-in score that depends on G's weights: the mean of its first kernel.
    const fid = Math.abs(g.getWeights()[1]!.mean().dataSync()[0]!);
    return { fid, classAccuracy: Array.from({ length: 10 }, () => fid) };
  };
  const extra = { evaluate };
  const withEval = { ...base, evalInterval: 2, keepBest: 'fid' as const };
  const ort = await runLoop(withEval, 'ort', extra);
  const tfjs = await runLoop(withEval, 'tfjs', extra);
  const [a, b] = [await lossCurves(ort), await lossCurves(tfjs)];
  for (const [i, row] of a.entries())
    for (const [k, v] of row.entries()) assert.ok(Math.abs(v - b[i]![k]!) <= 2e-2 * Math.abs(b[i]![k]!), `iteration ${i + 1}: ${v} vs ${b[i]![k]}`);
  // Warm-up: G's weights do not move for 3 iterations, then they do (same as tfjs' generatorStep update: false).
  const warm = await runLoop({ ...base, iterations: 3 }, 'ort');
  const initial = await runLoop({ ...base, iterations: 1, dWarmup: 1 }, 'ort');
  // G's trainable weights (its batch norms' moving statistics move in the warm-up's forward passes, as in tfjs).
  const gOf = async (dir: string): Promise<Buffer> => {
    const g = await loadLayersModelFile(join(dir, RUN_FILES.generator, 'model.json'));
    const bytes = Buffer.concat(g.trainableWeights.map((w) => Buffer.from((w.read().dataSync() as Float32Array).buffer)));
    g.dispose();
    return bytes;
  };
  assert.ok((await gOf(warm)).equals(await gOf(initial)), 'G unchanged through the warm-up');
  assert.ok(!(await gOf(ort)).equals(await gOf(initial)), 'G trained after it');
  const bestOrt = JSON.parse(await readFile(join(ort, RUN_FILES.bestGenerator, RUN_FILES.best), 'utf8')) as { iteration: number };
  const bestTfjs = JSON.parse(await readFile(join(tfjs, RUN_FILES.bestGenerator, RUN_FILES.best), 'utf8')) as { iteration: number };
  assert.equal(bestOrt.iteration, bestTfjs.iteration);
  // --init-generator: an ort run starts from a saved generator.
  const seeded = await runLoop({ ...base, iterations: 1, dWarmup: 1, initGenerator: join(ort, RUN_FILES.generator, 'model.json'), seed: 11 }, 'ort');
  assert.ok((await gOf(seeded)).equals(await gOf(ort)), 'the saved generator, untouched by a warm-up iteration');
});

/** Every tensor of a run's checkpoint (weights and optimizer states), its iteration and PRNG state. */
async function checkpointBytes(dir: string): Promise<Buffer> {
  const ck = await loadCheckpoint(join(dir, RUN_FILES.checkpoint));
  const tensors = Object.values(ck.groups).flat();
  const bytes = Buffer.concat([Buffer.from(JSON.stringify([ck.iteration, ck.rng])), ...tensors.map((t) => Buffer.from((t.dataSync() as Float32Array).buffer))]);
  tf.dispose(tensors);
  return bytes;
}

test('ort runs are reproducible: same seed and threads, same checkpoint bytes (dcgan with EMA and a D reset)', async () => {
  const overrides: Partial<TrainConfig> = { model: 'dcgan', iterations: 6, sampleInterval: 3, emaDecay: 0.9, resetDiscriminatorAt: [3] };
  const one = await checkpointBytes(await runLoop(overrides, 'ort'));
  const two = await checkpointBytes(await runLoop(overrides, 'ort'));
  assert.ok(one.equals(two));
  const other = await checkpointBytes(await runLoop({ ...overrides, seed: 10 }, 'ort'));
  assert.ok(!one.equals(other));
});

test('an ort run stopped and resumed equals an uninterrupted one, and a run resumes across engines', async () => {
  const overrides: Partial<TrainConfig> = { model: 'cgan', iterations: 8, sampleInterval: 2, checkpointInterval: 4, emaDecay: 0.9 };
  const whole = await runLoop(overrides, 'ort');
  // Stopped after iteration 4 (as SIGINT does), then resumed on ort.
  const parted = await runLoop(overrides, 'ort', { shouldStop: stopAfter(4) });
  await runLoop(overrides, 'ort', { runDir: parted, resume: true });
  assert.ok((await checkpointBytes(whole)).equals(await checkpointBytes(parted)));
  // Started on tfjs, resumed on ort (and the reverse): the checkpoint is the same format.
  const crossed = await runLoop(overrides, 'tfjs', { shouldStop: stopAfter(4) });
  await runLoop(overrides, 'ort', { runDir: crossed, resume: true });
  const back = await runLoop(overrides, 'ort', { shouldStop: stopAfter(4) });
  await runLoop(overrides, 'tfjs', { runDir: back, resume: true });
  for (const dir of [crossed, back]) {
    const curves = await lossCurves(dir);
    assert.deepEqual(curves.length, 4);
    const ref = await lossCurves(whole);
    for (const [i, row] of curves.entries()) {
      for (const [k, v] of row.entries())
        assert.ok(Math.abs(v - ref[i]![k]!) <= 5e-2 * Math.abs(ref[i]![k]!), `${dir} iteration ${2 * (i + 1)}: ${v} vs ${ref[i]![k]}`);
    }
    const config = JSON.parse(await readFile(join(dir, RUN_FILES.config), 'utf8')) as { iterationsDone: number; engineUsed: string };
    assert.equal(config.iterationsDone, 8);
    assert.equal(config.engineUsed, dir === crossed ? 'ort' : 'tfjs');
  }
});

function stopAfter(iteration: number): () => boolean {
  let calls = 0;
  // shouldStop is polled before each iteration: the (n+1)th call comes after iteration n.
  return () => ++calls > iteration;
}

test('a layer the ort engine cannot train is refused by name before training, pointing to --engine tfjs', () => {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3 }), tf.layers.dropout({ rate: 0.5, name: 'drop' })] });
  assert.throws(
    () => checkTrainable(model),
    /Layer 'drop' \(class Dropout\) is not supported: the ort engine cannot train it; train this model with --engine tfjs/,
  );
  const elu = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'elu', name: 'elu_dense' })] });
  assert.throws(() => checkTrainable(elu), /Layer 'elu_dense' \(class Dense\) has activation 'elu'/);
  model.dispose();
  elu.dispose();
});

test('auto takes tfjs on a libtensorflow GPU and ort everywhere else', () => {
  assert.equal(resolveEngine('auto', 'tensorflow-gpu'), 'tfjs');
  for (const backend of ['tensorflow', 'wasm', 'cpu'] as const) assert.equal(resolveEngine('auto', backend), 'ort');
  assert.equal(resolveEngine('tfjs', 'wasm'), 'tfjs');
  assert.equal(resolveEngine('ort', 'tensorflow-gpu'), 'ort');
});
