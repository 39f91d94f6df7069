import * as tf from '@tensorflow/tfjs';
import { type GraphContext, RefusedError } from './context.ts';
import { type InputRef, reachable, type TfFunction, type TfGraph, type TfNode } from './graph-def.ts';
import { OP_CONVERTERS } from './ops/index.ts';
import { REFUSED_OPS } from './refused.ts';
import { type ConstValue, count, type Dtype, isConst, numbers, range, type Value } from './value.ts';

/**
 * Runs the converters over nodes in order: the main graph, and the function bodies of TF2 control flow
 * (inlined, or as ONNX If/Loop subgraphs). Nodes whose inputs are all constants are computed with tfjs
 * itself instead, so shape arithmetic and weight transforms fold exactly as tfjs computes them.
 */

/** Ops never computed at conversion time: random, stateful, control flow (and those the driver reads). */
const NO_FOLD = new Set([
  'Const',
  'Placeholder',
  'PlaceholderWithDefault',
  'NoOp',
  'Print',
  'RandomStandardNormal',
  'RandomUniform',
  'RandomUniformInt',
  'TruncatedNormal',
  'Multinomial',
  'If',
  'StatelessIf',
  'While',
  'StatelessWhile',
  'TensorArrayV3',
  'TensorArrayWriteV3',
  'TensorArrayReadV3',
  'TensorArrayGatherV3',
  'TensorArrayScatterV3',
  'TensorArrayConcatV3',
  'TensorArraySplitV3',
  'TensorArraySizeV3',
  'TensorArrayCloseV3',
]);

/** Ops besides the TensorList ones that pass TensorLists along. */
const LIST_READERS = new Set(['Identity', 'IdentityN', 'StopGradient', 'Snapshot', 'If', 'StatelessIf', 'While', 'StatelessWhile']);

/** The most values a constant computed at conversion time may have (16 MiB of float32). */
const FOLD_MAX = 1 << 22;

/** An upper bound of the values a folded op makes, for the ops whose output can dwarf their inputs. */
function foldedSize(op: string, inputs: ConstValue[]): number {
  const vals = (i: number): number[] => (inputs[i] && !Array.isArray(inputs[i]!.data) ? numbers(inputs[i]!) : []);
  const inSize = inputs.reduce((s, v) => s + count(v.shape), 0);
  switch (op) {
    case 'Fill':
    case 'Zeros':
    case 'Ones':
      return count(vals(0));
    case 'BroadcastTo':
      return Math.max(count(vals(1)), inSize);
    case 'Tile':
      return count(inputs[0]?.shape ?? []) * count(vals(1));
    case 'Range': {
      const [start, limit, delta] = [vals(0)[0]!, vals(1)[0]!, vals(2)[0]!];
      return delta ? Math.abs(Math.ceil((limit - start) / delta)) : Number.POSITIVE_INFINITY;
    }
    case 'OneHot':
      return count(inputs[0]?.shape ?? []) * (vals(1)[0] ?? 0);
    case 'ScatterNd':
    case 'SparseToDense':
      return count(vals(op === 'ScatterNd' ? 2 : 1));
    default:
      return inSize;
  }
}

const DT_OF: Record<Dtype, string> = { float32: 'DT_FLOAT', int32: 'DT_INT32', bool: 'DT_BOOL', string: 'DT_STRING' };

/** tfjs' advice when executeAsync meets no dynamic op (it is printed for every such call). */
const SYNC_ADVICE = 'This model execution did not contain any nodes with control flow or dynamic output shapes';

/** Runs tfjs' executeAsync without its advice to use execute() (only that message is dropped). */
export async function executeQuietly(model: tf.GraphModel, feeds: tf.NamedTensorMap, outputs: string[]): Promise<tf.Tensor[]> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!(typeof args[0] === 'string' && args[0].startsWith(SYNC_ADVICE))) warn(...args);
  };
  try {
    const out = await model.executeAsync(feeds, outputs);
    return Array.isArray(out) ? out : [out];
  } finally {
    console.warn = warn;
  }
}

/** Computes a node whose inputs are all constants with tfjs itself (a one-node graph model); null when tfjs cannot. */
async function foldWithTfjs(ctx: GraphContext, node: TfNode, inputs: ConstValue[], outputs: number): Promise<Value[] | null> {
  const topology = {
    node: [
      ...inputs.map((v, i) => ({ name: `fold_in${i}`, op: 'Placeholder', attr: { dtype: { type: DT_OF[v.dtype] } } })),
      { name: 'fold_op', op: node.op, input: inputs.map((_, i) => `fold_in${i}`), attr: node.attr },
    ],
    versions: { producer: 1 },
  };
  const feeds: Record<string, tf.Tensor> = {};
  let model: tf.GraphModel | undefined;
  let results: tf.Tensor[] = [];
  try {
    model = tf.loadGraphModelSync({
      modelTopology: topology,
      weightSpecs: [],
      weightData: new ArrayBuffer(0),
      format: 'graph-model',
    }) as unknown as tf.GraphModel;
    inputs.forEach((v, i) => {
      feeds[`fold_in${i}`] = tf.tensor(v.data as Float32Array, v.shape, v.dtype as 'float32');
    });
    results = await executeQuietly(
      model,
      feeds,
      range(0, outputs).map((i) => `fold_op:${i}`),
    );
    if (results.length !== outputs || results.some((t) => !t || t.dtype === 'complex64' || t.dtype === 'string' || t.size > FOLD_MAX)) return null;
    return results.map((t) => ctx.constant(t.dtype as Dtype, t.dataSync() as Float32Array, [...t.shape]));
  } catch {
    return null;
  } finally {
    tf.dispose(Object.values(feeds));
    tf.dispose(results);
    model?.dispose();
  }
}

/**
 * Where each named output argument of a multi-output op starts among its outputs: function bodies name
 * their inputs `node:output_arg:k` (`TopKV2:indices:0` is output 1).
 */
const OUTPUT_ARGS: Readonly<Record<string, readonly string[]>> = {
  TopKV2: ['values', 'indices'],
  Unique: ['y', 'idx'],
  UniqueV2: ['y', 'idx'],
  ListDiff: ['out', 'idx'],
  NonMaxSuppressionV4: ['selected_indices', 'valid_outputs'],
  NonMaxSuppressionV5: ['selected_indices', 'selected_scores', 'valid_outputs'],
  FusedBatchNorm: ['y', 'batch_mean', 'batch_variance', 'reserve_space_1', 'reserve_space_2'],
  FusedBatchNormV2: ['y', 'batch_mean', 'batch_variance', 'reserve_space_1', 'reserve_space_2'],
  FusedBatchNormV3: ['y', 'batch_mean', 'batch_variance', 'reserve_space_1', 'reserve_space_2', 'reserve_space_3'],
  TensorListPopBack: ['output_handle', 'tensor'],
};

/** The output index an input reference means in a scope (named output arguments inside functions). */
export function outputIndex(ref: InputRef, producer: TfNode | undefined): number {
  if (ref.output === undefined || !producer) return ref.index;
  const args = OUTPUT_ARGS[producer.op];
  const at = args ? args.indexOf(ref.output) : -1;
  return Math.max(at, 0) + ref.index;
}

/** Nodes a set of tensors needs (data inputs only), stopping at the given leaves. */
export function needed(nodes: ReadonlyMap<string, TfNode>, roots: readonly string[], leaves: ReadonlySet<string>): Set<string> {
  return reachable(nodes, roots, leaves);
}

/** The nodes in an order where each comes after its inputs; a cycle is an error naming its nodes. */
export function topologicalOrder(nodes: ReadonlyMap<string, TfNode>, roots: readonly string[], leaves: ReadonlySet<string>, where: string): string[] {
  const order: string[] = [];
  const state = new Map<string, 1 | 2>();
  for (const root of roots) {
    if (state.has(root)) continue;
    const stack: { name: string; next: number }[] = [{ name: root, next: 0 }];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const inputs = leaves.has(top.name) ? [] : (nodes.get(top.name)?.inputs ?? []);
      if (top.next < inputs.length) {
        const child = inputs[top.next++]!.node;
        const s = state.get(child);
        if (s === 1) {
          const from = stack.findIndex((f) => f.name === child);
          const cycle = [...stack.slice(from).map((f) => f.name), child];
          throw new Error(`${where}: the graph has a cycle: ${cycle.reverse().join(' -> ')} (each node reads the next one's output)`);
        }
        if (s === undefined) {
          state.set(child, 1);
          stack.push({ name: child, next: 0 });
        }
      } else {
        state.set(top.name, 2);
        order.push(top.name);
        stack.pop();
      }
    }
  }
  return order;
}

/** The control-flow ops whose attributes name library functions, and those attributes. */
const FUNCTION_ATTRS: Readonly<Record<string, readonly string[]>> = {
  If: ['then_branch', 'else_branch'],
  StatelessIf: ['then_branch', 'else_branch'],
  While: ['cond', 'body'],
  StatelessWhile: ['cond', 'body'],
};

/** What a runner reports back for the report and notes. */
export interface RunStats {
  /** Nodes (main graph and functions) computed with tfjs at conversion time. */
  readonly folded: Set<string>;
}

/**
 * Converts nodes (of the main graph or of a library function) with the op converters, folding
 * constant nodes with tfjs; control-flow converters call back into it for their functions.
 */
export class Runner implements RunStats {
  readonly folded = new Set<string>();
  /** Functions being converted (recursion through the library is refused). */
  private readonly active: string[] = [];

  /** The weights as constants, by Const node name (set once the model passed {@link check}). */
  weights: ReadonlyMap<string, ConstValue> = new Map();

  constructor(
    private readonly graph: TfGraph,
    private readonly weightNames: ReadonlySet<string>,
    private readonly where: string,
  ) {}

  /** Every refusal of the nodes a set of roots needs, in the main graph and in the functions they call. */
  check(
    nodes: ReadonlyMap<string, TfNode>,
    roots: readonly string[],
    leaves: ReadonlySet<string>,
    problems: Map<string, { why: string; nodes: string[] }>,
    seen = new Set<string>(),
  ): void {
    const problem = (key: string, why: string, node: string): void => {
      const p = problems.get(key) ?? { why, nodes: [] };
      if (!p.nodes.includes(node)) p.nodes.push(node);
      problems.set(key, p);
    };
    for (const name of needed(nodes, roots, leaves)) {
      if (leaves.has(name)) continue;
      const node = nodes.get(name);
      if (!node) continue;
      if (node.op === 'Const') {
        if (!this.weightNames.has(name)) problem('Const', 'a Const node without a weight in the weights manifest (tfjs could not run it either)', name);
      } else if (node.op === 'Placeholder') {
        problem('Placeholder', "a Placeholder the outputs need that is not one of the model's inputs (its signature)", name);
      } else if (!OP_CONVERTERS[node.op]) {
        problem(node.op, REFUSED_OPS[node.op] ?? 'not an op tfjs-converter 4.22 runs (tfjs could not run this model either)', name);
      }
      for (const a of FUNCTION_ATTRS[node.op] ?? []) {
        const fname = node.func(a);
        const fn = fname ? this.graph.functions.get(fname) : undefined;
        if (!fn) {
          problem(node.op, `its ${a} function ${fname ? `'${fname}' is not in the graph's function library` : 'is missing'}`, name);
          continue;
        }
        if (seen.has(fn.name)) continue;
        seen.add(fn.name);
        this.check(
          fn.nodes,
          fn.outputs.map((o) => o.tensor.node),
          new Set(fn.inputs.map((i) => i.name)),
          problems,
          seen,
        );
      }
    }
  }

  /** Converts `order` (names in `nodes`) into `values`, each node's outputs in order (`scope` prefixes report names). */
  async run(
    ctx: GraphContext,
    nodes: ReadonlyMap<string, TfNode>,
    order: readonly string[],
    values: Map<string, Value[]>,
    outputsUsed: ReadonlyMap<string, number>,
    scope: string,
  ): Promise<void> {
    const previousNode = ctx.node;
    const previousLayer = ctx.g.layer;
    for (const name of order) {
      if (values.has(name)) continue;
      const node = nodes.get(name)!;
      ctx.node = node;
      ctx.g.layer = `${scope}${name}`;
      try {
        if (node.op === 'Const') {
          values.set(name, [this.weights.get(name)!]);
          continue;
        }
        const inputs = node.inputs.map((ref) => {
          const outs = values.get(ref.node)!;
          const index = outputIndex(ref, nodes.get(ref.node));
          const v = outs[index];
          if (!v)
            throw ctx.refuse(
              `it reads output ${index} of '${ref.node}' (op ${nodes.get(ref.node)?.op ?? 'argument'}), which has ${outs.length} as tfjs runs it`,
            );
          return v;
        });
        if (inputs.some((v) => v.list) && !LIST_READERS.has(node.op) && !node.op.startsWith('TensorList') && !node.op.startsWith('TensorArray')) {
          throw ctx.refuse('it reads a TensorList, which only TensorList ops and control flow take');
        }
        let outs: Value[] | null = null;
        if (inputs.length && !NO_FOLD.has(node.op) && inputs.every(isConst) && inputs.every((v) => v.dtype !== 'string' && !v.list)) {
          const consts = inputs as ConstValue[];
          if (foldedSize(node.op, consts) <= FOLD_MAX) outs = await foldWithTfjs(ctx, node, consts, outputsUsed.get(name) ?? 1);
          if (outs) this.folded.add(`${scope}${name}`);
        }
        outs ??= await OP_CONVERTERS[node.op]!(ctx, node, inputs);
        values.set(name, outs);
      } catch (err) {
        if (err instanceof RefusedError || (err as Error).message.startsWith(`${this.where}: `)) throw err;
        throw new Error(`${this.where}: node '${scope}${node.name}' (op ${node.op}): ${(err as Error).message}`, { cause: err });
      }
    }
    ctx.node = previousNode;
    ctx.g.layer = previousLayer;
  }

  /** For each argument of a function, whether output i is argument i itself (through Identity nodes). */
  passedThrough(name: string): boolean[] {
    const fn = this.graph.functions.get(name);
    if (!fn) return [];
    return fn.inputs.map((arg, i) => {
      let ref = fn.outputs[i]?.tensor;
      for (let hops = 0; ref && hops < 1000; hops++) {
        if (ref.node === arg.name) return true;
        const n = fn.nodes.get(ref.node);
        if (!n || !['Identity', 'Snapshot', 'StopGradient'].includes(n.op) || outputIndex(ref, n) !== 0) return false;
        ref = n.inputs[0];
      }
      return false;
    });
  }

  /** Converts a library function applied to values, in `ctx`'s graph (the main graph inlines it; a subgraph holds it). */
  async call(ctx: GraphContext, name: string, args: Value[]): Promise<Value[]> {
    const fn: TfFunction | undefined = this.graph.functions.get(name);
    if (!fn) throw ctx.refuse(`function '${name}' is not in the graph's function library`);
    if (this.active.includes(name)) throw ctx.refuse(`function '${name}' calls itself (${[...this.active, name].join(' -> ')})`);
    if (args.length !== fn.inputs.length) throw ctx.refuse(`function '${name}' takes ${fn.inputs.length} arguments, given ${args.length}`);
    this.active.push(name);
    try {
      const values = new Map<string, Value[]>();
      fn.inputs.forEach((a, i) => {
        values.set(a.name, [args[i]!]);
      });
      const leaves = new Set(fn.inputs.map((i) => i.name));
      const roots = fn.outputs.map((o) => o.tensor.node);
      const order = topologicalOrder(fn.nodes, roots, leaves, `${this.where}: function '${name}'`);
      const used = new Map<string, number>();
      for (const n of order) {
        for (const ref of fn.nodes.get(n)?.inputs ?? []) {
          const k = outputIndex(ref, fn.nodes.get(ref.node));
          used.set(ref.node, Math.max(used.get(ref.node) ?? 0, k + 1));
        }
      }
      for (const o of fn.outputs) used.set(o.tensor.node, Math.max(used.get(o.tensor.node) ?? 0, outputIndex(o.tensor, fn.nodes.get(o.tensor.node)) + 1));
      await this.run(ctx, fn.nodes, order, values, used, `${name}/`);
      return fn.outputs.map((o) => {
        const v = values.get(o.tensor.node)?.[outputIndex(o.tensor, fn.nodes.get(o.tensor.node))];
        if (!v) throw ctx.refuse(`function '${name}' returns '${o.tensor.text}', which it does not compute`);
        return v;
      });
    } finally {
      this.active.pop();
    }
  }
}
