import autocannon from 'autocannon';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineCommand } from '../lib/cli/command.ts';
import { formatOpenLoopTable, httpSender, type OpenLoopResult, type Percentiles, percentiles, runOpenLoop } from './open-loop.ts';

/**
 * `npm run bench:serve`: starts the server in a child process on a free loopback port and loads it,
 * bounded in time: /example.png (the static floor), /sample?n=16 and /sample?n=256; `--peer` also runs
 * the FastAPI + PyTorch + Pillow peer (bench/peer/server.py) under the same load; `--rate`/`--rates` load
 * one route open-loop instead (a constant arrival rate, latency from each request's scheduled time:
 * bench/open-loop.ts); `--overload` probes /healthz while n=256 requests saturate the generator, then
 * while 256 connections ask for large grids (from a separate process, with the server's RSS sampled;
 * `--rounds` times; with `--admin-port`, the admin port's /healthz too, on a new connection per probe),
 * and fails past `--max-health-p99-ms`.
 */

const root = join(import.meta.dirname, '..');

export interface Started {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts a child and waits for the line that gives its URL. */
function startChild(command: string, args: string[], urlPattern: RegExp): Promise<Started> {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const done = (url: string): void =>
      resolve({
        url,
        pid: child.pid!,
        stop: () =>
          new Promise((r) => {
            child.on('exit', () => r());
            child.kill('SIGTERM');
          }),
      });
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = urlPattern.exec(out);
      if (m) done(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${command} exited with code ${code}: ${out}`)));
  });
}

/** Our server in a child process, with extra flags (a later `--port` wins over the free port). */
export function startServer(extra: string[]): Promise<Started> {
  return startChild(process.execPath, [join(root, 'bin', 'ganforge.js'), 'serve', '--port', '0', '--host', '127.0.0.1', ...extra], /on (http:\/\/[^\s]+)\//);
}

/** The FastAPI + PyTorch peer (Debian's python3-torch, python3-fastapi, python3-uvicorn, python3-pil). */
async function startPeer(model: string, port: number): Promise<Started> {
  const python = '/usr/bin/python3';
  const child = spawn(python, [join(root, 'bench', 'peer', 'server.py'), '--model', model, '--port', String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  // uvicorn at log level warning prints nothing when it is up: poll its health instead.
  for (let i = 0; i < 200 && child.exitCode === null; i++) {
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    ) {
      return {
        url,
        pid: child.pid!,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  throw new Error(`the peer did not start on ${url} (needs ${python} with torch, fastapi, uvicorn and PIL)`);
}

interface Row {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly codes: Record<string, number>;
}

/** Load on one URL: wrk (Debian's, 2 threads) when asked and installed, else autocannon. */
async function load(url: string, connections: number, duration: number, tool: 'autocannon' | 'wrk'): Promise<Row> {
  if (tool === 'wrk') {
    const out = execFileSync('wrk', ['-t2', `-c${connections}`, `-d${duration}s`, '--latency', url], { encoding: 'utf8' });
    const ms = (label: string): number => {
      const m = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(out);
      return m ? Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1) : Number.NaN;
    };
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), p50: ms('50%'), p99: ms('99%'), codes: { 'non-2xx': non2xx } };
  }
  const r = await autocannon({ url, connections, duration });
  const codes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(r.statusCodeStats ?? {})) codes[code] = stat?.count ?? 0;
  if (r.errors) codes.errors = r.errors;
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, codes };
}

function printRows(rows: [string, Row][]): void {
  console.log(`${'target'.padEnd(34)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}  status codes`);
  for (const [name, r] of rows) {
    console.log(
      `${name.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)}  ${JSON.stringify(r.codes)}`,
    );
  }
}

/** The RSS of a process, in MiB (Linux). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

const describeHealth = (h: Percentiles): string => `p50 ${h.p50.toFixed(1)} ms, p99 ${h.p99.toFixed(1)} ms, max ${h.max.toFixed(1)} ms`;

/** Images waiting in a model's queue, from the server's /metrics. */
async function queuedImages(url: string, model: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`ganforge_generator_queue_images\\{model="${model}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
}

/**
 * The generator saturated, the HTTP side calm: 48 requests for 256 dcgan digits queued on a server with a
 * deep queue, then 20 /healthz probes in a row while they wait. Health must not queue behind generation.
 */
async function saturatedGenerator(extra: string[]): Promise<Percentiles> {
  const server = await startServer(['--models', 'dcgan', '--max-queue-images', '100000', '--queue-timeout-ms', '60000', ...extra]);
  try {
    const load = Array.from({ length: 48 }, (_, i) =>
      fetch(`${server.url}/sample?n=256&seed=${i}`).then(async (r) => [r.status, (await r.arrayBuffer()).byteLength] as const),
    );
    // Probe once the generator has a queue, not after a guessed delay.
    for (let i = 0; i < 500 && (await queuedImages(server.url, 'dcgan')) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await (await fetch(`${server.url}/healthz`)).json();
      latencies.push(performance.now() - t0);
    }
    const queued = await queuedImages(server.url, 'dcgan');
    const results = await Promise.all(load);
    const health = percentiles(latencies);
    const failed = results.filter(([status, bytes]) => status !== 200 || bytes === 0).length;
    console.log(`saturated generator: 48 x /sample?n=256 on dcgan, ${failed} failed; ${queued} images still queued after the last probe`);
    console.log(`  /healthz, ${health.n} probes in a row on this process's connections: ${describeHealth(health)}`);
    if (queued === 0) console.log('  (the queue had drained before the last probe: the generator was not saturated throughout)');
    return health;
  } finally {
    await server.stop();
  }
}

/** A /healthz prober in another process, so that this one's load generator cannot delay it. */
interface Probe {
  /** Resolves once the first probe was answered (for a keep-alive probe: its connection is open). */
  readonly ready: Promise<void>;
  /** Resolves with every probe's latency in ms, and the failed probes, when the time is up. */
  readonly done: Promise<{ latencies: number[]; errors: number }>;
}

/**
 * Probes `url` every 20 ms for `seconds` from a child process: on one keep-alive connection opened before
 * the load (as a load balancer's health checker holds one), or (`fresh`) on a new connection each time
 * (as a kubelet probes).
 */
function startProbe(url: string, seconds: number, fresh: boolean): Probe {
  const get = fresh
    ? `const get=()=>new Promise((resolve,reject)=>{const r=require('node:http').get(u,{agent:false},(s)=>{s.on('end',resolve);s.on('error',reject);s.resume();});r.on('error',reject);});`
    : 'const get=()=>fetch(u).then((r)=>r.text());';
  const script = `const u=${JSON.stringify(url)};${get}(async()=>{await get();console.log('ready');const l=[];let errors=0;const end=Date.now()+${seconds * 1000};while(Date.now()<end){const t=performance.now();await get().then(()=>l.push(performance.now()-t),()=>errors++);await new Promise((r)=>setTimeout(r,20));}console.log(JSON.stringify({latencies:l,errors}));})();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the /healthz probe of ${url} exited (code ${code}) before its first answer: ${out}`)));
  });
  const done = new Promise<{ latencies: number[]; errors: number }>((resolve, reject) =>
    child.on('exit', (code) => {
      const json = out.slice(out.indexOf('{'));
      if (code !== 0 || !json.startsWith('{')) reject(new Error(`the /healthz probe of ${url} failed (exit ${code}): ${out}`));
      else resolve(JSON.parse(json) as { latencies: number[]; errors: number });
    }),
  );
  done.catch(() => {}); // awaited by the caller, unless `ready` failed first
  return { ready, done };
}

/** What one overload round measured. */
interface OverloadRound {
  /** The main port's /healthz, on one keep-alive connection. */
  readonly health: Percentiles;
  /** The admin port's /healthz, on a new connection per probe (null without --admin-port). */
  readonly admin: Percentiles | null;
  /** The server's RSS when the round ended, MiB. */
  readonly rssEnd: number;
}

/**
 * 256 connections asking for large grids; /healthz probed from another process (and the admin port's,
 * given its URL); the server's RSS sampled.
 */
async function overload(server: Started, duration: number, adminUrl: string | null): Promise<OverloadRound> {
  const probe = startProbe(`${server.url}/healthz`, duration, false);
  const adminProbe = adminUrl ? startProbe(`${adminUrl}/healthz`, duration, true) : null;
  await Promise.all([probe.ready, adminProbe?.ready]);
  const rss: number[] = [rssMiB(server.pid)];
  const sampler = setInterval(() => rss.push(rssMiB(server.pid)), 500);
  const r = await autocannon({ url: `${server.url}/sample?n=256&scale=4`, connections: 256, duration });
  clearInterval(sampler);
  const rssEnd = rssMiB(server.pid);
  const probed = await probe.done;
  const health = percentiles(probed.latencies);
  const codes = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([c, stat]) => [c, stat?.count ?? 0]));
  console.log(
    `overload: 256 connections, /sample?n=256&scale=4, ${duration} s: ${r.requests.total} responses ${JSON.stringify(codes)}, ${r.errors} socket errors`,
  );
  console.log(`  /healthz from another process on one keep-alive connection (${health.n} probes, ${probed.errors} failed): ${describeHealth(health)}`);
  let admin: Percentiles | null = null;
  if (adminProbe) {
    const a = await adminProbe.done;
    admin = percentiles(a.latencies);
    console.log(`  admin /healthz (${adminUrl}) on a new connection per probe (${admin.n} probes, ${a.errors} failed): ${describeHealth(admin)}`);
  }
  console.log(`  server RSS: ${rss[0]!.toFixed(0)} MiB at the start, ${Math.max(...rss, rssEnd).toFixed(0)} MiB at most, ${rssEnd.toFixed(0)} MiB at the end`);
  return { health, admin, rssEnd };
}

/** Open-loop load on one URL at each rate in turn (bench/open-loop.ts), printed as it goes. */
async function openLoopCurve(url: string, rates: readonly number[], warmup: number, duration: number, sockets: number): Promise<OpenLoopResult[]> {
  const results: OpenLoopResult[] = [];
  for (const rate of rates) {
    const sender = httpSender(url, sockets);
    try {
      const r = await runOpenLoop(sender.send, { rate, warmupMs: warmup * 1000, durationMs: duration * 1000, graceMs: 10_000 });
      const l = r.latency;
      console.log(
        `  ${rate} req/s offered: ${r.achieved.toFixed(1)} achieved, p50 ${l.p50.toFixed(1)} / p90 ${l.p90.toFixed(1)} / p99 ${l.p99.toFixed(1)} / p99.9 ${l.p999.toFixed(1)} / max ${l.max.toFixed(1)} ms, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.unanswered} unanswered`,
      );
      results.push(r);
    } finally {
      sender.close();
    }
  }
  return results;
}

/** `ganforge bench serve`: HTTP load on a child server (and the peer), bounded in time. */
export const benchServeCommand = defineCommand({
  name: 'bench serve',
  summary: 'HTTP throughput and latency of /example.png and /sample, closed-loop or at constant rates (and the FastAPI peer, and an overload run)',
  usage: '[flags]',
  flags: {
    duration: { kind: 'int', min: 1, max: 120, default: 10, help: 'seconds of load per route (per rate with --rate/--rates; per round with --overload)' },
    connections: { kind: 'int', min: 1, max: 1024, default: 32, help: 'concurrent connections (with --rate/--rates: the most sockets open at once)' },
    batching: { kind: 'enum', values: ['on', 'off'], default: 'on', help: 'off: one onnxruntime run() per request' },
    model: { kind: 'enum', values: ['dense', 'dcgan'], default: 'dense', help: 'the default model of the server (and the peer) under load' },
    'load-generator': { kind: 'enum', values: ['autocannon', 'wrk'], default: 'autocannon', help: "autocannon (npm), or Debian's wrk with 2 threads" },
    rate: {
      kind: 'int',
      min: 1,
      max: 100_000,
      help: 'open-loop instead of the closed-loop runs: requests at this constant rate (req/s), latency counted from each scheduled send time',
    },
    rates: { kind: 'int-list', min: 1, max: 100_000, help: 'open-loop at each of these rates in turn (comma-separated req/s), printed as a table' },
    path: {
      kind: 'string',
      default: '/sample?n=16',
      pattern: { regex: /^\/\S*$/, description: "a path starting with '/'" },
      help: 'with --rate/--rates: the route loaded',
    },
    warmup: { kind: 'int', min: 0, max: 60, default: 2, help: 'with --rate/--rates: seconds at the same rate before each measurement' },
    peer: { kind: 'boolean', help: 'also load the FastAPI + PyTorch + Pillow peer (bench/peer/server.py, Debian packages)' },
    overload: {
      kind: 'boolean',
      help: 'also probe /healthz while n=256 requests saturate the generator, and while 256 connections ask for /sample?n=256&scale=4 (RSS sampled)',
    },
    rounds: { kind: 'int', min: 1, max: 100, default: 1, help: "with --overload: rounds of the 256-connection overload, the server's RSS printed after each" },
    'admin-port': {
      kind: 'int',
      min: 0,
      max: 65535,
      default: 0,
      help: "start the server with --admin-port N; with --overload, also probe the admin port's /healthz on a new connection per probe (0 = none)",
    },
    'max-health-p99-ms': {
      kind: 'float',
      min: 0,
      default: 50,
      help: "with --overload: exit 1 when /healthz's p99 latency in either overload run is above this",
    },
    'server-flags': { kind: 'string', default: '', help: "extra flags for the server, e.g. '--workers 2 --generator-threads 1'" },
  },
  async run({ values }) {
    const { duration, connections, warmup, rounds, path } = values;
    const tool = values['load-generator'];
    const adminPort = values['admin-port'];
    const rates = [...new Set([...(values.rate === undefined ? [] : [values.rate]), ...(values.rates ?? [])])].sort((a, b) => a - b);
    const extra = [
      ...(values.batching === 'off' ? ['--max-batch-images', '0'] : []),
      '--default-model',
      values.model,
      ...(adminPort > 0 ? ['--admin-port', String(adminPort)] : []),
      ...values['server-flags'].split(' ').filter(Boolean),
    ];
    const adminUrl = adminPort > 0 ? `http://127.0.0.1:${adminPort}` : null;
    const server = await startServer(extra);
    const rows: [string, Row][] = [];
    const curves: [string, OpenLoopResult[]][] = [];
    const health: Percentiles[] = [];
    const admin: Percentiles[] = [];
    try {
      if (rates.length > 0) {
        console.log(
          `open loop: ${path} at ${rates.join(', ')} req/s, ${warmup} s warm-up + ${duration} s each, at most ${connections} connections, model ${values.model}, ${server.url} ${extra.join(' ')}`,
        );
        curves.push([`ganforge ${path}`, await openLoopCurve(server.url + path, rates, warmup, duration, connections)]);
      } else {
        console.log(
          `${tool}: ${connections} connections, ${duration} s per route, model ${values.model}, batching ${values.batching}, ${server.url} ${extra.join(' ')}`,
        );
        for (const route of ['/example.png', '/sample?n=16', '/sample?n=256']) {
          await load(server.url + route, connections, 1, tool); // warm-up
          rows.push([`ganforge ${route}`, await load(server.url + route, connections, duration, tool)]);
        }
      }
      if (values.overload) {
        const rssStart = rssMiB(server.pid);
        const after: number[] = [];
        for (let round = 1; round <= rounds; round++) {
          if (rounds > 1) console.log(`overload round ${round} of ${rounds}:`);
          const r = await overload(server, duration, adminUrl);
          health.push(r.health);
          if (r.admin) admin.push(r.admin);
          after.push(r.rssEnd);
          console.log(`  server RSS after round ${round}: ${r.rssEnd.toFixed(0)} MiB`);
        }
        if (rounds > 1)
          console.log(`server RSS: ${rssStart.toFixed(0)} MiB before the first round, then after each: ${after.map((m) => m.toFixed(0)).join(', ')} MiB`);
      }
    } finally {
      await server.stop();
    }
    if (values.overload) health.unshift(await saturatedGenerator(values['server-flags'].split(' ').filter(Boolean)));
    if (values.peer) {
      const peer = await startPeer(values.model, 18091);
      try {
        if (rates.length > 0) curves.push([`peer (FastAPI+PyTorch) ${path}`, await openLoopCurve(peer.url + path, rates, warmup, duration, connections)]);
        else {
          await load(`${peer.url}/sample?n=16`, connections, 1, tool);
          rows.push(['peer (FastAPI+PyTorch) /sample?n=16', await load(`${peer.url}/sample?n=16`, connections, duration, tool)]);
        }
      } finally {
        await peer.stop();
      }
      if (rates.length === 0) {
        const ours = rows.find(([n]) => n === 'ganforge /sample?n=16')![1];
        const theirs = rows.at(-1)![1];
        console.log(`/sample?n=16: ganforge ${(ours.rps / theirs.rps).toFixed(2)}x the peer's throughput`);
      }
    }
    if (rows.length > 0) printRows(rows);
    for (const [name, results] of curves)
      console.log(`\n${name}, open loop (latency from each request's scheduled send time):\n${formatOpenLoopTable(results)}`);
    if (admin.length > 0) console.log(`admin /healthz on a new connection per probe, under overload: ${admin.map(describeHealth).join('; ')}`);
    const limit = values['max-health-p99-ms'];
    const slow = health.filter((h) => h.p99 > limit);
    if (slow.length > 0) {
      // A measured figure past its threshold, not a bug: one line, and exit code 1.
      console.error(`error: /healthz p99 ${slow.map((h) => `${h.p99.toFixed(1)} ms`).join(' and ')} under overload, above --max-health-p99-ms ${limit}`);
      process.exitCode = 1;
    }
  },
});
