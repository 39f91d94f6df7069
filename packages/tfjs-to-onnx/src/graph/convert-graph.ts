import * as tf from '@tensorflow/tfjs';
import { expected } from '../expected.ts';
import { checkOpset } from '../convert.ts';
import { DEFAULT_OPSET, type Producer, serialiseModel } from '../graph-builder.ts';
import { checkGraphWeights, type LoadOptions, readGraphModelArtifacts, type WeightEntry } from '../model-io.ts';
import { mergeDuplicateTransposes, nameOutputs, optimise } from '../optimize.ts';
import { Prng } from '../prng.ts';
import type { GraphTensorData, GraphTensors } from '../tensor-data.ts';
import { GraphContext, onnxType, RefusedError } from './context.ts';
import { functionalizeControlFlow } from './functionalize.ts';
import { dtypeName, parseGraphDef, parseShape, type SignatureJson, type TfGraph, tfjsDtype } from './graph-def.ts';
import { executeQuietly, needed, Runner, topologicalOrder } from './runner.ts';
import { type ConstValue, count, type Dim, type Value } from './value.ts';

/** Options for {@link convertGraphModel}. */
export interface ConvertGraphModelOptions extends LoadOptions {
  /** The ONNX opset, 13 to 26. Default 17. */
  readonly opset?: number;
  /** Store float weights as float16 (cast back to float32 when the model loads). */
  readonly fp16?: boolean;
  /** String metadata stored in the model (metadata_props). */
  readonly metadata?: Record<string, string>;
  /** The producer_name and producer_version written into the model. */
  readonly producer?: Producer;
  /**
   * Fixed sizes for inputs with unknown dimensions, by input name (tfjs' input name, or its
   * placeholder's node name): -1 keeps a dimension unknown. Known dimensions must agree.
   */
  readonly inputShapes?: Readonly<Record<string, readonly number[]>>;
  /**
   * Also return seeded random inputs (an unknown first dimension becomes this size, other unknown ones
   * 32) and tfjs' outputs for them (`executeAsync`), to check the ONNX model against. 0: none.
   */
  readonly sampleBatch?: number;
  /** Seed of the sample inputs. Default 1. */
  readonly sampleSeed?: number;
  /**
   * Sample inputs filled with one value instead of random ones, by input name: for inputs whose values
   * the model needs in a range (a resize ratio, a recurrent state that starts at 0).
   */
  readonly sampleValues?: Readonly<Record<string, number>>;
}

/** A graph input or output of the converted model: its dims are sizes or names of unknown sizes. */
export interface GraphIoSpec {
  readonly name: string;
  readonly dtype: 'float32' | 'int32' | 'bool';
  readonly shape: ReadonlyArray<number | string>;
}

/** One row of a graph model's conversion report: a TensorFlow op and what its nodes became. */
export interface GraphOpReport {
  readonly op: string;
  /** How many nodes of the op the outputs need. */
  readonly count: number;
  /** ONNX op types made for them (after optimisation), in graph order. */
  readonly nodes: string[];
  /** Of those nodes, how many were computed when converting (constant inputs). */
  readonly folded: number;
  /** Batch norms folded into the convolution or matrix product before them, and the like. */
  readonly notes: string[];
}

/** Seeded inputs and tfjs' outputs for them. */
export interface GraphSample {
  readonly inputs: GraphTensors;
  readonly outputs: GraphTensors;
}

/** What {@link convertGraphModel} returns. */
export interface GraphModelConversion {
  readonly kind: 'graph-model';
  /** The ONNX model (float16 weights with `fp16`). */
  readonly onnx: Uint8Array;
  /** With `fp16`: the same model with float32 weights, to measure the difference. */
  readonly fp32Onnx?: Uint8Array;
  readonly opset: number;
  readonly inputs: GraphIoSpec[];
  readonly outputs: GraphIoSpec[];
  /** Per TensorFlow op: how many nodes, what they became. */
  readonly report: GraphOpReport[];
  /** Nodes in the ONNX graph by op type. */
  readonly ops: Record<string, number>;
  /** Values in the weights manifest. */
  readonly parameters: number;
  /** What converting noted (ops converted with a caveat, inputs with defaults...). */
  readonly loadNotes: string[];
  readonly sample?: GraphSample;
}

/** A model input or output as tfjs names it: the tensor (node and output) behind the name. */
interface Endpoint {
  readonly name: string;
  readonly node: string;
  readonly index: number;
}

/** The tfjs dtype a graph tensor has for ONNX, or a refusal. */
function ioDtype(where: string, what: string, raw: string | number | undefined): 'float32' | 'int32' | 'bool' {
  const t = raw === undefined ? null : tfjsDtype(raw);
  if (t === 'float32' || t === 'int32' || t === 'bool') return t;
  throw new Error(`${where}: ${what} has dtype ${dtypeName(raw)}, which ${t === 'string' ? 'ONNX cannot take as a string input here' : 'tfjs cannot hold'}`);
}

/** The node name and output index of a tensor name ('x:0', 'x'). */
function tensorRef(name: string): { node: string; index: number } {
  const m = /^(.*):(\d+)$/.exec(name);
  return m ? { node: m[1]!, index: Number(m[2]) } : { node: name, index: 0 };
}

/**
 * The model's inputs and outputs as tfjs' GraphModel sees them: the signature's (by key, in order;
 * entries naming no node are skipped as tfjs skips them), else every Placeholder and every node nothing
 * reads. A PlaceholderWithDefault outside the signature runs its default, as in tfjs.
 */
function modelIo(graph: TfGraph, signature: SignatureJson | undefined, where: string, notes: string[]): { inputs: Endpoint[]; outputs: Endpoint[] } {
  let inputs: Endpoint[] = [];
  const outputs: Endpoint[] = [];
  const sigInputs = Object.entries(signature?.inputs ?? {});
  const sigOutputs = Object.entries(signature?.outputs ?? {});
  if (sigInputs.length) {
    for (const [key, info] of sigInputs) {
      if (info.resourceId !== undefined && info.resourceId !== null) {
        throw new Error(`${where}: input '${key}' is a resource (a hash table the model initializer fills): hash tables have no ONNX counterpart`);
      }
      const ref = tensorRef(info.name ?? key);
      if (graph.nodes.has(ref.node)) inputs.push({ name: key, ...ref });
    }
  } else {
    inputs = [...graph.nodes.values()].filter((n) => n.op === 'Placeholder').map((n) => ({ name: n.name, node: n.name, index: 0 }));
    for (const n of graph.nodes.values())
      if (n.op === 'PlaceholderWithDefault')
        notes.push(`PlaceholderWithDefault '${n.name}' runs its default (tfjs lists it as an input but does not require it)`);
  }
  if (sigOutputs.length) {
    for (const [key, info] of sigOutputs) {
      const ref = tensorRef(info.name ?? key);
      if (graph.nodes.has(ref.node)) outputs.push({ name: key, ...ref });
    }
  } else {
    const read = new Set<string>();
    for (const n of graph.nodes.values()) for (const r of [...n.inputs.map((i) => i.node), ...n.controls]) read.add(r);
    for (const n of graph.nodes.values()) {
      if (read.has(n.name)) continue;
      if (n.op === 'NoOp') {
        notes.push(`NoOp '${n.name}' is not an output (it has no value)`);
        continue;
      }
      outputs.push({ name: n.name, node: n.name, index: 0 });
    }
  }
  if (outputs.length === 0) throw new Error(`${where}: the graph has no outputs`);
  return { inputs, outputs };
}

/** 'a, b and 3 more'. */
function some(names: string[]): string {
  const shown = names.slice(0, 3).map((n) => `'${n}'`);
  return names.length > 3 ? `${shown.join(', ')} and ${names.length - 3} more` : shown.join(', ');
}

/** The weights as constants, decoded by tfjs-core's own decoder (quantization and float16 exactly as tfjs). */
function decodeWeights(artifacts: tf.io.ModelArtifacts, data: Uint8Array): Map<string, ConstValue> {
  const specs = artifacts.weightSpecs ?? [];
  const map = tf.io.decodeWeights(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer, specs);
  const out = new Map<string, ConstValue>();
  for (const [name, t] of Object.entries(map)) {
    if (t.dtype === 'string') {
      const bytes = t.dataSync() as unknown as Uint8Array[];
      out.set(name, { dtype: 'string', shape: [...t.shape], data: bytes.map((b) => Buffer.from(b).toString('latin1')) });
    } else if (t.dtype === 'float32' || t.dtype === 'int32' || t.dtype === 'bool') {
      const data = t.dataSync();
      const shape = [...t.shape];
      const copy =
        t.dtype === 'float32'
          ? Float32Array.from(data as Float32Array)
          : t.dtype === 'int32'
            ? Int32Array.from(data as Int32Array)
            : Uint8Array.from(data as Uint8Array);
      const v: ConstValue = { dtype: t.dtype, shape, data: copy };
      out.set(name, t.dtype === 'int32' && shape.length <= 1 ? { ...v, elems: Array.from(copy) } : v);
    }
    t.dispose();
  }
  return out;
}

/** Parses `--input-shape` text: `name=d1,d2,...`, several separated by ';' (-1 keeps a size unknown). */
export function parseInputShapes(text: string, parameter = '--input-shape'): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  const entries = text
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) throw expected('name=d1,d2,... (sizes, -1 for unknown; several separated by ;)', parameter, text);
  for (const entry of entries) {
    const eq = entry.lastIndexOf('=');
    const name = eq > 0 ? entry.slice(0, eq).trim() : '';
    const sizes = eq > 0 ? entry.slice(eq + 1).trim() : '';
    // 'name=' is a scalar input (no sizes).
    const dims = sizes === '' ? [] : sizes.split(',').map((d) => d.trim());
    if (!name || eq < 0 || dims.some((d) => !/^(-1|0|[1-9]\d*)$/.test(d))) {
      throw expected('name=d1,d2,... (sizes, -1 for unknown; several separated by ;)', parameter, entry);
    }
    out[name] = dims.map(Number);
  }
  return out;
}

/** Parses `--sample-value` text: `name=value`, several separated by ';'. */
export function parseSampleValues(text: string, parameter = '--sample-value'): Record<string, number> {
  const out: Record<string, number> = {};
  const entries = text
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
  const form = 'name=number (several separated by ;)';
  if (entries.length === 0) throw expected(form, parameter, text);
  for (const entry of entries) {
    const eq = entry.lastIndexOf('=');
    const name = eq > 0 ? entry.slice(0, eq).trim() : '';
    const raw = eq > 0 ? entry.slice(eq + 1).trim() : '';
    const value = raw === '' ? Number.NaN : Number(raw);
    if (!name || !Number.isFinite(value)) throw expected(form, parameter, entry);
    out[name] = value;
  }
  return out;
}

/** Seeded values for an input: normals for floats, ids in [0, 10) for ints ([0, 256) for uint8 images), coin flips for bools. */
function sampleInput(prng: Prng, dtype: 'float32' | 'int32' | 'bool', shape: number[], uint8: boolean): GraphTensorData {
  const n = count(shape);
  if (dtype === 'float32') return { dtype, shape, data: prng.normals(n) };
  if (dtype === 'bool') return { dtype, shape, data: Uint8Array.from({ length: n }, () => prng.nextInt(2)) };
  return { dtype, shape, data: Int32Array.from({ length: n }, () => prng.nextInt(uint8 ? 256 : 10)) };
}

/** tfjs' outputs as plain arrays (bools as 0/1 bytes). */
function toGraphTensor(t: tf.Tensor): GraphTensorData {
  const shape = [...t.shape];
  if (t.dtype === 'bool') return { dtype: 'bool', shape, data: Uint8Array.from(t.dataSync() as Uint8Array) };
  if (t.dtype === 'int32') return { dtype: 'int32', shape, data: Int32Array.from(t.dataSync() as Int32Array) };
  return { dtype: 'float32', shape, data: Float32Array.from(t.dataSync() as Float32Array) };
}

/** Runs the model in tfjs (`executeAsync`) on seeded inputs for the ONNX model's inputs. */
async function sampleOf(
  artifacts: tf.io.ModelArtifacts,
  inputs: GraphIoSpec[],
  outputs: GraphIoSpec[],
  uint8: Set<string>,
  batch: number,
  seed: number,
  fills: Readonly<Record<string, number>>,
): Promise<GraphSample> {
  const prng = new Prng(seed);
  const feeds: GraphTensors = {};
  for (const spec of inputs) {
    const shape = spec.shape.map((d, i) => (typeof d === 'number' ? d : i === 0 ? batch : 32));
    const fill = fills[spec.name];
    if (fill === undefined) feeds[spec.name] = sampleInput(prng, spec.dtype, shape, uint8.has(spec.name));
    else {
      const n = count(shape);
      const data = spec.dtype === 'float32' ? new Float32Array(n) : spec.dtype === 'int32' ? new Int32Array(n) : new Uint8Array(n);
      data.fill(spec.dtype === 'bool' ? Number(fill !== 0) : fill);
      feeds[spec.name] = { dtype: spec.dtype, shape, data };
    }
  }
  const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) tensors[name] = tf.tensor(t.data, [...t.shape], t.dtype);
  try {
    const list = await executeQuietly(
      model,
      tensors,
      outputs.map((o) => o.name),
    );
    const result: GraphTensors = {};
    list.forEach((t, i) => {
      result[outputs[i]!.name] = toGraphTensor(t);
    });
    tf.dispose(list);
    return { inputs: feeds, outputs: result };
  } finally {
    tf.dispose(Object.values(tensors));
    model.dispose();
  }
}

/** The report row of the nodes made for the outputs themselves (back to tfjs' layout). */
const OUTPUTS_ROW = '(model outputs)';

/** A dimension as an ONNX dim: a size, a name, or a fresh name for an unknown one. */
const onnxDim = (d: Dim, name: string, i: number): number | string => (typeof d === 'number' ? d : typeof d === 'string' ? d : `${name}_dim${i}`);

/**
 * Converts a tfjs graph model (tensorflowjs_converter's graph-model format: a GraphDef, its weights and
 * signature) to ONNX: from `model.json` (every file checked before a byte of weights is read, as for
 * layers models) or from in-memory artifacts. The ONNX model keeps tfjs' input and output names and
 * layouts (NHWC images), unknown sizes stay symbolic (`inputShapes` fixes them); every op a model
 * needs is converted or refused by name with its reason before anything is built.
 *
 * @example
 * const { onnx, inputs, outputs } = await convertGraphModel('movenet/model.json', { inputShapes: { input: [1, 192, 192, 3] } });
 */
export async function convertGraphModel(source: string | tf.io.ModelArtifacts, options: ConvertGraphModelOptions = {}): Promise<GraphModelConversion> {
  const where = typeof source === 'string' ? source : 'model artifacts';
  const artifacts = typeof source === 'string' ? await readGraphModelArtifacts(source, options) : source;
  const opset = checkOpset(options.opset ?? DEFAULT_OPSET);
  const data = checkGraphWeights(where, artifacts, options);
  const graph = parseGraphDef(artifacts.modelTopology, where);
  const metadata = artifacts.userDefinedMetadata as { signature?: SignatureJson; structuredOutputKeys?: string[] } | undefined;
  const signature = (metadata?.signature ?? artifacts.signature) as SignatureJson | undefined;
  const notes: string[] = [];
  const io = modelIo(graph, signature, where, notes);
  if (artifacts.modelInitializer) notes.push('the model initializer (which fills hash tables) is not converted; ops reading its tables are refused');
  if (metadata?.structuredOutputKeys)
    notes.push(`tfjs' predict() names the outputs ${metadata.structuredOutputKeys.join(', ')}; the ONNX outputs keep the signature's names`);
  const inputNodes = new Set(io.inputs.map((i) => i.node));
  const tf1 = functionalizeControlFlow(
    graph,
    io.outputs.map((o) => o.node),
    inputNodes,
  );
  if (tf1.loops || tf1.conds) {
    const what = [tf1.loops ? `${tf1.loops} while loop${tf1.loops > 1 ? 's' : ''}` : '', tf1.conds ? `${tf1.conds} conditional${tf1.conds > 1 ? 's' : ''}` : '']
      .filter(Boolean)
      .join(' and ');
    notes.push(`TF1 control flow: ${what} restructured into StatelessWhile/StatelessIf (ONNX Loop/If)`);
  }
  const runner = new Runner(graph, new Set(((artifacts.weightSpecs ?? []) as WeightEntry[]).map((w) => w.name)), where);
  const roots = io.outputs.map((o) => o.node);
  const neededSet = needed(graph.nodes, roots, inputNodes);

  // Every op is checked before anything is built (in the functions control flow calls too): all refusals at once, by op.
  const problems = new Map<string, { why: string; nodes: string[] }>();
  if (tf1.refusal) problems.set(tf1.refusal.op, { why: tf1.refusal.why, nodes: [tf1.refusal.node] });
  runner.check(graph.nodes, roots, inputNodes, problems);
  if (problems.size) {
    const lines = [...problems]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([op, p]) => `op ${op} (node${p.nodes.length > 1 ? 's' : ''} ${some(p.nodes)}): ${p.why}`);
    throw new Error(`${where}: cannot be converted to ONNX: ${lines.join('; ')}`);
  }
  const order = topologicalOrder(graph.nodes, roots, inputNodes, where);
  runner.weights = decodeWeights(artifacts, data);

  const ctx = new GraphContext(opset);
  ctx.runner = runner;
  const g = ctx.g;
  const values = new Map<string, Value[]>();
  const uint8 = new Set<string>();
  const inputSpecs: GraphIoSpec[] = [];
  const shapes = options.inputShapes ?? {};
  const usedShapes = new Set<string>();
  for (const inp of io.inputs) {
    const node = graph.nodes.get(inp.node)!;
    const sigInfo = signature?.inputs?.[inp.name];
    const dtypeRaw = node.dtypeRaw('dtype') ?? sigInfo?.dtype;
    const dtype = ioDtype(where, `input '${inp.name}'`, dtypeRaw);
    if (dtypeName(dtypeRaw) === 'DT_UINT8') uint8.add(inp.name);
    let shape: Dim[] | null = node.shape('shape') ?? (sigInfo?.tensorShape ? parseShape(sigInfo.tensorShape) : null);
    const given = shapes[inp.name] ?? shapes[inp.node];
    if (given) {
      usedShapes.add(shapes[inp.name] ? inp.name : inp.node);
      if (shape && shape.length !== given.length) {
        throw expected(
          `${shape.length} sizes (input '${inp.name}' has shape [${shape.map((d) => (d === -1 ? '?' : d))}])`,
          `--input-shape ${inp.name}`,
          given.join(','),
        );
      }
      shape = given.map((d, i) => {
        const have = shape?.[i];
        if (d === -1) return have ?? -1;
        if (typeof have === 'number' && have !== -1 && have !== d) {
          throw expected(
            `size ${have} for axis ${i} (input '${inp.name}' has shape [${shape!.map((x) => (x === -1 ? '?' : x))}])`,
            `--input-shape ${inp.name}`,
            given.join(','),
          );
        }
        return d;
      });
    }
    const dims = shape?.map((d, i) => (typeof d === 'number' && d >= 0 ? d : i === 0 ? 'batch' : `${inp.name}_dim${i}`)) ?? null;
    const name = g.reserve(inp.name);
    g.input({ name, dataType: onnxType(dtype), ...(dims ? { dims } : {}) });
    inputSpecs.push({ name, dtype, shape: dims ?? [] });
    const v: Value = { dtype, shape: dims, name };
    values.set(inp.node, [v]);
  }
  const fills: Record<string, number> = {};
  for (const [key, value] of Object.entries(options.sampleValues ?? {})) {
    const inp = io.inputs.find((i) => i.name === key || i.node === key);
    if (!inp) throw expected(`one of the model's inputs (${io.inputs.map((i) => i.name).join(', ')})`, '--sample-value', key);
    fills[inp.name] = value;
  }
  const unknownShapes = Object.keys(shapes).filter((k) => !usedShapes.has(k));
  if (unknownShapes.length) throw expected(`one of the model's inputs (${io.inputs.map((i) => i.name).join(', ')})`, '--input-shape', unknownShapes.join(', '));
  const reserved = io.outputs.map((o) => g.reserve(o.name));

  // How many outputs of each node are read (a folded node computes those).
  const outputsUsed = new Map<string, number>();
  const use = (node: string, index: number): void => {
    outputsUsed.set(node, Math.max(outputsUsed.get(node) ?? 0, index + 1));
  };
  for (const name of neededSet) if (!inputNodes.has(name)) for (const i of graph.nodes.get(name)!.inputs) use(i.node, i.index);
  for (const o of io.outputs) use(o.node, o.index);

  try {
    await runner.run(ctx, graph.nodes, order, values, outputsUsed, '');
  } catch (err) {
    if (err instanceof RefusedError) throw new Error(`${where}: ${err.message}`);
    throw err;
  }
  ctx.node = undefined;
  g.layer = undefined;

  const outValues = io.outputs.map((o) => {
    const v = values.get(o.node)?.[o.index];
    if (!v) throw new Error(`${where}: output '${o.name}' reads output ${o.index} of '${o.node}', which tfjs does not produce`);
    if (v.dtype === 'string') throw new Error(`${where}: output '${o.name}' is a string tensor, which ONNX cannot produce here`);
    return v;
  });
  // Transposes back to tfjs' layouts are the model outputs' nodes in the report.
  g.layer = OUTPUTS_ROW;
  const tensors = outValues.map((v) => ctx.ref(v));
  g.layer = undefined;
  const { outputs: optimised, folded: norms } = optimise(g, mergeDuplicateTransposes(g, tensors));
  nameOutputs(g, optimised, reserved, new Set(inputSpecs.map((i) => i.name)));
  const outputSpecs: GraphIoSpec[] = outValues.map((v, i) => ({
    name: reserved[i]!,
    dtype: v.dtype as 'float32' | 'int32' | 'bool',
    shape: v.shape ? v.shape.map((d, k) => onnxDim(d, reserved[i]!, k)) : [],
  }));
  outValues.forEach((v, i) => {
    g.output({ name: reserved[i]!, dataType: onnxType(v.dtype), ...(v.shape ? { dims: outputSpecs[i]!.shape } : {}) });
  });
  // Inputs of unknown rank are written without a shape.
  for (const spec of g.inputs) if (spec.dims === undefined) notes.push(`input '${spec.name}' has no known rank`);

  const byOp = new Map<string, { count: number; folded: number }>();
  for (const name of neededSet) {
    if (inputNodes.has(name)) continue;
    const op = graph.nodes.get(name)!.op;
    const row = byOp.get(op) ?? { count: 0, folded: 0 };
    row.count++;
    if (runner.folded.has(name)) row.folded++;
    byOp.set(op, row);
  }
  const made = new Map<string, string[]>();
  for (const n of g.nodes) {
    const op = n.layer === OUTPUTS_ROW ? OUTPUTS_ROW : n.layer ? graph.nodes.get(n.layer)?.op : undefined;
    if (op) made.set(op, [...(made.get(op) ?? []), n.op]);
  }
  if (made.has(OUTPUTS_ROW)) byOp.set(OUTPUTS_ROW, { count: 0, folded: 0 });
  const foldedInto = new Map<string, Map<string, number>>();
  for (const [norm, into] of norms) {
    const op = graph.nodes.get(norm)?.op;
    const target = graph.nodes.get(into)?.op;
    if (!op || !target) continue;
    const m = foldedInto.get(op) ?? new Map<string, number>();
    m.set(target, (m.get(target) ?? 0) + 1);
    foldedInto.set(op, m);
  }
  const report: GraphOpReport[] = [...byOp].map(([op, r]) => ({
    op,
    count: r.count,
    nodes: made.get(op) ?? [],
    folded: r.folded,
    notes: [...(foldedInto.get(op) ?? [])].map(([target, n]) => `${n} folded into ${target}`),
  }));
  const ops: Record<string, number> = {};
  for (const n of g.nodes) ops[n.op] = (ops[n.op] ?? 0) + 1;

  const graphName = (metadata as { name?: string } | undefined)?.name ?? 'tfjs_graph_model';
  const { producer } = options;
  const onnx = serialiseModel(g, { graphName, metadata: options.metadata, fp16: options.fp16, producer });
  const fp32Onnx = options.fp16 ? serialiseModel(g, { graphName, metadata: options.metadata, producer }) : undefined;
  const parameters = ((artifacts.weightSpecs ?? []) as WeightEntry[]).reduce((s, w) => s + count(w.shape), 0);
  const sample = options.sampleBatch
    ? await sampleOf(artifacts, inputSpecs, outputSpecs, uint8, options.sampleBatch, options.sampleSeed ?? 1, fills)
    : undefined;
  return {
    kind: 'graph-model',
    onnx,
    ...(fp32Onnx ? { fp32Onnx } : {}),
    opset,
    inputs: inputSpecs,
    outputs: outputSpecs,
    report,
    ops,
    parameters,
    loadNotes: [...notes, ...ctx.notes],
    ...(sample ? { sample } : {}),
  };
}
