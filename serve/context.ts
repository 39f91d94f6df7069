import { defaultColumns } from '../shared/grid.ts';
import type { ServerState } from './admin/shared-state.ts';
import { isConditional } from '../shared/generator.ts';
import { type CostLimits, checkPixels, gridSize } from './cost.ts';
import { HttpError } from './errors.ts';
import type { JobItem, RenderSpec } from './generation/protocol.ts';
import type { Scheduler } from './generation/scheduler.ts';
import type { ByteLru } from './lru.ts';
import type { Body } from './generation/protocol.ts';
import { DEFAULT_N } from './query.ts';
import type { LoadedModel } from './registry.ts';

/** What every route of the app shares: the loaded models, the generation scheduler and the PNG cache. */
export interface ServeContext {
  readonly models: ReadonlyMap<string, LoadedModel>;
  readonly defaultModel: string;
  /** The model a digit request without a model name goes to (null: no conditional model loaded). */
  readonly defaultConditional: string | null;
  readonly scheduler: Scheduler;
  readonly cache: ByteLru<Body>;
  readonly limits: CostLimits;
  readonly randomSeed: () => number;
  readonly provider: string;
  readonly problems: ReadonlyArray<{ readonly name: string; readonly reason: string }>;
  /** Ready, draining and the request counters, in shared memory (/readyz; the admin thread reads it too). */
  readonly state: ServerState;
}

/** Hex digits of the sha256 in a pinned model reference (`dcgan@a6f8cfafe389`), as /models advertises it. */
export const PIN_LENGTH = 12;

/** The reference that pins a model's content: `<name>@<sha256 prefix>`. */
export function pinnedName(model: LoadedModel): string {
  return `${model.manifest.name}@${model.manifest.sha256.slice(0, PIN_LENGTH)}`;
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
  const n = q.n ?? DEFAULT_N;
  return { n, cols: Math.min(q.cols ?? defaultColumns(n), n), scale: q.scale ?? 1, padding: q.padding ?? 2 };
}

/** A resolved model parameter: the model, and whether the request pinned its content. */
export interface ModelChoice {
  readonly model: LoadedModel;
  readonly pinned: boolean;
}

/**
 * The model a request names (or the default; the conditional default for a digit). `name@<sha prefix>`
 * pins the content: a prefix that is not the loaded file's is a 404 saying which one is loaded.
 */
export function modelFor(ctx: ServeContext, requested: string | undefined, digit?: string): ModelChoice {
  const [asked, pin] = (requested ?? '').split('@') as [string, string | undefined];
  const name = asked || (digit !== undefined && ctx.defaultConditional !== null ? ctx.defaultConditional : ctx.defaultModel);
  const model = ctx.models.get(name);
  const available = [...ctx.models.keys()].join(', ');
  if (!model) throw new HttpError(404, `Unknown model '${name}' (available: ${available})`, 'model', `one of ${available}`, requested ?? name);
  if (pin !== undefined && !model.manifest.sha256.startsWith(pin)) {
    throw new HttpError(404, `Model '${requested}' is not loaded: ${pinnedName(model)} is`, 'model', pinnedName(model), requested);
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
  return { model, pinned: pin !== undefined };
}

/** Checks a grid against the cost ceiling (before any work). */
export function checkGridCost(ctx: ServeContext, model: LoadedModel, grid: GridLayout, q: { scale?: number; padding?: number }): void {
  const { width, height } = gridSize(grid.n, grid.cols, model.height, model.width, grid.scale, grid.padding);
  checkPixels(ctx.limits, width * height, q, 'n', grid.n);
}

/** Generates and renders one request's body on the scheduler; `signal` (the client leaving) drops queued work. */
export function generate(
  ctx: ServeContext,
  model: LoadedModel,
  latents: JobItem['latents'],
  n: number,
  labels: Int32Array | null,
  render: RenderSpec,
  signal?: AbortSignal,
): Promise<Body> {
  return ctx.scheduler.submit(model.manifest.name, { latents, labels, n, render }, signal);
}

/**
 * The labels and layout of a digit request: one digit for every cell, or (a range such as `0-9`) one
 * row per digit with n digits each.
 */
export function digitGrid(
  ctx: ServeContext,
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
  const perRow = n ?? DEFAULT_N;
  const max = ctx.limits.maxImages;
  if (perRow * rows > max) {
    throw new HttpError(
      400,
      `Expected at most ${max} digits but n=${perRow} per row for digits ${digit} makes ${perRow * rows}`,
      'n',
      `integer between 1 and ${Math.floor(max / rows)} with digit=${digit}`,
      String(perRow),
    );
  }
  return {
    labels: Int32Array.from({ length: perRow * rows }, (_, i) => first + Math.floor(i / perRow)),
    grid: { ...gridLayout({ ...q, n: perRow * rows }), cols: perRow },
  };
}
