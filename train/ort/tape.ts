import { DataType, type GraphBuilder, int, ints } from 'tfjs-to-onnx/graph-builder';

// Reverse-mode differentiation of ONNX graphs built from standard ops only: every op below adds its
// forward nodes to a GraphBuilder and records, on a tape, how to add the nodes of its backward. The
// npm build of onnxruntime-node has no training ops (no ConvGrad, no Adam), so each backward rule is
// itself written in standard ops (see the README's "Training on ONNX Runtime").

/** A float tensor of the graph: its ONNX name and static shape (training graphs fix the batch). */
export interface T {
  readonly name: string;
  readonly shape: readonly number[];
}

/** An integer tensor (labels, indices): never differentiated. */
export interface IntT {
  readonly name: string;
  readonly shape: readonly number[];
}

/**
 * Gradients of an op's inputs from those of its outputs. `dys[k]` is null where output k has no
 * gradient; `needs[k]` says whether input k leads to a tensor being differentiated (others get null).
 */
type Backward = (dys: ReadonlyArray<string | null>, needs: readonly boolean[]) => Array<string | null>;

interface Entry {
  readonly inputs: readonly T[];
  readonly outputs: readonly T[];
  readonly backward: Backward;
}

/** Elements of a shape. */
export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Conv geometry, NCHW, two spatial axes. */
export interface ConvGeometry {
  readonly kernel: readonly [number, number];
  readonly strides: readonly [number, number];
  /** ONNX order: [top, left, bottom, right]. */
  readonly pads: readonly [number, number, number, number];
}

/** Output side of a convolution. */
function convOut(input: number, k: number, s: number, before: number, after: number): number {
  return Math.floor((input + before + after - k) / s) + 1;
}

/**
 * The tensors of one differentiable computation and the tape of their backward rules. Forward ops
 * return new tensors; {@link DiffGraph.gradients} appends the backward nodes of a loss.
 */
export class DiffGraph {
  private tape: Entry[] = [];

  constructor(readonly g: GraphBuilder) {}

  /** Starts a new tape (a new loss); the graph keeps its nodes. */
  reset(): void {
    this.tape = [];
  }

  private record(inputs: readonly T[], outputs: readonly T[], backward: Backward): void {
    this.tape.push({ inputs, outputs, backward });
  }

  /** A float graph input of a given shape. */
  input(name: string, shape: readonly number[]): T {
    const n = this.g.reserve(name);
    this.g.input({ name: n, dataType: DataType.FLOAT, dims: [...shape] });
    return { name: n, shape };
  }

  /** An int32 graph input. */
  intInput(name: string, shape: readonly number[]): IntT {
    const n = this.g.reserve(name);
    this.g.input({ name: n, dataType: DataType.INT32, dims: [...shape] });
    return { name: n, shape };
  }

  /** Marks a tensor as a graph output under its own name, or under `as` through an Identity. */
  output(t: T, as?: string): string {
    const name = as ? this.g.node('Identity', [t.name], {}, as, [this.g.reserve(as)])[0]! : t.name;
    this.g.output({ name, dataType: DataType.FLOAT, dims: [...t.shape] });
    return name;
  }

  private op(op: string, inputs: string[], shape: readonly number[], attrs: Parameters<GraphBuilder['op']>[2] = {}): T {
    return { name: this.g.op(op, inputs, attrs), shape };
  }

  /** Sums a gradient of a broadcast result back to the shape of the operand that was broadcast. */
  private unbroadcast(dy: string, from: readonly number[], to: readonly number[]): string {
    if (from.length === to.length && from.every((d, i) => d === to[i])) return dy;
    const lead = from.length - to.length;
    const axes: number[] = [];
    for (let i = 0; i < from.length; i++) if (i < lead || to[i - lead] === 1) axes.push(i);
    const summed = this.g.reduce('ReduceSum', dy, axes, true);
    return this.g.op('Reshape', [summed, this.g.int64Const([...to])]);
  }

  // --- linear algebra ---

  /** x [n, k] times w [k, m] plus b [m] (Gemm). */
  gemm(x: T, w: T, b?: T): T {
    const [n, k] = x.shape as [number, number];
    const m = w.shape[1]!;
    if (w.shape[0] !== k) throw new Error(`gemm: [${x.shape}] x [${w.shape}]`);
    const y = this.op('Gemm', b ? [x.name, w.name, b.name] : [x.name, w.name], [n, m]);
    this.record(b ? [x, w, b] : [x, w], [y], ([dy], [nx, nw, nb]) => [
      nx ? this.g.op('Gemm', [dy!, w.name], { transB: int(1) }) : null,
      nw ? this.g.op('Gemm', [x.name, dy!], { transA: int(1) }) : null,
      nb ? this.g.reduce('ReduceSum', dy!, [0], false) : null,
    ]);
    return y;
  }

  /** Batched matrix product a [..., m, k] x b [..., k, n] (MatMul; equal leading dimensions). */
  matMul(a: T, b: T): T {
    const r = a.shape.length;
    const lead = a.shape.slice(0, r - 2);
    if (r < 2 || b.shape.length !== r || a.shape[r - 1] !== b.shape[r - 2] || lead.some((d, i) => d !== b.shape[i])) {
      throw new Error(`matMul: [${a.shape}] x [${b.shape}]`);
    }
    const y = this.op('MatMul', [a.name, b.name], [...a.shape.slice(0, r - 1), b.shape[r - 1]!]);
    const swap = [...lead.keys(), r - 1, r - 2];
    this.record([a, b], [y], ([dy], [na, nb]) => [
      na ? this.g.op('MatMul', [dy!, this.g.transpose(b.name, swap)]) : null,
      nb ? this.g.op('MatMul', [this.g.transpose(a.name, swap), dy!]) : null,
    ]);
    return y;
  }

  /** Element-wise sum with numpy broadcasting of `b` onto `a`'s shape. */
  add(a: T, b: T): T {
    const y = this.op('Add', [a.name, b.name], a.shape.length >= b.shape.length ? a.shape : b.shape);
    this.record([a, b], [y], ([dy], [na, nb]) => [na ? this.unbroadcast(dy!, y.shape, a.shape) : null, nb ? this.unbroadcast(dy!, y.shape, b.shape) : null]);
    return y;
  }

  /** Element-wise product with broadcasting. */
  mul(a: T, b: T): T {
    const y = this.op('Mul', [a.name, b.name], a.shape.length >= b.shape.length ? a.shape : b.shape);
    this.record([a, b], [y], ([dy], [na, nb]) => [
      na ? this.unbroadcast(this.g.op('Mul', [dy!, b.name]), y.shape, a.shape) : null,
      nb ? this.unbroadcast(this.g.op('Mul', [dy!, a.name]), y.shape, b.shape) : null,
    ]);
    return y;
  }

  /** Multiplies by a constant. */
  scale(x: T, factor: number): T {
    const y = this.op('Mul', [x.name, this.g.scalar(factor)], x.shape);
    this.record([x], [y], ([dy]) => [this.g.op('Mul', [dy!, this.g.scalar(factor)])]);
    return y;
  }

  /** Sum of all elements (a scalar). */
  sum(x: T): T {
    const y = this.op('ReduceSum', [x.name], [], { keepdims: int(0) });
    this.record([x], [y], ([dy]) => [this.g.op('Expand', [dy!, this.g.int64Const([...x.shape])])]);
    return y;
  }

  // --- shapes ---

  reshape(x: T, shape: readonly number[]): T {
    if (size(shape) !== size(x.shape)) throw new Error(`reshape: [${x.shape}] to [${shape}]`);
    const y = this.op('Reshape', [x.name, this.g.int64Const([...shape])], shape);
    this.record([x], [y], ([dy]) => [this.g.op('Reshape', [dy!, this.g.int64Const([...x.shape])])]);
    return y;
  }

  transpose(x: T, perm: readonly number[]): T {
    const y = this.op(
      'Transpose',
      [x.name],
      perm.map((p) => x.shape[p]!),
      { perm: ints([...perm]) },
    );
    const inverse = perm.map((_, i) => perm.indexOf(i));
    this.record([x], [y], ([dy]) => [this.g.transpose(dy!, inverse)]);
    return y;
  }

  concat(xs: readonly T[], axis: number): T {
    const shape = [...xs[0]!.shape];
    shape[axis] = xs.reduce((s, x) => s + x.shape[axis]!, 0);
    const y = this.op(
      'Concat',
      xs.map((x) => x.name),
      shape,
      { axis: int(axis) },
    );
    this.record(xs, [y], ([dy], needs) => {
      const parts = this.g.node('Split', [dy!, this.g.int64Const(xs.map((x) => x.shape[axis]!))], { axis: int(axis) }, 'Split', xs.length);
      return parts.map((p, i) => (needs[i] ? p : null));
    });
    return y;
  }

  /** Rows of an embedding table `table` [v, d] at integer `ids` [...]: [..., d] (Gather). */
  gather(table: T, ids: IntT): T {
    const [v, d] = table.shape as [number, number];
    const y = this.op('Gather', [table.name, ids.name], [...ids.shape, d], { axis: int(0) });
    this.record([table], [y], ([dy]) => {
      // One-hot rows times the incoming gradient: every use of a row adds to it.
      const n = size(ids.shape);
      const oneHot = this.oneHot(ids, v);
      const flatDy = this.g.op('Reshape', [dy!, this.g.int64Const([n, d])]);
      return [this.g.op('Gemm', [oneHot, flatDy], { transA: int(1) })];
    });
    return y;
  }

  /** Integer ids [...] as float one-hot rows [n, depth] (n = all ids). */
  oneHot(ids: IntT, depth: number): string {
    const { g } = this;
    // onnxruntime's CPU OneHot takes int64 indices and depth.
    const flat = g.op('Cast', [g.op('Reshape', [ids.name, g.int64Const([size(ids.shape)])])], { to: int(DataType.INT64) });
    return g.op('OneHot', [flat, g.int64Const([depth]), g.floats('onehot_values', [0, 1], [2])], { axis: int(-1) });
  }

  // --- convolutions (NCHW; weights in ONNX layout) ---

  /** Conv: x [n, c, h, w], w [f, c, kh, kw], b [f]. */
  conv(x: T, w: T, b: T | undefined, geo: ConvGeometry): T {
    const [n, , h, wd] = x.shape as [number, number, number, number];
    const [f] = w.shape as [number];
    const oh = convOut(h, geo.kernel[0], geo.strides[0], geo.pads[0], geo.pads[2]);
    const ow = convOut(wd, geo.kernel[1], geo.strides[1], geo.pads[1], geo.pads[3]);
    const attrs = { kernel_shape: ints([...geo.kernel]), strides: ints([...geo.strides]), pads: ints([...geo.pads]) };
    const y = this.op('Conv', b ? [x.name, w.name, b.name] : [x.name, w.name], [n, f, oh, ow], attrs);
    this.record(b ? [x, w, b] : [x, w], [y], ([dy], [nx, nw, nb]) => [
      nx ? this.convInputGrad(dy!, w.name, x.shape, y.shape, geo) : null,
      nw ? this.convWeightGrad(x, { name: dy!, shape: y.shape }, geo) : null,
      nb ? this.g.reduce('ReduceSum', dy!, [0, 2, 3], false) : null,
    ]);
    return y;
  }

  /**
   * ConvTranspose: x [n, c, h, w], w [c, f, kh, kw], b [f]; `outShape` the spatial output (tfjs'
   * 'same' sizes), reached with output_padding.
   */
  convTranspose(x: T, w: T, b: T | undefined, geo: ConvGeometry, outShape: readonly [number, number]): T {
    const [n, , h, wd] = x.shape as [number, number, number, number];
    const f = w.shape[1]!;
    const outputPadding = [0, 1].map((a) => {
      const natural = geo.strides[a]! * ((a === 0 ? h : wd) - 1) + geo.kernel[a]! - geo.pads[a]! - geo.pads[a + 2]!;
      return outShape[a]! - natural;
    });
    if (outputPadding.some((p, a) => p < 0 || p >= geo.strides[a]!)) throw new Error(`convTranspose: no output padding gives ${outShape} from [${x.shape}]`);
    const attrs = {
      kernel_shape: ints([...geo.kernel]),
      strides: ints([...geo.strides]),
      pads: ints([...geo.pads]),
      ...(outputPadding.some((p) => p > 0) ? { output_padding: ints(outputPadding) } : {}),
    };
    const y = this.op('ConvTranspose', b ? [x.name, w.name, b.name] : [x.name, w.name], [n, f, outShape[0], outShape[1]], attrs);
    this.record(b ? [x, w, b] : [x, w], [y], ([dy], [nx, nw, nb]) => [
      // ConvTranspose is the adjoint of Conv with the same weights, strides and pads.
      nx ? this.g.op('Conv', [dy!, w.name], { kernel_shape: ints([...geo.kernel]), strides: ints([...geo.strides]), pads: ints([...geo.pads]) }) : null,
      nw ? this.convWeightGrad({ name: dy!, shape: y.shape }, x, geo) : null,
      nb ? this.g.reduce('ReduceSum', dy!, [0, 2, 3], false) : null,
    ]);
    return y;
  }

  /** dL/dx of a Conv: ConvTranspose of dy with the forward weights, sized back to x. */
  private convInputGrad(dy: string, w: string, xShape: readonly number[], yShape: readonly number[], geo: ConvGeometry): string {
    const outputPadding = [0, 1].map((a) => xShape[2 + a]! - (geo.strides[a]! * (yShape[2 + a]! - 1) + geo.kernel[a]! - geo.pads[a]! - geo.pads[a + 2]!));
    return this.g.op('ConvTranspose', [dy, w], {
      kernel_shape: ints([...geo.kernel]),
      strides: ints([...geo.strides]),
      pads: ints([...geo.pads]),
      ...(outputPadding.some((p) => p > 0) ? { output_padding: ints(outputPadding) } : {}),
    });
  }

  /**
   * The weight gradient of Conv(input, W) -> out given dL/dout, as [f, c, kh, kw]; also ConvTranspose's,
   * with the roles swapped. Two standard-op forms, chosen by measurement on onnxruntime's CPU kernels
   * (ORT-TRAINING.md): a strided convolution (or a single input channel) as one Conv with the batch as
   * channels, the output gradient as the kernel dilated by the stride (1.1-6x faster there); a stride-1
   * one as one Gemm per kernel tap over strided slices of the padded input (exactly the true FLOPs, 1.7x
   * faster than the Conv form on the DCGAN's 14x14 layers).
   */
  private convWeightGrad(input: T, outGrad: T, geo: ConvGeometry): string {
    const { g } = this;
    const [n, c, h, w] = input.shape as [number, number, number, number];
    const [, f, oh, ow] = outGrad.shape as [number, number, number, number];
    const [kh, kw] = geo.kernel;
    const [sh, sw] = geo.strides;
    const [pt, pl, pb, pr] = geo.pads;
    if (sh > 1 || sw > 1 || c === 1) {
      // dW[f, c, i, j] = sum over n, p of x_pad[n, c, s p + (i, j)] dy[n, f, p]: a Conv of x^T [c, n, h, w]
      // with dy^T [f, n, oh, ow] as the kernel, dilated by the stride; its spatial output starts at (i, j) = 0.
      const r = g.op('Conv', [g.transpose(input.name, [1, 0, 2, 3]), g.transpose(outGrad.name, [1, 0, 2, 3])], {
        kernel_shape: ints([oh, ow]),
        dilations: ints([sh, sw]),
        pads: ints([pt, pl, pb, pr]),
      });
      const rh = h + pt + pb - (oh - 1) * sh;
      const rw = w + pl + pr - (ow - 1) * sw;
      const cut = rh === kh && rw === kw ? r : g.op('Slice', [r, g.int64Const([0, 0]), g.int64Const([kh, kw]), g.int64Const([2, 3])]);
      return g.transpose(cut, [1, 0, 2, 3]);
    }
    // Channels first, then batch: each slice reshapes to [c, n*oh*ow] without another transpose.
    let x = g.transpose(input.name, [1, 0, 2, 3]);
    if (pt || pl || pb || pr) x = g.op('Pad', [x, g.int64Const([0, 0, pt, pl, 0, 0, pb, pr])]);
    const dy = g.op('Reshape', [g.transpose(outGrad.name, [1, 0, 2, 3]), g.int64Const([f, n * oh * ow])]);
    const hp = h + pt + pb;
    const wp = w + pl + pr;
    const taps: string[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        // Rows i, i+s, ..., i+(oh-1)s; the end is exclusive and within the padded input.
        const ends = [Math.min(i + (oh - 1) * sh + 1, hp), Math.min(j + (ow - 1) * sw + 1, wp)];
        const slice = g.op('Slice', [x, g.int64Const([i, j]), g.int64Const(ends), g.int64Const([2, 3]), g.int64Const([sh, sw])]);
        const cols = g.op('Reshape', [slice, g.int64Const([c, n * oh * ow])]);
        taps.push(g.unsqueeze(g.op('Gemm', [dy, cols], { transB: int(1) }), [2]));
      }
    }
    // [f, c, kh*kw] -> [f, c, kh, kw]
    return g.op('Reshape', [g.op('Concat', taps, { axis: int(2) }), g.int64Const([f, c, kh, kw])]);
  }

  // --- normalisation ---

  /**
   * Batch normalisation with the batch's statistics (training mode), over every axis but 1. Returns y
   * and the batch mean and biased variance [c] (for the moving statistics; not differentiated).
   */
  batchNorm(x: T, gamma: T, beta: T, epsilon: number): { y: T; mean: T; variance: T } {
    const { g } = this;
    const c = x.shape[1]!;
    const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const m = axes.reduce((p, a) => p * x.shape[a]!, 1);
    const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
    const bcast = (t: string): string => g.op('Reshape', [t, g.int64Const(bshape)]);
    const mean = g.reduce('ReduceMean', x.name, axes, true);
    const centred = g.op('Sub', [x.name, mean]);
    const variance = g.reduce('ReduceMean', g.op('Mul', [centred, centred]), axes, true);
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(epsilon)])])]);
    const xhat = g.op('Mul', [centred, inv]);
    const gammaB = bcast(gamma.name);
    const y: T = { name: g.op('Add', [g.op('Mul', [xhat, gammaB]), bcast(beta.name)]), shape: x.shape };
    this.record([x, gamma, beta], [y], ([dy], [nx, ng, nb]) => {
      const dbeta = g.reduce('ReduceSum', dy!, axes, true);
      const dgamma = g.reduce('ReduceSum', g.op('Mul', [dy!, xhat]), axes, true);
      // dx = gamma * inv / m * (m * dy - dbeta - xhat * dgamma)
      const dx = nx
        ? g.op('Mul', [
            g.op('Mul', [gammaB, g.op('Mul', [inv, g.scalar(1 / m)])]),
            g.op('Sub', [g.op('Sub', [g.op('Mul', [dy!, g.scalar(m)]), dbeta]), g.op('Mul', [xhat, dgamma])]),
          ])
        : null;
      const flat = (t: string): string => g.op('Reshape', [t, g.int64Const([c])]);
      return [dx, ng ? flat(dgamma) : null, nb ? flat(dbeta) : null];
    });
    const flat = (t: string): T => ({ name: g.op('Reshape', [t, g.int64Const([c])]), shape: [c] });
    return { y, mean: flat(mean), variance: flat(variance) };
  }

  /** Batch normalisation with fixed (moving) statistics, over axis 1: an affine map per channel. */
  batchNormInference(x: T, gamma: T, beta: T, mean: T, variance: T, epsilon: number): T {
    const { g } = this;
    const axes = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
    const y = this.op('BatchNormalization', [x.name, gamma.name, beta.name, mean.name, variance.name], x.shape, { epsilon });
    this.record([x, gamma, beta], [y], ([dy], [nx, ng, nb]) => {
      const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance.name, g.scalar(epsilon)])])]);
      const invB = g.op('Reshape', [inv, g.int64Const(bshape)]);
      const xhat = g.op('Mul', [g.op('Sub', [x.name, g.op('Reshape', [mean.name, g.int64Const(bshape)])]), invB]);
      const flat = (t: string): string => g.op('Reshape', [t, g.int64Const([x.shape[1]!])]);
      return [
        nx ? g.op('Mul', [dy!, g.op('Mul', [invB, g.op('Reshape', [gamma.name, g.int64Const(bshape)])])]) : null,
        ng ? flat(g.reduce('ReduceSum', g.op('Mul', [dy!, xhat]), axes, true)) : null,
        nb ? flat(g.reduce('ReduceSum', dy!, axes, true)) : null,
      ];
    });
    return y;
  }

  /** Keras' moving statistic: moving - (moving - batch) * (1 - momentum). Not differentiated. */
  movingAverage(moving: T, batch: T, momentum: number): T {
    const { g } = this;
    return { name: g.op('Sub', [moving.name, g.op('Mul', [g.op('Sub', [moving.name, batch.name]), g.scalar(1 - momentum)])]), shape: moving.shape };
  }

  // --- activations ---

  leakyRelu(x: T, alpha: number): T {
    const y = this.op('LeakyRelu', [x.name], x.shape, { alpha });
    this.record([x], [y], ([dy]) => [
      this.g.op('Where', [this.g.op('Greater', [x.name, this.g.scalar(0)]), dy!, this.g.op('Mul', [dy!, this.g.scalar(alpha)])]),
    ]);
    return y;
  }

  relu(x: T): T {
    const y = this.op('Relu', [x.name], x.shape);
    this.record([x], [y], ([dy]) => [this.g.op('Where', [this.g.op('Greater', [x.name, this.g.scalar(0)]), dy!, this.g.scalar(0)])]);
    return y;
  }

  tanh(x: T): T {
    const y = this.op('Tanh', [x.name], x.shape);
    // dy * (1 - y^2)
    this.record([x], [y], ([dy]) => [this.g.op('Mul', [dy!, this.g.op('Sub', [this.g.scalar(1), this.g.op('Mul', [y.name, y.name])])])]);
    return y;
  }

  sigmoid(x: T): T {
    const y = this.op('Sigmoid', [x.name], x.shape);
    // dy * y * (1 - y)
    this.record([x], [y], ([dy]) => [this.g.op('Mul', [this.g.op('Mul', [dy!, y.name]), this.g.op('Sub', [this.g.scalar(1), y.name])])]);
    return y;
  }

  /** Softmax over the last axis. */
  softmax(x: T): T {
    const last = x.shape.length - 1;
    const y = this.op('Softmax', [x.name], x.shape, { axis: int(last) });
    // y * (dy - sum(dy * y))
    this.record([x], [y], ([dy]) => [
      this.g.op('Mul', [y.name, this.g.op('Sub', [dy!, this.g.reduce('ReduceSum', this.g.op('Mul', [dy!, y.name]), [last], true)])]),
    ]);
    return y;
  }

  /** Inverted dropout with a mask fed by the caller (so the project's PRNG draws it): x * mask / (1 - rate). */
  dropout(x: T, mask: T, rate: number): T {
    const scaled = this.g.op('Mul', [mask.name, this.g.scalar(1 / (1 - rate))]);
    const y = this.op('Mul', [x.name, scaled], x.shape);
    this.record([x], [y], ([dy]) => [this.g.op('Mul', [dy!, scaled])]);
    return y;
  }

  // --- losses (scalars, as Keras computes them: probabilities clipped to [eps, 1 - eps]) ---

  /** A mean over all elements. */
  private meanAll(t: string): string {
    return this.g.op('ReduceMean', [t], { keepdims: int(0) });
  }

  /** 1 where eps <= p <= 1 - eps (tfjs' clipByValue gradient), else 0. */
  private inside(p: string, eps: number): string {
    const { g } = this;
    const ok = g.op('And', [g.op('GreaterOrEqual', [p, g.scalar(eps)]), g.op('LessOrEqual', [p, g.scalar(1 - eps)])]);
    return g.op('Cast', [ok], { to: int(DataType.FLOAT) });
  }

  /** Mean binary cross-entropy of probabilities `p` against a constant target in [0, 1]. */
  binaryCrossEntropy(p: T, target: number, eps: number): T {
    const { g } = this;
    const q = g.op('Clip', [p.name, g.scalar(eps), g.scalar(1 - eps)]);
    const logQ = (): string => g.op('Log', [q]);
    const log1mQ = (): string => g.op('Log', [g.op('Sub', [g.scalar(1), q])]);
    const terms =
      target === 1 ? logQ() : target === 0 ? log1mQ() : g.op('Add', [g.op('Mul', [logQ(), g.scalar(target)]), g.op('Mul', [log1mQ(), g.scalar(1 - target)])]);
    const loss: T = { name: g.op('Neg', [this.meanAll(terms)]), shape: [] };
    const n = size(p.shape);
    this.record([p], [loss], ([dl]) => {
      // d/dq of -(t log q + (1-t) log(1-q)) / n = ((1-t)/(1-q) - t/q) / n
      const a = target === 0 ? null : g.op('Div', [g.scalar(-target / n), q]);
      const b = target === 1 ? null : g.op('Div', [g.scalar((1 - target) / n), g.op('Sub', [g.scalar(1), q])]);
      const dq = a && b ? g.op('Add', [a, b]) : (a ?? b)!;
      return [g.op('Mul', [g.op('Mul', [dq, this.inside(p.name, eps)]), dl!])];
    });
    return loss;
  }

  /** Mean categorical cross-entropy of softmax rows `probs` [n, k] against one-hot rows `oneHot`. */
  categoricalCrossEntropy(probs: T, oneHot: string, eps: number): T {
    const { g } = this;
    const n = probs.shape[0]!;
    const q = g.op('Clip', [probs.name, g.scalar(eps), g.scalar(1 - eps)]);
    const perRow = g.reduce('ReduceSum', g.op('Mul', [oneHot, g.op('Log', [q])]), [1], false);
    const loss: T = { name: g.op('Neg', [this.meanAll(perRow)]), shape: [] };
    this.record([probs], [loss], ([dl]) => {
      const dq = g.op('Div', [g.op('Mul', [oneHot, g.scalar(-1 / n)]), q]);
      return [g.op('Mul', [g.op('Mul', [dq, this.inside(probs.name, eps)]), dl!])];
    });
    return loss;
  }

  /** -mean(log(1 - p(asked))): small when the digit head does not see the asked digit. */
  rejectionLoss(probs: T, oneHot: string, eps: number): T {
    const { g } = this;
    const n = probs.shape[0]!;
    const asked = g.reduce('ReduceSum', g.op('Mul', [oneHot, probs.name]), [1], true);
    const q = g.op('Clip', [asked, g.scalar(eps), g.scalar(1 - eps)]);
    const loss: T = { name: g.op('Neg', [this.meanAll(g.op('Log', [g.op('Sub', [g.scalar(1), q])]))]), shape: [] };
    this.record([probs], [loss], ([dl]) => {
      const dq = g.op('Div', [g.scalar(1 / n), g.op('Sub', [g.scalar(1), q])]);
      return [g.op('Mul', [g.op('Mul', [oneHot, g.op('Mul', [dq, this.inside(asked, eps)])]), dl!])];
    });
    return loss;
  }

  /** Keras' binary accuracy against an all-1 or all-0 label: the share of p > 0.5 (or <= 0.5). */
  binaryAccuracy(p: T, label: 0 | 1): T {
    const { g } = this;
    const hit = label === 1 ? g.op('Greater', [p.name, g.scalar(0.5)]) : g.op('LessOrEqual', [p.name, g.scalar(0.5)]);
    return { name: this.meanAll(g.op('Cast', [hit], { to: int(DataType.FLOAT) })), shape: [] };
  }

  /**
   * Reverse mode: the gradients of the sum of `seeds` (each a scalar tensor with its weight) with
   * respect to `wrt`, in order; null for a tensor the seeds do not depend on.
   */
  gradients(seeds: ReadonlyArray<readonly [T, number]>, wrt: readonly T[]): Array<string | null> {
    const { g } = this;
    const live = new Set(wrt.map((t) => t.name));
    for (const e of this.tape) if (e.inputs.some((x) => live.has(x.name))) for (const o of e.outputs) live.add(o.name);
    const grads = new Map<string, string>();
    const accumulate = (name: string, grad: string): void => {
      const prev = grads.get(name);
      grads.set(name, prev ? g.op('Add', [prev, grad]) : grad);
    };
    for (const [t, weight] of seeds) if (weight !== 0 && live.has(t.name)) accumulate(t.name, g.scalar(weight));
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const e = this.tape[i]!;
      const dys = e.outputs.map((o) => grads.get(o.name) ?? null);
      if (dys.every((d) => d === null)) continue;
      const needs = e.inputs.map((x) => live.has(x.name));
      if (!needs.some(Boolean)) continue;
      // An output without a gradient contributes zeros (ops here have one differentiated output).
      const dxs = e.backward(dys, needs);
      e.inputs.forEach((x, k) => {
        const dx = dxs[k];
        if (needs[k] && dx) accumulate(x.name, dx);
      });
    }
    return wrt.map((t) => grads.get(t.name) ?? null);
  }
}
