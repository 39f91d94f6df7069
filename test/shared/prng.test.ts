import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Prng, sampleLatents } from '../../shared/prng.ts';

test('the same seed gives the same sequence; different seeds differ', () => {
  const a = new Prng(7);
  const b = new Prng(7);
  const xs = Array.from({ length: 100 }, () => a.nextUint32());
  assert.deepEqual(
    xs,
    Array.from({ length: 100 }, () => b.nextUint32()),
  );
  const c = new Prng(8);
  assert.notDeepEqual(
    xs,
    Array.from({ length: 100 }, () => c.nextUint32()),
  );
});

test('sfc32 sequence is pinned (server and browser depend on it)', () => {
  const p = new Prng(0);
  assert.deepEqual([p.nextUint32(), p.nextUint32(), p.nextUint32()], [1699431568, 3485434084, 3266533278]);
});

test('state round trip continues the exact sequence, including the spare normal', () => {
  const p = new Prng(123);
  p.nextNormal();
  const q = Prng.fromState(JSON.parse(JSON.stringify(p.state())));
  assert.deepEqual(Array.from(q.normals(11)), Array.from(p.normals(11)));
});

test('normals have mean ~0 and variance ~1; nextInt stays in range', () => {
  const xs = new Prng(1).normals(200000);
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 0.01, `variance ${variance}`);
  const p = new Prng(2);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 10000; i++) counts[p.nextInt(10)]++;
  assert.ok(
    counts.every((c) => c > 900 && c < 1100),
    String(counts),
  );
});

test('sampleLatents is a fresh Prng per seed', () => {
  assert.deepEqual(sampleLatents(5, 3, 4), new Prng(5).normals(12));
  assert.equal(sampleLatents(5, 3, 4).length, 12);
});

test('bad seeds are rejected with the expected range', () => {
  assert.throws(() => new Prng(-1), /Expected integer between 0 and 4294967295 for seed but received -1/);
  assert.throws(() => new Prng(1.5), /received 1.5/);
  assert.throws(() => new Prng(2 ** 32), /received 4294967296/);
});
