import { serve, type ServerType } from '@hono/node-server';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { Browser, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { latentWalk } from '../../shared/latent.ts';
import { sampleLatents } from '../../shared/prng.ts';
import { createApp } from '../../serve/app.ts';
import { ProviderSelector } from '../../serve/providers.ts';
import { loadModels, type LoadedModel } from '../../serve/registry.ts';
import { buildWebDemo } from '../../web-demo/build.ts';
import { launchChromium, staticServer } from '../helpers/browser.ts';
import { maxAbsDiff } from '../helpers/ort.ts';

const root = join(import.meta.dirname, '..', '..');
const outputDir = join(root, 'test-output');
let dist: string;
let browser: Browser;
let server: ServerType;
let base: string;
let models: Map<string, LoadedModel>;

before(async () => {
  dist = join(await mkdtemp(join(tmpdir(), 'ganforge-web-')), 'dist');
  await buildWebDemo(dist, join(root, 'models'));
  ({ models } = await loadModels(join(root, 'models'), new ProviderSelector('cpu', undefined, () => {})));
  const { app } = createApp({ models, defaultModel: 'dense', provider: 'cpu', webDemoDir: relative(process.cwd(), dist) });
  base = await new Promise<string>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(`http://127.0.0.1:${info.port}`));
  });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  for (const m of models?.values() ?? []) await m.session.release();
});

interface PageApi {
  backend: string;
  threads: number;
  generate(seed: number, digit?: number | null): Promise<{ floats: number[]; ms: number }>;
  walk(from: number, to: number, steps?: number): Promise<number[]>;
}

async function openDemo(page: Page, url: string): Promise<{ backend: string; threads: number }> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  const info = await page.evaluate(async () => {
    const api = await (window as unknown as { ganforge: Promise<PageApi> }).ganforge;
    return { backend: api.backend, threads: api.threads };
  });
  assert.deepEqual(errors, []);
  return info;
}

/** Largest grey-level difference between the page's grid canvas and the server's PNG at `url`. */
async function canvasVsServer(page: Page, url: string): Promise<number> {
  const png = PNG.sync.read(Buffer.from(await (await fetch(url)).arrayBuffer()));
  const canvas = await canvasGrey(page);
  assert.deepEqual([canvas.width, canvas.height], [png.width, png.height]);
  let grey = 0;
  canvas.data.forEach((v, i) => {
    grey = Math.max(grey, Math.abs(v - png.data[4 * i]!));
  });
  return grey;
}

const generateIn = (page: Page, seed: number): Promise<{ floats: number[]; ms: number }> =>
  page.evaluate(async (s) => (await (window as unknown as { ganforge: Promise<PageApi> }).ganforge).generate(s), seed);

/** The grid canvas as grey levels. */
const canvasGrey = (page: Page): Promise<{ width: number; height: number; data: number[] }> =>
  page.evaluate(() => {
    const c = document.getElementById('grid') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    return { width: c.width, height: c.height, data: Array.from({ length: c.width * c.height }, (_, i) => d[4 * i]!) };
  });

test('golden: the page generates the floats onnxruntime-node does, and its canvas matches the server PNG', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const info = await openDemo(page, `${base}/?seed=11`);
  assert.equal(info.backend, 'wasm', 'headless chromium without a GPU runs the WASM backend');
  assert.ok(info.threads > 1, `cross-origin isolated page runs multi-threaded WASM (got ${info.threads})`);
  assert.match((await page.textContent('#runtime')) ?? '', /WASM, \d+ threads/);
  const m = models.get('dense')!;
  let worst = 0;
  for (const seed of [0, 11, 4294967295]) {
    const { floats } = await generateIn(page, seed);
    const out = await m.session.run({ latent: new ort.Tensor('float32', sampleLatents(seed, 16, 100), [16, 100]) });
    const diff = maxAbsDiff(floats, out.image!.data as Float32Array);
    worst = Math.max(worst, diff);
    assert.ok(diff <= 1e-5, `seed ${seed}: |web - node| = ${diff}`);
    const grey = await canvasVsServer(page, `${base}/sample?n=16&seed=${seed}`);
    assert.ok(grey <= 1, `seed ${seed}: canvas differs from the server PNG by ${grey} grey levels`);
  }
  console.log(`# web vs node worst difference ${worst.toExponential(2)}`);
  assert.match((await page.textContent('#status')) ?? '', /Seed 4294967295: 16 digits in [\d.]+ ms with dense/);
  await mkdir(outputDir, { recursive: true });
  await page.screenshot({ path: join(outputDir, 'web-demo.png'), fullPage: true });
  await context.close();
});

test('controls: typed seeds, bad seeds, new grids and latent sliders, all from the keyboard', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await openDemo(page, `${base}/?seed=3`);
  await page.focus('#seed');
  await page.fill('#seed', '42');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /Seed 42:/.test(document.getElementById('status')!.textContent ?? ''));
  await page.fill('#seed', '-5');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /Expected integer between 0 and 4294967295/.test(document.getElementById('status')!.textContent ?? ''));
  const before = await page.evaluate(() => (document.getElementById('digit') as HTMLCanvasElement).toDataURL());
  await page.focus('#z0');
  for (let i = 0; i < 20; i++) await page.keyboard.press('ArrowRight');
  await page.waitForFunction((b) => (document.getElementById('digit') as HTMLCanvasElement).toDataURL() !== b, before);
  await page.focus('#new-grid');
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    () => !/Seed 42:/.test(document.getElementById('status')!.textContent ?? '') && /Seed \d+:/.test(document.getElementById('status')!.textContent ?? ''),
  );
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no horizontal scrolling on a phone (${width}px)`);
  await page.screenshot({ path: join(outputDir, 'web-demo-phone.png'), fullPage: true });
  await context.close();
});

test('the latent walk animates client-side with the frames of GET /interpolate', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openDemo(page, `${base}/?seed=3`);
  const frames = await page.evaluate(async () => (await (window as unknown as { ganforge: Promise<PageApi> }).ganforge).walk(3, 4, 6));
  const out = await models.get('dense')!.session.run({ latent: new ort.Tensor('float32', latentWalk(3, 4, 6, 100), [6, 100]) });
  assert.ok(maxAbsDiff(frames, out.image!.data as Float32Array) <= 1e-5);
  const strip = PNG.sync.read(Buffer.from(await (await fetch(`${base}/interpolate?from=3&to=4&steps=6&padding=0`)).arrayBuffer()));
  // The canvas ends on the first frame (there and back): compare it with the strip's first cell.
  const shown = await page.evaluate(() => {
    const c = document.getElementById('walk') as HTMLCanvasElement;
    return Array.from(
      c
        .getContext('2d')!
        .getImageData(0, 0, 28, 28)
        .data.filter((_, i) => i % 4 === 0),
    );
  });
  let worst = 0;
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) worst = Math.max(worst, Math.abs(shown[y * 28 + x]! - strip.data[4 * (y * strip.width + x)]!));
  assert.ok(worst <= 1, `walk frame differs from the server's by ${worst} grey levels`);
  await context.close();
});

test('conditional models: the digit picker appears and the page generates the asked digit like the server', async () => {
  const conditional = [...models.values()].find((m) => m.manifest.inputs.length === 2);
  assert.ok(conditional, 'a conditional model is shipped');
  const context = await browser.newContext();
  const page = await context.newPage();
  await openDemo(page, `${base}/?seed=2`);
  assert.equal(await page.isHidden('#digit-picker'), true, 'no picker for an unconditional model');
  await page.selectOption('#model', conditional.manifest.name);
  await page.waitForFunction(() => !(document.getElementById('digit-picker') as HTMLElement).hidden);
  const { floats } = await page.evaluate(async () => (await (window as unknown as { ganforge: Promise<PageApi> }).ganforge).generate(12, 7));
  const d = conditional.manifest.latentDim;
  const out = await conditional.session.run({
    latent: new ort.Tensor('float32', sampleLatents(12, 16, d), [16, d]),
    label: new ort.Tensor('int32', new Int32Array(16).fill(7), [16, 1]),
  });
  assert.ok(maxAbsDiff(floats, out.image!.data as Float32Array) <= 1e-5);
  const grey = await canvasVsServer(page, `${base}/sample?n=16&seed=12&digit=7&model=${conditional.manifest.name}`);
  assert.ok(grey <= 1, `canvas differs from the server's digit=7 PNG by ${grey}`);
  await page.screenshot({ path: join(outputDir, 'web-demo-digit.png'), fullPage: true });
  await context.close();
});

test('offline: after one visit the page reloads and generates with the network gone', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openDemo(page, `${base}/?seed=5`);
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
  });
  const online = await generateIn(page, 21);
  // The service worker answers only the demo's own files: the API goes to the network, query and all.
  // A string, not a function: tsx would name the inner helpers with a __name the page does not have.
  const api = (await page.evaluate(`(async () => {
    const bytes = async (url) => Array.from(new Uint8Array(await (await fetch(url)).arrayBuffer())).join(',');
    const keys = await caches.keys();
    const cached = (await Promise.all(keys.map(async (k) => (await (await caches.open(k)).keys()).map((r) => new URL(r.url).pathname)))).flat();
    return { one: await bytes('/sample?n=1&seed=1'), two: await bytes('/sample?n=1&seed=2'), cached };
  })()`)) as { one: string; two: string; cached: string[] };
  assert.notEqual(api.one, api.two, 'two seeds, two images');
  assert.ok(api.cached.includes('/app.js') && api.cached.includes('/models/dense.onnx'), 'the demo files are precached');
  assert.deepEqual(
    api.cached.filter((p) => /^\/(sample|healthz|metrics|interpolate|models$)/.test(p)),
    [],
    'no API response is cached',
  );
  await context.setOffline(true);
  const blocked = await page.evaluate(() =>
    fetch('/healthz').then(
      () => 'reached',
      () => 'blocked',
    ),
  );
  assert.equal(blocked, 'blocked', 'the network is really gone');
  await page.reload();
  await openDemo(page, page.url());
  const offline = await generateIn(page, 21);
  assert.deepEqual(offline.floats, online.floats);
  await context.close();
});

test('the built folder works from a plain static file server too', async () => {
  const plain = await staticServer(dist);
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    const info = await openDemo(page, `${plain.url}/?seed=8`);
    assert.equal(info.threads, 1, 'no COOP/COEP headers: single-threaded WASM');
    assert.match((await page.textContent('#runtime')) ?? '', /WASM, 1 thread \(page not cross-origin isolated\)/);
    const { floats } = await generateIn(page, 8);
    // The built folder's own index names the default model (the best shipped one).
    const index = JSON.parse(await readFile(join(dist, 'models', 'index.json'), 'utf8')) as { default: string };
    const m = models.get(index.default)!;
    assert.equal(m.manifest.inputs.length, 1, 'the default model is unconditional');
    const out = await m.session.run({ latent: new ort.Tensor('float32', sampleLatents(8, 16, m.manifest.latentDim), [16, m.manifest.latentDim]) });
    assert.ok(maxAbsDiff(floats, out.image!.data as Float32Array) <= 1e-5);
  } finally {
    await context.close();
    await plain.close();
  }
});
