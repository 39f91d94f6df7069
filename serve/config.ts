import { parseFlags, type FlagTable, type FlagValues } from '../lib/cli/flags.ts';
import { DEFAULT_PREFERENCE, MODEL_NAME } from '../shared/manifest.ts';
import { DEVICES, type Device } from './providers.ts';

const modelNames = { regex: MODEL_NAME, description: "model names (lowercase letters, digits, '-', '_')" } as const;

/** Server flags; each has an environment variable, and flags win over it. */
export const SERVE_FLAGS = {
  port: { kind: 'int', min: 0, max: 65535, default: 8080, env: 'PORT', help: 'TCP port (0 = any free port)' },
  host: { kind: 'string', default: '127.0.0.1', env: 'HOST', help: 'address to listen on' },
  'models-dir': { kind: 'string', default: 'models', env: 'GANFORGE_MODELS_DIR', help: 'folder of <name>.onnx + <name>.json' },
  models: { kind: 'list', pattern: modelNames, env: 'GANFORGE_MODELS', help: 'comma-separated model names to load', defaultLabel: 'all' },
  'default-model': {
    kind: 'string',
    pattern: { regex: MODEL_NAME, description: 'one model name' },
    env: 'GANFORGE_DEFAULT_MODEL',
    help: 'model used when /sample has no model parameter',
    defaultLabel: `${DEFAULT_PREFERENCE.join(', then ')}, then the first loaded`,
  },
  device: { kind: 'enum', values: DEVICES, default: 'auto', env: 'GANFORGE_DEVICE', help: 'auto (CUDA, else CPU), cuda, cpu' },
  'max-batch-images': {
    kind: 'int',
    min: 0,
    max: 65536,
    default: 1024,
    env: 'GANFORGE_MAX_BATCH_IMAGES',
    help: 'images per batched onnxruntime run(); 0 = no batching',
  },
} as const satisfies FlagTable;

/** Server settings: flags win over environment variables, which win over defaults. */
export interface ServeConfig {
  readonly port: number;
  readonly host: string;
  readonly modelsDir: string;
  /** Model names to load, or null for every model in modelsDir. */
  readonly models: string[] | null;
  /** Default model for /sample; null = the first of DEFAULT_PREFERENCE that loaded, else the first. */
  readonly defaultModel: string | null;
  readonly device: Device;
  /** Images per batched run(); 0 = no batching. */
  readonly maxBatchImages: number;
}

/** The settings of parsed server flags. */
export function serveConfig(values: FlagValues<typeof SERVE_FLAGS>): ServeConfig {
  return {
    port: values.port,
    host: values.host,
    modelsDir: values['models-dir'],
    models: values.models ?? null,
    defaultModel: values['default-model'] ?? null,
    device: values.device,
    maxBatchImages: values['max-batch-images'],
  };
}

/** Parses server flags and environment; unknown flags and bad values are errors naming them. */
export function parseServeArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServeConfig {
  return serveConfig(parseFlags(SERVE_FLAGS, argv, { env }).values);
}
