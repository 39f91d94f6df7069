import cluster from 'node:cluster';
import { access } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { defineCommand } from '../lib/cli/command.ts';
import { UsageError } from '../shared/expected.ts';
import { chooseDefault } from '../shared/manifest.ts';
import { startAdminListener } from './admin/admin-server.ts';
import { ClusterState, type DrainRequest, isDrainRequest, isStateReport, type StateReport } from './admin/cluster-state.ts';
import { ServerState } from './admin/shared-state.ts';
import { createApp } from './app.ts';
import { DEFAULT_COST_LIMITS } from './cost.ts';
import { SERVE_FLAGS, type ServeConfig, serveConfig } from './config.ts';
import { RequestTracker } from './drain.ts';
import { type Executor, InlineExecutor, ThreadPool } from './generation/pool.ts';
import type { Scheduler } from './generation/scheduler.ts';
import { listen } from './http-server.ts';
import { ProviderSelector } from './providers.ts';
import { loadModels } from './registry.ts';

/** Where `npm run build:web` puts the page the server serves at /. */
export const WEB_DEMO_DIR = join(import.meta.dirname, '..', 'web-demo', 'dist');

/** How often a server process updates its shared state: heartbeat, the scheduler's counters, its report to the primary. */
const TICK_MS = 100;

/** The line that gives the admin listener's URL (worded so that nothing takes it for the server's "on http://..." line). */
function logAdmin(host: string, port: number, note = ''): void {
  console.log(`ganforge: admin listener (/healthz, /readyz, /metrics) at http://${host}:${port}/${note}`);
}

/**
 * The cluster's first process: forks the servers, replaces one that dies, and drains them on a signal.
 * With --admin-port it hosts the admin thread: server processes report their state to it over IPC, and
 * it sums them (serve/admin/cluster-state.ts).
 */
async function runPrimary(config: ServeConfig): Promise<void> {
  const state = ServerState.create();
  const clusterState = new ClusterState(state, config.workers);
  const admin = config.adminPort > 0 ? startAdminListener(state, config.adminPort, config.host) : null;
  admin?.catch(() => {}); // awaited below, once the server processes are starting
  let stopping = false;
  let failed = 0;
  let listening = 0;
  const workers = () => Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  console.log(`ganforge: starting ${config.workers} server processes`);
  for (let i = 0; i < config.workers; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === config.workers) console.log(`ganforge: ${config.workers} server processes listening`);
  });
  cluster.on('message', (worker, m: unknown) => {
    if (isStateReport(m)) clusterState.report(worker.id, m.snapshot);
  });
  cluster.on('exit', (worker, code, signal) => {
    clusterState.retire(worker.id);
    if (stopping) {
      if (code !== 0) failed++;
      if (workers().length === 0) process.exit(failed > 0 ? 1 : 0);
      return;
    }
    console.error(`server process ${worker.process.pid} exited (${signal ?? code}); starting another`);
    cluster.fork();
  });
  const stop = (signal: string): void => {
    if (stopping) {
      console.error(`${signal} again: stopping the server processes now`);
      for (const w of workers()) w.process.kill('SIGKILL');
      process.exit(130);
    }
    stopping = true;
    clusterState.setDraining();
    console.log(`${signal}: draining ${workers().length} server processes (at most ${config.drainTimeoutMs} ms each), then exiting`);
    // Over IPC rather than a signal: a terminal's Ctrl-C also reaches every process of the group, and
    // a server process takes a second signal as "exit now".
    for (const w of workers()) {
      if (w.isConnected()) w.send({ type: 'ganforge:drain', signal } satisfies DrainRequest);
      else w.process.kill('SIGTERM');
    }
    // Each process keeps its own deadline; this one is for a process that cannot even exit.
    setTimeout(() => {
      console.error(`drain deadline: ${workers().length} server processes still running; killing them`);
      for (const w of workers()) w.process.kill('SIGKILL');
      process.exit(1);
    }, config.drainTimeoutMs + 2000).unref();
  };
  process.on('SIGINT', stop).on('SIGTERM', stop);
  try {
    if (admin) logAdmin(config.host, (await admin).port, ' (the sum of every server process)');
  } catch (err) {
    // No admin port, no cluster: the processes go, and the error is the command's.
    stopping = true;
    failed++;
    for (const w of workers()) w.process.kill('SIGKILL');
    throw err;
  }
}

/**
 * One server process: loads the models, starts its generator threads, listens, and drains on SIGTERM or
 * SIGINT (or the primary's request): /readyz 503, no new connections, in-flight requests finished within
 * --drain-timeout-ms (exit 0), else exit 1; a second signal exits at once.
 */
async function runServer(config: ServeConfig): Promise<void> {
  const state = ServerState.create();
  const reporting = cluster.isWorker && config.adminPort > 0;
  const report = (): void => {
    if (reporting && process.connected) process.send?.({ type: 'ganforge:state', snapshot: state.snapshot() } satisfies StateReport);
  };
  let scheduler: Scheduler | null = null;
  let tracker: RequestTracker | null = null;
  const tick = (): void => {
    state.beat();
    if (scheduler) state.mirror(scheduler.allStats().values());
    report();
  };
  tick();
  setInterval(tick, TICK_MS).unref();
  /** Exits once the primary has the last report (at most 500 ms later). */
  const exit = (code: number): void => {
    if (!reporting || !process.connected) process.exit(code);
    tick();
    process.send?.({ type: 'ganforge:state', snapshot: state.snapshot() } satisfies StateReport, () => process.exit(code));
    setTimeout(() => process.exit(code), 500).unref();
  };

  let stopping = false;
  const within = <T>(ms: number, work: Promise<T>): Promise<boolean> =>
    Promise.race([work.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
  /**
   * Exits without waiting for the requests: queued work is answered 503 (to be retried elsewhere), and the
   * process exits once the generator's running batch is done (onnxruntime aborts a process torn down in
   * the middle of a run) and the answers are sent, at most 2.5 s later; past that, or asked again, it
   * kills itself.
   */
  const stopNow = async (code: number): Promise<void> => {
    if (stopping) process.kill(process.pid, 'SIGKILL');
    stopping = true;
    if (!(await within(2000, scheduler?.shutdown('the server is shutting down') ?? Promise.resolve()))) {
      console.error('generation still running 2 s later: killing the process');
      process.kill(process.pid, 'SIGKILL');
    }
    await within(500, tracker?.idle() ?? Promise.resolve());
    exit(code);
  };

  // Signals are handled from the start: a server stopped while loading its models exits 0 at once.
  let drain: ((signal: string) => Promise<void>) | null = null;
  let closing = false;
  const shutdown = (signal: string, fromPrimary = false): void => {
    if (closing) {
      if (fromPrimary) return; // the same shutdown asked twice: a terminal's SIGINT and the primary's request
      console.error(`${signal} again: exiting now`);
      void stopNow(130);
      return;
    }
    closing = true;
    state.setDraining();
    report();
    if (drain) void drain(signal);
    else {
      console.log(`${signal}: stopping before serving`);
      exit(0);
    }
  };
  process.on('SIGINT', () => shutdown('SIGINT')).on('SIGTERM', () => shutdown('SIGTERM'));
  if (cluster.isWorker) process.on('message', (m: unknown) => isDrainRequest(m) && shutdown(m.signal, true));

  // The admin listener starts beside the models' loading and answers during it (/readyz: starting); a
  // port it cannot have stops the start below. In a cluster the primary hosts it.
  const admin = config.adminPort > 0 && cluster.isPrimary ? startAdminListener(state, config.adminPort, config.host) : null;
  admin?.then(
    (a) => logAdmin(config.host, a.port),
    () => {},
  );

  const providers = new ProviderSelector(config.device);
  const { models, problems } = await loadModels(config.modelsDir, providers, config.models);
  for (const p of problems) console.error(`model ${p.name}: ${p.reason}; skipped`);
  if (models.size === 0)
    throw new UsageError(`no usable model in ${config.modelsDir}/ (${problems.map((p) => `${p.name}: ${p.reason}`).join('; ') || 'the folder has no models'})`);
  const defaultModel = chooseDefault([...models.keys()], config.defaultModel);
  await admin; // before any generator thread, which would keep a failed start alive
  const webDemoDir = relative(process.cwd(), WEB_DEMO_DIR);
  const hasDemo = await access(join(webDemoDir, 'index.html')).then(
    () => true,
    () => false,
  );
  if (!hasDemo) console.error(`web demo not built (${webDemoDir}); GET / will say so. npm start builds it.`);
  const sessionOptions = providers.sessionOptions() as Record<string, unknown>;
  const executor: Executor = config.generatorThreads > 0 ? await ThreadPool.start(models, config.generatorThreads, sessionOptions) : new InlineExecutor(models);
  const app = createApp({
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
    state,
  });
  const requests = new RequestTracker(state);
  tracker = requests;
  const { port } = await listen(
    app.app.fetch,
    config.port,
    config.host,
    { ...config.timeouts, maxConnections: config.maxConnections },
    app.preflight,
    requests,
  );
  scheduler = app.scheduler;
  state.markReady(models.size);
  tick();
  const threads =
    config.generatorThreads > 0 ? `${config.generatorThreads} generator thread${config.generatorThreads === 1 ? '' : 's'}` : 'generating on the event loop';
  console.log(`ganforge: serving ${[...models.keys()].join(', ')} (default ${defaultModel}; ${threads}) on http://${config.host}:${port}/`);

  drain = async (signal) => {
    console.log(`${signal}: finishing in-flight requests, then exiting (at most ${config.drainTimeoutMs} ms)`);
    const result = await requests.drain(config.drainTimeoutMs);
    if (!result.drained) {
      console.error(`drain deadline: ${result.inFlight} requests still in flight after ${config.drainTimeoutMs} ms (--drain-timeout-ms); exiting with code 1`);
      return stopNow(1);
    }
    // Then the generator threads, then the sessions: a session must not be released under a running job.
    const released = executor.close().then(() => Promise.all([...models.values()].map((m) => m.session.release())));
    await Promise.race([released, new Promise((r) => setTimeout(r, 1000).unref())]);
    console.log(`drained in ${Math.round(result.ms)} ms; exiting`);
    exit(0);
  };
}

/** `ganforge serve`: the HTTP API, in one process or (`--workers`) several sharing the port. */
export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'serve the HTTP API (GET /sample, /interpolate, /models, /healthz, /readyz, /metrics) and the web demo',
  usage: '[flags]   (flags override the environment variables beside them)',
  flags: SERVE_FLAGS,
  async run({ values }) {
    const config = serveConfig(values);
    if (config.workers > 1 && cluster.isPrimary) return runPrimary(config);
    await runServer(config);
  },
});
