import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { defineCommand } from '../lib/cli/command.ts';

/**
 * `npm run bench:serve`: starts the server in a child process on a free loopback port and loads it with
 * autocannon, bounded in time: /sample?n=16, /sample?n=256 and the static /example.png as the floor.
 * `--batching off` measures the same server with one onnxruntime run() per request.
 */
async function startServer(extra: string[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, '..', 'bin', 'serve.ts'), '--port', '0', '--host', '127.0.0.1', ...extra],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
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

/** `ganforge bench serve`: HTTP load on a child server, bounded in time. */
export const benchServeCommand = defineCommand({
  name: 'bench serve',
  summary: 'HTTP throughput and latency of /example.png, /sample?n=16 and /sample?n=256 (autocannon)',
  usage: '[flags]',
  flags: {
    duration: { kind: 'int', min: 1, max: 120, default: 10, help: 'seconds of load per route' },
    connections: { kind: 'int', min: 1, max: 1024, default: 32, help: 'concurrent connections' },
    batching: { kind: 'enum', values: ['on', 'off'], default: 'on', help: 'off: one onnxruntime run() per request' },
    model: { kind: 'string', help: 'the default model of the server under load', defaultLabel: "the server's default" },
  },
  async run({ values }) {
    const { duration, connections } = values;
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
      for (const row of rows)
        console.log(
          `${row[0]!.padEnd(16)} ${row
            .slice(1)
            .map((c) => c.padStart(8))
            .join(' ')}`,
        );
    } finally {
      await server.stop();
    }
  },
});
