import * as tf from '@tensorflow/tfjs';

/**
 * One step of the exponential moving average of a generator's weights (Yazici et al. 2019, "The
 * Unusual Effectiveness of Averaging in GAN Training"): every weight of `ema`, batch-norm statistics
 * included, becomes `decay * ema + (1 - decay) * source`. Both models come from the same builder, so
 * their weights line up in order.
 */
export function updateEma(ema: tf.LayersModel, source: tf.LayersModel, decay: number): void {
  if (ema.weights.length !== source.weights.length) throw new Error(`EMA generator has ${ema.weights.length} weights, the generator ${source.weights.length}`);
  tf.tidy(() => {
    ema.weights.forEach((w, i) => {
      w.write(tf.add(tf.mul(w.read(), decay), tf.mul(source.weights[i]!.read(), 1 - decay)));
    });
  });
}
