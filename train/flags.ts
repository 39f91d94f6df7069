import { convertFlag, parseFlags, type FlagSpec, type FlagTable, type ParsedFlags } from '../lib/cli/flags.ts';
import { UsageError } from '../shared/expected.ts';
import { DEFAULT_CONFIG, type TrainConfig } from './config.ts';
import { AUGMENTATIONS } from './gan/augment.ts';
import { MODEL_KINDS } from './gan/models.ts';
import { PRESET_NAMES, PRESETS, type PresetName } from './presets.ts';
import { BACKEND_NAMES } from './tfjs/backend.ts';

/**
 * The command-line flags of a training run: one per `TrainConfig` key (`config.ts`), plus the control
 * flags (preset, resume, progress), and their conversion into config overrides.
 */

/** A training flag: the table entry plus the config key it sets (the flag name in camelCase). */
const flag = <const S extends Omit<FlagSpec, 'default'>>(key: keyof TrainConfig, spec: S): S & { readonly default: TrainConfig[keyof TrainConfig] } =>
  ({ ...spec, default: DEFAULT_CONFIG[key] }) as S & { readonly default: TrainConfig[keyof TrainConfig] };

/** Every training flag, in --help order; each sets the TrainConfig key of the same name in camelCase. */
export const TRAIN_FLAGS = {
  model: flag('model', {
    kind: 'enum',
    values: MODEL_KINDS,
    help: 'architecture: dense (the seed), dcgan, cgan (conditional DCGAN), acgan (auxiliary-classifier GAN), or the gaussian baseline',
  }),
  data: flag('data', { kind: 'string', help: "'mnist' (10,000 embedded digits) or idx:<images>[,<labels>] (.gz allowed)" }),
  iterations: flag('iterations', { kind: 'int', min: 1, help: 'total training iterations (including those already done when resuming)' }),
  'batch-size': flag('batchSize', { kind: 'int', min: 1, max: 65536, help: 'images per batch' }),
  'sample-interval': flag('sampleInterval', { kind: 'int', min: 1, help: 'report, log metrics and write a 4x4 grid every N iterations' }),
  'checkpoint-interval': flag('checkpointInterval', { kind: 'int', min: 1, help: 'save a checkpoint every N iterations' }),
  'latent-dim': flag('latentDim', { kind: 'int', min: 1, max: 4096, help: 'size of z' }),
  lr: flag('lr', { kind: 'float', min: 0, help: 'Adam learning rate (both networks)' }),
  beta1: flag('beta1', { kind: 'float', min: 0, max: 1, help: 'Adam beta1' }),
  beta2: flag('beta2', { kind: 'float', min: 0, max: 1, help: 'Adam beta2' }),
  seed: flag('seed', { kind: 'int', min: 0, max: 0xffffffff, help: 'seed for init, batches and z (reproducible on one backend)' }),
  width: flag('width', { kind: 'float', min: 0.01, max: 4, help: 'DCGAN channel multiplier (1 = the book: 256/128/64 in G)' }),
  'reset-discriminator-at': flag('resetDiscriminatorAt', {
    kind: 'int-list',
    min: 1,
    help: 're-initialise D after these iterations (comma-separated or repeated)',
  }),
  engine: flag('engine', {
    kind: 'enum',
    values: ['auto', 'ort', 'tfjs'],
    env: 'GANFORGE_ENGINE',
    help: 'what runs the training step: ort (onnxruntime-node graphs), tfjs, or auto (tfjs on a libtensorflow GPU, else ort)',
  }),
  backend: flag('backend', { kind: 'enum', values: ['auto', ...BACKEND_NAMES], help: 'tfjs backend; auto tries tensorflow-gpu, tensorflow, wasm, cpu' }),
  out: flag('out', { kind: 'string', help: 'run folder', defaultLabel: 'runs/<date>-<model>' }),
  'eval-interval': flag('evalInterval', { kind: 'int', min: 0, help: 'record the classifier-FID every N iterations (needs models/classifier; 0 = off)' }),
  'eval-samples': flag('evalSamples', { kind: 'int', min: 2, max: 100000, help: 'generator samples behind each training-time FID' }),
  'fake-mode': flag('fakeMode', {
    kind: 'enum',
    values: ['inference', 'training'],
    help: "G's batch-norm mode for the D step's fakes: inference (Keras' predict, as the seed) or training (batch statistics)",
  }),
  'aux-weight': flag('auxWeight', {
    kind: 'float',
    min: 0,
    max: 100,
    help: 'cgan: weight of an auxiliary digit head on D, trained on real digits, whose cross-entropy G also minimises (0 = none)',
  }),
  'aux-fakes': flag('auxFakes', {
    kind: 'enum',
    values: ['ignore', 'reject'],
    help: 'with --aux-weight: the digit head learns nothing from fakes (ignore) or learns not to see the asked digit in them (reject)',
  }),
  'd-warmup': flag('dWarmup', { kind: 'int', min: 0, help: 'train D alone for the first N iterations (a fresh D for an --init-generator fine-tune)' }),
  'init-generator': flag('initGenerator', {
    kind: 'string',
    help: "start G from a saved tfjs generator's weights (model.json of the same architecture)",
    defaultLabel: 'random',
  }),
  'label-smoothing': flag('labelSmoothing', {
    kind: 'float',
    min: 0,
    max: 0.5,
    help: "one-sided label smoothing: D's target for real images is 1 - s (0 = the seed's hard labels)",
  }),
  'keep-best': flag('keepBest', {
    kind: 'enum',
    values: ['none', 'fid', 'class-accuracy'],
    help: 'keep the generator with the lowest FID, or (cgan, acgan) the highest worst-digit accuracy, in generator-best/ (needs --eval-interval)',
  }),
  'ema-decay': flag('emaDecay', {
    kind: 'float',
    min: 0,
    max: 0.99999,
    help: "exponential moving average of G's weights, decay d (e.g. 0.999): evaluated, kept and saved in generator-ema/ (0 = off)",
  }),
  augment: flag('augment', {
    kind: 'list',
    pattern: { regex: /^(none|translation|cutout)$/, description: 'a comma-separated list of translation, cutout (or none)' },
    help: "DiffAugment: augmentations of every image D sees, real or fake, in both networks' steps (translation by up to 1/8 of the side, a cut-out square of half the side)",
    defaultLabel: 'none',
  }),
  'label-embedding-init': flag('labelEmbeddingInit', {
    kind: 'enum',
    values: ['book', 'identity'],
    help: "cgan, acgan: how G's digit embedding (which multiplies z) starts: book (+-0.05, Keras' default) or identity (1 +- 0.05)",
  }),
  workers: flag('workers', {
    kind: 'string',
    pattern: { regex: /^(auto|[1-9]\d{0,2})$/, description: 'auto or an integer between 1 and 256' },
    help: 'training threads: with --engine tfjs data-parallel replicas (auto = one per core on WASM and JS, 1 on libtensorflow), with ort intra-op threads (auto = one per core); results depend on the count',
  }),
} as const satisfies FlagTable;

/** The config key a training flag sets. */
export function configKey(flagName: string): keyof TrainConfig {
  return flagName.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()) as keyof TrainConfig;
}

/** Flags of a training run that are not configuration values. */
export const CONTROL_FLAGS = {
  preset: { kind: 'enum', values: PRESET_NAMES, help: 'apply a named recipe first (train/presets.ts); explicit flags win over it' },
  resume: { kind: 'string', help: 'continue the run in this folder from its checkpoint' },
  progress: { kind: 'enum', values: ['auto', 'bar', 'plain'], default: 'auto', help: "'auto' (bar on a terminal), 'bar' or 'plain'" },
} as const satisfies FlagTable;

/** Everything `ganforge train` takes. */
export const TRAIN_COMMAND_FLAGS = { ...TRAIN_FLAGS, ...CONTROL_FLAGS } as const satisfies FlagTable;

/** What the command line asks for. */
export interface TrainArgs {
  /** Values given explicitly (after the preset), to merge over defaults or a resumed run's config. */
  readonly overrides: Partial<TrainConfig>;
  readonly preset: PresetName | null;
  readonly resume: string | null;
  readonly progress: 'auto' | 'bar' | 'plain';
  readonly help: boolean;
}

/** Converts one raw flag value to its typed config value, or throws naming the flag. */
export function parseFlagValue(flagName: string, raw: string | string[]): TrainConfig[keyof TrainConfig] {
  const spec = (TRAIN_FLAGS as FlagTable)[flagName];
  if (!spec) throw new UsageError(`Unknown flag --${flagName}`);
  return configValue(flagName, convertFlag(spec, `--${flagName}`, raw));
}

/** A parsed flag value as its config value (`--workers 2` is the number 2). */
function configValue(flagName: string, value: unknown): TrainConfig[keyof TrainConfig] {
  if (flagName === 'workers' && value !== 'auto') return Number(value);
  // In the order they are applied, each once; 'none' alone clears a preset's list.
  if (flagName === 'augment') return AUGMENTATIONS.filter((a) => (value as string[]).includes(a));
  return value as TrainConfig[keyof TrainConfig];
}

/** The training arguments of parsed flags: the preset's values, then every flag given explicitly. */
export function trainArgs(parsed: ParsedFlags<typeof TRAIN_COMMAND_FLAGS>): TrainArgs {
  const preset = parsed.values.preset ?? null;
  const overrides: Partial<TrainConfig> = preset ? { ...PRESETS[preset].train } : {};
  for (const name of Object.keys(TRAIN_FLAGS) as (keyof typeof TRAIN_FLAGS)[]) {
    if (parsed.given.has(name)) (overrides as Record<string, unknown>)[configKey(name)] = configValue(name, parsed.values[name]);
  }
  return { overrides, preset, resume: parsed.values.resume ?? null, progress: parsed.values.progress, help: parsed.help };
}

/** Parses training flags. Unknown flags, missing values and ill-typed values are errors naming the flag. */
export function parseTrainArgs(argv: readonly string[]): TrainArgs {
  return trainArgs(parseFlags(TRAIN_COMMAND_FLAGS, argv, { env: {} }));
}
