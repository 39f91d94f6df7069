import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { defineCommand } from '../lib/cli/command.ts';
import { type GrayImage, type GridOptions, layoutGrid } from '../shared/grid.ts';
import { inferImages } from '../serve/generation/run-job.ts';
import { encodeGrayPng, type LeanPngOptions } from '../serve/png.ts';
import { ProviderSelector } from '../serve/providers.ts';
import { loadModels } from '../serve/registry.ts';
import { configureSharp, type SharpPngSettings, sharpGridPng, usesLeanPng } from '../serve/render.ts';

/**
 * `ganforge bench png`: CPU time and bytes of one PNG encode of a generated grid, by sharp (the server's
 * settings, which are also sharp's defaults, and the cheapest ones) and by the lean encoder
 * (`serve/png.ts`: its settings, and filter x level variants), for `/sample?n=16` (122x122) and other
 * sizes. One encode at a time, each awaited; CPU is the whole process's (`process.cpuUsage()`, so sharp's
 * libuv threads count), divided by the encodes. Tiny and quick, but run it on a quiet machine.
 */

const SIZES: readonly { readonly label: string; readonly n: number; readonly options: GridOptions }[] = [
  { label: 'n=1', n: 1, options: {} },
  { label: 'n=16', n: 16, options: {} },
  { label: 'n=64', n: 64, options: {} },
  { label: 'n=256', n: 256, options: {} },
  { label: 'n=16 scale=2', n: 16, options: { scale: 2 } },
];

type Encoder = readonly [name: string, encode: (grid: GrayImage) => Buffer | Promise<Buffer>];

const sharpPng =
  (settings: SharpPngSettings) =>
  (grid: GrayImage): Promise<Buffer> =>
    sharpGridPng(grid, settings);

const lean =
  (options: LeanPngOptions) =>
  (grid: GrayImage): Buffer =>
    encodeGrayPng(grid, options);

const ENCODERS: readonly Encoder[] = [
  ['sharp level 6, no filter (sharp default; server)', (grid) => sharpGridPng(grid)],
  ['sharp level 1, no filter', sharpPng({ compressionLevel: 1, adaptiveFiltering: false, palette: false })],
  ['sharp level 0, no filter (cheapest)', sharpPng({ compressionLevel: 0, adaptiveFiltering: false, palette: false })],
  ['sharp level 9, adaptive filtering', sharpPng({ compressionLevel: 9, adaptiveFiltering: true, palette: false })],
  ['lean none, Z_RLE (server)', (grid) => encodeGrayPng(grid)],
  ...(['none', 'sub', 'up'] as const).flatMap((filter) =>
    [1, 6, 9].map((level): Encoder => [`lean ${filter}, level ${level}`, lean({ filter, level, strategy: zlib.constants.Z_DEFAULT_STRATEGY })]),
  ),
  ['lean up, Z_RLE', lean({ filter: 'up', strategy: zlib.constants.Z_RLE })],
];

/** CPU and wall milliseconds per encode, and the bytes of the last one. */
async function measure(encode: Encoder[1], grid: GrayImage, encodes: number): Promise<{ cpu: number; wall: number; bytes: number }> {
  for (let i = 0; i < Math.min(10, encodes); i++) await encode(grid);
  let bytes = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < encodes; i++) bytes = (await encode(grid)).length;
  const wall = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { cpu: (used.user + used.system) / 1000 / encodes, wall: wall / encodes, bytes };
}

/** `ganforge bench png`: per-encode CPU and bytes of sharp and of the lean PNG encoder. */
export const benchPngCommand = defineCommand({
  name: 'bench png',
  summary: "PNG encode of one grid: CPU per encode and bytes, sharp's settings against the lean encoder's (serve/png.ts)",
  usage: '[flags]',
  flags: {
    encodes: {
      kind: 'int',
      min: 1,
      max: 100_000,
      default: 200,
      help: 'encodes per encoder of the 122x122 grid (n=16); fewer for larger grids, as many pixels in all',
    },
    model: { kind: 'string', default: 'dcgan-x1', help: 'the shipped generator (models/<name>.onnx) whose digits are encoded (dcgan-x1: the default model)' },
    seed: { kind: 'int', min: 0, max: 4294967295, default: 7, help: 'seed of the latents' },
  },
  async run({ values }) {
    configureSharp();
    const { models, problems } = await loadModels(join(import.meta.dirname, '..', 'models'), new ProviderSelector('cpu', undefined, () => {}), [values.model]);
    const model = models.get(values.model);
    if (!model) throw new Error(`cannot load ${values.model}: ${problems.map((p) => p.reason).join('; ') || 'not a generator'}`);
    const { height, width } = model;
    const most = Math.max(...SIZES.map((s) => s.n));
    const grid = { kind: 'grid', cols: most, scale: 1, padding: 0 } as const;
    const pixels = await inferImages(model, [{ latents: { seed: values.seed }, labels: null, n: most, render: grid }]);
    await model.session.release();
    console.log(`PNG encodes of ${values.model} grids (seed ${values.seed}; conditional models: digits 0-9 in turn), Node ${process.version}`);
    const reference = 122 * 122;
    for (const { label, n, options } of SIZES) {
      const grid = layoutGrid(pixels.subarray(0, n * height * width), n, height, width, options);
      const encodes = Math.max(5, Math.round((values.encodes * reference) / Math.max(reference, grid.width * grid.height)));
      const server = usesLeanPng(grid, options) ? 'lean' : 'sharp';
      console.log(`\n${label}: ${grid.width}x${grid.height}, ${encodes} encodes each; the server uses ${server}`);
      console.log(`${'encoder'.padEnd(50)} ${'CPU ms'.padStart(8)} ${'wall ms'.padStart(8)} ${'bytes'.padStart(8)}`);
      for (const [name, encode] of ENCODERS) {
        const r = await measure(encode, grid, encodes);
        console.log(`${name.padEnd(50)} ${r.cpu.toFixed(3).padStart(8)} ${r.wall.toFixed(3).padStart(8)} ${String(r.bytes).padStart(8)}`);
      }
    }
  },
});
