import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, readFile, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { loadMnist, type Dataset } from '../../lib/data.ts';
import { DEFAULT_CONFIG, type TrainConfig } from '../../train/config.ts';
import { train } from '../../train/gan/loop.ts';
import { loadCheckpoint, saveCheckpoint } from '../../train/run-dir/checkpoint.ts';
import { readMetrics, RUN_FILES } from '../../train/run-dir/run-files.ts';

// What survives what: a failed write, a corrupted byte, a torn metrics line (in this process; the CLI's
// crashes and a reused run folder are in durability.slow.test.ts).

let mnist: Dataset;
before(async () => {
  await tf.setBackend('cpu');
  mnist = loadMnist();
});

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
