/**
 * The subset of onnx.proto (ONNX IR, proto2) that synthtune writes and reads, as a protobufjs
 * JSON descriptor: ModelProto → GraphProto → NodeProto / TensorProto / ValueInfoProto.
 *
 * Why a descriptor in code rather than a .proto file or a package: it is ~80 lines, needs no file
 * lookup at run time (dist/ layout, bundlers), and field numbers are the only thing that matters
 * on the wire. Numbers follow onnx/onnx.proto (IR version 8+). Fields we never emit (sparse
 * tensors, functions, training info) are left out; decoding skips unknown fields.
 */
import * as protobuf from 'protobufjs';

/** TensorProto.DataType values we use. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
} as const;
export type DataTypeName = keyof typeof DataType;

/** AttributeProto.AttributeType values. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

const f = (id: number, type: string, rule?: 'repeated') => (rule ? { id, type, rule } : { id, type });

const descriptor = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            ir_version: f(1, 'int64'),
            opset_import: f(8, 'OperatorSetIdProto', 'repeated'),
            producer_name: f(2, 'string'),
            producer_version: f(3, 'string'),
            domain: f(4, 'string'),
            model_version: f(5, 'int64'),
            doc_string: f(6, 'string'),
            graph: f(7, 'GraphProto'),
            metadata_props: f(14, 'StringStringEntryProto', 'repeated'),
          },
        },
        OperatorSetIdProto: { fields: { domain: f(1, 'string'), version: f(2, 'int64') } },
        StringStringEntryProto: { fields: { key: f(1, 'string'), value: f(2, 'string') } },
        GraphProto: {
          fields: {
            node: f(1, 'NodeProto', 'repeated'),
            name: f(2, 'string'),
            initializer: f(5, 'TensorProto', 'repeated'),
            doc_string: f(10, 'string'),
            input: f(11, 'ValueInfoProto', 'repeated'),
            output: f(12, 'ValueInfoProto', 'repeated'),
            value_info: f(13, 'ValueInfoProto', 'repeated'),
          },
        },
        NodeProto: {
          fields: {
            input: f(1, 'string', 'repeated'),
            output: f(2, 'string', 'repeated'),
            name: f(3, 'string'),
            op_type: f(4, 'string'),
            attribute: f(5, 'AttributeProto', 'repeated'),
            doc_string: f(6, 'string'),
            domain: f(7, 'string'),
          },
        },
        AttributeProto: {
          fields: {
            name: f(1, 'string'),
            f: f(2, 'float'),
            i: f(3, 'int64'),
            s: f(4, 'bytes'),
            t: f(5, 'TensorProto'),
            g: f(6, 'GraphProto'),
            floats: f(7, 'float', 'repeated'),
            ints: f(8, 'int64', 'repeated'),
            strings: f(9, 'bytes', 'repeated'),
            doc_string: f(13, 'string'),
            type: f(20, 'int32'),
          },
        },
        TensorProto: {
          fields: {
            dims: f(1, 'int64', 'repeated'),
            data_type: f(2, 'int32'),
            float_data: f(4, 'float', 'repeated'),
            int32_data: f(5, 'int32', 'repeated'),
            int64_data: f(7, 'int64', 'repeated'),
            name: f(8, 'string'),
            raw_data: f(9, 'bytes'),
            doc_string: f(12, 'string'),
          },
        },
        ValueInfoProto: { fields: { name: f(1, 'string'), type: f(2, 'TypeProto'), doc_string: f(3, 'string') } },
        TypeProto: {
          fields: { tensor_type: f(1, 'TypeProtoTensor'), denotation: f(6, 'string') },
        },
        TypeProtoTensor: { fields: { elem_type: f(1, 'int32'), shape: f(2, 'TensorShapeProto') } },
        TensorShapeProto: { fields: { dim: f(1, 'Dimension', 'repeated') } },
        Dimension: { fields: { dim_value: f(1, 'int64'), dim_param: f(2, 'string'), denotation: f(3, 'string') } },
      },
    },
  },
};

// --- plain-object shapes of the messages (what encodeModel takes and decodeModel returns) ---

export interface TensorProtoObj {
  name: string;
  dims: number[];
  data_type: number;
  raw_data?: Uint8Array;
  float_data?: number[];
  int64_data?: number[];
  int32_data?: number[];
  doc_string?: string;
}
export interface AttributeProtoObj {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProtoObj;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}
export interface NodeProtoObj {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: AttributeProtoObj[];
  domain?: string;
}
export interface DimensionObj {
  dim_value?: number;
  dim_param?: string;
}
export interface ValueInfoProtoObj {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: DimensionObj[] } } };
  doc_string?: string;
}
export interface GraphProtoObj {
  name: string;
  node: NodeProtoObj[];
  initializer: TensorProtoObj[];
  input: ValueInfoProtoObj[];
  output: ValueInfoProtoObj[];
  doc_string?: string;
}
export interface ModelProtoObj {
  ir_version: number;
  opset_import: { domain: string; version: number }[];
  producer_name: string;
  producer_version: string;
  doc_string?: string;
  graph: GraphProtoObj;
  metadata_props?: { key: string; value: string }[];
}

let modelType: protobuf.Type | undefined;
function ModelProto(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(descriptor).lookupType('onnx.ModelProto');
  return modelType;
}

/** Serialises a model to the bytes of an .onnx file. */
export function encodeModel(model: ModelProtoObj): Uint8Array {
  const T = ModelProto();
  return T.encode(T.fromObject(model)).finish();
}

/** Parses .onnx bytes (int64 fields come back as plain numbers, bytes as Uint8Array). */
export function decodeModel(bytes: Uint8Array): ModelProtoObj {
  const T = ModelProto();
  const msg = T.decode(bytes);
  return T.toObject(msg, { longs: Number, defaults: false, arrays: true }) as ModelProtoObj;
}
