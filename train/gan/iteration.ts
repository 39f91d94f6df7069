import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../../shared/dataset.ts';
import type { Prng } from '../../shared/prng.ts';
import type { TrainConfig } from '../config.ts';
import type { SharedReducer } from './all-reduce.ts';
import { AUGMENT_PASSES, augmentImages, drawAugmentation, sliceDraw } from './augment.ts';
import { forward } from './forward.ts';
import { type BuildOptions, buildDiscriminator, buildGan, CLASSES, CONDITIONAL_KINDS } from './models.ts';
import { discriminatorStep, generatorStep, type Reduce, type StepOptions, trainableVariables } from './steps.ts';

// One training iteration, shared by the main loop (loop.ts) and the data-parallel replicas
// (replica.ts): every replica holds the same state and runs the same code on its rows of the batch.

/** The GAN kinds the loop trains (the gaussian baseline is fitted instead). */
export type GanKind = 'dense' | 'dcgan' | 'cgan' | 'acgan';

/** How D's digit head learns and how much G's loss weighs it (see {@link digitHead}). */
export interface DigitHead {
  readonly real: number;
  readonly fake: number;
  readonly fakeTarget: 'match' | 'reject';
  readonly g: number;
}

/** A replica's place in data-parallel training: its reducer and its rows of every batch. */
export interface Replica {
  readonly reducer: SharedReducer;
  readonly shard: { readonly start: number; readonly count: number };
}

/** What an iteration reads and updates. */
export interface StepState {
  readonly config: TrainConfig;
  readonly dataset: Dataset;
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
  /** Reused host buffers for the real batch and its labels (the whole batch). */
  readonly batch: Float32Array;
  readonly labelBuffer: Int32Array;
  iteration: number;
  /** Set in data-parallel training (null: this thread trains on the whole batch). */
  replica: Replica | null;
}

/** The tensors one iteration reports. */
export interface StepLosses {
  readonly dReal: { loss: tf.Scalar; accuracy: tf.Scalar };
  readonly dFake: { loss: tf.Scalar; accuracy: tf.Scalar };
  readonly gLoss: tf.Scalar;
}

/**
 * How D's digit head learns: acgan's on real and fake batches, naming both (Odena et al.); cgan's
 * auxiliary head on real ones, and with --aux-fakes reject learning not to see the asked digit in fakes.
 */
export function digitHead(kind: GanKind, config: TrainConfig): DigitHead {
  if (kind === 'acgan') return { real: 1, fake: 1, fakeTarget: 'match', g: 1 };
  return { real: config.auxWeight, fake: config.auxFakes === 'reject' ? config.auxWeight : 0, fakeTarget: 'reject', g: config.auxWeight };
}

/** The model builders' options for a run. */
export function buildOptions(config: TrainConfig, dataset: Dataset, seed: number): BuildOptions {
  return {
    latentDim: config.latentDim,
    imageShape: [dataset.height, dataset.width, 1],
    seed,
    width: config.width,
    auxClassifier: config.model === 'cgan' && config.auxWeight > 0,
    labelEmbeddingInit: config.labelEmbeddingInit,
  };
}

/** The optimizer of both networks. */
export function adam(config: TrainConfig): tf.AdamOptimizer {
  return tf.train.adam(config.lr, config.beta1, config.beta2);
}

/** A generator of the run's architecture with its initial weights (those of the run seed). */
export function buildGenerator(config: TrainConfig, dataset: Dataset): tf.LayersModel {
  const gan = buildGan(config.model as GanKind, buildOptions(config, dataset, config.seed));
  // buildGan's own D is never trained: the run's D has a seed of its own (see newStepState).
  gan.discriminator.dispose();
  return gan.generator;
}

/**
 * The state every run and every replica starts from: G and D with their initial weights (G from the
 * run seed, D from a seed derived from it), fresh optimizers, `prng` and `iteration`; the caller loads
 * a checkpoint's or rank 0's state over it.
 */
export function newStepState(config: TrainConfig, dataset: Dataset, prng: Prng, iteration: number): StepState {
  const kind = config.model as GanKind;
  const generator = buildGenerator(config, dataset);
  const discriminator = buildDiscriminator(kind, buildOptions(config, dataset, (config.seed ^ 0x5bd1e995) >>> 0));
  return {
    config,
    dataset,
    kind,
    conditional: CONDITIONAL_KINDS.includes(kind),
    labelledD: kind === 'cgan',
    head: digitHead(kind, config),
    prng,
    generator,
    discriminator,
    gOptimizer: adam(config),
    dOptimizer: adam(config),
    gVars: trainableVariables(generator),
    dVars: trainableVariables(discriminator),
    batch: new Float32Array(config.batchSize * dataset.height * dataset.width),
    labelBuffer: new Int32Array(config.batchSize),
    iteration,
    replica: null,
  };
}

/** The seed's burn-in: a new D (weights from the next PRNG draw) and a new optimizer; G is kept. */
export function freshDiscriminator(state: StepState): void {
  state.discriminator.dispose();
  state.dOptimizer.dispose();
  state.discriminator = buildDiscriminator(state.kind, buildOptions(state.config, state.dataset, state.prng.nextUint32()));
  state.dOptimizer = adam(state.config);
  state.dVars = trainableVariables(state.discriminator);
}

/** The all-reduce of a replica's step, or none when training alone. */
function reduceOf(replica: Replica | null): Reduce | undefined {
  if (!replica) return undefined;
  return (grads, scalars) => {
    const out = replica.reducer.reduce([...grads, ...scalars]);
    return { grads: out.slice(0, grads.length), scalars: out.slice(grads.length) as tf.Scalar[] };
  };
}

/**
 * One iteration: D on a real batch, D on G's fakes, then G through D, each drawing its random numbers
 * from the run's PRNG in a fixed order (so a resumed run repeats them exactly). Every replica draws
 * the whole batch (the same numbers) and trains on its rows; the updates use the averaged gradients,
 * then rank 0's batch-norm statistics are copied to the others (as DistributedDataParallel does).
 */
export function step(state: StepState): StepLosses {
  const { config, dataset, conditional, labelledD, head, prng, replica } = state;
  const imageShape = [dataset.height, dataset.width, 1] as const;
  const { start, count } = replica?.shard ?? { start: 0, count: config.batchSize };
  const size = dataset.height * dataset.width;
  const reduce = reduceOf(replica);
  const rows = <T extends Float32Array | Int32Array>(values: T, width: number): T => values.slice(start * width, (start + count) * width) as T;
  const labels = (values: Int32Array): tf.Tensor => tf.tensor2d(rows(values, 1), [count, 1], 'int32');
  const latents = (): tf.Tensor => tf.tensor2d(rows(prng.normals(config.batchSize * config.latentDim), config.latentDim), [count, config.latentDim]);
  realBatch(dataset, prng, state.batch, conditional ? state.labelBuffer : undefined);
  // Fresh arrays: the plain JS backend keeps a reference to a tensor's array instead of copying it.
  const real = tf.tensor4d(rows(state.batch, size), [count, ...imageShape]);
  const realLabels = conditional ? labels(state.labelBuffer) : null;
  const z = latents();
  const fakeLabels = conditional ? labels(randomLabels(prng, state.labelBuffer)) : null;
  // A fresh z (and fresh labels) for the generator step, as the seed insists.
  const z2 = latents();
  const gLabels = conditional ? labels(randomLabels(prng, state.labelBuffer)) : undefined;
  // DiffAugment: one draw per D pass (real, fakes, G's), after everything else the iteration draws.
  const [augReal, augFake, augG] = AUGMENT_PASSES.map((): StepOptions['augment'] => {
    if (config.augment.length === 0) return undefined;
    const draw = sliceDraw(drawAugmentation(prng, config.augment, config.batchSize, dataset.height, dataset.width), start, count);
    return (images) => augmentImages(images, draw);
  });
  // Keras' generator.predict(z) is inference mode (the seed); --fake-mode training uses batch statistics,
  // so D judges the same generator that the G step trains (needed when BN's moving statistics lag).
  const fake = tf.tidy(() => forward(state.generator, fakeLabels ? [z, fakeLabels] : z, config.fakeMode === 'training'));
  const dReal = discriminatorStep(state.discriminator, state.dOptimizer, labelledD ? [real, realLabels!] : real, 1, {
    vars: state.dVars,
    classes: realLabels ?? undefined,
    classWeight: head.real,
    smoothing: config.labelSmoothing,
    reduce,
    augment: augReal,
  });
  const dFake = discriminatorStep(state.discriminator, state.dOptimizer, labelledD ? [fake, fakeLabels!] : fake, 0, {
    vars: state.dVars,
    classes: fakeLabels ?? undefined,
    classWeight: head.fake,
    classTarget: head.fakeTarget,
    reduce,
    augment: augFake,
  });
  const gLoss = generatorStep(state.generator, state.discriminator, state.gOptimizer, z2, {
    vars: state.gVars,
    classes: gLabels,
    classWeight: head.g,
    update: state.iteration > config.dWarmup,
    reduce,
    augment: augG,
  });
  tf.dispose([real, z, fake, z2, ...[realLabels, fakeLabels, gLabels].filter((t): t is tf.Tensor => t != null)]);
  if (replica) syncBuffers(state, replica);
  return { dReal, dFake, gLoss };
}

/** Batch-norm moving statistics (and any other non-trainable weights) of both networks. */
function buffersOf(state: Pick<StepState, 'generator' | 'discriminator'>): tf.LayerVariable[] {
  return [...state.generator.nonTrainableWeights, ...state.discriminator.nonTrainableWeights];
}

/** Floats of the non-trainable weights (what {@link syncBuffers} broadcasts). */
export function bufferSize(state: Pick<StepState, 'generator' | 'discriminator'>): number {
  return buffersOf(state).reduce((n, w) => n + w.read().size, 0);
}

/** Copies rank 0's non-trainable weights to every other replica, so all replicas stay equal. */
function syncBuffers(state: StepState, replica: Replica): void {
  const buffers = buffersOf(state);
  if (buffers.length === 0) return;
  const values = replica.reducer.broadcast(buffers.map((w) => w.read()));
  if (!values) return;
  buffers.forEach((w, i) => {
    w.write(values[i]!);
  });
  tf.dispose(values);
}

/**
 * Fills `out` with a random batch (with replacement, like the seed's randint) from the data set, and
 * `labels` with their digits when given.
 */
export function realBatch(data: Dataset, prng: Prng, out: Float32Array, labels?: Int32Array): void {
  const size = data.height * data.width;
  const n = out.length / size;
  for (let i = 0; i < n; i++) {
    const k = prng.nextInt(data.count);
    out.set(data.images.subarray(k * size, (k + 1) * size), i * size);
    if (labels) labels[i] = data.labels![k]!;
  }
}

/** Random digit labels for a conditional batch. */
export function randomLabels(prng: Prng, out: Int32Array): Int32Array {
  for (let i = 0; i < out.length; i++) out[i] = prng.nextInt(CLASSES);
  return out;
}
