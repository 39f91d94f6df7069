import type { AttrJson } from './graph-def.ts';
import { type InputRef, reachable, type TfFunction, type TfGraph, TfNode } from './graph-def.ts';

/**
 * TF1 control flow restructured into TF2's functional form, as TensorFlow's own
 * functionalize_control_flow pass does it: each while-loop frame (Enter, Merge, Switch, LoopCond,
 * NextIteration, Exit) becomes a StatelessWhile node calling a new cond and body function, and each
 * Switch/Merge conditional a StatelessIf node calling a new then and else function. The converter then
 * turns them into ONNX Loop and If like any TF2 model's. tensorflowjs_converter keeps TF1 control flow
 * in TF1 graphs, and in TF2 SavedModels whose If/While TensorFlow lowered when freezing them (the
 * `cond/output/_660`, `map/while/enter/_412` nodes of many TF Hub models).
 *
 * Semantics followed (TensorFlow's, which tfjs' executor implements): Switch(data, pred) forwards
 * `data` to output 1 when the first value of `pred` is true, to output 0 otherwise, and nodes reading
 * the other output do not run; Merge forwards whichever input ran. A loop variable enters its frame
 * through Enter, is merged with its NextIteration, and leaves through Exit when LoopCond is false; Enter
 * with is_constant (and any Enter no Merge reads) is a loop invariant.
 */

/** What the rewrite did, for the conversion notes, and what stopped it. */
export interface FunctionalizeStats {
  loops: number;
  conds: number;
  /** A structure TensorFlow does not build: the node, its op and why (reported with the model's other refusals). */
  refusal?: { node: string; op: string; why: string };
}

const TF1_LOOP_OPS = new Set(['Enter', 'Exit', 'NextIteration', 'LoopCond']);

/** `node` or `node:k`, as a reference to that output is written in the main graph. */
const refText = (r: { node: string; index: number }): string => (r.index === 0 ? r.node : `${r.node}:${r.index}`);

function makeNode(name: string, op: string, inputs: string[], attr: Readonly<Record<string, AttrJson>> = {}): TfNode {
  return new TfNode({ name, op, input: inputs, attr: { ...attr } }, 'TF1 control flow');
}

/** A name not yet used by a node of `nodes` nor by a function. */
function fresh(base: string, taken: (name: string) => boolean): string {
  if (!taken(base)) return base;
  for (let i = 1; ; i++) if (!taken(`${base}_${i}`)) return `${base}_${i}`;
}

class Tf1Error extends Error {
  constructor(
    readonly node: string,
    readonly op: string,
    readonly why: string,
  ) {
    super(`TF1 control flow: node '${node}' (op ${op}) ${why}`);
  }
}

const fail = (node: TfNode, why: string): Tf1Error => new Tf1Error(node.name, node.op, why);

/**
 * The copy of a subgraph into a new function: walks back from `roots`, copying the nodes `inside`
 * accepts (and Consts, which are pure), turning what `boundary` names into arguments; anything else
 * read from outside goes to `outside` (an argument name, or an error).
 */
interface Extraction {
  readonly nodes: Map<string, TfNode>;
  readonly outputs: string[];
}

function extract(
  nodes: ReadonlyMap<string, TfNode>,
  roots: readonly InputRef[],
  boundary: (ref: InputRef, reader: TfNode | undefined) => string | undefined,
  inside: (name: string) => boolean,
  outside: (ref: InputRef, reader: TfNode | undefined) => string,
): Extraction {
  const copied = new Map<string, TfNode>();
  const pending: TfNode[] = [];
  const resolve = (ref: InputRef, reader: TfNode | undefined): string => {
    const arg = boundary(ref, reader);
    if (arg !== undefined) return arg;
    const n = nodes.get(ref.node);
    if (n && (n.op === 'Const' || inside(ref.node))) {
      if (!copied.has(n.name)) {
        copied.set(n.name, n);
        pending.push(n);
      }
      return refText(ref);
    }
    return outside(ref, reader);
  };
  const outputs = roots.map((r) => resolve(r, undefined));
  const rewritten = new Map<string, string[]>();
  while (pending.length) {
    const n = pending.pop()!;
    rewritten.set(
      n.name,
      n.inputs.map((i) => resolve(i, n)),
    );
  }
  const out = new Map<string, TfNode>();
  for (const [name, n] of copied) out.set(name, makeNode(name, n.op, rewritten.get(name)!, n.attr));
  return { nodes: out, outputs };
}

/** A function of the library made from an extraction (arguments of unknown dtype, like TF's variant). */
function libraryFunction(name: string, args: readonly string[], body: Extraction): TfFunction {
  return {
    name,
    inputs: args.map((a) => ({ name: a, dtype: null })),
    outputs: body.outputs.map((text, i) => ({
      name: `output_${i}`,
      tensor: { node: text.replace(/:\d+$/, ''), index: Number(/:(\d+)$/.exec(text)?.[1] ?? 0), text },
    })),
    nodes: body.nodes,
  };
}

/** Each node's frame: the stack of loop frame names it runs in ([] for the root frame). */
function assignFrames(nodes: ReadonlyMap<string, TfNode>, scope: ReadonlySet<string>): Map<string, string[]> {
  const frame = new Map<string, string[]>();
  const sources = (n: TfNode): string[] =>
    n.op === 'Merge' ? n.inputs.filter((i) => nodes.get(i.node)?.op !== 'NextIteration').map((i) => i.node) : [...n.inputs.map((i) => i.node), ...n.controls];
  let changed = true;
  while (changed) {
    changed = false;
    for (const name of scope) {
      if (frame.has(name)) continue;
      const n = nodes.get(name);
      const srcs = n ? sources(n) : [];
      const known = srcs.map((s) => (scope.has(s) ? frame.get(s) : []));
      if (known.some((k) => k === undefined)) continue;
      let f = (known as string[][]).reduce<string[]>((a, b) => (b.length > a.length ? b : a), []);
      if (n?.op === 'Enter') f = [...f, n.str('frame_name', '', true) ?? ''];
      else if (n?.op === 'Exit') f = f.slice(0, -1);
      frame.set(name, f);
      changed = true;
    }
  }
  return frame;
}

const frameKey = (f: readonly string[]): string => f.join('\u0000');

/** Rewrites every while-loop frame the roots need into a StatelessWhile node (innermost frames first). */
function functionalizeLoops(graph: TfGraph, roots: readonly string[], leaves: ReadonlySet<string>, stats: FunctionalizeStats): void {
  const { nodes, functions } = graph;
  const needed = reachable(nodes, roots, leaves, false);
  if (![...needed].some((n) => TF1_LOOP_OPS.has(nodes.get(n)?.op ?? ''))) return;
  // Frames follow control inputs too (a loop body's Consts hang off its pivot by a control input).
  const scope = reachable(nodes, roots, leaves, true);
  const frames = assignFrames(nodes, scope);
  for (const name of needed) {
    const n = nodes.get(name);
    if (n && !frames.has(name)) throw fail(n, 'is part of a loop no Enter node starts (a cycle outside any while-loop frame)');
  }
  const byFrame = new Map<string, { path: string[]; members: string[] }>();
  const wanted = new Set([...needed].map((n) => frameKey(frames.get(n) ?? [])));
  for (const [name, f] of frames) {
    if (f.length === 0 || !wanted.has(frameKey(f))) continue;
    const key = frameKey(f);
    const entry = byFrame.get(key) ?? { path: f, members: [] };
    entry.members.push(name);
    byFrame.set(key, entry);
  }
  const exitsOf = new Map<string, TfNode[]>();
  for (const name of scope) {
    const n = nodes.get(name);
    if (n?.op === 'Exit') exitsOf.set(n.inputs[0]?.node ?? '', [...(exitsOf.get(n.inputs[0]?.node ?? '') ?? []), n]);
  }
  const taken = (s: string): boolean => nodes.has(s) || functions.has(s);
  for (const { path, members } of [...byFrame.values()].sort((a, b) => b.path.length - a.path.length)) {
    const inFrame = new Set(members);
    const frameName = path[path.length - 1]!;
    const member = (op: string): TfNode[] => members.map((m) => nodes.get(m)!).filter((n) => n && n.op === op);
    const loopConds = member('LoopCond');
    const enters = member('Enter');
    if (loopConds.length !== 1) {
      const someone = loopConds[1] ?? enters[0] ?? nodes.get(members[0]!)!;
      throw fail(someone, `is in while-loop frame '${frameName}', which has ${loopConds.length} LoopCond nodes (expected 1)`);
    }
    const loopCond = loopConds[0]!;
    const merges = member('Merge').filter((m) => m.inputs.some((i) => nodes.get(i.node)?.op === 'NextIteration'));
    const vars = merges.map((m) => {
      const enter = m.inputs.map((i) => nodes.get(i.node)!).find((n) => n.op === 'Enter');
      const next = m.inputs.map((i) => nodes.get(i.node)!).find((n) => n.op === 'NextIteration');
      if (m.inputs.length !== 2 || !enter || !next || !next.inputs[0])
        throw fail(m, 'merges a loop variable but does not read one Enter and one NextIteration');
      const sw = member('Switch').find((s) => s.inputs[0]?.node === m.name && s.inputs[1]?.node === loopCond.name);
      return { merge: m, enter, next, sw };
    });
    const varEnters = new Set(vars.map((v) => v.enter.name));
    const invariants = enters.filter((e) => !varEnters.has(e.name));
    const varArg = (i: number): string => `${frameName}/_loop_var${i}`;
    const invArg = (j: number): string => `${frameName}/_loop_invariant${j}`;
    const args = [...vars.map((_, i) => varArg(i)), ...invariants.map((_, j) => invArg(j))];
    const invIndex = new Map(invariants.map((e, j) => [e.name, j]));
    const outside = (ref: InputRef, reader: TfNode | undefined): string => {
      throw fail(reader ?? loopCond, `reads '${ref.text}' from outside while-loop frame '${frameName}' without an Enter node`);
    };
    const invBoundary = (ref: InputRef): string | undefined => {
      const j = invIndex.get(ref.node);
      return j === undefined ? undefined : invArg(j);
    };
    const cond = extract(
      nodes,
      [loopCond.inputs[0]!],
      (ref, reader) => {
        const i = vars.findIndex((v) => v.merge.name === ref.node);
        if (i >= 0) {
          if (ref.index !== 0) throw fail(reader ?? loopCond, `reads the value_index of loop Merge '${ref.node}'`);
          return varArg(i);
        }
        if (vars.some((v) => v.sw?.name === ref.node)) throw fail(reader ?? loopCond, `computes the loop condition from the loop's Switch '${ref.node}'`);
        return invBoundary(ref);
      },
      (n) => inFrame.has(n),
      outside,
    );
    const body = extract(
      nodes,
      vars.map((v) => v.next.inputs[0]!),
      (ref, reader) => {
        const i = vars.findIndex((v) => v.sw?.name === ref.node || v.merge.name === ref.node);
        if (i >= 0) {
          if (ref.index !== (vars[i]!.sw?.name === ref.node ? 1 : 0))
            throw fail(reader ?? loopCond, `reads '${ref.text}', which is not the loop variable's value inside the body`);
          return varArg(i);
        }
        return invBoundary(ref);
      },
      (n) => inFrame.has(n),
      outside,
    );
    const condName = fresh(`${frameName}/_functional_cond`, taken);
    functions.set(condName, libraryFunction(condName, args, cond));
    const bodyName = fresh(`${frameName}/_functional_body`, taken);
    functions.set(bodyName, libraryFunction(bodyName, args, { nodes: body.nodes, outputs: [...body.outputs, ...invariants.map((_, j) => invArg(j))] }));
    const whileName = fresh(`${frameName}/_functional_while`, taken);
    const whileInputs = [...vars.map((v) => v.enter.inputs[0]!.text), ...invariants.map((e) => e.inputs[0]!.text)];
    nodes.set(whileName, makeNode(whileName, 'StatelessWhile', whileInputs, { cond: { func: { name: condName } }, body: { func: { name: bodyName } } }));
    vars.forEach((v, i) => {
      for (const exit of v.sw ? (exitsOf.get(v.sw.name) ?? []) : []) {
        if (exit.inputs[0]!.index !== 0) throw fail(exit, `reads output ${exit.inputs[0]!.index} of loop Switch '${v.sw!.name}' (an Exit reads output 0)`);
        nodes.set(exit.name, makeNode(exit.name, 'Identity', [`${whileName}:${i}`]));
      }
    });
    frames.set(whileName, path.slice(0, -1));
    stats.loops++;
  }
}

/** A conditional context: the (predicate, branch) pairs a value is computed under, outermost first. */
type Ctx = readonly string[];

/** A predicate's key: the tensor behind its Identity nodes (tf.cond's Switches read `pred` and `pred_id = Identity(pred)`). */
function predKey(nodes: ReadonlyMap<string, TfNode>, ref: InputRef): string {
  let r = ref;
  for (let hops = 0; hops < 1000; hops++) {
    const n = nodes.get(r.node);
    const next = n?.op === 'Identity' && r.index === 0 ? n.inputs[0] : undefined;
    if (!next) break;
    r = next;
  }
  return refText(r);
}

const sideOf = (entry: string): number => Number(entry.slice(entry.lastIndexOf('\u0001') + 1));
const predOf = (entry: string): string => entry.slice(0, entry.lastIndexOf('\u0001'));
const isPrefix = (a: Ctx, b: Ctx): boolean => a.length <= b.length && a.every((x, i) => x === b[i]);

/**
 * Rewrites the Switch/Merge conditionals of a node map (the main graph or a function) into StatelessIf
 * nodes, innermost first. Returns how many it rewrote.
 */
function functionalizeConds(graph: TfGraph, nodes: Map<string, TfNode>, roots: readonly string[], leaves: ReadonlySet<string>): number {
  let count = 0;
  const taken = (s: string): boolean => nodes.has(s) || graph.functions.has(s);
  for (;;) {
    const scope = reachable(nodes, roots, leaves, false);
    const merges = [...scope].map((n) => nodes.get(n)).filter((n): n is TfNode => n?.op === 'Merge');
    if (merges.length === 0) {
      const sw = [...scope].map((n) => nodes.get(n)).find((n) => n?.op === 'Switch');
      if (sw) throw fail(sw, 'has outputs that reach the model outputs without a Merge');
      return count;
    }
    const ctxs = new Map<string, Ctx>();
    const busy = new Set<string>();
    const ctxOf = (name: string): Ctx => {
      const known = ctxs.get(name);
      if (known) return known;
      const n = nodes.get(name);
      if (!n || leaves.has(name) || busy.has(name)) return [];
      busy.add(name);
      const outCtx = (ref: InputRef): Ctx => {
        const p = nodes.get(ref.node);
        const c = ctxOf(ref.node);
        return p?.op === 'Switch' && p.inputs[1] ? [...c, `${predKey(nodes, p.inputs[1])}\u0001${ref.index}`] : c;
      };
      let c: Ctx;
      if (n.op === 'Merge') {
        const ins = n.inputs.map(outCtx);
        const first = ins[0] ?? [];
        c = first.slice(0, -1);
        const pred = first.length ? predOf(first[first.length - 1]!) : '';
        if (!first.length || ins.some((x) => x.length !== first.length || !isPrefix(c, x) || predOf(x[x.length - 1]!) !== pred)) {
          throw fail(n, 'merges values that are not the two branches of one Switch predicate');
        }
      } else if (n.op === 'Switch') {
        c = n.inputs[0] ? outCtx(n.inputs[0]) : [];
      } else {
        const all = [...n.inputs.map(outCtx), ...n.controls.map((x) => ctxOf(x))];
        c = all.reduce<Ctx>((a, b) => (b.length > a.length ? b : a), []);
        if (all.some((x) => !isPrefix(x, c))) throw fail(n, 'reads values of different branches of a conditional');
      }
      busy.delete(name);
      ctxs.set(name, c);
      return c;
    };
    // The deepest conditional first: its Merges, all of one predicate in one context.
    let deepest = merges[0]!;
    for (const m of merges) if (ctxOf(m.name).length > ctxOf(deepest.name).length) deepest = m;
    const parent = ctxOf(deepest.name);
    const firstIn = deepest.inputs[0]!;
    const producer = nodes.get(firstIn.node);
    const full =
      producer?.op === 'Switch' && producer.inputs[1]
        ? [...ctxOf(producer.name), `${predKey(nodes, producer.inputs[1])}\u0001${firstIn.index}`]
        : ctxOf(firstIn.node);
    const pred = predOf(full[full.length - 1]!);
    const outCtxOf = (ref: InputRef): Ctx => {
      const p = nodes.get(ref.node);
      return p?.op === 'Switch' && p.inputs[1] ? [...ctxOf(p.name), `${predKey(nodes, p.inputs[1])}\u0001${ref.index}`] : ctxOf(ref.node);
    };
    const group = merges.filter((m) => {
      const c = ctxOf(m.name);
      if (c.length !== parent.length || !isPrefix(c, parent)) return false;
      const o = outCtxOf(m.inputs[0]!);
      return predOf(o[o.length - 1]!) === pred;
    });
    for (const name of scope) {
      const n = nodes.get(name);
      for (const i of n?.inputs ?? []) if (i.index === 1 && group.some((m) => m.name === i.node)) throw fail(n!, `reads the value_index of Merge '${i.node}'`);
    }
    const ifName = fresh(`${deepest.name}/_functional_if`, taken);
    const argOf = new Map<string, string>();
    const argFor = (outer: string): string => {
      let a = argOf.get(outer);
      if (!a) {
        a = `${ifName}/_arg${argOf.size}`;
        argOf.set(outer, a);
      }
      return a;
    };
    const branch = (side: number): Extraction => {
      const mine = [...parent, `${pred}\u0001${side}`];
      const rootsOfSide = group.map((m) => {
        const ins = m.inputs.filter((i) => sideOf(outCtxOf(i)[parent.length]!) === side);
        if (m.inputs.length !== 2 || ins.length !== 1) throw fail(m, 'does not merge exactly one value of each branch');
        return ins[0]!;
      });
      return extract(
        nodes,
        rootsOfSide,
        (ref, reader) => {
          const p = nodes.get(ref.node);
          if (p?.op === 'Switch' && p.inputs[1] && predKey(nodes, p.inputs[1]) === pred && frameKey(ctxOf(p.name)) === frameKey(parent)) {
            if (ref.index !== side) throw fail(reader ?? p, `reads output ${ref.index} of Switch '${p.name}' in the branch of output ${side}`);
            return argFor(refText(p.inputs[0]!));
          }
          return undefined;
        },
        (n) => isPrefix(mine, ctxOf(n)),
        (ref, reader) => {
          if (!isPrefix(ctxOf(ref.node), parent)) throw fail(reader ?? deepest, `reads '${ref.text}' from another conditional's branch`);
          return argFor(refText(ref));
        },
      );
    };
    const thenBody = branch(1);
    const elseBody = branch(0);
    const args = [...argOf.values()];
    const thenName = fresh(`${ifName}/_then`, taken);
    graph.functions.set(thenName, libraryFunction(thenName, args, thenBody));
    const elseName = fresh(`${ifName}/_else`, taken);
    graph.functions.set(elseName, libraryFunction(elseName, args, elseBody));
    nodes.set(
      ifName,
      makeNode(ifName, 'StatelessIf', [pred, ...argOf.keys()], { then_branch: { func: { name: thenName } }, else_branch: { func: { name: elseName } } }),
    );
    group.forEach((m, k) => {
      nodes.set(m.name, makeNode(m.name, 'Identity', [`${ifName}:${k}`]));
    });
    count++;
  }
}

/**
 * Restructures the TF1 control flow the model's outputs need into StatelessWhile and StatelessIf nodes
 * and library functions (in place). A structure that is not one TensorFlow builds stops it, returned as
 * `refusal` (what was restructured before stays: it is valid either way).
 */
export function functionalizeControlFlow(graph: TfGraph, roots: readonly string[], leaves: ReadonlySet<string>): FunctionalizeStats {
  const stats: FunctionalizeStats = { loops: 0, conds: 0 };
  const before = new Set(graph.functions.keys());
  try {
    functionalizeLoops(graph, roots, leaves, stats);
    stats.conds += functionalizeConds(graph, graph.nodes, roots, leaves);
    // The loop bodies made above may hold conditionals of their own (in the order made: a cond's
    // branches hold no Switch/Merge once rewritten).
    for (const [name, fn] of [...graph.functions]) {
      if (before.has(name) || ![...fn.nodes.values()].some((n) => n.op === 'Merge' || n.op === 'Switch')) continue;
      const outs = fn.outputs.map((o) => o.tensor.node);
      stats.conds += functionalizeConds(graph, fn.nodes, outs, new Set(fn.inputs.map((i) => i.name)));
    }
  } catch (err) {
    if (!(err instanceof Tf1Error)) throw err;
    stats.refusal = { node: err.node, op: err.op, why: `TF1 control flow: ${err.why}` };
  }
  return stats;
}
