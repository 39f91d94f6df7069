import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PNG } from 'pngjs';
import { GANFORGE, ROOT } from '../helpers/ganforge.ts';
import { waitFor } from '../helpers/wait.ts';

// `ganforge serve` as a process: refusing to start without a usable model, and a graceful SIGTERM.

const modelsDir = join(ROOT, 'models');

test('with no usable model the server refuses to start, naming each problem', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-models-'));
  const manifest = JSON.parse(await readFile(join(modelsDir, 'dense.json'), 'utf8'));
  const { createHash } = await import('node:crypto');
  const junk = Buffer.from('not an onnx model');
  await writeFile(join(dir, 'corrupt.onnx'), junk);
  await writeFile(join(dir, 'corrupt.json'), JSON.stringify({ ...manifest, name: 'corrupt', sha256: createHash('sha256').update(junk).digest('hex') }));
  await copyFile(join(modelsDir, 'dense.onnx'), join(dir, 'tampered.onnx'));
  await writeFile(join(dir, 'tampered.json'), JSON.stringify({ ...manifest, name: 'tampered', sha256: '0'.repeat(64) }));
  const bad = spawn(process.execPath, ['--import', 'tsx', GANFORGE, 'serve', '--port', '0', '--models-dir', dir, '--models', 'corrupt,tampered'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  bad.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise((resolve) => bad.on('exit', resolve));
  assert.equal(code, 1);
  assert.match(stderr, /error: no usable model in .*corrupt: onnxruntime cannot load corrupt\.onnx.*tampered: tampered\.onnx has sha256/s);
});

test('a real listening server answers, and SIGTERM lets an in-flight request finish', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', GANFORGE, 'serve', '--port', '0', '--device', 'cpu'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /on (http:\/\/[\d.:]+)\//.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(out)));
  });
  const health = await fetch(`${url}/healthz`);
  assert.equal(health.status, 200);
  const inflight = fetch(`${url}/sample?n=256&seed=9&scale=4`);
  // SIGTERM once the server has the request (its seeded render started: a PNG cache miss), not after a guess.
  await waitFor(async () => /ganforge_png_cache\{kind="misses"\} [1-9]/.test(await (await fetch(`${url}/metrics`)).text()), { what: 'the request to start' });
  child.kill('SIGTERM');
  const res = await inflight;
  assert.equal(res.status, 200);
  assert.equal(PNG.sync.read(Buffer.from(await res.arrayBuffer())).width, 16 * 112 + 17 * 2);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  assert.match(out, /SIGTERM: finishing in-flight requests, then exiting/);
});
