import cluster from 'node:cluster';
import { access } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { defineCommand } from '../lib/cli/command.ts';
import { UsageError } from '../shared/expected.ts';
import { chooseDefault } from '../shared/manifest.ts';
import { createApp } from './app.ts';
import { DEFAULT_COST_LIMITS } from './cost.ts';
import { SERVE_FLAGS, type ServeConfig, serveConfig } from './config.ts';
import { type Executor, InlineExecutor, ThreadPool } from './generation/pool.ts';
import { listen } from './http-server.ts';
import { ProviderSelector } from './providers.ts';
import { loadModels } from './registry.ts';

/** Where `npm run build:web` puts the page the server serves at /. */
export const WEB_DEMO_DIR = join(import.meta.dirname, '..', 'web-demo', 'dist');

/** The cluster's first process: forks the servers, replaces one that dies, and stops them on a signal. */
function runPrimary(config: ServeConfig): void {
  let stopping = false;
  let listening = 0;
  console.log(`ganforge: starting ${config.workers} server processes`);
  for (let i = 0; i < config.workers; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === config.workers) console.log(`ganforge: ${config.workers} server processes listening`);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    console.error(`server process ${worker.process.pid} exited (${signal ?? code}); starting another`);
    cluster.fork();
  });
  const stop = (signal: string): void => {
    if (stopping) process.exit(130);
    stopping = true;
    console.log(`${signal}: stopping the server processes`);
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(1), 15_000).unref();
  };
  process.on('SIGINT', stop).on('SIGTERM', stop);
}

/** One server process: loads the models, starts its generator threads, listens, and shuts down gracefully. */
async function runServer(config: ServeConfig): Promise<void> {
  const providers = new ProviderSelector(config.device);
  const { models, problems } = await loadModels(config.modelsDir, providers, config.models);
  for (const p of problems) console.error(`model ${p.name}: ${p.reason}; skipped`);
  if (models.size === 0)
    throw new UsageError(`no usable model in ${config.modelsDir}/ (${problems.map((p) => `${p.name}: ${p.reason}`).join('; ') || 'the folder has no models'})`);
  const defaultModel = chooseDefault([...models.keys()], config.defaultModel);
  const webDemoDir = relative(process.cwd(), WEB_DEMO_DIR);
  const hasDemo = await access(join(webDemoDir, 'index.html')).then(
    () => true,
    () => false,
  );
  if (!hasDemo) console.error(`web demo not built (${webDemoDir}); GET / will say so. npm start builds it.`);
  const sessionOptions = providers.sessionOptions() as Record<string, unknown>;
  const executor: Executor = config.generatorThreads > 0 ? await ThreadPool.start(models, config.generatorThreads, sessionOptions) : new InlineExecutor(models);
  const { app, preflight } = createApp({
    models,
    defaultModel,
    provider: providers.provider ?? 'cpu',
    problems,
    executor,
    maxBatchImages: config.maxBatchImages,
    maxQueueImages: config.maxQueueImages,
    queueTimeoutMs: config.queueTimeoutMs,
    limits: { ...DEFAULT_COST_LIMITS, maxPixels: config.maxPixels },
    webDemoDir: hasDemo ? webDemoDir : undefined,
  });
  const { server: http, port } = await listen(app.fetch, config.port, config.host, { ...config.timeouts, maxConnections: config.maxConnections }, preflight);
  const threads =
    config.generatorThreads > 0 ? `${config.generatorThreads} generator thread${config.generatorThreads === 1 ? '' : 's'}` : 'generating on the event loop';
  console.log(`ganforge: serving ${[...models.keys()].join(', ')} (default ${defaultModel}; ${threads}) on http://${config.host}:${port}/`);

  let closing = false;
  const shutdown = (signal: string): void => {
    if (closing) process.exit(130);
    closing = true;
    console.log(`${signal}: finishing in-flight requests, then exiting`);
    // close() stops accepting and waits for in-flight requests; idle keep-alive sockets would hold it open.
    // Then the generator threads, then the sessions: a session must not be released under a running job.
    http.close(() => {
      void executor
        .close()
        .then(() => Promise.all([...models.values()].map((m) => m.session.release())))
        .finally(() => process.exit(0));
    });
    http.closeIdleConnections();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGINT', shutdown).on('SIGTERM', shutdown);
}

/** `ganforge serve`: the HTTP API, in one process or (`--workers`) several sharing the port. */
export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'serve the HTTP API (GET /sample, /interpolate, /models, /healthz, /metrics) and the web demo',
  usage: '[flags]   (flags override the environment variables beside them)',
  flags: SERVE_FLAGS,
  async run({ values }) {
    const config = serveConfig(values);
    if (config.workers > 1 && cluster.isPrimary) return runPrimary(config);
    await runServer(config);
  },
});
