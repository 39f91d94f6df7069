import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import { layoutGrid } from '../../shared/grid.ts';
import { sampleLatents } from '../../shared/prng.ts';
import { createApp } from '../../serve/app.ts';
import { chooseDefault } from '../../shared/manifest.ts';
import { parseServeArgs } from '../../serve/config.ts';
import { ProviderSelector, type SessionFactory } from '../../serve/providers.ts';
import { loadModels, type LoadedModel } from '../../serve/registry.ts';

const root = join(import.meta.dirname, '..', '..');
const modelsDir = join(root, 'models');
let models: Map<string, LoadedModel>;
let app: ReturnType<typeof createApp>['app'];
let scheduler: ReturnType<typeof createApp>['scheduler'];

before(async () => {
  ({ models } = await loadModels(modelsDir, new ProviderSelector('cpu', undefined, () => {})));
  ({ app, scheduler } = createApp({ models, defaultModel: 'dense', provider: 'cpu', randomSeed: () => 123456 }));
});
after(async () => {
  for (const m of models.values()) await m.session.release();
});

/** Decodes with pngjs (a decoder independent of sharp), checking it is an 8-bit greyscale PNG. */
async function decode(body: ArrayBuffer): Promise<{ width: number; height: number; data: Uint8Array }> {
  const png = PNG.sync.read(Buffer.from(body));
  assert.equal(png.colorType, 0, 'greyscale PNG');
  assert.equal(png.depth, 8);
  const grey = new Uint8Array(png.width * png.height);
  for (let i = 0; i < grey.length; i++) grey[i] = png.data[4 * i]!;
  return { width: png.width, height: png.height, data: grey };
}

test('GET /sample returns a PNG grid whose pixels are the ONNX output mapped to 0-255', async () => {
  const res = await app.request('/sample?n=16&seed=5');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/png');
  assert.equal(res.headers.get('x-seed'), '5');
  assert.equal(res.headers.get('x-model'), 'dense');
  assert.equal(res.headers.get('cache-control'), 'public, no-cache', 'not pinned to a model file: revalidated');
  const png = await decode(await res.arrayBuffer());
  assert.deepEqual([png.width, png.height], [4 * 28 + 5 * 2, 4 * 28 + 5 * 2]);
  const m = models.get('dense')!;
  const out = await m.session.run({ latent: new ort.Tensor('float32', sampleLatents(5, 16, 100), [16, 100]) });
  const expected = layoutGrid(out.image!.data as Float32Array, 16, 28, 28, { cols: 4 });
  assert.deepEqual(png.data, expected.data);
});

test('grid options: cols, scale and padding shape the image', async () => {
  const png = await decode(await (await app.request('/sample?n=5&seed=1&cols=5&scale=3&padding=0')).arrayBuffer());
  assert.deepEqual([png.width, png.height], [5 * 84, 84]);
  const wide = await decode(await (await app.request('/sample?n=3&seed=1&cols=10&padding=1')).arrayBuffer());
  assert.deepEqual([wide.width, wide.height], [3 * 28 + 4, 28 + 2]);
  const tall = await decode(await (await app.request('/sample?n=256&seed=2')).arrayBuffer());
  assert.deepEqual([tall.width, tall.height], [16 * 28 + 17 * 2, 16 * 28 + 17 * 2]);
});

test('the same seed, model and options give byte-identical PNGs, ETags and 304s', async () => {
  const a = await app.request('/sample?n=9&seed=77&scale=2');
  const b = await app.request('/sample?n=9&seed=77&scale=2');
  assert.deepEqual(new Uint8Array(await a.arrayBuffer()), new Uint8Array(await b.arrayBuffer()));
  const etag = a.headers.get('etag')!;
  assert.match(etag, /^"[\w-]{27}"$/);
  assert.equal(b.headers.get('etag'), etag);
  assert.notEqual((await app.request('/sample?n=9&seed=78&scale=2')).headers.get('etag'), etag);
  const cached = await app.request('/sample?n=9&seed=77&scale=2', { headers: { 'If-None-Match': etag } });
  assert.equal(cached.status, 304);
  assert.equal((await cached.arrayBuffer()).byteLength, 0);
});

test('without a seed the response names the seed it used, is not cached, and can be reproduced', async () => {
  const res = await app.request('/sample?n=4');
  assert.equal(res.headers.get('x-seed'), '123456');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('etag'), null);
  const again = await app.request('/sample?n=4&seed=123456');
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array(await again.arrayBuffer()));
});

test('bad input gets 400 (404 for an unknown model) with a JSON body naming parameter, expectation and value', async () => {
  const cases: [string, number, string, string, string][] = [
    ['n=0', 400, 'n', 'integer between 1 and 256', '0'],
    ['n=abc', 400, 'n', 'integer between 1 and 256', 'abc'],
    ['n=100000', 400, 'n', 'integer between 1 and 256', '100000'],
    ['n=1.5', 400, 'n', 'integer between 1 and 256', '1.5'],
    ['n=', 400, 'n', 'integer between 1 and 256', ''],
    ['seed=-1', 400, 'seed', 'integer between 0 and 4294967295', '-1'],
    ['seed=4294967296', 400, 'seed', 'integer between 0 and 4294967295', '4294967296'],
    ['seed=1e3', 400, 'seed', 'integer between 0 and 4294967295', '1e3'],
    ['scale=99', 400, 'scale', 'integer between 1 and 8', '99'],
    ['cols=0', 400, 'cols', 'integer between 1 and 256', '0'],
    ['padding=-2', 400, 'padding', 'integer between 0 and 32', '-2'],
    ['model=../../etc/passwd', 400, 'model', "model name (lowercase letters, digits, '-' and '_'), optionally @<sha256 prefix>", '../../etc/passwd'],
    ['model=nope', 404, 'model', 'one of dense' + (models.has('dcgan') ? ', dcgan' : ''), 'nope'],
    ['colour=red', 400, 'colour', 'one of digit, n, seed, cols, scale, padding, model', 'colour'],
  ];
  for (const [query, status, parameter, expected, received] of cases) {
    const res = await app.request(`/sample?${query}`);
    assert.equal(res.status, status, query);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as Record<string, string>;
    assert.equal(body.parameter, parameter, query);
    assert.equal(body.received, received, query);
    if (status === 400 && parameter !== 'colour') assert.equal(body.expected, expected, query);
    assert.ok(body.error!.includes(parameter), query);
  }
  const unknown = await app.request('/nope');
  assert.equal(unknown.status, 404);
  assert.deepEqual(await unknown.json(), { error: 'No route for GET /nope' });
});

test('/models, /healthz and /metrics', async () => {
  const list = (await (await app.request('/models')).json()) as { default: string; models: { name: string; sha256: string }[] };
  assert.equal(list.default, 'dense');
  assert.ok(list.models.some((m) => m.name === 'dense' && /^[0-9a-f]{64}$/.test(m.sha256)));
  const health = (await (await app.request('/healthz')).json()) as Record<string, unknown>;
  assert.deepEqual([health.status, health.provider], ['ok', 'cpu']);
  await app.request('/sample?n=2&seed=1');
  const metrics = await (await app.request('/metrics')).text();
  assert.match(metrics, /ganforge_http_requests_total\{.*route="\/sample".*\} \d+/);
  assert.match(metrics, /ganforge_http_request_duration_seconds_bucket\{/);
  assert.match(metrics, /ganforge_generator_images\{model="dense"\} \d+/);
});

test('repeated seeded requests are served from the PNG cache without running the model', async () => {
  const b = scheduler.statsOf('dense');
  const first = new Uint8Array(await (await app.request('/sample?n=8&seed=31337&scale=2')).arrayBuffer());
  const images = b.images;
  const again = new Uint8Array(await (await app.request('/sample?n=8&seed=31337&scale=2')).arrayBuffer());
  assert.equal(b.images, images, 'no new images generated');
  assert.deepEqual(again, first);
  assert.match(await (await app.request('/metrics')).text(), /ganforge_png_cache\{kind="hits"\} [1-9]/);
});

test('the byte-bounded LRU evicts the least recently used entries', async () => {
  const { ByteLru } = await import('../../serve/lru.ts');
  const lru = new ByteLru<Uint8Array>(10);
  lru.set('a', new Uint8Array(4));
  lru.set('b', new Uint8Array(4));
  lru.get('a');
  lru.set('c', new Uint8Array(4));
  assert.equal(lru.get('b'), undefined, 'b was least recent');
  assert.ok(lru.get('a') && lru.get('c'));
  assert.equal(lru.size, 8);
  lru.set('huge', new Uint8Array(11));
  assert.equal(lru.get('huge'), undefined);
});

test('concurrent requests are batched into fewer onnxruntime runs, and every response is right', async () => {
  const b = scheduler.statsOf('dense');
  const before = b.batches;
  const responses = await Promise.all(Array.from({ length: 24 }, (_, i) => app.request(`/sample?n=3&seed=${i}`)));
  const runs = b.batches - before;
  assert.ok(runs < 24 && runs >= 1, `${runs} runs for 24 requests`);
  const alone = await app.request('/sample?n=3&seed=7');
  assert.deepEqual(new Uint8Array(await responses[7]!.arrayBuffer()), new Uint8Array(await alone.arrayBuffer()));
});

test('no failures and stable memory over a few thousand requests', async () => {
  const burst = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i += 50) {
      const statuses = await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          Promise.resolve(app.request(`/sample?n=4&seed=${i + j}`)).then(async (r) => {
            await r.arrayBuffer();
            return r.status;
          }),
        ),
      );
      assert.ok(statuses.every((s) => s === 200));
    }
  };
  await burst(500);
  global.gc?.();
  const start = process.memoryUsage().rss;
  await burst(2500);
  global.gc?.();
  const grown = (process.memoryUsage().rss - start) / 2 ** 20;
  assert.ok(grown < 64, `rss grew ${grown.toFixed(1)} MiB over 2,500 requests`);
});

test('CUDA fallback: auto logs why CUDA failed and uses the CPU; explicit cuda explains how to install it', async () => {
  const calls: string[] = [];
  const factory: SessionFactory = async (_model, options) => {
    const ep = String(options.executionProviders?.[0]);
    calls.push(ep);
    if (ep === 'cuda') throw new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library\nmore');
    return { release: async () => {} } as unknown as ort.InferenceSession;
  };
  const lines: string[] = [];
  const auto = new ProviderSelector('auto', factory, (l) => lines.push(l));
  await auto.create(new Uint8Array());
  await auto.create(new Uint8Array());
  assert.deepEqual(calls, ['cuda', 'cpu', 'cpu'], 'CUDA probed once');
  assert.equal(auto.provider, 'cpu');
  assert.deepEqual(lines, ['execution provider: cpu (CUDA unavailable: OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library)']);
  await assert.rejects(
    new ProviderSelector('cuda', factory, () => {}).create(new Uint8Array()),
    /--device cuda: onnxruntime-node could not start its CUDA provider .*--onnxruntime-node-install=cuda12/,
  );
  const real = new ProviderSelector('auto', undefined, () => {});
  const session = await real.create(await readFile(join(modelsDir, 'dense.onnx')));
  assert.equal(real.provider, 'cpu');
  assert.match(real.fallbackReason ?? '', /cuda|CUDA|shared library/i);
  await session.release();
});

test('broken model files are reported by name; the good ones still load', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ganforge-models-'));
  const manifest = JSON.parse(await readFile(join(modelsDir, 'dense.json'), 'utf8'));
  await copyFile(join(modelsDir, 'dense.onnx'), join(dir, 'dense.onnx'));
  await writeFile(join(dir, 'dense.json'), JSON.stringify(manifest));
  const { createHash } = await import('node:crypto');
  const junk = Buffer.from('not an onnx model');
  await writeFile(join(dir, 'corrupt.onnx'), junk);
  await writeFile(join(dir, 'corrupt.json'), JSON.stringify({ ...manifest, name: 'corrupt', sha256: createHash('sha256').update(junk).digest('hex') }));
  await copyFile(join(modelsDir, 'dense.onnx'), join(dir, 'tampered.onnx'));
  await writeFile(join(dir, 'tampered.json'), JSON.stringify({ ...manifest, name: 'tampered', sha256: '0'.repeat(64) }));
  await writeFile(join(dir, 'missing.json'), JSON.stringify({ ...manifest, name: 'missing' }));
  await copyFile(join(modelsDir, 'dense.onnx'), join(dir, 'wrongshape.onnx'));
  await writeFile(
    join(dir, 'wrongshape.json'),
    JSON.stringify({ ...manifest, name: 'wrongshape', inputs: [{ name: 'latent', shape: ['batch', 64], dtype: 'float32' }] }),
  );
  await writeFile(join(dir, 'badjson.json'), '{');
  await writeFile(join(dir, 'dense.eval.json'), '{"fid": 1}');
  const { models: loaded, problems } = await loadModels(dir, new ProviderSelector('cpu', undefined, () => {}));
  assert.deepEqual([...loaded.keys()], ['dense']);
  const reasons = Object.fromEntries(problems.map((p) => [p.name, p.reason]));
  assert.match(reasons.corrupt!, /onnxruntime cannot load corrupt\.onnx/);
  assert.match(reasons.tampered!, /tampered\.onnx has sha256 [0-9a-f]{12}\.\.\., the manifest says 000000000000\.\.\./);
  assert.match(reasons.missing!, /missing\.onnx cannot be read \(ENOENT\)/);
  assert.match(reasons.wrongshape!, /the manifest's inputs \(latent\[batch,64\]\) disagree with the ONNX graph's \(latent\[batch,100\]\)/);
  assert.match(reasons.badjson!, /badjson\.json is not valid JSON/);
  assert.equal(reasons['dense.eval'], undefined, 'evaluation results are not models');
  for (const m of loaded.values()) await m.session.release();
});

test('server flags and environment: flags win, bad values are named', () => {
  const c = parseServeArgs(['--port', '9000'], { PORT: '7000', HOST: '0.0.0.0', GANFORGE_DEVICE: 'cpu', GANFORGE_MODELS: 'dense,dcgan' });
  assert.deepEqual([c.port, c.host, c.device, c.models], [9000, '0.0.0.0', 'cpu', ['dense', 'dcgan']]);
  assert.throws(() => parseServeArgs([], { PORT: 'http' }), /Expected integer between 0 and 65535 for PORT but received 'http'/);
  assert.throws(() => parseServeArgs(['--device', 'tpu']), /Expected one of auto, cuda, cpu for --device but received 'tpu'/);
  assert.throws(() => parseServeArgs(['--models', '../x']), /Expected model names .* for --models but received '\.\.\/x'/);
  assert.throws(() => parseServeArgs(['--bogus']), /Unknown option '--bogus'/);
  assert.equal(chooseDefault(['dense', 'dcgan'], null), 'dcgan');
  assert.equal(chooseDefault(['dense'], null), 'dense');
  assert.throws(() => chooseDefault(['dense'], 'dcgan'), /The default model 'dcgan' is not loaded \(loaded: dense\)/);
});
