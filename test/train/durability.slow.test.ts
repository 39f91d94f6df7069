import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { loadCheckpoint } from '../../train/run-dir/checkpoint.ts';
import { readMetrics, RUN_FILES } from '../../train/run-dir/run-files.ts';
import { GANFORGE, ganforgeSync, ROOT } from '../helpers/ganforge.ts';
import { waitFor } from '../helpers/wait.ts';

// What survives what, through the CLI: SIGKILLs at any point (some in the middle of a checkpoint write),
// a reused run folder, the staging files of a dead writer.

before(async () => {
  await tf.setBackend('cpu');
});

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** Every file under `dir` (relative paths), recursively. */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(path)).map((f) => join(entry.name, f)));
    else out.push(entry.name);
  }
  return out.sort();
}

const trainCli = (args: string[]) => ganforgeSync(['train', '--backend', 'cpu', '--progress', 'plain', ...args]);

test('a run folder holding another run is refused unless --resume or --overwrite', async () => {
  const out = join(await mkdtemp(join(tmpdir(), 'ganforge-reuse-')), 'run');
  const args = ['--iterations', '2', '--batch-size', '4', '--sample-interval', '1', '--checkpoint-interval', '1', '--out', out];
  assert.equal(trainCli(args).status, 0);
  await mkdir(join(out, RUN_FILES.bestGenerator));
  await writeFile(join(out, RUN_FILES.bestGenerator, RUN_FILES.best), '{"iteration":1,"fid":1}');
  const refused = trainCli([...args, '--lr', '0.0005']);
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    new RegExp(`error: ${out} holds another run \\(config\\.json\\): continue it with --resume ${out}, or clear it first with --overwrite`),
  );
  assert.equal(JSON.parse(await readFile(join(out, RUN_FILES.config), 'utf8')).lr, 0.001, 'the old config is untouched');
  const resumed = trainCli(['--resume', out, '--iterations', '3', '--backend', 'cpu']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /resumed .* at iteration 2/);
  const overwritten = trainCli([...args, '--lr', '0.0005', '--overwrite']);
  assert.equal(overwritten.status, 0, overwritten.stderr);
  assert.equal(JSON.parse(await readFile(join(out, RUN_FILES.config), 'utf8')).lr, 0.0005);
  assert.equal(await exists(join(out, RUN_FILES.bestGenerator)), false, "the first run's best generator is gone with it");
  assert.deepEqual(
    (await readMetrics(out)).map((m) => m.iteration),
    [1, 2],
  );
});

/** A run's results without wall times: weights, optimizer state, RNG, metrics, grids, models. */
async function results(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const ck = await loadCheckpoint(join(dir, RUN_FILES.checkpoint));
  out.checkpoint = JSON.stringify([
    ck.iteration,
    ck.rng,
    Object.values(ck.groups).map((g) => g.map((t) => Buffer.from((t.dataSync() as Float32Array).buffer).toString('base64'))),
  ]);
  tf.dispose(Object.values(ck.groups).flat());
  out.metrics = JSON.stringify((await readMetrics(dir)).map((m) => ({ ...m, elapsedMs: 0 })));
  for (const f of await files(dir)) {
    if (f.startsWith(RUN_FILES.samples) || f.startsWith(RUN_FILES.generator) || f.startsWith(RUN_FILES.discriminator) || f === RUN_FILES.curves) {
      out[f] = (await readFile(join(dir, f))).toString('base64');
    }
  }
  return out;
}

test('killed with SIGKILL at random points (some in the middle of a checkpoint write) and resumed each time, a run ends exactly as an uninterrupted one', async () => {
  const base = await mkdtemp(join(tmpdir(), 'ganforge-kill-'));
  const common = [
    '--iterations',
    '64',
    '--batch-size',
    '16',
    '--sample-interval',
    '4',
    '--checkpoint-interval',
    '4',
    '--seed',
    '11',
    '--backend',
    'wasm',
    '--progress',
    'plain',
  ];
  const child = (args: string[]) =>
    spawn(process.execPath, ['--import', 'tsx', '--import', join(ROOT, 'test', 'helpers', 'slow-sync.ts'), GANFORGE, 'train', ...common, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GANFORGE_TEST_SYNC_DELAY_MS: '150' },
    });
  const reference = join(base, 'reference');
  const ref = child(['--out', reference]);
  let refErr = '';
  ref.stderr.on('data', (d: Buffer) => {
    refErr += d.toString();
  });
  ref.stdout.resume();
  assert.equal(await new Promise((resolve) => ref.on('exit', resolve)), 0, refErr);

  const run = join(base, 'killed');
  let kills = 0;
  let midWrite = 0;
  let midCheckpoint = 0;
  const delays: number[] = [];
  for (let attempt = 0; attempt < 30 && (kills < 5 || midCheckpoint < 1); attempt++) {
    const started = await exists(join(run, RUN_FILES.config));
    const c = child(started ? ['--resume', run] : ['--out', run]);
    let stdout = '';
    c.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    c.stderr.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => c.on('exit', (code) => resolve(code)));
    // Kill once this process has trained (its first report), after a random delay.
    await waitFor(() => /^\d+ \[D loss/m.test(stdout) || c.exitCode !== null, { timeout: 120_000 });
    const delay = Math.floor(Math.random() * 300);
    delays.push(delay);
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (c.exitCode === null) {
      c.kill('SIGKILL');
      await exited;
      kills++;
      const staging = (await files(run).catch(() => [])).filter((f) => f.endsWith('.tmp'));
      if (staging.length > 0) midWrite++;
      if (staging.some((f) => f.startsWith(`.${RUN_FILES.checkpoint}.`))) midCheckpoint++;
    } else {
      assert.equal(await exited, 0, stdout);
      break;
    }
  }
  const last = child(['--resume', run]);
  let tail = '';
  last.stdout.on('data', (d: Buffer) => {
    tail += d.toString();
  });
  assert.equal(await new Promise((resolve) => last.on('exit', resolve)), 0, tail);
  console.log(`# ${kills} SIGKILLs (${midWrite} in the middle of a write, ${midCheckpoint} of a checkpoint) after ${delays.join(', ')} ms`);
  assert.ok(kills >= 5, `at least 5 kills (got ${kills})`);
  assert.ok(midCheckpoint >= 1, 'at least one kill landed in the middle of a checkpoint write');
  assert.deepEqual(
    (await files(run)).filter((f) => f.endsWith('.tmp')),
    [],
    'no staging file survives the resumes',
  );
  assert.deepEqual(await results(run), await results(reference));
});

test('staging files of a dead writer are removed; those of a live one are kept', async () => {
  const { removeStaleStaging, writeFileAtomic } = await import('../../lib/fs/atomic-write.ts');
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-staging-'));
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  await writeFile(join(dir, `.checkpoint.bin.${dead}.0123abcd.tmp`), 'half a checkpoint');
  await writeFile(join(dir, `.config.json.${process.ppid}.89abcdef.tmp`), 'a live writer (the test runner)');
  await writeFileAtomic(join(dir, 'kept.json'), '{}');
  assert.deepEqual(await removeStaleStaging(dir), [`.checkpoint.bin.${dead}.0123abcd.tmp`]);
  assert.deepEqual((await readdir(dir)).sort(), [`.config.json.${process.ppid}.89abcdef.tmp`, 'kept.json']);
});
