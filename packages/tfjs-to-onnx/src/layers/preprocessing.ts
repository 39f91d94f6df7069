import { DataType, type GraphBuilder, int } from '../graph-builder.ts';
import { type LayerContext, type LayerConverter, only, physicalAxis, plain, same, type TensorRef, unsupported } from './context.ts';

/** Rescaling: x * scale + offset in float32 (a scale or offset list applies per channel, last axis). */
export const rescaling: LayerConverter = (ctx, inputs) => {
  const { g } = ctx;
  let x = only(inputs, ctx);
  const scale = ctx.config.scale;
  const offset = ctx.config.offset ?? 0;
  const perChannel = Array.isArray(scale) || Array.isArray(offset);
  if (perChannel) x = ctx.channelsLast(x);
  const constant = (v: unknown, name: string): string =>
    Array.isArray(v) ? g.floats(`${ctx.layer.name}/${name}`, v.map(Number), [v.length]) : g.scalar(Number(v));
  const input = x.dtype === 'float32' ? x.name : g.op('Cast', [x.name], { to: int(DataType.FLOAT) });
  const y = g.op('Add', [g.op('Mul', [input, constant(scale, 'scale')]), constant(offset, 'offset')], {}, ctx.layer.name);
  return [{ ...same(x, y, ctx.outputShapes[0]!), dtype: 'float32' }];
};

/** Picks rows (axis `axis`) by constant indices; zeroes the positions marked invalid. */
function gatherAxis(g: GraphBuilder, x: string, axis: number, indices: number[]): string {
  return g.op('Gather', [x, g.int64Const(indices)], { axis: int(axis) });
}

/** Multiplies by a 0/1 pattern along two physical axes (tfjs' extrapolation value 0). */
function zeroOutside(g: GraphBuilder, x: string, rank: number, hAxis: number, wAxis: number, rows: boolean[], cols: boolean[]): string {
  if (rows.every(Boolean) && cols.every(Boolean)) return x;
  const dims = new Array<number>(rank).fill(1);
  dims[hAxis] = rows.length;
  dims[wAxis] = cols.length;
  const values: number[] = [];
  // Row-major over the physical axes: h before w when hAxis < wAxis.
  const outer = hAxis < wAxis ? rows : cols;
  const inner = hAxis < wAxis ? cols : rows;
  for (const a of outer) for (const b of inner) values.push(a && b ? 1 : 0);
  return g.op('Mul', [x, g.floats('crop_valid', values, dims)]);
}

/** The tfjs index math of one axis of a bilinear or nearest resize (tfjs-backend-cpu, halfPixelCenters false). */
export function resizeAxis(
  oldSize: number,
  newSize: number,
  alignCorners: boolean,
): { floor: number[]; ceil: number[]; frac: number[]; nearest: number[]; nearestAligned: number[] } {
  const effIn = alignCorners && newSize > 1 ? oldSize - 1 : oldSize;
  const effOut = alignCorners && newSize > 1 ? newSize - 1 : newSize;
  const ratio = effIn / effOut;
  const floor: number[] = [];
  const ceil: number[] = [];
  const frac: number[] = [];
  const nearest: number[] = [];
  const nearestAligned: number[] = [];
  for (let i = 0; i < newSize; i++) {
    const src = ratio * i;
    const f = Math.floor(src);
    floor.push(f);
    ceil.push(Math.min(oldSize - 1, Math.ceil(src)));
    frac.push(src - f);
    nearest.push(Math.min(oldSize - 1, Math.floor(src)));
    nearestAligned.push(Math.min(oldSize - 1, Math.round(src)));
  }
  return { floor, ceil, frac, nearest, nearestAligned };
}

/**
 * Resizes the height and width axes exactly as tfjs' CPU kernels do, with constant gathers (and a
 * linear blend for bilinear): no float rounding of scales can pick a different source pixel.
 */
function resizeExact(ctx: LayerContext, x: TensorRef, height: number, width: number, mode: 'bilinear' | 'nearest', alignCorners: boolean): string {
  const { g } = ctx;
  const [, h, w] = x.shape;
  if (typeof h !== 'number' || typeof w !== 'number') throw unsupported(ctx.layer, 'input shape', x.shape, 'static height and width');
  const hAxis = physicalAxis(x, 1);
  const wAxis = physicalAxis(x, 2);
  const rank = x.shape.length;
  const rows = resizeAxis(h, height, alignCorners);
  const cols = resizeAxis(w, width, alignCorners);
  if (mode === 'nearest') {
    const pick = (a: ReturnType<typeof resizeAxis>) => (alignCorners ? a.nearestAligned : a.nearest);
    return gatherAxis(g, gatherAxis(g, x.name, hAxis, pick(rows)), wAxis, pick(cols));
  }
  const weight = (values: number[], axis: number): string => {
    const dims = new Array<number>(rank).fill(1);
    dims[axis] = values.length;
    return g.floats('resize_frac', values, dims);
  };
  const lerp = (a: string, b: string, t: string): string => g.op('Add', [a, g.op('Mul', [g.op('Sub', [b, a]), t])]);
  // Columns first, then rows, as tfjs interpolates (top and bottom rows, then between them).
  const topRows = gatherAxis(g, x.name, hAxis, rows.floor);
  const bottomRows = gatherAxis(g, x.name, hAxis, rows.ceil);
  const colT = weight(cols.frac, wAxis);
  const top = lerp(gatherAxis(g, topRows, wAxis, cols.floor), gatherAxis(g, topRows, wAxis, cols.ceil), colT);
  const bottom = lerp(gatherAxis(g, bottomRows, wAxis, cols.floor), gatherAxis(g, bottomRows, wAxis, cols.ceil), colT);
  return lerp(top, bottom, weight(rows.frac, hAxis));
}

/** Resizing: tfjs resizes with alignCorners = !cropToAspectRatio (and does not crop). */
export const resizing: LayerConverter = (ctx, inputs) => {
  const x = only(inputs, ctx);
  if (x.shape.length !== 4) throw unsupported(ctx.layer, 'input rank', x.shape.length, '4 ([batch, height, width, channels])');
  const height = Number(ctx.config.height);
  const width = Number(ctx.config.width);
  const mode = (ctx.config.interpolation ?? 'bilinear') as string;
  if (mode !== 'bilinear' && mode !== 'nearest') throw unsupported(ctx.layer, 'interpolation', mode, "'bilinear' or 'nearest'");
  const y = resizeExact(ctx, x, height, width, mode, !ctx.config.cropToAspectRatio);
  // tfjs' own output shape for this layer drops the batch axis; the real one keeps it.
  return [{ ...x, name: y, shape: [x.shape[0]!, height, width, x.shape[3]!], dtype: 'float32' }];
};

/**
 * CenterCrop as tfjs computes it: cropAndResize with nearest sampling over the centred box (so the
 * rows and columns it keeps follow tfjs' arithmetic, including its one-column shift when the width
 * differs by one), or a bilinear upsize when the crop is larger than the input.
 */
export const centerCrop: LayerConverter = (ctx, inputs) => {
  const { g } = ctx;
  const x = only(inputs, ctx);
  if (x.shape.length !== 4) throw unsupported(ctx.layer, 'input rank', x.shape.length, '4 ([batch, height, width, channels])');
  const [, inH, inW] = x.shape;
  if (typeof inH !== 'number' || typeof inW !== 'number') throw unsupported(ctx.layer, 'input shape', x.shape, 'static height and width');
  const height = Number(ctx.config.height);
  const width = Number(ctx.config.width);
  const hBuffer = inH !== height ? Math.floor((inH - height) / 2) : 0;
  let wBuffer = 0;
  if (inW !== width) {
    wBuffer = Math.floor((inW - width) / 2);
    if (wBuffer === 0) wBuffer = 1;
  }
  const shape = [x.shape[0]!, height, width, x.shape[3]!];
  if (!(hBuffer >= 0 && wBuffer >= 0)) {
    return [{ ...x, name: resizeExact(ctx, x, height, width, 'bilinear', false), shape }];
  }
  // The box tfjs builds, as float32 values, then its kernel's double arithmetic.
  const f = Math.fround;
  const axis = (start: number, crop: number, size: number): { index: number[]; valid: boolean[] } => {
    const a = f(start / size);
    const b = f((crop + start) / size);
    const scale = crop > 1 ? ((b - a) * (size - 1)) / (crop - 1) : 0;
    const index: number[] = [];
    const valid: boolean[] = [];
    for (let i = 0; i < crop; i++) {
      const pos = crop > 1 ? a * (size - 1) + i * scale : 0.5 * (a + b) * (size - 1);
      const ok = pos >= 0 && pos <= size - 1;
      valid.push(ok);
      index.push(ok ? Math.round(pos) : 0);
    }
    return { index, valid };
  };
  const rows = axis(hBuffer, height, inH);
  const cols = axis(wBuffer, width, inW);
  const hAxis = physicalAxis(x, 1);
  const wAxis = physicalAxis(x, 2);
  const picked = gatherAxis(g, gatherAxis(g, x.name, hAxis, rows.index), wAxis, cols.index);
  return [{ ...x, name: zeroOutside(g, picked, 4, hAxis, wAxis, rows.valid, cols.valid), shape }];
};

/** CategoryEncoding (oneHot, multiHot, count) by comparing ids with 0..numTokens-1. */
export const categoryEncoding: LayerConverter = (ctx, inputs) => {
  const { g, config, layer } = ctx;
  const x = ctx.channelsLast(only(inputs, ctx));
  const mode = String(config.outputMode ?? 'multiHot');
  const ids = x.dtype === 'int32' ? x.name : g.op('Cast', [x.name], { to: int(DataType.INT32) });
  if (mode === 'int') return [plain(ids, ctx.outputShapes[0]!, 'int32')];
  if (mode === 'tfIdf') throw unsupported(layer, 'outputMode', mode, "'oneHot', 'multiHot', 'count' or 'int' (tfIdf needs weights passed to each call)");
  if (!['oneHot', 'multiHot', 'count'].includes(mode)) throw unsupported(layer, 'outputMode', mode, "'oneHot', 'multiHot', 'count' or 'int'");
  const n = Number(config.numTokens);
  let v = ids;
  if (x.shape.length === 1) v = g.unsqueeze(v, [1]);
  else if (x.shape.length !== 2) throw unsupported(layer, 'input rank', x.shape.length, '1 or 2');
  const tokens = g.int32Const(
    Array.from({ length: n }, (_, i) => i),
    [n],
  );
  const hits = g.op('Cast', [g.op('Equal', [g.unsqueeze(v, [2]), tokens])], { to: int(DataType.FLOAT) });
  const y = g.reduce(mode === 'count' ? 'ReduceSum' : 'ReduceMax', hits, [1], false, layer.name);
  return [plain(y, [x.shape[0]!, n])];
};
