/// <reference lib="dom" />
import type * as Ort from 'onnxruntime-web';
import { defaultColumns, layoutGrid } from '../../shared/grid.ts';
import { expectedMessage } from '../../shared/expected.ts';
import { cycleLabels, feedRecord, generatorFeeds, imageOutput, imageSize, isConditional } from '../../shared/generator.ts';
import type { ModelManifest } from '../../shared/manifest.ts';
import { latentWalk } from '../../shared/latent.ts';
import { sampleLatents } from '../../shared/prng.ts';

/** The page's generator state, also exposed as `window.ganforge` for tests and curious visitors. */
interface Ganforge {
  backend: string;
  threads: number;
  model: string;
  /** Generates the grid for a seed (and digit, for conditional models), draws it, and returns the raw output. */
  generate(seed: number, digit?: number | null): Promise<{ floats: number[]; ms: number }>;
  /** Animates the latent walk between two seeds; resolves with every frame's generator output. */
  walk(from: number, to: number, steps?: number): Promise<number[]>;
}

const N = 16;
const SLIDERS = 5;
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = (text: string): void => {
  $('status').textContent = text;
};

/** WebGPU when the browser has an adapter, WASM otherwise; each from its own same-origin bundle. */
async function loadRuntime(): Promise<{ ort: typeof Ort; backend: 'webgpu' | 'wasm'; threads: number }> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  const backend = adapter ? 'webgpu' : 'wasm';
  const ort = (await import(backend === 'webgpu' ? './ort.webgpu.bundle.min.mjs' : './ort.wasm.bundle.min.mjs')) as typeof Ort;
  // The .wasm file is served beside the page, never from a CDN. Only its URL is given: the bundle
  // embeds its JS glue, which a URL prefix would make ORT fetch separately.
  const wasm = backend === 'webgpu' ? 'ort-wasm-simd-threaded.jsep.wasm' : 'ort-wasm-simd-threaded.wasm';
  ort.env.wasm.wasmPaths = { wasm: new URL(wasm, location.href).href };
  // Threads need SharedArrayBuffer, which only a cross-origin isolated page has.
  const threads = crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  ort.env.wasm.numThreads = threads;
  return { ort, backend, threads };
}

async function fetchJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

function draw(canvas: HTMLCanvasElement, pixels: ArrayLike<number>, n: number, h: number, w: number, cols: number, padding: number): void {
  const grid = layoutGrid(pixels, n, h, w, { cols, padding });
  canvas.width = grid.width;
  canvas.height = grid.height;
  const rgba = new ImageData(grid.width, grid.height);
  for (let i = 0; i < grid.data.length; i++) {
    const v = grid.data[i]!;
    rgba.data[4 * i] = v;
    rgba.data[4 * i + 1] = v;
    rgba.data[4 * i + 2] = v;
    rgba.data[4 * i + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(rgba, 0, 0);
}

async function start(): Promise<Ganforge> {
  const { ort, backend, threads } = await loadRuntime();
  const index = await fetchJson<{ default: string; models: string[] }>('models/index.json');
  const manifests = new Map<string, ModelManifest>();
  for (const name of index.models) manifests.set(name, await fetchJson<ModelManifest>(`models/${name}.json`));
  const sessions = new Map<string, Ort.InferenceSession>();
  const session = async (name: string): Promise<Ort.InferenceSession> => {
    let s = sessions.get(name);
    if (!s) {
      const bytes = new Uint8Array(await (await fetch(`models/${name}.onnx`)).arrayBuffer());
      s = await ort.InferenceSession.create(bytes, { executionProviders: [backend] });
      sessions.set(name, s);
    }
    return s;
  };

  const select = $<HTMLSelectElement>('model');
  for (const name of index.models) select.add(new Option(`${name} (${manifests.get(name)!.architecture})`, name));
  select.value = index.default;

  let latents: Float32Array = new Float32Array(0);
  const digitSelect = $<HTMLSelectElement>('digit-select');
  /** The digit labels for n cells: the picked digit, or 0-9 in turn (conditional models only). */
  const labelsFor = (n: number): Int32Array => (digitSelect.value === '' ? cycleLabels(n) : new Int32Array(n).fill(Number(digitSelect.value)));
  const run = async (name: string, z: Float32Array, n: number, labels: Int32Array = labelsFor(n)): Promise<Float32Array> => {
    const m = manifests.get(name)!;
    const s = await session(name);
    const out = await s.run(feedRecord(generatorFeeds(m, z, n, labels), (f) => new ort.Tensor(f.type, f.data, [...f.dims])));
    return out[imageOutput(m)]!.data as Float32Array;
  };
  const showPicker = (): void => {
    $('digit-picker').hidden = !isConditional(manifests.get(select.value)!);
  };

  const api: Ganforge = {
    backend,
    threads,
    model: select.value,
    async generate(seed: number, digit?: number | null) {
      if (digit !== undefined) digitSelect.value = digit === null ? '' : String(digit);
      const name = select.value;
      showPicker();
      const m = manifests.get(name)!;
      const { height: h, width: w } = imageSize(m);
      latents = sampleLatents(seed, N, m.latentDim);
      const t0 = performance.now();
      const floats = await run(name, latents, N);
      const ms = performance.now() - t0;
      draw($<HTMLCanvasElement>('grid'), floats, N, h, w, defaultColumns(N), 2);
      $<HTMLInputElement>('seed').value = String(seed);
      status(`Seed ${seed}: ${N} digits in ${ms.toFixed(1)} ms with ${name}.`);
      api.model = name;
      resetSliders(m);
      await drawDigit();
      return { floats: Array.from(floats), ms };
    },
    async walk(from: number, to: number, steps = 10) {
      const m = manifests.get(select.value)!;
      const { height: h, width: w } = imageSize(m);
      // One digit for the whole walk, as GET /interpolate (default 0).
      const frames = await run(select.value, latentWalk(from, to, steps, m.latentDim), steps, new Int32Array(steps).fill(Number(digitSelect.value || 0)));
      const canvas = $<HTMLCanvasElement>('walk');
      const size = h * w;
      // There and back at 10 frames a second.
      const order = [...Array(steps).keys(), ...[...Array(steps).keys()].reverse()];
      for (const i of order) {
        draw(canvas, frames.subarray(i * size, (i + 1) * size), 1, h, w, 1, 0);
        await new Promise((r) => setTimeout(r, 100));
      }
      return Array.from(frames);
    },
  };

  const sliders = $('sliders');
  const resetSliders = (m: ModelManifest): void => {
    sliders.replaceChildren();
    for (let i = 0; i < Math.min(SLIDERS, m.latentDim); i++) {
      const label = document.createElement('label');
      label.htmlFor = `z${i}`;
      label.textContent = `z${i}`;
      const input = Object.assign(document.createElement('input'), {
        type: 'range',
        id: `z${i}`,
        min: '-3',
        max: '3',
        step: '0.05',
        value: String(latents[i]!.toFixed(2)),
      });
      const value = Object.assign(document.createElement('output'), { htmlFor: `z${i}`, value: input.value });
      input.addEventListener('input', () => {
        latents[i] = Number(input.value);
        value.value = input.value;
        void drawDigit();
      });
      sliders.append(label, input, value);
    }
  };
  const drawDigit = async (): Promise<void> => {
    const m = manifests.get(select.value)!;
    const { height: h, width: w } = imageSize(m);
    const one = await run(select.value, latents.slice(0, m.latentDim), 1);
    draw($<HTMLCanvasElement>('digit'), one, 1, h, w, 1, 0);
  };

  const randomSeed = (): number => crypto.getRandomValues(new Uint32Array(1))[0]!;
  $('seed-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $<HTMLInputElement>('seed').value.trim();
    if (!/^\d{1,10}$/.test(value) || Number(value) > 4294967295) {
      status(`${expectedMessage('integer between 0 and 4294967295', 'the seed', value)}.`);
      return;
    }
    void api.generate(Number(value));
  });
  $('new-grid').addEventListener('click', () => void api.generate(randomSeed()));
  $('walk-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $<HTMLInputElement>('walk-to').value.trim();
    if (!/^\d{1,10}$/.test(value) || Number(value) > 4294967295) {
      status(`${expectedMessage('integer between 0 and 4294967295', 'the seed to walk to', value)}.`);
      return;
    }
    void api.walk(Number($<HTMLInputElement>('seed').value), Number(value));
  });
  select.addEventListener('change', () => void api.generate(Number($<HTMLInputElement>('seed').value) || 0));
  digitSelect.addEventListener('change', () => void api.generate(Number($<HTMLInputElement>('seed').value) || 0));
  $('runtime').textContent =
    `Runtime: onnxruntime-web on ${backend === 'webgpu' ? 'WebGPU' : `WASM, ${threads} thread${threads > 1 ? 's' : ''}${crossOriginIsolated ? '' : ' (page not cross-origin isolated)'}`}.`;
  await api.generate(Number(new URLSearchParams(location.search).get('seed') ?? randomSeed()) >>> 0);
  return api;
}

const ready = start();
(window as unknown as { ganforge: Promise<Ganforge> }).ganforge = ready;
ready.catch((err: unknown) => status(`Could not start: ${err instanceof Error ? err.message : String(err)}`));

// Offline support: the service worker caches the page, the runtime and the models.
if ('serviceWorker' in navigator) {
  void navigator.serviceWorker.register('sw.js').catch((err: unknown) => console.warn('service worker not registered', err));
}
