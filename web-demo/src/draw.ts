/// <reference lib="dom" />
import { layoutGrid } from '../../shared/grid.ts';

/** Draws `n` generator images (values in [-1, 1], row-major [n, h, w]) on `canvas` as a grid, in grey. */
export function drawGrid(canvas: HTMLCanvasElement, pixels: ArrayLike<number>, n: number, h: number, w: number, cols: number, padding: number): void {
  const grid = layoutGrid(pixels, n, h, w, { cols, padding });
  if (canvas.width !== grid.width) canvas.width = grid.width;
  if (canvas.height !== grid.height) canvas.height = grid.height;
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

/** Saves the canvas as a PNG file named `filename` through a download link. */
export async function downloadPng(canvas: HTMLCanvasElement, filename: string): Promise<void> {
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('the browser could not encode the grid as PNG');
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement('a'), { href: url, download: filename });
  a.click();
  // After the click has started the download.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
