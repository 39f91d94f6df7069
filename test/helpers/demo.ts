import { serve, type ServerType } from '@hono/node-server';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { feedRecord, generatorFeeds, imageOutput } from '../../shared/generator.ts';
import { sampleLatents } from '../../shared/prng.ts';
import { createApp } from '../../serve/app.ts';
import { ProviderSelector } from '../../serve/providers.ts';
import { loadModels, type LoadedModel } from '../../serve/registry.ts';
import { buildWebDemo } from '../../web-demo/build.ts';

export const root = join(import.meta.dirname, '..', '..');

/** What the page exposes as `window.ganforge`. */
export interface PageApi {
  backend: string;
  threads: number;
  reason: string | null;
  model: string;
  generate(seed: number, digit?: number | null): Promise<{ floats: number[]; ms: number }>;
  walk(from: number, to: number, steps?: number): Promise<number[]>;
}

export interface Demo {
  /** The built page. */
  dist: string;
  /** The ganforge server (API and page, `dense` the default model), e.g. http://127.0.0.1:port. */
  base: string;
  /** The server's models, on onnxruntime-node's CPU provider. */
  models: Map<string, LoadedModel>;
  close(): Promise<void>;
}

/** Builds the web demo from the shipped models and serves it with the API, as `npm start` does. */
export async function startDemo(): Promise<Demo> {
  const dist = join(await mkdtemp(join(tmpdir(), 'ganforge-web-')), 'dist');
  await buildWebDemo(dist, join(root, 'models'));
  const { models } = await loadModels(join(root, 'models'), new ProviderSelector('cpu', undefined, () => {}));
  const { app } = createApp({ models, defaultModel: 'dense', provider: 'cpu', webDemoDir: relative(process.cwd(), dist) });
  let server: ServerType | undefined;
  const base = await new Promise<string>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(`http://127.0.0.1:${info.port}`));
  });
  return {
    dist,
    base,
    models,
    async close() {
      await new Promise((resolve) => server?.close(resolve));
      for (const m of models.values()) await m.session.release();
    },
  };
}

/** Opens the page, waits for its first grid and asserts it threw nothing; returns its runtime. */
export async function openDemo(page: Page, url: string): Promise<{ backend: string; threads: number; reason: string | null }> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  const info = await page.evaluate(async () => {
    const api = await (window as unknown as { ganforge: Promise<PageApi> }).ganforge;
    return { backend: api.backend, threads: api.threads, reason: api.reason };
  });
  assert.deepEqual(errors, []);
  return info;
}

export const generateIn = (page: Page, seed: number, digit?: number | null): Promise<{ floats: number[]; ms: number }> =>
  page.evaluate(async ([s, d]) => (await (window as unknown as { ganforge: Promise<PageApi> }).ganforge).generate(s, d), [seed, digit] as const);

/** The grid canvas as grey levels. */
export const canvasGrey = (page: Page): Promise<{ width: number; height: number; data: number[] }> =>
  page.evaluate(() => {
    const c = document.getElementById('grid') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    return { width: c.width, height: c.height, data: Array.from({ length: c.width * c.height }, (_, i) => d[4 * i]!) };
  });

/** Largest grey-level difference between grey pixels and a PNG's. */
export function greyVsPng(grey: { width: number; height: number; data: ArrayLike<number> }, png: PNG): number {
  assert.deepEqual([grey.width, grey.height], [png.width, png.height]);
  let worst = 0;
  for (let i = 0; i < grey.data.length; i++) worst = Math.max(worst, Math.abs(grey.data[i]! - png.data[4 * i]!));
  return worst;
}

/** Largest grey-level difference between the page's grid canvas and the server's PNG at `url`. */
export async function canvasVsServer(page: Page, url: string): Promise<number> {
  const png = PNG.sync.read(Buffer.from(await (await fetch(url)).arrayBuffer()));
  return greyVsPng(await canvasGrey(page), png);
}

/** onnxruntime-node's output for the grid of `seed` (and digit, for a conditional model). */
export async function nodeGrid(model: LoadedModel, seed: number, digit: number | null = null, n = 16): Promise<Float32Array> {
  const m = model.manifest;
  const feeds = generatorFeeds(m, sampleLatents(seed, n, m.latentDim), n, digit === null ? null : new Int32Array(n).fill(digit));
  const out = await model.session.run(feedRecord(feeds, (f) => new ort.Tensor(f.type, f.data, [...f.dims])));
  return out[imageOutput(m)]!.data as Float32Array;
}
