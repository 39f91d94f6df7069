import { Hono } from 'hono';
import { isConditional } from '../../shared/generator.ts';
import { latentWalk } from '../../shared/latent.ts';
import { digitGrid, generate, gridLayout, modelFor, renderGrid, type ServeContext } from '../context.ts';
import { immutableResponse } from '../middleware/caching.ts';
import { interpolateQuery, parseQuery, sampleQuery } from '../query.ts';
import { renderAnimation, renderGridPng } from '../render.ts';

/** GET /sample (a PNG grid), GET /interpolate (a latent walk) and GET /example.png. */
export function sampleRoutes(ctx: ServeContext): Hono {
  const app = new Hono();

  app.get('/sample', async (c) => {
    const q = parseQuery(sampleQuery, c.req.query());
    const model = modelFor(ctx, q.model, q.digit);
    const { labels, grid } = q.digit !== undefined ? digitGrid(q.digit, q.n, q) : { labels: null, grid: gridLayout(q) };
    const seed = q.seed ?? ctx.randomSeed();
    c.header('X-Seed', String(seed));
    c.header('X-Model', model.manifest.name);
    if (q.seed === undefined) {
      c.header('Cache-Control', 'no-store');
      return c.body(new Uint8Array(await renderGrid(ctx, model, seed, grid, labels)), 200, { 'Content-Type': 'image/png' });
    }
    // Same model file, seed and options give the same bytes: the ETag is known before rendering.
    const { etag, fresh } = immutableResponse(c, [model.manifest.sha256, seed, grid, q.digit ?? null]);
    if (fresh) return c.body(null, 304);
    const png = await ctx.cache.getOrCreate(etag, () => renderGrid(ctx, model, seed, grid, labels));
    return c.body(new Uint8Array(png), 200, { 'Content-Type': 'image/png' });
  });

  app.get('/interpolate', async (c) => {
    const q = parseQuery(interpolateQuery, c.req.query());
    const model = modelFor(ctx, q.model, q.digit);
    const steps = q.steps ?? 10;
    const format = q.format ?? 'png';
    const scale = q.scale ?? (format === 'png' ? 1 : 4);
    const options = { steps, format, scale, padding: q.padding ?? 2, delay: q.delay ?? 100 };
    c.header('X-Model', model.manifest.name);
    const { etag, fresh } = immutableResponse(c, ['interpolate', model.manifest.sha256, q.from, q.to, options, q.digit ?? null]);
    if (fresh) return c.body(null, 304);
    const body = await ctx.cache.getOrCreate(etag, async () => {
      // Conditional models walk with one digit throughout (default 0).
      const labels = isConditional(model.manifest) ? new Int32Array(steps).fill(Number(q.digit ?? 0)) : null;
      const frames = await generate(ctx, model, latentWalk(q.from, q.to, steps, model.manifest.latentDim), steps, labels);
      return format === 'png'
        ? renderGridPng(frames, steps, model.height, model.width, { cols: steps, scale, padding: options.padding })
        : renderAnimation(frames, steps, model.height, model.width, { scale, delay: options.delay, format });
    });
    return c.body(new Uint8Array(body), 200, { 'Content-Type': `image/${format}` });
  });

  // A fixed PNG rendered once: a stable picture for docs, and the benchmark's floor.
  let example: Promise<Buffer> | null = null;
  app.get('/example.png', async (c) => {
    example ??= renderGrid(ctx, ctx.models.get(ctx.defaultModel)!, 0, gridLayout({ scale: 2 }));
    return c.body(new Uint8Array(await example), 200, { 'Content-Type': 'image/png', 'Cache-Control': 'public, max-age=3600' });
  });

  return app;
}
