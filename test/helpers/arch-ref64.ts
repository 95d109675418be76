/**
 * A float64-throughout forward pass of the BERT family (BERT, RoBERTa / XLM-R positions, MPNet's
 * relative attention bias) with every sentence-transformers pooling mode, for finite-difference
 * checks of the native backward (test/arch-models.test.ts). Same semantics as
 * lib/models/reference-forward.ts (which rounds to float32); weights by internal (BERT) names.
 *
 * Shapes: B sequences, T length, C hidden, NH heads, hs = C/NH, F intermediate.
 */
import type { PoolingMode } from '../../lib/models/onnx/bert';
import { relativeBucket, RELATIVE_BIAS_NAME } from '../../lib/models/onnx/mpnet';
import { positionIds, poolRef } from '../../lib/models/reference-forward';
import { erf64, type Weights64 } from './bert-ref64';

export interface Arch64Config {
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  typeVocabSize: number;
  layerNormEps: number;
  paddingIdx?: number;
  relativeBuckets?: number;
  pooling: PoolingMode | PoolingMode[];
  normalize: boolean;
}

function linear(x: Float64Array, S: number, inp: number, w: Float64Array, b: Float64Array, out: number): Float64Array {
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

function layerNorm(x: Float64Array, S: number, C: number, g: Float64Array, b: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(S * C);
  for (let s = 0; s < S; s++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += x[s * C + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[s * C + c] - m) ** 2;
    const r = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) y[s * C + c] = (x[s * C + c] - m) * r * g[c] + b[c];
  }
  return y;
}

/** Pooled (and optionally normalised) embeddings (B, M·C) in float64 (M modes, concatenated). ids/mask/types: (B,T) row-major. */
export function archForward64(c: Arch64Config, W: Weights64, ids: Int32Array, mask: Int32Array, types: Int32Array | null, B: number, T: number): Float64Array {
  const C = c.hidden;
  const NH = c.heads;
  const hs = C / NH;
  const F = c.intermediate;
  const w = (n: string): Float64Array => {
    const t = W.get(n);
    if (!t) throw new Error(`arch-ref64: missing ${n}`);
    return t;
  };
  const rel = c.relativeBuckets ? w(RELATIVE_BIAS_NAME) : null;
  const modes = typeof c.pooling === 'string' ? [c.pooling] : c.pooling;
  const D = modes.length * C;
  const out = new Float64Array(B * D);
  for (let b = 0; b < B; b++) {
    const mk = Array.from(mask.subarray(b * T, (b + 1) * T));
    const pos = positionIds(mk, c.paddingIdx);
    let x: Float64Array = new Float64Array(T * C);
    const word = w('embeddings.word_embeddings.weight');
    const pe = w('embeddings.position_embeddings.weight');
    const tt = c.typeVocabSize > 0 ? w('embeddings.token_type_embeddings.weight') : null;
    for (let t = 0; t < T; t++) {
      const id = ids[b * T + t];
      const ty = types ? types[b * T + t] : 0;
      for (let h = 0; h < C; h++) x[t * C + h] = word[id * C + h] + pe[pos[t] * C + h] + (tt ? tt[ty * C + h] : 0);
    }
    x = layerNorm(x, T, C, w('embeddings.LayerNorm.weight'), w('embeddings.LayerNorm.bias'), c.layerNormEps);
    const any = mk.some((m) => m !== 0);
    for (let l = 0; l < c.layers; l++) {
      const p = `encoder.layer.${l}.`;
      const q = linear(x, T, C, w(p + 'attention.self.query.weight'), w(p + 'attention.self.query.bias'), C);
      const k = linear(x, T, C, w(p + 'attention.self.key.weight'), w(p + 'attention.self.key.bias'), C);
      const v = linear(x, T, C, w(p + 'attention.self.value.weight'), w(p + 'attention.self.value.bias'), C);
      const ctx = new Float64Array(T * C);
      const pr = new Float64Array(T);
      for (let a = 0; a < NH; a++) {
        for (let i = 0; i < T; i++) {
          let max = -Infinity;
          for (let j = 0; j < T; j++) {
            let d = 0;
            for (let e = 0; e < hs; e++) d += q[i * C + a * hs + e] * k[j * C + a * hs + e];
            pr[j] = d / Math.sqrt(hs) + (rel ? rel[relativeBucket(j - i, c.relativeBuckets) * NH + a] : 0);
            if ((mk[j] || !any) && pr[j] > max) max = pr[j];
          }
          let sum = 0;
          for (let j = 0; j < T; j++) {
            pr[j] = !any ? 1 : mk[j] ? Math.exp(pr[j] - max) : 0;
            sum += pr[j];
          }
          for (let j = 0; j < T; j++) {
            const pj = pr[j] / sum;
            if (!pj) continue;
            for (let e = 0; e < hs; e++) ctx[i * C + a * hs + e] += pj * v[j * C + a * hs + e];
          }
        }
      }
      const ao = linear(ctx, T, C, w(p + 'attention.output.dense.weight'), w(p + 'attention.output.dense.bias'), C);
      for (let i = 0; i < T * C; i++) ao[i] += x[i];
      const x1 = layerNorm(ao, T, C, w(p + 'attention.output.LayerNorm.weight'), w(p + 'attention.output.LayerNorm.bias'), c.layerNormEps);
      const hm = linear(x1, T, C, w(p + 'intermediate.dense.weight'), w(p + 'intermediate.dense.bias'), F);
      for (let i = 0; i < hm.length; i++) hm[i] = 0.5 * hm[i] * (1 + erf64(hm[i] / Math.SQRT2));
      const o = linear(hm, T, F, w(p + 'output.dense.weight'), w(p + 'output.dense.bias'), C);
      for (let i = 0; i < T * C; i++) o[i] += x1[i];
      x = layerNorm(o, T, C, w(p + 'output.LayerNorm.weight'), w(p + 'output.LayerNorm.bias'), c.layerNormEps);
    }
    const e = new Float64Array(D);
    modes.forEach((m, k) => e.set(poolRef(m, x, mk, T, C), k * C));
    if (c.normalize) {
      let s = 0;
      for (let h = 0; h < D; h++) s += e[h] * e[h];
      const nrm = Math.max(Math.sqrt(s), 1e-12);
      for (let h = 0; h < D; h++) e[h] /= nrm;
    }
    out.set(e, b * D);
  }
  return out;
}
