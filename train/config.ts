import { expected, UsageError } from '../shared/expected.ts';
import type { Augmentation } from './gan/augment.ts';
import type { LabelEmbeddingInit } from './gan/models.ts';
import { CONDITIONAL_KINDS, type ModelKind } from './gan/models.ts';
import type { BackendChoice } from './tfjs/backend.ts';

/**
 * The configuration of a training run: its type, the seed's defaults, and how explicit values are merged
 * over defaults (or a resumed run's saved config) and checked. The command-line flags that set it are in
 * `flags.ts`.
 */

/** Everything a training run depends on: plain typed values, saved beside the weights. */
export interface TrainConfig {
  model: ModelKind;
  data: string;
  iterations: number;
  batchSize: number;
  sampleInterval: number;
  checkpointInterval: number;
  latentDim: number;
  lr: number;
  beta1: number;
  beta2: number;
  seed: number;
  /** DCGAN channel multiplier. */
  width: number;
  /** Iterations after which D is re-initialised (weights and optimizer state). */
  resetDiscriminatorAt: number[];
  backend: BackendChoice;
  out: string;
  /** Record the classifier-FID every N iterations (0 = never). */
  evalInterval: number;
  /** Generator samples behind each training-time FID. */
  evalSamples: number;
  /** How G makes the D step's fakes: 'inference' (Keras' predict, the seed) or 'training' (batch statistics). */
  fakeMode: 'inference' | 'training';
  /** cgan: weight of the auxiliary digit head on D (trained on real digits; G minimises it for its asked digits). 0 = none. */
  auxWeight: number;
  /** cgan --aux-weight: what the digit head learns on fakes: nothing ('ignore') or not to see the asked digit ('reject'). */
  auxFakes: 'ignore' | 'reject';
  /** Iterations at the start of a run that train D only (G's loss is still reported). */
  dWarmup: number;
  /** Start G from this tfjs generator (`model.json`) instead of random weights ('' = random). */
  initGenerator: string;
  /** One-sided label smoothing: D's target for real images is 1 - labelSmoothing. */
  labelSmoothing: number;
  /** Keep the generator with the best training-time evaluation in `generator-best/` ('none' = off). */
  keepBest: 'none' | 'fid' | 'class-accuracy';
  /**
   * Data-parallel threads on CPU ('auto': one per core on the WASM and JS backends, 1 on libtensorflow).
   * Results are deterministic for a given seed and thread count.
   */
  workers: 'auto' | number;
  /**
   * Exponential moving average of G's weights: each iteration ema = d * ema + (1 - d) * G (0 = off).
   * Evaluations and --keep-best then score the average, which is saved in generator-ema/.
   */
  emaDecay: number;
  /**
   * What runs the training step: 'ort' (the iteration as ONNX graphs on onnxruntime-node), 'tfjs'
   * (TensorFlow.js on the --backend), or 'auto' (tfjs on a libtensorflow GPU, else ort).
   */
  engine: 'auto' | 'ort' | 'tfjs';
  /**
   * DiffAugment (Zhao et al. 2020): the augmentations applied to every image D sees, real or fake, in
   * D's steps and G's (empty = none).
   */
  augment: Augmentation[];
  /** Conditional G: the initial digit embedding that multiplies z ('book': +-0.05; 'identity': 1 +- 0.05). */
  labelEmbeddingInit: LabelEmbeddingInit;
}

/** The seed's defaults (GANs in Action ch. 3, as in the notebook). */
export const DEFAULT_CONFIG: Readonly<TrainConfig> = {
  model: 'dense',
  data: 'mnist',
  iterations: 20000,
  batchSize: 128,
  sampleInterval: 1000,
  checkpointInterval: 1000,
  latentDim: 100,
  lr: 0.001,
  beta1: 0.9,
  beta2: 0.999,
  seed: 42,
  width: 1,
  resetDiscriminatorAt: [],
  backend: 'auto',
  out: '',
  evalInterval: 0,
  evalSamples: 1000,
  fakeMode: 'inference',
  auxWeight: 0,
  auxFakes: 'ignore',
  initGenerator: '',
  dWarmup: 0,
  labelSmoothing: 0,
  keepBest: 'none',
  workers: 'auto',
  emaDecay: 0,
  engine: 'auto',
  augment: [],
  labelEmbeddingInit: 'book',
};

/** Flags a resumed run may change; everything else is fixed by the run's saved config. */
export const RESUMABLE_KEYS: ReadonlyArray<keyof TrainConfig> = [
  'iterations',
  'sampleInterval',
  'checkpointInterval',
  'backend',
  'engine',
  'evalInterval',
  'evalSamples',
  'keepBest',
  'workers',
];

/** Merges overrides over a base config and checks the cross-field rules. */
export function resolveConfig(base: Readonly<TrainConfig>, overrides: Partial<TrainConfig>): TrainConfig {
  const config: TrainConfig = {
    ...base,
    ...overrides,
    resetDiscriminatorAt: [...(overrides.resetDiscriminatorAt ?? base.resetDiscriminatorAt)],
    // Runs saved before augmentation existed have none.
    augment: [...(overrides.augment ?? base.augment ?? [])],
    labelEmbeddingInit: overrides.labelEmbeddingInit ?? base.labelEmbeddingInit ?? 'book',
  };
  const late = config.resetDiscriminatorAt.filter((i) => i >= config.iterations);
  if (late.length > 0) throw expected(`values below --iterations (${config.iterations})`, '--reset-discriminator-at', late.join(', '));
  if (config.auxWeight > 0 && config.model !== 'cgan') throw expected('--model cgan', '--aux-weight (acgan always has its digit head)', config.model);
  if (config.keepBest !== 'none' && config.evalInterval === 0) {
    throw new UsageError(`--keep-best ${config.keepBest} needs --eval-interval N (the evaluations it compares)`);
  }
  if (config.keepBest === 'class-accuracy' && !CONDITIONAL_KINDS.includes(config.model)) {
    throw expected('--model cgan or acgan', '--keep-best class-accuracy (per-digit accuracy needs a conditional model)', config.model);
  }
  return config;
}
