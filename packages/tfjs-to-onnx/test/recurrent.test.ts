import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KerasGRU, registerKerasLayers } from '../src/keras-layers.ts';
import type { Prng } from '../src/prng.ts';
import { BATCH, type GoldenCase, goldenGroup, printWorst } from './helpers/convert.ts';

// Recurrent layers over sequences of several lengths (1, 4 and 9 steps through one session): the
// native ONNX RNN/GRU/LSTM path, the Scan path (masks, other activations, stacked cells, ConvLSTM2D),
// Bidirectional in every merge mode and TimeDistributed, at opsets 13 and 26.

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  registerKerasLayers();
});
after(printWorst);

const TIMES = [1, 4, 9];
const F = 3;
const anyLength = [null, F] as unknown as number[];
const seq = (layers: tf.layers.Layer[]): tf.Sequential => tf.sequential({ layers });
/** A functional model of one layer (for layers with several outputs: states, merge mode null). */
const one = (shape: Array<number | null>, layer: tf.layers.Layer): tf.LayersModel => {
  const x = tf.input({ shape: shape as number[] });
  return tf.model({ inputs: x, outputs: layer.apply(x) as tf.SymbolicTensor[] });
};
type RnnArgs = Parameters<typeof tf.layers.lstm>[0];
const kinds = {
  SimpleRNN: (a: RnnArgs) => tf.layers.simpleRNN(a),
  GRU: (a: RnnArgs) => tf.layers.gru(a),
  KerasGRU: (a: RnnArgs) => new KerasGRU({ ...(a as object), recurrentActivation: 'sigmoid' }) as unknown as tf.RNN,
  LSTM: (a: RnnArgs) => tf.layers.lstm(a),
} as const;

/** Sequences [batch, time, F] whose masked steps (all features 0) sit at the end and in the middle. */
const maskedSequences = (time: number, prng: Prng): tf.Tensor[] => {
  const data = prng.normals(BATCH * time * F);
  for (let b = 0; b < BATCH; b++)
    for (let t = 0; t < time; t++) {
      const masked = (b === 1 && t >= time - 2) || (b === 2 && t % 3 === 1);
      if (masked) for (let k = 0; k < F; k++) data[(b * time + t) * F + k] = 0;
    }
  return [tf.tensor(data, [BATCH, time, F])];
};

/** Token ids [batch, time] with zeros (padding) at the end of some rows. */
const paddedIds = (time: number, prng: Prng): tf.Tensor[] => [
  tf.tensor(
    Int32Array.from({ length: BATCH * time }, (_, i) => (Math.floor(i / time) === 0 && i % time >= time - 2 ? 0 : 1 + prng.nextInt(6))),
    [BATCH, time],
    'int32',
  ),
];

test('SimpleRNN, GRU (reset_after false and true), LSTM: sequences, last output, go_backwards, states, no bias, activations (native ops)', async () => {
  const cases: GoldenCase[] = [];
  for (const [kind, make] of Object.entries(kinds)) {
    cases.push(
      { name: `${kind} last output`, model: seq([make({ inputShape: anyLength, units: 4 })]) },
      { name: `${kind} sequences`, model: seq([make({ inputShape: anyLength, units: 5, returnSequences: true })]) },
      { name: `${kind} go_backwards sequences`, model: seq([make({ inputShape: anyLength, units: 3, returnSequences: true, goBackwards: true })]) },
      { name: `${kind} go_backwards last`, model: seq([make({ inputShape: anyLength, units: 3, goBackwards: true })]) },
      { name: `${kind} return_state`, model: one(anyLength, make({ units: 2, returnState: true, returnSequences: true })) },
      { name: `${kind} no bias, sigmoid`, model: seq([make({ inputShape: anyLength, units: 3, useBias: false, activation: 'sigmoid' })]) },
    );
  }
  cases.push(
    {
      name: 'LSTM softsign, recurrent sigmoid',
      model: seq([tf.layers.lstm({ inputShape: anyLength, units: 4, activation: 'softsign', recurrentActivation: 'sigmoid' })]),
    },
    { name: 'GRU relu, recurrent hard sigmoid', model: seq([tf.layers.gru({ inputShape: anyLength, units: 4, activation: 'relu' })]) },
    {
      name: 'SimpleRNN linear then Dense',
      model: seq([tf.layers.simpleRNN({ inputShape: anyLength, units: 4, activation: 'linear' }), tf.layers.dense({ units: 2 })]),
    },
    { name: 'stacked LSTMs', model: seq([tf.layers.lstm({ inputShape: anyLength, units: 4, returnSequences: true }), tf.layers.lstm({ units: 3 })]) },
    { name: 'RNN over an LSTMCell', model: seq([tf.layers.rnn({ inputShape: anyLength, cell: tf.layers.lstmCell({ units: 3 }), returnSequences: true })]) },
  );
  const [result] = await goldenGroup('recurrent (native ops)', cases, { times: TIMES });
  assert.equal(result!.ops.Scan ?? 0, 0, 'no Scan where onnxruntime has the op');
  assert.ok((result!.ops.LSTM ?? 0) >= 8 && (result!.ops.GRU ?? 0) >= 12 && (result!.ops.RNN ?? 0) >= 6, JSON.stringify(result!.ops));
});

test('Scan: other activations, stacked cells, masks from Masking and Embedding(mask_zero), go_backwards with masks, initial states', async () => {
  const cases: GoldenCase[] = [
    { name: 'SimpleRNN swish', model: seq([tf.layers.simpleRNN({ inputShape: anyLength, units: 4, activation: 'swish', returnSequences: true })]) },
    { name: 'GRU gelu, recurrent relu6', model: seq([tf.layers.gru({ inputShape: anyLength, units: 3, activation: 'gelu', recurrentActivation: 'relu6' })]) },
    {
      name: 'LSTM selu go_backwards',
      model: seq([tf.layers.lstm({ inputShape: anyLength, units: 3, activation: 'selu', goBackwards: true, returnSequences: true })]),
    },
    {
      name: 'RNN over stacked SimpleRNN, GRU and LSTM cells',
      model: seq([
        tf.layers.rnn({
          inputShape: anyLength,
          cell: [tf.layers.simpleRNNCell({ units: 4 }), tf.layers.gruCell({ units: 3 }), tf.layers.lstmCell({ units: 2 })],
          returnSequences: true,
        }),
      ]),
    },
    {
      name: 'RNN over stacked cells, states returned, backwards',
      model: one(
        anyLength,
        tf.layers.rnn({ cell: [tf.layers.lstmCell({ units: 3 }), tf.layers.simpleRNNCell({ units: 2 })], returnState: true, goBackwards: true }),
      ),
    },
  ];
  for (const [kind, make] of Object.entries(kinds)) {
    cases.push(
      { name: `Masking then ${kind} last output`, model: seq([tf.layers.masking({ inputShape: anyLength }), make({ units: 4 })]), inputs: maskedSequences },
      {
        name: `Masking then ${kind} sequences, backwards`,
        model: seq([tf.layers.masking({ inputShape: anyLength }), make({ units: 3, returnSequences: true, goBackwards: true })]),
        inputs: maskedSequences,
      },
    );
  }
  const ids = tf.input({ shape: [null] as unknown as number[], dtype: 'int32' });
  const embedded = tf.layers.embedding({ inputDim: 7, outputDim: 4, maskZero: true }).apply(ids) as tf.SymbolicTensor;
  const gru = tf.layers.gru({ units: 3, returnSequences: true }).apply(embedded) as tf.SymbolicTensor;
  const lstm = tf.layers.lstm({ units: 2 }).apply(gru) as tf.SymbolicTensor;
  cases.push({ name: 'Embedding(mask_zero) then GRU then LSTM (mask passed on)', model: tf.model({ inputs: ids, outputs: lstm }), inputs: paddedIds });
  // Initial states from other inputs, with and without a mask.
  const x = tf.input({ shape: anyLength });
  const code = tf.input({ shape: [5] });
  const h = tf.layers.dense({ units: 3 }).apply(code) as tf.SymbolicTensor;
  const c = tf.layers.dense({ units: 3 }).apply(code) as tf.SymbolicTensor;
  const plain = tf.layers.lstm({ units: 3, returnSequences: true }).apply(x, { initialState: [h, c] }) as tf.SymbolicTensor;
  cases.push({ name: 'LSTM with initial states', model: tf.model({ inputs: [x, code], outputs: plain }) });
  const xm = tf.input({ shape: anyLength });
  const codeM = tf.input({ shape: [5] });
  const hm = tf.layers.dense({ units: 4 }).apply(codeM) as tf.SymbolicTensor;
  const masked = tf.layers.masking({}).apply(xm) as tf.SymbolicTensor;
  const gm = tf.layers.gru({ units: 4 }).apply(masked, { initialState: [hm] }) as tf.SymbolicTensor;
  cases.push({
    name: 'masked GRU with an initial state',
    model: tf.model({ inputs: [xm, codeM], outputs: gm }),
    inputs: (t, p) => [...maskedSequences(t, p), tf.tensor(p.normals(BATCH * 5), [BATCH, 5])],
  });
  const [result] = await goldenGroup('recurrent (Scan)', cases, { times: TIMES });
  assert.ok((result!.ops.Scan ?? 0) >= 14, JSON.stringify(result!.ops));
});

test('Bidirectional (concat, sum, mul, ave, null; sequences or last; states; masked; over go_backwards layers) and TimeDistributed', async () => {
  const cases: GoldenCase[] = [];
  for (const mergeMode of ['concat', 'sum', 'mul', 'ave', null] as const) {
    for (const [kind, make] of Object.entries(kinds)) {
      cases.push({
        name: `Bidirectional ${kind} ${mergeMode ?? 'null'} sequences`,
        model: one(anyLength, tf.layers.bidirectional({ layer: make({ units: 3, returnSequences: true }), mergeMode: mergeMode as 'concat' })),
      });
    }
    cases.push({
      name: `Bidirectional LSTM ${mergeMode ?? 'null'} last`,
      model: one(anyLength, tf.layers.bidirectional({ layer: tf.layers.lstm({ units: 2 }), mergeMode: mergeMode as 'concat' })),
    });
  }
  cases.push(
    { name: 'Bidirectional GRU with states', model: one(anyLength, tf.layers.bidirectional({ layer: tf.layers.gru({ units: 3, returnState: true }) })) },
    {
      name: 'Bidirectional over a go_backwards LSTM',
      model: seq([tf.layers.bidirectional({ inputShape: anyLength, layer: tf.layers.lstm({ units: 3, goBackwards: true, returnSequences: true }) })]),
    },
    {
      name: 'Bidirectional SimpleRNN swish (two Scans)',
      model: seq([tf.layers.bidirectional({ inputShape: anyLength, layer: tf.layers.simpleRNN({ units: 3, activation: 'swish' }), mergeMode: 'sum' })]),
    },
    {
      name: 'Masking then Bidirectional LSTM',
      model: seq([tf.layers.masking({ inputShape: anyLength }), tf.layers.bidirectional({ layer: tf.layers.lstm({ units: 3, returnSequences: true }) })]),
      inputs: maskedSequences,
    },
    {
      name: 'TimeDistributed Dense',
      model: seq([tf.layers.timeDistributed({ inputShape: anyLength, layer: tf.layers.dense({ units: 4, activation: 'relu' }) })]),
    },
    {
      name: 'TimeDistributed Dense after an LSTM',
      model: seq([
        tf.layers.lstm({ inputShape: anyLength, units: 4, returnSequences: true }),
        tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 2, activation: 'softmax' }) }),
      ]),
    },
    {
      name: 'TimeDistributed Conv2D and pooling',
      model: seq([
        tf.layers.timeDistributed({ inputShape: [4, 6, 5, 2], layer: tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }) }),
        tf.layers.timeDistributed({ layer: tf.layers.maxPooling2d({ poolSize: 2 }) }),
      ]),
    },
  );
  await goldenGroup('bidirectional and time-distributed', cases, { times: TIMES });
});

test('ConvLSTM2D (a Scan with convolutions): same and valid, strides, dilation, sequences, backwards, states, channels first', async () => {
  const conv = (args: Record<string, unknown>, shape: Array<number | null> = [null, 6, 5, 2]): tf.LayersModel =>
    one(shape, tf.layers.convLstm2d({ filters: 3, kernelSize: 3, ...args } as Parameters<typeof tf.layers.convLstm2d>[0]));
  const cases: GoldenCase[] = [
    { name: 'ConvLSTM2D same, last output', model: conv({ padding: 'same' }) },
    { name: 'ConvLSTM2D valid, sequences', model: conv({ returnSequences: true }) },
    { name: 'ConvLSTM2D stride 2, backwards', model: conv({ padding: 'same', strides: 2, goBackwards: true }) },
    { name: 'ConvLSTM2D dilation 2, states', model: conv({ kernelSize: 2, dilationRate: 2, returnState: true, returnSequences: true }) },
    { name: 'ConvLSTM2D sigmoid gates, no bias', model: conv({ padding: 'same', recurrentActivation: 'sigmoid', useBias: false }) },
    { name: 'ConvLSTM2D channels first', model: conv({ padding: 'same', dataFormat: 'channelsFirst', returnSequences: true }, [null, 2, 5, 4]) },
  ];
  await goldenGroup('ConvLSTM2D', cases, { times: [1, 3] });
});
