import { serve } from '@hono/node-server';
import { access } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { defineCommand } from '../lib/cli/command.ts';
import { chooseDefault } from '../shared/manifest.ts';
import { createApp } from './app.ts';
import { SERVE_FLAGS, serveConfig } from './config.ts';
import { ProviderSelector } from './providers.ts';
import { loadModels } from './registry.ts';

/** `ganforge serve` (`npm start`): loads every model once, then serves the HTTP API until SIGINT/SIGTERM. */
export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'serve the HTTP API (GET /sample, /interpolate, /models, /healthz, /metrics) and the web demo',
  usage: '[flags]   (flags override the environment variables beside them)',
  flags: SERVE_FLAGS,
  async run({ values }) {
    const config = serveConfig(values);
    const providers = new ProviderSelector(config.device);
    const { models, problems } = await loadModels(config.modelsDir, providers, config.models);
    for (const p of problems) console.error(`model ${p.name}: ${p.reason}; skipped`);
    if (models.size === 0)
      throw new Error(`no usable model in ${config.modelsDir}/ (${problems.map((p) => `${p.name}: ${p.reason}`).join('; ') || 'the folder has no models'})`);
    const defaultModel = chooseDefault([...models.keys()], config.defaultModel);
    const webDemoDir = relative(process.cwd(), join(import.meta.dirname, '..', 'web-demo', 'dist'));
    const hasDemo = await access(join(webDemoDir, 'index.html')).then(
      () => true,
      () => false,
    );
    if (!hasDemo) console.error(`web demo not built (${webDemoDir}); GET / will say so. npm start builds it.`);
    const { app } = createApp({
      models,
      defaultModel,
      provider: providers.provider ?? 'cpu',
      problems,
      maxBatchImages: config.maxBatchImages,
      webDemoDir: hasDemo ? webDemoDir : undefined,
    });
    const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
      console.log(`ganforge: serving ${[...models.keys()].join(', ')} (default ${defaultModel}) on http://${config.host}:${info.port}/`);
    });

    let closing = false;
    const shutdown = (signal: string): void => {
      if (closing) process.exit(130);
      closing = true;
      console.log(`${signal}: finishing in-flight requests, then exiting`);
      // close() stops accepting and waits for in-flight requests; idle keep-alive sockets would hold it open.
      server.close(() => {
        void Promise.all([...models.values()].map((m) => m.session.release())).finally(() => process.exit(0));
      });
      (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      setTimeout(() => process.exit(1), 10_000).unref();
    };
    process.on('SIGINT', shutdown).on('SIGTERM', shutdown);
  },
});
