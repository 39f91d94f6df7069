import * as tf from '@tensorflow/tfjs';

/**
 * Convolution gradients for tfjs' WASM backend, registered only when that backend runs.
 *
 * tfjs 4.22's WASM backend has no Conv2DBackpropFilter kernel (training any Conv2D or Conv2DTranspose
 * throws), and its Conv2DBackpropInput (the forward pass of Conv2DTranspose, and conv backprop) is a
 * naive loop without XNNPACK. Both are written here as im2col / col2im in JS around one large matrix
 * product on WASM's own (XNNPACK) BatchMatMul:
 *
 *   filter gradient:  dW[K, Cout] = P^T dY        with P[M, K] the input patches (im2col)
 *   input gradient:   dX = col2im(dY W^T)         scattering each patch row back onto the input
 *
 * where M = batch * outHeight * outWidth and K = kernelHeight * kernelWidth * inChannels. The JS loops
 * only move data (contiguous runs of channels); all arithmetic is in the matrix product.
 */

type KernelFunc = tf.KernelConfig['kernelFunc'];
interface WasmBackend {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}
interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** The patch geometry shared by both kernels. */
interface Geometry {
  n: number;
  h: number;
  w: number;
  ci: number;
  oh: number;
  ow: number;
  co: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

function geometry(xShape: number[], filterShape: number[], attrs: ConvAttrs, kernel: string): Geometry {
  const format = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat);
  if (format !== 'channelsLast') throw new Error(`${kernel} on WASM supports NHWC only, received ${attrs.dataFormat}`);
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    format,
  );
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    ci: info.inChannels,
    oh: info.outHeight,
    ow: info.outWidth,
    co: info.outChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

/** For each kernel column j, the output columns [start, end) whose input column exists. */
function validColumns(g: Geometry): { start: Int32Array; end: Int32Array } {
  const start = new Int32Array(g.kw);
  const end = new Int32Array(g.kw);
  for (let j = 0; j < g.kw; j++) {
    // ix = x * sw + j - left must lie in [0, w).
    start[j] = Math.max(0, Math.ceil((g.left - j) / g.sw));
    end[j] = Math.max(start[j]!, Math.min(g.ow, Math.floor((g.w - 1 + g.left - j) / g.sw) + 1));
  }
  return { start, end };
}

/**
 * Moves data between the input [n, h, w, ci] and the patch matrix [n * oh * ow, kh * kw * ci], one
 * kernel tap at a time over a row of output positions, with the valid range of each row computed once
 * instead of tested per pixel: `gather` copies input into patches (im2col; patches outside the input
 * must already be zero), otherwise patches are added onto the input (col2im). Straight loops, no
 * callbacks: this is the hot path of the convolution gradients.
 */
function movePatches(g: Geometry, input: Float32Array, patches: Float32Array, gather: boolean): void {
  const { n, h, w, ci, oh, ow, kh, kw, sh, sw, top, left } = g;
  const k = kh * kw * ci;
  const { start, end } = validColumns(g);
  const inStep = sw * ci;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < oh; y++) {
      for (let i = 0; i < kh; i++) {
        const iy = y * sh + i - top;
        if (iy < 0 || iy >= h) continue;
        const inRow = (b * h + iy) * w;
        const outRow = (b * oh + y) * ow;
        for (let j = 0; j < kw; j++) {
          const x0 = start[j]!;
          const x1 = end[j]!;
          let at = (inRow + x0 * sw + j - left) * ci;
          let to = (outRow + x0) * k + (i * kw + j) * ci;
          if (ci === 1) {
            if (gather) for (let x = x0; x < x1; x++, at += inStep, to += k) patches[to] = input[at]!;
            else for (let x = x0; x < x1; x++, at += inStep, to += k) input[at]! += patches[to]!;
          } else if (gather) {
            for (let x = x0; x < x1; x++, at += inStep, to += k) for (let c = 0; c < ci; c++) patches[to + c] = input[at + c]!;
          } else {
            for (let x = x0; x < x1; x++, at += inStep, to += k) for (let c = 0; c < ci; c++) input[at + c]! += patches[to + c]!;
          }
        }
      }
    }
  }
}

/** Runs a registered WASM kernel by name (so ganforge's own BatchMatMul is used when installed). */
function run(name: string, args: Parameters<KernelFunc>[0]): tf.TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`The WASM backend has no '${name}' kernel`);
  return kernel.kernelFunc(args) as tf.TensorInfo;
}

/** dW = im2col(x)^T dy. */
const conv2DBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as unknown as WasmBackend;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = attrs as unknown as ConvAttrs & { filterShape: number[] };
  const g = geometry(x.shape, a.filterShape, a, 'Conv2DBackpropFilter');
  const m = g.n * g.oh * g.ow;
  const k = g.kh * g.kw * g.ci;
  const temps: tf.TensorInfo[] = [];
  try {
    const patches = wasm.makeOutput([1, m, k], 'float32');
    temps.push(patches);
    // Views are taken after the allocation: growing WASM memory detaches older views.
    const src = wasm.typedArrayFromHeap(x);
    const dst = wasm.typedArrayFromHeap(patches);
    // Zero first (one native fill), then only the taps inside the input are copied.
    dst.fill(0);
    movePatches(g, src, dst, true);
    const dy2 = run('Reshape', { inputs: { x: dy }, backend, attrs: { shape: [1, m, g.co] } });
    temps.push(dy2);
    const product = run('BatchMatMul', { inputs: { a: patches, b: dy2 }, backend, attrs: { transposeA: true, transposeB: false } });
    temps.push(product);
    return run('Reshape', { inputs: { x: product }, backend, attrs: { shape: a.filterShape } });
  } finally {
    for (const t of temps) wasm.disposeData(t.dataId);
  }
};

/**
 * Stride 1: dX is a forward convolution of dy with the filter flipped in space and its channel axes
 * swapped, padded by (k - 1 - pad), which WASM runs on XNNPACK's convolution. Null when the padding
 * would be negative.
 */
function backpropInputStride1(g: Geometry, dy: tf.TensorInfo, filter: tf.TensorInfo, backend: object): tf.TensorInfo | null {
  const bottom = g.oh - 1 + g.kh - g.h - g.top;
  const right = g.ow - 1 + g.kw - g.w - g.left;
  const pads = [g.kh - 1 - g.top, g.kh - 1 - bottom, g.kw - 1 - g.left, g.kw - 1 - right];
  if (pads.some((p) => p < 0)) return null;
  const wasm = backend as WasmBackend;
  const flipped = wasm.makeOutput([g.kh, g.kw, g.co, g.ci], 'float32');
  try {
    const src = wasm.typedArrayFromHeap(filter);
    const dst = wasm.typedArrayFromHeap(flipped);
    for (let i = 0; i < g.kh; i++) {
      for (let j = 0; j < g.kw; j++) {
        const from = ((g.kh - 1 - i) * g.kw + (g.kw - 1 - j)) * g.ci * g.co;
        const to = (i * g.kw + j) * g.co * g.ci;
        for (let c = 0; c < g.ci; c++) for (let o = 0; o < g.co; o++) dst[to + o * g.ci + c] = src[from + c * g.co + o]!;
      }
    }
    return run('Conv2D', {
      inputs: { x: dy, filter: flipped },
      backend,
      attrs: {
        strides: 1,
        pad: [
          [0, 0],
          [pads[0]!, pads[1]!],
          [pads[2]!, pads[3]!],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: 1,
        dimRoundingMode: undefined,
      } as unknown as tf.NamedAttrMap,
    });
  } finally {
    wasm.disposeData(flipped.dataId);
  }
}

/** dX = col2im(dy W^T), or XNNPACK's convolution when the stride is 1. */
const conv2DBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as unknown as WasmBackend;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const a = attrs as unknown as ConvAttrs & { inputShape: number[] };
  const g = geometry(a.inputShape, filter.shape, a, 'Conv2DBackpropInput');
  if (g.sh === 1 && g.sw === 1) {
    const fast = backpropInputStride1(g, dy, filter, backend);
    if (fast) return fast;
  }
  const m = g.n * g.oh * g.ow;
  const k = g.kh * g.kw * g.ci;
  const temps: tf.TensorInfo[] = [];
  try {
    const dy2 = run('Reshape', { inputs: { x: dy }, backend, attrs: { shape: [1, m, g.co] } });
    temps.push(dy2);
    const w2 = run('Reshape', { inputs: { x: filter }, backend, attrs: { shape: [1, k, g.co] } });
    temps.push(w2);
    const cols = run('BatchMatMul', { inputs: { a: dy2, b: w2 }, backend, attrs: { transposeA: false, transposeB: true } });
    temps.push(cols);
    const out = wasm.makeOutput(a.inputShape, 'float32');
    const src = wasm.typedArrayFromHeap(cols);
    const dst = wasm.typedArrayFromHeap(out);
    dst.fill(0);
    movePatches(g, dst, src, false);
    return out;
  } finally {
    for (const t of temps) wasm.disposeData(t.dataId);
  }
};

/**
 * Sum over the leading axes (bias and batch-norm gradients reduce [N, H, W] of NHWC tensors): WASM's
 * Sum first transposes the reduced axes innermost (a full copy, 115 ms per full-width DCGAN iteration
 * for one layer's reductions). Column sums straight off the WASM heap read the data once, accumulating
 * in float64. Other reductions use WASM's own kernel.
 */
function leadingAxesSum(original: KernelFunc): KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { x } = inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const rank = x.shape.length;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    const leading = axes.every((ax, i) => ax === i) && axes.length < rank;
    if (x.dtype !== 'float32' || !leading) return original(args);
    const wasm = backend as unknown as WasmBackend;
    const m = axes.reduce((s, ax) => s * x.shape[ax]!, 1);
    const c = x.shape.slice(axes.length).reduce((p, q) => p * q, 1);
    const outShape = keepDims ? x.shape.map((d, i) => (i < axes.length ? 1 : d)) : x.shape.slice(axes.length);
    const out = wasm.makeOutput(outShape, 'float32');
    const src = wasm.typedArrayFromHeap(x);
    const acc = new Float64Array(c);
    for (let row = 0; row < m; row++) {
      const base = row * c;
      for (let j = 0; j < c; j++) acc[j]! += src[base + j]!;
    }
    wasm.typedArrayFromHeap(out).set(acc);
    return out;
  };
}

/**
 * FusedBatchNorm's gradient without `tile`: tfjs' own gradient tiles 1/sqrt(var + eps) to the full input
 * shape before multiplying (374 ms of a full-width DCGAN iteration on WASM); broadcasting the
 * per-channel vector gives the same products. The other derivatives are tfjs' own formulas.
 */
const batchNormGradient: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const grad = Array.isArray(dy) ? dy[0]! : dy;
    const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
    const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const scaleValue = scale ?? tf.scalar(1);
    const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const reduce = (t: tf.Tensor): tf.Tensor => tf.reshape(mean.rank === 1 ? tf.sum(t, axes) : t, mean.shape);
    const xMinusMean = tf.sub(x, mean);
    const dyTimesScale = tf.mul(grad, scaleValue);
    const rsqrtVar = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const minusHalfRCube = tf.mul(tf.mul(tf.mul(rsqrtVar, rsqrtVar), rsqrtVar), tf.scalar(-0.5));
    return {
      x: () => tf.reshape(tf.mul(tf.mul(grad, rsqrtVar), scaleValue), x.shape),
      mean: () => reduce(tf.mul(tf.mul(rsqrtVar, tf.scalar(-1)), dyTimesScale)),
      variance: () => reduce(tf.mul(tf.mul(minusHalfRCube, xMinusMean), dyTimesScale)),
      scale: () => reduce(tf.mul(grad, tf.mul(xMinusMean, rsqrtVar))),
      offset: () => reduce(grad),
    };
  },
};

let registered = false;

/** Registers the convolution gradient kernels for WASM (idempotent; replaces WASM's slow one). */
export function registerWasmConvKernels(): void {
  if (registered) return;
  if (!tf.getKernel('Transpose', 'wasm')) throw new Error('The WASM backend is not loaded');
  for (const [kernelName, kernelFunc] of [
    ['Conv2DBackpropFilter', conv2DBackpropFilter],
    ['Conv2DBackpropInput', conv2DBackpropInput],
  ] as const) {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
  const sum = tf.getKernel('Sum', 'wasm')!;
  tf.unregisterKernel('Sum', 'wasm');
  tf.registerKernel({ ...sum, kernelFunc: leadingAxesSum(sum.kernelFunc) });
  tf.registerGradient(batchNormGradient);
  registered = true;
}
