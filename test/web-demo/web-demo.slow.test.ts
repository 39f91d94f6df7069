import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { Browser, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { latentWalk } from '../../shared/latent.ts';
import { sampleLatents } from '../../shared/prng.ts';
import { buildWebDemo } from '../../web-demo/build.ts';
import { launchChromium, staticServer } from '../helpers/browser.ts';
import { canvasVsServer, type Demo, generateIn, greyVsPng, nodeGrid, openDemo, type PageApi, root, startDemo } from '../helpers/demo.ts';
import { maxAbsDiff } from '../helpers/ort.ts';

const outputDir = join(root, 'test-output');
let demo: Demo;
let browser: Browser;
let base: string;

before(async () => {
  demo = await startDemo();
  base = demo.base;
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await demo?.close();
});

test('golden: the page generates the floats onnxruntime-node does, and its canvas matches the server PNG', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const info = await openDemo(page, `${base}/?seed=11`);
  assert.deepEqual([info.backend, info.reason], ['wasm', 'WebGPU: no WebGPU adapter'], 'headless chromium without a GPU runs the WASM backend');
  assert.ok(info.threads > 1, `cross-origin isolated page runs multi-threaded WASM (got ${info.threads})`);
  assert.equal(await page.textContent('#runtime'), `Runtime: onnxruntime-web on WASM, ${info.threads} threads. Fallback from WebGPU: no WebGPU adapter.`);
  const m = demo.models.get('dense')!;
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
  const out = await demo.models.get('dense')!.session.run({ latent: new ort.Tensor('float32', latentWalk(3, 4, 6, 100), [6, 100]) });
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
  const conditional = [...demo.models.values()].find((m) => m.manifest.inputs.length === 2);
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
  const plain = await staticServer(demo.dist);
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    const info = await openDemo(page, `${plain.url}/?seed=8`);
    assert.equal(info.threads, 1, 'no COOP/COEP headers: single-threaded WASM');
    assert.match((await page.textContent('#runtime')) ?? '', /WASM, 1 thread \(page not cross-origin isolated\)/);
    const { floats } = await generateIn(page, 8);
    // The built folder's own index names the default model (the best shipped one).
    const index = JSON.parse(await readFile(join(demo.dist, 'models', 'index.json'), 'utf8')) as { default: string };
    const m = demo.models.get(index.default)!;
    assert.equal(m.manifest.inputs.length, 1, 'the default model is unconditional');
    const out = await m.session.run({ latent: new ort.Tensor('float32', sampleLatents(8, 16, m.manifest.latentDim), [16, m.manifest.latentDim]) });
    assert.ok(maxAbsDiff(floats, out.image!.data as Float32Array) <= 1e-5);
  } finally {
    await context.close();
    await plain.close();
  }
});

/** Polls an async condition in the page (page.waitForFunction takes a promise for a truthy value). */
async function until(page: Page, condition: (arg: string) => Promise<boolean>, arg: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(condition, arg))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${condition.toString().slice(0, 200)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('the main thread never blocks: no long task while grids of 16 are generated', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await openDemo(page, `${base}/?seed=1`);
  // The long tasks observed while `work` runs. A 120 ms sentinel task runs last; entries arrive in order,
  // so once the observer has the sentinel's it has every earlier one: no guessed settling time.
  const longTasks = (work: string): Promise<{ before: number[]; sentinel: number }> =>
    page.evaluate(async (w) => {
      const api = await (window as unknown as { ganforge: Promise<PageApi> }).ganforge;
      const entries: PerformanceEntry[] = [];
      // No named functions in here: the page has no __name helper for tsx's keepNames.
      let arrived: ((value: undefined) => void) | undefined;
      let scheduled = Number.POSITIVE_INFINITY;
      const sentinelSeen = new Promise<undefined>((resolve) => {
        arrived = resolve;
      });
      const observer = new PerformanceObserver((list) => {
        entries.push(...list.getEntries());
        if (entries.some((e) => e.startTime >= scheduled && e.duration >= 115)) arrived?.(undefined);
      });
      observer.observe({ type: 'longtask' });
      if (w !== 'none') {
        (document.getElementById('model') as HTMLSelectElement).value = w;
        for (let seed = 1; seed <= 4; seed++) await api.generate(seed);
      }
      // The sentinel: a task of its own (the evaluation itself is not one the observer reports).
      scheduled = performance.now();
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          const until = performance.now() + 120;
          while (performance.now() < until);
          resolve();
        }),
      );
      await Promise.race([sentinelSeen, new Promise((_, reject) => setTimeout(() => reject(new Error('the sentinel long task was never reported')), 10_000))]);
      observer.disconnect();
      const sentinel = entries.find((e) => e.startTime >= scheduled && e.duration >= 115)!;
      return { before: entries.filter((e) => e !== sentinel).map((e) => Math.round(e.duration)), sentinel: Math.round(sentinel.duration) };
    }, work);
  // The observer sees the 120 ms sentinel on the main thread, so an empty list below means something.
  const idle = await longTasks('none');
  assert.ok(idle.sentinel >= 120, `the sentinel was seen as a ${idle.sentinel} ms task`);
  for (const model of ['dense', 'dcgan']) assert.deepEqual((await longTasks(model)).before, [], `${model}: long tasks on the main thread`);
  await context.close();
});

for (const viewport of [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
]) {
  test(`layout shift 0 on first render (${viewport.width}x${viewport.height})`, async () => {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    await page.addInitScript(() => {
      const shifts: number[] = [];
      (window as unknown as { shifts: number[] }).shifts = shifts;
      const observer = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) shifts.push((e as PerformanceEntry & { value: number }).value);
      });
      observer.observe({ type: 'layout-shift', buffered: true });
      (window as unknown as { shiftObserver: PerformanceObserver }).shiftObserver = observer;
    });
    await openDemo(page, `${base}/?seed=2`);
    // Layout shifts are recorded when a frame renders: two frames after the grid is drawn every shift of
    // the first render is recorded, and takeRecords() hands over those not yet delivered.
    const shifts = await page.evaluate(async () => {
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      const w = window as unknown as { shifts: number[]; shiftObserver: PerformanceObserver };
      return [...w.shifts, ...w.shiftObserver.takeRecords().map((e) => (e as PerformanceEntry & { value: number }).value)];
    });
    assert.deepEqual(shifts, []);
    await context.close();
  });
}

test('"Download PNG" saves the grid on screen, the server PNG for the same seed', async () => {
  const conditional = [...demo.models.values()].find((m) => m.manifest.inputs.length === 2)!.manifest.name;
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await openDemo(page, `${base}/?seed=9`);
  for (const [query, filename] of [
    ['n=16&seed=9', 'ganforge-dense-seed-9.png'],
    [`n=16&seed=9&digit=3&model=${conditional}`, `ganforge-${conditional}-seed-9-digit-3.png`],
  ] as const) {
    if (query.includes('digit')) {
      await page.selectOption('#model', conditional);
      await generateIn(page, 9, 3);
    }
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    assert.equal(download.suggestedFilename(), filename);
    const saved = PNG.sync.read(await readFile(await download.path()));
    const server = PNG.sync.read(Buffer.from(await (await fetch(`${base}/sample?${query}`)).arrayBuffer()));
    const grey = { width: server.width, height: server.height, data: Array.from({ length: server.width * server.height }, (_, i) => server.data[4 * i]!) };
    assert.ok(greyVsPng(grey, saved) <= 1, `${filename} differs from the server PNG`);
  }
  await context.close();
});

test('dark mode follows the system setting', async () => {
  const colours: Record<string, string[]> = {};
  for (const colorScheme of ['light', 'dark'] as const) {
    const context = await browser.newContext({ colorScheme });
    const page = await context.newPage();
    await openDemo(page, `${base}/?seed=1`);
    colours[colorScheme] = await page.evaluate(() =>
      ['body', 'button', '#model'].flatMap((s) => {
        const style = getComputedStyle(document.querySelector(s)!);
        return [style.backgroundColor, style.color];
      }),
    );
    await context.close();
  }
  assert.deepEqual(colours.light!.slice(0, 2), ['rgb(255, 255, 255)', 'rgb(27, 27, 27)']);
  assert.deepEqual(colours.dark!.slice(0, 2), ['rgb(18, 18, 18)', 'rgb(232, 232, 232)']);
  assert.deepEqual(colours.dark!.slice(2), ['rgb(36, 36, 36)', 'rgb(232, 232, 232)', 'rgb(36, 36, 36)', 'rgb(232, 232, 232)'], 'controls are dark too');
});

test('installable: a web manifest with PNG icons at their declared sizes, and no installability errors', async () => {
  const res = await fetch(`${base}/manifest.webmanifest`);
  assert.equal(res.headers.get('content-type'), 'application/manifest+json');
  const manifest = (await res.json()) as {
    name: string;
    start_url: string;
    display: string;
    icons: { src: string; sizes: string; type: string; purpose: string }[];
  };
  assert.equal(manifest.display, 'standalone');
  const pngs = manifest.icons.filter((i) => i.type === 'image/png');
  assert.deepEqual(new Set(pngs.map((i) => i.sizes)), new Set(['192x192', '512x512']));
  assert.ok(manifest.icons.some((i) => i.purpose === 'maskable'));
  for (const icon of pngs) {
    const png = PNG.sync.read(Buffer.from(await (await fetch(`${base}/${icon.src}`)).arrayBuffer()));
    assert.equal(`${png.width}x${png.height}`, icon.sizes, icon.src);
  }
  const context = await browser.newContext();
  const page = await context.newPage();
  await openDemo(page, `${base}/?seed=1`);
  const cdp = await context.newCDPSession(page);
  const { installabilityErrors } = (await cdp.send('Page.getInstallabilityErrors')) as { installabilityErrors: unknown[] };
  assert.deepEqual(installabilityErrors, []);
  await context.close();
});

test('after the models change, the page shows the new ones at once and offline', async () => {
  const work = await mkdtemp(join(tmpdir(), 'ganforge-web-change-'));
  const before = join(work, 'models-before');
  const afterDir = join(work, 'models-after');
  const dist = join(work, 'dist');
  await mkdir(before);
  await mkdir(afterDir);
  for (const f of ['dense.json', 'dense.onnx', 'dcgan.json', 'dcgan.onnx']) await cp(join(root, 'models', f), join(before, f));
  // The hardest change: the same file names, other weights (dense-burn-in's, renamed dense).
  await cp(join(root, 'models', 'dense-burn-in.onnx'), join(afterDir, 'dense.onnx'));
  const manifest = JSON.parse(await readFile(join(root, 'models', 'dense-burn-in.json'), 'utf8')) as { name: string };
  await writeFile(join(afterDir, 'dense.json'), JSON.stringify({ ...manifest, name: 'dense' }));
  const first = await buildWebDemo(dist, before);
  const plain = await staticServer(dist);
  const context = await browser.newContext();
  const page = await context.newPage();
  const cacheKeys = (): Promise<string[]> => page.evaluate(() => caches.keys());
  const state = (): Promise<{ models: string[]; floats: number[] }> =>
    page.evaluate(async () => {
      const api = await (window as unknown as { ganforge: Promise<PageApi> }).ganforge;
      (document.getElementById('model') as HTMLSelectElement).value = 'dense';
      const { floats } = await api.generate(6);
      return { models: [...(document.getElementById('model') as HTMLSelectElement).options].map((o) => o.value), floats };
    });
  try {
    await openDemo(page, `${plain.url}/?seed=6`);
    await until(page, async (id) => (await caches.keys()).includes(`ganforge-${id}`) && navigator.serviceWorker.controller !== null, first.buildId);
    const old = await state();
    assert.deepEqual(old.models, ['dcgan', 'dense']);
    assert.ok(maxAbsDiff(old.floats, await nodeGrid(demo.models.get('dense')!, 6)) <= 1e-5);

    const second = await buildWebDemo(dist, afterDir);
    assert.notEqual(second.buildId, first.buildId);
    await page.reload();
    await openDemo(page, page.url());
    const fresh = await state();
    assert.deepEqual(fresh.models, ['dense'], 'the new build at once, not the cached one');
    assert.ok(maxAbsDiff(fresh.floats, await nodeGrid(demo.models.get('dense-burn-in')!, 6)) <= 1e-5, 'the new weights');
    // The new service worker takes over and drops the old build's cache.
    await until(
      page,
      async (id) => {
        const keys = await caches.keys();
        return keys.length === 1 && keys[0] === `ganforge-${id}`;
      },
      second.buildId,
    );
    assert.deepEqual(await cacheKeys(), [`ganforge-${second.buildId}`]);

    await context.setOffline(true);
    await page.reload();
    await openDemo(page, page.url());
    const offline = await state();
    assert.deepEqual(offline, fresh, 'offline, the new build from the cache');
  } finally {
    await context.close();
    await plain.close();
  }
});
