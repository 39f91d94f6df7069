import * as tf from '@tensorflow/tfjs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../lib/fs/atomic-write.ts';
import type { Dataset } from '../../shared/dataset.ts';
import { fitGaussian, sampleGaussian } from '../../shared/gaussian.ts';
import { cycleLabels } from '../../shared/generator.ts';
import { Prng } from '../../shared/prng.ts';
import type { TrainingEvaluation } from '../classifier/fid-monitor.ts';
import type { TrainConfig } from '../config.ts';
import { adamState, loadCheckpoint, restoreAdam, restoreWeights, saveCheckpoint } from '../run-dir/checkpoint.ts';
import { curvesPng, type MetricRecord } from '../run-dir/plot.ts';
import { gridPng } from '../run-dir/png.ts';
import {
  appendMetrics,
  formatEvaluation,
  formatReport,
  isBetterEvaluation,
  isEvaluation,
  isReport,
  readBest,
  readMetrics,
  RUN_FILES,
  writeRunConfig,
  type EvaluationRecord,
} from '../run-dir/run-files.ts';
import type { BackendName } from '../tfjs/backend.ts';
import { loadLayersModelFile, saveLayersModel } from '../tfjs/model-io.ts';
import { forward } from './forward.ts';
import { buildDiscriminator, buildGan, CLASSES, CONDITIONAL_KINDS, type BuildOptions } from './models.ts';
import { discriminatorStep, generatorStep, trainableVariables } from './steps.ts';

/** Seed of the fixed latents behind every progress grid (independent of the run seed). */
export const GRID_SEED = 20190101;
const GRID_SIZE = 16;

/** What a run needs from its surroundings. */
export interface RunContext {
  readonly config: TrainConfig;
  readonly runDir: string;
  readonly dataset: Dataset;
  readonly backend: BackendName;
  /** Prints a line (through the progress bar when there is one). */
  readonly log: (line: string) => void;
  /** Called after every iteration. */
  readonly tick?: (iteration: number) => void;
  /** Polled between iterations; true (e.g. after SIGINT) checkpoints and stops. */
  readonly shouldStop?: () => boolean;
  /** Continue from the run folder's checkpoint. */
  readonly resume?: boolean;
  /** Scores the generator (classifier-FID, per-class accuracy) every `config.evalInterval` iterations. */
  readonly evaluate?: (generator: tf.LayersModel) => TrainingEvaluation;
}

/** How a run ended. */
export interface TrainResult {
  readonly iteration: number;
  readonly last: MetricRecord | null;
  readonly wallMs: number;
  readonly stopped: boolean;
}

/** The GAN kinds the loop trains (the gaussian baseline is fitted instead). */
type GanKind = 'dense' | 'dcgan' | 'cgan' | 'acgan';

/** How D's digit head learns and how much G's loss weighs it (see {@link digitHead}). */
interface DigitHead {
  readonly real: number;
  readonly fake: number;
  readonly fakeTarget: 'match' | 'reject';
  readonly g: number;
}

/** Everything a GAN run holds between iterations. */
interface GanRun {
  readonly ctx: RunContext;
  readonly kind: GanKind;
  readonly conditional: boolean;
  /** cgan's D takes the digit as a second input; acgan's D names it from the image alone. */
  readonly labelledD: boolean;
  readonly head: DigitHead;
  readonly prng: Prng;
  readonly generator: tf.LayersModel;
  discriminator: tf.LayersModel;
  readonly gOptimizer: tf.AdamOptimizer;
  dOptimizer: tf.AdamOptimizer;
  gVars: tf.Variable[];
  dVars: tf.Variable[];
  /** Fixed latents (and labels) of the progress grids. */
  readonly gridInput: tf.Tensor | tf.Tensor[];
  /** Reused host buffers for the real batch and its labels. */
  readonly batch: Float32Array;
  readonly labelBuffer: Int32Array;
  iteration: number;
  best: EvaluationRecord | null;
  last: MetricRecord | null;
  /** Wall time of the run so far, including the time before a resume. */
  readonly elapsed: () => number;
}

/** The tensors one iteration reports. */
interface StepLosses {
  readonly dReal: { loss: tf.Scalar; accuracy: tf.Scalar };
  readonly dFake: { loss: tf.Scalar; accuracy: tf.Scalar };
  readonly gLoss: tf.Scalar;
}

/** Trains the configured model; the gaussian baseline is fitted instead. */
export async function train(ctx: RunContext): Promise<TrainResult> {
  return ctx.config.model === 'gaussian' ? fitGaussianRun(ctx) : trainGan(ctx);
}

/**
 * The seed's GAN loop, as nanoGPT reads: restore or initialise, then per iteration one step, a report,
 * an evaluation (keeping the best), the discriminator reset and a checkpoint, then finish.
 */
async function trainGan(ctx: RunContext): Promise<TrainResult> {
  const run = await restoreOrInit(ctx);
  const { config } = ctx;
  let stopped = false;
  try {
    while (run.iteration < config.iterations) {
      if (ctx.shouldStop?.()) {
        stopped = true;
        break;
      }
      run.iteration += 1;
      const losses = step(run);
      try {
        if (run.iteration % config.sampleInterval === 0 || run.iteration === config.iterations) await report(run, losses);
      } finally {
        tf.dispose([losses.gLoss, losses.dReal.loss, losses.dReal.accuracy, losses.dFake.loss, losses.dFake.accuracy]);
      }
      if (ctx.evaluate && config.evalInterval > 0 && (run.iteration % config.evalInterval === 0 || run.iteration === config.iterations))
        await evaluateAndKeepBest(run, ctx.evaluate);
      if (config.resetDiscriminatorAt.includes(run.iteration)) await resetDiscriminator(run);
      if (run.iteration % config.checkpointInterval === 0) await checkpoint(run);
      ctx.tick?.(run.iteration);
      // Let signal handlers run: the WASM and JS backends never yield on their own.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await finish(run, stopped);
  } finally {
    dispose(run);
  }
  return { iteration: run.iteration, last: run.last, wallMs: run.elapsed(), stopped };
}

/**
 * How D's digit head learns: acgan's on real and fake batches, naming both (Odena et al.); cgan's
 * auxiliary head on real ones, and with --aux-fakes reject learning not to see the asked digit in fakes.
 */
function digitHead(kind: GanKind, config: TrainConfig): DigitHead {
  if (kind === 'acgan') return { real: 1, fake: 1, fakeTarget: 'match', g: 1 };
  return { real: config.auxWeight, fake: config.auxFakes === 'reject' ? config.auxWeight : 0, fakeTarget: 'reject', g: config.auxWeight };
}

function buildOptions(ctx: RunContext, seed: number): BuildOptions {
  const { config, dataset } = ctx;
  return {
    latentDim: config.latentDim,
    imageShape: [dataset.height, dataset.width, 1],
    seed,
    width: config.width,
    auxClassifier: ctx.config.model === 'cgan' && config.auxWeight > 0,
  };
}

function adam(config: TrainConfig): tf.AdamOptimizer {
  return tf.train.adam(config.lr, config.beta1, config.beta2);
}

/** Builds the networks, then continues from the checkpoint (`resume`) or starts from `--init-generator` or random weights. */
async function restoreOrInit(ctx: RunContext): Promise<GanRun> {
  const { config, runDir, dataset, log } = ctx;
  const kind = config.model as GanKind;
  const conditional = CONDITIONAL_KINDS.includes(kind);
  if (conditional && !dataset.labels) throw new Error(`${dataset.source}: the conditional GAN needs labels (give idx:<images>,<labels>)`);
  const t0 = performance.now();
  const checkpointPath = join(runDir, RUN_FILES.checkpoint);
  const hasCheckpoint =
    ctx.resume === true &&
    (await access(checkpointPath).then(
      () => true,
      () => false,
    ));
  // A run killed before its first checkpoint resumes from the start, with its config.
  if (ctx.resume && !hasCheckpoint) log(`${runDir}: no ${RUN_FILES.checkpoint} yet; starting the run from iteration 0`);
  const saved = hasCheckpoint ? await loadCheckpoint(checkpointPath) : null;
  const gan = buildGan(kind, buildOptions(ctx, config.seed));
  const generator = gan.generator;
  // buildGan's own D is not the one trained (that one is built next, with the seed the loop always used).
  gan.discriminator.dispose();
  const discriminator = buildDiscriminator(kind, buildOptions(ctx, (config.seed ^ 0x5bd1e995) >>> 0));
  const gOptimizer = adam(config);
  const dOptimizer = adam(config);
  let start = 0;
  let elapsedBefore = 0;
  if (saved) {
    restoreWeights(generator, saved.groups.generator ?? [], 'generator');
    restoreWeights(discriminator, saved.groups.discriminator ?? [], 'discriminator');
    await restoreAdam(gOptimizer, saved.groups.gOptimizer ?? []);
    await restoreAdam(dOptimizer, saved.groups.dOptimizer ?? []);
    tf.dispose(Object.values(saved.groups).flat());
    start = saved.iteration;
    elapsedBefore = Number(saved.extra.elapsedMs ?? 0);
    // Reports written after the checkpoint belong to iterations that will be run again.
    const kept = (await readMetrics(runDir, log)).filter((l) => l.iteration <= start);
    await writeFileAtomic(join(runDir, RUN_FILES.metrics), kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
    log(`resumed ${runDir} at iteration ${start}`);
  } else {
    // A fresh start (also of a resumed run that never reached a checkpoint) owns no earlier reports.
    if (ctx.resume) await writeFileAtomic(join(runDir, RUN_FILES.metrics), '');
  }
  if (!saved && config.initGenerator) {
    await initialiseFrom(generator, config.initGenerator);
    log(`generator initialised from ${config.initGenerator}`);
  }
  // A best generator from iterations about to be run again is forgotten (the rerun may replace it).
  let best = config.keepBest === 'none' ? null : await readBest(runDir);
  if (best && best.iteration > start) best = null;
  await writeRunConfig(runDir, config, dataset, ctx.backend);
  const gridZ = tf.tensor2d(new Prng(GRID_SEED).normals(GRID_SIZE * config.latentDim), [GRID_SIZE, config.latentDim]);
  return {
    ctx,
    kind,
    conditional,
    labelledD: kind === 'cgan',
    head: digitHead(kind, config),
    prng: saved ? Prng.fromState(saved.rng) : new Prng(config.seed),
    generator,
    discriminator,
    gOptimizer,
    dOptimizer,
    gVars: trainableVariables(generator),
    dVars: trainableVariables(discriminator),
    gridInput: conditional ? [gridZ, tf.tensor2d(cycleLabels(GRID_SIZE), [GRID_SIZE, 1], 'int32')] : gridZ,
    batch: new Float32Array(config.batchSize * dataset.height * dataset.width),
    labelBuffer: new Int32Array(config.batchSize),
    iteration: start,
    best,
    last: null,
    elapsed: () => elapsedBefore + performance.now() - t0,
  };
}

/**
 * One iteration: D on a real batch, D on G's fakes, then G through D, each drawing its random numbers
 * from the run's PRNG in a fixed order (so a resumed run repeats them exactly).
 */
function step(run: GanRun): StepLosses {
  const { config, dataset } = run.ctx;
  const { conditional, labelledD, head, prng } = run;
  const imageShape = [dataset.height, dataset.width, 1] as const;
  const zSize = config.batchSize * config.latentDim;
  const labels = (values: Int32Array): tf.Tensor => tf.tensor2d(values.slice(), [config.batchSize, 1], 'int32');
  realBatch(dataset, prng, run.batch, conditional ? run.labelBuffer : undefined);
  const real = tf.tensor4d(run.batch.slice(), [config.batchSize, ...imageShape]);
  const realLabels = conditional ? labels(run.labelBuffer) : null;
  // Fresh arrays: the plain JS backend keeps a reference to a tensor's array instead of copying it.
  const z = tf.tensor2d(prng.normals(zSize), [config.batchSize, config.latentDim]);
  const fakeLabels = conditional ? labels(randomLabels(prng, run.labelBuffer)) : null;
  // Keras' generator.predict(z) is inference mode (the seed); --fake-mode training uses batch statistics,
  // so D judges the same generator that the G step trains (needed when BN's moving statistics lag).
  const fake = tf.tidy(() => forward(run.generator, fakeLabels ? [z, fakeLabels] : z, config.fakeMode === 'training'));
  const dReal = discriminatorStep(run.discriminator, run.dOptimizer, labelledD ? [real, realLabels!] : real, 1, {
    vars: run.dVars,
    classes: realLabels ?? undefined,
    classWeight: head.real,
    smoothing: config.labelSmoothing,
  });
  const dFake = discriminatorStep(run.discriminator, run.dOptimizer, labelledD ? [fake, fakeLabels!] : fake, 0, {
    vars: run.dVars,
    classes: fakeLabels ?? undefined,
    classWeight: head.fake,
    classTarget: head.fakeTarget,
  });
  // A fresh z (and fresh labels) for the generator step, as the seed insists.
  const z2 = tf.tensor2d(prng.normals(zSize), [config.batchSize, config.latentDim]);
  const gLabels = conditional ? labels(randomLabels(prng, run.labelBuffer)) : undefined;
  const gLoss = generatorStep(run.generator, run.discriminator, run.gOptimizer, z2, {
    vars: run.gVars,
    classes: gLabels,
    classWeight: head.g,
    update: run.iteration > config.dWarmup,
  });
  tf.dispose([real, z, fake, z2, ...[realLabels, fakeLabels, gLabels].filter((t): t is tf.Tensor => t != null)]);
  return { dReal, dFake, gLoss };
}

/** The seed's report: the log line, a metrics line and the 4x4 grid of the fixed latents. */
async function report(run: GanRun, { dReal, dFake, gLoss }: StepLosses): Promise<void> {
  const { config, runDir, dataset, log } = run.ctx;
  const [lr, lf, ar, af, lg] = await Promise.all([dReal.loss, dFake.loss, dReal.accuracy, dFake.accuracy, gLoss].map((t) => t.data()));
  run.last = { iteration: run.iteration, dLoss: (lr![0]! + lf![0]!) / 2, dAccuracy: (ar![0]! + af![0]!) / 2, gLoss: lg![0]! };
  log(formatReport(run.last));
  await appendMetrics(runDir, { ...run.last, elapsedMs: Math.round(run.elapsed()) });
  const pixels = tf.tidy(() => forward(run.generator, run.gridInput, false).dataSync() as Float32Array);
  const name = `iter-${String(run.iteration).padStart(String(config.iterations).length, '0')}.png`;
  await writeFileAtomic(join(runDir, RUN_FILES.samples, name), gridPng(pixels, GRID_SIZE, dataset.height, dataset.width));
}

/** A training-time evaluation, logged and recorded; with --keep-best the best generator so far is saved. */
async function evaluateAndKeepBest(run: GanRun, evaluate: NonNullable<RunContext['evaluate']>): Promise<void> {
  const { config, runDir, log } = run.ctx;
  const { fid, classAccuracy } = evaluate(run.generator);
  const record: EvaluationRecord = { iteration: run.iteration, fid, ...(classAccuracy ? { classAccuracy } : {}) };
  log(formatEvaluation(record, config.evalSamples));
  await appendMetrics(runDir, record);
  if (config.keepBest === 'none' || !isBetterEvaluation(config.keepBest, record, run.best)) return;
  run.best = record;
  const dir = join(runDir, RUN_FILES.bestGenerator);
  await saveLayersModel(run.generator, dir);
  // Written last: best.json names the iteration of complete weights.
  await writeJsonAtomic(join(dir, RUN_FILES.best), run.best);
  log(`${run.iteration} best so far by ${config.keepBest}: ${dir}`);
}

/** The seed's burn-in: a new apprentice curator (weights and optimizer state), same forger. */
async function resetDiscriminator(run: GanRun): Promise<void> {
  run.discriminator.dispose();
  run.dOptimizer.dispose();
  run.discriminator = buildDiscriminator(run.kind, buildOptions(run.ctx, run.prng.nextUint32()));
  run.dOptimizer = adam(run.ctx.config);
  run.dVars = trainableVariables(run.discriminator);
  run.ctx.log(`${run.iteration} discriminator re-initialised (weights and optimizer state); generator kept`);
  await appendMetrics(run.ctx.runDir, { iteration: run.iteration, event: 'reset-discriminator' });
}

/** Saves weights, optimizer states, the PRNG and the wall time: everything a bit-identical resume needs. */
async function checkpoint(run: GanRun): Promise<void> {
  const gState = await adamState(run.gOptimizer);
  const dState = await adamState(run.dOptimizer);
  try {
    await saveCheckpoint(
      join(run.ctx.runDir, RUN_FILES.checkpoint),
      { iteration: run.iteration, rng: run.prng.state(), extra: { elapsedMs: run.elapsed() } },
      { generator: run.generator.getWeights(), discriminator: run.discriminator.getWeights(), gOptimizer: gState, dOptimizer: dState },
    );
  } finally {
    tf.dispose([gState[0]!, dState[0]!]);
  }
}

/** The last checkpoint, then (for a finished run) the models and the curves, and the final config. */
async function finish(run: GanRun, stopped: boolean): Promise<void> {
  const { config, runDir, dataset, log, backend } = run.ctx;
  await checkpoint(run);
  if (stopped) {
    log(`stopped at iteration ${run.iteration}; checkpoint saved, continue with --resume ${runDir}`);
  } else {
    await saveLayersModel(run.generator, join(runDir, RUN_FILES.generator));
    await saveLayersModel(run.discriminator, join(runDir, RUN_FILES.discriminator));
    const lines = await readMetrics(runDir);
    const records = lines.filter(isReport);
    if (records.length > 0) await writeFileAtomic(join(runDir, RUN_FILES.curves), curvesPng(records, config.resetDiscriminatorAt, lines.filter(isEvaluation)));
  }
  await writeRunConfig(runDir, config, dataset, backend, { iterationsDone: run.iteration, wallMs: Math.round(run.elapsed()), final: run.last });
}

function dispose(run: GanRun): void {
  run.gVars = [];
  run.dVars = [];
  tf.dispose([run.gridInput].flat());
  run.generator.dispose();
  run.discriminator.dispose();
  run.gOptimizer.dispose();
  run.dOptimizer.dispose();
}

/**
 * Fills `out` with a random batch (with replacement, like the seed's randint) from the data set, and
 * `labels` with their digits when given.
 */
function realBatch(data: Dataset, prng: Prng, out: Float32Array, labels?: Int32Array): void {
  const size = data.height * data.width;
  const n = out.length / size;
  for (let i = 0; i < n; i++) {
    const k = prng.nextInt(data.count);
    out.set(data.images.subarray(k * size, (k + 1) * size), i * size);
    if (labels) labels[i] = data.labels![k]!;
  }
}

/** Random digit labels for a conditional batch. */
function randomLabels(prng: Prng, out: Int32Array): Int32Array {
  for (let i = 0; i < out.length; i++) out[i] = prng.nextInt(CLASSES);
  return out;
}

/** Copies a saved generator's weights into `generator`, which must have the same architecture. */
export async function initialiseFrom(generator: tf.LayersModel, modelJson: string): Promise<void> {
  const source = await loadLayersModelFile(modelJson);
  try {
    const weights = source.getWeights();
    const own = generator.getWeights();
    const mismatch = own.findIndex((w, i) => !weights[i] || !tf.util.arraysEqual(w.shape, weights[i]!.shape));
    if (weights.length !== own.length || mismatch >= 0) {
      throw new Error(
        `--init-generator ${modelJson}: expected a generator of this run's architecture (${own.length} weights: ${own.map((w) => `[${w.shape}]`).join(' ')}) but it has ${weights.length}: ${weights.map((w) => `[${w.shape}]`).join(' ')}`,
      );
    }
    generator.setWeights(weights);
  } finally {
    source.dispose();
  }
}

async function fitGaussianRun({ config, runDir, dataset, log }: RunContext): Promise<TrainResult> {
  const t0 = performance.now();
  log(`fitting a full-covariance Gaussian to ${dataset.count} images of ${dataset.height}x${dataset.width}`);
  const model = fitGaussian(dataset);
  const samples = sampleGaussian(model, GRID_SIZE, new Prng(GRID_SEED));
  await writeFileAtomic(join(runDir, RUN_FILES.samples, 'gaussian.png'), gridPng(samples, GRID_SIZE, dataset.height, dataset.width));
  const params = new Float64Array(model.mean.length + model.chol.length);
  params.set(model.mean);
  params.set(model.chol, model.mean.length);
  await writeFileAtomic(join(runDir, 'gaussian.bin'), new Uint8Array(params.buffer));
  const wallMs = performance.now() - t0;
  await writeRunConfig(runDir, config, dataset, 'none (plain JS)', { wallMs, ridge: model.ridge });
  log(`wrote ${join(runDir, RUN_FILES.samples, 'gaussian.png')} (ridge ${model.ridge.toExponential(2)}) in ${(wallMs / 1000).toFixed(1)} s`);
  return { iteration: 0, last: null, wallMs, stopped: false };
}
