/**
 * Writes a BERT-architecture encoder as an ONNX graph from a config and named weight tensors
 * (Hugging Face BertModel / BertForSequenceClassification names). Used for the project's own
 * tiny test models, the MiniLM-sized bench model, and later for exporting fine-tuned weights.
 *
 * Shapes: B batch, S sequence length (both dynamic), H hidden, A heads, D = H / A head size,
 * I intermediate (FFN) size, V vocabulary, L number of labels.
 *
 *   inputs   input_ids, attention_mask, token_type_ids   int64 [B, S]   (no token_type_ids when typeVocabSize = 0)
 *   embed    Gather(word) + Gather(position, 0..S-1) + Gather(token type) → LayerNorm     [B, S, H]
 *   layer×N  x1 = LN(x + Wo·Attention(x, mask)); x2 = LN(x1 + W2·GELU(W1·x1))         [B, S, H]
 *   outputs  last_hidden_state [B, S, H]
 *            sentence_embedding [B, H]   when pooling is 'mean' (masked) or 'cls' (optionally L2-normalised)
 *            logits [B, L]               when head is 'classifier' (tanh pooler on [CLS], then linear)
 *
 * Linear weights arrive as HF stores them ([out, in]) and are stored transposed ([in, out]) under
 * the same name so each projection is one MatMul; the model's metadata says so (linear_layout).
 * arch 'distilbert' writes the same graph under HF DistilBERT names (./distilbert.ts), without
 * token_type_ids (typeVocabSize must be 0).
 * Standard opset-17 ops only: Gather, Shape, Range, Add, Mul, Sub, Div, MatMul, Reshape,
 * Transpose, Softmax, Erf (exact GELU), LayerNormalization, Cast, Unsqueeze, ReduceSum, Sqrt, Max, Tanh.
 */
import { GraphBuilder } from './graph';
import { bertToDistilbertName, distilbertConfigFromHf, distilbertConfigToHf } from './distilbert';

export interface BertConfig {
  /** Naming of weights and config.json: 'bert' (default) or 'distilbert' (same math, see ./distilbert.ts). */
  arch?: 'bert' | 'distilbert';
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  maxPosition: number;
  /** 0 = the model has no token type embeddings and no token_type_ids input (DistilBERT-like). */
  typeVocabSize: number;
  layerNormEps: number;
  /** Adds a sentence_embedding output. Default 'none'. */
  pooling?: 'mean' | 'cls' | 'none';
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
  if (c.head === 'classifier') {
    s.set('pooler.dense.weight', [H, H]);
    s.set('pooler.dense.bias', [H]);
    // classifier.weight is [L, H]; L is read from the weights (checked separately).
  }
  return s;
}

export function checkBertConfig(c: BertConfig): void {
  for (const k of ['vocabSize', 'hidden', 'layers', 'heads', 'intermediate', 'maxPosition'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`BERT config: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (!Number.isInteger(c.typeVocabSize) || c.typeVocabSize < 0) {
    throw new Error(`BERT config: typeVocabSize must be an integer ≥ 0, got ${c.typeVocabSize}`);
  }
  if (c.arch === 'distilbert' && c.typeVocabSize !== 0) throw new Error('DistilBERT config: typeVocabSize must be 0 (no token type embeddings)');
  if (c.arch === 'distilbert' && c.head) throw new Error('DistilBERT config: classifier heads are not supported');
  if (c.hidden % c.heads !== 0) throw new Error(`BERT config: hidden (${c.hidden}) must be divisible by heads (${c.heads})`);
  if (!(c.layerNormEps > 0)) throw new Error(`BERT config: layerNormEps must be > 0, got ${c.layerNormEps}`);
}

/**
 * Looks a weight up by (BERT) HF name, accepting the 'bert.' prefix of *ForSequenceClassification
 * checkpoints and the DistilBERT name of the same tensor (optionally prefixed 'distilbert.').
 */
export function getWeight(weights: WeightMap, name: string, dims?: number[]): NamedTensor {
  const d = bertToDistilbertName(name);
  const w = weights.get(name) ?? weights.get(`bert.${name}`) ?? weights.get(d) ?? weights.get(`distilbert.${d}`);
  if (!w) throw new Error(`BERT weights: missing tensor '${name}'`);
  const n = w.dims.reduce((a, b) => a * b, 1);
  if (n !== w.data.length) throw new Error(`BERT weights: '${name}' has dims [${w.dims.join(', ')}] but ${w.data.length} values`);
  if (dims && (dims.length !== w.dims.length || dims.some((d, i) => d !== w.dims[i]))) {
    throw new Error(`BERT weights: '${name}' has shape [${w.dims.join(', ')}], expected [${dims.join(', ')}]`);
  }
  return w;
}

/** Checks every tensor the config needs is present with the right shape; returns the label count. */
export function checkBertWeights(c: BertConfig, weights: WeightMap): number {
  for (const [name, dims] of bertWeightShapes(c)) getWeight(weights, name, dims);
  if (c.head !== 'classifier') return 0;
  const cw = getWeight(weights, 'classifier.weight');
  if (cw.dims.length !== 2 || cw.dims[1] !== c.hidden) {
    throw new Error(`BERT weights: 'classifier.weight' has shape [${cw.dims.join(', ')}], expected [labels, ${c.hidden}]`);
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
  const onnxName = config.arch === 'distilbert' ? bertToDistilbertName : (n: string) => n;

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
  const types = config.typeVocabSize > 0 ? g.input('token_type_ids', 'INT64', ['batch', 'sequence']) : null;

  // --- embeddings: word + position + token type, LayerNorm ---          [B, S, H]
  const seqLen = g.node('Gather', [g.node('Shape', [ids]), g.int64([1], [])], { attrs: { axis: 0 } });
  const positions = g.node('Range', [g.int64([0], []), seqLen, g.int64([1], [])]);
  let emb = g.node('Add', [
    g.node('Gather', [param('embeddings.word_embeddings.weight'), ids], { attrs: { axis: 0 } }),
    g.node('Gather', [param('embeddings.position_embeddings.weight'), positions], { attrs: { axis: 0 } }),
  ]);
  if (types) emb = g.node('Add', [emb, g.node('Gather', [param('embeddings.token_type_embeddings.weight'), types], { attrs: { axis: 0 } })]);
  let x = layerNorm(emb, 'embeddings.LayerNorm');

  // --- attention mask → additive bias on the scores: (1 - mask) · MASK_BIAS   [B, 1, 1, S] ---
  const maskF = g.node('Cast', [mask], { attrs: { to: 1 } });
  const maskBias = g.node('Unsqueeze', [g.node('Mul', [g.node('Sub', [g.float(1), maskF]), g.float(MASK_BIAS)]), g.int64([1, 2])]);

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
    const scores = g.node('Add', [g.node('Mul', [g.node('MatMul', [q, k]), scale]), maskBias]); // [B, A, S, S]
    const probs = g.node('Softmax', [scores], { attrs: { axis: -1 } });
    const ctx = g.node('Reshape', [g.node('Transpose', [g.node('MatMul', [probs, v])], { attrs: { perm: [0, 2, 1, 3] } }), mergedShape]);
    const x1 = layerNorm(g.node('Add', [linear(ctx, `${p}.attention.output.dense`), x]), `${p}.attention.output.LayerNorm`);
    const h = linear(x1, `${p}.intermediate.dense`); // [B, S, I]
    const gelu = g.node('Mul', [g.node('Mul', [h, g.float(0.5)]), g.node('Add', [g.float(1), g.node('Erf', [g.node('Div', [h, g.float(Math.SQRT2)])])])]);
    x = layerNorm(g.node('Add', [linear(gelu, `${p}.output.dense`), x1]), `${p}.output.LayerNorm`);
  }
  const last = g.node('Identity', [x], { name: 'last_hidden_state' });
  g.output(last, 'FLOAT', ['batch', 'sequence', H]);

  // --- optional sentence embedding ---                                     [B, H]
  const pooling = config.pooling ?? 'none';
  if (pooling !== 'none') {
    let pooled: string;
    if (pooling === 'cls') {
      pooled = g.node('Gather', [last, g.int64([0], [])], { attrs: { axis: 1 } });
    } else {
      const m3 = g.node('Unsqueeze', [maskF, g.int64([2])]); // [B, S, 1]
      const sum = g.node('ReduceSum', [g.node('Mul', [last, m3]), g.int64([1])], { attrs: { keepdims: 0 } });
      const count = g.node('Max', [g.node('ReduceSum', [m3, g.int64([1])], { attrs: { keepdims: 0 } }), g.float(1e-9)]);
      pooled = g.node('Div', [sum, count]);
    }
    if (config.normalize) {
      const norm = g.node('Sqrt', [g.node('ReduceSum', [g.node('Mul', [pooled, pooled]), g.int64([-1])], { attrs: { keepdims: 1 } })]);
      pooled = g.node('Div', [pooled, g.node('Max', [norm, g.float(1e-12)])]);
    }
    g.output(g.node('Identity', [pooled], { name: 'sentence_embedding' }), 'FLOAT', ['batch', H]);
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
  return buildBertGraph(config, weights).toBytes({
    docString: `${config.arch === 'distilbert' ? 'DistilBERT' : 'BERT'} encoder written by synthtune`,
    metadata: {
      linear_layout: 'in_out',
      architecture: config.arch === 'distilbert' ? 'DistilBertModel' : config.head === 'classifier' ? 'BertForSequenceClassification' : 'BertModel',
    },
  });
}

/** Reads a BertConfig from a Hugging Face config.json object (bert, and the same keys for similar models; distilbert). */
export function bertConfigFromHf(json: Record<string, unknown>, extra: Partial<BertConfig> = {}): BertConfig {
  if (json.model_type === 'distilbert') return distilbertConfigFromHf(json, extra);
  const num = (k: string, dflt?: number) => {
    const v = json[k];
    if (typeof v === 'number') return v;
    if (dflt !== undefined) return dflt;
    throw new Error(`config.json: missing numeric '${k}'`);
  };
  return {
    vocabSize: num('vocab_size'),
    hidden: num('hidden_size'),
    layers: num('num_hidden_layers'),
    heads: num('num_attention_heads'),
    intermediate: num('intermediate_size'),
    maxPosition: num('max_position_embeddings', 512),
    typeVocabSize: num('type_vocab_size', 2),
    layerNormEps: num('layer_norm_eps', 1e-12),
    ...extra,
  };
}

/** A Hugging Face config.json object for a BertConfig (what transformers / transformers.js expect). */
export function bertConfigToHf(c: BertConfig, numLabels = 0): Record<string, unknown> {
  if (c.arch === 'distilbert') return distilbertConfigToHf(c);
  const json: Record<string, unknown> = {
    architectures: [c.head === 'classifier' ? 'BertForSequenceClassification' : 'BertModel'],
    model_type: 'bert',
    vocab_size: c.vocabSize,
    hidden_size: c.hidden,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    intermediate_size: c.intermediate,
    max_position_embeddings: c.maxPosition,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
    initializer_range: 0.02,
    pad_token_id: 0,
    position_embedding_type: 'absolute',
  };
  if (c.head === 'classifier') {
    json.id2label = Object.fromEntries(Array.from({ length: numLabels }, (_, i) => [String(i), `LABEL_${i}`]));
    json.label2id = Object.fromEntries(Array.from({ length: numLabels }, (_, i) => [`LABEL_${i}`, i]));
  }
  return json;
}
