import * as tf from '@tensorflow/tfjs';

/** The activation object a tfjs Dense layer keeps (not in its public typings). */
interface WithActivation {
  activation: { apply(x: tf.Tensor): tf.Tensor; getClassName(): string };
}

/**
 * Dense as matMul + add + activation. tfjs' Dense goes through `fused.matMul`, whose gradient computes
 * the derivatives for both operands whatever is asked: the discriminator step would pay for the
 * gradient of the real images and the generator step for D's weights, neither of which is used. The
 * unfused ops have per-input gradients that tfjs prunes. Same maths, fewer matrix products.
 */
function denseUnfused(layer: tf.layers.Layer, x: tf.Tensor): tf.Tensor {
  const [kernel, bias] = layer.trainableWeights.map((w) => w.read());
  if (!kernel) throw new Error(`Dense layer '${layer.name}' has no kernel`);
  const input = x.rank > 2 ? tf.reshape(x, [-1, x.shape[x.rank - 1]!]) : x;
  let y = tf.matMul(input, kernel);
  if (bias) y = tf.add(y, bias);
  if (x.rank > 2) y = tf.reshape(y, [...x.shape.slice(0, -1), kernel.shape[1]!]);
  const { activation } = layer as unknown as WithActivation;
  return activation.getClassName() === 'linear' ? y : activation.apply(y);
}

/**
 * Runs a model forward for training. Sequential models are applied layer by layer so that Dense
 * layers take the unfused path above; anything else is the model's own `apply`.
 */
export function forward(model: tf.LayersModel, x: tf.Tensor | tf.Tensor[], training = true): tf.Tensor {
  if (Array.isArray(x) || !(model instanceof tf.Sequential)) return model.apply(x, { training }) as tf.Tensor;
  let y = x;
  for (const layer of model.layers) {
    y = layer.getClassName() === 'Dense' ? denseUnfused(layer, y) : (layer.apply(y, { training }) as tf.Tensor);
  }
  return y;
}
