import * as tf from '@tensorflow/tfjs';
import { Prng } from '../../src/prng.ts';

// Realistic architectures rebuilt in tests (the whole-model tests and the browser test use them).

type T = tf.SymbolicTensor;
const on = (layer: tf.layers.Layer, x: T | T[]): T => layer.apply(x) as T;

/**
 * Trained-looking, reproducible weights: seeded Glorot kernels scaled by `gain` (so outputs vary with the input
 * instead of sitting at the softmax's uniform point), embedding tables of unit-ish scale, and batch
 * norms with non-trivial statistics and affine parameters, so folding them is really tested.
 */
export function realisticWeights(model: tf.LayersModel, seed: number, gain = 1.6): void {
  const p = new Prng(seed);
  const like = (w: tf.LayerVariable, f: (v: number) => number): tf.Tensor =>
    tf.tensor(p.normals((w.shape as number[]).reduce((a, b) => a * b, 1)).map(f), w.shape as number[]);
  model.setWeights(
    model.weights.map((w) => {
      if (/moving_variance/.test(w.name)) return like(w, (v) => 0.6 + 0.4 * Math.abs(v));
      if (/moving_mean|beta/.test(w.name)) return like(w, (v) => 0.2 * v);
      if (/gamma/.test(w.name)) return like(w, (v) => 1 + 0.2 * v);
      if (/bias/.test(w.name)) return like(w, (v) => 0.1 * v);
      if (/embeddings/.test(w.name)) return like(w, (v) => 0.8 * v);
      // Seeded Glorot-normal kernels (tfjs' initialisers are not seeded), times the gain.
      const shape = w.shape as number[];
      const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
      const fans = shape.length >= 2 ? receptive * (shape[shape.length - 2]! + shape[shape.length - 1]!) : 2;
      return like(w, (v) => gain * Math.sqrt(2 / fans) * v);
    }),
  );
}

/** A MobileNetV2-style stack: ZeroPadding + strided conv, inverted residual blocks with depthwise convs, BN and ReLU6. */
export function mobileNetV2Style(size = 32, classes = 5): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3], name: 'image' });
  const bn = (x: T): T => on(tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.999 }), x);
  const relu6 = (x: T): T => on(tf.layers.reLU({ maxValue: 6 }), x);
  let x = on(
    tf.layers.zeroPadding2d({
      padding: [
        [0, 1],
        [0, 1],
      ],
    }),
    input,
  );
  x = relu6(bn(on(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, useBias: false }), x)));
  let channels = 8;
  for (const [expand, out, stride] of [
    [1, 8, 1],
    [4, 12, 2],
    [4, 12, 1],
    [4, 16, 2],
  ] as const) {
    const skip = x;
    let y = x;
    if (expand > 1) y = relu6(bn(on(tf.layers.conv2d({ filters: channels * expand, kernelSize: 1, useBias: false }), y)));
    if (stride === 2)
      y = on(
        tf.layers.zeroPadding2d({
          padding: [
            [0, 1],
            [0, 1],
          ],
        }),
        y,
      );
    y = relu6(bn(on(tf.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: stride === 2 ? 'valid' : 'same', useBias: false }), y)));
    y = bn(on(tf.layers.conv2d({ filters: out, kernelSize: 1, useBias: false }), y));
    x = stride === 1 && out === channels ? on(tf.layers.add(), [skip, y]) : y;
    channels = out;
  }
  x = relu6(bn(on(tf.layers.conv2d({ filters: 32, kernelSize: 1, useBias: false }), x)));
  x = on(tf.layers.globalAveragePooling2d({}), x);
  x = on(tf.layers.dropout({ rate: 0.2 }), x);
  const probs = on(tf.layers.dense({ units: classes, activation: 'softmax', name: 'probs' }), x);
  return tf.model({ inputs: input, outputs: probs, name: 'mobilenet_v2_style' });
}

/** A VGG-style classifier: conv-conv-pool blocks, Flatten, Dense, Dropout, softmax. */
export function vggStyle(size = 24, classes = 7): tf.LayersModel {
  const layers: tf.layers.Layer[] = [];
  let filters = 6;
  for (let block = 0; block < 2; block++) {
    layers.push(tf.layers.conv2d({ ...(block === 0 ? { inputShape: [size, size, 3] } : {}), filters, kernelSize: 3, padding: 'same', activation: 'relu' }));
    layers.push(tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu' }));
    layers.push(block === 0 ? tf.layers.maxPooling2d({ poolSize: 2 }) : tf.layers.averagePooling2d({ poolSize: 2 }));
    filters *= 2;
  }
  layers.push(
    tf.layers.flatten(),
    tf.layers.dense({ units: 16, activation: 'relu' }),
    tf.layers.dropout({ rate: 0.5 }),
    tf.layers.dense({ units: classes, activation: 'softmax' }),
  );
  return tf.sequential({ layers, name: 'vgg_style' });
}

/** An LSTM text classifier over int32 tokens of any length, with padding masked. */
export function lstmTextClassifier(vocabulary = 50): tf.LayersModel {
  const tokens = tf.input({ shape: [null] as unknown as number[], dtype: 'int32', name: 'tokens' });
  let x = on(tf.layers.embedding({ inputDim: vocabulary, outputDim: 8, maskZero: true }), tokens);
  x = on(tf.layers.bidirectional({ layer: tf.layers.lstm({ units: 6, returnSequences: true }) as tf.RNN }), x);
  x = on(tf.layers.lstm({ units: 5 }), x);
  const p = on(tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'positive' }), x);
  return tf.model({ inputs: tokens, outputs: p, name: 'lstm_text' });
}

/** A U-Net style encoder-decoder: skip connections joined with Concatenate, transposed convs and upsampling. */
export function unetStyle(size = 16): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 1], name: 'scan' });
  const block = (x: T, filters: number): T => {
    const a = on(tf.layers.reLU({}), on(tf.layers.batchNormalization({}), on(tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same' }), x)));
    return on(tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu' }), a);
  };
  const s1 = block(input, 4);
  const s2 = block(on(tf.layers.maxPooling2d({ poolSize: 2 }), s1), 8);
  const bottom = block(on(tf.layers.maxPooling2d({ poolSize: 2 }), s2), 12);
  const up2 = on(tf.layers.conv2dTranspose({ filters: 8, kernelSize: 2, strides: 2, padding: 'same' }), bottom);
  const d2 = block(on(tf.layers.concatenate({}), [up2, s2]), 8);
  const up1 = on(tf.layers.upSampling2d({ size: [2, 2] }), d2);
  const d1 = block(on(tf.layers.concatenate({ axis: -1 }), [s1, up1]), 4);
  const mask = on(tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'sigmoid', name: 'mask' }), d1);
  return tf.model({ inputs: input, outputs: mask, name: 'unet_style' });
}

/** An ACGAN-style generator: the label embedded, multiplied with the latent, then Dense, BN and transposed convs. */
export function acganGenerator(latentDim = 24): tf.LayersModel {
  const latent = tf.input({ shape: [latentDim], name: 'latent' });
  const label = tf.input({ shape: [1], dtype: 'int32', name: 'label' });
  const emb = on(tf.layers.flatten(), on(tf.layers.embedding({ inputDim: 10, outputDim: latentDim }), label));
  let x = on(tf.layers.multiply(), [latent, emb]);
  x = on(tf.layers.leakyReLU({ alpha: 0.2 }), on(tf.layers.batchNormalization({}), on(tf.layers.dense({ units: 7 * 7 * 16 }), x)));
  x = on(tf.layers.reshape({ targetShape: [7, 7, 16] }), x);
  x = on(
    tf.layers.leakyReLU({ alpha: 0.2 }),
    on(tf.layers.batchNormalization({}), on(tf.layers.conv2dTranspose({ filters: 8, kernelSize: 4, strides: 2, padding: 'same' }), x)),
  );
  const image = on(tf.layers.conv2dTranspose({ filters: 1, kernelSize: 4, strides: 2, padding: 'same', activation: 'tanh', name: 'image' }), x);
  return tf.model({ inputs: [latent, label], outputs: image, name: 'acgan_generator' });
}
