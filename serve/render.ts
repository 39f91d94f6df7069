import sharp from 'sharp';
import { layoutGrid, type GrayImage, type GridOptions } from '../shared/grid.ts';
import { encodeGrayPng, LEAN_PNG_MAX_PIXELS } from './png.ts';

/**
 * Tunes sharp for many small, all-different images: libvips' operation cache only costs memory, and one
 * libvips thread per image avoids thread hand-offs (the libuv pool already encodes several at once).
 */
export function configureSharp(): void {
  sharp.cache(false);
  sharp.concurrency(1);
}

/**
 * Renders generator outputs ([n, h, w, 1] in [-1, 1]) as a greyscale PNG grid: an unscaled grid of at most
 * {@link LEAN_PNG_MAX_PIXELS} with the lean encoder (`png.ts`, on this thread: sharp's per-image overhead
 * dominates such small images), any other with sharp. Both give the same pixels.
 */
export async function renderGridPng(pixels: Float32Array, n: number, height: number, width: number, options: GridOptions): Promise<Buffer> {
  const grid = layoutGrid(pixels, n, height, width, options);
  return usesLeanPng(grid, options) ? encodeGrayPng(grid) : sharpGridPng(grid);
}

/** Whether {@link renderGridPng} encodes `grid` itself rather than with sharp. */
export function usesLeanPng(grid: GrayImage, options: GridOptions): boolean {
  // Z_RLE cannot see the repeated rows of a scaled grid (2x the bytes of level 6 at scale 2): sharp keeps those.
  return (options.scale ?? 1) === 1 && grid.width * grid.height <= LEAN_PNG_MAX_PIXELS;
}

/** sharp's PNG settings that `bench png` compares. */
export interface SharpPngSettings {
  readonly compressionLevel?: number;
  readonly adaptiveFiltering?: boolean;
  readonly palette?: boolean;
}

/**
 * A greyscale image as a PNG encoded by sharp, by default as the server does (libpng: no filter, zlib level
 * 6, which are also sharp's defaults).
 */
export function sharpGridPng(grid: GrayImage, settings: SharpPngSettings = { compressionLevel: 6, adaptiveFiltering: false }): Promise<Buffer> {
  return sharp(Buffer.from(grid.data.buffer, grid.data.byteOffset, grid.data.byteLength), {
    raw: { width: grid.width, height: grid.height, channels: 1 },
  })
    .toColourspace('b-w')
    .png(settings)
    .toBuffer();
}

/**
 * Renders frames ([frames, h, w, 1] in [-1, 1]) as an animated GIF or WebP with sharp: the frames are
 * stacked into one tall greyscale image whose page height is one frame.
 */
export async function renderAnimation(
  pixels: Float32Array,
  frames: number,
  height: number,
  width: number,
  options: { scale: number; delay: number; format: 'gif' | 'webp' },
): Promise<Buffer> {
  const strip = layoutGrid(pixels, frames, height, width, { cols: 1, padding: 0, scale: options.scale });
  const input = sharp(Buffer.from(strip.data.buffer, strip.data.byteOffset, strip.data.byteLength), {
    raw: { width: strip.width, height: strip.height, channels: 1, pageHeight: strip.height / frames },
  });
  const animation = { loop: 0, delay: new Array<number>(frames).fill(options.delay) };
  return options.format === 'gif' ? input.gif({ ...animation, effort: 1 }).toBuffer() : input.webp({ ...animation, lossless: true }).toBuffer();
}
