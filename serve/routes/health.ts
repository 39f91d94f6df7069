import { prometheus } from '@hono/prometheus';
import { Hono, type MiddlewareHandler } from 'hono';
import { Gauge, Registry } from 'prom-client';
import type { ServeContext } from '../context.ts';

/** GET /healthz, and GET /metrics (Prometheus) with the middleware that counts every request. */
export function healthRoutes(ctx: ServeContext): { routes: Hono; countRequests: MiddlewareHandler } {
  const registry = new Registry();
  const { printMetrics, registerMetrics } = prometheus({ registry, collectDefaultMetrics: true, prefix: 'ganforge_' });
  const batchGauge = new Gauge({ name: 'ganforge_generator_batches', help: 'onnxruntime run() calls so far', labelNames: ['model'], registers: [registry] });
  const imageGauge = new Gauge({ name: 'ganforge_generator_images', help: 'images generated so far', labelNames: ['model'], registers: [registry] });
  const cacheGauge = new Gauge({
    name: 'ganforge_png_cache',
    help: 'seeded PNG cache: hits, misses and bytes held',
    labelNames: ['kind'],
    registers: [registry],
  });
  const routes = new Hono();

  routes.get('/healthz', (c) =>
    c.json({ status: 'ok', provider: ctx.provider, models: [...ctx.models.keys()], default: ctx.defaultModel, problems: ctx.problems }),
  );
  routes.get('/metrics', async (c) => {
    for (const [name, b] of ctx.batchers) {
      batchGauge.set({ model: name }, b.batches);
      imageGauge.set({ model: name }, b.images);
    }
    cacheGauge.set({ kind: 'hits' }, ctx.cache.hits);
    cacheGauge.set({ kind: 'misses' }, ctx.cache.misses);
    cacheGauge.set({ kind: 'bytes' }, ctx.cache.size);
    return printMetrics(c);
  });
  return { routes, countRequests: registerMetrics };
}
