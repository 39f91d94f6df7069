import type * as tf from '@tensorflow/tfjs';
import { DataType, type GraphBuilder, int, ints } from '../graph-builder.ts';
import { activationKey, activationOn } from './activations.ts';
import {
  type LayerContext,
  type LayerConverter,
  type Mask,
  permute,
  range,
  refused,
  samePads,
  type Shape,
  type TensorRef,
  tuple,
  unsupported,
  type Weight,
  weights,
} from './context.ts';

/** The recurrent layers' fields the converter reads (public in tfjs-layers, some only at runtime). */
interface RnnLayer extends tf.layers.Layer {
  readonly cell: tf.layers.Layer & { readonly stateSize: number | number[] };
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  readonly goBackwards: boolean;
  readonly stateful: boolean;
}

type CellKind = 'SimpleRNNCell' | 'GRUCell' | 'KerasGRUCell' | 'LSTMCell' | 'ConvLSTM2DCell';

/** One cell with its weights, in the order tfjs steps through them. */
interface Cell {
  readonly kind: CellKind;
  readonly layer: tf.layers.Layer;
  readonly config: Record<string, unknown>;
  readonly units: number;
  readonly kernel: Weight;
  readonly recurrent: Weight;
  readonly bias: Weight | undefined;
  /** State sizes, e.g. [h, c] for an LSTM. */
  readonly states: number;
}

const CELL_KINDS: readonly string[] = ['SimpleRNNCell', 'GRUCell', 'KerasGRUCell', 'LSTMCell', 'ConvLSTM2DCell'];

/** The cells of an RNN layer (StackedRNNCells unpacked), with their weights. */
function cellsOf(ctx: LayerContext, layer: RnnLayer): Cell[] {
  const top = layer.cell;
  const list: tf.layers.Layer[] =
    top.getClassName() === 'StackedRNNCells' ? ((top as unknown as { cells: tf.layers.Layer[] }).cells ?? []) : [top as tf.layers.Layer];
  return list.map((cell) => {
    const kind = cell.getClassName();
    if (!CELL_KINDS.includes(kind)) throw unsupported(ctx.layer, 'cell', kind, CELL_KINDS.join(', '));
    const config = cell.getConfig() as Record<string, unknown>;
    const [kernel, recurrent, bias] = weights(cell);
    const units = Number(kind === 'ConvLSTM2DCell' ? config.filters : config.units);
    return {
      kind: kind as CellKind,
      layer: cell,
      config,
      units,
      kernel: kernel!,
      recurrent: recurrent!,
      bias: config.useBias === false ? undefined : bias,
      states: kind === 'LSTMCell' || kind === 'ConvLSTM2DCell' ? 2 : 1,
    };
  });
}

/** An activation as onnxruntime's RNN/GRU/LSTM ops name it (with its alpha and beta), if they have it. */
const RNN_ACTIVATIONS: Record<string, { name: string; alpha?: number; beta?: number }> = {
  tanh: { name: 'Tanh' },
  sigmoid: { name: 'Sigmoid' },
  hardsigmoid: { name: 'HardSigmoid', alpha: 0.2, beta: 0.5 },
  relu: { name: 'Relu' },
  linear: { name: 'Affine', alpha: 1, beta: 0 },
  elu: { name: 'Elu', alpha: 1 },
  softsign: { name: 'Softsign' },
  softplus: { name: 'Softplus' },
};

/** The activations of a cell in ONNX op order ([f, g, h] for LSTM, [f, g] for GRU, [f] for RNN). */
function nativeActivations(cell: Cell): string[] | null {
  const act = activationKey(cell.config.activation ?? 'tanh');
  const rec = activationKey(cell.config.recurrentActivation ?? 'hardSigmoid');
  const names = cell.kind === 'LSTMCell' ? [rec, act, act] : cell.kind === 'SimpleRNNCell' ? [act] : [rec, act];
  return names.every((n) => n in RNN_ACTIVATIONS) ? names : null;
}

function activationAttrs(names: string[]): Record<string, { strings: string[] } | { floats: number[] }> {
  const specs = names.map((n) => RNN_ACTIVATIONS[n]!);
  // onnxruntime takes alpha and beta only for the activations that use them, in order.
  const alpha = specs.filter((s) => s.alpha !== undefined).map((s) => s.alpha!);
  const beta = specs.filter((s) => s.beta !== undefined).map((s) => s.beta!);
  return {
    activations: { strings: specs.map((s) => s.name) },
    ...(alpha.length ? { activation_alpha: { floats: alpha } } : {}),
    ...(beta.length ? { activation_beta: { floats: beta } } : {}),
  };
}

/** Rows of a [in, gates * H] Keras matrix as ONNX [gates * H, in] in ONNX's gate order. */
function gateRows(w: Weight, order: number[], units: number): Float32Array {
  const t = permute(w.data, w.shape, [1, 0]);
  const cols = w.shape[0]!;
  const out = new Float32Array(t.data.length);
  order.forEach((kerasGate, onnxGate) => {
    out.set(t.data.subarray(kerasGate * units * cols, (kerasGate + 1) * units * cols), onnxGate * units * cols);
  });
  return out;
}

function gateVector(v: Float32Array | undefined, order: number[], units: number): Float32Array {
  const out = new Float32Array(order.length * units);
  if (v) {
    order.forEach((kerasGate, onnxGate) => {
      out.set(v.subarray(kerasGate * units, (kerasGate + 1) * units), onnxGate * units);
    });
  }
  return out;
}

/** ONNX gate orders: LSTM iofc from Keras ifco; GRU zrh as in Keras. */
const GATE_ORDER: Record<string, number[]> = { LSTMCell: [0, 3, 1, 2], GRUCell: [0, 1, 2], KerasGRUCell: [0, 1, 2], SimpleRNNCell: [0] };

interface NativeWeights {
  W: Float32Array;
  R: Float32Array;
  B: Float32Array;
}

function nativeWeights(cell: Cell): NativeWeights {
  const order = GATE_ORDER[cell.kind]!;
  const u = cell.units;
  const W = gateRows(cell.kernel, order, u);
  const R = gateRows(cell.recurrent, order, u);
  const B = new Float32Array(2 * order.length * u);
  if (cell.kind === 'KerasGRUCell' && cell.bias) {
    // reset_after: bias [2, 3H] = input bias, recurrent bias.
    const n = 3 * u;
    B.set(gateVector(cell.bias.data.subarray(0, n), order, u), 0);
    B.set(gateVector(cell.bias.data.subarray(n, 2 * n), order, u), n);
  } else {
    B.set(gateVector(cell.bias?.data, order, u), 0);
  }
  return { W, R, B };
}

const ONNX_OP: Record<string, string> = { LSTMCell: 'LSTM', GRUCell: 'GRU', KerasGRUCell: 'GRU', SimpleRNNCell: 'RNN' };

/** Can the layer run as one onnxruntime RNN/GRU/LSTM node? */
function nativeCell(layer: RnnLayer, cells: Cell[], mask: Mask | undefined): Cell | null {
  if (mask || cells.length !== 1) return null;
  const cell = cells[0]!;
  if (!(cell.kind in ONNX_OP) || !nativeActivations(cell)) return null;
  return layer.stateful ? null : cell;
}

/** Reverses a [T, ...] tensor in time (Slice with step -1). */
function reverseTime(g: GraphBuilder, x: string, axis: number): string {
  return g.op('Slice', [x, g.int64Const([-1]), g.int64Const([-(2 ** 62)]), g.int64Const([axis]), g.int64Const([-1])]);
}

/** What a recurrent conversion returns: tfjs' outputs (sequence or last) and the final states. */
interface RnnResult {
  /** [N, T, H] when returnSequences, in tfjs' order (processing order for go_backwards). */
  output: string;
  states: string[];
}

/**
 * One direction on an ONNX RNN/GRU/LSTM node: inputs go time-major, Keras gate order becomes ONNX's,
 * and go_backwards runs in reverse with the sequence flipped back to the order tfjs emits it in.
 */
function runNative(ctx: LayerContext, layer: RnnLayer, cell: Cell, x: string, initial: string[]): RnnResult {
  const { g } = ctx;
  const u = cell.units;
  const w = nativeWeights(cell);
  const gates = GATE_ORDER[cell.kind]!.length;
  const F = cell.kernel.shape[0]!;
  const onnxInputs = [
    g.transpose(x, [1, 0, 2]),
    g.floats(`${layer.name}/W`, w.W, [1, gates * u, F]),
    g.floats(`${layer.name}/R`, w.R, [1, gates * u, u]),
    g.floats(`${layer.name}/B`, w.B, [1, 2 * gates * u]),
    '',
    ...initial.map((s) => g.unsqueeze(s, [0])),
  ];
  const attrs = {
    hidden_size: int(u),
    direction: layer.goBackwards ? 'reverse' : 'forward',
    ...activationAttrs(nativeActivations(cell)!),
    ...(cell.kind === 'KerasGRUCell' ? { linear_before_reset: int(1) } : {}),
  };
  const outs = g.node(ONNX_OP[cell.kind]!, onnxInputs, attrs, layer.name, cell.states + 1);
  const states = outs.slice(1).map((s) => g.squeeze(s, [0]));
  let output = states[0]!;
  if (layer.returnSequences) {
    let seq = g.squeeze(outs[0]!, [1]);
    if (layer.goBackwards) seq = reverseTime(g, seq, 0);
    output = g.transpose(seq, [1, 0, 2]);
  }
  return { output, states };
}

/** Zeros [batch, ...dims], the batch taken from `like`. */
function batchZeros(g: GraphBuilder, like: string, dims: number[]): string {
  const batch = g.op('Slice', [g.op('Shape', [like]), g.int64Const([0]), g.int64Const([1])]);
  return g.op('ConstantOfShape', [g.op('Concat', [batch, g.int64Const(dims)], { axis: int(0) })]);
}

/** A step of one cell inside a Scan body: new states, tfjs' order ([h] or [h, c]). */
function cellStep(ctx: LayerContext, b: GraphBuilder, cell: Cell, x: string, states: string[], name: string): string[] {
  const g = ctx.g;
  const u = cell.units;
  const act = (v: string, axis = -1): string => activationOn(ctx, cell.config.activation ?? 'tanh', b, v, axis);
  const rec = (v: string, axis = -1): string => activationOn(ctx, cell.config.recurrentActivation ?? 'hardSigmoid', b, v, axis);
  const split = (v: string, parts: number, axis: number): string[] =>
    b.node('Split', [v, g.int64Const(new Array<number>(parts).fill(u))], { axis: int(axis) }, `${name}/split`, parts);
  const bias = (suffix = 'bias'): string | null => (cell.bias ? g.floats(`${name}/${suffix}`, cell.bias.data, cell.bias.shape) : null);
  const kernel = g.floats(`${name}/kernel`, cell.kernel.data, cell.kernel.shape);
  if (cell.kind === 'SimpleRNNCell') {
    let h = b.op('MatMul', [x, kernel]);
    const bv = bias();
    if (bv) h = b.op('Add', [h, bv]);
    const sum = b.op('Add', [h, b.op('MatMul', [states[0]!, g.floats(`${name}/recurrent_kernel`, cell.recurrent.data, cell.recurrent.shape)])]);
    return [act(sum)];
  }
  if (cell.kind === 'LSTMCell') {
    let z = b.op('Add', [
      b.op('MatMul', [x, kernel]),
      b.op('MatMul', [states[0]!, g.floats(`${name}/recurrent_kernel`, cell.recurrent.data, cell.recurrent.shape)]),
    ]);
    const bv = bias();
    if (bv) z = b.op('Add', [z, bv]);
    const [z0, z1, z2, z3] = split(z, 4, -1) as [string, string, string, string];
    const c = b.op('Add', [b.op('Mul', [rec(z1), states[1]!]), b.op('Mul', [rec(z0), act(z2)])]);
    return [b.op('Mul', [rec(z3), act(c)]), c];
  }
  if (cell.kind === 'GRUCell' || cell.kind === 'KerasGRUCell') {
    const h0 = states[0]!;
    const rk = cell.recurrent;
    // The recurrent kernel's z|r columns and h columns, as tfjs splits them.
    const zr = new Float32Array(u * 2 * u);
    const hh = new Float32Array(u * u);
    for (let row = 0; row < u; row++) {
      zr.set(rk.data.subarray(row * 3 * u, row * 3 * u + 2 * u), row * 2 * u);
      hh.set(rk.data.subarray(row * 3 * u + 2 * u, (row + 1) * 3 * u), row * u);
    }
    let matrixX = b.op('MatMul', [x, kernel]);
    let inner = b.op('MatMul', [h0, g.floats(`${name}/recurrent_zr`, zr, [u, 2 * u])]);
    let recurrentBiasH: string | null = null;
    if (cell.kind === 'KerasGRUCell') {
      // reset_after: the recurrent part of h gets its own bias and the reset gate afterwards.
      const n = 3 * u;
      const data = cell.bias?.data;
      if (data) {
        matrixX = b.op('Add', [matrixX, g.floats(`${name}/input_bias`, data.subarray(0, n), [n])]);
        inner = b.op('Add', [inner, g.floats(`${name}/recurrent_bias_zr`, data.subarray(n, n + 2 * u), [2 * u])]);
        recurrentBiasH = g.floats(`${name}/recurrent_bias_h`, data.subarray(n + 2 * u, 2 * n), [u]);
      }
    } else {
      const bv = bias();
      if (bv) matrixX = b.op('Add', [matrixX, bv]);
    }
    const [xz, xr, xh] = split(matrixX, 3, -1) as [string, string, string];
    const [rz, rr] = split(inner, 2, -1) as [string, string];
    const zg = rec(b.op('Add', [xz, rz]));
    const r = rec(b.op('Add', [xr, rr]));
    const hk = g.floats(`${name}/recurrent_h`, hh, [u, u]);
    let recurrentH: string;
    if (cell.kind === 'KerasGRUCell') {
      let hu = b.op('MatMul', [h0, hk]);
      if (recurrentBiasH) hu = b.op('Add', [hu, recurrentBiasH]);
      recurrentH = b.op('Mul', [r, hu]);
    } else {
      recurrentH = b.op('MatMul', [b.op('Mul', [r, h0]), hk]);
    }
    const candidate = act(b.op('Add', [xh, recurrentH]));
    const h = b.op('Add', [b.op('Mul', [zg, h0]), b.op('Mul', [b.op('Sub', [g.scalar(1), zg]), candidate])]);
    return [h];
  }
  return convLstmStep(ctx, b, cell, x, states, name);
}

/** The spatial size and pads of a ConvLSTM2D cell's input convolution. */
interface ConvGeometry {
  readonly inputPads: number[];
  readonly recurrentPads: number[];
}

const geometries = new WeakMap<tf.layers.Layer, ConvGeometry>();

/** ConvLSTM2DCell: one Conv for the four input gates, one 'same' Conv for the recurrent ones. */
function convLstmStep(ctx: LayerContext, b: GraphBuilder, cell: Cell, x: string, states: string[], name: string): string[] {
  const g = ctx.g;
  const c = cell.config;
  const geometry = geometries.get(cell.layer)!;
  const kernelSize = tuple(c.kernelSize, 2);
  const filters = cell.units;
  const k = permute(cell.kernel.data, cell.kernel.shape, [3, 2, 0, 1]);
  const rk = permute(cell.recurrent.data, cell.recurrent.shape, [3, 2, 0, 1]);
  const xInputs = [x, g.floats(`${name}/kernel`, k.data, k.shape)];
  if (cell.bias) xInputs.push(g.floats(`${name}/bias`, cell.bias.data, cell.bias.shape));
  const xc = b.op('Conv', xInputs, {
    kernel_shape: ints(kernelSize),
    strides: ints(tuple(c.strides, 2)),
    dilations: ints(tuple(c.dilationRate, 2)),
    pads: ints(geometry.inputPads),
  });
  const hc = b.op('Conv', [states[0]!, g.floats(`${name}/recurrent_kernel`, rk.data, rk.shape)], {
    kernel_shape: ints(kernelSize),
    strides: ints([1, 1]),
    pads: ints(geometry.recurrentPads),
  });
  const sizes = new Array<number>(4).fill(filters);
  const [xi, xf, xcand, xo] = b.node('Split', [xc, g.int64Const(sizes)], { axis: int(1) }, `${name}/split_x`, 4) as [string, string, string, string];
  const [hi, hf, hcand, ho] = b.node('Split', [hc, g.int64Const(sizes)], { axis: int(1) }, `${name}/split_h`, 4) as [string, string, string, string];
  const act = (v: string): string => activationOn(ctx, c.activation ?? 'tanh', b, v, 1);
  const rec = (v: string): string => activationOn(ctx, c.recurrentActivation ?? 'hardSigmoid', b, v, 1);
  const i = rec(b.op('Add', [xi, hi]));
  const f = rec(b.op('Add', [xf, hf]));
  const cNew = b.op('Add', [b.op('Mul', [f, states[1]!]), b.op('Mul', [i, act(b.op('Add', [xcand, hcand]))])]);
  const h = b.op('Mul', [rec(b.op('Add', [xo, ho])), act(cNew)]);
  return [h, cNew];
}

/**
 * Any recurrent layer as an ONNX Scan over time: the cells' step (StackedRNNCells chained), tfjs'
 * masking (a masked step keeps the previous states and repeats the previous first state as output)
 * and go_backwards (the scan runs in reverse and emits in processing order, as tfjs does).
 * `x` is [N, T, ...] with each step laid out as the cells read it.
 */
function runScan(ctx: LayerContext, layer: RnnLayer, cells: Cell[], x: string, initial: string[], mask: string | null, stateDims: number[][]): RnnResult {
  const { g } = ctx;
  // tfjs' state order for stacked cells is the last cell's states first.
  const order = cells.map((cell, i) => ({ cell, i })).reverse();
  const states = initial.length ? initial : stateDims.map((dims) => batchZeros(g, x, dims));
  const body = g.body();
  const stateIn = states.map((_, i) => body.name(`${layer.name}/state${i}_in`));
  const xIn = body.name(`${layer.name}/x_t`);
  const maskIn = mask ? body.name(`${layer.name}/mask_t`) : null;
  for (const n of [...stateIn, xIn, ...(maskIn ? [maskIn] : [])]) body.input({ name: n, dataType: DataType.FLOAT });
  // Slice the flat state list per cell (tfjs order: reversed cells).
  const perCell = new Map<number, string[]>();
  let k = 0;
  for (const { cell, i } of order) {
    perCell.set(i, stateIn.slice(k, k + cell.states));
    k += cell.states;
  }
  let input = xIn;
  const newPerCell = new Map<number, string[]>();
  cells.forEach((cell, i) => {
    const next = cellStep(ctx, body, cell, input, perCell.get(i)!, cells.length > 1 ? `${layer.name}/cell${i}` : layer.name);
    newPerCell.set(i, next);
    input = next[0]!;
  });
  let newStates = order.flatMap(({ i }) => newPerCell.get(i)!);
  if (maskIn) {
    const m = body.unsqueeze(maskIn, [1]);
    const keep = body.op('Sub', [g.scalar(1), m]);
    // tfjs: a masked step keeps every state; its output (the first state, h) repeats the previous one.
    newStates = newStates.map((s, i) => body.op('Add', [body.op('Mul', [s, m]), body.op('Mul', [stateIn[i]!, keep])]));
  }
  // The output of a step is always the new first state (the last cell's h), so a sequence output
  // is that state once more (ONNX needs a second name for it).
  const bodyOutputs = [...newStates];
  if (layer.returnSequences) bodyOutputs.push(body.op('Identity', [newStates[0]!], {}, `${layer.name}/y_t`));
  for (const n of bodyOutputs) body.output({ name: n, dataType: DataType.FLOAT });
  const scanInputs = [x, ...(mask ? [mask] : [])];
  const direction = layer.goBackwards ? 1 : 0;
  const outs = g.node(
    'Scan',
    [...states, ...scanInputs],
    {
      body: { graph: body },
      num_scan_inputs: int(scanInputs.length),
      scan_input_axes: ints(scanInputs.map(() => 1)),
      scan_input_directions: ints(scanInputs.map(() => direction)),
      ...(layer.returnSequences ? { scan_output_axes: ints([1]) } : {}),
    },
    layer.name,
    bodyOutputs.length,
  );
  const finalStates = outs.slice(0, states.length);
  return { output: layer.returnSequences ? outs[states.length]! : finalStates[0]!, states: finalStates };
}

/** The mask a recurrent layer reads, or a refusal naming why tfjs' mask cannot be expressed. */
function usableMask(ctx: LayerContext, x: TensorRef): string | null {
  if (!x.mask) return null;
  if ('unsupported' in x.mask) throw unsupported(ctx.layer, 'mask', 'from its input', `a mask tfjs can pass on (${x.mask.unsupported})`);
  return x.mask.name;
}

/** Converts one recurrent layer (which may be a Bidirectional's inner layer) to tfjs' outputs. */
export function convertRnn(ctx: LayerContext, layer: RnnLayer, inputs: TensorRef[]): RnnResult & { cells: Cell[] } {
  if (layer.stateful) {
    throw refused(layer, 'stateful: true carries state from one predict() call to the next, which an ONNX graph cannot; rebuild it with stateful: false');
  }
  const cells = cellsOf(ctx, layer);
  const x0 = inputs[0]!;
  if (cells[0]!.kind === 'ConvLSTM2DCell') return { ...convLstmLayer(ctx, layer, cells[0]!, x0, inputs.slice(1)), cells };
  const x = ctx.channelsLast(x0);
  if (x.shape.length !== 3) throw unsupported(layer, 'input rank', x.shape.length, '3 ([batch, time, features])');
  const mask = usableMask(ctx, x0);
  const native = nativeCell(layer, cells, x0.mask);
  if (native)
    return {
      ...runNative(
        ctx,
        layer,
        native,
        x.name,
        inputs.slice(1).map((t) => ctx.channelsLast(t).name),
      ),
      cells,
    };
  const stateDims = cells
    .slice()
    .reverse()
    .flatMap((c) => new Array<number[]>(c.states).fill([c.units]));
  return {
    ...runScan(
      ctx,
      layer,
      cells,
      x.name,
      inputs.slice(1).map((t) => ctx.channelsLast(t).name),
      mask,
      stateDims,
    ),
    cells,
  };
}

/** ConvLSTM2D: a Scan over [N, T, C, H, W] with NCHW states; outputs returned in tfjs layout. */
function convLstmLayer(ctx: LayerContext, layer: RnnLayer, cell: Cell, x0: TensorRef, initial: TensorRef[]): RnnResult {
  if (x0.mask) throw refused(layer, 'a mask into ConvLSTM2D: tfjs-layers cannot apply a [batch, time] mask to its 5-D states');
  const { g } = ctx;
  const c = cell.config;
  const first = c.dataFormat === 'channelsFirst';
  const xs = ctx.channelsLast(x0);
  const [, , d1, d2, d3] = xs.shape;
  const [h, w] = first ? [d2, d3] : [d1, d2];
  if (typeof h !== 'number' || typeof w !== 'number') throw unsupported(layer, 'input shape', xs.shape, 'static height and width');
  const kernelSize = tuple(c.kernelSize, 2);
  const strides = tuple(c.strides, 2);
  const dilations = tuple(c.dilationRate, 2);
  const eff = kernelSize.map((k, i) => (k - 1) * dilations[i]! + 1);
  let inputPads = [0, 0, 0, 0];
  let outH = Math.floor((h - eff[0]! + strides[0]!) / strides[0]!);
  let outW = Math.floor((w - eff[1]! + strides[1]!) / strides[1]!);
  if (c.padding === 'same') {
    const ph = samePads(h, kernelSize[0]!, strides[0]!, dilations[0]!);
    const pw = samePads(w, kernelSize[1]!, strides[1]!, dilations[1]!);
    inputPads = [ph[0], pw[0], ph[1], pw[1]];
    outH = Math.ceil(h / strides[0]!);
    outW = Math.ceil(w / strides[1]!);
  } else if (c.padding !== 'valid' && c.padding !== undefined) {
    throw unsupported(layer, 'padding', c.padding, "'same' or 'valid'");
  }
  const rh = samePads(outH, kernelSize[0]!, 1);
  const rw = samePads(outW, kernelSize[1]!, 1);
  geometries.set(cell.layer, { inputPads, recurrentPads: [rh[0], rw[0], rh[1], rw[1]] });
  // Steps as [N, C, H, W]: move the channels next to the time axis for channels-last inputs.
  const x = first ? xs.name : g.transpose(xs.name, [0, 1, 4, 2, 3]);
  // States run as [N, F, H, W]: as tfjs holds them (channels first) or moved there.
  const states = initial.map((s) => (first ? ctx.channelsLast(s) : ctx.channelsFirst(s)).name);
  const result = runScan(ctx, layer, [cell], x, states, null, [
    [cell.units, outH, outW],
    [cell.units, outH, outW],
  ]);
  return result;
}

/** SimpleRNN, GRU, KerasGRU, LSTM, RNN and ConvLSTM2D layers. */
export const rnn: LayerConverter = (ctx, inputs) => {
  const layer = ctx.layer as RnnLayer;
  const result = convertRnn(ctx, layer, inputs);
  return rnnOutputs(ctx, layer, result, ctx.outputShapes, inputs[0]!);
};

/** tfjs' outputs of a recurrent layer: [output, ...states], with the sequence mask passed on. */
function rnnOutputs(ctx: LayerContext, layer: RnnLayer, result: RnnResult & { cells: Cell[] }, shapes: readonly Shape[], x: TensorRef): TensorRef[] {
  const conv = result.cells[0]!.kind === 'ConvLSTM2DCell';
  const first = result.cells[0]!.config.dataFormat === 'channelsFirst';
  const outShape = shapes[0]!;
  let output: TensorRef;
  if (conv) {
    // The Scan emits [N, T, F, H, W] (sequences) or [N, F, H, W] (last): back to tfjs' layout.
    output = layer.returnSequences
      ? { name: first ? result.output : ctx.g.transpose(result.output, [0, 1, 3, 4, 2]), shape: outShape, layout: 'tfjs', dtype: 'float32' }
      : { name: result.output, shape: outShape, layout: first ? 'tfjs' : 'nchw', dtype: 'float32' };
  } else {
    output = { name: result.output, shape: outShape, layout: 'tfjs', dtype: 'float32' };
  }
  const mask = layer.returnSequences && x.mask ? x.mask : undefined;
  const outs: TensorRef[] = [{ ...output, mask }];
  if (layer.returnState) {
    result.states.forEach((s, i) => {
      const shape = shapes[i + 1] ?? [null, result.cells[0]!.units];
      outs.push({ name: s, shape, layout: conv && !first ? 'nchw' : 'tfjs', dtype: 'float32' });
    });
  }
  return outs;
}

/** Bidirectional's inner layers (tfjs keeps them private). */
interface BidirectionalLayer extends tf.layers.Layer {
  readonly forwardLayer: RnnLayer;
  readonly backwardLayer: RnnLayer;
  readonly mergeMode: string | null | undefined;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
}

/**
 * Bidirectional: the forward and backward layers (one ONNX node with direction 'bidirectional' when
 * both run natively), the backward sequence flipped back in time, then merged (concat, sum, mul, ave,
 * or both outputs for merge mode null).
 */
export const bidirectional: LayerConverter = (ctx, inputs) => {
  const { g } = ctx;
  const layer = ctx.layer as BidirectionalLayer;
  const fw = layer.forwardLayer;
  const bw = layer.backwardLayer;
  const x = inputs[0]!;
  const initial = inputs.slice(1);
  if (initial.length % 2) throw unsupported(layer, 'initial state count', initial.length, 'an even number (forward states, then backward states)');
  const half = initial.length / 2;
  const fwCells = cellsOf(ctx, fw);
  const bwCells = cellsOf(ctx, bw);
  const fused = !fw.goBackwards && bw.goBackwards && nativeCell(fw, fwCells, x.mask) && nativeCell(bw, bwCells, x.mask);
  let yFw: string;
  let yBw: string;
  let states: string[];
  if (fused) {
    const cf = fwCells[0]!;
    const u = cf.units;
    const a = nativeWeights(cf);
    const b = nativeWeights(bwCells[0]!);
    const gates = GATE_ORDER[cf.kind]!.length;
    const F = cf.kernel.shape[0]!;
    const join = (p: Float32Array, q: Float32Array): Float32Array => {
      const out = new Float32Array(p.length + q.length);
      out.set(p);
      out.set(q, p.length);
      return out;
    };
    const xs = ctx.channelsLast(x);
    const init = range(0, cf.states).map((s) =>
      initial.length
        ? g.op('Concat', [g.unsqueeze(ctx.channelsLast(initial[s]!).name, [0]), g.unsqueeze(ctx.channelsLast(initial[half + s]!).name, [0])], { axis: int(0) })
        : '',
    );
    const outs = g.node(
      ONNX_OP[cf.kind]!,
      [
        g.transpose(xs.name, [1, 0, 2]),
        g.floats(`${layer.name}/W`, join(a.W, b.W), [2, gates * u, F]),
        g.floats(`${layer.name}/R`, join(a.R, b.R), [2, gates * u, u]),
        g.floats(`${layer.name}/B`, join(a.B, b.B), [2, 2 * gates * u]),
        '',
        ...(initial.length ? init : []),
      ],
      {
        hidden_size: int(u),
        direction: 'bidirectional',
        // One activation list per direction.
        ...activationAttrs([...nativeActivations(cf)!, ...nativeActivations(cf)!]),
        ...(cf.kind === 'KerasGRUCell' ? { linear_before_reset: int(1) } : {}),
      },
      layer.name,
      cf.states + 1,
    );
    const pick = (t: string, axis: number, i: number): string =>
      g.squeeze(g.op('Slice', [t, g.int64Const([i]), g.int64Const([i + 1]), g.int64Const([axis])]), [axis]);
    if (layer.returnSequences) {
      yFw = g.transpose(pick(outs[0]!, 1, 0), [1, 0, 2]);
      yBw = g.transpose(pick(outs[0]!, 1, 1), [1, 0, 2]);
    } else {
      yFw = pick(outs[1]!, 0, 0);
      yBw = pick(outs[1]!, 0, 1);
    }
    states = [...outs.slice(1).map((s) => pick(s, 0, 0)), ...outs.slice(1).map((s) => pick(s, 0, 1))];
  } else {
    const f = convertRnn(ctx, fw, [x, ...initial.slice(0, half)]);
    const r = convertRnn(ctx, bw, [x, ...initial.slice(half)]);
    yFw = f.output;
    // tfjs flips the backward sequence back into input order.
    yBw = layer.returnSequences ? reverseTime(g, r.output, 1) : r.output;
    states = [...f.states, ...r.states];
  }
  const mode = layer.mergeMode;
  const shape0 = ctx.outputShapes[0]!;
  const mask = layer.returnSequences && x.mask ? x.mask : undefined;
  const ref = (name: string, shape: Shape): TensorRef => ({ name, shape, layout: 'tfjs', dtype: 'float32' });
  let outs: TensorRef[];
  if (mode === null || mode === undefined) {
    outs = [
      { ...ref(yFw, shape0), mask },
      { ...ref(yBw, ctx.outputShapes[1]!), mask },
    ];
  } else {
    let y: string;
    if (mode === 'concat') y = g.op('Concat', [yFw, yBw], { axis: int(-1) }, layer.name);
    else if (mode === 'sum') y = g.op('Add', [yFw, yBw], {}, layer.name);
    else if (mode === 'mul') y = g.op('Mul', [yFw, yBw], {}, layer.name);
    else if (mode === 'ave') y = g.op('Mul', [g.scalar(0.5), g.op('Add', [yFw, yBw])], {}, layer.name);
    else throw unsupported(layer, 'mergeMode', mode, 'concat, sum, mul, ave or null');
    outs = [{ ...ref(y, shape0), mask }];
  }
  if (layer.returnState) {
    const offset = outs.length;
    states.forEach((s, i) => {
      outs.push(ref(s, ctx.outputShapes[offset + i] ?? [null, null]));
    });
  }
  return outs;
};
