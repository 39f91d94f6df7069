import autocannon from 'autocannon';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineCommand } from '../lib/cli/command.ts';

/**
 * `npm run bench:serve`: starts the server in a child process on a free loopback port and loads it,
 * bounded in time: /example.png (the static floor), /sample?n=16 and /sample?n=256; `--peer` also runs
 * the FastAPI + PyTorch + Pillow peer (bench/peer/server.py) under the same load; `--overload` probes
 * /healthz while n=256 requests saturate the generator, then while 256 connections ask for large grids
 * (from a separate process, with the server's RSS sampled), and fails past `--max-health-p99-ms`.
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

/** Latencies of /healthz probes, in ms. */
interface HealthFigures {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** p50, p99 and max of some latencies. */
function figures(latencies: number[]): HealthFigures {
  const l = [...latencies].sort((a, b) => a - b);
  return { n: l.length, p50: l[l.length >> 1]!, p99: l[Math.floor(l.length * 0.99)]!, max: l.at(-1)! };
}

const describeHealth = (h: HealthFigures): string => `p50 ${h.p50.toFixed(1)} ms, p99 ${h.p99.toFixed(1)} ms, max ${h.max.toFixed(1)} ms`;

/** Images waiting in a model's queue, from the server's /metrics. */
async function queuedImages(url: string, model: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`ganforge_generator_queue_images\\{model="${model}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
}

/**
 * The generator saturated, the HTTP side calm: 48 requests for 256 dcgan digits queued on a server with a
 * deep queue, then 20 /healthz probes in a row while they wait. Health must not queue behind generation.
 */
async function saturatedGenerator(extra: string[]): Promise<HealthFigures> {
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
    const health = figures(latencies);
    const failed = results.filter(([status, bytes]) => status !== 200 || bytes === 0).length;
    console.log(`saturated generator: 48 x /sample?n=256 on dcgan, ${failed} failed; ${queued} images still queued after the last probe`);
    console.log(`  /healthz, ${health.n} probes in a row on this process's connections: ${describeHealth(health)}`);
    if (queued === 0) console.log('  (the queue had drained before the last probe: the generator was not saturated throughout)');
    return health;
  } finally {
    await server.stop();
  }
}

/** 256 connections asking for large grids; /healthz probed from another process; the server's RSS sampled. */
async function overload(server: Started, duration: number): Promise<HealthFigures> {
  const probe = spawn(
    process.execPath,
    [
      '-e',
      // One keep-alive connection, opened before the load (as a load balancer's health checker holds one).
      `const u=${JSON.stringify(`${server.url}/healthz`)};const l=[];(async()=>{await fetch(u).then(r=>r.text());console.log('ready');const end=Date.now()+${duration * 1000};while(Date.now()<end){const t=performance.now();await fetch(u).then(r=>r.text());l.push(performance.now()-t);await new Promise(r=>setTimeout(r,20));}l.sort((a,b)=>a-b);console.log(JSON.stringify({n:l.length,p50:l[l.length>>1],p99:l[Math.floor(l.length*0.99)],max:l.at(-1)}));})()`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const probeDone = new Promise((resolve) => probe.on('exit', resolve));
  let probeOut = '';
  probe.stdout.on('data', (d: Buffer) => {
    probeOut += d.toString();
  });
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (probeOut.includes('ready')) {
        clearInterval(poll);
        resolve();
      }
    }, 5);
  });
  const rss: number[] = [rssMiB(server.pid)];
  const sampler = setInterval(() => rss.push(rssMiB(server.pid)), 500);
  const r = await autocannon({ url: `${server.url}/sample?n=256&scale=4`, connections: 256, duration });
  clearInterval(sampler);
  await probeDone;
  const health = JSON.parse(probeOut.slice(probeOut.indexOf('{'))) as { n: number; p50: number; p99: number; max: number };
  const codes = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([c, stat]) => [c, stat?.count ?? 0]));
  console.log(
    `overload: 256 connections, /sample?n=256&scale=4, ${duration} s: ${r.requests.total} responses ${JSON.stringify(codes)}, ${r.errors} socket errors`,
  );
  console.log(`  /healthz from another process on one keep-alive connection (${health.n} probes): ${describeHealth(health)}`);
  console.log(`  server RSS: ${rss[0]!.toFixed(0)} MiB at the start, ${Math.max(...rss).toFixed(0)} MiB at most, ${rss.at(-1)!.toFixed(0)} MiB at the end`);
  return health;
}

/** `ganforge bench serve`: HTTP load on a child server (and the peer), bounded in time. */
export const benchServeCommand = defineCommand({
  name: 'bench serve',
  summary: 'HTTP throughput and latency of /example.png and /sample (and the FastAPI peer, and an overload run)',
  usage: '[flags]',
  flags: {
    duration: { kind: 'int', min: 1, max: 120, default: 10, help: 'seconds of load per route' },
    connections: { kind: 'int', min: 1, max: 1024, default: 32, help: 'concurrent connections' },
    batching: { kind: 'enum', values: ['on', 'off'], default: 'on', help: 'off: one onnxruntime run() per request' },
    model: { kind: 'enum', values: ['dense', 'dcgan'], default: 'dense', help: 'the default model of the server (and the peer) under load' },
    'load-generator': { kind: 'enum', values: ['autocannon', 'wrk'], default: 'autocannon', help: "autocannon (npm), or Debian's wrk with 2 threads" },
    peer: { kind: 'boolean', help: 'also load the FastAPI + PyTorch + Pillow peer (bench/peer/server.py, Debian packages)' },
    overload: {
      kind: 'boolean',
      help: 'also probe /healthz while n=256 requests saturate the generator, and while 256 connections ask for /sample?n=256&scale=4 (RSS sampled)',
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
    const { duration, connections } = values;
    const tool = values['load-generator'];
    const extra = [
      ...(values.batching === 'off' ? ['--max-batch-images', '0'] : []),
      '--default-model',
      values.model,
      ...values['server-flags'].split(' ').filter(Boolean),
    ];
    const server = await startServer(extra);
    const rows: [string, Row][] = [];
    const health: HealthFigures[] = [];
    try {
      console.log(
        `${tool}: ${connections} connections, ${duration} s per route, model ${values.model}, batching ${values.batching}, ${server.url} ${extra.join(' ')}`,
      );
      for (const path of ['/example.png', '/sample?n=16', '/sample?n=256']) {
        await load(server.url + path, connections, 1, tool); // warm-up
        rows.push([`ganforge ${path}`, await load(server.url + path, connections, duration, tool)]);
      }
      if (values.overload) health.push(await overload(server, duration));
    } finally {
      await server.stop();
    }
    if (values.overload) health.unshift(await saturatedGenerator(values['server-flags'].split(' ').filter(Boolean)));
    if (values.peer) {
      const peer = await startPeer(values.model, 18091);
      try {
        await load(`${peer.url}/sample?n=16`, connections, 1, tool);
        rows.push(['peer (FastAPI+PyTorch) /sample?n=16', await load(`${peer.url}/sample?n=16`, connections, duration, tool)]);
      } finally {
        await peer.stop();
      }
      const ours = rows.find(([n]) => n === 'ganforge /sample?n=16')![1];
      const theirs = rows.at(-1)![1];
      console.log(`/sample?n=16: ganforge ${(ours.rps / theirs.rps).toFixed(2)}x the peer's throughput`);
    }
    printRows(rows);
    const limit = values['max-health-p99-ms'];
    const slow = health.filter((h) => h.p99 > limit);
    if (slow.length > 0) {
      // A measured figure past its threshold, not a bug: one line, and exit code 1.
      console.error(`error: /healthz p99 ${slow.map((h) => `${h.p99.toFixed(1)} ms`).join(' and ')} under overload, above --max-health-p99-ms ${limit}`);
      process.exitCode = 1;
    }
  },
});
