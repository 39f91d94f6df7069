import * as tf from '@tensorflow/tfjs';
import { forward } from './forward.ts';

/** Keras' epsilon: predictions are clipped to [eps, 1 - eps] before the logarithms. */
const EPSILON = 1e-7;

/** Binary cross-entropy of probabilities `p` against a constant label, as Keras computes it. */
export function binaryCrossEntropy(p: tf.Tensor, label: 0 | 1): tf.Scalar {
  return tf.tidy(() => {
    const q = tf.clipByValue(p, EPSILON, 1 - EPSILON);
    return tf.neg(tf.mean(label === 1 ? tf.log(q) : tf.log1p(tf.neg(q)))) as tf.Scalar;
  });
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

/** Loss and accuracy of one step, still on the device (read them only when reporting). */
export type StepResult = {
  readonly loss: tf.Scalar;
  readonly accuracy: tf.Scalar;
};

/**
 * One discriminator update on a batch that is all real (label 1) or all fake (label 0). Only D's
 * variables are in the optimizer's list. The returned scalars belong to the caller.
 */
export function discriminatorStep(
  discriminator: tf.LayersModel,
  optimizer: tf.Optimizer,
  images: tf.Tensor | tf.Tensor[],
  label: 0 | 1,
  vars: tf.Variable[] = trainableVariables(discriminator),
): StepResult {
  return tf.tidy(() => {
    let accuracy: tf.Scalar | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const p = forward(discriminator, images);
      accuracy = tf.keep(binaryAccuracy(p, label));
      return binaryCrossEntropy(p, label);
    }, vars);
    optimizer.applyGradients(grads);
    return { loss: value, accuracy: accuracy! };
  });
}

/**
 * One generator update: G's fakes go through D with the label "real" (the non-saturating loss) and
 * only G's variables are updated; D is not frozen, it is simply not in the variable list. With
 * `classes` (conditional GANs) both networks also see the digit labels.
 */
export function generatorStep(
  generator: tf.LayersModel,
  discriminator: tf.LayersModel,
  optimizer: tf.Optimizer,
  z: tf.Tensor,
  vars: tf.Variable[] = trainableVariables(generator),
  classes?: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const fake = forward(generator, classes ? [z, classes] : z);
      return binaryCrossEntropy(forward(discriminator, classes ? [fake, classes] : fake), 1);
    }, vars);
    optimizer.applyGradients(grads);
    return value;
  });
}
