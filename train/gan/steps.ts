import * as tf from '@tensorflow/tfjs';
import { forward } from './forward.ts';

/** Keras' epsilon: predictions are clipped to [eps, 1 - eps] before the logarithms. */
const EPSILON = 1e-7;

/**
 * Binary cross-entropy of probabilities `p` against a constant target in [0, 1] (a soft target for
 * label smoothing), as Keras computes it.
 */
export function binaryCrossEntropy(p: tf.Tensor, target: number): tf.Scalar {
  return tf.tidy(() => {
    const q = tf.clipByValue(p, EPSILON, 1 - EPSILON);
    // Hard targets take one logarithm each: the same arithmetic as before soft targets existed.
    if (target === 1) return tf.neg(tf.mean(tf.log(q))) as tf.Scalar;
    if (target === 0) return tf.neg(tf.mean(tf.log1p(tf.neg(q)))) as tf.Scalar;
    return tf.neg(tf.mean(tf.add(tf.mul(target, tf.log(q)), tf.mul(1 - target, tf.log1p(tf.neg(q)))))) as tf.Scalar;
  });
}

/** Integer labels [batch, 1] as one-hot rows [batch, k]. */
function oneHotLabels(labels: tf.Tensor, k: number): tf.Tensor {
  return tf.oneHot(tf.cast(tf.reshape(labels, [-1]), 'int32') as tf.Tensor1D, k);
}

/**
 * Mean categorical cross-entropy of softmax probabilities [batch, k] against integer labels [batch, 1],
 * clipped like Keras' sparse_categorical_crossentropy.
 */
export function sparseCategoricalCrossEntropy(probs: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const q = tf.clipByValue(probs, EPSILON, 1 - EPSILON);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHotLabels(labels, probs.shape[1]!), tf.log(q)), 1))) as tf.Scalar;
  });
}

/**
 * -log(1 - p(asked digit)), the mean over the batch: small when the digit head does NOT see the digit
 * a fake was asked to be. A D step on fakes with it makes the head a critic G cannot satisfy with
 * digits that only its own classifier accepts.
 */
export function rejectionLoss(probs: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const asked = tf.clipByValue(tf.sum(tf.mul(oneHotLabels(labels, probs.shape[1]!), probs), 1), EPSILON, 1 - EPSILON);
    return tf.neg(tf.mean(tf.log1p(tf.neg(asked)))) as tf.Scalar;
  });
}

/**
 * D's loss on its output: binary cross-entropy against `label`, plus, for an auxiliary-classifier D
 * (two outputs: validity and digit probabilities), the digit cross-entropy against `classes`.
 * Returns the loss and the validity output.
 */
function discriminatorLoss(
  output: tf.Tensor | tf.Tensor[],
  target: number,
  classes: tf.Tensor | undefined,
  classWeight: number,
  classTarget: 'match' | 'reject',
): { loss: tf.Scalar; validity: tf.Tensor } {
  if (!Array.isArray(output)) return { loss: binaryCrossEntropy(output, target), validity: output };
  const [validity, digits] = output as [tf.Tensor, tf.Tensor];
  if (classWeight === 0) return { loss: binaryCrossEntropy(validity, target), validity };
  if (!classes) throw new Error('An auxiliary-classifier discriminator needs the digit labels of its batch');
  const digitLoss = classTarget === 'match' ? sparseCategoricalCrossEntropy(digits, classes) : rejectionLoss(digits, classes);
  return { loss: tf.add(binaryCrossEntropy(validity, target), classWeight === 1 ? digitLoss : tf.mul(classWeight, digitLoss)) as tf.Scalar, validity };
}

/** Share of predictions on the right side of 0.5 (Keras' binary accuracy). */
export function binaryAccuracy(p: tf.Tensor, label: 0 | 1): tf.Scalar {
  return tf.tidy(() => {
    const hit = label === 1 ? tf.greater(p, 0.5) : tf.lessEqual(p, 0.5);
    return tf.mean(tf.cast(hit, 'float32')) as tf.Scalar;
  });
}

/** The trainable variables of a model, for an explicit optimizer variable list. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/**
 * Combines one step's gradients (in variable order) and scalars (loss, accuracy) across data-parallel
 * workers, returning their batch-weighted averages (see all-reduce.ts). Alone, a step has none.
 */
export type Reduce = (grads: tf.Tensor[], scalars: tf.Scalar[]) => { grads: tf.Tensor[]; scalars: tf.Scalar[] };

/**
 * Applies gradients after an optional reduction. The variables' names key the gradients; the order
 * of `vars` (the same on every replica, whatever tfjs named them) orders the reduction.
 */
function applyReduced(optimizer: tf.Optimizer, vars: tf.Variable[], grads: tf.NamedTensorMap, scalars: tf.Scalar[], reduce?: Reduce): tf.Scalar[] {
  if (!reduce) {
    optimizer.applyGradients(grads);
    return scalars;
  }
  const names = vars.map((v) => v.name).filter((n) => grads[n] !== undefined);
  const reduced = reduce(
    names.map((n) => grads[n]!),
    scalars,
  );
  optimizer.applyGradients(Object.fromEntries(names.map((n, i) => [n, reduced.grads[i]!])));
  return reduced.scalars;
}

/** What a training step may be given beyond its batch. */
export interface StepOptions {
  /** Averages the gradients across data-parallel workers before the update. */
  readonly reduce?: Reduce;
  /** The variables to update (default: the stepping model's trainable variables). */
  readonly vars?: tf.Variable[];
  /**
   * The batch's digits [batch, 1] (int32): for a D with a label input (cgan) or an auxiliary
   * classifier head (acgan), and in the G step the digits G is asked to draw.
   */
  readonly classes?: tf.Tensor;
  /** Weight of the digit cross-entropy of a D with a digit head (default 1; 0 leaves the head out). */
  readonly classWeight?: number;
  /** D step: 'match' trains the digit head to name `classes`; 'reject' trains it not to (fakes). */
  readonly classTarget?: 'match' | 'reject';
  /** Transforms the images before D sees them (DiffAugment, augment.ts); differentiated through. */
  readonly augment?: (images: tf.Tensor) => tf.Tensor;
}

/** D's inputs with the image (the first input) transformed. */
function augmented(images: tf.Tensor | tf.Tensor[], augment: ((images: tf.Tensor) => tf.Tensor) | undefined): tf.Tensor | tf.Tensor[] {
  if (!augment) return images;
  return Array.isArray(images) ? [augment(images[0]!), ...images.slice(1)] : augment(images);
}

/** Loss and accuracy of one step, still on the device (read them only when reporting). */
export type StepResult = {
  readonly loss: tf.Scalar;
  readonly accuracy: tf.Scalar;
};

/**
 * One discriminator update on a batch that is all real (label 1) or all fake (label 0). Only D's
 * variables are in the optimizer's list. `classes` are the batch's digits, which an auxiliary-classifier
 * D (ACGAN) learns to name; the loss is then the sum of both cross-entropies. `smoothing` > 0 is
 * one-sided label smoothing (Salimans et al. 2016): real images get the target 1 - smoothing. The
 * returned scalars belong to the caller.
 */
export function discriminatorStep(
  discriminator: tf.LayersModel,
  optimizer: tf.Optimizer,
  images: tf.Tensor | tf.Tensor[],
  label: 0 | 1,
  {
    vars = trainableVariables(discriminator),
    classes,
    classWeight = 1,
    classTarget = 'match',
    smoothing = 0,
    reduce,
    augment,
  }: StepOptions & { readonly smoothing?: number } = {},
): StepResult {
  const target = label === 1 ? 1 - smoothing : 0;
  let accuracy: tf.Scalar | undefined;
  const result = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const { loss, validity } = discriminatorLoss(forward(discriminator, augmented(images, augment)), target, classes, classWeight, classTarget);
      accuracy = tf.keep(binaryAccuracy(validity, label));
      return loss;
    }, vars);
    const [loss, acc] = applyReduced(optimizer, vars, grads, [value, accuracy!], reduce) as [tf.Scalar, tf.Scalar];
    return { loss, accuracy: acc };
  });
  // The kept local accuracy, when the reduction replaced it.
  if (accuracy !== result.accuracy) accuracy?.dispose();
  return result;
}

/**
 * One generator update: G's fakes go through D with the label "real" (the non-saturating loss) and
 * only G's variables are updated; D is not frozen, it is simply not in the variable list. With
 * `classes` (conditional GANs) G draws those digits; a D with a label input (cgan) sees them too, and an
 * auxiliary-classifier D (acgan) must recognise them. `update: false` only measures the loss.
 */
export function generatorStep(
  generator: tf.LayersModel,
  discriminator: tf.LayersModel,
  optimizer: tf.Optimizer,
  z: tf.Tensor,
  { vars = trainableVariables(generator), classes, classWeight = 1, update = true, reduce, augment }: StepOptions & { readonly update?: boolean } = {},
): tf.Scalar {
  return tf.tidy(() => {
    const loss = (): tf.Scalar => {
      const image = forward(generator, classes ? [z, classes] : z) as tf.Tensor;
      const fake = augment ? augment(image) : image;
      const labelled = classes && discriminator.inputs.length === 2;
      return discriminatorLoss(forward(discriminator, labelled ? [fake, classes] : fake), 1, classes, classWeight, 'match').loss;
    };
    // update: false (D warm-up) measures the loss without touching G.
    if (!update) return reduce ? reduce([], [loss()]).scalars[0]! : loss();
    const { value, grads } = tf.variableGrads(loss, vars);
    return applyReduced(optimizer, vars, grads, [value], reduce)[0]!;
  });
}
