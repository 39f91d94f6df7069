import { int } from '../graph-builder.ts';
import { type LayerContext, type LayerConverter, type Mask, physicalAxis, range, type TensorRef, unsupported } from './context.ts';

/** One layout for all inputs: channels-first only when every input already is. */
function commonLayout(ctx: LayerContext, inputs: TensorRef[]): TensorRef[] {
  const allFirst = inputs.every((t) => t.layout === 'nchw');
  return allFirst ? inputs : inputs.map(ctx.channelsLast);
}

/** tfjs' mask of an elementwise merge is its first input's mask with a new leading axis: not expressible. */
function mergeMask(inputs: TensorRef[]): Mask | undefined {
  return inputs.some((t) => t.mask)
    ? { unsupported: 'a mask through Add, Multiply, Average, Maximum, Minimum or Dot (tfjs-layers gives it an extra leading axis)' }
    : undefined;
}

/**
 * Elementwise merges. Inputs of lower rank get size-1 axes inserted after the batch, as tfjs does,
 * and then broadcast like tfjs (numpy rules, which ONNX shares).
 */
export const merge =
  (kind: 'Add' | 'Mul' | 'Average' | 'Max' | 'Min'): LayerConverter =>
  (ctx, inputs) => {
    if (inputs.length < 2) throw unsupported(ctx.layer, 'input count', inputs.length, 'at least 2');
    const { g } = ctx;
    const maxRank = Math.max(...inputs.map((t) => t.shape.length));
    let xs = commonLayout(ctx, inputs);
    if (xs.some((t) => t.shape.length !== maxRank)) {
      xs = inputs.map(ctx.channelsLast).map((t) => {
        const missing = maxRank - t.shape.length;
        return missing === 0 ? t : { ...t, name: g.unsqueeze(t.name, range(1, 1 + missing)) };
      });
    }
    const names = xs.map((t) => t.name);
    let y: string;
    if (kind === 'Max' || kind === 'Min') {
      y = g.op(kind, names, {}, ctx.layer.name);
    } else {
      const op = kind === 'Mul' ? 'Mul' : 'Add';
      y = names[0]!;
      for (const n of names.slice(1)) y = g.op(op, [y, n], {}, ctx.layer.name);
      if (kind === 'Average') y = g.op('Mul', [y, g.scalar(1 / names.length)], {}, `${ctx.layer.name}/mean`);
    }
    return [{ name: y, shape: ctx.outputShapes[0]!, layout: xs[0]!.layout, dtype: xs[0]!.dtype, mask: mergeMask(inputs) }];
  };

/** Concatenate along any non-batch axis (mapped to where the axis sits in the graph). */
export const concatenate: LayerConverter = (ctx, inputs) => {
  const xs = commonLayout(ctx, inputs);
  const rank = inputs[0]!.shape.length;
  let axis = Number(ctx.config.axis ?? -1);
  if (axis < 0) axis += rank;
  if (axis <= 0 || axis >= rank) throw unsupported(ctx.layer, 'axis', ctx.config.axis, 'a non-batch axis');
  const y = ctx.g.op(
    'Concat',
    xs.map((t) => t.name),
    { axis: int(physicalAxis(xs[0]!, axis)) },
    ctx.layer.name,
  );
  return [{ name: y, shape: ctx.outputShapes[0]!, layout: xs[0]!.layout, dtype: xs[0]!.dtype, mask: concatMask(ctx, inputs, axis) }];
};

/**
 * tfjs' Concatenate mask: the inputs' masks (all-true where missing) concatenated along the axis, then
 * all() over the last axis. For sequences that is the AND of the masks (feature axis) or the masks
 * joined in time (time axis, when every input has one).
 */
function concatMask(ctx: LayerContext, inputs: TensorRef[], axis: number): Mask | undefined {
  const masks = inputs.map((t) => t.mask);
  if (masks.every((m) => !m)) return undefined;
  const bad = masks.find((m): m is { unsupported: string } => m !== undefined && 'unsupported' in m);
  if (bad) return bad;
  const rank = inputs[0]!.shape.length;
  const names = masks.map((m) => (m && 'name' in m ? m.name : null));
  if (rank === 3 && axis === 2) {
    const present = names.filter((n): n is string => n !== null);
    let m = present[0]!;
    for (const n of present.slice(1)) m = ctx.g.op('Mul', [m, n]);
    return { name: m };
  }
  if (rank === 3 && axis === 1 && names.every((n) => n !== null)) return { name: ctx.g.op('Concat', names as string[], { axis: int(1) }) };
  return { unsupported: 'a Concatenate mask other than along the features or the time of sequences' };
}

/**
 * Dot (tfjs' batchDot, inputs of rank 2 or 3): with normalize, each input is first divided by its L2
 * norm along its axis (sqrt of the sum of squares, at least 1e-7 inside the root).
 */
export const dot: LayerConverter = (ctx, inputs) => {
  if (inputs.length !== 2) throw unsupported(ctx.layer, 'input count', inputs.length, '2');
  const { g } = ctx;
  let [x, y] = inputs.map(ctx.channelsLast) as [TensorRef, TensorRef];
  const xr = x.shape.length;
  const yr = y.shape.length;
  if (xr > 3 || yr > 3 || xr < 2 || yr < 2) throw unsupported(ctx.layer, 'input ranks', [xr, yr], 'ranks 2 or 3');
  const raw = ctx.config.axes;
  const interpret = (a: number, rank: number): number => {
    let v = a;
    while (v < 0) v += rank;
    return v;
  };
  const axes: [number, number] = Array.isArray(raw)
    ? [interpret(Number(raw[0]), xr), interpret(Number(raw[1]), yr)]
    : [interpret(Number(raw), xr), interpret(Number(raw), yr)];
  if (ctx.config.normalize) {
    const l2 = (t: TensorRef, axis: number): TensorRef => {
      const sum = g.reduce('ReduceSum', g.op('Mul', [t.name, t.name]), [axis], true);
      const norm = g.op('Sqrt', [g.op('Max', [sum, g.scalar(1e-7)])]);
      return { ...t, name: g.op('Div', [t.name, norm]) };
    };
    x = l2(x, axes[0]);
    y = l2(y, axes[1]);
  }
  let out: string;
  if (xr === 2 && yr === 2) {
    out = g.reduce('ReduceSum', g.op('Mul', [x.name, y.name]), [axes[0]], true, ctx.layer.name);
  } else {
    // tfjs pads the lower-rank input with trailing size-1 axes, multiplies, and squeezes them again.
    const diff = Math.abs(xr - yr);
    let xn = x.name;
    let yn = y.name;
    if (xr > yr) yn = g.unsqueeze(yn, range(yr, xr));
    if (yr > xr) xn = g.unsqueeze(xn, range(xr, yr));
    const rank = Math.max(xr, yr);
    const swap = range(0, rank - 2).concat([rank - 1, rank - 2]);
    if (axes[0] !== rank - 1) xn = g.transpose(xn, swap);
    if (axes[1] === rank - 1) yn = g.transpose(yn, swap);
    out = g.op('MatMul', [xn, yn], {}, ctx.layer.name);
    if (diff > 0) {
      const start = xr > yr ? xr + yr - 3 : xr - 1;
      out = g.squeeze(out, range(start, start + diff));
    }
    if (rank - diff === 1) out = g.unsqueeze(out, [1]);
  }
  return [{ name: out, shape: ctx.outputShapes[0]!, layout: 'tfjs', dtype: 'float32', mask: mergeMask(inputs) }];
};
