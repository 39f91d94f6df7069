import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { GANFORGE } from '../helpers/ganforge.ts';
import { waitFor } from '../helpers/wait.ts';

// A server process whose generator is saturated keeps answering its health checks. How fast it answers
// is a measurement, not a test: `npm run bench:serve -- --overload` prints it and fails past
// --max-health-p99-ms.

/** Images waiting for a model's generator, from /metrics. */
async function queuedImages(base: string, model: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(new RegExp(`ganforge_generator_queue_images\\{model="${model}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
}

test('/healthz answers 200 while n=256 requests saturate the generator threads', async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', GANFORGE, 'serve', '--port', '0', '--models', 'dcgan', '--max-queue-images', '100000', '--queue-timeout-ms', '60000'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const base = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /on (http:\/\/[^\s]+)\//.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error(out)));
    });
    const load = Array.from({ length: 48 }, (_, i) =>
      fetch(`${base}/sample?n=256&seed=${i}`).then(async (r) => [r.status, (await r.arrayBuffer()).byteLength] as const),
    );
    // Probe once the generator has a queue.
    await waitFor(async () => (await queuedImages(base, 'dcgan')) > 0, { what: 'images queued for the dcgan generator' });
    for (let i = 0; i < 20; i++) {
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { status: string }).status, 'ok');
    }
    assert.ok((await queuedImages(base, 'dcgan')) > 0, 'the generator was still saturated when the last health check ran');
    const results = await Promise.all(load);
    assert.ok(results.every(([status, bytes]) => status === 200 && bytes > 0));
  } finally {
    child.kill('SIGTERM');
  }
});
