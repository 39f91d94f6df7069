import * as tf from '@tensorflow/tfjs';

/**
 * Kernel replacements for tfjs' WASM backend, registered only when that backend runs.
 *
 * BatchMatMul: XNNPACK's path for a transposed operand is ~10x slower than an explicit Transpose followed
 * by a plain matMul (12 ms vs 1.2 ms for 784x128 by 128x128), and every dense layer's backprop asks for
 * transposed operands. The replacement materialises the transpose with WASM's own Transpose kernel and
 * then runs the untransposed product: the same arithmetic, in a faster memory order.
 *
 * Tanh: WASM's Tanh is scalar libm (2.5 ms for 128x784), while its Sigmoid is XNNPACK's vectorised
 * kernel (0.13 ms). tanh(x) = 2 * sigmoid(2x) - 1, exact up to float rounding (absolute error < 1e-7).
 */

type KernelFunc = tf.KernelConfig['kernelFunc'];
interface WasmBackend {
  disposeData(dataId: object): boolean;
}

let registered = false;

/** Swaps the last two axes of a tensor of rank >= 2. */
function lastTwoSwapped(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

/** Wraps the WASM BatchMatMul so that transposed operands are transposed explicitly first. */
function explicitTransposeMatMul(original: KernelFunc, transpose: KernelFunc): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return original({ inputs, backend, attrs });
    const temps: tf.TensorInfo[] = [];
    const materialise = (t: tf.TensorInfo, flag: boolean): tf.TensorInfo => {
      if (!flag) return t;
      const out = transpose({ inputs: { x: t }, backend, attrs: { perm: lastTwoSwapped(t.shape.length) } }) as tf.TensorInfo;
      temps.push(out);
      return out;
    };
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    try {
      return original({
        inputs: { ...inputs, a: materialise(a, transposeA), b: materialise(b, transposeB) },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const t of temps) (backend as unknown as WasmBackend).disposeData(t.dataId);
    }
  };
}

/** Tanh through the vectorised Sigmoid kernel: 2 * sigmoid(2x) - 1. */
function tanhViaSigmoid(kernels: Record<'Sigmoid' | 'Multiply' | 'Sub', KernelFunc>): KernelFunc {
  return ({ inputs, backend }) => {
    const wasm = backend as unknown as WasmBackend & {
      makeOutput(shape: number[], dtype: string): tf.TensorInfo;
      typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
    };
    const { x } = inputs as { x: tf.TensorInfo };
    const scalar = (v: number): tf.TensorInfo => {
      const t = wasm.makeOutput([], 'float32');
      wasm.typedArrayFromHeap(t)[0] = v;
      return t;
    };
    const two = scalar(2);
    const one = scalar(1);
    const temps = [two, one];
    try {
      const x2 = kernels.Multiply({ inputs: { a: x, b: two }, backend }) as tf.TensorInfo;
      temps.push(x2);
      const s = kernels.Sigmoid({ inputs: { x: x2 }, backend }) as tf.TensorInfo;
      temps.push(s);
      const s2 = kernels.Multiply({ inputs: { a: s, b: two }, backend }) as tf.TensorInfo;
      temps.push(s2);
      return kernels.Sub({ inputs: { a: s2, b: one }, backend });
    } finally {
      for (const t of temps) wasm.disposeData(t.dataId);
    }
  };
}

/**
 * UnsortedSegmentSum, missing from tfjs 4.22's WASM backend: the gradient of Gather, so of Embedding
 * (the conditional GAN's label embeddings). out[ids[i]] += x[i], straight on the WASM heap.
 */
const unsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = backend as unknown as WasmBackend & {
    makeOutput(shape: number[], dtype: string): tf.TensorInfo;
    typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array;
  };
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const { numSegments } = attrs as unknown as { numSegments: number };
  if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum on WASM supports float32, received ${x.dtype}`);
  const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
  const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
  const out = wasm.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], 'float32');
  const dst = wasm.typedArrayFromHeap(out);
  const src = wasm.typedArrayFromHeap(x);
  const ids = wasm.typedArrayFromHeap(segmentIds);
  dst.fill(0);
  for (let i = 0; i < rows; i++) {
    const seg = ids[i]!;
    if (seg < 0 || seg >= numSegments) continue;
    for (let j = 0; j < inner; j++) dst[seg * inner + j]! += src[i * inner + j]!;
  }
  return out;
};

/** Replaces a registered kernel of the WASM backend. */
function replaceKernel(name: string, make: (original: KernelFunc) => KernelFunc): void {
  const config = tf.getKernel(name, 'wasm');
  if (!config) throw new Error(`The WASM backend has no '${name}' kernel to replace`);
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...config, kernelFunc: make(config.kernelFunc) });
}

/**
 * Registers ganforge's WASM kernels (idempotent). Call after the WASM backend is loaded; other backends
 * are untouched.
 */
export function registerWasmKernels(): void {
  if (registered) return;
  const transpose = tf.getKernel('Transpose', 'wasm')?.kernelFunc;
  if (!transpose) throw new Error("The WASM backend is not loaded: no 'Transpose' kernel found");
  for (const name of ['BatchMatMul', '_FusedMatMul']) {
    replaceKernel(name, (original) => explicitTransposeMatMul(original, transpose));
  }
  const kernel = (name: string): KernelFunc => {
    const k = tf.getKernel(name, 'wasm')?.kernelFunc;
    if (!k) throw new Error(`The WASM backend has no '${name}' kernel`);
    return k;
  };
  const parts = { Sigmoid: kernel('Sigmoid'), Multiply: kernel('Multiply'), Sub: kernel('Sub') };
  replaceKernel('Tanh', () => tanhViaSigmoid(parts));
  if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum });
  registered = true;
}
