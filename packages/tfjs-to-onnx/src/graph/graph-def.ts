/**
 * The GraphDef of a tfjs graph model as tensorflowjs_converter writes it into model.json (protobuf
 * JSON), read the way tfjs-converter's operation_mapper.ts reads it: strings base64 or (older converters)
 * lists of byte values, 64-bit integers as strings, dtypes as enum names or numbers, shapes as
 * `{dim: [{size: "-1"}]}`, node inputs as `name`, `name:k`, `name:output:k` (functions) or `^name`
 * (control dependencies), and the function library of TF2 control flow.
 */

/** A TensorFlow AttrValue in protobuf JSON. */
export interface AttrJson {
  s?: string | number[];
  i?: string | number;
  f?: number | string;
  b?: boolean;
  type?: string | number;
  shape?: ShapeJson;
  tensor?: unknown;
  func?: { name?: string };
  list?: {
    s?: (string | number[])[];
    i?: (string | number)[];
    f?: (number | string)[];
    b?: boolean[];
    type?: (string | number)[];
    shape?: ShapeJson[];
    func?: { name?: string }[];
  };
}

/** A TensorShapeProto in protobuf JSON. */
export interface ShapeJson {
  dim?: { size?: string | number; name?: string }[];
  unknownRank?: boolean;
  unknown_rank?: boolean;
}

/** A NodeDef in protobuf JSON. */
export interface NodeDefJson {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrJson>;
  device?: string;
}

/** An OpDef.ArgDef of a function signature. */
export interface ArgJson {
  name: string;
  type?: string | number;
  typeAttr?: string;
}

/** A FunctionDef (TF2 control flow bodies) in protobuf JSON (camelCase, or snake_case from older writers). */
export interface FunctionDefJson {
  signature?: { name?: string; inputArg?: ArgJson[]; outputArg?: ArgJson[]; input_arg?: ArgJson[]; output_arg?: ArgJson[] };
  nodeDef?: NodeDefJson[];
  node_def?: NodeDefJson[];
  ret?: Record<string, string>;
}

/** A GraphDef in protobuf JSON. */
export interface GraphDefJson {
  node?: NodeDefJson[];
  library?: { function?: FunctionDefJson[] };
  versions?: { producer?: number; minConsumer?: number };
}

/** A TensorInfo of a SignatureDef in protobuf JSON. */
export interface TensorInfoJson {
  name?: string;
  dtype?: string | number;
  tensorShape?: ShapeJson;
  resourceId?: number | string;
}

/** A SignatureDef in protobuf JSON: the model's named inputs and outputs. */
export interface SignatureJson {
  inputs?: Record<string, TensorInfoJson>;
  outputs?: Record<string, TensorInfoJson>;
}

/** The dtypes tensors have as tfjs runs a graph model (every integer type is int32 there). */
export type TfjsDtype = 'float32' | 'int32' | 'bool' | 'string' | 'complex64';

/** TensorFlow's DataType enum numbers (types.proto). */
const DT_NAMES: Record<number, string> = {
  1: 'DT_FLOAT',
  2: 'DT_DOUBLE',
  3: 'DT_INT32',
  4: 'DT_UINT8',
  5: 'DT_INT16',
  6: 'DT_INT8',
  7: 'DT_STRING',
  8: 'DT_COMPLEX64',
  9: 'DT_INT64',
  10: 'DT_BOOL',
  11: 'DT_QINT8',
  12: 'DT_QUINT8',
  13: 'DT_QINT32',
  14: 'DT_BFLOAT16',
  15: 'DT_QINT16',
  16: 'DT_QUINT16',
  17: 'DT_UINT16',
  18: 'DT_COMPLEX128',
  19: 'DT_HALF',
  20: 'DT_RESOURCE',
  21: 'DT_VARIANT',
  22: 'DT_UINT32',
  23: 'DT_UINT64',
};

/** The enum name of a DataType given by name or number ('DT_FLOAT' for 1). */
export function dtypeName(t: string | number | undefined): string {
  if (typeof t === 'number') return DT_NAMES[t] ?? `DataType ${t}`;
  if (typeof t === 'string' && /^\d+$/.test(t)) return DT_NAMES[Number(t)] ?? `DataType ${t}`;
  return t ?? 'no dtype';
}

/** The tfjs dtype of a TensorFlow DataType, as tfjs-converter's parseDtypeParam maps it (null: tfjs has none). */
export function tfjsDtype(t: string | number | undefined): TfjsDtype | null {
  switch (dtypeName(t)) {
    case 'DT_FLOAT':
    case 'DT_HALF':
    case 'DT_DOUBLE':
      return 'float32';
    case 'DT_INT32':
    case 'DT_INT64':
    case 'DT_INT8':
    case 'DT_UINT8':
      return 'int32';
    case 'DT_BOOL':
      return 'bool';
    case 'DT_STRING':
      return 'string';
    case 'DT_COMPLEX64':
    case 'DT_COMPLEX128':
      return 'complex64';
    default:
      return null;
  }
}

/** A string attribute: base64 (current converters) or a list of byte values (older ones), as tfjs decodes it. */
export function decodeAttrString(s: string | number[]): string {
  if (Array.isArray(s)) return String.fromCharCode(...s);
  return Buffer.from(s, 'base64').toString('latin1');
}

/** A 64-bit integer written as a string or a number. */
function toInt(v: string | number): number {
  return typeof v === 'number' ? v : Number.parseInt(v, 10);
}

/** A float written as a number, or as a string for NaN and the infinities. */
function toFloat(v: string | number): number {
  return typeof v === 'number' ? v : Number(v);
}

/** A shape attribute: dims (-1 unknown), or null for an unknown rank. */
export function parseShape(shape: ShapeJson | undefined): number[] | null {
  if (!shape || shape.unknownRank || shape.unknown_rank) return null;
  return (shape.dim ?? []).map((d) => (d.size === undefined ? 0 : toInt(d.size)));
}

/** One input of a node: a tensor (node and output index) or a control dependency. */
export interface InputRef {
  /** The producing node. */
  readonly node: string;
  /** Its output index. */
  readonly index: number;
  /** The named output (function bodies: `node:output_name:k`). */
  readonly output?: string;
  /** As written. */
  readonly text: string;
}

/** Parses `name`, `name:k` or `name:output:k` as tfjs-converter's parseNodeName does. */
export function parseInputName(text: string): InputRef {
  const parts = text.split(':');
  if (parts.length === 1) return { node: text, index: 0, text };
  const index = Number(parts[parts.length - 1]);
  if (!Number.isInteger(index) || index < 0) return { node: text, index: 0, text };
  return parts.length === 3 ? { node: parts[0]!, index, output: parts[1]!, text } : { node: parts.slice(0, -1).join(':'), index, text };
}

/** A NodeDef with its inputs parsed and typed attribute readers that decode the JSON as tfjs does. */
export class TfNode {
  readonly name: string;
  readonly op: string;
  /** Data inputs, in order. */
  readonly inputs: InputRef[];
  /** Control dependencies (`^name`): ordering only, no data. */
  readonly controls: string[];
  readonly attr: Readonly<Record<string, AttrJson>>;

  constructor(def: NodeDefJson, where: string) {
    if (!def || typeof def !== 'object' || typeof def.name !== 'string' || def.name === '' || typeof def.op !== 'string' || def.op === '') {
      throw new Error(`${where}: a node without a name or op (${JSON.stringify(def)?.slice(0, 120)})`);
    }
    this.name = def.name;
    this.op = def.op;
    const inputs = def.input ?? [];
    if (!Array.isArray(inputs) || !inputs.every((i) => typeof i === 'string')) throw new Error(`${where}: node '${def.name}' has a malformed input list`);
    this.inputs = inputs.filter((i) => !i.startsWith('^')).map(parseInputName);
    this.controls = inputs.filter((i) => i.startsWith('^')).map((i) => i.slice(1));
    this.attr = def.attr && typeof def.attr === 'object' ? def.attr : {};
  }

  has(name: string): boolean {
    return this.attr[name] !== undefined && this.attr[name] !== null;
  }

  /** A string attribute, lower-cased as tfjs reads most of them ('SAME' -> 'same'). */
  str(name: string, def?: string, keepCase = false): string | undefined {
    const s = this.attr[name]?.s;
    if (s === undefined || s === null) return def;
    const v = decodeAttrString(s);
    return keepCase ? v : v.toLowerCase();
  }

  /** A list-of-strings attribute (fused_ops), lower-cased as tfjs reads it. */
  strs(name: string, def: string[] = [], keepCase = false): string[] {
    const list = this.attr[name]?.list?.s;
    if (!list) return def;
    return list.map((s) => (keepCase ? decodeAttrString(s) : decodeAttrString(s).toLowerCase()));
  }

  /** An integer attribute (tfjs: `i`, else `f`, else the default). */
  int(name: string, def: number): number {
    const a = this.attr[name];
    if (a?.i !== undefined && a.i !== null) return toInt(a.i);
    if (a?.f !== undefined && a.f !== null) return Math.trunc(toFloat(a.f));
    return def;
  }

  /** A float attribute (`f`, else `i`, else the default). */
  float(name: string, def: number): number {
    const a = this.attr[name];
    if (a?.f !== undefined && a.f !== null) return toFloat(a.f);
    if (a?.i !== undefined && a.i !== null) return toInt(a.i);
    return def;
  }

  bool(name: string, def: boolean): boolean {
    const b = this.attr[name]?.b;
    return b === undefined || b === null ? def : Boolean(b);
  }

  /** A list-of-numbers attribute (tfjs: `list.f` when non-empty, else `list.i`). */
  ints(name: string, def?: number[]): number[] | undefined {
    const list = this.attr[name]?.list;
    if (!list) return def;
    if (list.f?.length) return list.f.map(toFloat);
    return (list.i ?? []).map(toInt);
  }

  /** The raw DataType of a type attribute. */
  dtypeRaw(name: string): string | number | undefined {
    return this.attr[name]?.type;
  }

  /** A type attribute as the tfjs dtype (null: absent or a type tfjs lacks). */
  dtype(name: string): TfjsDtype | null {
    const t = this.attr[name]?.type;
    return t === undefined ? null : tfjsDtype(t);
  }

  /** A shape attribute: dims (-1 unknown), null for an unknown rank, undefined when absent. */
  shape(name: string): number[] | null | undefined {
    const s = this.attr[name]?.shape;
    return s === undefined ? undefined : parseShape(s);
  }

  /** A function attribute's name (TF2 control flow bodies). */
  func(name: string): string | undefined {
    return this.attr[name]?.func?.name;
  }
}

/** A function of the library: its arguments, nodes and the tensors it returns. */
export interface TfFunction {
  readonly name: string;
  readonly inputs: { readonly name: string; readonly dtype: TfjsDtype | null }[];
  readonly outputs: { readonly name: string; readonly tensor: InputRef }[];
  readonly nodes: Map<string, TfNode>;
}

/** A parsed GraphDef: nodes by name (in file order) and the function library. */
export interface TfGraph {
  readonly nodes: Map<string, TfNode>;
  readonly functions: Map<string, TfFunction>;
  readonly version: string;
}

function parseFunction(f: FunctionDefJson, source: string): TfFunction {
  const sig = f?.signature;
  const name = sig?.name;
  if (!sig || typeof name !== 'string' || name === '') throw new Error(`${source}: a library function without a signature name`);
  const where = `${source}: function '${name}'`;
  const nodes = new Map<string, TfNode>();
  for (const def of f.nodeDef ?? f.node_def ?? []) {
    const node = new TfNode(def, where);
    if (nodes.has(node.name)) throw new Error(`${where}: two nodes are named '${node.name}'`);
    nodes.set(node.name, node);
  }
  const inputs = (sig.inputArg ?? sig.input_arg ?? []).map((a) => ({ name: a.name, dtype: a.type === undefined ? null : tfjsDtype(a.type) }));
  const ret = f.ret ?? {};
  const outputs = (sig.outputArg ?? sig.output_arg ?? []).map((a) => {
    const text = ret[a.name];
    if (typeof text !== 'string') throw new Error(`${where}: output '${a.name}' is not in its ret map`);
    return { name: a.name, tensor: parseInputName(text) };
  });
  return { name, inputs, outputs, nodes };
}

/** Parses a GraphDef, checking what a converter relies on: names unique, every input naming a node. */
export function parseGraphDef(topology: unknown, source: string): TfGraph {
  const g = topology as GraphDefJson;
  if (!g || typeof g !== 'object' || !Array.isArray(g.node)) throw new Error(`${source}: modelTopology has no node list: not a GraphDef`);
  const nodes = new Map<string, TfNode>();
  for (const def of g.node) {
    const node = new TfNode(def, source);
    if (nodes.has(node.name)) throw new Error(`${source}: two nodes are named '${node.name}'`);
    nodes.set(node.name, node);
  }
  for (const node of nodes.values()) {
    for (const ref of [...node.inputs.map((i) => i.node), ...node.controls]) {
      if (!nodes.has(ref)) throw new Error(`${source}: node '${node.name}' (op ${node.op}) reads '${ref}', which is not a node of the graph`);
    }
  }
  const functions = new Map<string, TfFunction>();
  for (const f of g.library?.function ?? []) {
    const fn = parseFunction(f, source);
    functions.set(fn.name, fn);
  }
  const v = g.versions;
  return { nodes, functions, version: v ? `${v.producer ?? ''}.${v.minConsumer ?? ''}` : 'n/a' };
}

/**
 * Nodes reachable from `roots` backwards over data inputs (and control inputs with `controls`), stopping
 * at `leaves` (included, not walked past).
 */
export function reachable(nodes: ReadonlyMap<string, TfNode>, roots: readonly string[], leaves: ReadonlySet<string>, controls = false): Set<string> {
  const out = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    const name = stack.pop()!;
    if (out.has(name)) continue;
    out.add(name);
    if (leaves.has(name)) continue;
    const n = nodes.get(name);
    if (!n) continue;
    for (const i of n.inputs) stack.push(i.node);
    if (controls) for (const c of n.controls) stack.push(c);
  }
  return out;
}
