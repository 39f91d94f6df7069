/**
 * The generator contract, in one place: what an exported ganforge generator's ONNX graph takes and
 * gives, how to tell one from another model, and how to build its feeds. The server, the web page, the
 * evaluation, the exporter and the tests all use this file. Platform-free: feeds are plain typed arrays
 * that each runtime wraps in its own tensor type.
 */
import { DIGIT_CLASSES } from './classifier.ts';
import type { TensorSpec } from './tensor-spec.ts';

/** Graph input and output names of every exported generator. */
export const GENERATOR_IO = { latent: 'latent', label: 'label', image: 'image' } as const;

/** Digit classes of conditional generators: the classifier's digits. */
export const CLASSES = DIGIT_CLASSES;

/** The part of a manifest (or of a graph's metadata) the contract reads. */
export interface GeneratorInterface {
  readonly latentDim: number;
  readonly inputs: readonly Pick<TensorSpec, 'name'>[];
  readonly outputs: readonly { readonly name: string; readonly shape: ReadonlyArray<number | string> }[];
}

/** True for a generator: its first input is the latent (the classifier's is an image). */
export function isGenerator(m: { readonly inputs?: readonly Pick<TensorSpec, 'name'>[] }): boolean {
  return Array.isArray(m.inputs) && m.inputs[0]?.name === GENERATOR_IO.latent;
}

/** True when a generator takes a digit label as its second input (conditional GAN). */
export function isConditional(m: { readonly inputs: readonly Pick<TensorSpec, 'name'>[] }): boolean {
  return m.inputs.length === 2 && m.inputs[1]?.name === GENERATOR_IO.label;
}

/** Labels for n cells when none are asked for: the digits 0-9 in turn. */
export function cycleLabels(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i % CLASSES);
}

/** Image height, width and channels from a generator's first output ([batch, h, w, c]). */
export function imageSize(m: { readonly name?: string; readonly outputs: readonly { readonly shape: ReadonlyArray<number | string> }[] }): {
  height: number;
  width: number;
  channels: number;
} {
  const shape = m.outputs[0]?.shape;
  if (shape?.length !== 4 || !shape.slice(1).every((d) => typeof d === 'number' && d > 0)) {
    throw new Error(`Model '${m.name ?? '?'}': expected an image output [batch, height, width, channels] but it is [${shape?.join(', ') ?? ''}]`);
  }
  const [, height, width, channels] = shape as [unknown, number, number, number];
  return { height, width, channels };
}

/** The inputs and outputs an exported generator declares in its manifest. */
export function generatorSpecs(latentDim: number, imageShape: readonly number[], conditional: boolean): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  return {
    inputs: [
      { name: GENERATOR_IO.latent, shape: ['batch', latentDim], dtype: 'float32' },
      ...(conditional ? [{ name: GENERATOR_IO.label, shape: ['batch', 1], dtype: 'int32' } as const] : []),
    ],
    outputs: [{ name: GENERATOR_IO.image, shape: ['batch', ...imageShape], dtype: 'float32' }],
  };
}

/** One feed of a generator run, as plain data. */
export interface Feed {
  readonly name: string;
  readonly type: 'float32' | 'int32';
  readonly data: Float32Array | Int32Array;
  readonly dims: readonly number[];
}

/**
 * The feeds for `n` latents (row-major [n, latentDim]) and, for a conditional generator, their digit
 * labels (default: 0-9 in turn).
 */
export function generatorFeeds(m: GeneratorInterface, latents: Float32Array, n: number, labels: Int32Array | null = null): Feed[] {
  if (latents.length !== n * m.latentDim)
    throw new RangeError(`Expected ${n * m.latentDim} latent values for ${n} rows of ${m.latentDim} but received ${latents.length}`);
  const feeds: Feed[] = [{ name: m.inputs[0]!.name, type: 'float32', data: latents, dims: [n, m.latentDim] }];
  if (isConditional(m)) {
    const digits = labels ?? cycleLabels(n);
    if (digits.length !== n) throw new RangeError(`Expected ${n} labels but received ${digits.length}`);
    feeds.push({ name: m.inputs[1]!.name, type: 'int32', data: digits, dims: [n, 1] });
  }
  return feeds;
}

/** Feeds keyed by input name, each wrapped by `tensor` (e.g. `(f) => new ort.Tensor(f.type, f.data, f.dims)`). */
export function feedRecord<T>(feeds: readonly Feed[], tensor: (feed: Feed) => T): Record<string, T> {
  return Object.fromEntries(feeds.map((f) => [f.name, tensor(f)]));
}

/** The name of a generator's image output. */
export function imageOutput(m: Pick<GeneratorInterface, 'outputs'>): string {
  return m.outputs[0]!.name;
}
