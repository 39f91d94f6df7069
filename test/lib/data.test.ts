import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { loadDataset, loadMnist, parseIdx } from '../../lib/data.ts';
import { idxFile } from '../helpers/idx.ts';

test('embedded mnist: 10,000 labelled 28x28 digits scaled to [-1, 1] like the seed', () => {
  const d = loadMnist();
  assert.equal(d.count, 10000);
  assert.equal(d.images.length, 10000 * 784);
  assert.deepEqual([d.height, d.width], [28, 28]);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of d.images) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  assert.deepEqual([lo, hi], [-1, 1]);
  // Every value is k / 127.5 - 1 for an integer grey level k.
  for (let i = 0; i < 5000; i++) {
    const k = (d.images[i * 97]! + 1) * 127.5;
    assert.ok(Math.abs(k - Math.round(k)) < 1e-4);
  }
  const counts = new Array(10).fill(0);
  for (const l of d.labels!) counts[l]++;
  assert.deepEqual(counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
});

async function tempFiles(files: Record<string, Uint8Array>): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-idx-'));
  const out: Record<string, string> = {};
  for (const [name, data] of Object.entries(files)) {
    out[name] = join(dir, name);
    await writeFile(out[name]!, data);
  }
  return out;
}

test('IDX images and labels, plain and gzipped, of any size', async () => {
  const pixels = Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 17) % 256);
  const p = await tempFiles({
    images: idxFile([3, 4, 5], pixels),
    'labels.gz': gzipSync(idxFile([3], [0, 9, 4])),
  });
  const d = await loadDataset(`idx:${p.images},${p['labels.gz']}`);
  assert.deepEqual([d.count, d.height, d.width], [3, 4, 5]);
  assert.deepEqual(Array.from(d.labels!), [0, 9, 4]);
  assert.equal(d.images[1], Math.fround(17 / 127.5 - 1));
  const unlabelled = await loadDataset(`idx:${p.images}`);
  assert.equal(unlabelled.labels, null);
});

test('broken IDX files get errors naming the file and the problem', async () => {
  const good = idxFile([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
  const cases: [string, Uint8Array, RegExp][] = [
    ['truncated', good.subarray(0, good.length - 1), /truncated: header says 2x2x2 = 8 data bytes, file has 7/],
    ['trailing', Buffer.concat([good, Buffer.from([0])]), /has trailing bytes/],
    ['magic', Buffer.from([1, 2, 8, 3, 0, 0, 0, 0]), /bad magic number 0x01020803/],
    ['dtype', Buffer.from([0, 0, 0x0d, 1, 0, 0, 0, 0]), /data type 0x0d is not supported \(expected 0x08/],
    ['short', Buffer.from([0, 0]), /too short for an IDX header/],
    ['header', Buffer.from([0, 0, 8, 3, 0, 0, 0, 2]), /truncated header/],
    ['gzip', Buffer.from([0x1f, 0x8b, 1, 2, 3]), /corrupt gzip data/],
  ];
  for (const [name, bytes, pattern] of cases) {
    assert.throws(
      () => parseIdx(bytes, name),
      (err: Error) => err.message.startsWith(`${name}: `) && pattern.test(err.message),
      name,
    );
  }
});

test('mismatched labels, bad label values, wrong ranks and missing files are named', async () => {
  const p = await tempFiles({
    images: idxFile([2, 2, 2], new Array(8).fill(0)),
    three: idxFile([3], [1, 2, 3]),
    big: idxFile([2], [1, 10]),
    flat: idxFile([8], new Array(8).fill(0)),
  });
  await assert.rejects(loadDataset(`idx:${p.images},${p.three}`), new RegExp(`${p.three}: has 3 labels but ${p.images} has 2 images`));
  await assert.rejects(loadDataset(`idx:${p.images},${p.big}`), /label 10 at index 1 is out of range 0-9/);
  await assert.rejects(loadDataset(`idx:${p.flat}`), /expected a rank-3 image file \[count, height, width\] but it has rank 1/);
  await assert.rejects(loadDataset('idx:/nonexistent/file'), /\/nonexistent\/file: cannot read \(ENOENT\)/);
  await assert.rejects(loadDataset('idx:'), /Expected idx:<images>\[,<labels>\] for --data but received 'idx:'/);
  await assert.rejects(loadDataset('cifar'), /Expected 'mnist' or 'idx:<images>\[,<labels>\]' for --data but received 'cifar'/);
});

test('an IDX gzip bomb is refused quickly with little memory: by its declared size, or by inflating past it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-bomb-'));
  // 64 KB on disk, declaring 10 images of 28x28 but inflating to 64 MiB.
  const header = idxFile([10, 28, 28], []);
  const bomb = gzipSync(Buffer.concat([header, Buffer.alloc(64 * 2 ** 20)]), { level: 9 });
  assert.ok(bomb.length < 100_000);
  await writeFile(join(dir, 'bomb.gz'), bomb);
  // A few bytes declaring 10^8 images: 78 GB.
  const huge = idxFile([100_000_000, 28, 28], []);
  await writeFile(join(dir, 'huge.gz'), gzipSync(huge));
  const rss = process.memoryUsage().rss;
  const t0 = performance.now();
  await assert.rejects(loadDataset(`idx:${join(dir, 'bomb.gz')}`), /bomb\.gz: has trailing bytes: inflates to more than the header's 7840 data bytes/);
  await assert.rejects(
    loadDataset(`idx:${join(dir, 'huge.gz')}`),
    /huge\.gz: header declares 100000000x28x28 = 78400000000 data bytes, more than the 536870912 an IDX file may hold here/,
  );
  const ms = performance.now() - t0;
  const grown = (process.memoryUsage().rss - rss) / 2 ** 20;
  assert.ok(ms < 1000, `refused in ${ms.toFixed(0)} ms`);
  assert.ok(grown < 32, `memory grew by ${grown.toFixed(1)} MiB`);
  // The ceiling is a parameter; the same file under a smaller one is refused by its declared size.
  assert.throws(
    () => parseIdx(idxFile([10, 28, 28], new Array(7840).fill(0)), 'small.idx', 1000),
    /small\.idx: header declares 10x28x28 = 7840 data bytes, more than the 1000/,
  );
});
