import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TensorProto_DataType } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { difference } from '../src/compare.ts';
import { convertLayersModel } from '../src/convert-layers-model.ts';
import { registerKerasLayers } from '../src/keras-layers.ts';
import { saveLayersModel } from '../src/model-io.ts';
import type { Prng } from '../src/prng.ts';
import { formatReport } from '../src/report.ts';
import { acganGenerator, lstmTextClassifier, mobileNetV2Style, realisticWeights, unetStyle, vggStyle } from './helpers/architectures.ts';
import { assertOptimised, BATCH, goldenGroup, graphOf, printWorst, runSession, tempDir } from './helpers/convert.ts';

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  registerKerasLayers();
});
after(printWorst);

/** Token ids of any length with zero padding at the end of some rows. */
const tokens = (vocabulary: number) => (time: number, prng: Prng) => [
  tf.tensor(
    Int32Array.from({ length: BATCH * time }, (_, i) => {
      const row = Math.floor(i / time);
      const t = i % time;
      return t >= time - row ? 0 : 1 + prng.nextInt(vocabulary - 1);
    }),
    [BATCH, time],
    'int32',
  ),
];

test('five realistic architectures match tfjs, with batch norms folded, no Identity and only the layout Transposes they need', async () => {
  const cases = [
    { name: 'MobileNetV2-style (depthwise, ZeroPadding, ReLU6, residual Add)', model: mobileNetV2Style(), transposes: 1 },
    { name: 'VGG-style classifier (pooling, Flatten, Dropout)', model: vggStyle(), transposes: 2 },
    { name: 'U-Net style encoder-decoder (Concatenate skips)', model: unetStyle(), transposes: 2 },
    { name: 'ACGAN-style generator (Embedding, Multiply)', model: acganGenerator(), transposes: 2 },
  ];
  for (const [i, c] of cases.entries()) {
    realisticWeights(c.model, 40 + i);
    const [result] = await goldenGroup('whole models', [{ name: c.name, model: c.model, keepWeights: true }], { direct: true, opsets: [17] });
    assertOptimised(c.name, result!.onnx, c.transposes);
  }
  const text = lstmTextClassifier(50);
  realisticWeights(text, 45);
  const [lstm] = await goldenGroup('whole models', [{ name: 'LSTM text classifier over int32 tokens', model: text, keepWeights: true, inputs: tokens(50) }], {
    direct: true,
    opsets: [17],
    times: [1, 6, 15],
  });
  assertOptimised('LSTM text classifier', lstm!.onnx);
  assert.deepEqual(lstm!.inputs, [{ name: 'tokens', dtype: 'int32', shape: ['batch', 'tokens_dim1'] }]);
});

test('--fp16 stores weights as float16 (about half the bytes) and its error against the float32 model is measured', async () => {
  const dir = await tempDir('fp16');
  const model = mobileNetV2Style();
  realisticWeights(model, 7);
  await saveLayersModel(model, dir);
  const result = await convertLayersModel(join(dir, 'model.json'), { fp16: true, sampleBatch: 8 });
  assert.ok(result.fp32Onnx);
  const ratio = result.onnx.length / result.fp32Onnx.length;
  assert.ok(ratio > 0.5 && ratio < 0.75, `fp16 file is ${ratio.toFixed(3)} of the fp32 one`);
  const half = graphOf(result.onnx).graph!;
  const full = graphOf(result.fp32Onnx).graph!;
  const types = half.initializer.map((i) => i.dataType);
  assert.ok(types.includes(TensorProto_DataType.FLOAT16));
  // Every float16 weight is its float32 twin at half the bytes; only tiny constants (<= 16 values) stay float32.
  const bytes32 = new Map(full.initializer.map((i) => [i.name, i.rawData.length]));
  for (const i of half.initializer.filter((t) => t.dataType === TensorProto_DataType.FLOAT16)) {
    assert.equal(i.rawData.length * 2, bytes32.get(i.name.replace(/__fp16$/, '')), i.name);
  }
  for (const i of half.initializer.filter((t) => t.dataType === TensorProto_DataType.FLOAT)) assert.ok(i.rawData.length <= 16 * 4, `${i.name} left in float32`);
  assert.equal(
    half.node.filter((n) => n.opType === 'Cast').length,
    types.filter((t) => t === TensorProto_DataType.FLOAT16).length,
    'one Cast back to float32 per float16 weight',
  );
  const inputs = result.sample!.inputs;
  const [s16, s32] = await Promise.all([ort.InferenceSession.create(result.onnx), ort.InferenceSession.create(result.fp32Onnx)]);
  const out32 = await runSession(s32, inputs);
  const d = difference(out32, await runSession(s16, inputs));
  const vsTfjs = difference(result.sample!.outputs, out32);
  await Promise.all([s16.release(), s32.release()]);
  console.log(
    `# fp16 MobileNetV2-style: ${result.onnx.length} bytes vs ${result.fp32Onnx.length}; worst |fp16 - fp32| ${d.abs.toExponential(2)} on softmax outputs (fp32 vs tfjs ${vsTfjs.abs.toExponential(2)})`,
  );
  assert.ok(d.abs > 0 && d.abs < 5e-3, `fp16 error ${d.abs}`);
  assert.ok(vsTfjs.abs <= 1e-5);
  // Scan bodies read the float16 weights cast back in the main graph.
  const text = lstmTextClassifier(30);
  realisticWeights(text, 8);
  const textDir = await tempDir('fp16-text');
  await saveLayersModel(text, textDir);
  const t = await convertLayersModel(join(textDir, 'model.json'), { fp16: true, sampleBatch: 4 });
  const [t16, t32] = await Promise.all([ort.InferenceSession.create(t.onnx), ort.InferenceSession.create(t.fp32Onnx!)]);
  const textError = difference(await runSession(t32, t.sample!.inputs), await runSession(t16, t.sample!.inputs));
  await Promise.all([t16.release(), t32.release()]);
  console.log(`# fp16 LSTM text classifier: worst |fp16 - fp32| ${textError.abs.toExponential(2)} on sigmoid outputs`);
  assert.ok(textError.abs < 5e-3);
});

test('opsets 13 and 26 (the range ends) are written with their IR versions; 12 and 27 are refused', async () => {
  const dir = await tempDir('opsets');
  const model = vggStyle();
  await saveLayersModel(model, dir);
  for (const [opset, ir] of [
    [13, 7n],
    [26, 13n],
  ] as const) {
    const result = await convertLayersModel(join(dir, 'model.json'), { opset, sampleBatch: 2 });
    const proto = graphOf(result.onnx);
    assert.equal(proto.opsetImport[0]!.version, BigInt(opset));
    assert.equal(proto.irVersion, ir);
    const session = await ort.InferenceSession.create(result.onnx);
    assert.ok(difference(result.sample!.outputs, await runSession(session, result.sample!.inputs)).abs <= 1e-5);
    await session.release();
  }
  for (const opset of [12, 27, 17.5]) {
    await assert.rejects(
      convertLayersModel(join(dir, 'model.json'), { opset }),
      new RegExp(`Expected integer between 13 and 26 for opset but received ${opset}`),
    );
  }
});

test('the report lists each tfjs layer with its ONNX nodes and parameters, and where batch norms went', async () => {
  const model = acganGenerator();
  const dir = await tempDir('report');
  await saveLayersModel(model, dir);
  const result = await convertLayersModel(join(dir, 'model.json'));
  const table = formatReport(result.report);
  const rows = new Map(result.report.map((r) => [r.className, r]));
  assert.deepEqual(rows.get('Embedding')!.nodes, ['Gather']);
  assert.equal(rows.get('Embedding')!.parameters, 10 * 24);
  assert.deepEqual(rows.get('Multiply')!.nodes, ['Mul']);
  assert.deepEqual(rows.get('Dense')!.nodes, ['Gemm']);
  const bns = result.report.filter((r) => r.className === 'BatchNormalization');
  assert.equal(bns.length, 2);
  for (const bn of bns) assert.match(bn.notes.join(), /^folded into (dense|conv2d_transpose)/);
  assert.equal(
    result.report.reduce((s, r) => s + r.parameters, 0),
    model.countParams(),
  );
  assert.match(table, /^tfjs layer +class +ONNX nodes +params +notes$/m);
  assert.match(table, /embedding_Embedding\d+ +Embedding +Gather +240/);
  assert.match(table, /batch_normalization_BatchNormalization\d+ +BatchNormalization +\d+ +folded into dense_Dense\d+/);
  assert.match(table, new RegExp(`^total +\\d+ nodes +${model.countParams()}`, 'm'));
});

test("a shared layer's weights are stored once, and a batch norm after one of its calls still folds", async () => {
  const a = tf.input({ shape: [5, 5, 2] });
  const b = tf.input({ shape: [5, 5, 2] });
  const shared = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'shared' });
  const left = tf.layers.batchNormalization({ name: 'norm' }).apply(shared.apply(a)) as tf.SymbolicTensor;
  const right = tf.layers.reLU({}).apply(shared.apply(b)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: [a, b], outputs: [left, right] });
  realisticWeights(model, 3);
  const [result] = await goldenGroup('whole models', [{ name: 'shared convolution, one call batch-normed', model, keepWeights: true }], {
    direct: true,
    opsets: [17],
  });
  const graph = graphOf(result!.onnx).graph!;
  const kernels = graph.initializer.filter((i) => i.dims.length === 4);
  assert.equal(kernels.length, 2, 'the shared kernel once, plus its folded copy for the batch-normed call');
  assert.equal(graph.node.filter((n) => n.opType === 'BatchNormalization').length, 0);
  assert.match(result!.report.find((r) => r.layer === 'norm')!.notes.join(), /folded into shared/);
});
