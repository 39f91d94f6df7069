import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AttrType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataType as DataType,
  TensorProtoSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';

export { DataType };

/** The opset written unless asked otherwise (what the shipped models use). */
export const DEFAULT_OPSET = 17;
/** The oldest opset the converter writes: every op it uses has its current form since 13. */
export const MIN_OPSET = 13;
/** The newest: onnxruntime 1.30's official ai.onnx support ends at opset 26 (27 is refused at load). */
export const MAX_OPSET = 26;

/** The IR version of the ONNX release that introduced each opset (onnx/helper.py VERSION_TABLE). */
export function irVersionFor(opset: number): number {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  if (opset === 23) return 11;
  if (opset === 24) return 12;
  return 13;
}

/** Attribute values: numbers are floats unless wrapped by {@link int}/{@link ints}. */
export type AttrValue = number | string | { int: number } | { ints: number[] } | { floats: number[] } | { strings: string[] } | { graph: GraphBuilder };

/** An integer attribute (ONNX distinguishes INT from FLOAT). */
export const int = (v: number): { int: number } => ({ int: v });
/** An integer-list attribute. */
export const ints = (v: number[]): { ints: number[] } => ({ ints: v });

/** One node as the converter builds it; serialised (and optimised) at the end. */
export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
  readonly name: string;
  /** The tfjs layer the node was made for (the --report table). */
  layer: string | undefined;
}

/** Initializer data by ONNX type. */
export type InitializerData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

/** A weight or constant stored in the main graph. */
export interface Initializer {
  readonly name: string;
  readonly dataType: DataType;
  readonly dims: number[];
  readonly data: InitializerData;
}

/** A graph input or output: dims are numbers or symbolic names; no dims means any shape. */
export interface ValueSpec {
  readonly name: string;
  readonly dataType: DataType;
  readonly dims?: ReadonlyArray<number | string>;
}

/** What the main graph and its Scan bodies share: one name space, one set of initializers. */
interface Shared {
  readonly opset: number;
  readonly used: Set<string>;
  readonly initializers: Map<string, Initializer>;
  readonly constants: Map<string, string>;
  /** Initializers by content hash, so a shared layer's weights are stored once. */
  readonly byContent: Map<string, string[]>;
  layer: string | undefined;
}

/** FNV-1a over an array's bytes, with its type and dims. */
function contentKey(dataType: DataType, data: InitializerData, dims: number[]): string {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return `${dataType}:${dims.join('x')}:${(h >>> 0).toString(16)}`;
}

function sameData(a: InitializerData, b: InitializerData): boolean {
  if (a.length !== b.length || a.constructor !== b.constructor) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Accumulates nodes (and, through the main graph, initializers), handing out unique tensor names. A
 * Scan body is a GraphBuilder made by {@link GraphBuilder.body}: it shares the names and keeps its
 * weights in the main graph, which ONNX lets a subgraph read from the outer scope.
 */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly inputs: ValueSpec[] = [];
  readonly outputs: ValueSpec[] = [];
  private readonly shared: Shared;

  constructor(opset = DEFAULT_OPSET, shared?: Shared) {
    this.shared = shared ?? { opset, used: new Set(), initializers: new Map(), constants: new Map(), byContent: new Map(), layer: undefined };
  }

  get opset(): number {
    return this.shared.opset;
  }

  get initializers(): Map<string, Initializer> {
    return this.shared.initializers;
  }

  /** The tfjs layer new nodes are attributed to. */
  set layer(name: string | undefined) {
    this.shared.layer = name;
  }

  get layer(): string | undefined {
    return this.shared.layer;
  }

  /** A subgraph (a Scan body) sharing this graph's names and initializers. */
  body(): GraphBuilder {
    return new GraphBuilder(this.opset, this.shared);
  }

  /** A fresh tensor name derived from `base`. */
  name(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./:-]/g, '_') || 't';
    let candidate = clean;
    for (let k = 1; this.shared.used.has(candidate); k++) candidate = `${clean}_${k}`;
    this.shared.used.add(candidate);
    return candidate;
  }

  /** Reserves an exact name (graph inputs and outputs), failing on a clash. */
  reserve(name: string): string {
    if (this.shared.used.has(name)) throw new Error(`Duplicate ONNX tensor name '${name}'`);
    this.shared.used.add(name);
    return name;
  }

  /** Adds an initializer of any type and returns its name. */
  initializer(base: string, dataType: DataType, data: InitializerData, dims: number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (data.length !== count) throw new Error(`Initializer ${base}: ${data.length} values for dims [${dims.map(String)}]`);
    const key = data.length > FP16_MIN_VALUES ? contentKey(dataType, data, dims) : null;
    if (key) {
      for (const existing of this.shared.byContent.get(key) ?? []) {
        const init = this.shared.initializers.get(existing);
        if (init && sameData(init.data, data)) return existing;
      }
    }
    const name = this.name(base);
    this.shared.initializers.set(name, { name, dataType, dims, data });
    if (key) this.shared.byContent.set(key, [...(this.shared.byContent.get(key) ?? []), name]);
    return name;
  }

  /** Adds a float32 initializer and returns its name. */
  floats(base: string, values: Float32Array | readonly number[], dims: number[]): string {
    return this.initializer(base, DataType.FLOAT, values instanceof Float32Array ? values : Float32Array.from(values), dims);
  }

  /** Adds an int64 initializer (shapes, axes, indices); 1-D unless dims are given. */
  int64s(base: string, values: readonly number[], dims: number[] = [values.length]): string {
    return this.initializer(base, DataType.INT64, BigInt64Array.from(values.map((v) => BigInt(v))), dims);
  }

  /** A shared float32 scalar (or 1-element vector with `dims`), one initializer per value. */
  scalar(value: number, dims: number[] = []): string {
    const key = `f:${Object.is(value, -0) ? '-0' : value}:${dims.join('x')}`;
    let name = this.shared.constants.get(key);
    if (!name) {
      name = this.floats(`const_${String(value).replace(/[^0-9a-z]/gi, '_')}`, [value], dims);
      this.shared.constants.set(key, name);
    }
    return name;
  }

  /** A shared int64 vector constant. */
  int64Const(values: readonly number[]): string {
    const key = `i:${values.join(',')}`;
    let name = this.shared.constants.get(key);
    if (!name) {
      name = this.int64s(`ints_${values.join('_').replace(/-/g, 'm')}`.slice(0, 40), values);
      this.shared.constants.set(key, name);
    }
    return name;
  }

  /** A shared int32 constant (ids compared with int32 inputs). */
  int32Const(values: readonly number[], dims: number[] = [values.length]): string {
    const key = `i32:${values.join(',')}:${dims.join('x')}`;
    let name = this.shared.constants.get(key);
    if (!name) {
      name = this.initializer('int32_const', DataType.INT32, Int32Array.from(values), dims);
      this.shared.constants.set(key, name);
    }
    return name;
  }

  /** Adds a node; returns its output names (fresh unless given). */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, base = op, outputs?: string[] | number): string[] {
    const outs = Array.isArray(outputs) ? outputs : Array.from({ length: outputs ?? 1 }, (_, i) => this.name(i === 0 ? base : `${base}_out${i}`));
    this.nodes.push({ op, inputs, outputs: outs, attrs, name: this.name(`${base}_node`), layer: this.shared.layer });
    return outs;
  }

  /** Shorthand for a single-output node. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, base = op): string {
    return this.node(op, inputs, attrs, base)[0]!;
  }

  /** A Reduce* node in the opset's form: axes became an input in opset 18 (ReduceSum already in 13). */
  reduce(op: string, x: string, axes: number[], keepdims: boolean, base = op): string {
    const inputForm = op === 'ReduceSum' || this.opset >= 18;
    return inputForm
      ? this.op(op, [x, this.int64Const(axes)], { keepdims: int(keepdims ? 1 : 0) }, base)
      : this.op(op, [x], { axes: ints(axes), keepdims: int(keepdims ? 1 : 0) }, base);
  }

  unsqueeze(x: string, axes: number[], base = 'Unsqueeze'): string {
    return this.op('Unsqueeze', [x, this.int64Const(axes)], {}, base);
  }

  squeeze(x: string, axes: number[], base = 'Squeeze'): string {
    return this.op('Squeeze', [x, this.int64Const(axes)], {}, base);
  }

  transpose(x: string, perm: number[], base = 'Transpose'): string {
    return this.op('Transpose', [x], { perm: ints(perm) }, base);
  }

  input(spec: ValueSpec): void {
    this.inputs.push(spec);
  }

  output(spec: ValueSpec): void {
    this.outputs.push(spec);
  }
}

function attribute(name: string, value: AttrValue, fp16: Fp16Plan | null): AttributeProto {
  if (typeof value === 'number') return create(AttributeProtoSchema, { name, type: AttrType.FLOAT, f: value });
  if (typeof value === 'string') return create(AttributeProtoSchema, { name, type: AttrType.STRING, s: new TextEncoder().encode(value) });
  if ('int' in value) return create(AttributeProtoSchema, { name, type: AttrType.INT, i: BigInt(value.int) });
  if ('ints' in value) return create(AttributeProtoSchema, { name, type: AttrType.INTS, ints: value.ints.map(BigInt) });
  if ('strings' in value) return create(AttributeProtoSchema, { name, type: AttrType.STRINGS, strings: value.strings.map((s) => new TextEncoder().encode(s)) });
  if ('graph' in value) return create(AttributeProtoSchema, { name, type: AttrType.GRAPH, g: graphProto(value.graph, name, fp16, false) });
  return create(AttributeProtoSchema, { name, type: AttrType.FLOATS, floats: value.floats });
}

function valueInfo({ name, dataType, dims }: ValueSpec): ValueInfoProto {
  const shape =
    dims === undefined
      ? undefined
      : {
          dim: dims.map((d) => ({
            value: typeof d === 'number' ? { case: 'dimValue' as const, value: BigInt(d) } : { case: 'dimParam' as const, value: d },
          })),
        };
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: { elemType: dataType, shape } } }),
  });
}

function nodeProto(n: OnnxNode, fp16: Fp16Plan | null): NodeProto {
  return create(NodeProtoSchema, {
    opType: n.op,
    name: n.name,
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v, fp16)),
  });
}

/** ONNX raw_data is little-endian; copy so the protobuf owns an exact-length buffer. */
function rawData(data: InitializerData): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
  else if (data instanceof Int32Array) for (let i = 0; i < data.length; i++) view.setInt32(4 * i, data[i]!, true);
  else if (data instanceof BigInt64Array) for (let i = 0; i < data.length; i++) view.setBigInt64(8 * i, data[i]!, true);
  else out.set(data);
  return out;
}

function tensorProto(init: Initializer): TensorProto {
  return create(TensorProtoSchema, { name: init.name, dataType: init.dataType, dims: init.dims.map(BigInt), rawData: rawData(init.data) });
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The IEEE half-precision bits nearest to a float32 value (round half to even; overflow to infinity). */
export function float16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent, which is the right rounding (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** The float initializers stored as float16 (weights; small constants stay exact in float32). */
interface Fp16Plan {
  readonly names: Set<string>;
}

/** Float initializers with more than this many values are stored as float16 by --fp16. */
export const FP16_MIN_VALUES = 16;

function graphProto(g: GraphBuilder, name: string, fp16: Fp16Plan | null, main: boolean): GraphProto {
  const nodes = g.nodes.map((n) => nodeProto(n, fp16));
  const initializers: TensorProto[] = [];
  if (main) {
    const casts: NodeProto[] = [];
    for (const init of g.initializers.values()) {
      if (fp16?.names.has(init.name)) {
        const data = init.data as Float32Array;
        const bits = new Uint16Array(data.length);
        for (let i = 0; i < data.length; i++) bits[i] = float16Bits(data[i]!);
        const half = `${init.name}__fp16`;
        initializers.push(
          create(TensorProtoSchema, { name: half, dataType: DataType.FLOAT16, dims: init.dims.map(BigInt), rawData: new Uint8Array(bits.buffer.slice(0)) }),
        );
        casts.push(
          create(NodeProtoSchema, {
            opType: 'Cast',
            name: `${init.name}__cast`,
            input: [half],
            output: [init.name],
            attribute: [attribute('to', int(DataType.FLOAT), null)],
          }),
        );
      } else {
        initializers.push(tensorProto(init));
      }
    }
    nodes.unshift(...casts);
  }
  return create(GraphProtoSchema, {
    name,
    node: nodes,
    initializer: initializers,
    input: g.inputs.map(valueInfo),
    output: g.outputs.map(valueInfo),
  });
}

/** Options for {@link serialiseModel}. */
export interface SerialiseOptions {
  readonly graphName: string;
  readonly metadata?: Record<string, string>;
  /** Store float weights as float16, cast back to float32 when the model loads. */
  readonly fp16?: boolean;
  /** The program named in the model's producer_name and producer_version. Default {@link PRODUCER}. */
  readonly producer?: Producer;
}

/** What wrote an ONNX model (its producer_name and producer_version fields). */
export interface Producer {
  readonly name: string;
  readonly version: string;
}

/** tfjs-to-onnx itself (the version is its package.json's, checked by a test). */
export const PRODUCER: Producer = { name: 'tfjs-to-onnx', version: '0.1.0' };

/** Serialises a main graph (with its initializers and Scan bodies) as an ONNX ModelProto. */
export function serialiseModel(g: GraphBuilder, { graphName, metadata = {}, fp16 = false, producer = PRODUCER }: SerialiseOptions): Uint8Array {
  const plan: Fp16Plan | null = fp16
    ? {
        names: new Set([...g.initializers.values()].filter((i) => i.dataType === DataType.FLOAT && i.data.length > FP16_MIN_VALUES).map((i) => i.name)),
      }
    : null;
  const model = create(ModelProtoSchema, {
    irVersion: BigInt(irVersionFor(g.opset)),
    producerName: producer.name,
    producerVersion: producer.version,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(g.opset) })],
    metadataProps: Object.entries(metadata).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
    graph: graphProto(g, graphName, plan, true),
  });
  return toBinary(ModelProtoSchema, model);
}
