import { PNG } from 'pngjs';
import { layoutGrid, type GridOptions, type GrayImage } from '../../shared/grid.ts';

/** Encodes a greyscale image as an 8-bit greyscale PNG. */
export function encodeGrayPng(image: GrayImage): Buffer {
  return PNG.sync.write(
    { width: image.width, height: image.height, data: Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength) } as PNG,
    { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 },
  );
}

/** A PNG grid of n images (values in [-1, 1], NHWC, one channel), laid out like the server's. */
export function gridPng(pixels: Float32Array, n: number, height: number, width: number, options: GridOptions = {}): Buffer {
  return encodeGrayPng(layoutGrid(pixels, n, height, width, { cols: 4, scale: 2, ...options }));
}
