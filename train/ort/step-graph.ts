import type * as tf from '@tensorflow/tfjs';
import { DataType, GraphBuilder, int, serialiseModel } from 'tfjs-to-onnx/graph-builder';
import type { AUGMENT_PASSES, Augmentation } from '../gan/augment.ts';
import type { DigitHead, GanKind } from '../gan/iteration.ts';
import { CLASSES } from '../gan/models.ts';
import { Lowering, type Mode, type WeightSource } from './lower.ts';
import { DiffGraph, type IntT, size, type T } from './tape.ts';

// One whole training iteration as one ONNX graph: G makes the fakes, D steps on the real batch and
// then on the fakes (two Adam updates, as Keras' two train_on_batch calls), then G steps through the
// updated D. Weights, moving statistics and Adam moments are graph inputs (fed from JS buffers each
// run) and their new values outputs: onnxruntime-node keeps no state between runs.

/** Opset of the training graphs. */
export const TRAIN_OPSET = 17;

/** Keras' epsilon, the clip of probabilities before the logarithms (train/gan/steps.ts). */
const LOSS_EPSILON = 1e-7;

/**
 * Where one weight lives: its tfjs variable and its range in the model's flat buffer. Convolution
 * kernels are kept in ONNX's layout ([out, in, kh, kw] for Conv, [in, out, kh, kw] for ConvTranspose,
 * both tfjs' [kh, kw, a, b] as [b, a, kh, kw]), so no iteration transposes them; they are converted
 * only when the engine reads or writes the tfjs variables.
 */
export interface Slot {
  readonly variable: tf.LayerVariable;
  /** The shape in the engine (and graph). */
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
  /** True for a convolution kernel: stored as [b, a, kh, kw] instead of tfjs' [kh, kw, a, b]. */
  readonly convKernel: boolean;
}

/** Copies a weight's tfjs-layout values into the engine's layout at the slot's offset. */
export function toEngine(slot: Slot, tfjs: ArrayLike<number>, out: Float32Array): void {
  if (!slot.convKernel) {
    out.set(tfjs as Float32Array, slot.offset);
    return;
  }
  const [b, a, kh, kw] = slot.shape as [number, number, number, number];
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let ai = 0; ai < a; ai++)
        for (let bi = 0; bi < b; bi++) out[slot.offset + ((bi * a + ai) * kh + i) * kw + j] = tfjs[((i * kw + j) * a + ai) * b + bi]!;
}

/** A weight's values from the engine's flat buffer, in tfjs' layout (a new array). */
export function toTfjs(slot: Slot, flat: Float32Array): Float32Array {
  if (!slot.convKernel) return flat.slice(slot.offset, slot.offset + slot.size);
  const [b, a, kh, kw] = slot.shape as [number, number, number, number];
  const out = new Float32Array(slot.size);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let ai = 0; ai < a; ai++)
        for (let bi = 0; bi < b; bi++) out[((i * kw + j) * a + ai) * b + bi] = flat[slot.offset + ((bi * a + ai) * kh + i) * kw + j]!;
  return out;
}

/** The kernels of a model's Conv2D and Conv2DTranspose layers (nested models included). */
function convKernels(model: tf.LayersModel, out = new Set<tf.LayerVariable>()): Set<tf.LayerVariable> {
  for (const layer of model.layers) {
    if ('layers' in layer) convKernels(layer as tf.LayersModel, out);
    const cls = layer.getClassName();
    if ((cls === 'Conv2D' || cls === 'Conv2DTranspose') && layer.weights[0]) out.add(layer.weights[0]);
  }
  return out;
}

/** A model's weights as two flat buffers: trainable parameters and non-trainable buffers (moving statistics). */
export interface ModelLayout {
  readonly params: readonly Slot[];
  readonly buffers: readonly Slot[];
  readonly paramCount: number;
  readonly bufferCount: number;
}

function slots(variables: readonly tf.LayerVariable[], kernels: ReadonlySet<tf.LayerVariable>): { slots: Slot[]; count: number } {
  let offset = 0;
  const out = variables.map((variable) => {
    const convKernel = kernels.has(variable);
    const [kh, kw, a, b] = variable.shape as number[];
    const shape = convKernel ? [b!, a!, kh!, kw!] : ([...variable.shape] as number[]);
    const slot: Slot = { variable, shape, offset, size: size(shape), convKernel };
    offset += slot.size;
    return slot;
  });
  return { slots: out, count: offset };
}

/** The flat layout of a model: trainable weights in tfjs' trainableWeights order (Adam's), then the rest. */
export function modelLayout(model: tf.LayersModel): ModelLayout {
  const kernels = convKernels(model);
  const p = slots(model.trainableWeights, kernels);
  const b = slots(model.nonTrainableWeights, kernels);
  return { params: p.slots, buffers: b.slots, paramCount: p.count, bufferCount: b.count };
}

/** What the iteration graph computes (fixed for a run, except whether G is updated). */
export interface StepSpec {
  readonly kind: GanKind;
  readonly conditional: boolean;
  readonly labelledD: boolean;
  readonly head: DigitHead;
  readonly fakeMode: Mode;
  readonly labelSmoothing: number;
  readonly batchSize: number;
  readonly latentDim: number;
  readonly imageShape: readonly [number, number, number];
  /** DiffAugment on every image D sees (train/gan/augment.ts); empty = none. */
  readonly augment: readonly Augmentation[];
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  /** Adam's epsilon (tfjs: the backend's, 1e-7 in float32). */
  readonly epsilon: number;
  /** false during --d-warmup: G's loss is measured, G is not updated. */
  readonly updateG: boolean;
}

/** Names of the graph's inputs and outputs, for the engine's feeds and fetches. */
export const IO = {
  real: 'real',
  realLabels: 'real_labels',
  z: 'z',
  fakeLabels: 'fake_labels',
  z2: 'z2',
  gLabels: 'g_labels',
  /** 1 - beta^t for the three Adam updates: D on real, D on fakes, G. */
  adam: [
    'd1_one_minus_acc_beta1',
    'd1_one_minus_acc_beta2',
    'd2_one_minus_acc_beta1',
    'd2_one_minus_acc_beta2',
    'g_one_minus_acc_beta1',
    'g_one_minus_acc_beta2',
  ],
  /** [dRealLoss, dRealAccuracy, dFakeLoss, dFakeAccuracy, gLoss] */
  losses: 'losses',
  /** A D pass's augmentation: translation matrices (rows, cols) and the cut-out mask (augment.ts). */
  augment: (pass: (typeof AUGMENT_PASSES)[number], what: 'rows' | 'cols' | 'mask'): string => `aug_${pass}_${what}`,
} as const;

/** Per-weight input names of a model's state: p (value), m, v (Adam moments), b (buffer). */
export const stateName = (model: 'g' | 'd', what: 'p' | 'm' | 'v' | 'b', i: number): string => `${model}_${what}${i}`;
/** Flat outputs of a model's new state. */
export const stateOutput = (model: 'g' | 'd', what: 'p' | 'm' | 'v' | 'b'): string => `${model}_${what}_next`;

/** A model's tensors in one version: values of parameters and buffers, and Adam moments. */
interface ModelState {
  params: T[];
  m: T[];
  v: T[];
  buffers: T[];
}

/** Builds the iteration graph; returns the serialised model. */
export function buildStepGraph(spec: StepSpec, generator: tf.LayersModel, discriminator: tf.LayersModel): Uint8Array {
  const g = new GraphBuilder(TRAIN_OPSET);
  const d = new DiffGraph(g);
  const gl = modelLayout(generator);
  const dl = modelLayout(discriminator);
  const stateInputs = (model: 'g' | 'd', layout: ModelLayout): ModelState => ({
    params: layout.params.map((s, i) => d.input(stateName(model, 'p', i), s.shape)),
    m: layout.params.map((s, i) => d.input(stateName(model, 'm', i), s.shape)),
    v: layout.params.map((s, i) => d.input(stateName(model, 'v', i), s.shape)),
    buffers: layout.buffers.map((s, i) => d.input(stateName(model, 'b', i), s.shape)),
  });
  let gs = stateInputs('g', gl);
  let ds = stateInputs('d', dl);
  const [h, w, c] = spec.imageShape;
  const n = spec.batchSize;
  const real = d.input(IO.real, [n, h, w, c]);
  const z = d.input(IO.z, [n, spec.latentDim]);
  const z2 = d.input(IO.z2, [n, spec.latentDim]);
  const labels = spec.conditional
    ? { real: d.intInput(IO.realLabels, [n, 1]), fake: d.intInput(IO.fakeLabels, [n, 1]), g: d.intInput(IO.gLabels, [n, 1]) }
    : null;
  const adamScalars = IO.adam.map((name) => d.input(name, []));

  /** The weight source of a model state; batch-norm updates replace its buffers. */
  const source = (layout: ModelLayout, state: ModelState): WeightSource & { buffers: T[] } => {
    const buffers = [...state.buffers];
    const index = new Map<tf.LayerVariable, T>();
    for (const [i, s] of layout.params.entries()) index.set(s.variable, state.params[i]!);
    return {
      buffers,
      value: (variable) => {
        const p = index.get(variable);
        if (p) return p;
        const b = layout.buffers.findIndex((s) => s.variable === variable);
        if (b < 0) throw new Error(`Weight '${variable.name}' is not in the model's layout`);
        return buffers[b]!;
      },
      update: (variable, value) => {
        const b = layout.buffers.findIndex((s) => s.variable === variable);
        if (b < 0) throw new Error(`Moving statistic '${variable.name}' is not a non-trainable weight of the model`);
        buffers[b] = value;
      },
    };
  };
  const runModel = (model: tf.LayersModel, layout: ModelLayout, state: ModelState, mode: Mode, inputs: Array<T | IntT>, ints: boolean[]) => {
    const src = source(layout, state);
    const outs = new Lowering(d, src, mode).run(model, inputs, ints);
    return { outs, buffers: src.buffers };
  };
  const oneHot = (ids: IntT): string => d.oneHot(ids, CLASSES);
  const constant = (value: number): T => ({ name: g.scalar(value), shape: [] });
  /** DiffAugment of a D pass's images, from the draws fed for that pass (see augment.ts: the same arithmetic). */
  const augment = (images: T, pass: (typeof AUGMENT_PASSES)[number]): T => {
    if (spec.augment.length === 0) return images;
    if (c !== 1) throw new Error(`Augmentation is built for single-channel images, not ${c} channels`);
    let x = d.reshape(images, [n, h, w]);
    if (spec.augment.includes('translation')) {
      const rows = d.input(IO.augment(pass, 'rows'), [n, h, h]);
      const cols = d.input(IO.augment(pass, 'cols'), [n, w, w]);
      // Shifted with the background (-1) coming in: rows · (x + 1) · cols - 1.
      x = d.add(d.matMul(d.matMul(rows, d.add(x, constant(1))), cols), constant(-1));
    }
    if (spec.augment.includes('cutout')) x = d.mul(x, d.input(IO.augment(pass, 'mask'), [n, h, w]));
    return d.reshape(x, [n, h, w, c]);
  };

  // 1. G's fakes for the D step (no gradient flows back to G from them).
  d.reset();
  const gInputs = (zt: T, ids: IntT | undefined): { inputs: Array<T | IntT>; ints: boolean[] } =>
    ids ? { inputs: [zt, ids], ints: [false, true] } : { inputs: [zt], ints: [false] };
  const fakeIn = gInputs(z, labels?.fake);
  const fakes = runModel(generator, gl, gs, spec.fakeMode, fakeIn.inputs, fakeIn.ints);
  gs = { ...gs, buffers: fakes.buffers };
  const fake = fakes.outs[0]!;

  /** D's loss on a batch, its validity output, and the new buffers. */
  const dLoss = (
    pass: (typeof AUGMENT_PASSES)[number],
    original: T,
    ids: IntT | undefined,
    state: ModelState,
    target: number,
    classWeight: number,
    classTarget: 'match' | 'reject',
  ) => {
    const images = augment(original, pass);
    const inputs: Array<T | IntT> = spec.labelledD ? [images, ids!] : [images];
    const { outs, buffers } = runModel(discriminator, dl, state, 'training', inputs, spec.labelledD ? [false, true] : [false]);
    const validity = outs[0]!;
    const seeds: Array<readonly [T, number]> = [[d.binaryCrossEntropy(validity, target, LOSS_EPSILON), 1]];
    if (outs.length > 1 && classWeight !== 0) {
      if (!ids) throw new Error('An auxiliary-classifier discriminator needs the digit labels of its batch');
      const digits = outs[1]!;
      const term = classTarget === 'match' ? d.categoricalCrossEntropy(digits, oneHot(ids), LOSS_EPSILON) : d.rejectionLoss(digits, oneHot(ids), LOSS_EPSILON);
      seeds.push([term, classWeight]);
    }
    return { validity, seeds, buffers };
  };
  const total = (seeds: ReadonlyArray<readonly [T, number]>): string =>
    seeds.map(([t, wgt]) => (wgt === 1 ? t.name : g.op('Mul', [t.name, g.scalar(wgt)]))).reduce((a, b) => g.op('Add', [a, b]));
  const adamStep = (state: ModelState, grads: Array<string | null>, oneMinusAcc1: T, oneMinusAcc2: T): ModelState => {
    const next: ModelState = { params: [], m: [], v: [], buffers: state.buffers };
    state.params.forEach((p, i) => {
      const grad = grads[i];
      // A weight the loss does not reach keeps its value and moments (tfjs leaves it out of the update).
      if (!grad) {
        next.params.push(p);
        next.m.push(state.m[i]!);
        next.v.push(state.v[i]!);
        return;
      }
      const m = g.op('Add', [g.op('Mul', [state.m[i]!.name, g.scalar(spec.beta1)]), g.op('Mul', [grad, g.scalar(1 - spec.beta1)])]);
      const v = g.op('Add', [g.op('Mul', [state.v[i]!.name, g.scalar(spec.beta2)]), g.op('Mul', [g.op('Mul', [grad, grad]), g.scalar(1 - spec.beta2)])]);
      const mHat = g.op('Div', [m, oneMinusAcc1.name]);
      const vHat = g.op('Div', [v, oneMinusAcc2.name]);
      const stepSize = g.op('Mul', [g.op('Div', [mHat, g.op('Add', [g.op('Sqrt', [vHat]), g.scalar(spec.epsilon)])]), g.scalar(-spec.lr)]);
      next.params.push({ name: g.op('Add', [stepSize, p.name]), shape: p.shape });
      next.m.push({ name: m, shape: p.shape });
      next.v.push({ name: v, shape: p.shape });
    });
    return next;
  };

  // 2. D on the real batch (target 1 - smoothing), then Adam.
  d.reset();
  const onReal = dLoss('real', real, labels?.real, ds, 1 - spec.labelSmoothing, spec.head.real, 'match');
  const dRealAcc = d.binaryAccuracy(onReal.validity, 1);
  ds = adamStep({ ...ds, buffers: onReal.buffers }, d.gradients(onReal.seeds, ds.params), adamScalars[0]!, adamScalars[1]!);
  const dRealLoss = total(onReal.seeds);

  // 3. D on the fakes (target 0), with the weights after step 2.
  d.reset();
  const onFake = dLoss('fake', fake, labels?.fake, ds, 0, spec.head.fake, spec.head.fakeTarget);
  const dFakeAcc = d.binaryAccuracy(onFake.validity, 0);
  ds = adamStep({ ...ds, buffers: onFake.buffers }, d.gradients(onFake.seeds, ds.params), adamScalars[2]!, adamScalars[3]!);
  const dFakeLoss = total(onFake.seeds);

  // 4. G through the updated D with a fresh z, labelled real (the non-saturating loss).
  d.reset();
  const gIn = gInputs(z2, labels?.g);
  const gen = runModel(generator, gl, gs, 'training', gIn.inputs, gIn.ints);
  gs = { ...gs, buffers: gen.buffers };
  const onG = dLoss('g', gen.outs[0]!, labels?.g, ds, 1, spec.head.g, 'match');
  ds = { ...ds, buffers: onG.buffers };
  if (spec.updateG) gs = adamStep(gs, d.gradients(onG.seeds, gs.params), adamScalars[4]!, adamScalars[5]!);
  const gLoss = total(onG.seeds);

  const scalars = [dRealLoss, dRealAcc.name, dFakeLoss, dFakeAcc.name, gLoss].map((s) => g.unsqueeze(s, [0]));
  g.node('Concat', scalars, { axis: int(0) }, IO.losses, [g.reserve(IO.losses)]);
  g.output({ name: IO.losses, dataType: DataType.FLOAT, dims: [5] });
  const flatOut = (model: 'g' | 'd', what: 'p' | 'm' | 'v' | 'b', tensors: T[]): void => {
    if (tensors.length === 0) return;
    const name = g.reserve(stateOutput(model, what));
    const flats = tensors.map((t) => g.op('Reshape', [t.name, g.int64Const([-1])]));
    g.node('Concat', flats, { axis: int(0) }, name, [name]);
    g.output({ name, dataType: DataType.FLOAT, dims: [tensors.reduce((a, t) => a + size(t.shape), 0)] });
  };
  if (spec.updateG) {
    flatOut('g', 'p', gs.params);
    flatOut('g', 'm', gs.m);
    flatOut('g', 'v', gs.v);
  }
  flatOut('g', 'b', gs.buffers);
  flatOut('d', 'p', ds.params);
  flatOut('d', 'm', ds.m);
  flatOut('d', 'v', ds.v);
  flatOut('d', 'b', ds.buffers);
  return serialiseModel(g, { graphName: `${spec.kind}_training_step` });
}
