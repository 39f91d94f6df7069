import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import { layoutGrid } from '../../shared/grid.ts';
import { chooseConditionalDefault, type ModelManifest } from '../../shared/manifest.ts';
import { sampleLatents } from '../../shared/prng.ts';
import { createApp } from '../../serve/app.ts';
import { ProviderSelector } from '../../serve/providers.ts';
import { loadModels, type LoadedModel } from '../../serve/registry.ts';
import { exportRun } from '../../train/export/export-run.ts';
import { saveLayersModel } from 'tfjs-to-onnx';
import { initialiseFrom } from '../../train/gan/loop.ts';
import { buildCganGenerator } from '../../train/gan/models.ts';
import { maxAbsDiff } from '../helpers/ort.ts';

let dir: string;
let generator: tf.LayersModel;
let models: Map<string, LoadedModel>;
let app: ReturnType<typeof createApp>['app'];

before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'ganforge-cgan-'));
  generator = buildCganGenerator({ latentDim: 16, imageShape: [28, 28, 1], seed: 3, width: 0.125 });
  // Non-trivial weights everywhere (the embeddings start near zero).
  generator.setWeights(
    generator.weights.map((w, i) => {
      const t = tf.randomNormal(w.shape as number[], 0, 0.2, 'float32', i);
      return /variance/.test(w.name) ? tf.abs(t).add(0.1) : t;
    }),
  );
  const run = join(dir, 'run');
  await mkdir(run);
  await saveLayersModel(generator, join(run, 'generator'));
  await writeFile(join(run, 'config.json'), JSON.stringify({ model: 'cgan', iterationsDone: 1, backend: 'cpu', wallMs: 1, final: null }));
  await exportRun({ runDir: run, name: 'tiny-cgan', modelsDir: join(dir, 'models'), command: 'npm run export -- test' });
  await writeFile(join(dir, 'models', 'plain.json'), await readFile(join(import.meta.dirname, '..', '..', 'models', 'dense.json')));
  await writeFile(join(dir, 'models', 'plain.onnx'), await readFile(join(import.meta.dirname, '..', '..', 'models', 'dense.onnx')));
  const plain = JSON.parse(await readFile(join(dir, 'models', 'plain.json'), 'utf8'));
  await writeFile(join(dir, 'models', 'plain.json'), JSON.stringify({ ...plain, name: 'plain' }));
  ({ models } = await loadModels(join(dir, 'models'), new ProviderSelector('cpu', undefined, () => {})));
  ({ app } = createApp({ models, defaultModel: 'tiny-cgan', provider: 'cpu' }));
});
after(async () => {
  for (const m of models.values()) await m.session.release();
});

/** The conditional generator's output on ORT for a seed and labels. */
async function onnxImages(seed: number, labels: number[]): Promise<Float32Array> {
  const n = labels.length;
  const out = await models.get('tiny-cgan')!.session.run({
    latent: new ort.Tensor('float32', sampleLatents(seed, n, 16), [n, 16]),
    label: new ort.Tensor('int32', Int32Array.from(labels), [n, 1]),
  });
  return out.image!.data as Float32Array;
}

test('conditional export: two inputs (latent, label int32), and tfjs and onnxruntime-node agree', async () => {
  const manifest = JSON.parse(await readFile(join(dir, 'models', 'tiny-cgan.json'), 'utf8')) as ModelManifest;
  assert.deepEqual(manifest.inputs, [
    { name: 'latent', shape: ['batch', 16], dtype: 'float32' },
    { name: 'label', shape: ['batch', 1], dtype: 'int32' },
  ]);
  const labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 7, 7];
  const reference = tf.tidy(() =>
    (generator.predict([tf.tensor2d(sampleLatents(9, 12, 16), [12, 16]), tf.tensor2d(labels, [12, 1], 'int32')]) as tf.Tensor).dataSync(),
  );
  const diff = maxAbsDiff(await onnxImages(9, labels), reference);
  assert.ok(diff <= 1e-5, `|onnx - tfjs| = ${diff}`);
  // The label matters: the same latents with another digit give another image.
  assert.ok(maxAbsDiff(await onnxImages(9, new Array(12).fill(1)), reference) > 1e-3);
});

async function grey(res: Response): Promise<{ width: number; height: number; data: Uint8Array }> {
  const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
  return { width: png.width, height: png.height, data: Uint8Array.from({ length: png.width * png.height }, (_, i) => png.data[4 * i]!) };
}

test('GET /sample?digit=7 gives every cell the digit; digit=0-9 one row per digit', async () => {
  const seven = await grey(await app.request('/sample?n=6&seed=4&digit=7'));
  const expected = layoutGrid(await onnxImages(4, new Array(6).fill(7)), 6, 28, 28, { cols: 3 });
  assert.deepEqual(seven.data, expected.data);
  const rows = await grey(await app.request('/sample?n=3&seed=5&digit=0-9'));
  assert.deepEqual([rows.width, rows.height], [3 * 28 + 4 * 2, 10 * 28 + 11 * 2]);
  const labels = Array.from({ length: 30 }, (_, i) => Math.floor(i / 3));
  assert.deepEqual(rows.data, layoutGrid(await onnxImages(5, labels), 30, 28, 28, { cols: 3 }).data);
  // Without a digit, cells cycle through 0-9.
  const cycle = await grey(await app.request('/sample?n=4&seed=6'));
  assert.deepEqual(cycle.data, layoutGrid(await onnxImages(6, [0, 1, 2, 3]), 4, 28, 28, { cols: 2 }).data);
});

test('a digit without a model goes to a conditional model even when the default is unconditional', async () => {
  const { app: plainDefault } = createApp({ models, defaultModel: 'plain', provider: 'cpu' });
  const seven = await plainDefault.request('/sample?n=4&seed=3&digit=7');
  assert.equal(seven.status, 200);
  const named = await plainDefault.request('/sample?n=4&seed=3&digit=7&model=tiny-cgan');
  assert.deepEqual(Buffer.from(await seven.arrayBuffer()), Buffer.from(await named.arrayBuffer()));
  assert.equal((await plainDefault.request('/interpolate?from=1&to=2&steps=3&digit=7')).status, 200);
  const index = (await (await plainDefault.request('/models/index.json')).json()) as { default: string; defaultConditional: string | null };
  assert.deepEqual([index.default, index.defaultConditional], ['plain', 'tiny-cgan']);
  // Without a digit the default stays the default.
  assert.equal((await plainDefault.request('/sample?n=1&seed=3')).headers.get('content-type'), 'image/png');
  assert.equal(
    (await plainDefault.request('/sample?n=1&seed=3&model=plain')).headers.get('etag'),
    (await plainDefault.request('/sample?n=1&seed=3')).headers.get('etag'),
  );
});

test('the conditional default: the default model if conditional, else cgan-aux2, cgan-aux, cgan, acgan, then any', async () => {
  const m = (name: string, conditional: boolean) =>
    ({ name, inputs: conditional ? [{ name: 'latent' }, { name: 'label' }] : [{ name: 'latent' }] }) as unknown as ModelManifest;
  assert.equal(chooseConditionalDefault([m('dcgan', false), m('cgan-aux', true), m('cgan-aux2', true)], 'dcgan'), 'cgan-aux2');
  assert.equal(chooseConditionalDefault([m('dcgan', false), m('acgan', true), m('cgan', true), m('cgan-aux', true)], 'dcgan'), 'cgan-aux');
  assert.equal(chooseConditionalDefault([m('dcgan', false), m('acgan', true), m('cgan', true)], 'dcgan'), 'cgan');
  assert.equal(chooseConditionalDefault([m('dcgan', false), m('other', true), m('acgan', true)], 'dcgan'), 'acgan');
  assert.equal(chooseConditionalDefault([m('dcgan', false), m('cgan', true), m('mine', true)], 'mine'), 'mine');
  assert.equal(chooseConditionalDefault([m('dcgan', false), m('zeta', true), m('beta', true)], 'dcgan'), 'beta');
  assert.equal(chooseConditionalDefault([m('dcgan', false)], 'dcgan'), null);
});

test('digit errors: out of range, bad ranges, too many digits, unconditional models', async () => {
  const cases: [string, number, string][] = [
    ['digit=10', 400, 'digit'],
    ['digit=a', 400, 'digit'],
    ['digit=9-0', 400, 'digit'],
    ['digit=-1', 400, 'digit'],
    ['digit=0-9&n=30', 400, 'n'],
    ['digit=3&model=plain', 400, 'digit'],
  ];
  for (const [query, status, parameter] of cases) {
    const res = await app.request(`/sample?${query}`);
    assert.equal(res.status, status, query);
    const body = (await res.json()) as { parameter: string; error: string };
    assert.equal(body.parameter, parameter, query);
  }
  const body = (await (await app.request('/sample?digit=3&model=plain')).json()) as { error: string };
  assert.equal(body.error, "Model 'plain' is not conditional: digit needs one of tiny-cgan");
  assert.equal((await app.request('/interpolate?from=1&to=2&digit=3&model=plain')).status, 400);
  const walk = await app.request('/interpolate?from=1&to=2&steps=3&digit=4');
  assert.equal(walk.status, 200);
});

test('--init-generator copies a saved generator of the same architecture, and names the mismatch otherwise', async () => {
  const out = await mkdtemp(join(tmpdir(), 'ganforge-init-'));
  const options = { latentDim: 16, imageShape: [28, 28, 1] as const, width: 0.125 };
  await saveLayersModel(buildCganGenerator({ ...options, seed: 11 }), join(out, 'source'));
  const target = buildCganGenerator({ ...options, seed: 12 });
  await initialiseFrom(target, join(out, 'source', 'model.json'));
  const source = buildCganGenerator({ ...options, seed: 11 });
  target.getWeights().forEach((w, i) => {
    assert.deepEqual(w.dataSync(), source.getWeights()[i]!.dataSync());
  });
  const wider = buildCganGenerator({ ...options, width: 0.25, seed: 1 });
  await assert.rejects(
    initialiseFrom(wider, join(out, 'source', 'model.json')),
    /--init-generator .*source\/model\.json: expected a generator of this run's architecture \(17 weights: \[10,16\] \[16,3136\]/,
  );
});
