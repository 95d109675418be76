/**
 * ONNX writing: a generic graph builder (nodes, initializers, inputs/outputs → .onnx bytes) and the
 * BERT encoder writer built on it. Pure TypeScript on protobufjs; no runtime needed to build.
 */
export { GraphBuilder, type Dim, type AttrValue, type NodeOptions, type ModelOptions, type TensorData } from './graph';
export {
  buildBertOnnx,
  buildBertGraph,
  bertWeightShapes,
  checkBertConfig,
  checkBertWeights,
  getWeight,
  transpose2d,
  MASK_BIAS,
  bertConfigFromHf,
  bertConfigToHf,
  maxSequenceLength,
  poolingModes,
  archWeightName,
  ARCHS,
  POOLING_MODES,
  type Arch,
  type PoolingMode,
  type BertConfig,
  type NamedTensor,
  type WeightMap,
} from './bert';
export { quantizeDynamic, agreement, type QuantizeOptions, type Agreement } from './quantize';
export { encodeModel, decodeModel, DataType, AttributeType, type ModelProtoObj, type GraphProtoObj, type TensorProtoObj } from './proto';
