import * as tf from '@tensorflow/tfjs';
import { CLASSES as GENERATOR_CLASSES, GENERATOR_IO } from '../../shared/generator.ts';
import { glorotSeeder as seeder } from '../tfjs/seeded-init.ts';

/** The architectures ganforge trains; `gaussian` is the closed-form baseline (train/gaussian.ts). */
export const MODEL_KINDS = ['dense', 'dcgan', 'cgan', 'acgan', 'gaussian'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

/** The kinds whose generator takes a digit label (and whose data must be labelled). */
export const CONDITIONAL_KINDS: readonly ModelKind[] = ['cgan', 'acgan'];

/** Image shape [height, width, channels]. */
export type ImageShape = readonly [number, number, number];

/** What the builders need to know. */
export interface BuildOptions {
  readonly latentDim: number;
  readonly imageShape: ImageShape;
  /** Seed for the weight initialisers, so a run is reproducible. */
  readonly seed: number;
  /** DCGAN channel multiplier (1 = the book's 256/128/64 in G, 32/64/128 in D). */
  readonly width?: number;
  /** cgan: give D a second head that names the digit (see `--aux-weight`). */
  readonly auxClassifier?: boolean;
  /** Conditional G: how the digit embedding that multiplies z starts (see `--label-embedding-init`). */
  readonly labelEmbeddingInit?: LabelEmbeddingInit;
}

/**
 * The conditional generator's label embedding at initialisation: 'book' is Keras' default, uniform in
 * +-0.05 (GANs in Action); 'identity' is uniform in 1 +- 0.05, so z * embedding starts as z itself, as a
 * conditional batch norm's scale starts at 1. With 'book' the product is ~20x smaller than z, which
 * batch norm's epsilon (1e-3) cannot normalise back: at full width G then draws one shape for every z
 * and digit from the first iterations on (measured: collapsed at 1,000 and 2,000).
 */
export type LabelEmbeddingInit = 'book' | 'identity';

/** The seed's LeakyReLU slope. */
const ALPHA = 0.01;

function channels(base: number, width: number): number {
  return Math.max(1, Math.round(base * width));
}

/**
 * The seed's dense generator: Dense(128) -> LeakyReLU(0.01) -> Dense(h*w*c, tanh) -> Reshape.
 * 114,064 parameters for MNIST with a 100-d latent.
 */
export function buildDenseGenerator({ latentDim, imageShape, seed }: BuildOptions): tf.Sequential {
  const init = seeder(seed);
  const [h, w, c] = imageShape;
  return tf.sequential({
    name: 'generator',
    layers: [
      tf.layers.dense({ inputShape: [latentDim], units: 128, kernelInitializer: init() }),
      tf.layers.leakyReLU({ alpha: ALPHA }),
      tf.layers.dense({ units: h * w * c, activation: 'tanh', kernelInitializer: init() }),
      tf.layers.reshape({ targetShape: [h, w, c] }),
    ],
  });
}

/**
 * The seed's dense discriminator: Flatten -> Dense(128) -> LeakyReLU(0.01) -> Dense(1, sigmoid).
 * 100,609 parameters for MNIST.
 */
export function buildDenseDiscriminator({ imageShape, seed }: BuildOptions): tf.Sequential {
  const init = seeder(seed);
  return tf.sequential({
    name: 'discriminator',
    layers: [
      tf.layers.flatten({ inputShape: [...imageShape] }),
      tf.layers.dense({ units: 128, kernelInitializer: init() }),
      tf.layers.leakyReLU({ alpha: ALPHA }),
      tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init() }),
    ],
  });
}

function assertDcganShape([h, w]: ImageShape): void {
  if (h % 4 !== 0 || w % 4 !== 0) {
    throw new Error(`The dcgan model needs image sides divisible by 4 (two stride-2 upsamplings) but the data is ${h}x${w}`);
  }
}

/**
 * The book's DCGAN generator (GANs in Action, ch. 4): Dense(7*7*256) -> Reshape -> ConvT(128, 3, s2) ->
 * BN -> LeakyReLU -> ConvT(64, 3, s1) -> BN -> LeakyReLU -> ConvT(c, 3, s2) -> tanh, channels scaled
 * by `width`.
 */
export function buildDcganGenerator({ latentDim, imageShape, seed, width = 1 }: BuildOptions): tf.Sequential {
  assertDcganShape(imageShape);
  const init = seeder(seed);
  const [h, w, c] = imageShape;
  const c0 = channels(256, width);
  return tf.sequential({
    name: 'generator',
    layers: [
      tf.layers.dense({ inputShape: [latentDim], units: (h / 4) * (w / 4) * c0, kernelInitializer: init() }),
      tf.layers.reshape({ targetShape: [h / 4, w / 4, c0] }),
      tf.layers.conv2dTranspose({ filters: channels(128, width), kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init() }),
      tf.layers.batchNormalization(),
      tf.layers.leakyReLU({ alpha: ALPHA }),
      tf.layers.conv2dTranspose({ filters: channels(64, width), kernelSize: 3, strides: 1, padding: 'same', kernelInitializer: init() }),
      tf.layers.batchNormalization(),
      tf.layers.leakyReLU({ alpha: ALPHA }),
      tf.layers.conv2dTranspose({ filters: c, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init() }),
      tf.layers.activation({ activation: 'tanh' }),
    ],
  });
}

/**
 * The book's DCGAN discriminator up to its features: Conv(32, 3, s2) -> LeakyReLU -> Conv(64, 3, s2) ->
 * BN -> LeakyReLU -> Conv(128, 3, s2) -> BN -> LeakyReLU -> Flatten, channels scaled by `width`.
 */
function dcganDiscriminatorTrunk(imageShape: ImageShape, width: number, init: ReturnType<typeof seeder>): tf.layers.Layer[] {
  return [
    tf.layers.conv2d({ inputShape: [...imageShape], filters: channels(32, width), kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init() }),
    tf.layers.leakyReLU({ alpha: ALPHA }),
    tf.layers.conv2d({ filters: channels(64, width), kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init() }),
    tf.layers.batchNormalization(),
    tf.layers.leakyReLU({ alpha: ALPHA }),
    tf.layers.conv2d({ filters: channels(128, width), kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init() }),
    tf.layers.batchNormalization(),
    tf.layers.leakyReLU({ alpha: ALPHA }),
    tf.layers.flatten(),
  ];
}

/** The book's DCGAN discriminator: the trunk above, then Dense(1, sigmoid). */
export function buildDcganDiscriminator({ imageShape, seed, width = 1 }: BuildOptions): tf.Sequential {
  assertDcganShape(imageShape);
  const init = seeder(seed);
  return tf.sequential({
    name: 'discriminator',
    layers: [...dcganDiscriminatorTrunk(imageShape, width, init), tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init() })],
  });
}

/** Digit classes of the conditional GAN (the generator contract's). */
export const CLASSES = GENERATOR_CLASSES;

/**
 * The conditional DCGAN generator (Mirza & Osindero 2014, as in GANs in Action ch. 8): the label's
 * embedding (one latent-sized vector per digit) multiplies z, and the product goes through the DCGAN
 * generator. Inputs: latent [batch, latentDim] and label [batch, 1] (int32).
 */
export function buildCganGenerator(options: BuildOptions): tf.LayersModel {
  const z = tf.input({ shape: [options.latentDim], name: GENERATOR_IO.latent });
  const label = tf.input({ shape: [1], name: GENERATOR_IO.label, dtype: 'int32' });
  const embedded = tf.layers.flatten().apply(
    tf.layers
      .embedding({
        inputDim: CLASSES,
        outputDim: options.latentDim,
        embeddingsInitializer:
          options.labelEmbeddingInit === 'identity'
            ? tf.initializers.randomUniform({ minval: 0.95, maxval: 1.05, seed: options.seed })
            : tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: options.seed }),
      })
      .apply(label),
  ) as tf.SymbolicTensor;
  const joined = tf.layers.multiply().apply([z, embedded]) as tf.SymbolicTensor;
  const image = buildDcganGenerator(options).apply(joined) as tf.SymbolicTensor;
  return tf.model({ inputs: [z, label], outputs: image, name: 'generator' });
}

/**
 * The conditional DCGAN discriminator: the label's embedding, reshaped to an image, is stacked onto the
 * image as a second channel before the DCGAN discriminator. Inputs: image and label [batch, 1].
 * With `auxClassifier`, the DCGAN features also feed a digit head (softmax [batch, 10]) beside the
 * real-or-fake output.
 */
export function buildCganDiscriminator(options: BuildOptions): tf.LayersModel {
  const [h, w, c] = options.imageShape;
  const image = tf.input({ shape: [h, w, c], name: 'image' });
  const label = tf.input({ shape: [1], name: 'label', dtype: 'int32' });
  const embedded = tf.layers
    .embedding({
      inputDim: CLASSES,
      outputDim: h * w,
      embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: options.seed }),
    })
    .apply(label) as tf.SymbolicTensor;
  const labelMap = tf.layers.reshape({ targetShape: [h, w, 1] }).apply(embedded) as tf.SymbolicTensor;
  const stacked = tf.layers.concatenate({ axis: -1 }).apply([image, labelMap]) as tf.SymbolicTensor;
  const shape: ImageShape = [h, w, c + 1];
  if (!options.auxClassifier) {
    const p = buildDcganDiscriminator({ ...options, imageShape: shape }).apply(stacked) as tf.SymbolicTensor;
    return tf.model({ inputs: [image, label], outputs: p, name: 'discriminator' });
  }
  return tf.model({ inputs: [image, label], outputs: twoHeads(stacked, shape, options), name: 'discriminator' });
}

/** The DCGAN discriminator's trunk on `x`, then real-or-fake (sigmoid) and digit (softmax) heads. */
function twoHeads(x: tf.SymbolicTensor, imageShape: ImageShape, { seed, width = 1 }: BuildOptions): tf.SymbolicTensor[] {
  assertDcganShape(imageShape);
  const init = seeder(seed);
  const features = dcganDiscriminatorTrunk(imageShape, width, init).reduce((y, layer) => layer.apply(y) as tf.SymbolicTensor, x);
  const validity = tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init() }).apply(features) as tf.SymbolicTensor;
  const digit = tf.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: init() }).apply(features) as tf.SymbolicTensor;
  return [validity, digit];
}

/**
 * The auxiliary-classifier discriminator (ACGAN, Odena et al. 2017): the DCGAN discriminator's trunk
 * sees the image alone, and two heads read its features: real-or-fake (sigmoid, [batch, 1]) and which
 * digit (softmax, [batch, 10]). The generator is the conditional one above; the class head's loss is
 * what pushes it to draw the digit it was asked for.
 */
export function buildAcganDiscriminator(options: BuildOptions): tf.LayersModel {
  const image = tf.input({ shape: [...options.imageShape], name: 'image' });
  return tf.model({ inputs: image, outputs: twoHeads(image, options.imageShape, options), name: 'discriminator' });
}

/** A generator / discriminator pair. */
export interface Gan {
  readonly generator: tf.LayersModel;
  readonly discriminator: tf.LayersModel;
}

/** Builds G and D for a GAN kind. */
export function buildGan(kind: Exclude<ModelKind, 'gaussian'>, options: BuildOptions): Gan {
  const generator = kind === 'dense' ? buildDenseGenerator(options) : kind === 'dcgan' ? buildDcganGenerator(options) : buildCganGenerator(options);
  return { generator, discriminator: buildDiscriminator(kind, { ...options, seed: (options.seed ^ 0x5bd1e995) >>> 0 }) };
}

/** Builds a fresh discriminator of the same kind: used by the discriminator reset. */
export function buildDiscriminator(kind: Exclude<ModelKind, 'gaussian'>, options: BuildOptions): tf.LayersModel {
  switch (kind) {
    case 'dense':
      return buildDenseDiscriminator(options);
    case 'dcgan':
      return buildDcganDiscriminator(options);
    case 'cgan':
      return buildCganDiscriminator(options);
    case 'acgan':
      return buildAcganDiscriminator(options);
  }
}
