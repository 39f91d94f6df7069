import * as tf from '@tensorflow/tfjs';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Prng } from '../shared/prng.ts';
import { writeFileAtomic } from './atomic-write.ts';
import type { BackendName } from './backend.ts';
import { adamState, loadCheckpoint, restoreAdam, restoreWeights, saveCheckpoint, type Checkpoint } from './checkpoint.ts';
import type { TrainConfig } from './config.ts';
import type { Dataset } from './data.ts';
import { forward } from './forward.ts';
import { discriminatorStep, generatorStep, trainableVariables } from './gan-steps.ts';
import { fitGaussian, sampleGaussian } from './gaussian.ts';
import { loadLayersModelFile, saveLayersModel } from './model-io.ts';
import { cycleLabels } from '../shared/manifest.ts';
import { buildDiscriminator, buildGan, CLASSES, CONDITIONAL_KINDS, type BuildOptions } from './models.ts';
import type { TrainingEvaluation } from './fid-monitor.ts';
import { curvesPng, type MetricRecord } from './plot.ts';
import { gridPng } from './png.ts';

/** Files of a run folder. */
export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  checkpoint: 'checkpoint.bin',
  curves: 'curves.png',
  samples: 'samples',
  generator: 'generator',
  discriminator: 'discriminator',
  /** `--keep-best`: the best generator so far, with `best.json` (which iteration, its scores). */
  bestGenerator: 'generator-best',
  best: 'best.json',
} as const;

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

/** A metrics file line: a report, a classifier-FID, or an event such as a discriminator reset. */
export type MetricsLine =
  | (MetricRecord & { readonly elapsedMs: number })
  | EvaluationRecord
  | { readonly iteration: number; readonly event: string };

/** A training-time evaluation as the metrics file and `best.json` hold it. */
export interface EvaluationRecord {
  readonly iteration: number;
  readonly fid: number;
  /** Conditional models: per digit, the share of samples the classifier recognises as asked. */
  readonly classAccuracy?: number[];
}

/** Whether `candidate` beats `best` by the --keep-best metric (worst-digit accuracy ties go to the lower FID). */
export function isBetterEvaluation(metric: 'fid' | 'class-accuracy', candidate: EvaluationRecord, best: EvaluationRecord | null): boolean {
  if (!best) return true;
  if (metric === 'class-accuracy') {
    const worst = (r: EvaluationRecord): number => Math.min(...(r.classAccuracy ?? [-Infinity]));
    if (worst(candidate) !== worst(best)) return worst(candidate) > worst(best);
  }
  return candidate.fid < best.fid;
}

/** The log line of a training-time evaluation. */
export function formatEvaluation(r: EvaluationRecord, samples: number): string {
  const line = `${r.iteration} [classifier-FID: ${r.fid.toFixed(3)} over ${samples} samples]`;
  if (!r.classAccuracy) return line;
  const worst = r.classAccuracy.reduce((w, a, digit) => (a < r.classAccuracy![w]! ? digit : w), 0);
  return `${line} [digit accuracy: ${r.classAccuracy.map((a) => (100 * a).toFixed(0)).join('/')}%, worst ${worst}: ${(100 * r.classAccuracy[worst]!).toFixed(1)}%]`;
}

/** Reads `best.json` of a run's best generator, or null when there is none. */
export async function readBest(runDir: string): Promise<EvaluationRecord | null> {
  const text = await readFile(join(runDir, RUN_FILES.bestGenerator, RUN_FILES.best), 'utf8').catch(() => null);
  return text === null ? null : (JSON.parse(text) as EvaluationRecord);
}

/** The seed's report line: `iteration [D loss: x, acc.: y%] [G loss: z]`. */
export function formatReport(r: MetricRecord): string {
  return `${r.iteration} [D loss: ${r.dLoss.toFixed(6)}, acc.: ${(100 * r.dAccuracy).toFixed(2)}%] [G loss: ${r.gLoss.toFixed(6)}]`;
}

/** Reads a run's metrics file (missing file: no lines). */
export async function readMetrics(runDir: string): Promise<MetricsLine[]> {
  const text = await readFile(join(runDir, RUN_FILES.metrics), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as MetricsLine);
}

function isReport(line: MetricsLine): line is MetricRecord & { elapsedMs: number } {
  return 'dLoss' in line;
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
      throw new Error(`--init-generator ${modelJson}: expected a generator of this run's architecture (${own.length} weights: ${own.map((w) => `[${w.shape}]`).join(' ')}) but it has ${weights.length}: ${weights.map((w) => `[${w.shape}]`).join(' ')}`);
    }
    generator.setWeights(weights);
  } finally {
    source.dispose();
  }
}

/** Trains the configured model; the gaussian baseline is fitted instead. */
export async function train(ctx: RunContext): Promise<TrainResult> {
  return ctx.config.model === 'gaussian' ? fitGaussianRun(ctx) : trainGan(ctx);
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

async function writeRunConfig(runDir: string, config: TrainConfig, dataset: Dataset, backend: string, extra: Record<string, unknown> = {}): Promise<void> {
  const body = { ...config, dataSource: dataset.source, imageShape: [dataset.height, dataset.width, 1], backend, ...extra };
  await writeFileAtomic(join(runDir, RUN_FILES.config), `${JSON.stringify(body, null, 2)}\n`);
}

/** The seed's GAN loop with its reports, grids, resets and checkpoints. */
async function trainGan(ctx: RunContext): Promise<TrainResult> {
  const { config, runDir, dataset, log } = ctx;
  const kind = config.model as 'dense' | 'dcgan' | 'cgan' | 'acgan';
  const conditional = CONDITIONAL_KINDS.includes(kind);
  if (conditional && !dataset.labels) throw new Error(`${dataset.source}: the conditional GAN needs labels (give idx:<images>,<labels>)`);
  // cgan's D takes the digit as a second input; acgan's D names it from the image alone.
  const labelledD = kind === 'cgan';
  const t0 = performance.now();
  const imageShape = [dataset.height, dataset.width, 1] as const;
  const auxClassifier = kind === 'cgan' && config.auxWeight > 0;
  const build = (seed: number): BuildOptions => ({ latentDim: config.latentDim, imageShape, seed, width: config.width, auxClassifier });
  // How D's digit head learns: acgan's on real and fake batches, naming both (Odena et al.); cgan's
  // auxiliary head on real ones, and with --aux-fakes reject learning not to see the asked digit in fakes.
  const head =
    kind === 'acgan'
      ? { real: 1, fake: 1, fakeTarget: 'match' as const, g: 1 }
      : { real: config.auxWeight, fake: config.auxFakes === 'reject' ? config.auxWeight : 0, fakeTarget: 'reject' as const, g: config.auxWeight };
  const adam = (): tf.AdamOptimizer => tf.train.adam(config.lr, config.beta1, config.beta2);

  const saved: Checkpoint | null = ctx.resume ? await loadCheckpoint(join(runDir, RUN_FILES.checkpoint)) : null;
  const prng = saved ? Prng.fromState(saved.rng) : new Prng(config.seed);
  const { generator } = buildGan(kind, build(config.seed));
  let discriminator = buildDiscriminator(kind, build((config.seed ^ 0x5bd1e995) >>> 0));
  const gOptimizer = adam();
  let dOptimizer = adam();
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
    const kept = (await readMetrics(runDir)).filter((l) => l.iteration <= start);
    await writeFileAtomic(join(runDir, RUN_FILES.metrics), kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
    log(`resumed ${runDir} at iteration ${start}`);
  } else if (config.initGenerator) {
    await initialiseFrom(generator, config.initGenerator);
    log(`generator initialised from ${config.initGenerator}`);
  }
  // A best generator from iterations about to be run again is forgotten (the rerun may replace it).
  let best = config.keepBest === 'none' ? null : await readBest(runDir);
  if (best && best.iteration > start) best = null;
  await writeRunConfig(runDir, config, ctx.dataset, ctx.backend);

  let gVars = trainableVariables(generator);
  let dVars = trainableVariables(discriminator);
  const gridZ = tf.tensor2d(new Prng(GRID_SEED).normals(GRID_SIZE * config.latentDim), [GRID_SIZE, config.latentDim]);
  const gridInput = conditional ? [gridZ, tf.tensor2d(cycleLabels(GRID_SIZE), [GRID_SIZE, 1], 'int32')] : gridZ;
  const batch = new Float32Array(config.batchSize * dataset.height * dataset.width);
  const labelBuffer = new Int32Array(config.batchSize);
  const zSize = config.batchSize * config.latentDim;
  const elapsed = (): number => elapsedBefore + performance.now() - t0;

  const checkpoint = async (iteration: number): Promise<void> => {
    const gState = await adamState(gOptimizer);
    const dState = await adamState(dOptimizer);
    try {
      await saveCheckpoint(join(runDir, RUN_FILES.checkpoint), { iteration, rng: prng.state(), extra: { elapsedMs: elapsed() } }, {
        generator: generator.getWeights(),
        discriminator: discriminator.getWeights(),
        gOptimizer: gState,
        dOptimizer: dState,
      });
    } finally {
      tf.dispose([gState[0]!, dState[0]!]);
    }
  };

  let last: MetricRecord | null = null;
  let iteration = start;
  let stopped = false;
  try {
    while (iteration < config.iterations) {
      if (ctx.shouldStop?.()) {
        stopped = true;
        break;
      }
      iteration += 1;
      realBatch(dataset, prng, batch, conditional ? labelBuffer : undefined);
      const real = tf.tensor4d(batch.slice(), [config.batchSize, ...imageShape]);
      const labels = (values: Int32Array): tf.Tensor => tf.tensor2d(values.slice(), [config.batchSize, 1], 'int32');
      const realLabels = conditional ? labels(labelBuffer) : null;
      // Fresh arrays: the plain JS backend keeps a reference to a tensor's array instead of copying it.
      const z = tf.tensor2d(prng.normals(zSize), [config.batchSize, config.latentDim]);
      const fakeLabels = conditional ? labels(randomLabels(prng, labelBuffer)) : null;
      // Keras' generator.predict(z) is inference mode (the seed); --fake-mode training uses batch statistics,
      // so D judges the same generator that the G step trains (needed when BN's moving statistics lag).
      const fake = tf.tidy(() => forward(generator, fakeLabels ? [z, fakeLabels] : z, config.fakeMode === 'training'));
      const smoothing = config.labelSmoothing;
      const dReal = discriminatorStep(discriminator, dOptimizer, labelledD ? [real, realLabels!] : real, 1, { vars: dVars, classes: realLabels ?? undefined, classWeight: head.real, smoothing });
      const dFake = discriminatorStep(discriminator, dOptimizer, labelledD ? [fake, fakeLabels!] : fake, 0, {
        vars: dVars,
        classes: fakeLabels ?? undefined,
        classWeight: head.fake,
        classTarget: head.fakeTarget,
      });
      // A fresh z (and fresh labels) for the generator step, as the seed insists.
      const z2 = tf.tensor2d(prng.normals(zSize), [config.batchSize, config.latentDim]);
      const gLabels = conditional ? labels(randomLabels(prng, labelBuffer)) : undefined;
      const gLoss = generatorStep(generator, discriminator, gOptimizer, z2, { vars: gVars, classes: gLabels, classWeight: head.g, update: iteration > config.dWarmup });

      if (iteration % config.sampleInterval === 0 || iteration === config.iterations) {
        const [lr, lf, ar, af, lg] = await Promise.all([dReal.loss, dFake.loss, dReal.accuracy, dFake.accuracy, gLoss].map((t) => t.data()));
        last = { iteration, dLoss: (lr![0]! + lf![0]!) / 2, dAccuracy: (ar![0]! + af![0]!) / 2, gLoss: lg![0]! };
        log(formatReport(last));
        await appendFile(join(runDir, RUN_FILES.metrics), `${JSON.stringify({ ...last, elapsedMs: Math.round(elapsed()) })}\n`);
        const pixels = tf.tidy(() => forward(generator, gridInput, false).dataSync() as Float32Array);
        const name = `iter-${String(iteration).padStart(String(config.iterations).length, '0')}.png`;
        await writeFileAtomic(join(runDir, RUN_FILES.samples, name), gridPng(pixels, GRID_SIZE, dataset.height, dataset.width));
      }
      tf.dispose([real, z, fake, z2, gLoss, dReal.loss, dReal.accuracy, dFake.loss, dFake.accuracy, ...[realLabels, fakeLabels, gLabels].filter((t): t is tf.Tensor => t != null)]);

      if (ctx.evaluate && config.evalInterval > 0 && (iteration % config.evalInterval === 0 || iteration === config.iterations)) {
        const { fid, classAccuracy } = ctx.evaluate(generator);
        const record: EvaluationRecord = { iteration, fid, ...(classAccuracy ? { classAccuracy } : {}) };
        log(formatEvaluation(record, config.evalSamples));
        await appendFile(join(runDir, RUN_FILES.metrics), `${JSON.stringify(record)}\n`);
        if (config.keepBest !== 'none' && isBetterEvaluation(config.keepBest, record, best)) {
          best = record;
          const dir = join(runDir, RUN_FILES.bestGenerator);
          await saveLayersModel(generator, dir);
          // Written last: best.json names the iteration of complete weights.
          await writeFileAtomic(join(dir, RUN_FILES.best), `${JSON.stringify(best)}\n`);
          log(`${iteration} best so far by ${config.keepBest}: ${dir}`);
        }
      }
      if (config.resetDiscriminatorAt.includes(iteration)) {
        // The seed's burn-in: a new apprentice curator, same forger.
        discriminator.dispose();
        dOptimizer.dispose();
        discriminator = buildDiscriminator(kind, build(prng.nextUint32()));
        dOptimizer = adam();
        dVars = trainableVariables(discriminator);
        log(`${iteration} discriminator re-initialised (weights and optimizer state); generator kept`);
        await appendFile(join(runDir, RUN_FILES.metrics), `${JSON.stringify({ iteration, event: 'reset-discriminator' })}\n`);
      }
      if (iteration % config.checkpointInterval === 0) await checkpoint(iteration);
      ctx.tick?.(iteration);
      // Let signal handlers run: the WASM and JS backends never yield on their own.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await checkpoint(iteration);
    if (stopped) {
      log(`stopped at iteration ${iteration}; checkpoint saved, continue with --resume ${runDir}`);
    } else {
      await saveLayersModel(generator, join(runDir, RUN_FILES.generator));
      await saveLayersModel(discriminator, join(runDir, RUN_FILES.discriminator));
      const lines = await readMetrics(runDir);
      const records = lines.filter(isReport);
      const fids = lines.filter((l): l is EvaluationRecord => 'fid' in l);
      if (records.length > 0) await writeFileAtomic(join(runDir, RUN_FILES.curves), curvesPng(records, config.resetDiscriminatorAt, fids));
    }
    await writeRunConfig(runDir, config, dataset, ctx.backend, { iterationsDone: iteration, wallMs: Math.round(elapsed()), final: last });
  } finally {
    gVars = [];
    dVars = [];
    tf.dispose([gridInput].flat());
    generator.dispose();
    discriminator.dispose();
    gOptimizer.dispose();
    dOptimizer.dispose();
  }
  return { iteration, last, wallMs: elapsed(), stopped };
}
