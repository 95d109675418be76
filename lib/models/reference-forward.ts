/**
 * A plain TypeScript BERT forward pass over HF-named weights, written directly from the BERT paper /
 * HF BertModel semantics and sharing no code with the ONNX writer. It is the oracle: tests run the
 * ONNX graph through onnxruntime and compare against it, and the native training code will be
 * checked against it too. Slow (naive loops, float64 accumulation): for tiny models only.
 *
 * Shapes: S sequence length, H hidden, A heads, D = H / A, I intermediate, L labels.
 * Padded keys (mask 0) are excluded from attention; padded query rows are still computed (attending
 * to the real keys), which is exactly what the ONNX graph does, so all positions are comparable. A
 * sequence with no real token attends uniformly to all its positions, as the graph's additive mask does.
 *
 * Architectures (config.arch; weights under any of their names, see getWeight): RoBERTa / XLM-R
 * positions (paddingIdx: real tokens paddingIdx + 1 …, counted over the mask; padding paddingIdx),
 * MPNet's relative attention bias (relativeBuckets: scores[h][i][j] += table[bucket(j − i)][h]).
 * Pooling: sentence-transformers' modes (see poolRef), several concatenated in order; none real: 0, except cls.
 */
import { getWeight, poolingModes, type BertConfig, type PoolingMode, type WeightMap } from './onnx/bert';
import { relativeBucket, RELATIVE_BIAS_NAME } from './onnx/mpnet';
import { InputRangeError } from '../util/errors';

export interface ReferenceInputs {
  /** One array of token ids per sequence; all sequences of a batch have the same length S. */
  inputIds: number[][];
  attentionMask?: number[][];
  tokenTypeIds?: number[][];
}

export interface ReferenceOutputs {
  batch: number;
  seq: number;
  hidden: number;
  /** [B, S, H] */
  lastHiddenState: Float32Array;
  /** [B, M·H] when config.pooling is set (M modes, concatenated) */
  sentenceEmbedding?: Float32Array;
  /** [B, L] when config.head is 'classifier' */
  logits?: Float32Array;
}

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), enough for a 1e-4 comparison. */
export function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-ax * ax);
  return sign * y;
}

/** y[s, o] = Σ_i x[s, i] · W[o, i] + b[o]   (W in HF layout [out, in]) */
function linear(x: Float64Array, S: number, inp: number, w: Float32Array, b: Float32Array, out: number): Float64Array {
  const y = new Float64Array(S * out);
  for (let s = 0; s < S; s++) {
    for (let o = 0; o < out; o++) {
      let acc = b[o];
      for (let i = 0; i < inp; i++) acc += x[s * inp + i] * w[o * inp + i];
      y[s * out + o] = acc;
    }
  }
  return y;
}

function layerNorm(x: Float64Array, S: number, H: number, gamma: Float32Array, beta: Float32Array, eps: number): Float64Array {
  const y = new Float64Array(S * H);
  for (let s = 0; s < S; s++) {
    let mean = 0;
    for (let h = 0; h < H; h++) mean += x[s * H + h];
    mean /= H;
    let v = 0;
    for (let h = 0; h < H; h++) v += (x[s * H + h] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / H + eps);
    for (let h = 0; h < H; h++) y[s * H + h] = (x[s * H + h] - mean) * inv * gamma[h] + beta[h];
  }
  return y;
}

/** One sequence through the encoder: returns the final hidden states [S, H]. */
function encodeSequence(c: BertConfig, W: WeightMap, ids: number[], mask: number[], types: number[]): Float64Array {
  const S = ids.length;
  const H = c.hidden;
  const A = c.heads;
  const D = H / A;
  const w = (n: string) => getWeight(W, n).data;

  // embeddings
  const word = w('embeddings.word_embeddings.weight');
  const pos = w('embeddings.position_embeddings.weight');
  const tt = c.typeVocabSize > 0 ? w('embeddings.token_type_embeddings.weight') : null;
  const positions = positionIds(mask, c.paddingIdx);
  let x: Float64Array = new Float64Array(S * H);
  for (let s = 0; s < S; s++) {
    if (!(ids[s] >= 0 && ids[s] < c.vocabSize)) throw new InputRangeError(`reference forward: token id ${ids[s]} out of range`);
    if (!(positions[s] < c.maxPosition)) throw new InputRangeError(`reference forward: position ${positions[s]} ≥ maxPosition ${c.maxPosition}`);
    for (let h = 0; h < H; h++) {
      x[s * H + h] = word[ids[s] * H + h] + pos[positions[s] * H + h] + (tt ? tt[types[s] * H + h] : 0);
    }
  }
  // MPNet: bias[a][i][j] = table[bucket(j − i)][a]
  const rel = c.relativeBuckets ? w(RELATIVE_BIAS_NAME) : null;
  const relBias = (a: number, i: number, j: number) => (rel ? rel[relativeBucket(j - i, c.relativeBuckets) * A + a] : 0);
  x = layerNorm(x, S, H, w('embeddings.LayerNorm.weight'), w('embeddings.LayerNorm.bias'), c.layerNormEps);

  // No real token at all: the ONNX graph's additive mask bias (MASK_BIAS, like HF's finfo.min) then
  // absorbs every score, so each query attends uniformly to all S keys (the native models do the same).
  const allMasked = !mask.some((m) => m);
  for (let l = 0; l < c.layers; l++) {
    const p = `encoder.layer.${l}.`;
    const q = linear(x, S, H, w(p + 'attention.self.query.weight'), w(p + 'attention.self.query.bias'), H);
    const k = linear(x, S, H, w(p + 'attention.self.key.weight'), w(p + 'attention.self.key.bias'), H);
    const v = linear(x, S, H, w(p + 'attention.self.value.weight'), w(p + 'attention.self.value.bias'), H);
    const ctx = new Float64Array(S * H);
    const scores = new Float64Array(S);
    for (let a = 0; a < A; a++) {
      for (let i = 0; i < S; i++) {
        let max = -Infinity;
        for (let j = 0; j < S; j++) {
          if (!mask[j]) continue;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[i * H + a * D + d] * k[j * H + a * D + d];
          scores[j] = dot / Math.sqrt(D) + relBias(a, i, j);
          if (scores[j] > max) max = scores[j];
        }
        let sum = 0;
        for (let j = 0; j < S; j++) {
          // a fully masked sequence: the additive mask shifts every score alike → uniform weights
          scores[j] = allMasked ? 1 : mask[j] ? Math.exp(scores[j] - max) : 0;
          sum += scores[j];
        }
        for (let j = 0; j < S; j++) {
          if (!scores[j]) continue;
          const pj = scores[j] / sum;
          for (let d = 0; d < D; d++) ctx[i * H + a * D + d] += pj * v[j * H + a * D + d];
        }
      }
    }
    const ao = linear(ctx, S, H, w(p + 'attention.output.dense.weight'), w(p + 'attention.output.dense.bias'), H);
    for (let t = 0; t < S * H; t++) ao[t] += x[t];
    const x1 = layerNorm(ao, S, H, w(p + 'attention.output.LayerNorm.weight'), w(p + 'attention.output.LayerNorm.bias'), c.layerNormEps);
    const hmid = linear(x1, S, H, w(p + 'intermediate.dense.weight'), w(p + 'intermediate.dense.bias'), c.intermediate);
    for (let t = 0; t < hmid.length; t++) hmid[t] = 0.5 * hmid[t] * (1 + erf(hmid[t] / Math.SQRT2));
    const o = linear(hmid, S, c.intermediate, w(p + 'output.dense.weight'), w(p + 'output.dense.bias'), H);
    for (let t = 0; t < S * H; t++) o[t] += x1[t];
    x = layerNorm(o, S, H, w(p + 'output.LayerNorm.weight'), w(p + 'output.LayerNorm.bias'), c.layerNormEps);
  }
  return x;
}

/** Position ids of one sequence: 0..S-1, or RoBERTa's paddingIdx + (real tokens so far) / paddingIdx on padding. */
export function positionIds(mask: number[], paddingIdx?: number): number[] {
  if (paddingIdx === undefined) return mask.map((_, s) => s);
  let seen = 0;
  return mask.map((m) => (m ? paddingIdx + ++seen : paddingIdx));
}

/**
 * sentence-transformers pooling of one sequence's hidden states h [S, H] over its real tokens:
 * mean; cls (h[0]); max (per channel); mean_sqrt_len_tokens (sum / √n); weightedmean (weights t + 1);
 * lasttoken (the last real token). A sequence without real tokens pools to 0 (cls: h[0]).
 */
export function poolRef(mode: PoolingMode, h: ArrayLike<number>, mask: number[], S: number, H: number): Float64Array {
  const e = new Float64Array(H);
  const real = (s: number) => Boolean(mask[s]);
  if (mode === 'cls') {
    for (let d = 0; d < H; d++) e[d] = h[d];
  } else if (mode === 'lasttoken') {
    let t = -1;
    for (let s = 0; s < S; s++) if (real(s)) t = s;
    if (t >= 0) for (let d = 0; d < H; d++) e[d] = h[t * H + d];
  } else if (mode === 'max') {
    for (let d = 0; d < H; d++) {
      let m = -Infinity;
      for (let s = 0; s < S; s++) if (real(s)) m = Math.max(m, h[s * H + d]);
      e[d] = m === -Infinity ? 0 : m;
    }
  } else if (mode === 'mean' || mode === 'mean_sqrt_len_tokens' || mode === 'weightedmean') {
    let n = 0;
    for (let s = 0; s < S; s++) {
      if (!real(s)) continue;
      const wt = mode === 'weightedmean' ? s + 1 : 1;
      n += wt;
      for (let d = 0; d < H; d++) e[d] += wt * h[s * H + d];
    }
    const div = n === 0 ? 1 : mode === 'mean_sqrt_len_tokens' ? Math.sqrt(n) : n;
    for (let d = 0; d < H; d++) e[d] /= div;
  } else {
    throw new Error(`reference forward: pooling '${String(mode)}' is not supported`);
  }
  return e;
}

/** Runs the batch through BERT (and the pooling / classifier head the config asks for). */
export function bertForwardRef(config: BertConfig, weights: WeightMap, inputs: ReferenceInputs): ReferenceOutputs {
  const B = inputs.inputIds.length;
  const S = B ? inputs.inputIds[0].length : 0;
  const H = config.hidden;
  const last = new Float32Array(B * S * H);
  const pooling = config.pooling ?? 'none';
  const modes = pooling !== 'none' ? poolingModes(pooling) : [];
  const D = modes.length * H;
  const sent = pooling !== 'none' ? new Float32Array(B * D) : undefined;
  let logits: Float32Array | undefined;
  let L = 0;
  if (config.head === 'classifier') {
    L = getWeight(weights, 'classifier.weight').dims[0];
    logits = new Float32Array(B * L);
  }
  for (let b = 0; b < B; b++) {
    const ids = inputs.inputIds[b];
    if (ids.length !== S) throw new Error('reference forward: all sequences of a batch must have the same length');
    const mask = inputs.attentionMask?.[b] ?? ids.map(() => 1);
    const types = inputs.tokenTypeIds?.[b] ?? ids.map(() => 0);
    const h = encodeSequence(config, weights, ids, mask, types);
    last.set(h, b * S * H);

    if (sent) {
      const e = new Float64Array(D);
      modes.forEach((m, k) => e.set(poolRef(m, h, mask, S, H), k * H));
      if (config.normalize) {
        let norm = 0;
        for (let d = 0; d < D; d++) norm += e[d] * e[d];
        norm = Math.max(Math.sqrt(norm), 1e-12);
        for (let d = 0; d < D; d++) e[d] /= norm;
      }
      sent.set(e, b * D);
    }

    if (logits) {
      const cls = h.slice(0, H);
      const pooled = linear(cls, 1, H, getWeight(weights, 'pooler.dense.weight').data, getWeight(weights, 'pooler.dense.bias').data, H);
      for (let d = 0; d < H; d++) pooled[d] = Math.tanh(pooled[d]);
      const out = linear(pooled, 1, H, getWeight(weights, 'classifier.weight').data, getWeight(weights, 'classifier.bias').data, L);
      logits.set(out, b * L);
    }
  }
  return { batch: B, seq: S, hidden: H, lastHiddenState: last, sentenceEmbedding: sent, logits };
}
