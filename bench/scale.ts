import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineCommand } from '../lib/cli/command.ts';
import { startServer } from './serve.ts';

/**
 * `npm run bench:scale` (not part of npm test; needs Debian's nginx): two stateless replicas behind nginx,
 * load through nginx, one replica killed (SIGKILL) half-way, and the throughput before and after with
 * every failed request counted. nginx (configured by deploy/nginx.conf) retries an idempotent GET on the
 * other replica when a connection fails, so the kill costs no request.
 */

/** The nginx configuration the README recommends (deploy/nginx.conf), with its placeholders as comments say. */
export const NGINX_TEMPLATE = join(import.meta.dirname, '..', 'deploy', 'nginx.conf');

/**
 * deploy/nginx.conf filled in: `prefix` for nginx's own files, listening on loopback `listenPort`, with one
 * upstream server line per port of `ports` (the template's `{{replica}}` line, repeated).
 */
export function nginxConfig(template: string, prefix: string, listenPort: number, ports: readonly number[]): string {
  const values: Record<string, string> = { prefix, listen: `127.0.0.1:${listenPort}` };
  const fill = (line: string): string =>
    line.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
      if (values[name] === undefined) throw new Error(`${NGINX_TEMPLATE}: unknown placeholder {{${name}}}`);
      return values[name];
    });
  // Comments keep their placeholders: they document the template.
  return template
    .split('\n')
    .flatMap((line) => {
      if (/^\s*#/.test(line)) return [line];
      if (line.includes('{{replica}}')) return ports.map((p) => fill(line.replaceAll('{{replica}}', `127.0.0.1:${p}`)));
      return [fill(line)];
    })
    .join('\n');
}

/** `ganforge bench scale`: two replicas behind nginx, one killed mid-run. */
export const benchScaleCommand = defineCommand({
  name: 'bench scale',
  summary: 'two replicas behind nginx (Debian), one killed mid-run: failed requests and throughput before and after',
  usage: '[flags]',
  flags: {
    duration: { kind: 'int', min: 4, max: 300, default: 12, help: 'seconds of load; the kill is half-way' },
    connections: { kind: 'int', min: 1, max: 1024, default: 32, help: 'concurrent connections' },
    path: { kind: 'string', default: '/sample?n=16', help: 'the route under load' },
  },
  async run({ values }) {
    const prefix = await mkdtemp(join(tmpdir(), 'ganforge-nginx-'));
    const [portA, portB, front] = [18101, 18102, 18100];
    await writeFile(join(prefix, 'nginx.conf'), nginxConfig(await readFile(NGINX_TEMPLATE, 'utf8'), prefix, front, [portA, portB]));
    const replicas = await Promise.all([portA, portB].map((port) => startServer(['--port', String(port), '--default-model', 'dense'])));
    const nginx = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });
    try {
      for (
        let i = 0;
        i < 50 &&
        !(await fetch(`http://127.0.0.1:${front}/healthz`).then(
          (r) => r.ok,
          () => false,
        ));
        i++
      )
        await new Promise((r) => setTimeout(r, 100));
      const perSecond: number[] = [];
      let failed = 0;
      const started = Date.now();
      const killAt = (values.duration * 1000) / 2;
      let killedAt = 0;
      let finish: (r: autocannon.Result) => void = () => {};
      const done = new Promise<autocannon.Result>((resolve) => {
        finish = resolve;
      });
      const instance = autocannon({ url: `http://127.0.0.1:${front}${values.path}`, connections: values.connections, duration: values.duration }, (err, r) => {
        if (err) throw err;
        finish(r);
      });
      instance.on('response', (_client: unknown, status: number) => {
        const s = Math.floor((Date.now() - started) / 1000);
        perSecond[s] = (perSecond[s] ?? 0) + 1;
        if (status !== 200) failed++;
      });
      const killer = setTimeout(() => {
        killedAt = Date.now() - started;
        process.kill(replicas[0]!.pid, 'SIGKILL');
      }, killAt);
      const result = await done;
      clearTimeout(killer);
      const killSecond = Math.floor(killedAt / 1000);
      const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
      const before = mean(perSecond.slice(1, killSecond));
      const afterRates = mean(perSecond.slice(killSecond + 1, values.duration));
      console.log(
        `nginx on :${front} -> replicas :${portA}, :${portB}; ${values.connections} connections, ${values.path}, ${values.duration} s; replica :${portA} SIGKILLed at ${(killedAt / 1000).toFixed(1)} s`,
      );
      console.log(`responses ${result.requests.total}, non-200 ${failed}, socket errors ${result.errors}, timeouts ${result.timeouts}`);
      console.log(
        `throughput: ${before.toFixed(0)} req/s with two replicas, ${afterRates.toFixed(0)} req/s with one (per second: ${perSecond.map((x) => x ?? 0).join(' ')})`,
      );
    } finally {
      nginx.kill('SIGTERM');
      for (const r of replicas.slice(1)) await r.stop();
    }
  },
});
