/**
 * Writes a BERT-architecture encoder as an ONNX graph from a config and named weight tensors
 * (Hugging Face BertModel / BertForSequenceClassification names). Used for the project's own
 * tiny test models, the MiniLM-sized bench model, and later for exporting fine-tuned weights.
 *
 * Shapes: B batch, S sequence length (both dynamic), H hidden, A heads, D = H / A head size,
 * I intermediate (FFN) size, V vocabulary, L number of labels.
 *
 *   inputs   input_ids, attention_mask, token_type_ids   int64 [B, S]   (no token_type_ids when typeVocabSize = 0,
 *                                                                       nor for RoBERTa / XLM-R's single type)
 *   embed    Gather(word) + Gather(position, 0..S-1) + Gather(token type) → LayerNorm     [B, S, H]
 *   layer×N  x1 = LN(x + Wo·Attention(x, mask)); x2 = LN(x1 + W2·GELU(W1·x1))         [B, S, H]
 *   outputs  last_hidden_state [B, S, H]
 *            sentence_embedding [B, M·H] when pooling is set: M = 1 mode, or a list of modes concatenated
 *                                        (as sentence-transformers' Pooling), optionally L2-normalised
 *            logits [B, L]               when head is 'classifier' (tanh pooler on [CLS], then linear)
 *
 * Linear weights arrive as HF stores them ([out, in]) and are stored transposed ([in, out]) under
 * the same name so each projection is one MatMul; the model's metadata says so (linear_layout).
 * arch 'distilbert' writes the same graph under HF DistilBERT names (./distilbert.ts), without
 * token_type_ids (typeVocabSize must be 0). arch 'roberta' / 'xlm-roberta' (./roberta.ts): BERT names,
 * position ids paddingIdx + CumSum(mask)·mask instead of Range. arch 'mpnet' (./mpnet.ts): MPNet names,
 * RoBERTa positions, no token types, and a relative-position bias on every layer's scores
 * (Gather(relative_attention_bias.weight, Gather(bucket table, j − i)) → [A, S, S]).
 * Pooling: 'mean', 'cls', 'max', 'mean_sqrt_len_tokens', 'weightedmean', 'lasttoken' (sentence-transformers'
 * modes over the masked tokens; a sequence without real tokens pools to 0 except for 'cls').
 * Standard opset-17 ops only: Gather, Shape, Range, Add, Mul, Sub, Div, MatMul, Reshape,
 * Transpose, Softmax, Erf (exact GELU), LayerNormalization, Cast, Unsqueeze, ReduceSum, Sqrt, Max, Tanh,
 * CumSum, ReduceMax, Where, Equal, Min.
 */
import { GraphBuilder } from './graph';
import { bertToDistilbertName, distilbertConfigFromHf, distilbertConfigToHf } from './distilbert';
import { bertToMpnetName, mpnetConfigFromHf, mpnetConfigToHf, relativeBucket, RELATIVE_BIAS_NAME } from './mpnet';
import { isRobertaArch, robertaConfigFromHf, robertaConfigToHf } from './roberta';
import { hfNumbers, hfShape, hfShapeKeys, HF_TRAINING_KEYS } from './hf-config';
import { ModelError } from '../errors';

/** Architectures of the BERT family synthtune reads, trains and writes (config.json model_type). */
export const ARCHS = ['bert', 'distilbert', 'roberta', 'xlm-roberta', 'mpnet'] as const;
export type Arch = (typeof ARCHS)[number];

/** sentence-transformers pooling modes (1_Pooling/config.json's pooling_mode_* keys, without the prefix). */
export const POOLING_MODES = ['mean', 'cls', 'max', 'mean_sqrt_len_tokens', 'weightedmean', 'lasttoken'] as const;
export type PoolingMode = (typeof POOLING_MODES)[number];

export interface BertConfig {
  /**
   * Naming of weights and config.json: 'bert' (default), 'distilbert' (./distilbert.ts), 'roberta' /
   * 'xlm-roberta' (./roberta.ts) or 'mpnet' (./mpnet.ts); the math differs only through paddingIdx
   * and relativeBuckets below.
   */
  arch?: Arch;
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  maxPosition: number;
  /** 0 = the model has no token type embeddings and no token_type_ids input (DistilBERT-like). */
  typeVocabSize: number;
  layerNormEps: number;
  /**
   * RoBERTa-style position ids (RoBERTa, XLM-R, MPNet): real tokens get paddingIdx + 1, + 2, … (counting
   * real tokens), padded ones paddingIdx; at most maxPosition − paddingIdx − 1 tokens. Absent: 0..S-1.
   */
  paddingIdx?: number;
  /** MPNet: relative attention bias buckets (32), weight 'encoder.relative_attention_bias.weight' [buckets, heads]. */
  relativeBuckets?: number;
  /** Adds a sentence_embedding output: one mode, or several concatenated in order. Default 'none'. */
  pooling?: PoolingMode | PoolingMode[] | 'none';
  /** L2-normalise sentence_embedding. */
  normalize?: boolean;
  /** Adds pooler + classifier → logits (cross-encoders). */
  head?: 'classifier';
}

export interface NamedTensor {
  dims: number[];
  data: Float32Array;
}
export type WeightMap = Map<string, NamedTensor>;

/** Value added to attention scores of padded keys (exp underflows to exactly 0 in float32). */
export const MASK_BIAS = -1e9;

/** The HF weight names a BERT of this config needs, with their shapes (HF layout). */
export function bertWeightShapes(c: BertConfig): Map<string, number[]> {
  const H = c.hidden;
  const s = new Map<string, number[]>();
  s.set('embeddings.word_embeddings.weight', [c.vocabSize, H]);
  s.set('embeddings.position_embeddings.weight', [c.maxPosition, H]);
  if (c.typeVocabSize > 0) s.set('embeddings.token_type_embeddings.weight', [c.typeVocabSize, H]);
  s.set('embeddings.LayerNorm.weight', [H]);
  s.set('embeddings.LayerNorm.bias', [H]);
  for (let i = 0; i < c.layers; i++) {
    const p = `encoder.layer.${i}.`;
    for (const m of ['query', 'key', 'value']) {
      s.set(`${p}attention.self.${m}.weight`, [H, H]);
      s.set(`${p}attention.self.${m}.bias`, [H]);
    }
    s.set(`${p}attention.output.dense.weight`, [H, H]);
    s.set(`${p}attention.output.dense.bias`, [H]);
    s.set(`${p}attention.output.LayerNorm.weight`, [H]);
    s.set(`${p}attention.output.LayerNorm.bias`, [H]);
    s.set(`${p}intermediate.dense.weight`, [c.intermediate, H]);
    s.set(`${p}intermediate.dense.bias`, [c.intermediate]);
    s.set(`${p}output.dense.weight`, [H, c.intermediate]);
    s.set(`${p}output.dense.bias`, [H]);
    s.set(`${p}output.LayerNorm.weight`, [H]);
    s.set(`${p}output.LayerNorm.bias`, [H]);
  }
  if (c.relativeBuckets) s.set(RELATIVE_BIAS_NAME, [c.relativeBuckets, c.heads]);
  if (c.head === 'classifier') {
    s.set('pooler.dense.weight', [H, H]);
    s.set('pooler.dense.bias', [H]);
    // classifier.weight is [L, H]; L is read from the weights (checked separately).
  }
  return s;
}

export function checkBertConfig(c: BertConfig): void {
  for (const k of ['vocabSize', 'hidden', 'layers', 'heads', 'intermediate', 'maxPosition'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new ModelError(`BERT config: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (!Number.isInteger(c.typeVocabSize) || c.typeVocabSize < 0) {
    throw new ModelError(`BERT config: typeVocabSize must be an integer ≥ 0, got ${c.typeVocabSize}`);
  }
  if (c.arch === 'distilbert' && c.typeVocabSize !== 0) throw new ModelError('DistilBERT config: typeVocabSize must be 0 (no token type embeddings)');
  if (c.arch === 'distilbert' && c.head) throw new ModelError('DistilBERT config: classifier heads are not supported');
  if (c.arch !== undefined && !(ARCHS as readonly string[]).includes(c.arch)) {
    throw new ModelError(`BERT config: arch '${String(c.arch)}' is not supported (${ARCHS.join(', ')})`);
  }
  if ((isRobertaArch(c.arch) || c.arch === 'mpnet') && c.head) throw new ModelError(`${c.arch} config: classifier heads are not supported`);
  if (c.arch === 'mpnet' && c.typeVocabSize !== 0) throw new ModelError('MPNet config: typeVocabSize must be 0 (no token type embeddings)');
  if ((isRobertaArch(c.arch) || c.arch === 'mpnet') && c.paddingIdx === undefined) throw new ModelError(`${c.arch} config: paddingIdx is required`);
  if (c.arch === 'mpnet' && !c.relativeBuckets) throw new ModelError('MPNet config: relativeBuckets is required');
  if (c.paddingIdx !== undefined && !(Number.isInteger(c.paddingIdx) && c.paddingIdx >= 0 && c.paddingIdx <= c.maxPosition - 2)) {
    throw new ModelError(`BERT config: paddingIdx must be an integer in [0, maxPosition - 2], got ${c.paddingIdx}`);
  }
  if (c.relativeBuckets !== undefined && c.relativeBuckets !== 0 && !(Number.isInteger(c.relativeBuckets) && c.relativeBuckets >= 4)) {
    throw new ModelError(`BERT config: relativeBuckets must be an integer ≥ 4, got ${c.relativeBuckets}`);
  }
  if (c.pooling !== undefined && c.pooling !== 'none') poolingModes(c.pooling);
  if (c.hidden % c.heads !== 0) throw new ModelError(`BERT config: hidden (${c.hidden}) must be divisible by heads (${c.heads})`);
  if (!(c.layerNormEps > 0)) throw new ModelError(`BERT config: layerNormEps must be > 0, got ${c.layerNormEps}`);
}

/**
 * The pooling modes of a config's pooling (a mode or a list, concatenated in order): checked, at
 * least one; an unknown mode is an error naming it.
 */
export function poolingModes(p: PoolingMode | readonly PoolingMode[]): PoolingMode[] {
  const list = typeof p === 'string' ? [p] : [...p];
  if (list.length < 1 || list.length > POOLING_MODES.length) throw new ModelError(`pooling: 1 to ${POOLING_MODES.length} modes, got ${list.length}`);
  for (const m of list) {
    if (!(POOLING_MODES as readonly string[]).includes(m)) throw new ModelError(`pooling mode '${String(m)}' is not supported (${POOLING_MODES.join(', ')})`);
  }
  return list;
}

/** Longest sequence a config accepts: maxPosition, less paddingIdx + 1 with RoBERTa positions. */
export function maxSequenceLength(c: Pick<BertConfig, 'maxPosition' | 'paddingIdx'>): number {
  return c.paddingIdx === undefined ? c.maxPosition : c.maxPosition - c.paddingIdx - 1;
}

/** Initializer / checkpoint name of an internal (BERT) weight name for an arch. */
export function archWeightName(arch: Arch | undefined, name: string): string {
  if (arch === 'distilbert') return bertToDistilbertName(name);
  if (arch === 'mpnet') return bertToMpnetName(name);
  return name;
}

/**
 * Looks a weight up by (BERT) HF name, accepting the 'bert.' / 'roberta.' prefixes of checkpoints and
 * the DistilBERT / MPNet name of the same tensor (optionally prefixed 'distilbert.' / 'mpnet.').
 */
export function getWeight(weights: WeightMap, name: string, dims?: number[]): NamedTensor {
  const d = bertToDistilbertName(name);
  const m = bertToMpnetName(name);
  const w = weights.get(name) ?? weights.get(`bert.${name}`) ?? weights.get(`roberta.${name}`) ?? weights.get(d) ?? weights.get(`distilbert.${d}`) ??
    weights.get(m) ?? weights.get(`mpnet.${m}`);
  if (!w) throw new ModelError(`BERT weights: missing tensor '${name}'`);
  const n = w.dims.reduce((a, b) => a * b, 1);
  if (n !== w.data.length) throw new ModelError(`BERT weights: '${name}' has dims [${w.dims.join(', ')}] but ${w.data.length} values`);
  if (dims && (dims.length !== w.dims.length || dims.some((d, i) => d !== w.dims[i]))) {
    throw new ModelError(`BERT weights: '${name}' has shape [${w.dims.join(', ')}], expected [${dims.join(', ')}]`);
  }
  return w;
}

/** Checks every tensor the config needs is present with the right shape; returns the label count. */
export function checkBertWeights(c: BertConfig, weights: WeightMap): number {
  for (const [name, dims] of bertWeightShapes(c)) getWeight(weights, name, dims);
  if (c.head !== 'classifier') return 0;
  const cw = getWeight(weights, 'classifier.weight');
  if (cw.dims.length !== 2 || cw.dims[1] !== c.hidden) {
    throw new ModelError(`BERT weights: 'classifier.weight' has shape [${cw.dims.join(', ')}], expected [labels, ${c.hidden}]`);
  }
  getWeight(weights, 'classifier.bias', [cw.dims[0]]);
  return cw.dims[0];
}

/** [rows, cols] → [cols, rows]. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[k * rows + r] = data[r * cols + k];
  return out;
}

/** Builds the graph; returns the builder so callers can add nodes (e.g. an adapter) before serialising. */
export function buildBertGraph(config: BertConfig, weights: WeightMap): GraphBuilder {
  checkBertConfig(config);
  const numLabels = checkBertWeights(config, weights);
  const { hidden: H, heads: A } = config;
  const D = H / A;
  const eps = { float: config.layerNormEps };
  const g = new GraphBuilder(config.arch ?? 'bert');
  /** Initializer name of an internal (BERT) weight name. */
  const onnxName = (n: string) => archWeightName(config.arch, n);

  const param = (name: string) => {
    const init = onnxName(name);
    if (!g.has(init)) {
      const w = getWeight(weights, name);
      g.initializer(init, w.dims, w.data);
    }
    return init;
  };
  /** y = x·Wᵀ + b with W stored transposed. */
  const linear = (x: string, prefix: string) => {
    const wName = onnxName(`${prefix}.weight`);
    if (!g.has(wName)) {
      const w = getWeight(weights, `${prefix}.weight`);
      const [out, inp] = w.dims;
      g.initializer(wName, [inp, out], transpose2d(w.data, out, inp), 'HF Linear weight, stored transposed [in, out]');
    }
    return g.node('Add', [g.node('MatMul', [x, wName]), param(`${prefix}.bias`)]);
  };
  const layerNorm = (x: string, prefix: string) =>
    g.node('LayerNormalization', [x, param(`${prefix}.weight`), param(`${prefix}.bias`)], { attrs: { axis: -1, epsilon: eps } });

  // --- inputs ---
  const ids = g.input('input_ids', 'INT64', ['batch', 'sequence']);
  const mask = g.input('attention_mask', 'INT64', ['batch', 'sequence']);
  // RoBERTa / XLM-R (one token type): no token_type_ids input, as their usual exports; row 0 is added.
  const oneType = isRobertaArch(config.arch) && config.typeVocabSize === 1;
  const types = config.typeVocabSize > 0 && !oneType ? g.input('token_type_ids', 'INT64', ['batch', 'sequence']) : null;

  // --- embeddings: word + position + token type, LayerNorm ---          [B, S, H]
  const seqLen = g.node('Gather', [g.node('Shape', [ids]), g.int64([1], [])], { attrs: { axis: 0 } });
  const range = g.node('Range', [g.int64([0], []), seqLen, g.int64([1], [])]); // [S]
  // BERT: 0..S-1. RoBERTa / MPNet: paddingIdx + CumSum(mask) on real tokens, paddingIdx on padding.  [B, S]
  const positions = config.paddingIdx === undefined ? range : g.node('Add', [
    g.node('Mul', [g.node('CumSum', [mask, g.int64([1], [])]), mask]), g.int64([config.paddingIdx], []),
  ]);
  let emb = g.node('Add', [
    g.node('Gather', [param('embeddings.word_embeddings.weight'), ids], { attrs: { axis: 0 } }),
    g.node('Gather', [param('embeddings.position_embeddings.weight'), positions], { attrs: { axis: 0 } }),
  ]);
  if (types) emb = g.node('Add', [emb, g.node('Gather', [param('embeddings.token_type_embeddings.weight'), types], { attrs: { axis: 0 } })]);
  if (oneType) emb = g.node('Add', [emb, g.node('Gather', [param('embeddings.token_type_embeddings.weight'), g.int64([0], [])], { attrs: { axis: 0 } })]);
  let x = layerNorm(emb, 'embeddings.LayerNorm');

  // --- attention mask → additive bias on the scores: (1 - mask) · MASK_BIAS   [B, 1, 1, S] ---
  const maskF = g.node('Cast', [mask], { attrs: { to: 1 } });
  const maskBias = g.node('Unsqueeze', [g.node('Mul', [g.node('Sub', [g.float(1), maskF]), g.float(MASK_BIAS)]), g.int64([1, 2])]);

  // --- MPNet: relative-position bias, shared by all layers: table[bucket(j − i)][h] → [1, A, S, S] ---
  let relBias: string | null = null;
  if (config.relativeBuckets) {
    const M = config.maxPosition;
    const buckets = BigInt64Array.from({ length: 2 * M - 1 }, (_, r) => BigInt(relativeBucket(r - (M - 1), config.relativeBuckets)));
    const table = g.initializer('relative_position_buckets', [2 * M - 1], buckets, 'MPNet bucket of each relative position j - i, offset by maxPosition - 1');
    const rel = g.node('Sub', [g.node('Unsqueeze', [range, g.int64([0])]), g.node('Unsqueeze', [range, g.int64([1])])]); // [S, S] = j − i
    const bucket = g.node('Gather', [table, g.node('Add', [rel, g.int64([M - 1], [])])], { attrs: { axis: 0 } });
    const vals = g.node('Gather', [param(RELATIVE_BIAS_NAME), bucket], { attrs: { axis: 0 } }); // [S, S, A]
    relBias = g.node('Unsqueeze', [g.node('Transpose', [vals], { attrs: { perm: [2, 0, 1] } }), g.int64([0])]);
  }

  // --- encoder layers ---
  const headShape = g.int64([0, 0, A, D]);
  const mergedShape = g.int64([0, 0, H]);
  const scale = g.float(1 / Math.sqrt(D));
  for (let i = 0; i < config.layers; i++) {
    const p = `encoder.layer.${i}`;
    const split = (t: string, perm: number[]) => g.node('Transpose', [g.node('Reshape', [t, headShape])], { attrs: { perm } });
    const q = split(linear(x, `${p}.attention.self.query`), [0, 2, 1, 3]); // [B, A, S, D]
    const k = split(linear(x, `${p}.attention.self.key`), [0, 2, 3, 1]); //   [B, A, D, S]
    const v = split(linear(x, `${p}.attention.self.value`), [0, 2, 1, 3]); // [B, A, S, D]
    let scaled = g.node('Mul', [g.node('MatMul', [q, k]), scale]);
    if (relBias) scaled = g.node('Add', [scaled, relBias]);
    const scores = g.node('Add', [scaled, maskBias]); // [B, A, S, S]
    const probs = g.node('Softmax', [scores], { attrs: { axis: -1 } });
    const ctx = g.node('Reshape', [g.node('Transpose', [g.node('MatMul', [probs, v])], { attrs: { perm: [0, 2, 1, 3] } }), mergedShape]);
    const x1 = layerNorm(g.node('Add', [linear(ctx, `${p}.attention.output.dense`), x]), `${p}.attention.output.LayerNorm`);
    const h = linear(x1, `${p}.intermediate.dense`); // [B, S, I]
    const gelu = g.node('Mul', [g.node('Mul', [h, g.float(0.5)]), g.node('Add', [g.float(1), g.node('Erf', [g.node('Div', [h, g.float(Math.SQRT2)])])])]);
    x = layerNorm(g.node('Add', [linear(gelu, `${p}.output.dense`), x1]), `${p}.output.LayerNorm`);
  }
  const last = g.node('Identity', [x], { name: 'last_hidden_state' });
  g.output(last, 'FLOAT', ['batch', 'sequence', H]);

  // --- optional sentence embedding: each mode [B, H], concatenated ---     [B, M·H]
  const pooling = config.pooling ?? 'none';
  if (pooling !== 'none') {
    const m3 = g.node('Unsqueeze', [maskF, g.int64([2])]); // [B, S, 1]
    const count = g.node('ReduceSum', [m3, g.int64([1])], { attrs: { keepdims: 0 } }); // [B, 1]
    const masked = (w: string) => g.node('ReduceSum', [g.node('Mul', [last, w]), g.int64([1])], { attrs: { keepdims: 0 } }); // [B, H]
    const poolOne = (mode: PoolingMode): string => {
      if (mode === 'cls') return g.node('Gather', [last, g.int64([0], [])], { attrs: { axis: 1 } });
      if (mode === 'mean') return g.node('Div', [masked(m3), g.node('Max', [count, g.float(1e-9)])]);
      if (mode === 'mean_sqrt_len_tokens') return g.node('Div', [masked(m3), g.node('Sqrt', [g.node('Max', [count, g.float(1e-9)])])]);
      if (mode === 'weightedmean') {
        // weights t + 1 on real tokens
        const w = g.node('Unsqueeze', [g.node('Cast', [g.node('Add', [range, g.int64([1], [])])], { attrs: { to: 1 } }), g.int64([1])]); // [S, 1]
        const wm = g.node('Mul', [m3, w]); // [B, S, 1]
        const wsum = g.node('ReduceSum', [wm, g.int64([1])], { attrs: { keepdims: 0 } });
        return g.node('Div', [masked(wm), g.node('Max', [wsum, g.float(1e-9)])]);
      }
      if (mode === 'lasttoken') {
        // one-hot of the last real position (t · mask is largest there), times the mask (none real: 0)
        const lastIdx = g.node('ReduceMax', [g.node('Mul', [mask, range])], { attrs: { axes: [1], keepdims: 1 } }); // [B, 1]
        const sel = g.node('Mul', [g.node('Cast', [g.node('Equal', [range, lastIdx])], { attrs: { to: 1 } }), maskF]); // [B, S]
        return masked(g.node('Unsqueeze', [sel, g.int64([2])]));
      }
      // max over real tokens (padding pushed to -3e38); none real: 0
      const neg = g.node('Mul', [g.node('Sub', [g.float(1), m3]), g.float(-3e38)]);
      const mx = g.node('ReduceMax', [g.node('Add', [g.node('Mul', [last, m3]), neg])], { attrs: { axes: [1], keepdims: 0 } });
      return g.node('Mul', [mx, g.node('Min', [count, g.float(1)])]);
    };
    const modes = poolingModes(pooling);
    let pooled = modes.length === 1 ? poolOne(modes[0]) : g.node('Concat', modes.map(poolOne), { attrs: { axis: -1 } }); // [B, M·H]
    if (config.normalize) {
      const norm = g.node('Sqrt', [g.node('ReduceSum', [g.node('Mul', [pooled, pooled]), g.int64([-1])], { attrs: { keepdims: 1 } })]);
      pooled = g.node('Div', [pooled, g.node('Max', [norm, g.float(1e-12)])]);
    }
    g.output(g.node('Identity', [pooled], { name: 'sentence_embedding' }), 'FLOAT', ['batch', H * modes.length]);
  }

  // --- optional classifier head: logits = W_c · tanh(W_p · h[CLS] + b_p) + b_c ---   [B, L]
  if (config.head === 'classifier') {
    const cls = g.node('Gather', [last, g.int64([0], [])], { attrs: { axis: 1 } });
    const pooled = g.node('Tanh', [linear(cls, 'pooler.dense')]);
    g.output(g.node('Identity', [linear(pooled, 'classifier')], { name: 'logits' }), 'FLOAT', ['batch', numLabels]);
  }
  return g;
}

/** The .onnx bytes of a BERT encoder (see the file header for inputs and outputs). */
export function buildBertOnnx(config: BertConfig, weights: WeightMap): Uint8Array {
  const model = { distilbert: 'DistilBertModel', roberta: 'RobertaModel', 'xlm-roberta': 'XLMRobertaModel', mpnet: 'MPNetModel' } as Record<string, string>;
  const name = { distilbert: 'DistilBERT', roberta: 'RoBERTa', 'xlm-roberta': 'XLM-RoBERTa', mpnet: 'MPNet' } as Record<string, string>;
  return buildBertGraph(config, weights).toBytes({
    docString: `${name[config.arch ?? ''] ?? 'BERT'} encoder written by synthtune`,
    metadata: {
      linear_layout: 'in_out',
      architecture: model[config.arch ?? ''] ?? (config.head === 'classifier' ? 'BertForSequenceClassification' : 'BertModel'),
    },
  });
}

/**
 * Reads a BertConfig from a Hugging Face config.json object: model_type 'bert' (or none), 'distilbert',
 * 'roberta', 'xlm-roberta', 'mpnet'; any other model_type is an error naming it.
 */
export function bertConfigFromHf(json: Record<string, unknown>, extra: Partial<BertConfig> = {}): BertConfig {
  const type = json.model_type === undefined ? 'bert' : String(json.model_type);
  if (type === 'distilbert') return distilbertConfigFromHf(json, extra);
  if (isRobertaArch(type)) return robertaConfigFromHf(json, extra);
  if (type === 'mpnet') return mpnetConfigFromHf(json, extra);
  if (type !== 'bert') throw new ModelError(`config.json: model_type '${type}' is not supported (${ARCHS.join(', ')})`);
  const num = hfNumbers(json, 'config.json');
  return { ...hfShape(num, 512), typeVocabSize: num('type_vocab_size', 2), ...extra };
}

/** A Hugging Face config.json object for a BertConfig (what transformers / transformers.js expect). */
export function bertConfigToHf(c: BertConfig, numLabels = 0): Record<string, unknown> {
  if (c.arch === 'distilbert') return distilbertConfigToHf(c);
  if (isRobertaArch(c.arch)) return robertaConfigToHf(c);
  if (c.arch === 'mpnet') return mpnetConfigToHf(c);
  const json: Record<string, unknown> = {
    architectures: [c.head === 'classifier' ? 'BertForSequenceClassification' : 'BertModel'],
    model_type: 'bert',
    ...hfShapeKeys(c, true),
    ...HF_TRAINING_KEYS,
    pad_token_id: 0,
    position_embedding_type: 'absolute',
  };
  if (c.head === 'classifier') {
    json.id2label = Object.fromEntries(Array.from({ length: numLabels }, (_, i) => [String(i), `LABEL_${i}`]));
    json.label2id = Object.fromEntries(Array.from({ length: numLabels }, (_, i) => [`LABEL_${i}`, i]));
  }
  return json;
}
