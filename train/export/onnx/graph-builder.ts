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
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';

export { DataType };

/** The ONNX opset ganforge writes (IR version 8). Every op used exists in this form since opset 13. */
export const OPSET = 17;
const IR_VERSION = 8n;

/** Attribute values: numbers are floats unless wrapped by {@link int}/{@link ints}. */
export type AttrValue = number | string | { int: number } | { ints: number[] } | { floats: number[] };

/** An integer attribute (ONNX distinguishes INT from FLOAT). */
export const int = (v: number): { int: number } => ({ int: v });
/** An integer-list attribute. */
export const ints = (v: number[]): { ints: number[] } => ({ ints: v });

function attribute(name: string, value: AttrValue): AttributeProto {
  if (typeof value === 'number') return create(AttributeProtoSchema, { name, type: AttrType.FLOAT, f: value });
  if (typeof value === 'string') return create(AttributeProtoSchema, { name, type: AttrType.STRING, s: new TextEncoder().encode(value) });
  if ('int' in value) return create(AttributeProtoSchema, { name, type: AttrType.INT, i: BigInt(value.int) });
  if ('ints' in value) return create(AttributeProtoSchema, { name, type: AttrType.INTS, ints: value.ints.map(BigInt) });
  return create(AttributeProtoSchema, { name, type: AttrType.FLOATS, floats: value.floats });
}

/** A graph input or output: dims are numbers or symbolic names (the dynamic batch). */
export interface ValueSpec {
  readonly name: string;
  readonly dataType: DataType;
  readonly dims: ReadonlyArray<number | string>;
}

function valueInfo({ name, dataType, dims }: ValueSpec): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: {
          elemType: dataType,
          shape: {
            dim: dims.map((d) => ({
              value: typeof d === 'number' ? { case: 'dimValue' as const, value: BigInt(d) } : { case: 'dimParam' as const, value: d },
            })),
          },
        },
      },
    }),
  });
}

/** Accumulates nodes and initializers, handing out unique tensor names. */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];

  /** A fresh tensor name derived from `base`. */
  name(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./:-]/g, '_');
    let candidate = clean;
    for (let k = 1; this.used.has(candidate); k++) candidate = `${clean}_${k}`;
    this.used.add(candidate);
    return candidate;
  }

  /** Reserves an exact name (graph inputs and outputs), failing on a clash. */
  reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`Duplicate ONNX tensor name '${name}'`);
    this.used.add(name);
    return name;
  }

  /** Adds a float32 initializer and returns its name. */
  floats(base: string, values: Float32Array | number[], dims: number[]): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    const expected = dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected) throw new Error(`Initializer ${base}: ${data.length} values for dims [${dims}]`);
    const name = this.name(base);
    this.initializers.push(create(TensorProtoSchema, { name, dataType: DataType.FLOAT, dims: dims.map(BigInt), rawData: littleEndian(data) }));
    return name;
  }

  /** Adds an int64 initializer (shapes, axes) and returns its name. */
  int64s(base: string, values: number[]): string {
    const name = this.name(base);
    this.initializers.push(create(TensorProtoSchema, { name, dataType: DataType.INT64, dims: [BigInt(values.length)], int64Data: values.map(BigInt) }));
    return name;
  }

  /** Adds a node; returns its output names (fresh unless given). */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, base = op, outputs?: string[]): string[] {
    const outs = outputs ?? [this.name(base)];
    this.nodes.push(
      create(NodeProtoSchema, {
        opType: op,
        name: this.name(`${base}_node`),
        input: inputs,
        output: outs,
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    );
    return outs;
  }

  /** Shorthand for a single-output node. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, base = op): string {
    return this.node(op, inputs, attrs, base)[0]!;
  }

  input(spec: ValueSpec): void {
    this.inputs.push(valueInfo(spec));
  }

  output(spec: ValueSpec): void {
    this.outputs.push(valueInfo(spec));
  }

  /** Serialises the graph as an ONNX ModelProto. */
  toBinary(graphName: string, metadata: Record<string, string> = {}): Uint8Array {
    const model = create(ModelProtoSchema, {
      irVersion: IR_VERSION,
      producerName: 'ganforge',
      producerVersion: '0.1.0',
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(OPSET) })],
      metadataProps: Object.entries(metadata).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
      graph: create(GraphProtoSchema, {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
    return toBinary(ModelProtoSchema, model);
  }
}

/** ONNX raw_data is little-endian; copy so the protobuf owns an exact-length buffer. */
function littleEndian(values: Float32Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i]!, true);
  return out;
}
