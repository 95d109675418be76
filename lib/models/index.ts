/**
 * The model layer: tokenizer, ONNX bi-encoder and cross-encoder, model resolution (folders, HF
 * cache, hub), the project's own generated tiny models, and the ONNX writer.
 *
 *   loadEncoder(ref, opts)       → { encode(texts): Promise<Float32Array [N·dim]>, dim, ... }
 *   loadCrossEncoder(ref, opts)  → { score(pairs, { sigmoid? }): Promise<Float32Array [N]>, ... }
 *   resolveModel(ref, opts)      → { dir, onnxPath, source }
 *   synthesisModelEn / synthesisModelMulti — relation miner + cross-encoder presets
 *
 * Only ./ort.ts imports onnxruntime-node.
 */
export { loadEncoder, lengthSortedBatches, l2NormalizeRows, meanPool, type Encoder, type EncoderOptions, type EncodeCallOptions, type LoadOptions, type Pooling, type CallStats } from './encoder';
export { loadCrossEncoder, sigmoid, type CrossEncoder, type ScoreOptions } from './cross-encoder';
export { loadQueryGenerator, warpLogits, type QueryGenerator, type QueryGeneratorOptions, type GenerateOptions, type WarpOptions } from './seq2seq';
export {
  resolveModel,
  synthesisModelEn,
  synthesisModelMulti,
  synthesisModels,
  defaultCacheDir,
  defaultHfCacheDir,
  missingFiles,
  type ResolvedModel,
  type ResolveOptions,
  type HubDownloader,
  type SynthesisModel,
} from './resolve';
export { TextTokenizer, checkTexts, checkPairs, longestFirst, type Batch, type Encoded, type TokenizerOptions } from './tokenizer';
export { availableDevices, loadOrtModel, type Device, type SessionOptions, type OrtModel, type IoSpec } from './ort';
export { buildWordPieceTokenizer, learnWordPieceVocab, wordPieceTokenizerJson, wordPieceTokenizerConfig, type WordPieceOptions } from './wordpiece';
export { randomBertWeights, writeModelFolder, writeTinyModel, normalSampler, TINY_SHAPE, type TinyModelOptions, type ModelKind } from './tiny';
export { bertForwardRef, type ReferenceInputs, type ReferenceOutputs } from './reference-forward';
export * from './onnx';
export { ModelError } from './errors';
export {
  readModelFolder, writeSentenceTransformersFiles, writeSentenceTransformersFilesSync, stModuleFiles, poolTokens, applyDense,
  sidePromptName, isCrossEncoderFolder, DENSE_ACTIVATIONS,
  type ModelFolder, type PoolingConfig, type DenseModule, type DenseSpec, type DenseActivation, type StWriteSpec, type Similarity,
} from './st-folder';
