import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { type ConvertGraphModelOptions, convertGraphModel, type GraphModelConversion } from '../../src/graph/convert-graph.ts';
import { Prng } from '../../src/prng.ts';
import type { GraphTensorData, GraphTensors } from '../../src/tensor-data.ts';
import { tempDir } from './convert.ts';

// tfjs graph models written by hand in the JSON encodings tensorflowjs_converter uses, converted, run in
// onnxruntime-node and compared with tfjs' own executeAsync on the same files.

type Attr = Record<string, unknown>;

const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');

/** Attribute values as tensorflowjs_converter writes them (protobuf JSON). */
export const attr = {
  /** A string, base64 as current converters write it. */
  s: (v: string): Attr => ({ s: b64(v) }),
  /** A string as a list of byte values, as older converters wrote it. */
  sBytes: (v: string): Attr => ({ s: [...Buffer.from(v, 'latin1')] }),
  /** An int64, as a string. */
  i: (n: number): Attr => ({ i: String(n) }),
  f: (x: number): Attr => ({ f: x }),
  b: (v: boolean): Attr => ({ b: v }),
  /** A dtype, as its enum name ('DT_FLOAT') or number (1). */
  type: (t: string | number): Attr => ({ type: t }),
  /** A shape: sizes as strings, -1 unknown. */
  shape: (dims: number[] | null): Attr => ({ shape: dims === null ? { unknownRank: true } : { dim: dims.map((d) => ({ size: String(d) })) } }),
  ints: (l: number[]): Attr => ({ list: { i: l.map(String) } }),
  floats: (l: number[]): Attr => ({ list: { f: l } }),
  strs: (l: string[]): Attr => ({ list: { s: l.map(b64) } }),
};

type WeightDtype = 'float32' | 'int32' | 'bool';

interface Weight {
  name: string;
  shape: number[];
  dtype: WeightDtype | 'string';
  bytes: Uint8Array;
  quantization?: Record<string, unknown>;
}

const DT: Record<WeightDtype, string> = { float32: 'DT_FLOAT', int32: 'DT_INT32', bool: 'DT_BOOL' };

type NodeJson = { name: string; op: string; input?: string[]; attr?: Record<string, Attr> };

/** A library function under construction (TF2 control flow bodies): its own nodes, the model's weights. */
export class FunctionScope {
  readonly nodes: NodeJson[] = [];
  private n = 0;
  constructor(
    private readonly model: GraphBuilder,
    readonly prefix: string,
  ) {}

  /** A node of the function; returns `name:output:0` as TF writes references inside functions. */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}, name = `${op.toLowerCase()}_${this.n++}`): string {
    this.nodes.push({ name, op, input: inputs, attr: attrs });
    return `${name}:output:0`;
  }

  /** Output k of a node of the function, by its output argument name (`topk:indices:0`). */
  static out(ref: string, arg: string, k = 0): string {
    return `${ref.split(':')[0]}:${arg}:${k}`;
  }

  /** A Const of the function, its values in the model's weights manifest (named by the node, as tfjs looks them up). */
  const(values: ArrayLike<number>, shape: number[], dtype: WeightDtype = 'float32'): string {
    const name = `${this.prefix}/const_${this.n++}`;
    this.model.weight(name, values, shape, dtype);
    this.nodes.push({
      name,
      op: 'Const',
      attr: { value: { tensor: { dtype: DT[dtype], tensorShape: attr.shape(shape).shape } }, dtype: attr.type(DT[dtype]) },
    });
    return `${name}:output:0`;
  }
}

/** A graph model under construction: nodes, weights (as a manifest and its bytes) and a signature. */
export class GraphBuilder {
  readonly nodes: NodeJson[] = [];
  readonly functions: Record<string, unknown>[] = [];
  readonly weights: Weight[] = [];
  readonly inputs: Record<string, { name: string; dtype: string; tensorShape: unknown }> = {};
  readonly outputs: Record<string, { name: string; dtype: string }> = {};
  private n = 0;

  /** A model input (a Placeholder listed in the signature under `key`). */
  input(key: string, shape: number[] | null, dtype: string | number = 'DT_FLOAT', node = key): string {
    this.nodes.push({ name: node, op: 'Placeholder', attr: { dtype: attr.type(dtype), shape: attr.shape(shape) } });
    this.inputs[key] = { name: `${node}:0`, dtype: String(dtype), tensorShape: attr.shape(shape).shape };
    return node;
  }

  /** A weight in the manifest (no node). */
  weight(name: string, values: ArrayLike<number>, shape: number[], dtype: WeightDtype): void {
    const data = dtype === 'float32' ? Float32Array.from(values) : dtype === 'int32' ? Int32Array.from(values) : Uint8Array.from(values, (v) => (v ? 1 : 0));
    this.weights.push({ name, shape, dtype, bytes: new Uint8Array(data.buffer) });
  }

  /**
   * A library function: `args` as [name, dtype] (DT_VARIANT for TensorLists), `build` returns the
   * returned tensors by output name, in order.
   */
  fn(name: string, args: [string, string][], build: (f: FunctionScope) => [string, string, string][]): string {
    const f = new FunctionScope(this, name);
    const outs = build(f);
    this.functions.push({
      signature: { name, inputArg: args.map(([n, type]) => ({ name: n, type })), outputArg: outs.map(([n, , type]) => ({ name: n, type })) },
      nodeDef: f.nodes,
      ret: Object.fromEntries(outs.map(([n, tensor]) => [n, tensor])),
    });
    return name;
  }

  /** A Const node with its values in the weights manifest. */
  const(values: ArrayLike<number>, shape: number[], dtype: WeightDtype = 'float32', name = `const_${this.n++}`): string {
    this.weight(name, values, shape, dtype);
    this.nodes.push({
      name,
      op: 'Const',
      attr: { value: { tensor: { dtype: DT[dtype], tensorShape: attr.shape(shape).shape } }, dtype: attr.type(DT[dtype]) },
    });
    return name;
  }

  /** A weight stored with a quantization block (the bytes are what the file holds). */
  quantized(name: string, shape: number[], dtype: 'float32' | 'int32', bytes: Uint8Array, quantization: Record<string, unknown>): string {
    this.weights.push({ name, shape, dtype, bytes, quantization });
    this.nodes.push({ name, op: 'Const', attr: { dtype: attr.type(DT[dtype]) } });
    return name;
  }

  /** Seeded normal weights. */
  random(shape: number[], seed: number, scale = 0.5, name?: string): string {
    const p = new Prng(seed);
    return this.const(
      p.normals(shape.reduce((a, b) => a * b, 1)).map((v) => v * scale),
      shape,
      'float32',
      name,
    );
  }

  /** A node; returns its name (its first output). */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}, name = `${op.toLowerCase()}_${this.n++}`): string {
    this.nodes.push({ name, op, input: inputs, attr: attrs });
    return name;
  }

  /** A signature output. */
  output(key: string, tensor: string, dtype = 'DT_FLOAT'): this {
    this.outputs[key] = { name: tensor.includes(':') ? tensor : `${tensor}:0`, dtype };
    return this;
  }

  /** model.json's content and its weight bytes. */
  json(): { json: Record<string, unknown>; bytes: Uint8Array } {
    const total = this.weights.reduce((s, w) => s + w.bytes.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const w of this.weights) {
      bytes.set(w.bytes, at);
      at += w.bytes.length;
    }
    const json = {
      format: 'graph-model',
      generatedBy: '2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      modelTopology: { node: this.nodes, library: this.functions.length ? { function: this.functions } : {}, versions: { producer: 1482 } },
      weightsManifest: [
        {
          paths: ['group1-shard1of1.bin'],
          weights: this.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype, ...(w.quantization ? { quantization: w.quantization } : {}) })),
        },
      ],
      signature: { inputs: this.inputs, outputs: this.outputs },
    };
    return { json, bytes };
  }

  /** Writes model.json and its one weight file into a fresh folder; returns model.json's path. */
  async save(prefix = 'graph'): Promise<string> {
    const dir = await tempDir(prefix);
    const { json, bytes } = this.json();
    await writeFile(join(dir, 'group1-shard1of1.bin'), bytes);
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    return join(dir, 'model.json');
  }
}

/** Seeded inputs for a conversion's inputs: normals, or ints in [0, max). */
export function feedsFor(conversion: GraphModelConversion, sizes: Record<string, number[]>, seed = 3, intMax = 10): GraphTensors {
  const p = new Prng(seed);
  const out: GraphTensors = {};
  for (const spec of conversion.inputs) {
    const shape = sizes[spec.name] ?? spec.shape.map((d) => (typeof d === 'number' ? d : 2));
    const n = shape.reduce((a, b) => a * b, 1);
    out[spec.name] =
      spec.dtype === 'float32'
        ? { dtype: 'float32', shape, data: p.normals(n) }
        : spec.dtype === 'bool'
          ? { dtype: 'bool', shape, data: Uint8Array.from({ length: n }, () => p.nextInt(2)) }
          : { dtype: 'int32', shape, data: Int32Array.from({ length: n }, () => p.nextInt(intMax)) };
  }
  return out;
}

/** tfjs executeAsync on the model file (its own loader), outputs by name. */
export async function runTfjs(modelJson: string, feeds: GraphTensors, outputs: string[]): Promise<GraphTensors> {
  const { readFile } = await import('node:fs/promises');
  const json = JSON.parse(await readFile(modelJson, 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
    signature?: object;
    userDefinedMetadata?: Record<string, object>;
  };
  // Every shard of every group, in manifest order, as tfjs' http and file loaders concatenate them.
  const parts = await Promise.all(json.weightsManifest.flatMap((g) => g.paths).map((p) => readFile(join(modelJson, '..', p))));
  const bytes = Buffer.concat(parts);
  const model = await tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      format: 'graph-model',
      ...(json.signature ? { signature: json.signature } : {}),
      ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
    }),
  );
  const tensors = Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, tf.tensor(t.data, [...t.shape], t.dtype)]));
  try {
    const out = await model.executeAsync(tensors, outputs);
    const list = Array.isArray(out) ? out : [out];
    const result: GraphTensors = {};
    list.forEach((t, i) => {
      const shape = [...t.shape];
      result[outputs[i]!] =
        t.dtype === 'bool'
          ? { dtype: 'bool', shape, data: Uint8Array.from(t.dataSync() as Uint8Array) }
          : t.dtype === 'int32'
            ? { dtype: 'int32', shape, data: Int32Array.from(t.dataSync() as Int32Array) }
            : { dtype: 'float32', shape, data: Float32Array.from(t.dataSync() as Float32Array) };
    });
    tf.dispose(list);
    return result;
  } finally {
    tf.dispose(Object.values(tensors));
    model.dispose();
  }
}

/** onnxruntime-node on the converted bytes. */
export async function runOrt(onnx: Uint8Array, feeds: GraphTensors): Promise<GraphTensors> {
  const session = await ort.InferenceSession.create(onnx, { executionProviders: ['cpu'] });
  try {
    const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, new ort.Tensor(t.dtype, t.data, [...t.shape])])));
    return Object.fromEntries(
      session.outputNames.map((n) => {
        const t = out[n]!;
        const dtype = t.type === 'int32' ? 'int32' : t.type === 'bool' ? 'bool' : 'float32';
        return [n, { dtype, shape: t.dims.map(Number), data: t.data as GraphTensorData['data'] }];
      }),
    );
  } finally {
    await session.release();
  }
}

/** The tolerance of the graph-model tests: 1e-5 relative (absolute below 1); integer and bool outputs exact. */
export const GRAPH_TOLERANCE = 1e-5;

/** Worst relative differences seen per group (printed by the test files; the README quotes them). */
export const graphWorst = new Map<string, { rel: number; name: string }>();

/** Asserts ORT's outputs equal tfjs': same names, dtypes and shapes, floats within 1e-5 relative, ints exact. */
export function assertSame(group: string, label: string, reference: GraphTensors, actual: GraphTensors): number {
  let worst = 0;
  for (const [name, ref] of Object.entries(reference)) {
    const got = actual[name];
    assert.ok(got, `${label}: output ${name} missing (got ${Object.keys(actual).join(', ')})`);
    assert.deepEqual([...got.shape], [...ref.shape], `${label}: shape of ${name}`);
    assert.equal(got.dtype, ref.dtype, `${label}: dtype of ${name}`);
    for (let i = 0; i < ref.data.length; i++) {
      const r: number = Number(ref.data[i]);
      const a: number = Number(got.data[i]);
      if (ref.dtype !== 'float32') {
        assert.equal(a, r, `${label}: ${name}[${i}] is ${a}, tfjs ${r} (integer outputs must be exact)`);
        continue;
      }
      if (Number.isNaN(r) && Number.isNaN(a)) continue;
      if (r === a) continue;
      const rel = Math.abs(a - r) / Math.max(1, Math.abs(r));
      worst = Math.max(worst, rel);
      assert.ok(rel <= GRAPH_TOLERANCE, `${label}: ${name}[${i}] is ${a}, tfjs ${r} (difference ${Math.abs(a - r).toExponential(2)})`);
    }
  }
  const w = graphWorst.get(group);
  if (!w || worst > w.rel) graphWorst.set(group, { rel: worst, name: label });
  return worst;
}

/** Prints the worst difference of every group (the README's figures). */
export function printGraphWorst(): void {
  for (const [group, w] of graphWorst) console.log(`# worst tfjs vs onnxruntime, ${group}: ${w.rel.toExponential(2)} (relative, absolute below 1; ${w.name})`);
}

/** Saves, converts (at each opset), runs both and compares; returns the conversions. */
export async function checkGraph(
  group: string,
  label: string,
  builder: GraphBuilder,
  sizes: Record<string, number[]> = {},
  {
    opsets = [13, 26],
    options = {},
    intMax = 10,
    inspect,
  }: { opsets?: number[]; options?: ConvertGraphModelOptions; intMax?: number; inspect?: (tfjs: GraphTensors) => void } = {},
): Promise<GraphModelConversion[]> {
  const path = await builder.save();
  const results: GraphModelConversion[] = [];
  for (const opset of opsets) {
    const conversion = await convertGraphModel(path, { ...options, opset });
    results.push(conversion);
    const feeds = feedsFor(conversion, sizes, 3, intMax);
    const reference = await runTfjs(
      path,
      feeds,
      conversion.outputs.map((o) => o.name),
    );
    const actual = await runOrt(conversion.onnx, feeds);
    assertSame(group, `${label} (opset ${opset})`, reference, actual);
    inspect?.(reference);
  }
  return results;
}
