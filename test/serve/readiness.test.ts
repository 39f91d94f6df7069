import assert from 'node:assert/strict';
import { Agent, get, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { startAdminListener } from '../../serve/admin/admin-server.ts';
import { adminResponse } from '../../serve/admin/admin-thread.ts';
import { ClusterState } from '../../serve/admin/cluster-state.ts';
import { adminMetrics, ServerState, type StateSnapshot } from '../../serve/admin/shared-state.ts';
import { createApp } from '../../serve/app.ts';
import { parseServeArgs } from '../../serve/config.ts';
import { RequestTracker } from '../../serve/drain.ts';
import type { Executor } from '../../serve/generation/pool.ts';
import { listen } from '../../serve/http-server.ts';
import { ProviderSelector } from '../../serve/providers.ts';
import { type LoadedModel, loadModels } from '../../serve/registry.ts';
import { waitFor } from '../helpers/wait.ts';

// Readiness, the admin listener (its own thread, reading shared memory) and the graceful drain, in this
// process; `ganforge serve` itself receiving SIGTERM: shutdown.slow.test.ts.

const root = join(import.meta.dirname, '..', '..');
let models: Map<string, LoadedModel>;
before(async () => {
  ({ models } = await loadModels(join(root, 'models'), new ProviderSelector('cpu', undefined, () => {}), ['dense']));
});
after(async () => {
  for (const m of models.values()) await m.session.release();
});

/** An executor whose jobs wait until released: a request stays in flight for as long as a test wants. */
function gatedExecutor(): Executor & { jobs: number; release: () => void } {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const executor = {
    capacity: 1,
    jobs: 0,
    release: () => open(),
    async run(_model: string, items: readonly { n: number }[]) {
      executor.jobs++;
      await gate;
      return items.map((it) => new Uint8Array(it.n));
    },
    close: async () => {},
  };
  return executor;
}

/** GET on a connection of `agent` (or a new one); resolves with the status, headers and body. */
function getUrl(url: string, agent: Agent | false = false): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    }).on('error', reject);
  });
}

test('/readyz on the main port: 503 while starting, 200 once ready, 503 while draining, each with a JSON reason', async () => {
  const { app, state } = createApp({ models, defaultModel: 'dense', provider: 'cpu' });
  const starting = await app.request('/readyz');
  assert.equal(starting.status, 503);
  assert.equal(starting.headers.get('cache-control'), 'no-store');
  assert.deepEqual(await starting.json(), { status: 'starting', reason: 'loading the models', models: 1, inFlight: 0, processes: { ready: 0, total: 1 } });
  state.markReady(1);
  const ready = await app.request('/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready', models: 1, inFlight: 0, processes: { ready: 1, total: 1 } });
  state.setDraining();
  const draining = await app.request('/readyz');
  assert.equal(draining.status, 503);
  assert.deepEqual(await draining.json(), {
    status: 'draining',
    reason: 'shutting down: finishing in-flight requests, then exiting',
    models: 1,
    inFlight: 0,
    processes: { ready: 1, total: 1 },
  });
  assert.equal((await app.request('/healthz')).status, 200, 'the process is still alive while it drains');
});

test('the admin listener answers /healthz, /readyz and /metrics from shared memory, on its own thread', async () => {
  const state = ServerState.create();
  const admin = await startAdminListener(state, 0, '127.0.0.1');
  const base = `http://127.0.0.1:${admin.port}`;
  try {
    const health = await getUrl(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((JSON.parse(health.body) as { status: string; pid: number }).pid, process.pid);
    const starting = await getUrl(`${base}/readyz`);
    assert.equal(starting.status, 503);
    assert.equal((JSON.parse(starting.body) as { status: string }).status, 'starting');

    // What the main thread writes (a request answered 200, one shed 503, one whose client left, queued work) the admin thread reads.
    state.markReady(3);
    state.beat();
    state.connectionOpened();
    for (const status of [200, 503, null]) {
      state.requestStarted();
      state.requestEnded(status);
    }
    state.requestStarted();
    state.mirror([
      { batches: 2, images: 40, shed: 1, expired: 0, dropped: 0, queuedImages: 16 },
      { batches: 1, images: 4, shed: 0, expired: 2, dropped: 1, queuedImages: 0 },
    ]);
    const ready = await getUrl(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), { status: 'ready', models: 3, inFlight: 1, processes: { ready: 1, total: 1 } });
    const metrics = await getUrl(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.equal(metrics.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    for (const line of [
      'ganforge_ready 1',
      'ganforge_draining 0',
      'ganforge_models_loaded 3',
      'ganforge_queued_images 16',
      'ganforge_requests_in_flight 1',
      'ganforge_open_connections 1',
      'ganforge_connections_total 1',
      'ganforge_responses_total{class="2xx"} 1',
      'ganforge_responses_total{class="5xx"} 1',
      'ganforge_responses_total{class="aborted"} 1',
      'ganforge_generator_batches_total 3',
      'ganforge_generator_images_total 44',
      'ganforge_generator_refused_total{reason="shed"} 1',
      'ganforge_generator_refused_total{reason="expired"} 2',
      'ganforge_generator_refused_total{reason="dropped"} 1',
      '# TYPE ganforge_responses_total counter',
    ]) {
      assert.ok(metrics.body.split('\n').includes(line), `${line} in\n${metrics.body}`);
    }
    assert.match(metrics.body, /^ganforge_heartbeat_age_seconds \d+(\.\d+)?$/m);

    state.setDraining();
    const draining = await getUrl(`${base}/readyz`);
    assert.equal(draining.status, 503);
    assert.equal((JSON.parse(draining.body) as { status: string }).status, 'draining');
    assert.equal((await getUrl(`${base}/healthz`)).status, 200);
    assert.equal((await getUrl(`${base}/nope`)).status, 404);
  } finally {
    await admin.close();
  }
});

test('the admin listener answers while the main thread is blocked', async () => {
  const state = ServerState.create();
  state.markReady(1);
  const admin = await startAdminListener(state, 0, '127.0.0.1');
  try {
    // A client on another thread probes while this thread sits in Atomics.wait: no event loop here at all.
    const done = new Int32Array(new SharedArrayBuffer(8));
    const client = new Worker(
      `const { workerData } = require('node:worker_threads');
       const cell = new Int32Array(workerData.done);
       fetch(workerData.url).then((r) => { Atomics.store(cell, 1, r.status); }, () => { Atomics.store(cell, 1, -1); })
         .finally(() => { Atomics.store(cell, 0, 1); Atomics.notify(cell, 0); });`,
      { eval: true, workerData: { url: `http://127.0.0.1:${admin.port}/readyz`, done: done.buffer } },
    );
    const woke = Atomics.wait(done, 0, 0, 10_000);
    assert.equal(woke, 'ok', 'the probe was answered while the main thread was blocked');
    assert.equal(Atomics.load(done, 1), 200);
    await client.terminate();
  } finally {
    await admin.close();
  }
});

test('admin answers: methods, unknown paths, and HEAD', () => {
  const s = ServerState.create().snapshot();
  assert.equal(adminResponse('POST', '/healthz', s).status, 405);
  assert.equal(adminResponse('POST', '/healthz', s).headers.Allow, 'GET, HEAD');
  assert.match(adminResponse('GET', '/sample', s).body, /No route for GET \/sample on the admin port \(routes: \/healthz, \/readyz, \/metrics\)/);
  assert.equal(adminResponse('HEAD', '/readyz?verbose=1', s).status, 503);
  // A fresh state has never ticked: no heartbeat age to report.
  assert.doesNotMatch(adminMetrics(s), /heartbeat_age/);
});

test('drain: an in-flight request finishes with 200 and Connection: close, new connections are refused, idle keep-alive ones closed', async () => {
  const executor = gatedExecutor();
  const { app, preflight, state } = createApp({ models, defaultModel: 'dense', provider: 'cpu', executor });
  const tracker = new RequestTracker(state);
  const { port } = await listen(app.fetch, 0, '127.0.0.1', undefined, preflight, tracker);
  state.markReady(1);
  const base = `http://127.0.0.1:${port}`;
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    assert.equal((await getUrl(`${base}/readyz`, keepAlive)).status, 200);
    const idle = await waitFor(() => Object.values(keepAlive.freeSockets)[0]?.[0], { what: 'an idle keep-alive connection' });
    const idleClosed = new Promise((resolve) => idle.once('close', resolve));
    const inflight = getUrl(`${base}/sample?n=4&seed=1`);
    await waitFor(() => executor.jobs === 1, { what: 'the request to reach the generator' });
    assert.equal(state.snapshot().inFlight, 1);

    const drained = tracker.drain(10_000);
    assert.equal(state.snapshot().draining, true);
    await idleClosed;
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    assert.equal(refused, 'ECONNREFUSED');

    executor.release();
    const res = await inflight;
    assert.equal(res.status, 200);
    assert.equal(res.headers.connection, 'close', 'the client is told not to reuse the connection');
    const result = await drained;
    assert.equal(result.drained, true);
    assert.equal(result.inFlight, 0);
    const s = state.snapshot();
    assert.deepEqual([s.inFlight, s.connections, s.counters.responses2xx, s.counters.connections], [0, 0, 2, 2]);
  } finally {
    keepAlive.destroy();
  }
});

test('drain deadline: a request still in flight at --drain-timeout-ms is reported, not waited for', async () => {
  const executor = gatedExecutor();
  const { app, preflight, state } = createApp({ models, defaultModel: 'dense', provider: 'cpu', executor });
  const tracker = new RequestTracker(state);
  const { server, port } = await listen(app.fetch, 0, '127.0.0.1', undefined, preflight, tracker);
  const stuck = getUrl(`http://127.0.0.1:${port}/sample?n=4&seed=2`).catch((err: Error) => err);
  await waitFor(() => executor.jobs === 1, { what: 'the request to reach the generator' });
  // The deadline itself is under test: 150 ms, while the generator never answers.
  const result = await tracker.drain(150);
  assert.equal(result.drained, false);
  assert.equal(result.inFlight, 1);
  assert.ok(result.ms >= 140, `gave up after ${result.ms.toFixed(0)} ms`);
  server.closeAllConnections();
  executor.release();
  await stuck;
});

test('--admin-port and --drain-timeout-ms: defaults, environment, and sharp-style errors', () => {
  const defaults = parseServeArgs([], {});
  assert.deepEqual([defaults.adminPort, defaults.drainTimeoutMs], [0, 10_000]);
  const fromEnv = parseServeArgs([], { GANFORGE_ADMIN_PORT: '9090', GANFORGE_DRAIN_TIMEOUT_MS: '25000' });
  assert.deepEqual([fromEnv.adminPort, fromEnv.drainTimeoutMs], [9090, 25_000]);
  assert.equal(parseServeArgs(['--admin-port', '9091'], { GANFORGE_ADMIN_PORT: '9090' }).adminPort, 9091, 'the flag wins');
  assert.throws(() => parseServeArgs(['--admin-port', 'x'], {}), /^ParameterError: Expected integer between 0 and 65535 for --admin-port but received 'x'$/);
  assert.throws(
    () => parseServeArgs([], { GANFORGE_ADMIN_PORT: '70000' }),
    /^ParameterError: Expected integer between 0 and 65535 for GANFORGE_ADMIN_PORT but received '70000'$/,
  );
  assert.throws(
    () => parseServeArgs(['--port', '9000', '--admin-port', '9000'], {}),
    /^ParameterError: Expected 0 \(none\) or a port other than --port \(9000\) for --admin-port but received 9000$/,
  );
  assert.throws(
    () => parseServeArgs(['--drain-timeout-ms', '5'], {}),
    /^ParameterError: Expected integer between 100 and 600000 for --drain-timeout-ms but received '5'$/,
  );
  assert.throws(
    () => parseServeArgs([], { GANFORGE_DRAIN_TIMEOUT_MS: '1.5' }),
    /Expected integer between 100 and 600000 for GANFORGE_DRAIN_TIMEOUT_MS but received '1.5'/,
  );
});

/** A server process's report. */
function report(over: Partial<StateSnapshot> & { requests?: number }): StateSnapshot {
  const s = ServerState.create().snapshot();
  return { ...s, heartbeatMs: 1000, ...over, counters: { ...s.counters, responses2xx: over.requests ?? 0 } };
}

test('with --workers, the primary sums the reports: ready with one process ready, counters never go down when a process is replaced', () => {
  const state = ServerState.create();
  const cluster = new ClusterState(state, 2);
  assert.deepEqual([state.snapshot().ready, state.snapshot().processes, state.snapshot().readyProcesses], [false, 2, 0]);
  cluster.report(1, report({ ready: false, models: 0 }));
  assert.equal(state.snapshot().ready, false);
  cluster.report(1, report({ ready: true, readyProcesses: 1, models: 3, queuedImages: 16, inFlight: 2, requests: 10, heartbeatMs: 5000 }));
  cluster.report(2, report({ ready: true, readyProcesses: 1, models: 3, queuedImages: 4, inFlight: 1, requests: 5, heartbeatMs: 4000 }));
  let s = state.snapshot();
  assert.deepEqual([s.ready, s.readyProcesses, s.models, s.queuedImages, s.inFlight, s.counters.responses2xx, s.heartbeatMs], [true, 2, 3, 20, 3, 15, 4000]);
  // Process 2 dies; its replacement (3) starts from zero.
  cluster.retire(2);
  cluster.report(3, report({ ready: false, requests: 0 }));
  s = state.snapshot();
  assert.deepEqual([s.ready, s.readyProcesses, s.queuedImages, s.counters.responses2xx], [true, 1, 16, 15]);
  cluster.report(3, report({ ready: true, requests: 1 }));
  assert.equal(state.snapshot().counters.responses2xx, 16);
  cluster.setDraining();
  s = state.snapshot();
  assert.deepEqual([s.draining, s.processes], [true, 2]);
});

test('scheduler shutdown: queued requests are answered 503, new ones refused, and it resolves once the running job is done', async () => {
  const executor = gatedExecutor();
  const { app, scheduler } = createApp({ models, defaultModel: 'dense', provider: 'cpu', executor });
  const running = app.request('/sample?n=4&seed=1');
  await waitFor(() => executor.jobs === 1, { what: 'the first job to run' });
  const queued = app.request('/sample?n=4&seed=2');
  await waitFor(() => scheduler.statsOf('dense').queuedImages === 4, { what: 'the second request to queue' });
  let done = false;
  const stopped = scheduler.shutdown('the server is shutting down').then(() => {
    done = true;
  });
  const refusedQueued = await queued;
  assert.equal(refusedQueued.status, 503);
  assert.match(((await refusedQueued.json()) as { error: string }).error, /^Overloaded: the server is shutting down; retry after 5 s$/);
  assert.equal((await app.request('/sample?n=4&seed=3')).status, 503, 'new work is refused');
  assert.equal(done, false, 'the running job is waited for');
  executor.release();
  assert.equal((await running).status, 200);
  await stopped;
  assert.equal(scheduler.statsOf('dense').queuedImages, 0);
});
