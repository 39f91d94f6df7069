import { prometheus } from '@hono/prometheus';
import { Hono, type MiddlewareHandler } from 'hono';
import { Gauge, Registry } from 'prom-client';
import { readiness } from '../admin/shared-state.ts';
import type { ServeContext } from '../context.ts';

/**
 * GET /healthz, GET /readyz (200 when ready, 503 while starting or draining; the admin port answers the
 * same from shared memory), and GET /metrics (Prometheus) with the middleware that counts every request.
 */
export function healthRoutes(ctx: ServeContext): { routes: Hono; countRequests: MiddlewareHandler } {
  const registry = new Registry();
  const { printMetrics, registerMetrics } = prometheus({ registry, collectDefaultMetrics: true, prefix: 'ganforge_' });
  const gauge = (name: string, help: string, labelNames: string[]): Gauge => new Gauge({ name: `ganforge_${name}`, help, labelNames, registers: [registry] });
  const batches = gauge('generator_batches', 'onnxruntime run() calls so far', ['model']);
  const images = gauge('generator_images', 'images generated so far', ['model']);
  const queue = gauge('generator_queue_images', 'images waiting for the generator now', ['model']);
  const refused = gauge(
    'generator_refused',
    'requests answered without generating: shed (queue full, 503), expired (queue deadline, 503), dropped (client gone)',
    ['model', 'reason'],
  );
  const cache = gauge('png_cache', 'seeded PNG cache: hits, misses, shared (joined an identical request in flight) and bytes held', ['kind']);
  const routes = new Hono();

  routes.get('/healthz', (c) =>
    c.json({ status: 'ok', provider: ctx.provider, models: [...ctx.models.keys()], default: ctx.defaultModel, problems: ctx.problems }),
  );
  routes.get('/readyz', (c) => {
    const r = readiness(ctx.state.snapshot());
    c.header('Cache-Control', 'no-store');
    return c.json(r.body, r.status);
  });
  routes.get('/metrics', async (c) => {
    for (const [model, s] of ctx.scheduler.allStats()) {
      batches.set({ model }, s.batches);
      images.set({ model }, s.images);
      queue.set({ model }, s.queuedImages);
      for (const reason of ['shed', 'expired', 'dropped'] as const) refused.set({ model, reason }, s[reason]);
    }
    for (const kind of ['hits', 'misses', 'shared'] as const) cache.set({ kind }, ctx.cache[kind]);
    cache.set({ kind: 'bytes' }, ctx.cache.size);
    return printMetrics(c);
  });
  return { routes, countRequests: registerMetrics };
}
