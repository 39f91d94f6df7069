/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The page's main thread: controls and canvases only. Models load and run in the inference worker
// (worker.ts), so the page answers input while digits are generated.
import { expectedMessage } from '../../shared/expected.ts';
import { cycleLabels, generatorFeeds, imageOutput, imageSize, isConditional } from '../../shared/generator.ts';
import { defaultColumns } from '../../shared/grid.ts';
import { latentWalk } from '../../shared/latent.ts';
import type { ModelManifest } from '../../shared/manifest.ts';
import { sampleLatents } from '../../shared/prng.ts';
import { downloadPng, drawGrid } from './draw.ts';
import { GeneratorClient } from './generator-client.ts';
import { FAULTS, type Fault, type RuntimeState } from './protocol.ts';

/** The page's generator state, also exposed as `window.ganforge` for tests and curious visitors. */
interface Ganforge {
  readonly backend: string;
  readonly threads: number;
  /** Why the runtime is not the first choice (WebGPU), or null. */
  readonly reason: string | null;
  model: string;
  /** Generates the grid for a seed (and digit, for conditional models), draws it, and returns the raw output. */
  generate(seed: number, digit?: number | null): Promise<{ floats: number[]; ms: number }>;
  /** Animates the latent walk between two seeds; resolves with every frame's generator output. */
  walk(from: number, to: number, steps?: number): Promise<number[]>;
}

const N = 16;
const MAX_SEED = 4294967295;
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = (text: string): void => {
  $('status').textContent = text;
};

async function fetchJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** The `?fault=` test parameter, checked against the known faults. */
function faultParam(params: URLSearchParams): Fault | null {
  const value = params.get('fault');
  if (value === null) return null;
  if (!(FAULTS as readonly string[]).includes(value)) throw new Error(expectedMessage(`one of ${FAULTS.join(', ')}`, '?fault', value));
  return value as Fault;
}

/** A seed typed by the user, or an error message naming `what`. */
function parseSeed(value: string, what: string): number | string {
  const v = value.trim();
  return /^\d{1,10}$/.test(v) && Number(v) <= MAX_SEED ? Number(v) : `${expectedMessage(`integer between 0 and ${MAX_SEED}`, what, v)}.`;
}

function runtimeText(r: RuntimeState): string {
  const on =
    r.backend === 'webgpu'
      ? 'WebGPU'
      : `WASM, ${r.threads} thread${r.threads > 1 ? 's' : ''}${r.crossOriginIsolated ? '' : ' (page not cross-origin isolated)'}`;
  return `Runtime: onnxruntime-web on ${on}.${r.reason ? ` Fallback from ${r.reason}.` : ''}`;
}

/** The latent sliders (rows z0..z4 laid out in the page, so nothing moves when they fill in). */
function bindSliders(latents: () => Float32Array, changed: () => void): (m: ModelManifest) => void {
  const rows = [...document.querySelectorAll<HTMLElement>('#sliders .slider')];
  rows.forEach((row, i) => {
    const input = row.querySelector('input')!;
    const output = row.querySelector('output')!;
    input.addEventListener('input', () => {
      latents()[i] = Number(input.value);
      output.value = input.value;
      changed();
    });
  });
  return (m) => {
    rows.forEach((row, i) => {
      const input = row.querySelector('input')!;
      const used = i < m.latentDim;
      row.style.visibility = used ? '' : 'hidden';
      input.disabled = !used;
      if (used) input.value = row.querySelector('output')!.value = latents()[i]!.toFixed(2);
    });
  };
}

async function start(): Promise<Ganforge> {
  const params = new URLSearchParams(location.search);
  const client = new GeneratorClient(new URL('worker.js', location.href));
  const [index] = await Promise.all([fetchJson<{ default: string; models: string[] }>('models/index.json'), client.init(faultParam(params))]);
  const manifests = new Map<string, ModelManifest>();
  for (const name of index.models) manifests.set(name, await fetchJson<ModelManifest>(`models/${name}.json`));
  const showRuntime = (r: RuntimeState): void => {
    $('runtime').textContent = runtimeText(r);
  };
  client.onRuntime = showRuntime;
  showRuntime(client.runtime!);

  const select = $<HTMLSelectElement>('model');
  select.replaceChildren(...index.models.map((name) => new Option(`${name} (${manifests.get(name)!.architecture})`, name)));
  select.value = index.default;
  const digitSelect = $<HTMLSelectElement>('digit-select');
  const manifest = (): ModelManifest => manifests.get(select.value)!;
  /** The digit labels for n cells: the picked digit, or 0-9 in turn (conditional models only). */
  const labelsFor = (n: number): Int32Array => (digitSelect.value === '' ? cycleLabels(n) : new Int32Array(n).fill(Number(digitSelect.value)));
  const run = (m: ModelManifest, z: Float32Array, n: number, labels: Int32Array = labelsFor(n)): Promise<Float32Array> =>
    client.run(`models/${m.name}.onnx`, generatorFeeds(m, z, n, labels), imageOutput(m));

  let latents: Float32Array = new Float32Array(0);
  let shown = { model: '', seed: 0, digit: '' };
  const drawDigit = async (): Promise<void> => {
    const m = manifest();
    const { height: h, width: w } = imageSize(m);
    drawGrid($<HTMLCanvasElement>('digit'), await run(m, latents.slice(0, m.latentDim), 1), 1, h, w, 1, 0);
  };
  const resetSliders = bindSliders(
    () => latents,
    () => void drawDigit(),
  );

  const api: Ganforge = {
    get backend() {
      return client.runtime!.backend;
    },
    get threads() {
      return client.runtime!.threads;
    },
    get reason() {
      return client.runtime!.reason;
    },
    model: select.value,
    async generate(seed: number, digit?: number | null) {
      if (digit !== undefined) digitSelect.value = digit === null ? '' : String(digit);
      const m = manifest();
      $('digit-picker').hidden = !isConditional(m);
      const { height: h, width: w } = imageSize(m);
      latents = sampleLatents(seed, N, m.latentDim);
      const t0 = performance.now();
      const floats = await run(m, latents, N);
      const ms = performance.now() - t0;
      drawGrid($<HTMLCanvasElement>('grid'), floats, N, h, w, defaultColumns(N), 2);
      $<HTMLInputElement>('seed').value = String(seed);
      status(`Seed ${seed}: ${N} digits in ${ms.toFixed(1)} ms with ${m.name}.`);
      api.model = m.name;
      shown = { model: m.name, seed, digit: isConditional(m) ? digitSelect.value : '' };
      $<HTMLButtonElement>('download').disabled = false;
      resetSliders(m);
      await drawDigit();
      return { floats: Array.from(floats), ms };
    },
    async walk(from: number, to: number, steps = 10) {
      const m = manifest();
      const { height: h, width: w } = imageSize(m);
      // One digit for the whole walk, as GET /interpolate (default 0).
      const frames = await run(m, latentWalk(from, to, steps, m.latentDim), steps, new Int32Array(steps).fill(Number(digitSelect.value || 0)));
      const canvas = $<HTMLCanvasElement>('walk');
      const size = h * w;
      // There and back at 10 frames a second.
      const order = [...Array(steps).keys(), ...[...Array(steps).keys()].reverse()];
      for (const i of order) {
        drawGrid(canvas, frames.subarray(i * size, (i + 1) * size), 1, h, w, 1, 0);
        await new Promise((r) => setTimeout(r, 100));
      }
      return Array.from(frames);
    },
  };

  const generateTyped = (value: string): void => {
    const seed = parseSeed(value, 'the seed');
    if (typeof seed === 'string') status(seed);
    else void api.generate(seed);
  };
  $('seed-form').addEventListener('submit', (e) => {
    e.preventDefault();
    generateTyped($<HTMLInputElement>('seed').value);
  });
  $('new-grid').addEventListener('click', () => void api.generate(crypto.getRandomValues(new Uint32Array(1))[0]!));
  $('walk-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const to = parseSeed($<HTMLInputElement>('walk-to').value, 'the seed to walk to');
    if (typeof to === 'string') status(to);
    else void api.walk(Number($<HTMLInputElement>('seed').value), to);
  });
  $('download').addEventListener('click', () => {
    const digit = shown.digit === '' ? '' : `-digit-${shown.digit}`;
    downloadPng($<HTMLCanvasElement>('grid'), `ganforge-${shown.model}-seed-${shown.seed}${digit}.png`).catch((err: unknown) => status(String(err)));
  });
  for (const control of [select, digitSelect]) control.addEventListener('change', () => generateTyped($<HTMLInputElement>('seed').value || '0'));
  for (const control of document.querySelectorAll<HTMLInputElement | HTMLButtonElement>('[data-needs-model]')) control.disabled = false;
  const first = params.get('seed');
  await api.generate(first === null ? crypto.getRandomValues(new Uint32Array(1))[0]! : Number(first) >>> 0);
  return api;
}

const ready = start();
(window as unknown as { ganforge: Promise<Ganforge> }).ganforge = ready;
ready.catch((err: unknown) => status(`Could not start: ${err instanceof Error ? err.message : String(err)}`));

// Offline support: the service worker caches the page, the runtime and the models.
if ('serviceWorker' in navigator) {
  void navigator.serviceWorker.register('sw.js').catch((err: unknown) => console.warn('service worker not registered', err));
}
