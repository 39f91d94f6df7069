import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCli } from '../train/cli.ts';

/**
 * `npm run bench:serve`: starts the server in a child process on a free loopback port and loads it with
 * autocannon, bounded in time: /sample?n=16, /sample?n=256 and the static /example.png as the floor.
 * `--batching off` measures the same server with one onnxruntime run() per request.
 */
async function startServer(extra: string[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'main.ts'), '--port', '0', '--host', '127.0.0.1', ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /on (http:\/\/[^\s]+)\//.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`server exited with code ${code}: ${out}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.on('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

runCli(async () => {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '32' },
      batching: { type: 'string', default: 'on' },
      model: { type: 'string' },
    },
  });
  const duration = Number(values.duration);
  const connections = Number(values.connections);
  if (!Number.isInteger(duration) || duration < 1 || duration > 120) throw new Error(`Expected integer between 1 and 120 for --duration but received '${values.duration}'`);
  if (!Number.isInteger(connections) || connections < 1 || connections > 1024) throw new Error(`Expected integer between 1 and 1024 for --connections but received '${values.connections}'`);
  if (values.batching !== 'on' && values.batching !== 'off') throw new Error(`Expected on or off for --batching but received '${values.batching}'`);
  const extra = [...(values.batching === 'off' ? ['--max-batch-images', '0'] : []), ...(values.model ? ['--default-model', values.model] : [])];
  const server = await startServer(extra);
  try {
    console.log(`autocannon: ${connections} connections, ${duration} s per route, batching ${values.batching}, ${server.url}`);
    const rows: string[][] = [['route', 'req/s', 'p50 ms', 'p99 ms', 'errors']];
    for (const path of ['/example.png', '/sample?n=16', '/sample?n=256']) {
      await autocannon({ url: server.url + path, connections, duration: 1 }); // warm-up
      const r = await autocannon({ url: server.url + path, connections, duration });
      rows.push([path, r.requests.average.toFixed(0), String(r.latency.p50), String(r.latency.p99), String(r.errors + r.non2xx)]);
    }
    for (const row of rows) console.log(`${row[0]!.padEnd(16)} ${row.slice(1).map((c) => c.padStart(8)).join(' ')}`);
  } finally {
    await server.stop();
  }
});
