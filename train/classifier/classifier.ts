import * as tf from '@tensorflow/tfjs';
import { CLASSIFIER_IO, DIGIT_CLASSES } from '../../shared/classifier.ts';
import { Prng } from '../../shared/prng.ts';
import { glorotSeeder } from '../tfjs/seeded-init.ts';
import { gatherImages, splitIndices, type Dataset } from '../../lib/data.ts';

/** Split and training settings of the evaluation classifier. */
export interface ClassifierConfig {
  readonly seed: number;
  readonly heldOut: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
}

export const DEFAULT_CLASSIFIER: ClassifierConfig = { seed: 7, heldOut: 1000, epochs: 10, batchSize: 64, lr: 0.001 };

/** Largest random shift, in pixels, of the training digits (seeded augmentation). */
const SHIFT = 2;

/**
 * Copies an image shifted by (dx, dy) pixels, filling with the background value -1. With only 9,000
 * training digits the network memorises them; random small shifts are the classic MNIST remedy.
 */
export function shiftImage(src: Float32Array, dst: Float32Array, offset: number, h: number, w: number, dx: number, dy: number): void {
  for (let y = 0; y < h; y++) {
    const sy = y - dy;
    for (let x = 0; x < w; x++) {
      const sx = x - dx;
      dst[offset + y * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? src[sy * w + sx]! : -1;
    }
  }
}

/** Size of the penultimate layer, whose activations the classifier-FID compares. */
export const FEATURES = 128;

/**
 * A small LeNet-like CNN: two conv blocks (3x3, the second of each with stride 2 in place of pooling),
 * a 128-unit ReLU layer (the features) and a softmax over the 10 digits. Returns the training model
 * (probabilities only) and the export model with outputs [probs, features], sharing layers.
 */
export function buildClassifier(imageShape: readonly [number, number, number], seed: number): { train: tf.LayersModel; export: tf.LayersModel } {
  const init = glorotSeeder(seed);
  const input = tf.input({ shape: [...imageShape], name: CLASSIFIER_IO.image });
  let x = input as tf.SymbolicTensor;
  for (const [filters, strides] of [
    [32, 1],
    [32, 2],
    [64, 1],
    [64, 2],
  ] as const) {
    x = tf.layers.conv2d({ filters, kernelSize: 3, strides, padding: 'same', activation: 'relu', kernelInitializer: init() }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const features = tf.layers
    .dense({ units: FEATURES, activation: 'relu', kernelInitializer: init(), name: CLASSIFIER_IO.features })
    .apply(x) as tf.SymbolicTensor;
  const probs = tf.layers
    .dense({ units: DIGIT_CLASSES, activation: 'softmax', kernelInitializer: init(), name: CLASSIFIER_IO.probs })
    .apply(features) as tf.SymbolicTensor;
  return {
    train: tf.model({ inputs: input, outputs: probs, name: 'classifier' }),
    export: tf.model({ inputs: input, outputs: [probs, features], name: 'classifier' }),
  };
}

/** Accuracy of a probabilities model on images / labels, in batches. */
export function accuracy(model: tf.LayersModel, images: Float32Array, labels: ArrayLike<number>, shape: readonly [number, number, number]): number {
  const size = shape[0] * shape[1] * shape[2];
  const n = labels.length;
  let hits = 0;
  for (let start = 0; start < n; start += 500) {
    const count = Math.min(500, n - start);
    const predicted = tf.tidy(() => {
      const x = tf.tensor4d(images.subarray(start * size, (start + count) * size), [count, ...shape]);
      return (model.predict(x) as tf.Tensor).argMax(-1).dataSync();
    });
    for (let i = 0; i < count; i++) if (predicted[i] === labels[start + i]) hits++;
  }
  return hits / n;
}

/**
 * Trains the classifier on the labelled data set with a seeded split, seeded batches and seeded
 * random shifts (Adam, categorical cross-entropy), logging the held-out accuracy after every epoch.
 */
export async function trainClassifier(
  data: Dataset,
  config: ClassifierConfig,
  log: (line: string) => void,
): Promise<{ model: tf.LayersModel; exportModel: tf.LayersModel; heldOutAccuracy: number }> {
  if (!data.labels) throw new Error(`${data.source}: the classifier needs labels (give idx:<images>,<labels>)`);
  const shape = [data.height, data.width, 1] as const;
  const split = splitIndices(data.count, config.heldOut, config.seed);
  const trainImages = gatherImages(data, split.train);
  const trainLabels = split.train.map((k) => data.labels![k]!);
  const heldImages = gatherImages(data, split.heldOut);
  const heldLabels = split.heldOut.map((k) => data.labels![k]!);
  const { train: model, export: exportModel } = buildClassifier(shape, config.seed);
  model.compile({ optimizer: tf.train.adam(config.lr), loss: 'categoricalCrossentropy' });
  const prng = new Prng(config.seed ^ 0x2545f491);
  const size = shape[0] * shape[1];
  const xb = new Float32Array(config.batchSize * size);
  const yb = new Float32Array(config.batchSize * 10);
  let heldOutAccuracy = 0;
  for (let epoch = 1; epoch <= config.epochs; epoch++) {
    const order = splitIndices(trainLabels.length, 0, prng.nextUint32()).train;
    let loss = 0;
    let batches = 0;
    for (let start = 0; start + config.batchSize <= order.length; start += config.batchSize) {
      yb.fill(0);
      for (let i = 0; i < config.batchSize; i++) {
        const k = order[start + i]!;
        const dx = prng.nextInt(2 * SHIFT + 1) - SHIFT;
        const dy = prng.nextInt(2 * SHIFT + 1) - SHIFT;
        shiftImage(trainImages.subarray(k * size, (k + 1) * size), xb, i * size, shape[0], shape[1], dx, dy);
        yb[i * 10 + trainLabels[k]!] = 1;
      }
      const x = tf.tensor4d(xb, [config.batchSize, ...shape]);
      const y = tf.tensor2d(yb, [config.batchSize, 10]);
      loss += Number(await model.trainOnBatch(x, y));
      batches++;
      tf.dispose([x, y]);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    heldOutAccuracy = accuracy(model, heldImages, heldLabels, shape);
    log(`epoch ${epoch}/${config.epochs}: loss ${(loss / batches).toFixed(4)}, held-out accuracy ${(100 * heldOutAccuracy).toFixed(2)}%`);
  }
  return { model, exportModel, heldOutAccuracy };
}
