import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCheckpoint } from '../../train/run-dir/checkpoint.ts';
import { GANFORGE, ganforgeSync } from '../helpers/ganforge.ts';

const node = (args: string[]) => ganforgeSync(['train', ...args]);

test('unknown or ill-typed flags exit 1 with a message naming the flag', async () => {
  const unknown = node(['--iterationz', '5']);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /^error: Unknown option '--iterationz'/);
  const bad = node(['--batch-size', 'many']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /error: Expected integer between 1 and 65536 for --batch-size but received 'many'/);
  assert.match(node(['--resume', '/nonexistent-run']).stderr, /error: \/nonexistent-run: no config\.json; is it a run folder\?/);
  const run = await mkdtemp(join(tmpdir(), 'ganforge-resume-flags-'));
  await writeFile(join(run, 'config.json'), JSON.stringify({ model: 'dense', lr: 0.001, batchSize: 128 }));
  const resume = node(['--resume', run, '--lr', '0.1', '--batch-size', '128']);
  assert.match(
    resume.stderr,
    /only iterations, sampleInterval, checkpointInterval, backend, engine, evalInterval, evalSamples, keepBest, workers may change, not lr$/m,
  );
});

test('--help lists the flags', () => {
  const help = node(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: ganforge train \[flags\]/);
  assert.match(help.stdout, /--reset-discriminator-at/);
});

test('SIGTERM finishes the iteration, saves a checkpoint and exits cleanly; --resume continues', async () => {
  const out = join(await mkdtemp(join(tmpdir(), 'ganforge-cli-')), 'run');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', GANFORGE, 'train', '--iterations', '100000', '--batch-size', '8', '--sample-interval', '50', '--out', out],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (/^50 \[D loss/m.test(stdout)) resolve();
    });
  });
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0);
  assert.match(stdout, /backend: (wasm|tensorflow|tensorflow-gpu|cpu)/);
  assert.match(stdout, /SIGTERM: finishing the iteration and saving a checkpoint/);
  const stoppedAt = Number(/stopped at iteration (\d+); checkpoint saved, continue with --resume/.exec(stdout)?.[1]);
  assert.ok(stoppedAt >= 50);
  const ck = await loadCheckpoint(join(out, 'checkpoint.bin'));
  assert.equal(ck.iteration, stoppedAt);
  const resumed = node(['--resume', out, '--iterations', String(stoppedAt + 3), '--progress', 'plain']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, new RegExp(`resumed ${out} at iteration ${stoppedAt}`));
  assert.match(resumed.stdout, new RegExp(`^${stoppedAt + 3} \\[D loss`, 'm'));
  const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  assert.equal(config.iterationsDone, stoppedAt + 3);
});
