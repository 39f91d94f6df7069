import { activationLayer, elu, kerasRelu, leakyRelu, prelu, relu, softmaxLayer, thresholdedRelu } from './layers/activations.ts';
import type { LayerConverter } from './layers/context.ts';
import { conv, convTranspose, cropping2d, depthwiseConv2d, separableConv2d, upSampling2d, zeroPadding2d } from './layers/conv.ts';
import { dense, embedding, flatten, identity, masking, permuteLayer, repeatVector, reshape } from './layers/core.ts';
import { concatenate, dot, merge } from './layers/merge.ts';
import { batchNorm, layerNorm } from './layers/normalization.ts';
import { globalPooling, pooling } from './layers/pooling.ts';
import { categoryEncoding, centerCrop, rescaling, resizing } from './layers/preprocessing.ts';
import { bidirectional, rnn } from './layers/recurrent.ts';
import { timeDistributed } from './layers/wrappers.ts';

export { permute } from './layers/context.ts';
export type { LayerContext, LayerConverter, TensorRef } from './layers/context.ts';

/** The converted tfjs layer classes (tfjs-layers 4.x's exports, plus the Keras classes of keras-layers.ts). */
export const LAYER_CONVERTERS: Readonly<Record<string, LayerConverter>> = {
  // Activations
  Activation: activationLayer,
  ReLU: relu,
  KerasReLU: kerasRelu,
  LeakyReLU: leakyRelu,
  PReLU: prelu,
  ELU: elu,
  ThresholdedReLU: thresholdedRelu,
  Softmax: softmaxLayer,
  // Core
  Dense: dense,
  Flatten: flatten,
  Reshape: reshape,
  Permute: permuteLayer,
  RepeatVector: repeatVector,
  Masking: masking,
  Embedding: embedding,
  Dropout: identity,
  SpatialDropout1D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  // Convolutions
  Conv1D: conv(1),
  Conv2D: conv(2),
  Conv3D: conv(3),
  Conv2DTranspose: convTranspose(2),
  Conv3DTranspose: convTranspose(3),
  DepthwiseConv2D: depthwiseConv2d,
  SeparableConv2D: separableConv2d,
  Cropping2D: cropping2d,
  UpSampling2D: upSampling2d,
  ZeroPadding2D: zeroPadding2d,
  // Pooling
  MaxPooling1D: pooling('MaxPool', 1),
  MaxPooling2D: pooling('MaxPool', 2),
  MaxPooling3D: pooling('MaxPool', 3),
  AveragePooling1D: pooling('AveragePool', 1),
  AveragePooling2D: pooling('AveragePool', 2),
  AveragePooling3D: pooling('AveragePool', 3),
  GlobalAveragePooling1D: globalPooling('ReduceMean', 1),
  GlobalMaxPooling1D: globalPooling('ReduceMax', 1),
  GlobalAveragePooling2D: globalPooling('ReduceMean', 2),
  GlobalMaxPooling2D: globalPooling('ReduceMax', 2),
  // Merging
  Add: merge('Add'),
  Multiply: merge('Mul'),
  Average: merge('Average'),
  Maximum: merge('Max'),
  Minimum: merge('Min'),
  Concatenate: concatenate,
  Dot: dot,
  // Normalisation
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  // Recurrent
  SimpleRNN: rnn,
  GRU: rnn,
  KerasGRU: rnn,
  LSTM: rnn,
  RNN: rnn,
  ConvLSTM2D: rnn,
  Bidirectional: bidirectional,
  TimeDistributed: timeDistributed,
  // Preprocessing (random augmentation is the identity at inference)
  Rescaling: rescaling,
  CenterCrop: centerCrop,
  Resizing: resizing,
  CategoryEncoding: categoryEncoding,
  RandomWidth: identity,
  RandomHeight: identity,
  RandomFlip: identity,
  RandomRotation: identity,
  RandomZoom: identity,
  RandomTranslation: identity,
  RandomContrast: identity,
  RandomBrightness: identity,
};

/** Registered tfjs classes the converter refuses, with the reason (shown in errors and the README). */
export const REFUSED_LAYERS: Readonly<Record<string, string>> = {
  MultiHeadAttention: 'an internal class of tfjs-layers (not exported by tf.layers in 4.x), so no tfjs layers model can be saved with it',
  CachedMultiHeadAttention: 'an internal class of tfjs-layers (not exported by tf.layers in 4.x)',
  EinsumDense: 'an internal class of tfjs-layers (not exported by tf.layers in 4.x)',
  PositionEmbedding: 'an internal class of tfjs-layers (not exported by tf.layers in 4.x)',
  TransformerDecoder: 'an internal class of tfjs-layers (not exported by tf.layers in 4.x)',
  SimpleRNNCell: 'a cell only runs inside an RNN layer',
  GRUCell: 'a cell only runs inside an RNN layer',
  LSTMCell: 'a cell only runs inside an RNN layer',
  ConvLSTM2DCell: 'a cell only runs inside an RNN layer',
  StackedRNNCells: 'stacked cells only run inside an RNN layer',
};

/** Layers whose output mask is their input's mask (tfjs: supportsMasking with the default computeMask). */
export const MASK_PASSING: ReadonlySet<string> = new Set([
  'Dropout',
  'SpatialDropout1D',
  'Dense',
  'Activation',
  'BatchNormalization',
  'LayerNormalization',
  'ReLU',
  'KerasReLU',
  'PReLU',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'TimeDistributed',
  'RandomFlip',
  'RandomRotation',
  'RandomZoom',
  'RandomTranslation',
  'RandomContrast',
  'RandomBrightness',
]);

/** Layers that make their output mask themselves (the converter returns it). */
export const MASK_MAKING: ReadonlySet<string> = new Set([
  'Masking',
  'Embedding',
  'SimpleRNN',
  'GRU',
  'KerasGRU',
  'LSTM',
  'RNN',
  'ConvLSTM2D',
  'Bidirectional',
  'Add',
  'Multiply',
  'Average',
  'Maximum',
  'Minimum',
  'Concatenate',
  'Dot',
]);

/** Layers that read the mask tfjs hands to every call (kwargs.mask). */
export const MASK_READING: ReadonlySet<string> = new Set(['SimpleRNN', 'GRU', 'KerasGRU', 'LSTM', 'RNN', 'ConvLSTM2D', 'Bidirectional', 'Softmax']);
