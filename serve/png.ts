import * as zlib from 'node:zlib';
import type { GrayImage } from '../shared/grid.ts';

/**
 * A lean PNG encoder for small 8-bit greyscale images: signature, IHDR, one IDAT (node:zlib's deflate of
 * the filtered rows) and IEND, built in one buffer on the calling thread. For a 122x122 grid
 * (`/sample?n=16`) sharp spends most of its ~0.5 ms of CPU per call in libvips' per-image set-up, not in
 * deflate, so the server encodes unscaled grids up to {@link LEAN_PNG_MAX_PIXELS} here and everything
 * else with sharp (`serve/render.ts`). Same pixels as sharp's PNG, other bytes: one IDAT, and no pHYs
 * chunk (sharp writes libvips' default of 1000 px/m, not a real resolution).
 */

/**
 * The largest image (output pixels) encoded here: 512x512, so every unscaled grid with the default columns
 * and padding (n=256 is 482x482), and a bounded stretch of synchronous work on the generator thread (about 1 ms).
 */
export const LEAN_PNG_MAX_PIXELS = 512 * 512;

/** A PNG scanline filter (one for every row; `sub` and `up` as in the PNG specification, 1 byte per pixel). */
export type PngFilter = 'none' | 'sub' | 'up';

/** Options of {@link encodeGrayPng}; the defaults are the server's and fix its bytes. */
export interface LeanPngOptions {
  /** zlib level, 0-9. */
  readonly level?: number;
  readonly filter?: PngFilter;
  /** zlib strategy (`zlib.constants.Z_*`). */
  readonly strategy?: number;
}

// Filter None + Z_RLE, fixed so a grid always gives the same bytes: digit grids are runs of grey, the smallest PNGs at level-1 CPU (README Design).
// Z_RLE ignores the level (any above 0 gives the same bytes).
const DEFAULT_LEVEL = 6;
const DEFAULT_FILTER: PngFilter = 'none';
const DEFAULT_STRATEGY = zlib.constants.Z_RLE;
const FILTER_TYPE: Record<PngFilter, number> = { none: 0, sub: 1, up: 2 };

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO 3309, as PNG and zlib use it) from a 256-entry table: for Node before 20.15, which has no `zlib.crc32`. */
export function tableCrc32(data: Uint8Array, value = 0): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const crc32: (data: Uint8Array, value?: number) => number = typeof zlib.crc32 === 'function' ? zlib.crc32 : tableCrc32;

/** The rows of `image`, each preceded by its filter type byte, as the IDAT's zlib stream holds them. */
export function filterRows(image: GrayImage, filter: PngFilter): Uint8Array {
  const { width, height, data } = image;
  const stride = width + 1;
  const out = new Uint8Array(stride * height);
  const type = FILTER_TYPE[filter];
  for (let y = 0; y < height; y++) {
    const src = y * width;
    const dst = y * stride;
    out[dst] = type;
    if (filter === 'none') {
      out.set(data.subarray(src, src + width), dst + 1);
    } else if (filter === 'sub') {
      out[dst + 1] = data[src]!;
      for (let x = 1; x < width; x++) out[dst + 1 + x] = data[src + x]! - data[src + x - 1]!;
    } else {
      // The row above the first is zeros.
      for (let x = 0; x < width; x++) out[dst + 1 + x] = data[src + x]! - (y > 0 ? data[src - width + x]! : 0);
    }
  }
  return out;
}

/** Writes one chunk (length, type, data, CRC-32 of type and data) at `offset`; returns the offset after it. */
function writeChunk(out: Buffer, offset: number, type: string, data: Uint8Array): number {
  out.writeUInt32BE(data.length, offset);
  out.write(type, offset + 4, 'latin1');
  out.set(data, offset + 8);
  const crc = crc32(out.subarray(offset + 4, offset + 8 + data.length));
  out.writeUInt32BE(crc, offset + 8 + data.length);
  return offset + 12 + data.length;
}

/** Encodes a greyscale image as an 8-bit greyscale, non-interlaced PNG; the same image and options always give the same bytes. */
export function encodeGrayPng(image: GrayImage, options: LeanPngOptions = {}): Buffer {
  const { width, height } = image;
  if (width < 1 || height < 1 || image.data.length !== width * height) {
    throw new RangeError(`a ${width}x${height} greyscale image needs ${width * height} bytes, not ${image.data.length}`);
  }
  const idat = zlib.deflateSync(filterRows(image, options.filter ?? DEFAULT_FILTER), {
    level: options.level ?? DEFAULT_LEVEL,
    strategy: options.strategy ?? DEFAULT_STRATEGY,
  });
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // colour type: greyscale
  // compression method, filter method and interlace method: 0
  // Its own ArrayBuffer (never the shared pool's, which allocUnsafe uses below 4 KiB): a generator thread
  // transfers it to the main thread. Every byte is written below.
  const out = Buffer.allocUnsafeSlow(SIGNATURE.length + 12 + ihdr.length + 12 + idat.length + 12);
  out.set(SIGNATURE, 0);
  let offset = writeChunk(out, SIGNATURE.length, 'IHDR', ihdr);
  offset = writeChunk(out, offset, 'IDAT', idat);
  writeChunk(out, offset, 'IEND', new Uint8Array(0));
  return out;
}
