import { serve } from '@hono/node-server';
import { access } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { runCli } from '../train/cli.ts';
import { createApp } from './app.ts';
import { chooseDefault } from '../shared/manifest.ts';
import { parseServeArgs, serveHelp } from './config.ts';
import { ProviderSelector } from './providers.ts';
import { loadModels } from './registry.ts';

// `npm start -- [flags]`: load every model once, then serve the HTTP API until SIGINT/SIGTERM.
runCli(async () => {
  const config = parseServeArgs(process.argv.slice(2));
  if (config.help) {
    console.log(serveHelp());
    return;
  }
  const providers = new ProviderSelector(config.device);
  const { models, problems } = await loadModels(config.modelsDir, providers, config.models);
  for (const p of problems) console.error(`model ${p.name}: ${p.reason}; skipped`);
  if (models.size === 0) throw new Error(`no usable model in ${config.modelsDir}/ (${problems.map((p) => `${p.name}: ${p.reason}`).join('; ') || 'the folder has no models'})`);
  const defaultModel = chooseDefault([...models.keys()], config.defaultModel);
  const webDemoDir = relative(process.cwd(), join(import.meta.dirname, '..', 'web-demo', 'dist'));
  const hasDemo = await access(join(webDemoDir, 'index.html')).then(() => true, () => false);
  if (!hasDemo) console.error(`web demo not built (${webDemoDir}); GET / will say so. npm start builds it.`);
  const { app } = createApp({ models, defaultModel, provider: providers.provider ?? 'cpu', problems, maxBatchImages: config.maxBatchImages, webDemoDir: hasDemo ? webDemoDir : undefined });
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
});
