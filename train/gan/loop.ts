import * as tf from '@tensorflow/tfjs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { loadLayersModelFile, saveLayersModel } from 'tfjs-to-onnx';
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
import type { OrtEngine } from '../ort/engine.ts';
import { DataParallel } from './data-parallel.ts';
import { updateEma } from './ema.ts';
import { forward } from './forward.ts';
import { buildGenerator, freshDiscriminator, type GanKind, newStepState, type StepLosses, type StepState, step } from './iteration.ts';
import { CONDITIONAL_KINDS } from './models.ts';

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
  /**
   * Threads to train on (data-parallel; `config.workers` resolved by the caller, see resolveWorkers).
   * Default 1: the whole batch on this thread.
   */
  readonly workers?: number;
  /** Scores the generator (classifier-FID, per-class accuracy) every `config.evalInterval` iterations. */
  readonly evaluate?: (generator: tf.LayersModel) => TrainingEvaluation;
  /**
   * The engine of the step: 'tfjs' (the default) or 'ort', whose `workers` are its intra-op threads
   * (resolved by the caller, see resolveEngine).
   */
  readonly engine?: 'tfjs' | 'ort';
}

/** How a run ended. */
export interface TrainResult {
  readonly iteration: number;
  readonly last: MetricRecord | null;
  readonly wallMs: number;
  readonly stopped: boolean;
}

/** Everything a GAN run holds between iterations: the step's state, and the run's own. */
interface GanRun extends StepState {
  readonly ctx: RunContext;
  /** Fixed latents (and labels) of the progress grids. */
  readonly gridInput: tf.Tensor | tf.Tensor[];
  /** The other replicas, in data-parallel training. */
  parallel: DataParallel | null;
  /** The moving average of G's weights (--ema-decay), or null. */
  readonly ema: tf.LayersModel | null;
  /** The ort engine, which holds the state between iterations (the tfjs models are synced from it). */
  ort: OrtEngine | null;
  best: EvaluationRecord | null;
  last: MetricRecord | null;
  /** Wall time of the run so far, including the time before a resume. */
  readonly elapsed: () => number;
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
    if (ctx.engine === 'ort') {
      const { OrtEngine } = await import('../ort/engine.ts');
      run.ort = await OrtEngine.create(run, { threads: ctx.workers ?? 1, log: ctx.log });
    } else if ((ctx.workers ?? 1) > 1) {
      const { parallel, replica } = await DataParallel.start(run, ctx.workers!, ctx.backend);
      run.parallel = parallel;
      run.replica = replica;
      ctx.log(`data-parallel: ${ctx.workers} threads, ${config.batchSize / ctx.workers!} rows of each batch per thread`);
    }
    while (run.iteration < config.iterations) {
      if (ctx.shouldStop?.()) {
        stopped = true;
        break;
      }
      run.iteration += 1;
      run.parallel?.beginIteration();
      const losses = run.ort ? await run.ort.step(run) : step(run);
      if (run.ema && !run.ort) updateEma(run.ema, run.generator, config.emaDecay);
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
    await run.parallel?.close();
    await run.ort?.close();
    dispose(run);
  }
  return { iteration: run.iteration, last: run.last, wallMs: run.elapsed(), stopped };
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
  const state = newStepState(config, dataset, saved ? Prng.fromState(saved.rng) : new Prng(config.seed), saved?.iteration ?? 0);
  const { generator, discriminator, gOptimizer, dOptimizer } = state;
  const ema = config.emaDecay > 0 ? buildGenerator(config, dataset) : null;
  let start = 0;
  let elapsedBefore = 0;
  if (saved) {
    restoreWeights(generator, saved.groups.generator ?? [], 'generator');
    restoreWeights(discriminator, saved.groups.discriminator ?? [], 'discriminator');
    if (ema) restoreWeights(ema, saved.groups.ema ?? [], 'EMA generator');
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
  // The average starts at the generator it averages.
  if (ema && !saved) ema.setWeights(generator.getWeights());
  // A best generator from iterations about to be run again is forgotten (the rerun may replace it).
  let best = config.keepBest === 'none' ? null : await readBest(runDir);
  if (best && best.iteration > start) best = null;
  await writeRunConfig(runDir, config, dataset, ctx.backend, { engineUsed: ctx.engine ?? 'tfjs' });
  const gridZ = tf.tensor2d(new Prng(GRID_SEED).normals(GRID_SIZE * config.latentDim), [GRID_SIZE, config.latentDim]);
  return {
    ...state,
    ctx,
    parallel: null,
    ort: null,
    ema,
    gridInput: conditional ? [gridZ, tf.tensor2d(cycleLabels(GRID_SIZE), [GRID_SIZE, 1], 'int32')] : gridZ,
    best,
    last: null,
    elapsed: () => elapsedBefore + performance.now() - t0,
  };
}

/** The seed's report: the log line, a metrics line and the 4x4 grid of the fixed latents. */
async function report(run: GanRun, { dReal, dFake, gLoss }: StepLosses): Promise<void> {
  const { config, runDir, dataset, log } = run.ctx;
  const [lr, lf, ar, af, lg] = await Promise.all([dReal.loss, dFake.loss, dReal.accuracy, dFake.accuracy, gLoss].map((t) => t.data()));
  run.last = { iteration: run.iteration, dLoss: (lr![0]! + lf![0]!) / 2, dAccuracy: (ar![0]! + af![0]!) / 2, gLoss: lg![0]! };
  log(formatReport(run.last));
  await appendMetrics(runDir, { ...run.last, elapsedMs: Math.round(run.elapsed()) });
  run.ort?.storeGenerator();
  const pixels = tf.tidy(() => forward(run.generator, run.gridInput, false).dataSync() as Float32Array);
  const name = `iter-${String(run.iteration).padStart(String(config.iterations).length, '0')}.png`;
  await writeFileAtomic(join(runDir, RUN_FILES.samples, name), gridPng(pixels, GRID_SIZE, dataset.height, dataset.width));
}

/** A training-time evaluation, logged and recorded; with --keep-best the best generator so far is saved. */
async function evaluateAndKeepBest(run: GanRun, evaluate: NonNullable<RunContext['evaluate']>): Promise<void> {
  const { config, runDir, log } = run.ctx;
  await run.ort?.store(run);
  // With --ema-decay the average is what gets exported, so it is what is scored and kept.
  const scored = run.ema ?? run.generator;
  const { fid, classAccuracy } = evaluate(scored);
  const record: EvaluationRecord = { iteration: run.iteration, fid, ...(classAccuracy ? { classAccuracy } : {}) };
  log(formatEvaluation(record, config.evalSamples));
  await appendMetrics(runDir, record);
  if (config.keepBest === 'none' || !isBetterEvaluation(config.keepBest, record, run.best)) return;
  run.best = record;
  const dir = join(runDir, RUN_FILES.bestGenerator);
  await saveLayersModel(scored, dir);
  // Written last: best.json names the iteration of complete weights.
  await writeJsonAtomic(join(dir, RUN_FILES.best), run.best);
  log(`${run.iteration} best so far by ${config.keepBest}: ${dir}`);
}

/** The seed's burn-in: a new apprentice curator (weights and optimizer state), same forger. */
async function resetDiscriminator(run: GanRun): Promise<void> {
  // The replicas do the same after the same iteration, with the same PRNG draw.
  freshDiscriminator(run);
  await run.ort?.loadDiscriminator(run);
  run.ctx.log(`${run.iteration} discriminator re-initialised (weights and optimizer state); generator kept`);
  await appendMetrics(run.ctx.runDir, { iteration: run.iteration, event: 'reset-discriminator' });
}

/** Saves weights, optimizer states, the PRNG and the wall time: everything a bit-identical resume needs. */
async function checkpoint(run: GanRun): Promise<void> {
  await run.ort?.store(run);
  const gState = await adamState(run.gOptimizer);
  const dState = await adamState(run.dOptimizer);
  try {
    await saveCheckpoint(
      join(run.ctx.runDir, RUN_FILES.checkpoint),
      { iteration: run.iteration, rng: run.prng.state(), extra: { elapsedMs: run.elapsed() } },
      {
        generator: run.generator.getWeights(),
        discriminator: run.discriminator.getWeights(),
        gOptimizer: gState,
        dOptimizer: dState,
        ...(run.ema ? { ema: run.ema.getWeights() } : {}),
      },
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
    if (run.ema) await saveLayersModel(run.ema, join(runDir, RUN_FILES.emaGenerator));
    const lines = await readMetrics(runDir);
    const records = lines.filter(isReport);
    if (records.length > 0) await writeFileAtomic(join(runDir, RUN_FILES.curves), curvesPng(records, config.resetDiscriminatorAt, lines.filter(isEvaluation)));
  }
  await writeRunConfig(runDir, config, dataset, backend, {
    engineUsed: run.ctx.engine ?? 'tfjs',
    iterationsDone: run.iteration,
    wallMs: Math.round(run.elapsed()),
    final: run.last,
    threads: run.ctx.workers ?? 1,
  });
}

function dispose(run: GanRun): void {
  run.gVars = [];
  run.dVars = [];
  tf.dispose([run.gridInput].flat());
  run.generator.dispose();
  run.ema?.dispose();
  run.discriminator.dispose();
  run.gOptimizer.dispose();
  run.dOptimizer.dispose();
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
