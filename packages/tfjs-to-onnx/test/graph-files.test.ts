import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { convertCommand, parseConvertArgs } from '../src/command.ts';
import { compareOutputs } from '../src/compare.ts';
import { convertFile } from '../src/convert-file.ts';
import { convertGraphModel, parseInputShapes, parseSampleValues } from '../src/graph/convert-graph.ts';
import { float16Bits } from '../src/graph-builder.ts';
import { modelKindOf } from '../src/model-io.ts';
import { runOnnxGraph } from '../src/onnxruntime.ts';
import { tempDir } from './helpers/convert.ts';
import { assertSame, attr, feedsFor, GraphBuilder, runOrt, runTfjs } from './helpers/graph.ts';

// How graph models are read: told apart from layers models by content, every weight group and shard,
// quantized and string weights, older layouts, signatures, --input-shape; and hostile files, refused
// with an error naming the file or node before anything is written.

before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});

type Json = Record<string, unknown> & {
  modelTopology: { node: Record<string, unknown>[] };
  weightsManifest: { paths: string[]; weights: Record<string, unknown>[] }[];
};

/** A small model: conv (fused), a dense head on a flattened batch, a softmax. */
function small(): GraphBuilder {
  const b = new GraphBuilder();
  const x = b.input('image', [-1, 6, 6, 2]);
  const c = b.op('_FusedConv2D', [x, b.random([3, 3, 2, 4], 1), b.random([4], 2)], {
    strides: attr.ints([1, 2, 2, 1]),
    padding: attr.s('SAME'),
    dilations: attr.ints([1, 1, 1, 1]),
    fused_ops: attr.strs(['BiasAdd', 'Relu']),
    num_args: attr.i(1),
  });
  const flat = b.op('Reshape', [c, b.const([-1, 36], [2], 'int32')]);
  const logits = b.op('_FusedMatMul', [flat, b.random([36, 3], 3), b.random([3], 4)], { fused_ops: attr.strs(['BiasAdd']), num_args: attr.i(1) });
  b.output('probs', b.op('Softmax', [logits], {}, 'probs'));
  return b;
}

/** Converts a model.json and compares with tfjs on the same file. */
async function matches(label: string, path: string, sizes: Record<string, number[]> = { image: [2, 6, 6, 2] }): Promise<void> {
  const c = await convertGraphModel(path, {});
  const feeds = feedsFor(c, sizes);
  assertSame(
    'files',
    label,
    await runTfjs(
      path,
      feeds,
      c.outputs.map((o) => o.name),
    ),
    await runOrt(c.onnx, feeds),
  );
}

/** Writes a model.json (and files) into a fresh folder. */
async function write(json: unknown, files: Record<string, Uint8Array>): Promise<string> {
  const dir = await tempDir('graph-files');
  for (const [name, bytes] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), bytes);
  }
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
  return join(dir, 'model.json');
}

test('graph and layers models are told apart by content; convertFile converts a graph model file', async () => {
  const { json } = small().json();
  assert.equal(modelKindOf(json as never), 'graph-model');
  assert.equal(modelKindOf({ ...(json as object), format: undefined } as never), 'graph-model');
  assert.equal(modelKindOf({ modelTopology: { class_name: 'Sequential', config: {} }, format: 'graph-model' }), 'layers-model');
  assert.equal(modelKindOf({ modelTopology: { model_config: {} } }), 'layers-model');
  const path = await small().save();
  const out = join(path, '..', 'out.onnx');
  const result = await convertFile(path, out, { opset: 13 });
  assert.equal(result.kind, 'graph-model');
  const proto = fromBinary(ModelProtoSchema, await readFile(out));
  assert.deepEqual(
    proto.graph!.input.map((i) => i.name),
    ['image'],
  );
  assert.deepEqual(
    proto.graph!.output.map((o) => o.name),
    ['probs'],
  );
  assert.deepEqual(result.inputs, [{ name: 'image', dtype: 'float32', shape: ['batch', 6, 6, 2] }]);
  assert.deepEqual(result.outputs, [{ name: 'probs', dtype: 'float32', shape: ['batch', 3] }]);
  await matches('small model', path);
  // The same model from artifacts in memory gives the same bytes; its weight data is checked the same way.
  const mem = small().json();
  const j = mem.json as Json & { signature: object };
  const bytes = mem.bytes;
  const artifacts = {
    modelTopology: j.modelTopology,
    weightSpecs: j.weightsManifest[0]!.weights as never,
    weightData: bytes.buffer as ArrayBuffer,
    format: 'graph-model',
    signature: j.signature,
  };
  assert.deepEqual((await convertGraphModel(artifacts, { opset: 13 })).onnx, result.onnx);
  await assert.rejects(
    convertGraphModel({ ...artifacts, weightData: bytes.buffer.slice(4) as ArrayBuffer }),
    /model artifacts: the weight data holds \d+ bytes but the weight specs describe \d+/,
  );
});

test('older layouts: no format key, dtype enums as numbers, strings as byte lists, sizes as numbers, no signature (placeholders and unread nodes)', async () => {
  const { json, bytes } = small().json();
  const j = json as Json;
  delete j.format;
  delete j.signature;
  for (const node of j.modelTopology.node) {
    const a = node.attr as Record<string, Record<string, unknown>>;
    for (const v of Object.values(a ?? {})) {
      if (typeof v.type === 'string') v.type = { DT_FLOAT: 1, DT_INT32: 3 }[v.type] ?? v.type;
      if (typeof v.s === 'string') v.s = [...Buffer.from(v.s, 'base64')];
      if (v.list && (v.list as { s?: string[] }).s) (v.list as { s: unknown[] }).s = (v.list as { s: string[] }).s.map((s) => [...Buffer.from(s, 'base64')]);
      if (v.shape && (v.shape as { dim?: { size: string }[] }).dim) for (const d of (v.shape as { dim: { size: unknown }[] }).dim) d.size = Number(d.size);
    }
  }
  const path = await write(j, { 'group1-shard1of1.bin': bytes });
  const c = await convertGraphModel(path, {});
  // Without a signature tfjs' inputs are the placeholders and its outputs the nodes nothing reads.
  assert.deepEqual(
    c.inputs.map((i) => i.name),
    ['image'],
  );
  assert.deepEqual(
    c.outputs.map((o) => o.name),
    ['probs'],
  );
  await matches('older layout', path);
});

test('every weight group and shard (in subfolders), quantized uint8/uint16 (int32 rounded as tfjs does), float16 and string weights', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', [-1, 4]);
  // uint8 with scale and min, a float weight.
  const q8 = [0, 17, 255, 128, 3, 90, 200, 1];
  b.quantized('w_uint8', [4, 2], 'float32', Uint8Array.from(q8), { dtype: 'uint8', scale: 0.01, min: -1.2 });
  // uint16 quantized int32 ids, rounded by tfjs.
  const q16 = Uint16Array.from([0, 3, 7, 10]);
  b.quantized('ids_uint16', [4], 'int32', new Uint8Array(q16.buffer), { dtype: 'uint16', scale: 0.35, min: -0.6 });
  // float16.
  const h = Uint16Array.from([0.5, -1.25].map(float16Bits));
  b.quantized('bias_f16', [2], 'float32', new Uint8Array(h.buffer), { dtype: 'float16' });
  const y = b.op('AddV2', [b.op('MatMul', [x, 'w_uint8']), 'bias_f16']);
  b.output('y', y);
  b.output('ids', b.op('Mul', [b.op('Cast', [x], { DstT: attr.type('DT_INT32') }), 'ids_uint16']), 'DT_INT32');
  const { json, bytes } = b.json();
  const j = json as Json;
  // A string weight first (its length words decide where the next weights start), then shards of two groups.
  const strings = ['ab', '', 'héllo'].map((s) => Buffer.from(s, 'utf8'));
  const stringBytes = Buffer.concat(strings.flatMap((s) => [Buffer.from(Uint32Array.from([s.length]).buffer), s]));
  j.modelTopology.node.push({ name: 'vocab', op: 'Const', attr: { dtype: attr.type('DT_STRING') } });
  const specs = j.weightsManifest[0]!.weights;
  const group1 = Buffer.concat([stringBytes, Buffer.from(bytes.subarray(0, 8))]);
  const group2 = Buffer.from(bytes.subarray(8));
  j.weightsManifest = [
    { paths: ['shards/group1-shard1of2.bin', 'shards/group1-shard2of2.bin'], weights: [{ name: 'vocab', shape: [3], dtype: 'string' }, specs[0]!] },
    { paths: ['group2-shard1of1'], weights: specs.slice(1) },
  ];
  const path = await write(j, {
    'shards/group1-shard1of2.bin': group1.subarray(0, 5),
    'shards/group1-shard2of2.bin': group1.subarray(5),
    'group2-shard1of1': group2,
  });
  await matches('groups, shards, quantized and string weights', path, { x: [3, 4] });
});

test('--sample-value fills an input of the check with one value (a resize ratio, a zero state), names checked', async () => {
  const b = new GraphBuilder();
  const x = b.input('image', [1, 8, 8, 3]);
  const ratio = b.input('ratio', []);
  // A resize by a ratio read from an input: random normals would ask tfjs for negative sizes.
  const size = b.op('Cast', [b.op('Mul', [b.const([8, 8], [2]), ratio])], { DstT: attr.type('DT_INT32') });
  b.output('resized', b.op('ResizeBilinear', [x, size], { align_corners: attr.b(false), half_pixel_centers: attr.b(true) }));
  const path = await b.save();
  const c = await convertGraphModel(path, { sampleBatch: 1, sampleValues: parseSampleValues('ratio=0.5') });
  assert.deepEqual(Array.from(c.sample!.inputs.ratio!.data), [0.5]);
  assert.deepEqual(c.sample!.outputs.resized!.shape, [1, 4, 4, 3]);
  const rows = compareOutputs(c.sample!.outputs, await runOnnxGraph(c.onnx, c.sample!.inputs));
  assert.ok(
    rows.every((r) => r.ok),
    JSON.stringify(rows),
  );
  await assert.rejects(
    convertGraphModel(path, { sampleBatch: 1, sampleValues: { scale: 1 } }),
    /Expected one of the model's inputs \(image, ratio\) for --sample-value but received 'scale'/,
  );
  assert.throws(() => parseSampleValues('ratio=half'), /Expected name=number \(several separated by ;\) for --sample-value but received 'ratio=half'/);
  assert.deepEqual(parseSampleValues('a=0.5; b=-2'), { a: 0.5, b: -2 });
});

test('--input-shape fixes unknown sizes (names checked, known sizes kept), userDefinedMetadata.signature wins, PlaceholderWithDefault runs its default', async () => {
  const b = new GraphBuilder();
  const x = b.input('pixels', [-1, -1, -1, 3], 'DT_FLOAT', 'serving_default_pixels');
  const scale = b.op('PlaceholderWithDefault', [b.const([2], [])], { dtype: attr.type('DT_FLOAT'), shape: attr.shape([]) }, 'scale');
  b.output('mean', b.op('Mul', [b.op('Mean', [x, b.const([1, 2], [2], 'int32')], { keep_dims: attr.b(false) }), scale]));
  const path = await b.save();
  const free = await convertGraphModel(path, {});
  assert.deepEqual(free.inputs[0]!.shape, ['batch', 'pixels_dim1', 'pixels_dim2', 3]);
  const fixed = await convertGraphModel(path, { inputShapes: parseInputShapes('pixels=1,8,-1,3') });
  assert.deepEqual(fixed.inputs[0]!.shape, [1, 8, 'pixels_dim2', 3]);
  // The placeholder's node name works too.
  const byNode = await convertGraphModel(path, { inputShapes: { serving_default_pixels: [2, 4, 4, 3] } });
  assert.deepEqual(byNode.inputs[0]!.shape, [2, 4, 4, 3]);
  await matches('placeholder with default', path, { pixels: [2, 3, 5, 3] });
  await assert.rejects(
    convertGraphModel(path, { inputShapes: { image: [1, 2, 2, 3] } }),
    /Expected one of the model's inputs \(pixels\) for --input-shape but received 'image'/,
  );
  await assert.rejects(convertGraphModel(path, { inputShapes: { pixels: [1, 2, 3] } }), /Expected 4 sizes .* for --input-shape pixels but received '1,2,3'/);
  await assert.rejects(convertGraphModel(path, { inputShapes: { pixels: [1, 2, 2, 4] } }), /Expected size 3 for axis 3 .* for --input-shape pixels/);
  assert.throws(() => parseInputShapes('pixels=1,x'), /Expected name=d1,d2,\.\.\. .* for --input-shape but received 'pixels=1,x'/);
  assert.deepEqual(parseInputShapes('a=1,2; b=3'), { a: [1, 2], b: [3] });
  // The user metadata's signature is the one tfjs reads.
  const { json, bytes } = b.json();
  (json as Json).userDefinedMetadata = {
    signature: { inputs: (json as { signature: { inputs: unknown } }).signature.inputs, outputs: { renamed: { name: 'mean_2:0' } } },
  };
  const meta = await convertGraphModel(await write(json, { 'group1-shard1of1.bin': bytes }), {});
  assert.deepEqual(
    meta.outputs.map((o) => o.name),
    ['renamed'],
  );
});

test('hostile files: paths outside the folder, shard sizes that disagree, a cycle, unknown and refused ops: errors naming them, nothing written', async () => {
  const base = small().json();
  const variant = async (mutate: (j: Json, files: Record<string, Uint8Array>) => void): Promise<string> => {
    const j = JSON.parse(JSON.stringify(base.json)) as Json;
    const files: Record<string, Uint8Array> = { 'group1-shard1of1.bin': base.bytes };
    mutate(j, files);
    return write(j, files);
  };
  const cases: [string, (j: Json, files: Record<string, Uint8Array>) => void, RegExp][] = [
    [
      'a path outside the folder',
      (j) => {
        j.weightsManifest[0]!.paths = ['../outside.bin'];
      },
      /Expected a relative path inside the model's folder \(this one has a '\.\.' segment\) for weightsManifest\[0\]\.paths\[0\] in .*model\.json but received '\.\.\/outside\.bin'/,
    ],
    [
      'an absolute path',
      (j) => {
        j.weightsManifest[0]!.paths = ['/etc/passwd'];
      },
      /this one has an absolute path/,
    ],
    [
      'a short shard',
      (_j, files) => {
        files['group1-shard1of1.bin'] = base.bytes.subarray(0, 100);
      },
      /model\.json: weight files group1-shard1of1\.bin hold 100 bytes but the manifest describes \d+/,
    ],
    [
      'a long shard',
      (_j, files) => {
        files['group1-shard1of1.bin'] = new Uint8Array(base.bytes.length + 4);
      },
      /hold \d+ bytes but the manifest describes \d+/,
    ],
    [
      'string lengths running past the shard',
      (j, files) => {
        j.weightsManifest[0]!.weights.unshift({ name: 'vocab', shape: [1], dtype: 'string' });
        files['group1-shard1of1.bin'] = Buffer.concat([Buffer.from(Uint32Array.from([1000]).buffer), Buffer.from(base.bytes)]);
      },
      /the manifest's weights \(with their string lengths\) describe more/,
    ],
    [
      'a cycle',
      (j) => {
        const reshape = j.modelTopology.node.find((n) => n.op === 'Reshape')!;
        const input = reshape.input as string[];
        const add = { name: 'loop_add', op: 'AddV2', input: [input[0], 'loop_mul'] };
        const mul = { name: 'loop_mul', op: 'Mul', input: ['loop_add', 'loop_add'] };
        j.modelTopology.node.push(add, mul);
        input[0] = 'loop_add';
      },
      /the graph has a cycle: (loop_add -> loop_mul -> loop_add|loop_mul -> loop_add -> loop_mul)/,
    ],
    [
      'an unknown op',
      (j) => {
        j.modelTopology.node.find((n) => n.op === 'Softmax')!.op = 'Sparsemax';
      },
      /cannot be converted to ONNX: op Sparsemax \(node 'probs'\): not an op tfjs-converter 4\.22 runs/,
    ],
    [
      'refused ops, all named at once',
      (j) => {
        j.modelTopology.node.find((n) => n.op === 'Softmax')!.op = 'RandomUniform';
        j.modelTopology.node.find((n) => n.op === 'Reshape')!.op = 'Switch';
      },
      /op RandomUniform \(node 'probs'\): random values: .*; op Switch \(node 'reshape_\d+'\): TF1 control flow/,
    ],
    [
      'a Const without a weight',
      (j) => {
        j.weightsManifest[0]!.weights = j.weightsManifest[0]!.weights.slice(0, -1);
        j.weightsManifest[0]!.weights.at(-1)!.name = 'renamed';
      },
      /hold \d+ bytes but the manifest describes \d+|op Const \(node/,
    ],
    [
      'a node reading a missing node',
      (j) => {
        (j.modelTopology.node.find((n) => n.op === 'Softmax')!.input as string[])[0] = 'nowhere';
      },
      /node 'probs' \(op Softmax\) reads 'nowhere', which is not a node of the graph/,
    ],
  ];
  for (const [label, mutate, message] of cases) {
    const path = await variant(mutate);
    const out = join(path, '..', 'out.onnx');
    await assert.rejects(convertFile(path, out), message, label);
    await assert.rejects(access(out), `${label}: nothing written`);
  }
});

test('the convert command converts a graph model, checks it against tfjs executeAsync output by output, takes --input-shape', async () => {
  const path = await small().save();
  const out = join(path, '..', 'cli.onnx');
  const lines: string[] = [];
  const args = parseConvertArgs([path, out, '--input-shape', 'image=3,6,6,2', '--report', '--fp16']);
  assert.ok(!args.help);
  await convertCommand.run(args, [], (l) => lines.push(l));
  const text = lines.join('\n');
  assert.match(
    text,
    /^wrote .*cli\.onnx \(\d+ bytes, opset 17, \d+ parameters; graph model; inputs image \[3,6,6,2\] float32; outputs probs \[3,3\] float32\)$/m,
  );
  assert.match(text, /^checked against tfjs executeAsync on random inputs \(image \[3,6,6,2\]\): every output within the tolerance$/m);
  assert.match(text, /^ {2}output probs \[3,3\] float32: worst \|difference\| \d\.\de-\d+$/m);
  assert.match(text, /^--fp16: \d+ bytes instead of \d+; fp16 vs fp32 worst \|difference\| /m);
  assert.match(text, /^_FusedConv2D +1 +Conv, Relu/m);
  await access(out);
});

test('the tfjs-to-onnx executable converts a graph model, and a refusal is one line without a stack', async () => {
  const cli = (args: readonly string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'src', 'cli.ts'), ...args], {
      encoding: 'utf8',
      cwd: join(import.meta.dirname, '..'),
    });
  const path = await small().save();
  const ok = cli([path, join(path, '..', 'exe.onnx'), '--samples', '2', '--input-shape', 'image=-1,6,6,2']);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /graph model; inputs image \[batch,6,6,2\] float32; outputs probs \[batch,3\] float32\)/);
  assert.match(ok.stdout, /^checked against tfjs executeAsync on random inputs \(image \[2,6,6,2\]\): every output within the tolerance$/m);
  assert.doesNotMatch(ok.stdout + ok.stderr, /did not contain any nodes with control flow/);
  const bad = cli([path, join(path, '..', 'bad.onnx'), '--input-shape', 'pixels=1,2']);
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, "error: Expected one of the model's inputs (image) for --input-shape but received 'pixels'\n");
  const { json, bytes } = small().json();
  (json as Json).modelTopology.node.find((n) => n.op === 'Softmax')!.op = 'StringSplit';
  const refused = cli([await write(json, { 'group1-shard1of1.bin': bytes }), join(path, '..', 'refused.onnx')]);
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    /^error: .*model\.json: cannot be converted to ONNX: op StringSplit \(node 'probs'\): string processing has no ONNX counterpart\n$/,
  );
  await assert.rejects(access(join(path, '..', 'refused.onnx')));
});

test("tensorflowjs_converter's own output (tfjs-converter's test models): a Keras model with structured outputs converts; a hash-table model is refused by name", async () => {
  const dir = join(createRequire(import.meta.url).resolve('@tensorflow/tfjs-converter/package.json'), '..', 'dist', 'executor', 'test_data');
  const { STRUCTURED_OUTPUTS_MODEL } = (await import(join(dir, 'structured_outputs_model_loader.js'))) as { STRUCTURED_OUTPUTS_MODEL: tf.io.ModelArtifacts };
  const c = await convertGraphModel(STRUCTURED_OUTPUTS_MODEL, { sampleBatch: 3 });
  // The signature's keys are its tensor names; tfjs' predict() would name the outputs a, b, c.
  assert.deepEqual(
    c.inputs.map((i) => i.name),
    ['input1:0', 'input3:0', 'input2:0'],
  );
  assert.deepEqual(
    c.outputs.map((o) => o.name),
    ['Identity_1:0', 'Identity:0', 'Identity_2:0'],
  );
  assert.ok(c.loadNotes.some((n) => /predict\(\) names the outputs a, b, c/.test(n)));
  assert.ok(compareOutputs(c.sample!.outputs, await runOnnxGraph(c.onnx, c.sample!.inputs)).every((r) => r.ok));
  const { HASH_TABLE_MODEL_V2 } = (await import(join(dir, 'hash_table_v2_model_loader.js'))) as { HASH_TABLE_MODEL_V2: tf.io.ModelArtifacts };
  await assert.rejects(
    convertGraphModel(HASH_TABLE_MODEL_V2),
    /input 'unknown:0' is a resource \(a hash table the model initializer fills\): hash tables have no ONNX counterpart/,
  );
});
