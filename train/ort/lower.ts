import type * as tf from '@tensorflow/tfjs';
import type { ConvGeometry, DiffGraph, IntT, T } from './tape.ts';

// The forward pass of a tfjs layers model as tape ops, from the model's own layer definitions (its
// classes, configs and weights), walked through its inbound nodes as the ONNX converter walks them.
// Images run channels-first inside the graph; a tensor changes layout only where an op needs it.

/** A tensor during lowering: float (with its layout) or integer (labels). */
type Ref = { readonly kind: 'float'; readonly t: T; readonly nchw: boolean } | { readonly kind: 'int'; readonly t: IntT };

/** Batch norm in training mode (batch statistics, moving statistics updated) or inference mode. */
export type Mode = 'training' | 'inference';

/** The value of each of a model's weights in this pass, and where updated moving statistics go. */
export interface WeightSource {
  /** The graph tensor holding a weight's current value: tfjs' layout, but ONNX's for convolution kernels. */
  readonly value: (variable: tf.LayerVariable) => T;
  /** Receives a batch norm's new moving statistics in training mode. */
  readonly update: (variable: tf.LayerVariable, value: T) => void;
}

/** Internal tfjs fields the walk needs. */
interface InternalNode {
  inputTensors: tf.SymbolicTensor[];
  outputTensors: tf.SymbolicTensor[];
}
type WithNodes = tf.layers.Layer & { inboundNodes: InternalNode[] };
type Config = Record<string, unknown>;

/** Layers the ort engine trains; anything else is refused before training starts. */
export const TRAINABLE_LAYERS = [
  'InputLayer',
  'Dense',
  'Reshape',
  'Flatten',
  'Conv2D',
  'Conv2DTranspose',
  'BatchNormalization',
  'LeakyReLU',
  'ReLU',
  'Activation',
  'Embedding',
  'Multiply',
  'Concatenate',
  'Sequential',
  'Model',
  'Functional',
] as const;

const ACTIVATIONS = ['linear', 'tanh', 'sigmoid', 'relu', 'softmax'];

function unsupported(layer: tf.layers.Layer, what: string): Error {
  return new Error(`Layer '${layer.name}' (class ${layer.getClassName()}) ${what}: the ort engine cannot train it; train this model with --engine tfjs`);
}

/**
 * Checks that every layer of a model (nested models included) can be trained on the ort engine,
 * throwing an error that names the first one that cannot.
 */
export function checkTrainable(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (!(TRAINABLE_LAYERS as readonly string[]).includes(cls)) throw unsupported(layer, 'is not supported');
    if ('layers' in layer) checkTrainable(layer as tf.LayersModel);
    const config = layer.getConfig() as Config;
    const act = config.activation as string | undefined;
    if (act !== undefined && !ACTIVATIONS.includes(act)) throw unsupported(layer, `has activation '${act}'`);
    if (cls === 'Conv2D' || cls === 'Conv2DTranspose') {
      const dilation = ([config.dilationRate ?? 1].flat() as number[]).some((d) => d !== 1);
      if (dilation) throw unsupported(layer, 'has a dilation rate other than 1');
      if (config.dataFormat === 'channelsFirst') throw unsupported(layer, 'is channels-first');
    }
    if (cls === 'BatchNormalization' && ![-1, 3, undefined].includes(config.axis as number) && !(Array.isArray(config.axis) && config.axis[0] === -1))
      throw unsupported(layer, `normalises axis ${String(config.axis)} (the ort engine normalises the last)`);
    if (cls === 'Concatenate' && ![-1, 3].includes(config.axis as number)) throw unsupported(layer, `concatenates on axis ${String(config.axis)}`);
  }
}

/** One pass of a model over given inputs. */
export class Lowering {
  constructor(
    private readonly d: DiffGraph,
    private readonly weights: WeightSource,
    private readonly mode: Mode,
  ) {}

  /** Runs `model` on float or int inputs (tfjs layout), returning its outputs (tfjs layout). */
  run(model: tf.LayersModel, inputs: ReadonlyArray<T | IntT>, intInputs: readonly boolean[]): T[] {
    const refs: Ref[] = inputs.map((t, i) => (intInputs[i] ? { kind: 'int', t } : { kind: 'float', t, nchw: false }));
    return this.model(model, refs).map((r) => this.channelsLast(this.float(r, model)));
  }

  private model(model: tf.LayersModel, inputs: Ref[]): Ref[] {
    const known = new Map<number, Ref>();
    model.inputs.forEach((t, i) => {
      known.set(t.id, inputs[i]!);
    });
    const pending: Array<[InternalNode, tf.layers.Layer]> = [];
    for (const layer of model.layers) {
      if (layer.getClassName() === 'InputLayer') continue;
      for (const node of (layer as WithNodes).inboundNodes) pending.push([node, layer]);
    }
    // A node runs once all its inputs are known (nodes of other models using a shared layer never are).
    let progress = true;
    while (progress && !model.outputs.every((t) => known.has(t.id))) {
      progress = false;
      for (let i = 0; i < pending.length; i++) {
        const [node, layer] = pending[i]!;
        if (!node.inputTensors.every((t) => known.has(t.id))) continue;
        pending.splice(i--, 1);
        progress = true;
        const outs = this.layer(
          layer,
          node.inputTensors.map((t) => known.get(t.id)!),
          node.outputTensors.map((t) => t.shape),
        );
        node.outputTensors.forEach((t, k) => {
          known.set(t.id, outs[k]!);
        });
      }
    }
    if (!model.outputs.every((t) => known.has(t.id))) throw new Error(`Model '${model.name}': its outputs cannot be reached from its inputs`);
    return model.outputs.map((t) => known.get(t.id)!);
  }

  private float(r: Ref, layer: { name: string }): T & { nchw?: boolean } {
    if (r.kind !== 'float') throw new Error(`Layer '${layer.name}': expected a float input, got integer labels`);
    return r.nchw ? { ...r.t, nchw: true } : r.t;
  }

  private f(r: Ref, layer: tf.layers.Layer): { t: T; nchw: boolean } {
    if (r.kind !== 'float') throw unsupported(layer, 'takes an integer input here');
    return { t: r.t, nchw: r.nchw };
  }

  /** tfjs layout: a channels-first rank-4 tensor goes back to [n, h, w, c] (a reshape when c = 1). */
  private channelsLast(r: T & { nchw?: boolean }): T {
    if (!r.nchw) return { name: r.name, shape: r.shape };
    const [n, c, h, w] = r.shape as [number, number, number, number];
    return c === 1 ? this.d.reshape(r, [n, h, w, c]) : this.d.transpose(r, [0, 2, 3, 1]);
  }

  private channelsFirst({ t, nchw }: { t: T; nchw: boolean }): T {
    if (nchw) return t;
    const [n, h, w, c] = t.shape as [number, number, number, number];
    return c === 1 ? this.d.reshape(t, [n, c, h, w]) : this.d.transpose(t, [0, 3, 1, 2]);
  }

  private w(layer: tf.layers.Layer, index: number): T {
    const v = layer.weights[index];
    if (!v) throw unsupported(layer, `has no weight ${index}`);
    return this.weights.value(v);
  }

  private activation(layer: tf.layers.Layer, name: string | undefined, x: T): T {
    switch (name ?? 'linear') {
      case 'linear':
        return x;
      case 'tanh':
        return this.d.tanh(x);
      case 'sigmoid':
        return this.d.sigmoid(x);
      case 'relu':
        return this.d.relu(x);
      case 'softmax':
        return this.d.softmax(x);
      default:
        throw unsupported(layer, `has activation '${name}'`);
    }
  }

  private layer(layer: tf.layers.Layer, inputs: Ref[], outputShapes: Array<Array<number | null>>): Ref[] {
    const cls = layer.getClassName();
    if ('layers' in layer && (cls === 'Sequential' || cls === 'Model' || cls === 'Functional')) return this.model(layer as tf.LayersModel, inputs);
    const config = layer.getConfig() as Config;
    const d = this.d;
    const batch = (): number => {
      const r = inputs[0]!;
      return r.t.shape[0]!;
    };
    const out = (t: T, nchw = false): Ref[] => [{ kind: 'float', t, nchw }];
    switch (cls) {
      case 'Dense': {
        const x = this.channelsLast(this.float(inputs[0]!, layer));
        if (x.shape.length !== 2) throw unsupported(layer, `has an input of rank ${x.shape.length} (the ort engine trains Dense on [batch, features])`);
        const useBias = config.useBias !== false;
        const y = d.gemm(x, this.w(layer, 0), useBias ? this.w(layer, 1) : undefined);
        return out(this.activation(layer, config.activation as string, y));
      }
      case 'Reshape': {
        const x = this.channelsLast(this.float(inputs[0]!, layer));
        const target = (outputShapes[0] ?? []).slice(1).map((v) => v ?? -1);
        if (target.some((v) => v < 0)) throw unsupported(layer, 'has an unknown target dimension');
        return out(d.reshape(x, [batch(), ...target]));
      }
      case 'Flatten': {
        const x = this.channelsLast(this.float(inputs[0]!, layer));
        return out(d.reshape(x, [batch(), x.shape.slice(1).reduce((a, b) => a * b, 1)]));
      }
      case 'Conv2D':
      case 'Conv2DTranspose': {
        const x = this.channelsFirst(this.f(inputs[0]!, layer));
        const [, , h, wd] = x.shape as [number, number, number, number];
        const kernel = [config.kernelSize].flat() as number[];
        const strides = [config.strides ?? 1].flat() as number[];
        const k: [number, number] = [kernel[0]!, kernel[1] ?? kernel[0]!];
        const s: [number, number] = [strides[0]!, strides[1] ?? strides[0]!];
        const same = config.padding === 'same';
        // The kernel comes in ONNX's layout (see step-graph.ts Slot).
        const wOnnx = this.w(layer, 0);
        const bias = config.useBias !== false ? this.w(layer, 1) : undefined;
        let y: T;
        if (cls === 'Conv2D') {
          const pads = same ? samePads([h, wd], k, s) : ([0, 0, 0, 0] as const);
          y = d.conv(x, wOnnx, bias, { kernel: k, strides: s, pads });
        } else {
          // The output side tfjs gives (deconvLength), reached as the adjoint of a Conv from it.
          const outHW: [number, number] = same ? [h * s[0], wd * s[1]] : [h * s[0] + Math.max(k[0] - s[0], 0), wd * s[1] + Math.max(k[1] - s[1], 0)];
          const pads = same ? samePads(outHW, k, s) : ([0, 0, 0, 0] as const);
          y = d.convTranspose(x, wOnnx, bias, { kernel: k, strides: s, pads }, outHW);
        }
        return out(this.activation(layer, config.activation as string, y), true);
      }
      case 'BatchNormalization': {
        const r = this.f(inputs[0]!, layer);
        const x = r.t.shape.length === 4 ? this.channelsFirst(r) : r.t;
        if (config.scale === false || config.center === false) throw unsupported(layer, 'has no scale or no center');
        const [gamma, beta, movingMean, movingVariance] = layer.weights as tf.LayerVariable[];
        const epsilon = Number(config.epsilon ?? 1e-3);
        const momentum = Number(config.momentum ?? 0.99);
        const meanT = this.weights.value(movingMean!);
        const varT = this.weights.value(movingVariance!);
        if (this.mode === 'inference')
          return out(d.batchNormInference(x, this.weights.value(gamma!), this.weights.value(beta!), meanT, varT, epsilon), x.shape.length === 4);
        const { y, mean, variance } = d.batchNorm(x, this.weights.value(gamma!), this.weights.value(beta!), epsilon);
        // tfjs-layers: moving -= (moving - batch) * (1 - momentum)
        this.weights.update(movingMean!, d.movingAverage(meanT, mean, momentum));
        this.weights.update(movingVariance!, d.movingAverage(varT, variance, momentum));
        return out(y, x.shape.length === 4);
      }
      case 'LeakyReLU': {
        const r = this.f(inputs[0]!, layer);
        return out(d.leakyRelu(r.t, Number(config.alpha ?? 0.3)), r.nchw);
      }
      case 'ReLU': {
        const r = this.f(inputs[0]!, layer);
        if (config.maxValue != null) throw unsupported(layer, 'has a max value');
        return out(d.relu(r.t), r.nchw);
      }
      case 'Activation': {
        const r = this.f(inputs[0]!, layer);
        const act = config.activation as string;
        // Softmax runs on the last tfjs axis.
        const t = act === 'softmax' ? this.channelsLast({ ...r.t, nchw: r.nchw }) : r.t;
        return out(this.activation(layer, act, t), act === 'softmax' ? false : r.nchw);
      }
      case 'Embedding': {
        const ids = inputs[0]!;
        if (ids.kind !== 'int') throw unsupported(layer, 'takes float ids (feed int32 labels)');
        return out(d.gather(this.w(layer, 0), ids.t));
      }
      case 'Multiply': {
        const [a, b] = inputs.map((r) => this.channelsLast(this.float(r, layer)));
        if (inputs.length !== 2) throw unsupported(layer, `has ${inputs.length} inputs (the ort engine multiplies two)`);
        return out(d.mul(a!, b!));
      }
      case 'Concatenate': {
        const rank = inputs[0]!.t.shape.length;
        if (rank === 4)
          return out(
            d.concat(
              inputs.map((r) => this.channelsFirst(this.f(r, layer))),
              1,
            ),
            true,
          );
        return out(
          d.concat(
            inputs.map((r) => this.channelsLast(this.float(r, layer))),
            rank - 1,
          ),
        );
      }
      default:
        throw unsupported(layer, 'is not supported');
    }
  }
}

/** tfjs' 'same' padding of a convolution over `input` (ONNX order: top, left, bottom, right). */
export function samePads(input: readonly [number, number], k: readonly [number, number], s: readonly [number, number]): ConvGeometry['pads'] {
  const total = [0, 1].map((a) => Math.max((Math.ceil(input[a]! / s[a]!) - 1) * s[a]! + k[a]! - input[a]!, 0));
  const before = total.map((t) => Math.floor(t / 2));
  return [before[0]!, before[1]!, total[0]! - before[0]!, total[1]! - before[1]!];
}
