/**
 * Grid layout of generated digits: platform-free, so the server's PNG and the browser's canvas place and
 * shade every pixel identically.
 */

import { expected } from './expected.ts';

/** Options for {@link layoutGrid}. */
export interface GridOptions {
  /** Columns; default: the smallest count that makes a near-square grid. */
  readonly cols?: number;
  /** Blank pixels between cells and around the border (before scaling). Default 2. */
  readonly padding?: number;
  /** Nearest-neighbour upscaling factor. Default 1. */
  readonly scale?: number;
  /** Grey level of the padding, 0-255. Default 0 (black, like MNIST's background). */
  readonly background?: number;
}

/** A greyscale image, one byte per pixel, row-major. */
export interface GrayImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Columns of a near-square grid of n cells: ceil(sqrt(n)). */
export function defaultColumns(n: number): number {
  return Math.max(1, Math.ceil(Math.sqrt(n)));
}

/** Maps a generator output in [-1, 1] to a grey level 0-255 (the seed's 0.5 * x + 0.5, then x 255). */
export function toGray(x: number): number {
  const v = Math.round((x * 0.5 + 0.5) * 255);
  // NaN maps to 0 so a broken model shows black cells instead of throwing mid-response.
  return v >= 0 ? Math.min(v, 255) : 0;
}

/**
 * Lays out n images of size height x width (values in [-1, 1], row-major, NHWC with one channel) as a
 * grid and returns its grey pixels.
 */
export function layoutGrid(pixels: ArrayLike<number>, n: number, height: number, width: number, options: GridOptions = {}): GrayImage {
  if (pixels.length !== n * height * width) {
    throw expected(`${n * height * width} pixels`, `${n} images of ${height}x${width}`, pixels.length);
  }
  const cols = Math.min(options.cols ?? defaultColumns(n), n);
  const rows = Math.ceil(n / cols);
  const pad = options.padding ?? 2;
  const scale = options.scale ?? 1;
  const cellW = width * scale;
  const cellH = height * scale;
  const outW = cols * cellW + (cols + 1) * pad;
  const outH = rows * cellH + (rows + 1) * pad;
  const data = new Uint8Array(outW * outH).fill(options.background ?? 0);
  for (let k = 0; k < n; k++) {
    const x0 = pad + (k % cols) * (cellW + pad);
    const y0 = pad + Math.floor(k / cols) * (cellH + pad);
    const base = k * height * width;
    for (let y = 0; y < cellH; y++) {
      const src = base + Math.floor(y / scale) * width;
      const dst = (y0 + y) * outW + x0;
      for (let x = 0; x < cellW; x++) data[dst + x] = toGray(pixels[src + Math.floor(x / scale)]!);
    }
  }
  return { width: outW, height: outH, data };
}
