import { type GraphBuilder, type Initializer, ints, type OnnxNode } from './graph-builder.ts';
import { CHANNEL_AFFINE } from './layers/normalization.ts';

/** Every tensor name a node reads, including what its Scan body reads from the outer scope. */
function reads(n: OnnxNode): string[] {
  const names = n.inputs.filter((i) => i !== '');
  for (const v of Object.values(n.attrs)) {
    if (typeof v === 'object' && 'graph' in v) for (const inner of v.graph.nodes) names.push(...reads(inner));
  }
  return names;
}

/** Renames a tensor in every node input (bodies too) and in the output list. */
function renameUses(g: GraphBuilder, from: string, to: string, outputs: string[]): void {
  const visit = (nodes: OnnxNode[]): void => {
    for (const n of nodes) {
      n.inputs = n.inputs.map((i) => (i === from ? to : i));
      for (const v of Object.values(n.attrs)) if (typeof v === 'object' && 'graph' in v) visit(v.graph.nodes);
    }
  };
  visit(g.nodes);
  outputs.forEach((o, i) => {
    if (o === from) outputs[i] = to;
  });
}

function useCounts(g: GraphBuilder, outputs: string[]): Map<string, number> {
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const i of reads(n)) uses.set(i, (uses.get(i) ?? 0) + 1);
  for (const o of outputs) uses.set(o, (uses.get(o) ?? 0) + 1);
  return uses;
}

function producers(g: GraphBuilder): Map<string, OnnxNode> {
  const map = new Map<string, OnnxNode>();
  for (const n of g.nodes) for (const o of n.outputs) map.set(o, n);
  return map;
}

const floatInit = (g: GraphBuilder, name: string | undefined): Initializer | undefined => {
  const init = name ? g.initializers.get(name) : undefined;
  return init && init.data instanceof Float32Array ? init : undefined;
};

/** A new initializer: a weight scaled along `axis` by s (the original may have other readers). */
function scaledAlong(g: GraphBuilder, init: Initializer, axis: number, s: Float64Array): string {
  const data = init.data as Float32Array;
  const dims = init.dims;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = dims[axis]!;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! * s[Math.floor(i / inner) % n]!;
  return g.floats(`${init.name}_folded`, out, dims);
}

/** Where a producer's output channels sit in its weight, for the ops a batch norm folds into. */
const CHANNEL_AXIS: Record<string, number> = { Conv: 0, ConvTranspose: 1, Gemm: 1, MatMul: 1 };

/**
 * Folds BatchNormalization (and channel affines on the last axis) into the Conv, ConvTranspose, Gemm
 * or MatMul(+Add) that feeds it, when that is exact: the producer's output feeds only the norm and
 * nothing (no activation) sits between; the folded weights are new initializers, so a weight another
 * node also reads is left as it was. Returns layer -> layer it was folded into.
 */
function foldNorms(g: GraphBuilder, outputs: string[]): Map<string, string> {
  const folded = new Map<string, string>();
  let changed = true;
  while (changed) {
    changed = false;
    const uses = useCounts(g, outputs);
    const made = producers(g);
    for (const norm of g.nodes) {
      const isBn = norm.op === 'BatchNormalization';
      if (!isBn && norm.op !== CHANNEL_AFFINE) continue;
      let scale: Float64Array;
      let shift: Float64Array;
      if (isBn) {
        const [gamma, beta, mean, variance] = norm.inputs.slice(1).map((n) => floatInit(g, n));
        if (!gamma || !beta || !mean || !variance) continue;
        const eps = Number(norm.attrs.epsilon ?? 1e-5);
        scale = Float64Array.from(gamma.data as Float32Array, (v, i) => v / Math.sqrt((variance.data as Float32Array)[i]! + eps));
        shift = Float64Array.from(beta.data as Float32Array, (v, i) => v - (mean.data as Float32Array)[i]! * scale[i]!);
      } else {
        const [s, t] = norm.inputs.slice(1).map((n) => floatInit(g, n));
        // Only a last-axis affine ([C]) lines up with a MatMul's output channels.
        if (!s || !t || s.dims.length !== 1) continue;
        scale = Float64Array.from(s.data as Float32Array);
        shift = Float64Array.from(t.data as Float32Array);
      }
      const x = norm.inputs[0]!;
      let p = made.get(x);
      if (!p || uses.get(x) !== 1) continue;
      // A Dense on rank > 2 is MatMul then Add(bias): fold into both.
      let biasAdd: OnnxNode | undefined;
      if (!isBn && p.op === 'Add') {
        const m = made.get(p.inputs[0]!);
        if (m?.op !== 'MatMul' || uses.get(p.inputs[0]!) !== 1) continue;
        biasAdd = p;
        p = m;
      }
      if (isBn ? !['Conv', 'ConvTranspose', 'Gemm'].includes(p.op) : p.op !== 'MatMul') continue;
      if (p.op === 'Gemm' && (p.attrs.transA || p.attrs.transB || p.attrs.alpha !== undefined || p.attrs.beta !== undefined)) continue;
      if (p.op === 'ConvTranspose' && Number((p.attrs.group as { int: number } | undefined)?.int ?? 1) !== 1) continue;
      const w = floatInit(g, p.inputs[1]);
      const biasName = biasAdd ? biasAdd.inputs[1] : p.inputs[2];
      const b = floatInit(g, biasName);
      if (!w || (biasName && !b)) continue;
      const axis = CHANNEL_AXIS[p.op]!;
      if (w.dims[axis] !== scale.length) continue;
      // New initializers: a weight shared with another node (a shared layer) keeps its old values there.
      p.inputs[1] = scaledAlong(g, w, axis, scale);
      const newBias = Float32Array.from(shift, (t, i) => ((b?.data as Float32Array | undefined)?.[i] ?? 0) * scale[i]! + t);
      const biasInit = g.floats(`${p.layer ?? 'layer'}/folded_bias`, newBias, [newBias.length]);
      const out = norm.outputs[0]!;
      if (biasAdd) {
        biasAdd.inputs[1] = biasInit;
        biasAdd.outputs = [out];
      } else if (p.op === 'MatMul') {
        const bias = biasInit;
        g.nodes.splice(g.nodes.indexOf(p) + 1, 0, {
          op: 'Add',
          inputs: [p.outputs[0]!, bias],
          outputs: [out],
          attrs: {},
          name: g.name('folded_bias_add'),
          layer: p.layer,
        });
      } else {
        p.inputs[2] = biasInit;
        p.outputs = [out];
      }
      g.nodes.splice(g.nodes.indexOf(norm), 1);
      if (norm.layer && p.layer) folded.set(norm.layer, p.layer);
      changed = true;
      break;
    }
  }
  return folded;
}

/** Channel affines left over become Mul + Add. */
function lowerAffines(g: GraphBuilder): void {
  for (let i = 0; i < g.nodes.length; i++) {
    const n = g.nodes[i]!;
    if (n.op !== CHANNEL_AFFINE) continue;
    const scaled = g.name(`${n.name}_scaled`);
    const mul: OnnxNode = { op: 'Mul', inputs: [n.inputs[0]!, n.inputs[1]!], outputs: [scaled], attrs: {}, name: g.name(`${n.name}_mul`), layer: n.layer };
    const add: OnnxNode = { op: 'Add', inputs: [scaled, n.inputs[2]!], outputs: [n.outputs[0]!], attrs: {}, name: g.name(`${n.name}_add`), layer: n.layer };
    g.nodes.splice(i, 1, mul, add);
  }
}

const permOf = (n: OnnxNode): number[] => (n.attrs.perm as { ints: number[] }).ints;

/** Transpose of a Transpose becomes one Transpose, or nothing when they cancel. */
function mergeTransposes(g: GraphBuilder, outputs: string[]): void {
  let changed = true;
  while (changed) {
    changed = false;
    const made = producers(g);
    for (const t2 of g.nodes) {
      if (t2.op !== 'Transpose') continue;
      const t1 = made.get(t2.inputs[0]!);
      if (t1?.op !== 'Transpose') continue;
      const p1 = permOf(t1);
      const combined = permOf(t2).map((i) => p1[i]!);
      if (combined.every((p, i) => p === i)) {
        renameUses(g, t2.outputs[0]!, t1.inputs[0]!, outputs);
        g.nodes.splice(g.nodes.indexOf(t2), 1);
      } else {
        t2.inputs = [t1.inputs[0]!];
        t2.attrs = { ...t2.attrs, perm: ints(combined) };
      }
      changed = true;
      break;
    }
  }
}

/**
 * Transposes of the same tensor by the same permutation (two routes to the same layout) become one.
 * Returns the (possibly renamed) output tensors.
 */
export function mergeDuplicateTransposes(g: GraphBuilder, outputs: readonly string[]): string[] {
  const outs = [...outputs];
  const seen = new Map<string, string>();
  for (const n of [...g.nodes]) {
    if (n.op !== 'Transpose') continue;
    const key = `${n.inputs[0]}|${permOf(n).join(',')}`;
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, n.outputs[0]!);
      continue;
    }
    renameUses(g, n.outputs[0]!, first, outs);
    g.nodes.splice(g.nodes.indexOf(n), 1);
  }
  return outs;
}

/** Identity nodes of the main graph are dropped (their readers read the input). */
function dropIdentities(g: GraphBuilder, outputs: string[]): void {
  for (const n of [...g.nodes]) {
    if (n.op !== 'Identity') continue;
    renameUses(g, n.outputs[0]!, n.inputs[0]!, outputs);
    g.nodes.splice(g.nodes.indexOf(n), 1);
  }
}

/** Removes nodes and initializers nothing reads. */
function dropUnused(g: GraphBuilder, outputs: string[]): void {
  const needed = new Set(outputs);
  const kept: OnnxNode[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.outputs.some((o) => needed.has(o))) {
      kept.push(n);
      for (const r of reads(n)) needed.add(r);
    }
  }
  g.nodes.splice(0, g.nodes.length, ...kept.reverse());
  for (const name of [...g.initializers.keys()]) if (!needed.has(name)) g.initializers.delete(name);
}

/** What {@link optimise} did, for the report. */
export interface OptimiseResult {
  /** Batch-norm layer -> the layer it was folded into. */
  readonly folded: Map<string, string>;
  /** The (possibly renamed) tensors of the model outputs. */
  readonly outputs: string[];
}

/**
 * Optimises the main graph in place: batch norms folded where exact, leftover channel affines as
 * Mul + Add, Transpose pairs merged or cancelled, Identity nodes removed, dead nodes dropped.
 */
export function optimise(g: GraphBuilder, outputs: readonly string[]): OptimiseResult {
  const outs = [...outputs];
  dropUnused(g, outs);
  const folded = foldNorms(g, outs);
  lowerAffines(g);
  dropIdentities(g, outs);
  mergeTransposes(g, outs);
  dropUnused(g, outs);
  return { folded, outputs: outs };
}

/**
 * Gives the model outputs their final names: the producing node's output is renamed, or (only when the
 * tensor is a graph input or already another output) an Identity node copies it.
 */
export function nameOutputs(g: GraphBuilder, tensors: string[], names: string[], graphInputs: ReadonlySet<string>): void {
  const taken = new Set<string>();
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i]!;
    const name = names[i]!;
    const p = producers(g).get(t);
    if (p && !graphInputs.has(t) && !taken.has(t)) {
      p.outputs = p.outputs.map((o) => (o === t ? name : o));
      const rest = tensors.slice(i + 1);
      renameUses(g, t, name, rest);
      tensors.splice(i + 1, rest.length, ...rest);
      taken.add(name);
    } else {
      g.node('Identity', [t], {}, name, [name]);
    }
  }
}
