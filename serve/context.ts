import { defaultColumns } from '../shared/grid.ts';
import { isConditional } from '../shared/generator.ts';
import { sampleLatents } from '../shared/prng.ts';
import type { Batcher } from './batcher.ts';
import { HttpError } from './errors.ts';
import type { ByteLru } from './lru.ts';
import type { LoadedModel } from './registry.ts';
import { renderGridPng } from './render.ts';

/** What every route of the app shares: the loaded models, their batchers and the PNG cache. */
export interface ServeContext {
  readonly models: ReadonlyMap<string, LoadedModel>;
  readonly defaultModel: string;
  /** The model a digit request without a model name goes to (null: no conditional model loaded). */
  readonly defaultConditional: string | null;
  readonly batchers: ReadonlyMap<string, Batcher>;
  readonly cache: ByteLru<Buffer>;
  readonly randomSeed: () => number;
  readonly provider: string;
  readonly problems: ReadonlyArray<{ readonly name: string; readonly reason: string }>;
}

/** The layout of a /sample grid, with defaults applied. */
export interface GridLayout {
  readonly n: number;
  readonly cols: number;
  readonly scale: number;
  readonly padding: number;
}

/** The grid options of a /sample request, with defaults applied. */
export function gridLayout(q: { n?: number; cols?: number; scale?: number; padding?: number }): GridLayout {
  const n = q.n ?? 16;
  return { n, cols: Math.min(q.cols ?? defaultColumns(n), n), scale: q.scale ?? 1, padding: q.padding ?? 2 };
}

/** The model a request names (or the default; the conditional default for a digit), or a 404 naming the available ones. */
export function modelFor(ctx: ServeContext, requested: string | undefined, digit?: string): LoadedModel {
  const name = requested ?? (digit !== undefined && ctx.defaultConditional !== null ? ctx.defaultConditional : ctx.defaultModel);
  const model = ctx.models.get(name);
  if (!model) {
    const available = [...ctx.models.keys()].join(', ');
    throw new HttpError(404, `Unknown model '${name}' (available: ${available})`, 'model', `one of ${available}`, name);
  }
  if (digit !== undefined && !isConditional(model.manifest)) {
    const conditional = [...ctx.models.values()].filter((m) => isConditional(m.manifest)).map((m) => m.manifest.name);
    throw new HttpError(
      400,
      `Model '${name}' is not conditional: digit needs one of ${conditional.join(', ') || '(no conditional model loaded)'}`,
      'digit',
      'a conditional model',
      digit,
    );
  }
  return model;
}

/** Generates the images of a latent matrix (and labels) on a model's batcher. */
export function generate(ctx: ServeContext, model: LoadedModel, latents: Float32Array, n: number, labels: Int32Array | null): Promise<Float32Array> {
  return ctx.batchers.get(model.manifest.name)!.generate(latents, n, labels);
}

/** Renders a grid for a model and a seed (and digit labels for conditional models) as PNG bytes. */
export async function renderGrid(ctx: ServeContext, model: LoadedModel, seed: number, grid: GridLayout, labels: Int32Array | null = null): Promise<Buffer> {
  const images = await generate(ctx, model, sampleLatents(seed, grid.n, model.manifest.latentDim), grid.n, labels);
  return renderGridPng(images, grid.n, model.height, model.width, { cols: grid.cols, scale: grid.scale, padding: grid.padding });
}

/** Most digits one grid may hold. */
export const MAX_DIGITS = 256;

/**
 * The labels and layout of a digit request: one digit for every cell, or (a range such as `0-9`) one
 * row per digit with n digits each.
 */
export function digitGrid(
  digit: string,
  n: number | undefined,
  q: { cols?: number; scale?: number; padding?: number },
): { labels: Int32Array; grid: GridLayout } {
  const first = Number(digit[0]);
  const last = Number(digit.at(-1));
  if (first === last) {
    const grid = gridLayout({ ...q, n });
    return { labels: new Int32Array(grid.n).fill(first), grid };
  }
  const rows = last - first + 1;
  const perRow = n ?? 16;
  if (perRow * rows > MAX_DIGITS) {
    throw new HttpError(
      400,
      `Expected at most ${MAX_DIGITS} digits but n=${perRow} per row for digits ${digit} makes ${perRow * rows}`,
      'n',
      `integer between 1 and ${Math.floor(MAX_DIGITS / rows)} with digit=${digit}`,
      String(perRow),
    );
  }
  return {
    labels: Int32Array.from({ length: perRow * rows }, (_, i) => first + Math.floor(i / perRow)),
    grid: { ...gridLayout({ ...q, n: perRow * rows }), cols: perRow },
  };
}
