/**
 * A small, generic ONNX graph builder: declare inputs/outputs, add initializers (weights) and
 * nodes, serialise to .onnx bytes. The BERT writer (./bert.ts) is built on it; later the training
 * stage uses it to export fine-tuned weights and to fold a linear adapter into an exported graph.
 *
 *   const g = new GraphBuilder('adapter');
 *   g.input('x', 'FLOAT', ['batch', 384]);
 *   const w = g.initializer('W', [384, 384], weights);
 *   g.output(g.node('MatMul', ['x', w], { name: 'y' }), 'FLOAT', ['batch', 384]);
 *   const bytes = g.toBytes();          // opset 17, IR version 8
 *
 * Value names are unique strings; `node()` returns its (first) output name so graphs read as
 * expressions. Constants (shapes, axes, scalars) are initializers too, deduplicated by value.
 */
import {
  AttributeType,
  DataType,
  encodeModel,
  type AttributeProtoObj,
  type DataTypeName,
  type DimensionObj,
  type ModelProtoObj,
  type NodeProtoObj,
  type TensorProtoObj,
  type ValueInfoProtoObj,
} from './proto';

/** A tensor dimension: a fixed size or a symbolic (dynamic) name such as 'batch'. */
export type Dim = number | string;

/** Attribute values: number → INT if integral else FLOAT (force with {float: x}), arrays likewise. */
export type AttrValue = number | string | number[] | { float: number } | { floats: number[] } | { ints: number[] };

export interface NodeOptions {
  /** Output value names; default one fresh name derived from the op type. */
  outputs?: string[];
  /** Name of the single output (shorthand for outputs: [name]). */
  name?: string;
  attrs?: Record<string, AttrValue>;
  domain?: string;
}

export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

function rawBytes(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function dataTypeOf(data: TensorData): number {
  if (data instanceof Float32Array) return DataType.FLOAT;
  if (data instanceof Int32Array) return DataType.INT32;
  if (data instanceof BigInt64Array) return DataType.INT64;
  return DataType.UINT8;
}

function attribute(name: string, v: AttrValue): AttributeProtoObj {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: AttributeType.INT, i: v } : { name, type: AttributeType.FLOAT, f: v };
  }
  if (Array.isArray(v)) {
    return v.every(Number.isInteger) ? { name, type: AttributeType.INTS, ints: v } : { name, type: AttributeType.FLOATS, floats: v };
  }
  if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: AttributeType.FLOATS, floats: v.floats };
  return { name, type: AttributeType.INTS, ints: v.ints };
}

function valueInfo(name: string, type: DataTypeName, shape: Dim[]): ValueInfoProtoObj {
  const dim: DimensionObj[] = shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d }));
  return { name, type: { tensor_type: { elem_type: DataType[type], shape: { dim } } } };
}

export interface ModelOptions {
  /** Default opset 17 (LayerNormalization). */
  opset?: number;
  irVersion?: number;
  producer?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

export class GraphBuilder {
  readonly nodes: NodeProtoObj[] = [];
  readonly initializers: TensorProtoObj[] = [];
  readonly inputs: ValueInfoProtoObj[] = [];
  readonly outputs: ValueInfoProtoObj[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;

  constructor(readonly name = 'graph') {}

  /** A fresh, not yet defined value name with the given prefix (claimed when used). */
  fresh(prefix: string): string {
    let n: string;
    do n = `${prefix}_${this.counter++}`;
    while (this.names.has(n));
    return n;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`ONNX graph '${this.name}': value name '${name}' is already defined`);
    this.names.add(name);
    return name;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  input(name: string, type: DataTypeName, shape: Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), type, shape));
    return name;
  }

  /** Marks an existing value as a graph output. */
  output(name: string, type: DataTypeName, shape: Dim[]): string {
    if (!this.names.has(name)) throw new Error(`ONNX graph '${this.name}': output '${name}' is not produced by any node`);
    this.outputs.push(valueInfo(name, type, shape));
    return name;
  }

  /** Adds a named weight tensor (stored as raw little-endian bytes). Returns its name. */
  initializer(name: string, dims: number[], data: TensorData, docString?: string): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) {
      throw new Error(`ONNX initializer '${name}': dims [${dims.join(', ')}] hold ${n} values but data has ${data.length}`);
    }
    const t: TensorProtoObj = { name: this.claim(name), dims, data_type: dataTypeOf(data), raw_data: rawBytes(data) };
    if (docString) t.doc_string = docString;
    this.initializers.push(t);
    return name;
  }

  /** A constant int64 tensor (1-D unless dims given), deduplicated by value. */
  int64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    const cached = this.constCache.get(key);
    if (cached) return cached;
    const name = this.initializer(this.fresh('const_i64'), dims, BigInt64Array.from(values.map((v) => BigInt(v))));
    this.constCache.set(key, name);
    return name;
  }

  /** A constant float scalar (rank 0 unless dims given), deduplicated by value. */
  float(value: number | number[], dims: number[] = Array.isArray(value) ? [value.length] : []): string {
    const values = Array.isArray(value) ? value : [value];
    const key = `f32:${dims.join('x')}:${values.join(',')}`;
    const cached = this.constCache.get(key);
    if (cached) return cached;
    const name = this.initializer(this.fresh('const_f32'), dims, Float32Array.from(values));
    this.constCache.set(key, name);
    return name;
  }

  /** Adds a node; returns the name of its first output. Use `nodeMulti` for several outputs. */
  node(opType: string, inputs: string[], opts: NodeOptions = {}): string {
    return this.nodeMulti(opType, inputs, opts)[0];
  }

  nodeMulti(opType: string, inputs: string[], opts: NodeOptions = {}): string[] {
    for (const i of inputs) {
      if (i !== '' && !this.names.has(i)) throw new Error(`ONNX node ${opType}: input '${i}' is not defined`);
    }
    const outputs = opts.outputs ?? [opts.name ?? this.fresh(opType)];
    for (const o of outputs) this.claim(o);
    const node: NodeProtoObj = {
      name: `${opType}_${this.nodes.length}`,
      op_type: opType,
      input: inputs,
      output: outputs,
      attribute: Object.entries(opts.attrs ?? {}).map(([k, v]) => attribute(k, v)),
    };
    if (opts.domain) node.domain = opts.domain;
    this.nodes.push(node);
    return outputs;
  }

  toModel(opts: ModelOptions = {}): ModelProtoObj {
    if (this.outputs.length === 0) throw new Error(`ONNX graph '${this.name}' has no outputs`);
    const model: ModelProtoObj = {
      ir_version: opts.irVersion ?? 8,
      opset_import: [{ domain: '', version: opts.opset ?? 17 }],
      producer_name: opts.producer ?? 'synthtune',
      producer_version: '0.1.0',
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    if (opts.docString) model.doc_string = opts.docString;
    if (opts.metadata) model.metadata_props = Object.entries(opts.metadata).map(([key, value]) => ({ key, value }));
    return model;
  }

  toBytes(opts: ModelOptions = {}): Uint8Array {
    return encodeModel(this.toModel(opts));
  }
}
