/**
 * The project's own small models (BERT or DistilBERT): seeded random BERT weights of any size, and a writer of a complete
 * Hugging Face / transformers.js style model folder (config.json, tokenizer.json,
 * tokenizer_config.json, onnx/model.onnx, plus sentence-transformers pooling config) for
 * bi-encoders and cross-encoders. Tests and benches use them because no pretrained weights can be
 * downloaded; the weights are random, so outputs are meaningful only as numbers to compare.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bertConfigToHf, bertWeightShapes, buildBertOnnx, type BertConfig, type WeightMap } from './onnx/bert';
import { stModuleFiles, writeSentenceTransformersFilesSync, type PoolingMode } from './st-folder';
import { buildWordPieceTokenizer } from './wordpiece';
import { OptionsError } from '../util/errors';

/** mulberry32 → standard normal samples (Box–Muller), deterministic for a seed. */
export function normalSampler(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

export interface RandomWeightOptions {
  seed?: number;
  /** Standard deviation of weights (HF initializer_range). Default 0.02. */
  std?: number;
  /** Classifier outputs when config.head is 'classifier'. Default 1 (a relevance logit). */
  numLabels?: number;
}

/** Random weights with HF names for a config: N(0, std²) matrices/biases, LayerNorm γ ≈ 1, β ≈ 0. */
export function randomBertWeights(config: BertConfig, opts: RandomWeightOptions = {}): WeightMap {
  const rand = normalSampler(opts.seed ?? 42);
  const std = opts.std ?? 0.02;
  const shapes = bertWeightShapes(config);
  if (config.head === 'classifier') {
    const L = opts.numLabels ?? 1;
    shapes.set('classifier.weight', [L, config.hidden]);
    shapes.set('classifier.bias', [L]);
  }
  const weights: WeightMap = new Map();
  for (const [name, dims] of shapes) {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    const isGamma = name.endsWith('LayerNorm.weight');
    for (let i = 0; i < data.length; i++) data[i] = (isGamma ? 1 : 0) + std * rand();
    weights.set(name, { dims, data });
  }
  return weights;
}

export type ModelKind = 'bi-encoder' | 'cross-encoder';

export interface ModelFolderSpec {
  config: BertConfig;
  weights: WeightMap;
  tokenizerJson: unknown;
  tokenizerConfig: unknown;
  /** 'cross-encoder' requires config.head = 'classifier'. */
  kind: ModelKind;
  /** sentence-transformers pooling written to 1_Pooling/config.json (bi-encoders). Default 'mean'; null: no ST files. */
  stPooling?: PoolingMode | null;
  /** Writes a modules.json including a Normalize module. */
  stNormalize?: boolean;
}

/** Writes a model folder in the HF / transformers.js layout; returns the folder. */
export function writeModelFolder(dir: string, spec: ModelFolderSpec): string {
  if (spec.kind === 'cross-encoder' && spec.config.head !== 'classifier') {
    throw new OptionsError("writeModelFolder: a cross-encoder needs config.head = 'classifier'");
  }
  fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  const numLabels = spec.weights.get('classifier.weight')?.dims[0] ?? 0;
  const write = (f: string, obj: unknown) => fs.writeFileSync(path.join(dir, f), JSON.stringify(obj, null, 2));
  write('config.json', bertConfigToHf(spec.config, numLabels));
  write('tokenizer.json', spec.tokenizerJson);
  write('tokenizer_config.json', spec.tokenizerConfig);
  fs.writeFileSync(path.join(dir, 'onnx', 'model.onnx'), buildBertOnnx(spec.config, spec.weights));
  if (spec.kind === 'bi-encoder' && spec.stPooling !== null) {
    writeSentenceTransformersFilesSync(dir, { hidden: spec.config.hidden, pooling: spec.stPooling ?? 'mean', normalize: Boolean(spec.stNormalize) });
  }
  return dir;
}

/**
 * The sentence-transformers files that declare a model's pooling (and optional Normalize), by
 * relative path (lib/models/st-folder.ts writes them). Used for generated models and exports.
 */
export function sentenceTransformersModules(dim: number, pooling: PoolingMode, normalize: boolean): Record<string, unknown> {
  return stModuleFiles({ hidden: dim, pooling, normalize });
}

/** Default tiny shape: 2 layers, hidden 32, 4 heads. */
export const TINY_SHAPE = { hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPosition: 128, typeVocabSize: 2, layerNormEps: 1e-12 };

export interface TinyModelOptions extends RandomWeightOptions {
  kind?: ModelKind;
  /** Texts to learn the WordPiece vocabulary from (default: a built-in sample). */
  texts?: string[];
  vocabSize?: number;
  /** Use this tokenizer instead of learning one (its vocabulary size sets the model's). */
  tokenizer?: { tokenizerJson: unknown; tokenizerConfig: unknown };
  /** 'distilbert' writes a DistilBERT folder (DistilBERT names and config.json, no token types). Default 'bert'. */
  arch?: 'bert' | 'distilbert';
  /** Overrides of the model shape (hidden, layers, heads, ...). */
  shape?: Partial<Omit<BertConfig, 'vocabSize'>>;
  stPooling?: PoolingMode | null;
  stNormalize?: boolean;
}

const SAMPLE_TEXT = [
  'The quick brown fox jumps over the lazy dog.',
  'Embedding models map queries and documents to vectors; relevant pairs end up close together.',
  'A cross-encoder reads the query and the document together and outputs one relevance score.',
  'Domain adaptation with synthetic data: generate queries, mine negatives, label with a teacher.',
  'Protein folding, gene expression and cell signalling are studied in molecular biology.',
  'Vaccines reduce the risk of infection; clinical trials measure efficacy and safety.',
  'Numbers like 3.14, 42 and 2024 appear in text, as do e-mail addresses and URLs.',
  'Ünïcödé àccents are stripped; 中文 characters are split one by one.',
];

/** Generates a tiny model folder (tokenizer learnt from texts + random BERT) and returns its config. */
export function writeTinyModel(dir: string, opts: TinyModelOptions = {}): { dir: string; config: BertConfig; weights: WeightMap } {
  const kind = opts.kind ?? 'bi-encoder';
  const tok = opts.tokenizer ?? buildWordPieceTokenizer(opts.texts ?? SAMPLE_TEXT, { vocabSize: opts.vocabSize ?? 1000 });
  const vocab = (tok.tokenizerJson as { model: { vocab: Record<string, number> } }).model.vocab;
  let vocabSize = 0;
  for (const id of Object.values(vocab)) vocabSize = Math.max(vocabSize, id + 1);
  const config: BertConfig = {
    ...TINY_SHAPE,
    ...(opts.arch === 'distilbert' ? { arch: 'distilbert' as const, typeVocabSize: 0 } : {}),
    ...opts.shape,
    vocabSize,
  };
  if (kind === 'cross-encoder') config.head = 'classifier';
  const weights = randomBertWeights(config, opts);
  writeModelFolder(dir, {
    config,
    weights,
    tokenizerJson: tok.tokenizerJson,
    tokenizerConfig: tok.tokenizerConfig,
    kind,
    stPooling: opts.stPooling,
    stNormalize: opts.stNormalize,
  });
  return { dir, config, weights };
}
