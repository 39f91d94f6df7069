import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { type Difference, difference, TOLERANCE, withinTolerance } from '../../src/compare.ts';
import { type ConvertLayersModelOptions, convertLayersModel, type LayersModelConversion } from '../../src/convert-layers-model.ts';
import { saveLayersModel } from '../../src/model-io.ts';
import { Prng } from '../../src/prng.ts';
import type { NamedTensors } from '../../src/tensor-data.ts';

/** One per-layer case: a small model and how to feed it. */
export interface GoldenCase {
  readonly name: string;
  readonly model: tf.LayersModel;
  /** Inputs for one run (default: seeded normals, or ids below each Embedding's inputDim); `time` fills dynamic sizes. */
  readonly inputs?: (time: number, prng: Prng) => tf.Tensor[];
  /** Keep the weights as built (default: seeded random values, positive variances). */
  readonly keepWeights?: boolean;
  /** The expected outputs when tfjs' own are wrong or tfjs cannot run the case (it is then left out of tfjs' predict). */
  readonly reference?: (inputs: tf.Tensor[]) => tf.Tensor[];
}

/** Worst differences seen, per group, printed by the test files. */
export const worst = new Map<string, Difference & { name: string; relName: string }>();

/** The batch every golden run uses. */
export const BATCH = 3;

/** Gives every weight seeded random values (BatchNorm variances positive, means off zero) so nothing is trivial. */
export function randomise(model: tf.LayersModel, seed: number, scale = 0.5): void {
  const p = new Prng(seed);
  model.setWeights(
    model.weights.map((w) => {
      const shape = w.shape as number[];
      const values = p.normals(shape.reduce((a, b) => a * b, 1)).map((v) => scale * v);
      return tf.tensor(/variance/.test(w.name) ? values.map((v) => Math.abs(v) + 0.1) : values, shape);
    }),
  );
}

/** Default inputs: normals, or ids in range for int32 inputs (read from the layers they feed). */
export function defaultInputs(model: tf.LayersModel, time: number, prng: Prng): tf.Tensor[] {
  return model.inputs.map((t) => {
    const shape = t.shape.map((d, k) => d ?? (k === 0 ? BATCH : time));
    const n = shape.reduce((a, b) => a * b, 1);
    if (t.dtype === 'int32') {
      let max = 10;
      for (const layer of model.layers) {
        const c = layer.getConfig() as { inputDim?: number; numTokens?: number };
        if (c.inputDim ?? c.numTokens) max = Math.min(max, (c.inputDim ?? c.numTokens)!);
      }
      return tf.tensor(
        Int32Array.from({ length: n }, () => prng.nextInt(max)),
        shape,
        'int32',
      );
    }
    return tf.tensor(prng.normals(n), shape);
  });
}

function toNamed(names: readonly string[], tensors: readonly tf.Tensor[]): NamedTensors {
  return Object.fromEntries(
    tensors.map((t, i) => [
      names[i]!,
      {
        dtype: t.dtype === 'int32' ? 'int32' : 'float32',
        shape: t.shape,
        data: t.dtype === 'int32' ? Int32Array.from(t.dataSync()) : Float32Array.from(t.dataSync()),
      },
    ]),
  ) as NamedTensors;
}

/** Runs an ORT session on named tensors. */
export async function runSession(session: ort.InferenceSession, inputs: NamedTensors): Promise<NamedTensors> {
  const feeds = Object.fromEntries(Object.entries(inputs).map(([n, t]) => [n, new ort.Tensor(t.dtype, t.data, [...t.shape])]));
  const out = await session.run(feeds);
  return Object.fromEntries(
    session.outputNames.map((n) => [
      n,
      { dtype: out[n]!.type === 'int32' ? 'int32' : 'float32', shape: out[n]!.dims.map(Number), data: out[n]!.data as Float32Array },
    ]),
  ) as NamedTensors;
}

function record(group: string, name: string, d: Difference): void {
  const w = worst.get(group) ?? { abs: 0, absSmall: 0, relLarge: 0, output: '', name: '', relName: '' };
  worst.set(group, {
    abs: Math.max(w.abs, d.abs),
    absSmall: Math.max(w.absSmall, d.absSmall),
    relLarge: Math.max(w.relLarge, d.relLarge),
    output: d.output,
    name: d.absSmall >= w.absSmall ? name : w.name,
    relName: d.relLarge >= w.relLarge ? name : w.relName,
  });
}

/** The assertion message of a comparison: which case, which kind of tolerance. */
export function toleranceMessage(name: string, d: Difference): string {
  return `${name}: worst |tfjs - onnx| ${d.absSmall.toExponential(2)} absolute (limit ${TOLERANCE.abs}), ${d.relLarge.toExponential(2)} relative where |tfjs| > 1 (limit ${TOLERANCE.rel})`;
}

/** Asserts ONNX outputs match tfjs' within the tolerance, recording the worst difference of the group. */
export function assertClose(group: string, name: string, reference: NamedTensors, actual: NamedTensors): Difference {
  for (const [n, t] of Object.entries(reference)) assert.deepEqual(actual[n]?.shape, [...t.shape], `${name}: shape of output ${n}`);
  const d = difference(reference, actual);
  record(group, name, d);
  assert.ok(withinTolerance(d), toleranceMessage(name, d));
  return d;
}

/** A fresh temporary folder. */
export const tempDir = (prefix: string): Promise<string> => mkdtemp(join(tmpdir(), `tfjs-to-onnx-${prefix}-`));

/**
 * Builds one functional model holding every case (each case model applied to its own inputs), saves
 * it in tfjs' layout, converts the file at each opset and checks every case's outputs against tfjs for
 * each sequence length in `times`: one save, one conversion and one onnxruntime session per opset for
 * the whole group.
 */
export async function goldenGroup(
  group: string,
  cases: readonly GoldenCase[],
  {
    opsets = [13, 26],
    times = [5],
    options = {},
    direct = false,
  }: {
    opsets?: number[];
    times?: number[];
    options?: ConvertLayersModelOptions;
    /** Convert the one case's model itself, not nested in a group model. */
    direct?: boolean;
  } = {},
): Promise<LayersModelConversion[]> {
  const inputs: tf.SymbolicTensor[] = [];
  const outputs: tf.SymbolicTensor[] = [];
  const owners: { name: string; first: number; count: number }[] = [];
  // What tfjs predicts: every case without a reference of its own.
  const predictedInputs: tf.SymbolicTensor[] = [];
  const predictedOutputs: tf.SymbolicTensor[] = [];
  if (direct && cases.length !== 1) throw new Error('direct conversion takes one case');
  cases.forEach((c, i) => {
    if (!c.keepWeights) randomise(c.model, 1000 + i);
    if (direct) {
      owners.push({ name: c.name, first: 0, count: c.model.outputs.length });
      return;
    }
    const ins = c.model.inputs.map((t) => tf.input({ shape: t.shape.slice(1), dtype: t.dtype as 'float32' }));
    const applied = c.model.apply(ins.length === 1 ? ins[0]! : ins);
    const outs = Array.isArray(applied) ? (applied as tf.SymbolicTensor[]) : [applied as tf.SymbolicTensor];
    owners.push({ name: c.name, first: outputs.length, count: outs.length });
    inputs.push(...ins);
    outputs.push(...outs);
    if (!c.reference) {
      predictedInputs.push(...ins);
      predictedOutputs.push(...outs);
    }
  });
  const wrapper = direct ? cases[0]!.model : tf.model({ inputs, outputs, name: group.replace(/\W+/g, '_') });
  const predictor = direct || predictedInputs.length === inputs.length ? wrapper : tf.model({ inputs: predictedInputs, outputs: predictedOutputs });
  const dir = await tempDir('golden');
  await saveLayersModel(wrapper, dir);
  const results: LayersModelConversion[] = [];
  for (const opset of opsets) {
    const result = await convertLayersModel(join(dir, 'model.json'), { ...options, opset });
    results.push(result);
    const session = await ort.InferenceSession.create(result.onnx, { executionProviders: ['cpu'] });
    try {
      for (const time of times) {
        const prng = new Prng(7 + time);
        const feeds: tf.Tensor[] = [];
        const predictFeeds: tf.Tensor[] = [];
        const perCase: tf.Tensor[][] = [];
        cases.forEach((c) => {
          const own = c.inputs ? c.inputs(time, prng) : defaultInputs(c.model, time, prng);
          perCase.push(own);
          feeds.push(...own);
          if (!c.reference) predictFeeds.push(...own);
        });
        const predicted = predictFeeds.length ? predictor.predict(predictFeeds.length === 1 ? predictFeeds[0]! : predictFeeds) : [];
        const fromTfjs = Array.isArray(predicted) ? [...predicted] : [predicted];
        const list: tf.Tensor[] = [];
        cases.forEach((c, i) => {
          list.push(...(c.reference ? c.reference(perCase[i]!) : fromTfjs.splice(0, owners[i]!.count)));
        });
        const reference = toNamed(
          result.outputs.map((o) => o.name),
          list,
        );
        const actual = await runSession(
          session,
          toNamed(
            result.inputs.map((t) => t.name),
            feeds,
          ),
        );
        for (const owner of owners) {
          const names = result.outputs.slice(owner.first, owner.first + owner.count).map((o) => o.name);
          const pick = (t: NamedTensors): NamedTensors => Object.fromEntries(names.map((n) => [n, t[n]!]));
          assertClose(group, `${owner.name} (opset ${opset}${times.length > 1 ? `, ${time} steps` : ''})`, pick(reference), pick(actual));
        }
        tf.dispose([...feeds, ...list]);
      }
    } finally {
      await session.release();
    }
  }
  return results;
}

/** Prints the worst differences of every group (the figures the README quotes). */
export function printWorst(): void {
  for (const [group, d] of worst) {
    console.log(
      `# worst tfjs vs onnxruntime, ${group}: ${d.absSmall.toExponential(2)} absolute (${d.name}); ${d.relLarge.toExponential(2)} relative where |tfjs| > 1 (${d.relName})`,
    );
  }
}

/** A functional model with two inputs (one int32), a nested Sequential and two outputs. */
export function baseModel(): tf.LayersModel {
  const image = tf.input({ shape: [6, 6, 2], name: 'image' });
  const label = tf.input({ shape: [1], dtype: 'int32', name: 'label' });
  let x = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'conv' }).apply(image) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'flat' }).apply(x) as tf.SymbolicTensor;
  const emb = tf.layers.flatten({ name: 'emb_flat' }).apply(tf.layers.embedding({ inputDim: 10, outputDim: 4, name: 'emb' }).apply(label)) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate({ name: 'join' }).apply([x, emb]) as tf.SymbolicTensor;
  const head = tf.sequential({
    name: 'head',
    layers: [
      tf.layers.dense({ inputShape: [112], units: 8, activation: 'relu', name: 'h1' }),
      tf.layers.dense({ units: 3, activation: 'softmax', name: 'h2' }),
    ],
  });
  const probs = head.apply(joined) as tf.SymbolicTensor;
  const aux = tf.layers.dense({ units: 2, name: 'aux' }).apply(emb) as tf.SymbolicTensor;
  const model = tf.model({ inputs: [image, label], outputs: [probs, aux], name: 'base' });
  randomise(model, 5);
  return model;
}

/** The main graph's nodes of an ONNX file. */
export function graphOf(onnx: Uint8Array) {
  return fromBinary(ModelProtoSchema, onnx);
}

/** The optimisations every converted model shows: no Identity, no batch norm left, no Transpose of a Transpose. */
export function assertOptimised(name: string, onnx: Uint8Array, transposes?: number): void {
  const nodes = graphOf(onnx).graph!.node;
  const ops = nodes.map((n) => n.opType);
  assert.equal(ops.filter((o) => o === 'Identity').length, 0, `${name}: Identity nodes`);
  assert.equal(ops.filter((o) => o === 'BatchNormalization').length, 0, `${name}: batch norms left after folding`);
  const producer = new Map(nodes.flatMap((n) => n.output.map((o) => [o, n.opType] as const)));
  const pairs = nodes.filter((n) => n.opType === 'Transpose' && producer.get(n.input[0]!) === 'Transpose');
  assert.equal(pairs.length, 0, `${name}: Transpose of a Transpose`);
  if (transposes !== undefined) assert.equal(ops.filter((o) => o === 'Transpose').length, transposes, `${name}: Transposes (${ops.join(' ')})`);
}
