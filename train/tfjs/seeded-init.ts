import * as tf from '@tensorflow/tfjs';

/**
 * Hands out a distinct Glorot-uniform initialiser per layer from one seed (a Weyl sequence of seeds),
 * so that a model built twice from the same seed has the same weights.
 */
export function glorotSeeder(seed: number): () => ReturnType<typeof tf.initializers.glorotUniform> {
  let next = seed >>> 0;
  return () => {
    next = (next + 0x9e3779b9) >>> 0;
    return tf.initializers.glorotUniform({ seed: next });
  };
}
