import { availableParallelism } from 'node:os';
import { parseFlags, type FlagTable, type FlagValues } from '../lib/cli/flags.ts';
import { expected } from '../shared/expected.ts';
import { DEFAULT_PREFERENCE, MODEL_NAME } from '../shared/manifest.ts';
import { DEFAULT_COST_LIMITS } from './cost.ts';
import { DEFAULT_SCHEDULER_OPTIONS } from './generation/scheduler.ts';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from './http-server.ts';
import { DEVICES, type Device } from './providers.ts';

/** How long in-flight requests get to finish after SIGTERM/SIGINT, by default. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

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
    default: DEFAULT_SCHEDULER_OPTIONS.maxBatchImages,
    env: 'GANFORGE_MAX_BATCH_IMAGES',
    help: 'images per batched onnxruntime run(); 0 = no batching',
  },
  'max-queue-images': {
    kind: 'int',
    min: 1,
    max: 1_000_000,
    default: DEFAULT_SCHEDULER_OPTIONS.maxQueueImages,
    env: 'GANFORGE_MAX_QUEUE_IMAGES',
    help: 'images that may wait per model; beyond, 503 with Retry-After',
  },
  'queue-timeout-ms': {
    kind: 'int',
    min: 1,
    max: 600_000,
    default: DEFAULT_SCHEDULER_OPTIONS.queueTimeoutMs,
    env: 'GANFORGE_QUEUE_TIMEOUT_MS',
    help: 'longest wait in the queue before a 503',
  },
  'max-pixels': {
    kind: 'int',
    min: 784,
    max: 2 ** 28,
    default: DEFAULT_COST_LIMITS.maxPixels,
    env: 'GANFORGE_MAX_PIXELS',
    help: 'most output pixels per response (a grid, or all frames of an animation); beyond, 400',
  },
  'generator-threads': {
    kind: 'string',
    pattern: { regex: /^(auto|\d{1,3})$/, description: 'auto or an integer between 0 and 256' },
    default: 'auto',
    env: 'GANFORGE_GENERATOR_THREADS',
    help: 'generator threads per process (auto = one per core but one, at least 1; 0 = on the event loop)',
  },
  workers: {
    kind: 'string',
    pattern: { regex: /^(auto|\d{1,3})$/, description: 'auto or an integer between 1 and 256' },
    default: '1',
    env: 'GANFORGE_WORKERS',
    help: 'server processes sharing the port (auto = one per core); each has its own generator threads',
  },
  'headers-timeout-ms': {
    kind: 'int',
    min: 100,
    max: 600_000,
    default: DEFAULT_HTTP_LIMITS.headersMs,
    env: 'GANFORGE_HEADERS_TIMEOUT_MS',
    help: 'a client must send its request headers within this time',
  },
  'request-timeout-ms': {
    kind: 'int',
    min: 100,
    max: 600_000,
    default: DEFAULT_HTTP_LIMITS.requestMs,
    env: 'GANFORGE_REQUEST_TIMEOUT_MS',
    help: 'a client must send its whole request within this time',
  },
  'keep-alive-timeout-ms': {
    kind: 'int',
    min: 100,
    max: 600_000,
    default: DEFAULT_HTTP_LIMITS.keepAliveMs,
    env: 'GANFORGE_KEEP_ALIVE_TIMEOUT_MS',
    help: 'an idle keep-alive connection is closed after this time',
  },
  'idle-timeout-ms': {
    kind: 'int',
    min: 100,
    max: 600_000,
    default: DEFAULT_HTTP_LIMITS.idleMs,
    env: 'GANFORGE_IDLE_TIMEOUT_MS',
    help: 'a socket with no traffic at all is closed after this time',
  },
  'max-connections': {
    kind: 'int',
    min: 1,
    max: 1_000_000,
    default: DEFAULT_HTTP_LIMITS.maxConnections,
    env: 'GANFORGE_MAX_CONNECTIONS',
    help: 'most open connections per process; beyond, new ones are refused',
  },
  'admin-port': {
    kind: 'int',
    min: 0,
    max: 65535,
    default: 0,
    env: 'GANFORGE_ADMIN_PORT',
    help: '/healthz, /readyz and /metrics also on this port, served by a thread of their own that answers while the server is flooded (0 = none)',
    defaultLabel: '0 (none)',
  },
  'drain-timeout-ms': {
    kind: 'int',
    min: 100,
    max: 600_000,
    default: DEFAULT_DRAIN_TIMEOUT_MS,
    env: 'GANFORGE_DRAIN_TIMEOUT_MS',
    help: 'on SIGTERM/SIGINT, in-flight requests get this long to finish; then the process exits with code 1',
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
  readonly maxQueueImages: number;
  readonly queueTimeoutMs: number;
  readonly maxPixels: number;
  /** Generator threads per process (0 = the event loop). */
  readonly generatorThreads: number;
  /** Server processes. */
  readonly workers: number;
  readonly timeouts: Omit<HttpLimits, 'maxConnections'>;
  readonly maxConnections: number;
  /** The admin listener's port (/healthz, /readyz, /metrics on a thread of their own); 0 = none. */
  readonly adminPort: number;
  /** How long in-flight requests get to finish after SIGTERM/SIGINT. */
  readonly drainTimeoutMs: number;
}

/** `auto` or a count within bounds, for a flag's text. */
function count(raw: string, flag: string, min: number, autoValue: number): number {
  const n = raw === 'auto' ? autoValue : Number(raw);
  if (!Number.isInteger(n) || n < min || n > 256) throw expected(`auto or an integer between ${min} and 256`, `--${flag}`, raw);
  return n;
}

/** The settings of parsed server flags. */
export function serveConfig(values: FlagValues<typeof SERVE_FLAGS>): ServeConfig {
  const cores = availableParallelism();
  return {
    port: values.port,
    host: values.host,
    modelsDir: values['models-dir'],
    models: values.models ?? null,
    defaultModel: values['default-model'] ?? null,
    device: values.device,
    maxBatchImages: values['max-batch-images'],
    maxQueueImages: values['max-queue-images'],
    queueTimeoutMs: values['queue-timeout-ms'],
    maxPixels: values['max-pixels'],
    // One core's worth is left to the event loop and sharp's encoder threads: measured on 2 cores, a
    // second generator thread lifted /healthz's worst latency under load from ~12 ms to 36-90 ms.
    generatorThreads: count(values['generator-threads'], 'generator-threads', 0, Math.max(1, cores - 1)),
    workers: count(values.workers, 'workers', 1, cores),
    timeouts: {
      headersMs: values['headers-timeout-ms'],
      requestMs: values['request-timeout-ms'],
      keepAliveMs: values['keep-alive-timeout-ms'],
      idleMs: values['idle-timeout-ms'],
    },
    maxConnections: values['max-connections'],
    adminPort: adminPort(values['admin-port'], values.port),
    drainTimeoutMs: values['drain-timeout-ms'],
  };
}

/** The admin port, which cannot be the main one. */
function adminPort(admin: number, port: number): number {
  if (admin !== 0 && admin === port) throw expected(`0 (none) or a port other than --port (${port})`, '--admin-port', admin);
  return admin;
}

/** Parses server flags and environment; unknown flags and bad values are errors naming them. */
export function parseServeArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServeConfig {
  return serveConfig(parseFlags(SERVE_FLAGS, argv, { env }).values);
}
