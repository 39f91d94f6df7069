import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PNG } from 'pngjs';
import sharp from 'sharp';
import { latentWalk, slerp } from '../../shared/latent.ts';
import { sampleLatents } from '../../shared/prng.ts';
import { createApp } from '../../serve/app.ts';
import { ProviderSelector } from '../../serve/providers.ts';
import { loadModels, type LoadedModel } from '../../serve/registry.ts';

let models: Map<string, LoadedModel>;
let app: ReturnType<typeof createApp>['app'];
before(async () => {
  ({ models } = await loadModels(join(import.meta.dirname, '..', '..', 'models'), new ProviderSelector('cpu', undefined, () => {}), ['dense']));
  ({ app } = createApp({ models, defaultModel: 'dense', provider: 'cpu' }));
});
after(async () => {
  for (const m of models.values()) await m.session.release();
});

const norm = (v: Float32Array): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

test('slerp: exact endpoints, norms between theirs, symmetric midpoint, linear fallback', () => {
  const a = sampleLatents(1, 1, 100);
  const b = sampleLatents(2, 1, 100);
  assert.deepEqual(slerp(a, b, 0), a);
  const end = slerp(a, b, 1);
  end.forEach((v, i) => {
    assert.ok(Math.abs(v - b[i]!) < 1e-5);
  });
  const mid = slerp(a, b, 0.5);
  assert.ok(norm(mid) > 0.95 * Math.min(norm(a), norm(b)), 'no shrinking towards the origin');
  const linear = a.map((v, i) => (v + b[i]!) / 2);
  assert.ok(norm(mid) > norm(linear));
  const same = slerp(a, a, 0.3);
  same.forEach((v, i) => {
    assert.ok(Math.abs(v - a[i]!) < 1e-6);
  });
  const walk = latentWalk(1, 2, 5, 100);
  assert.deepEqual(walk.subarray(0, 100), a);
  assert.throws(() => latentWalk(1, 2, 1, 100), /Expected integer >= 2 for steps but received 1/);
});

test('GET /interpolate: a PNG strip whose ends are the seeds own digits', async () => {
  const res = await app.request('/interpolate?from=3&to=4&steps=6');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
  const strip = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
  assert.deepEqual([strip.width, strip.height], [6 * 28 + 7 * 2, 28 + 4]);
  const first = PNG.sync.read(Buffer.from(await (await app.request('/sample?n=1&seed=3')).arrayBuffer()));
  for (let y = 0; y < 28 + 4; y++) for (let x = 0; x < 28 + 4; x++) assert.equal(strip.data[4 * (y * strip.width + x)], first.data[4 * (y * first.width + x)]);
  const again = await app.request('/interpolate?from=3&to=4&steps=6');
  assert.deepEqual(new Uint8Array(await again.arrayBuffer()), new Uint8Array(await (await app.request('/interpolate?from=3&to=4&steps=6')).arrayBuffer()));
  assert.match(again.headers.get('etag') ?? '', /^"[\w-]{27}"$/);
  assert.equal((await app.request('/interpolate?from=3&to=4&steps=6', { headers: { 'If-None-Match': again.headers.get('etag')! } })).status, 304);
});

test('GET /interpolate?format=gif|webp: animations with one frame per step', async () => {
  for (const format of ['gif', 'webp'] as const) {
    const res = await app.request(`/interpolate?from=5&to=6&steps=7&format=${format}&scale=2&delay=50`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), `image/${format}`);
    const meta = await sharp(Buffer.from(await res.arrayBuffer()), { animated: true }).metadata();
    assert.equal(meta.format, format);
    assert.equal(meta.pages, 7);
    assert.deepEqual([meta.width, meta.pageHeight], [56, 56]);
    assert.deepEqual(meta.delay, new Array(7).fill(50));
  }
});

test('GET /interpolate: bad input is a 400 naming the parameter', async () => {
  const cases: [string, string, string][] = [
    ['to=2', 'from', 'it is missing'],
    ['from=1', 'to', 'it is missing'],
    ['from=1&to=2&steps=1', 'steps', "received '1'"],
    ['from=1&to=2&steps=65', 'steps', "received '65'"],
    ['from=1&to=2&format=bmp', 'format', "received 'bmp'"],
    ['from=-1&to=2', 'from', "received '-1'"],
    ['from=1&to=2&delay=5', 'delay', "received '5'"],
    ['from=1&to=2&speed=3', 'speed', 'Unknown query parameter'],
  ];
  for (const [query, parameter, text] of cases) {
    const res = await app.request(`/interpolate?${query}`);
    assert.equal(res.status, 400, query);
    const body = (await res.json()) as { parameter: string; error: string };
    assert.equal(body.parameter, parameter, query);
    assert.ok(body.error.includes(text), `${query}: ${body.error}`);
  }
  assert.equal((await app.request('/interpolate?from=1&to=2&model=gone')).status, 404);
});
