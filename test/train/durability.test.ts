import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { access, mkdir, mkdtemp, open, readdir, readFile, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { loadMnist, type Dataset } from '../../lib/data.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../train/config.ts';
import { train } from '../../train/gan/loop.ts';
import { loadCheckpoint, saveCheckpoint } from '../../train/run-dir/checkpoint.ts';
import { readMetrics, RUN_FILES } from '../../train/run-dir/run-files.ts';

// What survives what: crashes at any point, a failed write, a corrupted byte, a torn metrics line, a
// reused run folder.

const root = join(import.meta.dirname, '..', '..');
let mnist: Dataset;
before(async () => {
  await tf.setBackend('cpu');
  mnist = loadMnist();
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

async function trainSmall(dir: string, overrides: Partial<TrainConfig> = {}, resume = false): Promise<void> {
  const config: TrainConfig = { ...DEFAULT_CONFIG, iterations: 10, batchSize: 8, sampleInterval: 5, checkpointInterval: 5, seed: 9, out: dir, ...overrides };
  await train({ config, runDir: dir, dataset: mnist, backend: 'cpu', log: () => {}, resume });
}

test('a corrupted checkpoint byte is found on load, naming the file and the section; format 1 files still load', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-ck-'));
  const path = join(dir, 'checkpoint.bin');
  const groups = { generator: [tf.tensor([1, 2, 3]), tf.tensor([[4, 5]])], discriminator: [tf.tensor([6, 7])] };
  await saveCheckpoint(path, { iteration: 3, rng: { a: 1, b: 2, c: 3, d: 4, spare: null }, extra: {} }, groups);
  const good = await readFile(path);
  const ok = await loadCheckpoint(path);
  assert.deepEqual(Array.from(ok.groups.discriminator![0]!.dataSync()), [6, 7]);
  tf.dispose(Object.values(ok.groups).flat());
  // The last 8 bytes are the discriminator's two floats; flip one bit of them.
  const flipped = Buffer.from(good);
  flipped[flipped.length - 3]! ^= 0x10;
  await writeFile(path, flipped);
  await assert.rejects(loadCheckpoint(path), new RegExp(`${path}: section 'discriminator' is corrupt \\(CRC-32 \\d+, recorded \\d+\\)`));
  const header = Buffer.from(good);
  header[20]! ^= 0x01;
  await writeFile(path, header);
  await assert.rejects(loadCheckpoint(path), /section 'header' is corrupt/);
  await writeFile(path, good.subarray(0, good.length - 1));
  await assert.rejects(loadCheckpoint(path), /checkpoint has \d+ tensor bytes, header describes \d+/);
  // Format 1: magic, header length, header, tensors; no checksums.
  const json = Buffer.from(
    JSON.stringify({ version: 1, iteration: 2, rng: { a: 1, b: 2, c: 3, d: 4, spare: null }, extra: {}, groups: { g: [{ shape: [2] }] } }),
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  await writeFile(path, Buffer.concat([Buffer.from('GFCK'), len, json, Buffer.from(new Float32Array([0.5, -1]).buffer)]));
  const v1 = await loadCheckpoint(path);
  assert.deepEqual([v1.iteration, Array.from(v1.groups.g![0]!.dataSync())], [2, [0.5, -1]]);
  tf.dispose([...Object.values(groups).flat(), ...Object.values(v1.groups).flat()]);
});

test('a write that fails half-way through a checkpoint leaves the previous one loadable and the run resumable', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-enospc-'));
  await trainSmall(dir);
  const before = await readFile(join(dir, RUN_FILES.checkpoint));
  // Simulate a full disk: the next file write puts half its bytes down, then fails.
  const probe = await open(join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as FileHandle;
  await probe.close();
  const writeFileOriginal = proto.writeFile;
  proto.writeFile = async function (this: FileHandle, data: string | Uint8Array): Promise<void> {
    proto.writeFile = writeFileOriginal;
    await writeFileOriginal.call(this, typeof data === 'string' ? data.slice(0, data.length / 2) : data.subarray(0, data.length / 2));
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };
  const t = tf.zeros([1000]);
  await assert.rejects(
    saveCheckpoint(join(dir, RUN_FILES.checkpoint), { iteration: 99, rng: { a: 1, b: 1, c: 1, d: 1, spare: null }, extra: {} }, { g: [t] }),
    /ENOSPC/,
  );
  t.dispose();
  assert.equal(proto.writeFile, writeFileOriginal);
  assert.deepEqual(await readFile(join(dir, RUN_FILES.checkpoint)), before, 'the previous checkpoint is untouched');
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
    [],
    'the half-written staging file is removed',
  );
  const ck = await loadCheckpoint(join(dir, RUN_FILES.checkpoint));
  assert.equal(ck.iteration, 10);
  tf.dispose(Object.values(ck.groups).flat());
  await trainSmall(dir, { iterations: 15 }, true);
  assert.deepEqual(
    (await readMetrics(dir)).map((m) => m.iteration),
    [5, 10, 15],
  );
});

test('a torn last metrics line is dropped on resume with a warning naming the file; other bad lines are errors naming file and line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-torn-'));
  await trainSmall(dir);
  const file = join(dir, RUN_FILES.metrics);
  const whole = await readFile(file, 'utf8');
  await writeFile(file, `${whole}{"iteration":11,"dLo`);
  const warnings: string[] = [];
  assert.deepEqual(
    (await readMetrics(dir, (w) => warnings.push(w))).map((m) => m.iteration),
    [5, 10],
  );
  assert.match(warnings[0] ?? '', new RegExp(`${file}:3: dropped a torn last line`));
  const lines: string[] = [];
  const config: TrainConfig = { ...DEFAULT_CONFIG, iterations: 15, batchSize: 8, sampleInterval: 5, checkpointInterval: 5, seed: 9, out: dir };
  await train({ config, runDir: dir, dataset: mnist, backend: 'cpu', log: (l) => lines.push(l), resume: true });
  assert.ok(lines.some((l) => l.includes('dropped a torn last line')));
  assert.deepEqual(
    (await readMetrics(dir)).map((m) => m.iteration),
    [5, 10, 15],
  );
  await writeFile(file, `${whole}not json\n${whole}`);
  await assert.rejects(readMetrics(dir), new RegExp(`${file}:3: invalid metrics line`));
});

const trainCli = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bin', 'train.ts'), '--backend', 'cpu', '--progress', 'plain', ...args], { encoding: 'utf8' });

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
    spawn(process.execPath, ['--import', 'tsx', '--import', join(root, 'test', 'helpers', 'slow-sync.ts'), join(root, 'bin', 'train.ts'), ...common, ...args], {
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
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (/^\d+ \[D loss/m.test(stdout) || c.exitCode !== null) {
          clearInterval(poll);
          resolve();
        }
      }, 5);
    });
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
