import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
import { difference, withinTolerance } from '../src/compare.ts';
import { convertModelToOnnx } from '../src/convert.ts';
import { convertLayersModel } from '../src/convert-layers-model.ts';
import { float16Bits, PRODUCER } from '../src/graph-builder.ts';
import { registerKerasLayers } from '../src/keras-layers.ts';
import { loadLayersModelFile, saveLayersModel } from '../src/model-io.ts';
import { Prng } from '../src/prng.ts';
import type { NamedTensors } from '../src/tensor-data.ts';
import { baseModel, randomise, runSession, tempDir, toleranceMessage } from './helpers/convert.ts';

// The layouts real tfjs layers models come in, quantized weights and hostile files (the command line: cli.slow.test.ts).

const root = join(import.meta.dirname, '..');
type Json = Record<string, unknown>;

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  registerKerasLayers();
});

const FEEDS = (batch = 4): tf.Tensor[] => {
  const p = new Prng(2);
  return [
    tf.tensor(p.normals(batch * 72), [batch, 6, 6, 2]),
    tf.tensor(
      Int32Array.from({ length: batch }, () => p.nextInt(10)),
      [batch, 1],
      'int32',
    ),
  ];
};

const named = (names: string[], ts: tf.Tensor[]): NamedTensors =>
  Object.fromEntries(
    ts.map((t, i) => [
      names[i]!,
      {
        dtype: t.dtype === 'int32' ? 'int32' : 'float32',
        shape: t.shape,
        data: t.dtype === 'int32' ? Int32Array.from(t.dataSync()) : Float32Array.from(t.dataSync()),
      },
    ]),
  ) as NamedTensors;

/** Converts a model.json and checks it against tfjs outputs on the base feeds. */
async function matches(label: string, modelJson: string, reference: tf.LayersModel | tf.Tensor[], feeds = FEEDS()): Promise<void> {
  const result = await convertLayersModel(modelJson);
  const expected = Array.isArray(reference) ? reference : ([reference.predict(feeds)].flat() as tf.Tensor[]);
  const session = await ort.InferenceSession.create(result.onnx);
  const actual = await runSession(
    session,
    named(
      result.inputs.map((i) => i.name),
      feeds,
    ),
  );
  await session.release();
  const d = difference(
    named(
      result.outputs.map((o) => o.name),
      expected,
    ),
    actual,
  );
  assert.ok(withinTolerance(d), toleranceMessage(label, d));
}

/** Saves the base model and returns its folder, parsed model.json and weight bytes. */
async function saved(model = baseModel()): Promise<{ dir: string; json: Json; weights: Buffer; model: tf.LayersModel }> {
  const dir = await tempDir('layout');
  await saveLayersModel(model, dir);
  return { dir, json: JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')), weights: await readFile(join(dir, 'weights.bin')), model };
}

/** Writes a variant of a model.json (and its weight files) into a new folder; returns its model.json path. */
async function variant(json: Json, files: Record<string, Uint8Array>): Promise<string> {
  const dir = await tempDir('variant');
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
  for (const [name, bytes] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), bytes);
  }
  return join(dir, 'model.json');
}

interface Spec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: Json;
}
const manifestOf = (json: Json): { paths: string[]; weights: Spec[] }[] => json.weightsManifest as { paths: string[]; weights: Spec[] }[];
const bytesOf = (s: Spec): number => s.shape.reduce((a, b) => a * b, 1) * 4;

/** Keras 3's way of writing a tfjs-saved topology: dtype policies, batch_shape, {args, kwargs} nodes, module keys. */
function toKeras3(topology: Json): Json {
  const policy = (name: unknown): Json => ({ module: 'keras', class_name: 'DTypePolicy', config: { name }, registered_name: null });
  const shapes = new Map<string, unknown>();
  const tensor = (ref: unknown[]): Json => ({
    class_name: '__keras_tensor__',
    config: { shape: shapes.get(String(ref[0])) ?? null, dtype: 'float32', keras_history: ref.slice(0, 3) },
  });
  const layer = (l: Json): Json => {
    const c = { ...(l.config as Json) };
    for (const key of Object.keys(c)) {
      const v = c[key] as Json | null;
      if (/_initializer$/.test(key) && v) c[key] = { module: 'keras.initializers', class_name: v.class_name, config: v.config, registered_name: null };
    }
    if (l.class_name === 'InputLayer') {
      c.batch_shape = c.batch_input_shape;
      delete c.batch_input_shape;
      shapes.set(String(l.name), c.batch_shape);
    } else {
      c.dtype = policy(c.dtype ?? 'float32');
    }
    if (Array.isArray(c.layers)) Object.assign(c, { layers: (c.layers as Json[]).map(layer) });
    const out: Json = { module: 'keras.layers', class_name: l.class_name, config: c, registered_name: null, build_config: { input_shape: null } };
    if ('name' in l) out.name = l.name;
    if (Array.isArray(l.inbound_nodes)) {
      out.inbound_nodes = (l.inbound_nodes as unknown[][][]).map((node) => ({
        args: node.length === 1 ? [tensor(node[0]!)] : [node.map(tensor)],
        kwargs: { training: false },
      }));
    }
    return out;
  };
  const t = layer(topology);
  const config = t.config as Json;
  for (const key of ['input_layers', 'output_layers']) {
    const list = config[key] as unknown[][] | undefined;
    if (list?.length === 1) config[key] = list[0];
  }
  return t;
}

test('layouts: no format key, the model_config wrapper, Keras 3 topologies, batch_input_shape on inner layers, weights in any order, shards with and without .bin, several groups', async () => {
  const base = await saved();
  const { json, weights, model } = base;
  const w = { 'weights.bin': weights };
  const noFormat = structuredClone(json);
  delete noFormat.format;
  delete noFormat.generatedBy;
  await matches('no format key (older converter)', await variant(noFormat, w), model);
  const wrapped = {
    ...structuredClone(json),
    modelTopology: {
      keras_version: '2.15.0',
      backend: 'tensorflow',
      model_config: json.modelTopology,
      training_config: { loss: { class_name: 'MeanSquaredError', config: { reduction: 'auto' } }, optimizer_config: { class_name: 'Custom>Adam', config: {} } },
    },
  };
  await matches('model_config wrapper (tensorflowjs_converter)', await variant(wrapped, w), model);
  await matches('Keras 3 topology (functional)', await variant({ ...structuredClone(json), modelTopology: toKeras3(json.modelTopology as Json) }, w), model);
  const seqModel = tf.sequential({ layers: [tf.layers.dense({ inputShape: [5], units: 4, name: 's1' }), tf.layers.dense({ units: 2, name: 's2' })] });
  randomise(seqModel, 9);
  const s = await saved(seqModel);
  const seqTopology = structuredClone(s.json.modelTopology) as Json;
  const seqLayers = (seqTopology.config as Json).layers as Json[];
  const first = seqLayers[0]!.config as Json;
  seqLayers.unshift({ class_name: 'InputLayer', config: { batch_input_shape: first.batch_input_shape, dtype: 'float32', sparse: false, name: 'in' } });
  delete first.batch_input_shape;
  const feeds5 = [tf.tensor(new Prng(4).normals(15), [3, 5])];
  await matches(
    'Keras 3 Sequential (InputLayer with batch_shape)',
    await variant({ ...structuredClone(s.json), modelTopology: toKeras3(seqTopology) }, { 'weights.bin': s.weights }),
    seqModel,
    feeds5,
  );
  // batch_input_shape with another batch size on inner layers: only the model's own inputs count.
  const inner = structuredClone(json);
  for (const l of ((inner.modelTopology as Json).config as Json).layers as Json[]) {
    if (l.class_name !== 'InputLayer') (l.config as Json).batch_input_shape = [7, 99];
  }
  await matches('batch_input_shape repeated on inner layers', await variant(inner, w), model);
  // Weights listed in reverse order (the bytes follow the manifest).
  const reversed = structuredClone(json);
  const specs = manifestOf(json)[0]!.weights;
  const offsets = specs.map((_, i) => specs.slice(0, i).reduce((a, x) => a + bytesOf(x), 0));
  manifestOf(reversed)[0]!.weights = [...specs].reverse();
  const reorderedBytes = Buffer.concat([...specs.keys()].reverse().map((i) => weights.subarray(offsets[i]!, offsets[i]! + bytesOf(specs[i]!))));
  await matches('weights in another order', await variant(reversed, { 'weights.bin': reorderedBytes }), model);
  // Shards: tensorflowjs_converter's group1-shard1of3 names (no .bin), cut at arbitrary bytes.
  const sharded = structuredClone(json);
  const cut = [0, 37, 301, weights.length];
  manifestOf(sharded)[0]!.paths = ['group1-shard1of3', 'group1-shard2of3', 'group1-shard3of3'];
  await matches(
    'three shards without .bin',
    await variant(sharded, Object.fromEntries([0, 1, 2].map((i) => [`group1-shard${i + 1}of3`, weights.subarray(cut[i]!, cut[i + 1]!)]))),
    model,
  );
  // Two groups, each with its own shard files in a subfolder.
  const grouped = structuredClone(json);
  const split = 3;
  const groupBytes = offsets[split]!;
  manifestOf(grouped).splice(
    0,
    1,
    { paths: ['shards/group1-shard1of1.bin'], weights: specs.slice(0, split) },
    { paths: ['shards/group2-shard1of2.bin', 'shards/group2-shard2of2.bin'], weights: specs.slice(split) },
  );
  await matches(
    'two groups, shards with .bin in a subfolder',
    await variant(grouped, {
      'shards/group1-shard1of1.bin': weights.subarray(0, groupBytes),
      'shards/group2-shard1of2.bin': weights.subarray(groupBytes, groupBytes + 10),
      'shards/group2-shard2of2.bin': weights.subarray(groupBytes + 10),
    }),
    model,
  );
});

test('models: nested Sequential inside a Model inside a Sequential, several inputs and outputs, int32 inputs, a fixed batch size', async () => {
  const innermost = tf.sequential({
    name: 'innermost',
    layers: [tf.layers.dense({ inputShape: [6], units: 5, activation: 'tanh' }), tf.layers.dense({ units: 4 })],
  });
  const x = tf.input({ shape: [6] });
  const mid = tf.model({ name: 'mid', inputs: x, outputs: tf.layers.reLU({}).apply(innermost.apply(x)) as tf.SymbolicTensor });
  const outer = tf.sequential({ name: 'outer', layers: [tf.layers.dense({ inputShape: [3], units: 6 }), mid, tf.layers.dense({ units: 2 })] });
  randomise(outer, 3);
  const { dir } = await saved(outer);
  const feeds = [tf.tensor(new Prng(1).normals(12), [4, 3])];
  await matches('Sequential > Model > Sequential', join(dir, 'model.json'), outer, feeds);
  const { dir: baseDir, model } = await saved();
  const result = await convertLayersModel(join(baseDir, 'model.json'));
  assert.deepEqual(
    result.inputs.map((i) => [i.name, i.dtype, i.shape]),
    [
      ['image', 'float32', ['batch', 6, 6, 2]],
      ['label', 'int32', ['batch', 1]],
    ],
  );
  assert.deepEqual(
    result.outputs.map((o) => [o.name, o.shape]),
    [
      ['head', ['batch', 3]],
      ['aux', ['batch', 2]],
    ],
  );
  await matches('two inputs (one int32), two outputs', join(baseDir, 'model.json'), model);
  const fixed = tf.sequential({ layers: [tf.layers.dense({ batchInputShape: [4, 3], units: 2 })] });
  randomise(fixed, 8);
  const f = await saved(fixed);
  const fixedResult = await convertLayersModel(join(f.dir, 'model.json'));
  assert.deepEqual(fixedResult.inputs[0]!.shape, [4, 3], 'a fixed batch stays fixed');
  await matches('fixed batch size 4', join(f.dir, 'model.json'), fixed, feeds);
});

/** uint8/uint16 quantization as tensorflowjs_converter writes it: q = round((v - min) / scale). */
function quantize(values: Float32Array, dtype: 'uint8' | 'uint16'): { bytes: Uint8Array; scale: number; min: number; dequantized: Float32Array } {
  const levels = dtype === 'uint8' ? 255 : 65535;
  let min = Math.min(...values);
  const max = Math.max(...values);
  if (min > 0) min = 0;
  const scale = (max - min) / levels || 1;
  const q = dtype === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
  const dequantized = new Float32Array(values.length);
  values.forEach((v, i) => {
    q[i] = Math.round((v - min) / scale);
    dequantized[i] = q[i]! * scale + min;
  });
  return { bytes: new Uint8Array(q.buffer), scale, min, dequantized };
}

test('quantized weights (uint8, uint16, float16 in the manifest) are dequantized exactly as tfjs-core does', async () => {
  const { json, weights, model } = await saved();
  const specs = manifestOf(json)[0]!.weights;
  let offset = 0;
  const values = specs.map((spec) => {
    const v = new Float32Array(weights.buffer.slice(weights.byteOffset + offset, weights.byteOffset + offset + bytesOf(spec)));
    offset += bytesOf(spec);
    return v;
  });
  for (const dtype of ['uint8', 'uint16', 'float16'] as const) {
    const q = structuredClone(json);
    const parts: Uint8Array[] = [];
    const dequantized: Float32Array[] = [];
    manifestOf(q)[0]!.weights.forEach((spec, i) => {
      const v = values[i]!;
      if (dtype === 'float16') {
        const bits = Uint16Array.from(v, float16Bits);
        parts.push(new Uint8Array(bits.buffer));
        spec.quantization = { dtype: 'float16', original_dtype: 'float32' };
        dequantized.push(tf.tensor(v).dataSync() as Float32Array);
      } else {
        const r = quantize(v, dtype);
        parts.push(r.bytes);
        spec.quantization = { dtype, scale: r.scale, min: r.min, original_dtype: 'float32' };
        dequantized.push(r.dequantized);
      }
    });
    const path = await variant(q, { 'weights.bin': Buffer.concat(parts) });
    // tfjs' own loading of the quantized files is the reference.
    const tfjsModel = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: (q as { modelTopology: object }).modelTopology,
        weightSpecs: manifestOf(q)[0]!.weights as tf.io.WeightsManifestEntry[],
        weightData: new Uint8Array(Buffer.concat(parts)).buffer,
      }),
    );
    await matches(`${dtype}-quantized weights`, path, tfjsModel);
    // And the ONNX weights are the dequantized values (the Dense 'aux' kernel goes through untouched).
    const result = await convertLayersModel(path);
    const proto = fromBinary(ModelProtoSchema, result.onnx);
    const kernel = proto.graph!.initializer.find((i) => i.name === 'aux/kernel')!;
    const stored = new Float32Array(kernel.rawData.buffer.slice(kernel.rawData.byteOffset, kernel.rawData.byteOffset + kernel.rawData.byteLength));
    const auxIndex = specs.findIndex((sp) => sp.name === 'aux/kernel');
    const expected = dtype === 'float16' ? (tfjsModel.getLayer('aux').getWeights()[0]!.dataSync() as Float32Array) : dequantized[auxIndex]!;
    assert.deepEqual(Array.from(stored), Array.from(expected), `${dtype}: aux kernel dequantized`);
    if (dtype === 'float16')
      assert.ok(
        Array.from(stored).some((v, i) => v !== values[auxIndex]![i]),
        'float16 rounding changed some values',
      );
    tfjsModel.dispose();
  }
  model.dispose();
});

test('Keras exports: GRU with reset_after (Keras default), ReLU with threshold and negative slope, RandomFlip and other augmentation layers, dtype policies', async () => {
  // A Keras-written Sequential: snake_case keys, Keras class names and options tfjs-layers lacks.
  const units = 3;
  const features = 2;
  const prng = new Prng(12);
  const kernel = prng.normals(features * 3 * units).map((v) => 0.5 * v);
  const recurrent = prng.normals(units * 3 * units).map((v) => 0.5 * v);
  const bias = prng.normals(2 * 3 * units).map((v) => 0.3 * v);
  const dense = prng.normals(units * 2).map((v) => 0.5 * v);
  const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
  const topology = {
    class_name: 'Sequential',
    config: {
      name: 'keras_seq',
      layers: [
        { class_name: 'InputLayer', config: { batch_shape: [null, null, features], dtype: 'float32', name: 'input' } },
        { class_name: 'RandomFlip', config: { name: 'flip', mode: 'horizontal', seed: null, dtype: policy } },
        {
          class_name: 'GRU',
          config: {
            name: 'gru',
            units,
            activation: 'tanh',
            recurrent_activation: 'sigmoid',
            use_bias: true,
            reset_after: true,
            return_sequences: false,
            kernel_initializer: { module: 'keras.initializers', class_name: 'GlorotUniform', config: { seed: null }, registered_name: null },
            recurrent_initializer: {
              module: 'keras.initializers',
              class_name: 'OrthogonalInitializer',
              config: { gain: 1, seed: null },
              registered_name: null,
            },
            kernel_regularizer: { module: 'keras.regularizers', class_name: 'L2', config: { l2: 0.01 }, registered_name: null },
            dtype: policy,
          },
        },
        { class_name: 'ReLU', config: { name: 'relu', max_value: 0.8, negative_slope: 0.1, threshold: -0.2, dtype: policy } },
        { class_name: 'Dense', config: { name: 'out', units: 2, activation: 'linear', use_bias: false, dtype: policy } },
      ],
    },
  };
  const buffer = new Float32Array([...kernel, ...recurrent, ...bias, ...dense]);
  const path = await variant(
    {
      format: 'layers-model',
      modelTopology: topology,
      weightsManifest: [
        {
          paths: ['weights.bin'],
          weights: [
            // TF 2.2+ names RNN weights layer/cell/weight.
            { name: 'gru/gru_cell/kernel', shape: [features, 3 * units], dtype: 'float32' },
            { name: 'gru/gru_cell/recurrent_kernel', shape: [units, 3 * units], dtype: 'float32' },
            { name: 'gru/gru_cell/bias', shape: [2, 3 * units], dtype: 'float32' },
            { name: 'out/kernel', shape: [units, 2], dtype: 'float32' },
          ],
        },
      ],
    },
    { 'weights.bin': new Uint8Array(buffer.buffer) },
  );
  const result = await convertLayersModel(path, { sampleBatch: 3 });
  assert.deepEqual(
    result.report.map((r) => r.className),
    ['RandomFlip', 'KerasGRU', 'KerasReLU', 'Dense'],
  );
  assert.ok(result.loadNotes.some((n) => /reset_after = true/.test(n)));
  // Keras' formulas, step by step in plain JS, as the reference.
  const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
  const x = result.sample!.inputs.input!;
  const [n, time] = x.shape as [number, number];
  const expected = new Float32Array(n * 2);
  for (let b = 0; b < n; b++) {
    let h = new Float64Array(units);
    for (let t = 0; t < time; t++) {
      const xs = Array.from({ length: features }, (_, f) => x.data[(b * time + t) * features + f]!);
      const mx = (g: number, j: number) => xs.reduce((s, v, f) => s + v * kernel[f * 3 * units + g * units + j]!, bias[g * units + j]!);
      const mh = (g: number, j: number) => h.reduce((s, v, k) => s + v * recurrent[k * 3 * units + g * units + j]!, bias[3 * units + g * units + j]!);
      const next = new Float64Array(units);
      for (let j = 0; j < units; j++) {
        const z = sigmoid(mx(0, j) + mh(0, j));
        const r = sigmoid(mx(1, j) + mh(1, j));
        const cand = Math.tanh(mx(2, j) + r * mh(2, j));
        next[j] = z * h[j]! + (1 - z) * cand;
      }
      h = next;
    }
    const relu = Array.from(h, (v) => Math.min(0.8, v >= -0.2 ? v : 0.1 * (v + 0.2)));
    for (let o = 0; o < 2; o++) expected[b * 2 + o] = relu.reduce((s, v, j) => s + v * dense[j * 2 + o]!, 0);
  }
  const session = await ort.InferenceSession.create(result.onnx);
  const out = await runSession(session, result.sample!.inputs);
  await session.release();
  const d = difference({ out: { dtype: 'float32', shape: [n, 2], data: expected } }, out);
  assert.ok(withinTolerance(d), toleranceMessage('Keras GRU(reset_after) + ReLU(threshold, slope) vs a plain-JS Keras reference', d));
  assert.ok(withinTolerance(difference(result.sample!.outputs, out)), 'and tfjs (with the Keras classes) agrees');
});

/** A saved base model whose manifest is changed by `mutate` (files in the folder are the real weights). */
async function hostile(mutate: (json: Json, dir: string) => Promise<void> | void): Promise<string> {
  const { dir, json } = await saved();
  await mutate(json, dir);
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
  return join(dir, 'model.json');
}
const setPaths = (paths: string[]) => (json: Json) => {
  manifestOf(json)[0]!.paths = paths;
};

test('hostile weight paths are refused before any byte is read: outside the folder, absolute, URLs, symlinks out, not regular files', {
  timeout: 20000,
}, async () => {
  // A FIFO outside the folder: opening it to read would block forever, so a quick error proves nothing read it.
  const outside = await tempDir('outside');
  const fifo = join(outside, 'trap.bin');
  execFileSync('mkfifo', [fifo]);
  const cases: [string, (json: Json, dir: string) => Promise<void> | void, RegExp][] = [
    [
      '../ path to a FIFO',
      setPaths([`../${outside.split('/').pop()}/trap.bin`]),
      /Expected a relative path inside the model's folder \(this one has a '\.\.' segment\) for weightsManifest\[0\]\.paths\[0\] in .*model\.json but received '\.\.\//,
    ],
    [
      'absolute path',
      setPaths([fifo]),
      /Expected a relative path inside the model's folder \(this one has an absolute path\) for weightsManifest\[0\]\.paths\[0\]/,
    ],
    ['URL', setPaths(['https://example.com/weights.bin']), /\(this one has a URL or drive prefix\)/],
    ['encoded ..', setPaths(['%2e%2e/weights.bin']), /\(this one has a '\.\.' segment\)/],
    ['empty path', setPaths(['']), /\(this one has an empty path\)/],
    ['.. inside a longer path', setPaths(['sub/../../x.bin']), /'\.\.' segment/],
    [
      'symlink to a FIFO outside',
      async (json, dir) => {
        await symlink(fifo, join(dir, 'link.bin'));
        setPaths(['link.bin'])(json);
      },
      /Expected a file inside the model's folder .* for weightsManifest\[0\]\.paths\[0\] in .*model\.json but received 'link\.bin \(resolves to .*trap\.bin\)'/,
    ],
    [
      'a FIFO inside',
      async (json, dir) => {
        execFileSync('mkfifo', [join(dir, 'pipe.bin')]);
        setPaths(['pipe.bin'])(json);
      },
      /pipe\.bin: listed in .*model\.json as a weight file but it is not a regular file/,
    ],
    [
      'a folder',
      async (json, dir) => {
        await mkdir(join(dir, 'folder.bin'));
        setPaths(['folder.bin'])(json);
      },
      /folder\.bin: listed in .*model\.json as a weight file but it is not a regular file/,
    ],
    [
      'the second of two paths outside (the first is never read)',
      async (json, dir) => {
        await writeFile(join(dir, 'part.bin'), new Uint8Array(8));
        setPaths(['part.bin', '../../etc/passwd'])(json);
      },
      /weightsManifest\[0\]\.paths\[1\]/,
    ],
  ];
  for (const [label, mutate, message] of cases) {
    const path = await hostile(mutate);
    const started = performance.now();
    await assert.rejects(convertLayersModel(path), message, label);
    assert.ok(performance.now() - started < 5000, `${label}: refused at once`);
  }
});

test('hostile sizes, manifests and topologies get errors naming the file and the reason; the parameter ceiling is checked before anything is allocated', async () => {
  const cases: [string, (json: Json, dir: string) => Promise<void> | void, RegExp][] = [
    [
      'short weights',
      async (_j, dir) => truncate(join(dir, 'weights.bin'), 100),
      /model\.json: weight files \.\/weights\.bin hold 100 bytes but the manifest describes \d+/,
    ],
    ['long weights', async (_j, dir) => writeFile(join(dir, 'weights.bin'), new Uint8Array(5000)), /hold 5000 bytes but the manifest describes/],
    ['missing file', setPaths(['./gone.bin']), /gone\.bin: cannot read weight file listed in .*model\.json \(ENOENT\)/],
    [
      'unknown dtype',
      (j) => {
        manifestOf(j)[0]!.weights[0]!.dtype = 'float64';
      },
      /weight 'conv\/kernel' has unknown dtype 'float64' \(expected float32, int32, bool\)/,
    ],
    [
      'bad shape',
      (j) => {
        manifestOf(j)[0]!.weights[0]!.shape = [3, -1];
      },
      /weight 'conv\/kernel' has an invalid shape \[3,-1\]/,
    ],
    [
      'unknown quantization',
      (j) => {
        manifestOf(j)[0]!.weights[0]!.quantization = { dtype: 'int4' };
      },
      /Expected uint8, uint16, float16 for the quantization dtype of weight 'conv\/kernel' in .*model\.json but received 'int4'/,
    ],
    [
      'uint8 without scale',
      (j) => {
        manifestOf(j)[0]!.weights[0]!.quantization = { dtype: 'uint8', min: 0 };
      },
      /weight 'conv\/kernel' is quantized to uint8 but lacks a finite scale and min/,
    ],
    [
      'weightsManifest not a list',
      (j) => {
        j.weightsManifest = { paths: [] };
      },
      /model\.json: weightsManifest is not an array/,
    ],
    [
      'graph model',
      (j) => {
        j.format = 'graph-model';
      },
      /format 'graph-model' is not a layers model \(expected 'layers-model'\)/,
    ],
    [
      'no topology',
      (j) => {
        delete j.modelTopology;
      },
      /no modelTopology: not a tfjs layers model\.json/,
    ],
    [
      'a manifest declaring 10^11 parameters',
      (j) => {
        manifestOf(j)[0]!.weights[0]!.shape = [100000, 1000000];
      },
      /model\.json: its weights manifest declares 100000000\d+ parameters, more than the ceiling of 250000000/,
    ],
    [
      'a topology declaring a [200000, 200000] kernel (manifest small)',
      (j) => {
        const layers = ((j.modelTopology as Json).config as Json).layers as Json[];
        const aux = layers.find((l) => l.name === 'aux')!;
        (aux.config as Json).units = 200000;
        const emb = layers.find((l) => l.name === 'emb')!;
        (emb.config as Json).output_dim = 200000;
      },
      /the topology declares more than 250000000 parameters \(layer 'aux' adds weight 'kernel' of shape \[200000,200000\]\)/,
    ],
    [
      'an unknown layer class',
      (j) => {
        (((j.modelTopology as Json).config as Json).layers as Json[])[1]!.class_name = 'Lambda';
      },
      /model\.json: Unknown layer: Lambda/,
    ],
  ];
  for (const [label, mutate, message] of cases) {
    const before = tf.memory().numBytes;
    await assert.rejects(convertLayersModel(await hostile(mutate)), message, label);
    assert.ok(tf.memory().numBytes - before < 1e6, `${label}: nothing large allocated (${tf.memory().numBytes - before} bytes)`);
  }
  const dir = await tempDir('big-json');
  await writeFile(join(dir, 'model.json'), '{}');
  await truncate(join(dir, 'model.json'), 65 * 1024 * 1024);
  await assert.rejects(convertLayersModel(join(dir, 'model.json')), /model\.json: 68157440 bytes, more than a layers model\.json can need \(67108864\)/);
  await writeFile(join(dir, 'broken.json'), '{"modelTopology": ');
  await assert.rejects(convertLayersModel(join(dir, 'broken.json')), /broken\.json: invalid JSON/);
  await assert.rejects(convertLayersModel(join(dir, 'none.json')), /none\.json: cannot read \(ENOENT\)/);
  const { dir: small } = await saved();
  await assert.rejects(convertLayersModel(join(small, 'model.json'), { maxParameters: 100 }), /declares \d+ parameters, more than the ceiling of 100/);
  // In-memory artifacts get the same checks.
  await assert.rejects(
    convertLayersModel({ modelTopology: {}, weightSpecs: [], weightData: new ArrayBuffer(4) }),
    /model artifacts: the weight data holds 4 bytes but the weight specs describe 0/,
  );
});

test('what cannot be converted is refused naming the layer, its class and why', async () => {
  const refusals: [string, tf.LayersModel, RegExp][] = [
    [
      'stateful LSTM',
      tf.sequential({ layers: [tf.layers.lstm({ batchInputShape: [2, 3, 4], units: 2, stateful: true })] }),
      /Layer 'lstm_LSTM\d+' \(class LSTM\) cannot be converted: stateful: true carries state from one predict\(\) call to the next/,
    ],
    [
      'channels-first SeparableConv2D with a bias',
      tf.sequential({ layers: [tf.layers.separableConv2d({ inputShape: [2, 5, 5], filters: 2, kernelSize: 3, dataFormat: 'channelsFirst' })] }),
      /\(class SeparableConv2D\) cannot be converted: a channels-first SeparableConv2D with a bias: tfjs-layers adds the bias along the height axis/,
    ],
    [
      'CategoryEncoding tfIdf',
      tf.sequential({ layers: [tf.layers.categoryEncoding({ inputShape: [3], numTokens: 4, outputMode: 'tfIdf' })] }),
      /\(class CategoryEncoding\): outputMode "tfIdf" is not supported \(expected 'oneHot', 'multiHot', 'count' or 'int' \(tfIdf needs weights passed to each call\)\)/,
    ],
    (() => {
      const x = tf.input({ shape: [4, 3] });
      const m = tf.layers.masking({}).apply(x) as tf.SymbolicTensor;
      const sum = tf.layers.add().apply([m, m]) as tf.SymbolicTensor;
      return [
        'a mask through Add into an LSTM',
        tf.model({ inputs: x, outputs: tf.layers.lstm({ units: 2 }).apply(sum) as tf.SymbolicTensor }),
        /\(class LSTM\): mask "from its input" is not supported \(expected a mask tfjs can pass on \(a mask through Add/,
      ] as [string, tf.LayersModel, RegExp];
    })(),
    (() => {
      const x = tf.input({ shape: [3, 2] });
      const enc = tf.layers.lstm({ units: 2 }).apply(tf.layers.masking({}).apply(x)) as tf.SymbolicTensor;
      const dec = tf.layers.lstm({ units: 2, returnSequences: true }).apply(tf.layers.repeatVector({ n: 3 }).apply(enc)) as tf.SymbolicTensor;
      return [
        'an LSTM that tfjs hands a stale mask',
        tf.model({ inputs: x, outputs: dec }),
        /\(class LSTM\) cannot be converted: its input carries no mask, but the model makes masks and tfjs-layers' predict\(\) passes the last mask it met to every later layer/,
      ] as [string, tf.LayersModel, RegExp];
    })(),
  ];
  for (const [label, model, message] of refusals) {
    const { dir } = await saved(model);
    await assert.rejects(convertLayersModel(join(dir, 'model.json')), message, label);
  }
  // tfjs drops a Conv1D's data format when saving, so this one only exists in memory (or in a Keras export).
  const conv1d = tf.sequential({ layers: [tf.layers.conv1d({ inputShape: [3, 8], filters: 2, kernelSize: 3, dataFormat: 'channelsFirst' })] });
  assert.throws(
    () => convertModelToOnnx(conv1d),
    /\(class Conv1D\) cannot be converted: a channels-first Conv1D: tfjs-layers transposes its input to channels-last and never back/,
  );
});

test('the version written as producer_version is the package version', async () => {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  assert.deepEqual(PRODUCER, { name: pkg.name, version: pkg.version });
});

test('loadLayersModelFile (used by training and tests) gets the same checked reading', async () => {
  const path = await hostile(setPaths(['../x.bin']));
  await assert.rejects(loadLayersModelFile(path), /'\.\.' segment/);
});
