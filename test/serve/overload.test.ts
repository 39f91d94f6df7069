import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createApp } from '../../serve/app.ts';
import { type Executor, InlineExecutor, ThreadPool } from '../../serve/generation/pool.ts';
import type { JobItem } from '../../serve/generation/protocol.ts';
import { listen } from '../../serve/http-server.ts';
import { ProviderSelector } from '../../serve/providers.ts';
import { type LoadedModel, loadModels } from '../../serve/registry.ts';
import { waitFor } from '../helpers/wait.ts';

// The server under overload and abuse: a cost ceiling, a bounded queue with a deadline, dropped work
// for clients that left, one render for identical requests, timeouts, repeated parameters, caching that
// survives a redeploy, and manifests checked against their graphs (health under a saturated generator:
// overload.slow.test.ts; the preflight: load-shedding.test.ts).

const root = join(import.meta.dirname, '..', '..');
let models: Map<string, LoadedModel>;
const quiet = new ProviderSelector('cpu', undefined, () => {});
before(async () => {
  ({ models } = await loadModels(join(root, 'models'), quiet, ['dense', 'dcgan']));
});
after(async () => {
  for (const m of models.values()) await m.session.release();
});

/** An executor whose jobs wait until released: a generator that is busy for as long as a test wants. */
function gatedExecutor(capacity = 1): Executor & { jobs: JobItem[][]; release: () => void } {
  let open: (() => void) | null = null;
  let gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const jobs: JobItem[][] = [];
  return {
    capacity,
    jobs,
    release: () => {
      open?.();
      gate = Promise.resolve();
    },
    async run(_model, items) {
      jobs.push([...items]);
      await gate;
      return items.map((it) => new Uint8Array(new ArrayBuffer(it.n)));
    },
    close: async () => {},
  };
}

test('the cost ceiling: a response over its output pixels is a 400 naming the parameter to lower, before any work', async () => {
  const executor = gatedExecutor();
  executor.release();
  const { app } = createApp({ models, defaultModel: 'dense', provider: 'cpu', executor, limits: { maxPixels: 900_000, maxImages: 256 } });
  const huge = await app.request('/sample?n=256&cols=255&scale=8&padding=32&seed=1');
  assert.equal(huge.status, 400);
  const body = (await huge.json()) as { parameter: string; error: string };
  assert.equal(body.parameter, 'scale');
  assert.match(body.error, /^Expected at most 900000 output pixels per response but this request makes \d+: lower scale \(received 8\)$/);
  assert.equal(((await (await app.request('/sample?n=256&padding=32')).json()) as { parameter: string }).parameter, 'padding');
  assert.equal(((await (await app.request('/interpolate?from=1&to=2&steps=64&format=gif&scale=8')).json()) as { parameter: string }).parameter, 'scale');
  assert.equal(executor.jobs.length, 0, 'nothing was generated');
  // 16 x 16 digits at scale 2: 930 x 930 = 864,900 pixels, under the ceiling.
  assert.equal((await app.request('/sample?n=256&scale=2&seed=1')).status, 200);
});

test('a full queue answers 503 with Retry-After; work past the queue deadline is answered 503 too', async () => {
  const executor = gatedExecutor();
  const { app, scheduler } = createApp({ models, defaultModel: 'dense', provider: 'cpu', executor, maxQueueImages: 20, queueTimeoutMs: 100 });
  const running = app.request('/sample?n=16&seed=1');
  await waitFor(() => executor.jobs.length === 1);
  const queued = app.request('/sample?n=16&seed=2');
  await waitFor(() => scheduler.statsOf('dense').queuedImages === 16);
  const shed = await app.request('/sample?n=16&seed=3');
  assert.equal(shed.status, 503);
  assert.equal(shed.headers.get('retry-after'), '1');
  assert.match(((await shed.json()) as { error: string }).error, /^Overloaded: the dense queue is full \(16 images waiting, at most 20\)/);
  // Outlive the 100 ms queue deadline: this wait is the behaviour under test.
  await new Promise((r) => setTimeout(r, 150));
  executor.release();
  assert.equal((await running).status, 200);
  const late = await queued;
  assert.equal(late.status, 503, 'waited longer than the 100 ms deadline');
  assert.match(((await late.json()) as { error: string }).error, /waited more than 100 ms/);
  assert.deepEqual([scheduler.statsOf('dense').shed, scheduler.statsOf('dense').expired], [1, 1]);
  const metrics = await (await app.request('/metrics')).text();
  assert.match(metrics, /ganforge_generator_refused\{model="dense",reason="shed"\} 1/);
});

test('a client that disconnects while queued has its work dropped, and /metrics counts it', async () => {
  const executor = gatedExecutor();
  const { app, scheduler } = createApp({ models, defaultModel: 'dense', provider: 'cpu', executor });
  const running = app.request('/sample?n=4&seed=1');
  const gone = new AbortController();
  const leaving = Promise.resolve(app.request(new Request('http://x/sample?n=4&seed=2', { signal: gone.signal })));
  await waitFor(() => scheduler.statsOf('dense').queuedImages === 4);
  gone.abort();
  await leaving.catch(() => {});
  executor.release();
  await running;
  assert.equal(scheduler.statsOf('dense').dropped, 1);
  assert.equal(scheduler.statsOf('dense').queuedImages, 0);
  assert.deepEqual(
    executor.jobs.flat().map((it) => it.n),
    [4],
    'only the first request ever reached the generator',
  );
  assert.match(await (await app.request('/metrics')).text(), /ganforge_generator_refused\{model="dense",reason="dropped"\} 1/);
});

test('identical seeded requests in flight are rendered once', async () => {
  const executor = gatedExecutor();
  const { app, cache } = createApp({ models, defaultModel: 'dense', provider: 'cpu', executor });
  const same = Array.from({ length: 5 }, () => app.request('/sample?n=9&seed=77'));
  await waitFor(() => cache.shared === 4);
  executor.release();
  const bodies = await Promise.all((await Promise.all(same)).map(async (r) => new Uint8Array(await r.arrayBuffer())));
  assert.deepEqual(
    executor.jobs.flat().map((it) => it.n),
    [9],
    'one render for five requests',
  );
  assert.equal(cache.shared, 4);
  for (const b of bodies) assert.deepEqual(b, bodies[0]);
});

test('generator threads give the bytes the event loop gives, for grids and animations', async () => {
  const pool = await ThreadPool.start(models, 2, quiet.sessionOptions() as Record<string, unknown>);
  try {
    const inline = new InlineExecutor(models);
    const items: JobItem[] = [
      { latents: new Float32Array(300).fill(0.3), labels: null, n: 3, render: { kind: 'grid', cols: 2, scale: 2, padding: 1 } },
      { latents: new Float32Array(400).fill(-0.2), labels: null, n: 4, render: { kind: 'animation', format: 'gif', scale: 1, delay: 50 } },
    ];
    const [threaded, direct] = await Promise.all([pool.run('dcgan', items), inline.run('dcgan', items)]);
    assert.deepEqual(threaded, direct);
    await assert.rejects(pool.run('nope', items), /no model 'nope' in this generator thread/);
    // A thread that dies is replaced, and the pool keeps answering.
    const lost: string[] = [];
    const fragile = await ThreadPool.start(models, 1, quiet.sessionOptions() as Record<string, unknown>, (l) => lost.push(l));
    await (fragile as unknown as { workers: Set<import('node:worker_threads').Worker> }).workers.values().next().value!.terminate();
    assert.match(lost[0] ?? '', /generator thread lost \(the generator thread exited with code 1\); starting another/);
    await waitFor(() => fragile.capacity > 0, { timeout: 5000 });
    assert.deepEqual(await fragile.run('dcgan', items), direct);
    await fragile.close();
  } finally {
    await pool.close();
  }
});

/** Connects, writes `data`, and resolves with how long the server took to close the socket. */
function closedAfter(port: number, data: string): Promise<{ ms: number; reply: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let reply = '';
    const socket = connect(port, '127.0.0.1', () => {
      if (data) socket.write(data);
    });
    socket.on('data', (d) => {
      reply += d.toString();
    });
    socket.on('close', () => resolve({ ms: performance.now() - t0, reply }));
    socket.on('error', reject);
    setTimeout(() => {
      socket.destroy();
      reject(new Error('the server never closed the socket'));
    }, 5000).unref();
  });
}

test('slow-header, idle and idle keep-alive sockets are closed on the configured timeouts', async () => {
  const { app } = createApp({ models, defaultModel: 'dense', provider: 'cpu' });
  const { server, port } = await listen(app.fetch, 0, '127.0.0.1', { headersMs: 300, requestMs: 600, keepAliveMs: 200, idleMs: 400, maxConnections: 100 });
  try {
    const slow = await closedAfter(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n');
    assert.match(slow.reply, /^HTTP\/1\.1 408/, 'a request whose headers never end is answered 408');
    assert.ok(slow.ms >= 250 && slow.ms < 1500, `slow headers closed after ${slow.ms.toFixed(0)} ms`);
    const idle = await closedAfter(port, '');
    // No byte at all: the headers deadline (300 ms, checked every 75 ms) or the idle one (400 ms), whichever comes first.
    assert.ok(idle.ms >= 250 && idle.ms < 1500, `a silent socket closed after ${idle.ms.toFixed(0)} ms`);
    const kept = await closedAfter(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(kept.reply, /^HTTP\/1\.1 200/);
    assert.ok(kept.ms >= 150 && kept.ms < 1500, `an idle keep-alive connection closed after ${kept.ms.toFixed(0)} ms`);
  } finally {
    (server as Server).close();
  }
});

test('a repeated query parameter is a 400 naming it', async () => {
  const { app } = createApp({ models, defaultModel: 'dense', provider: 'cpu' });
  const r = await app.request('/sample?seed=1&seed=2');
  assert.equal(r.status, 400);
  assert.deepEqual(await r.json(), { error: "Expected one value for seed but received '1, 2'", parameter: 'seed', expected: 'one value', received: '1, 2' });
  assert.equal(((await (await app.request('/interpolate?from=1&to=2&to=3')).json()) as { parameter: string }).parameter, 'to');
});

test('caching: immutable only with a pinned model; otherwise no-cache with an ETag and 304; a stale pin is a 404 naming the loaded one', async () => {
  const { app } = createApp({ models, defaultModel: 'dense', provider: 'cpu' });
  const listed = (await (await app.request('/models')).json()) as { models: { name: string; sha256: string; pinned: string }[] };
  const dense = listed.models.find((m) => m.name === 'dense')!;
  assert.equal(dense.pinned, `dense@${dense.sha256.slice(0, 12)}`);
  const pinned = await app.request(`/sample?n=4&seed=5&model=${dense.pinned}`);
  assert.equal(pinned.status, 200);
  assert.equal(pinned.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  const plain = await app.request('/sample?n=4&seed=5');
  assert.equal(plain.headers.get('cache-control'), 'public, no-cache');
  const etag = plain.headers.get('etag')!;
  assert.match(etag, /^"[\w-]{27}"$/);
  assert.deepEqual(new Uint8Array(await plain.arrayBuffer()), new Uint8Array(await pinned.arrayBuffer()), 'the same digits');
  const again = await app.request('/sample?n=4&seed=5', { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal((await app.request('/interpolate?from=1&to=2')).headers.get('cache-control'), 'public, no-cache');
  const stale = await app.request('/sample?n=4&seed=5&model=dense@00000000');
  assert.equal(stale.status, 404);
  assert.match(((await stale.json()) as { error: string }).error, new RegExp(`^Model 'dense@00000000' is not loaded: ${dense.pinned} is$`));
  // A redeployed model (another sha) gets another ETag for the same URL, so caches that revalidate see it.
  const redeployed = new Map(models);
  redeployed.set('dense', { ...models.get('dense')!, manifest: { ...models.get('dense')!.manifest, sha256: 'f'.repeat(64) } });
  const { app: next } = createApp({ models: redeployed, defaultModel: 'dense', provider: 'cpu' });
  const after = await next.request('/sample?n=4&seed=5', { headers: { 'If-None-Match': etag } });
  assert.equal(after.status, 200);
  assert.notEqual(after.headers.get('etag'), etag);
});

test('a manifest whose latentDim disagrees with its graph is reported by name and skipped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-latent-'));
  const manifest = JSON.parse(await readFile(join(root, 'models', 'dense.json'), 'utf8')) as Record<string, unknown>;
  await copyFile(join(root, 'models', 'dense.onnx'), join(dir, 'wrong.onnx'));
  await writeFile(join(dir, 'wrong.json'), JSON.stringify({ ...manifest, name: 'wrong', latentDim: 64 }));
  await copyFile(join(root, 'models', 'dense.onnx'), join(dir, 'dense.onnx'));
  await copyFile(join(root, 'models', 'dense.json'), join(dir, 'dense.json'));
  const { models: loaded, problems } = await loadModels(dir, quiet);
  assert.deepEqual([...loaded.keys()], ['dense']);
  assert.deepEqual(
    problems.map((p) => p.name),
    ['wrong'],
  );
  assert.match(problems[0]!.reason, /the manifest's latentDim \(64\) disagrees with the ONNX graph's latent input latent\[\w+,100\]/);
  for (const m of loaded.values()) await m.session.release();
});
