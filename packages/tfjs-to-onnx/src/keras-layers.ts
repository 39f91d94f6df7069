import * as tf from '@tensorflow/tfjs';
import { applyTfjsFixes } from './tfjs-fixes.ts';

/**
 * Keras layers (and layer options) that tfjs-layers cannot build but real Keras exports contain. The
 * topology normaliser (keras-topology.ts) renames such layers to these classes, so tfjs can run the
 * model with Keras' inference semantics and the ONNX converter can convert it.
 */

type Config = tf.serialization.ConfigDict;
type Kwargs = Record<string, unknown>;
/** Layer arguments as a deserialised config carries them. */
type Args = Record<string, unknown>;
type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0];

function one(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0]! : inputs;
}

/** Keras' ReLU with negative_slope and threshold (tfjs-layers' ReLU only has max_value). */
export class KerasReLU extends tf.layers.Layer {
  static className = 'KerasReLU';
  readonly maxValue: number | null;
  readonly negativeSlope: number;
  readonly threshold: number;

  constructor(args: Args) {
    super(args as LayerArgs);
    this.supportsMasking = true;
    this.maxValue = args.maxValue === undefined || args.maxValue === null ? null : Number(args.maxValue);
    this.negativeSlope = Number(args.negativeSlope ?? 0);
    this.threshold = Number(args.threshold ?? 0);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      const below = tf.mul(this.negativeSlope, tf.sub(x, this.threshold));
      const y = tf.where(tf.greaterEqual(x, this.threshold), x, below);
      return this.maxValue === null ? y : tf.minimum(y, this.maxValue);
    });
  }

  override getConfig(): Config {
    return { ...super.getConfig(), maxValue: this.maxValue, negativeSlope: this.negativeSlope, threshold: this.threshold };
  }
}

/** Keras' GRU cell with reset_after = true (tfjs-layers' GRUCell refuses it): bias [2, 3 * units]. */
export class KerasGRUCell extends tf.layers.Layer {
  static className = 'KerasGRUCell';
  readonly units: number;
  readonly stateSize: number;
  readonly activation: string;
  readonly recurrentActivation: string;
  readonly useBias: boolean;
  private kernel: tf.LayerVariable | null = null;
  private recurrentKernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: Args) {
    super(args as LayerArgs);
    this.units = Number(args.units);
    this.stateSize = this.units;
    this.activation = String(args.activation ?? 'tanh');
    this.recurrentActivation = String(args.recurrentActivation ?? 'sigmoid');
    this.useBias = args.useBias !== false;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const inputDim = shape[shape.length - 1] as number;
    const zeros = tf.initializers.zeros();
    const self = this as unknown as { addWeight: (name: string, shape: number[], dtype: string, init: unknown) => tf.LayerVariable };
    this.kernel = self.addWeight('kernel', [inputDim, 3 * this.units], 'float32', zeros);
    this.recurrentKernel = self.addWeight('recurrent_kernel', [this.units, 3 * this.units], 'float32', zeros);
    if (this.useBias) this.bias = self.addWeight('bias', [2, 3 * this.units], 'float32', zeros);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    return tf.tidy(() => {
      const [x, h] = inputs as tf.Tensor[];
      const act = (v: tf.Tensor, name: string): tf.Tensor => activate(name, v);
      let matrixX = tf.matMul(x as tf.Tensor2D, this.kernel!.read() as tf.Tensor2D);
      let inner = tf.matMul(h as tf.Tensor2D, this.recurrentKernel!.read() as tf.Tensor2D);
      if (this.bias) {
        const [bIn, bRec] = tf.unstack(this.bias.read());
        matrixX = tf.add(matrixX, bIn!);
        inner = tf.add(inner, bRec!);
      }
      const [xz, xr, xh] = tf.split(matrixX, 3, -1);
      const [rz, rr, rh] = tf.split(inner, 3, -1);
      const z = act(tf.add(xz!, rz!), this.recurrentActivation);
      const r = act(tf.add(xr!, rr!), this.recurrentActivation);
      const candidate = act(tf.add(xh!, tf.mul(r, rh!)), this.activation);
      const out = tf.add(tf.mul(z, h!), tf.mul(tf.sub(1, z), candidate));
      return [out, out];
    });
  }

  override getConfig(): Config {
    return { ...super.getConfig(), units: this.units, activation: this.activation, recurrentActivation: this.recurrentActivation, useBias: this.useBias };
  }
}

/** An activation by its tfjs name, as tfjs-layers applies it. */
function activate(name: string, x: tf.Tensor): tf.Tensor {
  return tf.layers.activation({ activation: name as 'tanh' }).apply(x) as tf.Tensor;
}

/** Keras' GRU with reset_after = true as a tfjs RNN over {@link KerasGRUCell}. */
export class KerasGRU extends tf.RNN {
  static override className = 'KerasGRU';

  constructor(args: Args) {
    super({ ...(args as object), cell: new KerasGRUCell(args) } as unknown as tf.RNNLayerArgs);
  }

  override getConfig(): Config {
    const { cell: _cell, ...config } = super.getConfig();
    const cell = this.cell as unknown as KerasGRUCell;
    return {
      ...config,
      units: cell.units,
      activation: cell.activation,
      recurrentActivation: cell.recurrentActivation,
      useBias: cell.useBias,
      resetAfter: true,
    };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: Config): T {
    return new cls(config);
  }
}

/** Keras' random augmentation layers with no tfjs-layers class: the identity at inference. */
export const KERAS_RANDOM_LAYERS = ['RandomFlip', 'RandomRotation', 'RandomZoom', 'RandomTranslation', 'RandomContrast', 'RandomBrightness'] as const;

function augmentation(className: string): tf.serialization.SerializableConstructor<tf.layers.Layer> {
  const cls = class extends tf.layers.Layer {
    static className = className;
    private readonly keep: Config;

    constructor(args: Args) {
      super(args as LayerArgs);
      this.supportsMasking = true;
      const { name: _n, trainable: _t, dtype: _d, batchInputShape: _b, ...rest } = args;
      this.keep = rest as Config;
    }

    override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
      return tf.clone(one(inputs));
    }

    override getConfig(): Config {
      return { ...super.getConfig(), ...this.keep };
    }
  };
  return cls as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>;
}

let registered = false;

/** Registers the classes above with tfjs' deserialiser (once), with the fixes of tfjs-fixes.ts. */
export function registerKerasLayers(): void {
  applyTfjsFixes();
  if (registered) return;
  registered = true;
  tf.serialization.registerClass(KerasReLU);
  tf.serialization.registerClass(KerasGRUCell);
  tf.serialization.registerClass(KerasGRU);
  for (const name of KERAS_RANDOM_LAYERS) tf.serialization.registerClass(augmentation(name));
}
