import { Hono } from 'hono';
import { pinnedName, type ServeContext } from '../context.ts';
import { HttpError } from '../errors.ts';

/** GET /models (the manifests), and the model files themselves, which the web demo fetches. */
export function modelRoutes(ctx: ServeContext): Hono {
  const app = new Hono();
  const names = (): string[] => [...ctx.models.keys()];

  // Each model's `pinned` reference (`name@<sha prefix>`) is what a URL gives to be cached as immutable.
  app.get('/models', (c) =>
    c.json({
      default: ctx.defaultModel,
      defaultConditional: ctx.defaultConditional,
      models: [...ctx.models.values()].map((m) => ({ ...m.manifest, pinned: pinnedName(m) })),
    }),
  );
  app.get('/models/index.json', (c) => c.json({ default: ctx.defaultModel, defaultConditional: ctx.defaultConditional, models: names() }));
  app.get('/models/:file{[a-z0-9][a-z0-9_-]*\\.(onnx|json)}', (c) => {
    const file = c.req.param('file');
    const model = ctx.models.get(file.replace(/\.(onnx|json)$/, ''));
    if (!model) throw new HttpError(404, `Unknown model file '${file}'`, 'model', `one of ${names().join(', ')}`, file);
    if (file.endsWith('.json')) return c.json(model.manifest);
    return c.body(new Uint8Array(model.bytes), 200, { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-cache' });
  });
  return app;
}
