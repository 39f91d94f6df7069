import { Hono } from 'hono';
import { isConditional } from '../../shared/generator.ts';
import { latentWalk } from '../../shared/latent.ts';
import { checkGridCost, digitGrid, type GridLayout, generate, gridLayout, modelFor, type ServeContext } from '../context.ts';
import { checkPixels } from '../cost.ts';
import type { Body } from '../generation/protocol.ts';
import type { LoadedModel } from '../registry.ts';
import { deterministicResponse } from '../middleware/caching.ts';
import { DEFAULT_STEPS, interpolateQuery, parseQuery, sampleQuery } from '../query.ts';

/** Renders the grid of a model and seed (and digit labels for conditional models) as PNG bytes. */
function renderGrid(ctx: ServeContext, model: LoadedModel, seed: number, grid: GridLayout, labels: Int32Array | null, signal?: AbortSignal): Promise<Body> {
  return generate(ctx, model, { seed }, grid.n, labels, { kind: 'grid', cols: grid.cols, scale: grid.scale, padding: grid.padding }, signal);
}

/** GET /sample (a PNG grid), GET /interpolate (a latent walk) and GET /example.png. */
export function sampleRoutes(ctx: ServeContext): Hono {
  const app = new Hono();

  app.get('/sample', async (c) => {
    const q = parseQuery(sampleQuery, c.req.queries());
    const { model, pinned } = modelFor(ctx, q.model, q.digit);
    const { labels, grid } = q.digit !== undefined ? digitGrid(ctx, q.digit, q.n, q) : { labels: null, grid: gridLayout(q) };
    checkGridCost(ctx, model, grid, q);
    const seed = q.seed ?? ctx.randomSeed();
    const signal = c.req.raw.signal;
    c.header('X-Seed', String(seed));
    c.header('X-Model', model.manifest.name);
    if (q.seed === undefined) {
      c.header('Cache-Control', 'no-store');
      return c.body(await renderGrid(ctx, model, seed, grid, labels, signal), 200, { 'Content-Type': 'image/png' });
    }
    // Same model file, seed and options give the same bytes: the ETag is known before rendering.
    const { etag, fresh } = deterministicResponse(c, [model.manifest.sha256, seed, grid, q.digit ?? null], pinned);
    if (fresh) return c.body(null, 304);
    const png = await ctx.cache.getOrCreate(etag, (shared) => renderGrid(ctx, model, seed, grid, labels, shared), signal);
    return c.body(png, 200, { 'Content-Type': 'image/png' });
  });

  app.get('/interpolate', async (c) => {
    const q = parseQuery(interpolateQuery, c.req.queries());
    const { model, pinned } = modelFor(ctx, q.model, q.digit);
    const steps = q.steps ?? DEFAULT_STEPS;
    const format = q.format ?? 'png';
    const scale = q.scale ?? (format === 'png' ? 1 : 4);
    const padding = q.padding ?? 2;
    const frame = format === 'png' ? padding : 0;
    checkPixels(
      ctx.limits,
      steps * (model.width * scale + frame) * (model.height * scale + 2 * frame),
      { scale, padding: format === 'png' ? padding : 0 },
      'steps',
      steps,
    );
    const options = { steps, format, scale, padding, delay: q.delay ?? 100 };
    c.header('X-Model', model.manifest.name);
    const { etag, fresh } = deterministicResponse(c, ['interpolate', model.manifest.sha256, q.from, q.to, options, q.digit ?? null], pinned);
    if (fresh) return c.body(null, 304);
    const body = await ctx.cache.getOrCreate(
      etag,
      (shared) => {
        // Conditional models walk with one digit throughout (default 0).
        const labels = isConditional(model.manifest) ? new Int32Array(steps).fill(Number(q.digit ?? 0)) : null;
        const latents = latentWalk(q.from, q.to, steps, model.manifest.latentDim);
        const render =
          format === 'png' ? ({ kind: 'grid', cols: steps, scale, padding } as const) : ({ kind: 'animation', format, scale, delay: options.delay } as const);
        return generate(ctx, model, latents, steps, labels, render, shared);
      },
      c.req.raw.signal,
    );
    return c.body(body, 200, { 'Content-Type': `image/${format}` });
  });

  // A fixed PNG rendered once: a stable picture for docs, and the benchmark's floor. A failed render
  // (an overloaded queue, say) is not remembered.
  let example: Promise<Body> | null = null;
  app.get('/example.png', async (c) => {
    const render = example ?? renderGrid(ctx, ctx.models.get(ctx.defaultModel)!, 0, gridLayout({ scale: 2 }), null);
    example = render;
    const png = await render.catch((err: unknown) => {
      if (example === render) example = null;
      throw err;
    });
    return c.body(png, 200, { 'Content-Type': 'image/png', 'Cache-Control': 'public, max-age=3600' });
  });

  return app;
}
