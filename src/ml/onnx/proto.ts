// The ONNX schema subset of onnx.proto (beside this file) as a string, and the typed records the exporter
// builds before protobufjs serialises them. Embedded rather than read with fs at run time: the Electron main
// process is bundled by electron-vite into out/main, where a file beside the source would not exist, while a
// string travels with the code under tsx, vitest and the bundle alike. test/ml/onnx.test.ts checks that this
// text and onnx.proto are identical, so edit both together.
import protobuf from 'protobufjs';

export const ONNX_PROTO = `// The part of the ONNX model schema that src/ml/onnx/export.ts writes: a subset of onnx/onnx.proto from
// https://github.com/onnx/onnx (Apache-2.0), with the ONNX spec's message names and field numbers, so the
// bytes it produces are ordinary ONNX models that any ONNX reader (ONNX Runtime included) loads.
//
// Why a subset: the exporter only writes a single inference graph of dense float tensors (nodes, attributes,
// initializers, typed inputs and outputs, metadata). Training info, functions, sparse tensors, sequences,
// maps and external data are left out; a reader skips fields it does not know, and we never read them.
// Why written out here rather than generated: protobufjs parses this text at runtime (proto.ts embeds
// the same text so bundles need no file beside them; test/ml/onnx.test.ts checks the two are identical).

syntax = "proto2";

package onnx;

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message OperatorSetIdProto {
  // Empty or absent: the default ONNX operator set.
  optional string domain = 1;
  optional int64 version = 2;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message GraphProto {
  // Topologically sorted.
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
}

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0;
    FLOAT = 1;
    INT = 2;
    STRING = 3;
    TENSOR = 4;
    GRAPH = 5;
    FLOATS = 6;
    INTS = 7;
    STRINGS = 8;
    TENSORS = 9;
    GRAPHS = 10;
    SPARSE_TENSOR = 11;
    SPARSE_TENSORS = 12;
    TYPE_PROTO = 13;
    TYPE_PROTOS = 14;
  }

  optional string name = 1;
  optional string doc_string = 13;
  // Says which one of the value fields below is set (required since IR version 2).
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}

message TypeProto {
  message Tensor {
    // A TensorProto.DataType value.
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }

  oneof value {
    Tensor tensor_type = 1;
  }
  optional string denotation = 6;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      // A named dimension whose size is known only at run time (e.g. the batch "N").
      string dim_param = 2;
    }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0;
    FLOAT = 1;
    UINT8 = 2;
    INT8 = 3;
    UINT16 = 4;
    INT16 = 5;
    INT32 = 6;
    INT64 = 7;
    STRING = 8;
    BOOL = 9;
    FLOAT16 = 10;
    DOUBLE = 11;
    UINT32 = 12;
    UINT64 = 13;
    COMPLEX64 = 14;
    COMPLEX128 = 15;
    BFLOAT16 = 16;
  }

  repeated int64 dims = 1;
  // A DataType value.
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional string doc_string = 12;
  // Fixed-width little-endian element bytes (what the exporter uses for float weights).
  optional bytes raw_data = 9;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
}
`;

/** TensorProto.DataType values the exporter uses. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** AttributeProto.AttributeType values the exporter uses. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

// Plain objects in protobufjs's camelCase field names (op_type -> opType); int64 fields are JS numbers.
export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  rawData?: Uint8Array;
  int64Data?: number[];
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  ints?: number[];
}

export interface NodeProto {
  name: string;
  opType: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
}

export interface ValueInfoProto {
  name: string;
  type: {
    tensorType: {
      elemType: number;
      shape: { dim: ({ dimValue: number } | { dimParam: string })[] };
    };
  };
}

export interface ModelProto {
  irVersion: number;
  opsetImport: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  graph: {
    name: string;
    node: NodeProto[];
    initializer: TensorProto[];
    input: ValueInfoProto[];
    output: ValueInfoProto[];
  };
  metadataProps: { key: string; value: string }[];
}

let modelType: protobuf.Type | undefined;

/** The ModelProto message type, parsed from ONNX_PROTO once. */
function modelProto(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_PROTO).root.lookupType('onnx.ModelProto');
  return modelType;
}

/** Serialise a model to ONNX bytes. */
export function encodeModel(model: ModelProto): Uint8Array {
  const type = modelProto();
  return type.encode(type.fromObject(model)).finish();
}

/** Parse ONNX bytes (the fields of the subset; others are skipped). int64 fields come back as numbers. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const type = modelProto();
  return type.toObject(type.decode(bytes), { longs: Number, arrays: true }) as ModelProto;
}
