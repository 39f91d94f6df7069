import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as zlib from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { feedRecord, generatorFeeds, imageOutput, imageSize } from '../../shared/generator.ts';
import { type GrayImage, layoutGrid } from '../../shared/grid.ts';
import type { ModelManifest } from '../../shared/manifest.ts';
import { sampleLatents } from '../../shared/prng.ts';
import { encodeGrayPng, LEAN_PNG_MAX_PIXELS, type PngFilter, tableCrc32 } from '../../serve/png.ts';
import { renderGridPng, sharpGridPng, usesLeanPng } from '../../serve/render.ts';

const MODELS_DIR = join(import.meta.dirname, '..', '..', 'models');
const models = new Map<string, { manifest: ModelManifest; session: ort.InferenceSession }>();

before(async () => {
  ort.env.logLevel = 'fatal';
  // dcgan-x1 is the served default (clean black backgrounds: long runs); dense's outputs are noisier.
  for (const name of ['dcgan-x1', 'dense']) {
    const manifest = JSON.parse(await readFile(join(MODELS_DIR, `${name}.json`), 'utf8')) as ModelManifest;
    models.set(name, { manifest, session: await ort.InferenceSession.create(join(MODELS_DIR, `${name}.onnx`), { intraOpNumThreads: 1 }) });
  }
});
after(async () => {
  for (const m of models.values()) await m.session.release();
});

/** n generated digits of `model` for `seed`, as the server computes them. */
async function digits(model: string, seed: number, n: number): Promise<{ pixels: Float32Array; height: number; width: number }> {
  const { manifest, session } = models.get(model)!;
  const feeds = feedRecord(generatorFeeds(manifest, sampleLatents(seed, n, manifest.latentDim), n), (f) => new ort.Tensor(f.type, f.data, [...f.dims]));
  const out = await session.run(feeds);
  return { pixels: out[imageOutput(manifest)]!.data as Float32Array, ...imageSize(manifest) };
}

interface Chunk {
  readonly type: string;
  readonly data: Buffer;
  readonly crc: number;
  /** The bytes the CRC covers: type and data. */
  readonly covered: Buffer;
}

/** The chunks of a PNG, after checking its signature. */
function chunks(png: Buffer): Chunk[] {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  const out: Chunk[] = [];
  for (let o = 8; o < png.length; ) {
    const length = png.readUInt32BE(o);
    out.push({
      type: png.toString('latin1', o + 4, o + 8),
      data: png.subarray(o + 8, o + 8 + length),
      crc: png.readUInt32BE(o + 8 + length),
      covered: png.subarray(o + 4, o + 8 + length),
    });
    o += 12 + length;
  }
  return out;
}

/**
 * Decodes a PNG with sharp: its raw pixels as sharp gives them by default (greyscale turned into 3 equal
 * channels of sRGB), as the one grey channel, and what sharp says of the file.
 */
async function decode(png: Buffer): Promise<{ rgb: Buffer; rgbInfo: OutputInfo; grey: Buffer; greyInfo: OutputInfo; metadata: Metadata }> {
  const [rgb, grey, metadata] = await Promise.all([
    sharp(png).raw().toBuffer({ resolveWithObject: true }),
    sharp(png).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true }),
    sharp(png).metadata(),
  ]);
  return { rgb: rgb.data, rgbInfo: rgb.info, grey: grey.data, greyInfo: grey.info, metadata };
}

/** Asserts equal bytes, naming the first difference (rather than printing thousands of them). */
function sameBytes(actual: Uint8Array, expected: Uint8Array, label: string): void {
  const n = Math.min(actual.length, expected.length);
  let i = 0;
  while (i < n && actual[i] === expected[i]) i++;
  if (i < n || actual.length !== expected.length) {
    assert.fail(`${label}: ${actual.length} and ${expected.length} bytes, first difference at byte ${i} (${actual[i]} against ${expected[i]})`);
  }
}

/** Checks the lean PNG of `grid` byte by byte, and against sharp's PNG of the same grid, decoded by sharp. */
async function checkAgainstSharp(grid: GrayImage, label: string): Promise<void> {
  const lean = encodeGrayPng(grid);
  const reference = await sharpGridPng(grid);

  // Structure: IHDR (8-bit greyscale, deflate, adaptive filter method, not interlaced), one IDAT, IEND; every CRC right.
  const parts = chunks(lean);
  assert.deepEqual(
    parts.map((c) => c.type),
    ['IHDR', 'IDAT', 'IEND'],
    label,
  );
  for (const c of parts) assert.equal(c.crc, zlib.crc32(c.covered), `${label}: ${c.type} CRC`);
  const ihdr = parts[0]!.data;
  assert.deepEqual([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ...ihdr.subarray(8)], [grid.width, grid.height, 8, 0, 0, 0, 0], `${label}: IHDR`);
  const rows = zlib.inflateSync(parts[1]!.data);
  assert.equal(rows.length, (grid.width + 1) * grid.height, `${label}: filter byte + row per scanline`);
  for (let y = 0; y < grid.height; y++) {
    const row = rows.subarray(y * (grid.width + 1), (y + 1) * (grid.width + 1));
    assert.equal(row[0], 0, `${label}: row ${y} filter None`);
    sameBytes(row.subarray(1), grid.data.subarray(y * grid.width, (y + 1) * grid.width), `${label}: row ${y}`);
  }

  // Pixels: byte-identical to sharp's PNG (and to the grid) once decoded by sharp, and by pngjs (which checks CRCs itself).
  const [ours, theirs] = await Promise.all([decode(lean), decode(reference)]);
  sameBytes(ours.rgb, theirs.rgb, `${label}: same pixels as sharp's PNG, decoded by sharp`);
  sameBytes(ours.grey, theirs.grey, `${label}: same grey channel as sharp's PNG`);
  sameBytes(ours.grey, grid.data, `${label}: the grid's pixels`);
  for (const { rgbInfo, greyInfo } of [ours, theirs]) {
    assert.deepEqual([rgbInfo.width, rgbInfo.height, rgbInfo.channels], [grid.width, grid.height, 3], label);
    assert.deepEqual([greyInfo.width, greyInfo.height, greyInfo.channels], [grid.width, grid.height, 1], label);
  }
  const described = (m: Metadata) => [m.format, m.width, m.height, m.channels, m.space, m.depth, m.bitsPerSample, m.isPalette, m.hasAlpha, m.isProgressive];
  assert.deepEqual(described(ours.metadata), described(theirs.metadata), `${label}: sharp describes both alike`);
  assert.deepEqual(described(ours.metadata), ['png', grid.width, grid.height, 1, 'b-w', 'uchar', 8, false, false, false], label);
  const png = PNG.sync.read(lean);
  assert.deepEqual([png.width, png.height, png.colorType, png.depth], [grid.width, grid.height, 0, 8], label);
  for (let i = 0; i < grid.data.length; i++) if (png.data[4 * i] !== grid.data[i]) assert.fail(`${label}: pngjs pixel ${i}`);
}

test('the lean PNG has the same pixels as sharp for generated grids (n, padding, cols, seeds and models varied)', async () => {
  const cases = [
    { n: 1, padding: 2, seed: 0 },
    { n: 1, padding: 0, seed: 11, cols: 1 },
    { n: 4, padding: 2, seed: 1 },
    { n: 4, padding: 0, seed: 2, cols: 4 },
    { n: 16, padding: 2, seed: 3 },
    { n: 16, padding: 0, seed: 4, cols: 3 },
    { n: 16, padding: 2, seed: 4294967295, cols: 16 },
    { n: 37, padding: 2, seed: 42 },
    { n: 37, padding: 0, seed: 7, cols: 5 },
    { n: 37, padding: 2, seed: 8, cols: 37 },
  ];
  for (const model of models.keys()) {
    for (const { n, padding, seed, cols } of cases) {
      const { pixels, height, width } = await digits(model, seed, n);
      await checkAgainstSharp(
        layoutGrid(pixels, n, height, width, { padding, cols }),
        `${model} n=${n} padding=${padding} cols=${cols ?? 'auto'} seed=${seed}`,
      );
    }
  }
});

test('the lean PNG has the same pixels as sharp for every grey level, flat images, NaN and out-of-range values', async () => {
  const gradient = Float32Array.from({ length: 4 * 16 * 16 }, (_, i) => ((i * 37) % 256) / 127.5 - 1);
  await checkAgainstSharp(layoutGrid(gradient, 4, 16, 16, { padding: 1, background: 200 }), 'every grey level');
  await checkAgainstSharp(layoutGrid(new Float32Array(28 * 28).fill(-1), 1, 28, 28, { padding: 0 }), 'all black');
  await checkAgainstSharp(layoutGrid(new Float32Array(28 * 28).fill(1), 1, 28, 28, { padding: 0 }), 'all white');
  const odd = Float32Array.from({ length: 3 * 5 * 7 }, (_, i) => [Number.NaN, -3, 3, Number.POSITIVE_INFINITY, 0.25][i % 5]!);
  await checkAgainstSharp(layoutGrid(odd, 3, 5, 7, { padding: 0, cols: 2 }), 'NaN, out of range, odd sizes');
  await checkAgainstSharp({ width: 1, height: 1, data: new Uint8Array([128]) }, '1x1');
});

test('the lean PNG is deterministic, in an ArrayBuffer of its own (a generator thread transfers it)', async () => {
  const { pixels, height, width } = await digits('dcgan-x1', 5, 16);
  const grid = layoutGrid(pixels, 16, height, width, {});
  const a = encodeGrayPng(grid);
  const b = encodeGrayPng(layoutGrid(pixels, 16, height, width, {}));
  sameBytes(a, b, 'two encodes');
  assert.notEqual(a.buffer, b.buffer);
  assert.equal(a.byteOffset, 0);
  assert.equal(a.buffer.byteLength, a.byteLength);
  const small = encodeGrayPng({ width: 2, height: 2, data: new Uint8Array(4) });
  assert.equal(small.buffer.byteLength, small.byteLength, 'not a slice of the shared pool, even when tiny');
  assert.throws(() => encodeGrayPng({ width: 3, height: 2, data: new Uint8Array(5) }), RangeError);
});

test('the Sub and Up filters and other levels (measured by bench png) decode to the same pixels', async () => {
  const { pixels, height, width } = await digits('dense', 9, 9);
  const grid = layoutGrid(pixels, 9, height, width, { padding: 1 });
  for (const filter of ['none', 'sub', 'up'] as PngFilter[]) {
    for (const level of [1, 6, 9]) {
      const png = encodeGrayPng(grid, { filter, level, strategy: zlib.constants.Z_DEFAULT_STRATEGY });
      const rows = zlib.inflateSync(chunks(png)[1]!.data);
      assert.equal(rows[0], { none: 0, sub: 1, up: 2 }[filter]);
      sameBytes((await decode(png)).grey, grid.data, `${filter} level ${level}`);
    }
  }
});

test('the table CRC-32 (for Node before 20.15) equals zlib.crc32, also when continued', () => {
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) & 0xff));
  assert.equal(tableCrc32(new Uint8Array(0)), 0);
  assert.equal(tableCrc32(Buffer.from('IEND', 'latin1')), 0xae426082);
  assert.equal(tableCrc32(data), zlib.crc32(data));
  assert.equal(tableCrc32(data.subarray(400), tableCrc32(data.subarray(0, 400))), zlib.crc32(data));
});

test('renderGridPng: the lean PNG for unscaled grids up to the threshold, sharp for scaled and larger ones', async () => {
  assert.equal(usesLeanPng({ width: 512, height: 512, data: new Uint8Array(0) }, {}), true);
  assert.equal(usesLeanPng({ width: 513, height: 512, data: new Uint8Array(0) }, {}), false);
  assert.equal(usesLeanPng({ width: 20, height: 20, data: new Uint8Array(0) }, { scale: 2 }), false);
  assert.equal(LEAN_PNG_MAX_PIXELS, 512 * 512);
  const hasPhys = (png: Buffer): boolean => chunks(png).some((c) => c.type === 'pHYs'); // sharp's PNGs have one, the lean ones not
  const { pixels, height, width } = await digits('dcgan-x1', 3, 256);
  for (const [n, options, lean] of [
    [16, {}, true],
    [256, {}, true], // 482x482
    [4, { scale: 2 }, false],
    [256, { padding: 32 }, false], // 992x992
  ] as const) {
    const p = pixels.subarray(0, n * height * width);
    const png = await renderGridPng(p, n, height, width, options);
    const grid = layoutGrid(p, n, height, width, options);
    assert.equal(hasPhys(png), !lean, `n=${n} ${JSON.stringify(options)}`);
    sameBytes(png, lean ? encodeGrayPng(grid) : await sharpGridPng(grid), `n=${n} ${JSON.stringify(options)}: the chosen encoder's bytes`);
    sameBytes((await decode(png)).grey, grid.data, `n=${n} ${JSON.stringify(options)}`);
  }
});
