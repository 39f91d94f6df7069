import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createServer, type Server, Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/ganforge.ts';
import { waitFor } from '../helpers/wait.ts';

// `ganforge serve` (the executable, bin/ganforge.js) with --admin-port, receiving SIGTERM: the graceful
// drain, its deadline, a second signal, a busy admin port, and --workers (the primary's admin thread).

/** A port nothing listens on now (the kernel's pick; free again once closed). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Child {
  readonly child: ChildProcessWithoutNullStreams;
  /** The main port's URL, once it serves. */
  readonly url: Promise<string>;
  /** The exit code, or the signal that ended the process. */
  readonly exited: Promise<number | string>;
  /** stdout and stderr so far. */
  output(): string;
}

/** `node bin/ganforge.js serve --port 0 --device cpu <args>`. */
function serve(args: string[]): Child {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'ganforge.js'), 'serve', '--port', '0', '--device', 'cpu', ...args], { cwd: ROOT });
  let out = '';
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const url = new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /on (http:\/\/[\d.:]+)\//.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => reject(new Error(`the server exited before serving:\n${out}`)));
  });
  url.catch(() => {});
  return { child, url, exited, output: () => out };
}

/** GET, answered or not: the status and JSON body, or null when nothing answers. */
async function probe(url: string): Promise<{ status: number; body: { status?: string; processes?: { ready: number; total: number } } } | null> {
  try {
    const r = await fetch(url);
    return { status: r.status, body: (await r.json()) as { status?: string } };
  } catch {
    return null;
  }
}

/** A gauge or counter of the admin port's /metrics. */
async function adminMetric(admin: string, name: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  return Number(new RegExp(`^ganforge_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/** Connects to `url`'s port: 'connected' or the error code. */
function tryConnect(url: string): Promise<string> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.connect(Number(port), hostname);
  });
}

// Requests that keep dcgan's one generator thread busy for seconds: one onnxruntime run each.
const DCGAN_BUSY = ['--models', 'dcgan', '--max-batch-images', '256', '--max-queue-images', '100000', '--queue-timeout-ms', '60000'];

/**
 * Sends `count` large dcgan requests and waits until `queued` of them wait behind the generator (each is a
 * run of its own, a few hundred ms here): the work left then outlasts what the test does next.
 */
async function busy(url: string, admin: string, count: number, queued: number): Promise<Promise<number | string>[]> {
  const requests = Array.from({ length: count }, (_, i) =>
    fetch(`${url}/sample?n=256&scale=4&seed=${i}`, { headers: { connection: 'close' } }).then(
      async (r) => ((await r.arrayBuffer()).byteLength > 0 ? r.status : 'empty'),
      (err: Error) => err.message,
    ),
  );
  await waitFor(async () => (await adminMetric(admin, 'queued_images')) >= queued * 256, { timeout: 20_000, what: `${queued} requests queued for dcgan` });
  return requests;
}

test('SIGTERM: /readyz says draining, new connections are refused, in-flight requests finish with 200, then exit 0', async () => {
  const adminPort = await freePort();
  const admin = `http://127.0.0.1:${adminPort}`;
  const server = serve(['--admin-port', String(adminPort), ...DCGAN_BUSY]);
  try {
    const url = await server.url;
    assert.equal((await probe(`${admin}/readyz`))?.status, 200);
    assert.equal((await probe(`${url}/readyz`))?.status, 200, 'the main port has /readyz too');
    const requests = await busy(url, admin, 6, 3);
    let finished = 0;
    for (const r of requests) void r.then(() => finished++);

    server.child.kill('SIGTERM');
    await waitFor(async () => (await probe(`${admin}/readyz`))?.status === 503, { what: "the admin port's /readyz to say 503" });
    assert.equal((await probe(`${admin}/readyz`))?.body.status, 'draining');
    assert.equal((await probe(`${admin}/healthz`))?.status, 200, 'alive while draining');
    assert.equal(
      await waitFor(async () => ((await tryConnect(url)) === 'ECONNREFUSED' ? 'ECONNREFUSED' : null), { what: 'new connections refused' }),
      'ECONNREFUSED',
    );
    assert.ok(finished < requests.length, 'connections were refused while requests were still in flight');

    assert.deepEqual(await Promise.all(requests), [200, 200, 200, 200, 200, 200]);
    assert.equal(await server.exited, 0);
    assert.match(server.output(), /SIGTERM: finishing in-flight requests, then exiting \(at most 10000 ms\)/);
    assert.match(server.output(), /drained in \d+ ms; exiting/);
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('the drain deadline: requests still in flight after --drain-timeout-ms, exit 1 saying so', async () => {
  const adminPort = await freePort();
  const server = serve(['--admin-port', String(adminPort), '--drain-timeout-ms', '200', ...DCGAN_BUSY]);
  try {
    const url = await server.url;
    const requests = await busy(url, `http://127.0.0.1:${adminPort}`, 10, 6);
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 1);
    assert.match(server.output(), /drain deadline: \d+ requests still in flight after 200 ms \(--drain-timeout-ms\); exiting with code 1/);
    // What was in flight is answered, not cut off: 503 for queued work (to be retried elsewhere), 200 for
    // the batch being generated, which the process waits for.
    const statuses = await Promise.all(requests);
    assert.ok(
      statuses.every((s) => s === 200 || s === 503),
      `answers: ${statuses.join(', ')}`,
    );
    assert.ok(statuses.includes(503), `answers: ${statuses.join(', ')}`);
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('a second signal exits at once', async () => {
  const adminPort = await freePort();
  const admin = `http://127.0.0.1:${adminPort}`;
  const server = serve(['--admin-port', String(adminPort), '--drain-timeout-ms', '60000', ...DCGAN_BUSY]);
  try {
    const url = await server.url;
    const requests = await busy(url, admin, 10, 6);
    server.child.kill('SIGTERM');
    await waitFor(async () => (await probe(`${admin}/readyz`))?.status === 503, { what: 'the drain to start' });
    server.child.kill('SIGINT');
    assert.equal(await server.exited, 130);
    assert.match(server.output(), /SIGINT again: exiting now/);
    await Promise.all(requests);
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('an admin port that is taken stops the start with an error naming it', async () => {
  const taken: Server = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const { port } = taken.address() as { port: number };
  try {
    const server = serve(['--admin-port', String(port), '--models', 'dense', '--generator-threads', '0']);
    assert.equal(await server.exited, 1);
    assert.match(server.output(), new RegExp(`error: cannot listen on 127\\.0\\.0\\.1:${port} for --admin-port \\(EADDRINUSE\\)`));
  } finally {
    taken.close();
  }
});

test('--workers 2: the primary hosts the admin port and sums both processes; SIGTERM drains both, exit 0', async () => {
  const adminPort = await freePort();
  const admin = `http://127.0.0.1:${adminPort}`;
  const server = serve(['--admin-port', String(adminPort), '--workers', '2', '--models', 'dense', '--generator-threads', '0']);
  try {
    await waitFor(async () => (await probe(`${admin}/readyz`))?.body.processes?.ready === 2, { timeout: 30_000, what: 'both server processes ready' });
    assert.deepEqual((await probe(`${admin}/readyz`))?.body.processes, { ready: 2, total: 2 });
    const url = await server.url;
    for (let i = 0; i < 4; i++) assert.equal((await fetch(`${url}/sample?n=4&seed=${i}`)).status, 200);
    // Each process reports every 100 ms.
    await waitFor(async () => (await adminMetric(admin, 'responses_total\\{class="2xx"\\}')) >= 4, { what: 'the responses, counted by the primary' });
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
    assert.match(server.output(), /SIGTERM: draining 2 server processes \(at most 10000 ms each\), then exiting/);
    assert.equal(server.output().match(/drained in \d+ ms; exiting/g)?.length, 2, 'each process drained');
  } finally {
    server.child.kill('SIGKILL');
  }
});
