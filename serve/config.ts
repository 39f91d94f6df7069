import { parseArgs } from 'node:util';
import { DEFAULT_PREFERENCE } from '../shared/manifest.ts';
import { DEVICES, type Device } from './providers.ts';

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


/** flag -> environment variable, for the README and --help. */
export const SERVE_FLAGS = {
  port: ['PORT', 'TCP port (0 = any free port)', '8080'],
  host: ['HOST', 'address to listen on', '127.0.0.1'],
  'models-dir': ['GANFORGE_MODELS_DIR', 'folder of <name>.onnx + <name>.json', 'models'],
  models: ['GANFORGE_MODELS', 'comma-separated model names to load', 'all'],
  'default-model': ['GANFORGE_DEFAULT_MODEL', 'model used when /sample has no model parameter', DEFAULT_PREFERENCE.join(', then ')],
  device: ['GANFORGE_DEVICE', 'auto (CUDA, else CPU), cuda, cpu', 'auto'],
  'max-batch-images': ['GANFORGE_MAX_BATCH_IMAGES', 'images per batched onnxruntime run(); 0 = no batching', '1024'],
} as const;

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Parses `npm start` flags and environment; unknown flags and bad values are errors naming them. */
export function parseServeArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServeConfig & { help: boolean } {
  const options = Object.fromEntries(Object.keys(SERVE_FLAGS).map((f) => [f, { type: 'string' as const }]));
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], strict: true, allowPositionals: false, options: { ...options, help: { type: 'boolean' } } }).values;
  } catch (err) {
    throw new Error((err as Error).message.split('. To specify')[0]!);
  }
  const get = (flag: keyof typeof SERVE_FLAGS): { value: string | undefined; source: string } => {
    const v = values[flag];
    if (typeof v === 'string') return { value: v, source: `--${flag}` };
    const e = env[SERVE_FLAGS[flag][0]];
    return { value: e === '' ? undefined : e, source: SERVE_FLAGS[flag][0] };
  };
  const port = get('port');
  let portNumber = 8080;
  if (port.value !== undefined) {
    if (!/^\d{1,5}$/.test(port.value) || Number(port.value) > 65535) throw new Error(`Expected integer between 0 and 65535 for ${port.source} but received '${port.value}'`);
    portNumber = Number(port.value);
  }
  const device = get('device');
  if (device.value !== undefined && !DEVICES.includes(device.value as Device)) {
    throw new Error(`Expected one of ${DEVICES.join(', ')} for ${device.source} but received '${device.value}'`);
  }
  const names = (source: { value: string | undefined; source: string }): string[] | null => {
    if (source.value === undefined) return null;
    const list = source.value.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = list.find((n) => !NAME.test(n));
    if (list.length === 0 || bad !== undefined) throw new Error(`Expected model names (lowercase letters, digits, '-', '_') for ${source.source} but received '${source.value}'`);
    return list;
  };
  const batch = get('max-batch-images');
  if (batch.value !== undefined && (!/^\d{1,6}$/.test(batch.value) || Number(batch.value) > 65536)) {
    throw new Error(`Expected integer between 0 and 65536 for ${batch.source} but received '${batch.value}'`);
  }
  const defaults = names(get('default-model'));
  if (defaults && defaults.length > 1) throw new Error(`Expected one model name for ${get('default-model').source} but received '${get('default-model').value}'`);
  return {
    port: portNumber,
    host: get('host').value ?? '127.0.0.1',
    modelsDir: get('models-dir').value ?? 'models',
    models: names(get('models')),
    defaultModel: defaults?.[0] ?? null,
    device: (device.value as Device | undefined) ?? 'auto',
    maxBatchImages: batch.value === undefined ? 1024 : Number(batch.value),
    help: values.help === true,
  };
}

/** The --help text. */
export function serveHelp(): string {
  const rows = Object.entries(SERVE_FLAGS).map(([flag, [envName, help, def]]) => `  --${flag.padEnd(15)} ${envName.padEnd(24)} ${help} [default: ${def}]`);
  return ['Usage: npm start -- [flags]   (flags override the environment variables beside them)', '', ...rows].join('\n');
}
