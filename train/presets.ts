import type { TrainConfig } from './config.ts';

/** A named recipe: training values over the defaults, and how `train:export` exports the result. */
export interface Preset {
  readonly summary: string;
  readonly train: Partial<TrainConfig>;
  /** The model name `train:export` writes (overridable with --name); none for recipes that ship nothing. */
  readonly name?: string;
  /** Which generator `train:export` exports: the last one or the one `--keep-best` kept. */
  readonly generator?: 'final' | 'best' | 'ema';
}

/** The fine-tune recipe behind cgan-aux and cgan-aux2: an auxiliary digit head that rejects fakes, a small step. */
const AUX_FINE_TUNE: Partial<TrainConfig> = {
  workers: 1,
  engine: 'tfjs',
  model: 'cgan',
  width: 0.25,
  batchSize: 64,
  beta1: 0.5,
  auxWeight: 3,
  auxFakes: 'reject',
  fakeMode: 'training',
  evalInterval: 250,
  evalSamples: 5000,
  keepBest: 'class-accuracy',
};

/**
 * The shipped models were trained on one thread: their presets pin it, so that a preset reproduces
 * its model's weights (data-parallel threads change the float summation order and the batch-norm
 * statistics of each step).
 */
const ONE_THREAD = { workers: 1, engine: 'tfjs' } as const;

/**
 * The recipe of Radford et al. (DCGAN, 2016: Adam 2e-4, beta1 0.5, D judging fakes in training mode)
 * at the book's full width on the default engine, with an exponential moving average of G (Yazici et al.
 * 2019) and one-sided label smoothing (Salimans et al. 2016), keeping the average with the best
 * training-time score.
 */
const IMPROVED_DCGAN: Partial<TrainConfig> = {
  engine: 'auto',
  model: 'dcgan',
  width: 1,
  batchSize: 64,
  lr: 0.0002,
  beta1: 0.5,
  fakeMode: 'training',
  labelSmoothing: 0.1,
  emaDecay: 0.999,
  evalInterval: 2000,
  evalSamples: 2000,
  keepBest: 'fid',
};

/**
 * One preset per shipped model: `npm run train:export -- --preset <name>` reproduces `models/<name>`
 * (same config, same seed; the test suite checks each against its manifest's training block), and the
 * seed's named recipe. Explicit flags still win over a preset's values.
 */
export const PRESETS = {
  dense: { summary: "the seed's dense GAN: 20,000 iterations, batch 128", train: { ...ONE_THREAD }, name: 'dense' },
  'dense-burn-in': {
    summary: "the seed's burn-in: 20,000 iterations, a fresh discriminator, 20,000 more",
    train: { ...ONE_THREAD, model: 'dense', iterations: 40000, resetDiscriminatorAt: [20000] },
    name: 'dense-burn-in',
  },
  'seed-burn-in': {
    summary: 'the notebook name of the dense-burn-in recipe',
    train: { ...ONE_THREAD, model: 'dense', iterations: 40000, resetDiscriminatorAt: [20000] },
  },
  dcgan: {
    summary: "the book's DCGAN at quarter width, batch 64, 20,000 iterations",
    train: { ...ONE_THREAD, model: 'dcgan', width: 0.25, batchSize: 64 },
    name: 'dcgan',
  },
  'dcgan-x1': {
    summary:
      "the book's full-width DCGAN on the default engine (ort here) with Radford et al.'s Adam, an EMA of G and one-sided label smoothing; 24,000 iterations, keeps the best EMA by FID",
    train: { ...IMPROVED_DCGAN, iterations: 24000 },
    name: 'dcgan-x1',
    generator: 'best',
  },
  cgan: {
    summary: 'the conditional DCGAN at quarter width, batch 64, 16,000 iterations',
    train: { ...ONE_THREAD, model: 'cgan', width: 0.25, batchSize: 64, iterations: 16000, fakeMode: 'training', evalInterval: 2000 },
    name: 'cgan',
  },
  'cgan-aux': {
    summary: 'cgan fine-tuned with a rejecting digit head (needs models/cgan); the best worst-digit generator',
    train: { ...AUX_FINE_TUNE, iterations: 6000, lr: 0.00005, initGenerator: 'models/cgan.tfjs/model.json' },
    name: 'cgan-aux',
    generator: 'best',
  },
  'cgan-aux2': {
    summary: 'cgan-aux fine-tuned again with a D warm-up and a smaller step (needs models/cgan-aux)',
    train: { ...AUX_FINE_TUNE, iterations: 5000, lr: 0.00003, dWarmup: 1000, initGenerator: 'models/cgan-aux.tfjs/model.json' },
    name: 'cgan-aux2',
    generator: 'best',
  },
} as const satisfies Record<string, Preset>;

/** A preset's name. */
export type PresetName = keyof typeof PRESETS;

/** Preset names, in --help order. */
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
