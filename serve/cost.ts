import { HttpError } from './errors.ts';

/**
 * What one request may cost: the output pixels it makes the server lay out and encode, and the images
 * it makes the generator draw. Both are checked before any work; over the ceiling is a 400 naming the
 * parameter to lower.
 */
export interface CostLimits {
  /** Most output pixels of one response (a grid, or all frames of an animation). */
  readonly maxPixels: number;
  /** Most images one request may generate. */
  readonly maxImages: number;
}

/** The documented defaults: 4 Mpx (a 2048x2048 image; 256 digits at scale 4 is 1.3 Mpx) and 256 images. */
export const DEFAULT_COST_LIMITS: CostLimits = { maxPixels: 4 * 2 ** 20, maxImages: 256 };

/** Width and height of a grid of n cells, as `layoutGrid` lays it out. */
export function gridSize(n: number, cols: number, cellHeight: number, cellWidth: number, scale: number, padding: number): { width: number; height: number } {
  const c = Math.min(cols, n);
  const rows = Math.ceil(n / c);
  return { width: c * cellWidth * scale + (c + 1) * padding, height: rows * cellHeight * scale + (rows + 1) * padding };
}

/**
 * Throws a 400 when `pixels` (the response's output pixels) exceed the ceiling, naming the parameter
 * that adds most to them: `scale`, then `padding`, then `n` or `steps`.
 */
export function checkPixels(limits: CostLimits, pixels: number, q: { scale?: number; padding?: number }, countParam: 'n' | 'steps', count: number): void {
  if (pixels <= limits.maxPixels) return;
  const [parameter, received] = (q.scale ?? 1) > 1 ? ['scale', q.scale] : (q.padding ?? 0) > 2 ? ['padding', q.padding] : [countParam, count];
  throw new HttpError(
    400,
    `Expected at most ${limits.maxPixels} output pixels per response but this request makes ${pixels}: lower ${parameter} (received ${received})`,
    parameter,
    `a value that keeps the response within ${limits.maxPixels} output pixels`,
    String(received),
  );
}
