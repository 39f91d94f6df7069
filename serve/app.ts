import { prometheus } from '@hono/prometheus';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { createHash, randomInt } from 'node:crypto';
import { Gauge, Registry } from 'prom-client';
import { defaultColumns } from '../shared/grid.ts';
import { latentWalk } from '../shared/latent.ts';
import { chooseConditionalDefault, isConditional } from '../shared/manifest.ts';
import { sampleLatents } from '../shared/prng.ts';
import { Batcher } from './batcher.ts';
import { ByteLru } from './lru.ts';
import { HttpError, interpolateQuery, parseQuery, sampleQuery } from './query.ts';
import type { LoadedModel } from './registry.ts';
import { configureSharp, renderAnimation, renderGridPng } from './render.ts';

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
  /** Images per onnxruntime run() when concurrent requests are batched; 0 turns batching off. */
  readonly maxBatchImages?: number;
  /** The built web demo (web-demo/dist), served at / when given. */
  readonly webDemoDir?: string;
  /** Memory for rendered seeded grids, in bytes (0 = no cache). Default 32 MiB. */
  readonly cacheBytes?: number;
}

/** Bumped when the PNG rendering changes, so old ETags stop matching. */
const RENDER_VERSION = 1;

/** The grid options of a /sample request, with defaults applied. */
function gridOptions(q: { n?: number; cols?: number; scale?: number; padding?: number }): { n: number; cols: number; scale: number; padding: number } {
  const n = q.n ?? 16;
  return { n, cols: Math.min(q.cols ?? defaultColumns(n), n), scale: q.scale ?? 1, padding: q.padding ?? 2 };
}

/**
 * The ganforge HTTP API as a Hono app (`app.request()` in tests, `@hono/node-server` in main.ts):
 * GET /sample, /models, /healthz, /metrics, /example.png. One error handler turns every
 * {@link HttpError} into a JSON body naming the parameter, what was expected and what was received.
 */
export function createApp(options: AppOptions): { app: Hono; batchers: Map<string, Batcher> } {
  const { models, defaultModel, provider } = options;
  if (!models.has(defaultModel)) throw new Error(`Default model '${defaultModel}' is not loaded`);
  configureSharp();
  const randomSeed = options.randomSeed ?? (() => randomInt(0, 2 ** 32 - 1));
  const cache = new ByteLru<Buffer>(options.cacheBytes ?? 32 * 2 ** 20);
  const batchers = new Map([...models].map(([name, m]) => [name, new Batcher(m, options.maxBatchImages ?? 1024)]));
  const registry = new Registry();
  const { printMetrics, registerMetrics } = prometheus({ registry, collectDefaultMetrics: true, prefix: 'ganforge_' });
  const batchGauge = new Gauge({ name: 'ganforge_generator_batches', help: 'onnxruntime run() calls so far', labelNames: ['model'], registers: [registry] });
  const imageGauge = new Gauge({ name: 'ganforge_generator_images', help: 'images generated so far', labelNames: ['model'], registers: [registry] });
  const cacheGauge = new Gauge({ name: 'ganforge_png_cache', help: 'seeded PNG cache: hits, misses and bytes held', labelNames: ['kind'], registers: [registry] });

  const app = new Hono();
  app.use('*', registerMetrics);
  // Cross-origin isolation lets the web demo run onnxruntime-web's WASM on several threads.
  app.use('*', async (c, next) => {
    await next();
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Embedder-Policy', 'require-corp');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
  });

  app.onError((err, c) => {
    if (err instanceof HttpError) {
      return c.json({ error: err.message, parameter: err.parameter, expected: err.expected, received: err.received }, err.status);
    }
    console.error(`error: ${c.req.method} ${c.req.path}: ${err.stack ?? err.message}`);
    return c.json({ error: 'internal error' }, 500);
  });
  app.notFound((c) => c.json({ error: `No route for ${c.req.method} ${c.req.path}` }, 404));

  /** Renders a grid for a model and a seed (and digit labels for conditional models). */
  const render = async (name: string, seed: number, grid: ReturnType<typeof gridOptions>, labels: Int32Array | null = null): Promise<Buffer> => {
    const model = models.get(name)!;
    const latents = sampleLatents(seed, grid.n, model.manifest.latentDim);
    const images = await batchers.get(name)!.generate(latents, grid.n, labels);
    return renderGridPng(images, grid.n, model.height, model.width, { cols: grid.cols, scale: grid.scale, padding: grid.padding });
  };

  // "Give me a 7" without a model name goes to a conditional model even when the default is not one.
  const defaultConditional = chooseConditionalDefault([...models.values()].map((m) => m.manifest), defaultModel);

  /** The model a request names (or the default; the conditional default for a digit), or a 404 naming the available ones. */
  const modelFor = (requested: string | undefined, digit?: string): string => {
    const name = requested ?? (digit !== undefined && defaultConditional !== null ? defaultConditional : defaultModel);
    if (!models.has(name)) {
      throw new HttpError(404, `Unknown model '${name}' (available: ${[...models.keys()].join(', ')})`, 'model', `one of ${[...models.keys()].join(', ')}`, name);
    }
    return name;
  };

  /** ETag and immutable caching for a deterministic response; true when the client already has it. */
  const immutable = (c: { header: (k: string, v: string) => void; req: { header: (k: string) => string | undefined } }, key: unknown[]): { etag: string; fresh: boolean } => {
    const etag = `"${createHash('sha256').update(JSON.stringify([RENDER_VERSION, ...key])).digest('base64url').slice(0, 27)}"`;
    c.header('ETag', etag);
    c.header('Cache-Control', 'public, max-age=31536000, immutable');
    return { etag, fresh: c.req.header('If-None-Match')?.split(',').some((t) => t.trim() === etag) ?? false };
  };

  /** A digit parameter is only for conditional models. */
  const checkDigit = (name: string, digit: string | undefined): void => {
    if (digit !== undefined && !isConditional(models.get(name)!.manifest)) {
      const conditional = [...models.values()].filter((m) => isConditional(m.manifest)).map((m) => m.manifest.name);
      throw new HttpError(400, `Model '${name}' is not conditional: digit needs one of ${conditional.join(', ') || '(no conditional model loaded)'}`, 'digit', 'a conditional model', digit);
    }
  };

  app.get('/sample', async (c) => {
    const q = parseQuery(sampleQuery, c.req.query());
    const name = modelFor(q.model, q.digit);
    checkDigit(name, q.digit);
    let labels: Int32Array | null = null;
    let grid = gridOptions(q);
    if (q.digit !== undefined) {
      const first = Number(q.digit[0]);
      const last = Number(q.digit.at(-1));
      if (first === last) {
        labels = new Int32Array(grid.n).fill(first);
      } else {
        // One row per digit, n digits in each row.
        const rows = last - first + 1;
        const n = q.n ?? 16;
        if (n * rows > 256) throw new HttpError(400, `Expected at most 256 digits but n=${n} per row for digits ${q.digit} makes ${n * rows}`, 'n', `integer between 1 and ${Math.floor(256 / rows)} with digit=${q.digit}`, String(n));
        labels = Int32Array.from({ length: n * rows }, (_, i) => first + Math.floor(i / n));
        grid = { ...gridOptions({ ...q, n: n * rows }), cols: n };
      }
    }
    const seeded = q.seed !== undefined;
    const seed = q.seed ?? randomSeed();
    c.header('X-Seed', String(seed));
    c.header('X-Model', name);
    if (!seeded) {
      c.header('Cache-Control', 'no-store');
      return c.body(new Uint8Array(await render(name, seed, grid, labels)), 200, { 'Content-Type': 'image/png' });
    }
    // Same model file, seed and options give the same bytes: the ETag is known before rendering.
    const { etag, fresh } = immutable(c, [models.get(name)!.manifest.sha256, seed, grid, q.digit ?? null]);
    if (fresh) return c.body(null, 304);
    const png = await cache.getOrCreate(etag, () => render(name, seed, grid, labels));
    return c.body(new Uint8Array(png), 200, { 'Content-Type': 'image/png' });
  });

  app.get('/interpolate', async (c) => {
    const q = parseQuery(interpolateQuery, c.req.query());
    const name = modelFor(q.model, q.digit);
    checkDigit(name, q.digit);
    const model = models.get(name)!;
    const steps = q.steps ?? 10;
    const format = q.format ?? 'png';
    const scale = q.scale ?? (format === 'png' ? 1 : 4);
    const options = { steps, format, scale, padding: q.padding ?? 2, delay: q.delay ?? 100 };
    c.header('X-Model', name);
    const { etag, fresh } = immutable(c, ['interpolate', model.manifest.sha256, q.from, q.to, options, q.digit ?? null]);
    if (fresh) return c.body(null, 304);
    const body = await cache.getOrCreate(etag, async () => {
      // Conditional models walk with one digit throughout (default 0).
      const labels = isConditional(model.manifest) ? new Int32Array(steps).fill(Number(q.digit ?? 0)) : null;
      const frames = await batchers.get(name)!.generate(latentWalk(q.from, q.to, steps, model.manifest.latentDim), steps, labels);
      return format === 'png'
        ? renderGridPng(frames, steps, model.height, model.width, { cols: steps, scale, padding: options.padding })
        : renderAnimation(frames, steps, model.height, model.width, { scale, delay: options.delay, format });
    });
    return c.body(new Uint8Array(body), 200, { 'Content-Type': `image/${format}` });
  });

  // A fixed PNG rendered once: a stable picture for docs, and the benchmark's floor.
  let example: Promise<Buffer> | null = null;
  app.get('/example.png', async (c) => {
    example ??= render(defaultModel, 0, gridOptions({ scale: 2 }));
    return c.body(new Uint8Array(await example), 200, { 'Content-Type': 'image/png', 'Cache-Control': 'public, max-age=3600' });
  });

  app.get('/models', (c) =>
    c.json({ default: defaultModel, defaultConditional, models: [...models.values()].map((m) => m.manifest) }),
  );

  // The model files themselves, from the server's own models (the web demo fetches these).
  app.get('/models/index.json', (c) => c.json({ default: defaultModel, defaultConditional, models: [...models.keys()] }));
  app.get('/models/:file{[a-z0-9][a-z0-9_-]*\\.(onnx|json)}', (c) => {
    const file = c.req.param('file');
    const model = models.get(file.replace(/\.(onnx|json)$/, ''));
    if (!model) throw new HttpError(404, `Unknown model file '${file}'`, 'model', `one of ${[...models.keys()].join(', ')}`, file);
    if (file.endsWith('.json')) return c.json(model.manifest);
    return c.body(new Uint8Array(model.bytes), 200, { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-cache' });
  });

  app.get('/healthz', (c) =>
    c.json({ status: 'ok', provider, models: [...models.keys()], default: defaultModel, problems: options.problems ?? [] }),
  );

  app.get('/metrics', async (c) => {
    for (const [name, b] of batchers) {
      batchGauge.set({ model: name }, b.batches);
      imageGauge.set({ model: name }, b.images);
    }
    cacheGauge.set({ kind: 'hits' }, cache.hits);
    cacheGauge.set({ kind: 'misses' }, cache.misses);
    cacheGauge.set({ kind: 'bytes' }, cache.size);
    return printMetrics(c);
  });

  if (options.webDemoDir) {
    app.use('/*', serveStatic({ root: options.webDemoDir }));
  }
  app.get('/', (c) => c.text('The web demo is not built: run npm run build:web (npm start builds it).', 404));

  return { app, batchers };
}
