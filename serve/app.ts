import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { randomInt } from 'node:crypto';
import { chooseConditionalDefault } from '../shared/manifest.ts';
import { ServerState } from './admin/shared-state.ts';
import type { ServeContext } from './context.ts';
import { type CostLimits, DEFAULT_COST_LIMITS } from './cost.ts';
import { notFound, onError } from './errors.ts';
import { type Executor, InlineExecutor } from './generation/pool.ts';
import { DEFAULT_SCHEDULER_OPTIONS, Scheduler } from './generation/scheduler.ts';
import { ByteLru } from './lru.ts';
import { type Preflight, overloadPreflight } from './load-shedding.ts';
import { crossOriginIsolation } from './middleware/isolation.ts';
import type { Body } from './generation/protocol.ts';
import type { LoadedModel } from './registry.ts';
import { configureSharp } from './render.ts';
import { healthRoutes } from './routes/health.ts';
import { modelRoutes } from './routes/models.ts';
import { sampleRoutes } from './routes/sample.ts';

/** What the app serves. */
export interface AppOptions {
  readonly models: ReadonlyMap<string, LoadedModel>;
  readonly defaultModel: string;
  /** The execution provider the sessions run on (for /healthz). */
  readonly provider: string;
  /** Problems found while loading (for /healthz). */
  readonly problems?: ReadonlyArray<{ readonly name: string; readonly reason: string }>;
  /** Seeds requests without one (tests pin it). */
  readonly randomSeed?: () => number;
  /** Where generation runs: generator threads (serve/generation/pool.ts), or by default the main thread. */
  readonly executor?: Executor;
  /** Images per onnxruntime run() when concurrent requests are batched; 0 turns batching off. Default 1024. */
  readonly maxBatchImages?: number;
  /** Images that may wait per model before new requests get 503. Default 2048. */
  readonly maxQueueImages?: number;
  /** Longest wait in the queue before a 503, in ms. Default 5000. */
  readonly queueTimeoutMs?: number;
  /** The per-request cost ceiling. */
  readonly limits?: CostLimits;
  /** The built web demo (web-demo/dist), served at / when given. */
  readonly webDemoDir?: string;
  /** Memory for rendered seeded grids, in bytes (0 = no cache). Default 32 MiB. */
  readonly cacheBytes?: number;
  /** Readiness and counters in shared memory (serve/admin/shared-state.ts); by default a new one, not ready. */
  readonly state?: ServerState;
}

/**
 * The ganforge HTTP API as a Hono app (`app.request()` in tests, `@hono/node-server` in serve/command.ts):
 * sub-apps for the images (/sample, /interpolate, /example.png), the models and health (/healthz,
 * /readyz, /metrics), mounted with `app.route()` behind the isolation and metrics middleware, with one error
 * handler for all of them. Generation goes through one bounded scheduler per app; `preflight` is its
 * load shedding (`load-shedding.ts`), which the listening server runs before the app.
 */
export function createApp(options: AppOptions): { app: Hono; scheduler: Scheduler; cache: ByteLru<Body>; preflight: Preflight; state: ServerState } {
  const { models, defaultModel } = options;
  if (!models.has(defaultModel)) throw new Error(`Default model '${defaultModel}' is not loaded`);
  configureSharp();
  const scheduler = new Scheduler(options.executor ?? new InlineExecutor(models), models.keys(), {
    maxBatchImages: options.maxBatchImages ?? DEFAULT_SCHEDULER_OPTIONS.maxBatchImages,
    maxQueueImages: options.maxQueueImages ?? DEFAULT_SCHEDULER_OPTIONS.maxQueueImages,
    queueTimeoutMs: options.queueTimeoutMs ?? DEFAULT_SCHEDULER_OPTIONS.queueTimeoutMs,
  });
  const cache = new ByteLru<Body>(options.cacheBytes ?? 32 * 2 ** 20);
  const state = options.state ?? ServerState.create();
  state.setModels(models.size);
  const ctx: ServeContext = {
    models,
    defaultModel,
    // "Give me a 7" without a model name goes to a conditional model even when the default is not one.
    defaultConditional: chooseConditionalDefault(
      [...models.values()].map((m) => m.manifest),
      defaultModel,
    ),
    scheduler,
    cache,
    limits: options.limits ?? DEFAULT_COST_LIMITS,
    randomSeed: options.randomSeed ?? (() => randomInt(0, 2 ** 32 - 1)),
    provider: options.provider,
    problems: options.problems ?? [],
    state,
  };
  const health = healthRoutes(ctx);

  const app = new Hono();
  app.use('*', health.countRequests);
  app.use('*', crossOriginIsolation());
  app.onError(onError);
  app.notFound(notFound);
  app.route('/', sampleRoutes(ctx));
  app.route('/', modelRoutes(ctx));
  app.route('/', health.routes);
  if (options.webDemoDir) app.use('/*', serveStatic({ root: options.webDemoDir }));
  app.get('/', (c) => c.text('The web demo is not built: run npm run build:web (npm start builds it).', 404));
  return { app, scheduler, cache, preflight: overloadPreflight(scheduler, defaultModel, ctx.defaultConditional), state };
}
