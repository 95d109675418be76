/**
 * MultipleNegativesRankingLoss (sentence-transformers; Henderson et al. 2017): (anchor, positive)
 * pairs, every other positive of the batch a negative ("in-batch negatives"):
 *
 *   S_ij = scale · sim(a_i, p_j)          (scale 20 on cosine, as sentence-transformers; 1 on dot)
 *   loss = (1/B) Σ_i [ logsumexp_j S_ij − S_ii ]
 *
 * symmetric (MultipleNegativesSymmetricRankingLoss): the mean of that and the same loss with the
 * roles swapped (each positive must find its anchor among the batch's anchors).
 *
 * groups: rows sharing a group are not negatives of each other (a query with several documents
 * in one batch: its other documents are masked out instead of counted as negatives, as
 * sentence-transformers' NoDuplicatesBatchSampler avoids them).
 * Arithmetic in float64; gradients take the input's type.
 */
import { castLike, logSumExp, rowsOf, simMatrix, simMatrixBackward, type Score, type Vec } from './similarity';

export interface MnrlInput {
  anchors: Vec;
  positives: Vec;
  dim: number;
  score?: Score;
  /** Default 20 for cosine, 1 for dot. */
  scale?: number;
  symmetric?: boolean;
  groups?: ArrayLike<number | string>;
  /** Which gradients to compute (default both). */
  want?: { anchors: boolean; positives: boolean };
}

export interface MnrlResult {
  loss: number;
  dAnchors: Vec | null;
  dPositives: Vec | null;
}

export function defaultScale(score: Score): number {
  return score === 'cosine' ? 20 : 1;
}

/** Adds (softmax_row − onehot(i)) · w for every row i of a (B × B) score matrix with masking. */
function rowTerms(S: Float64Array, B: number, masked: (i: number, j: number) => boolean, transpose: boolean, G: Float64Array, w: number): number {
  let loss = 0;
  const row = new Float64Array(B);
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < B; j++) row[j] = masked(i, j) ? -Infinity : transpose ? S[j * B + i] : S[i * B + j];
    const lse = logSumExp(row);
    loss += lse - row[i];
    for (let j = 0; j < B; j++) {
      if (row[j] === -Infinity) continue;
      const g = (Math.exp(row[j] - lse) - (j === i ? 1 : 0)) * w;
      if (transpose) G[j * B + i] += g;
      else G[i * B + j] += g;
    }
  }
  return loss * w;
}

export function mnrl(x: MnrlInput): MnrlResult {
  const D = x.dim;
  const B = rowsOf(x.anchors, D, 'mnrl');
  if (x.positives.length !== x.anchors.length) throw new Error('mnrl: positives must have the shape of anchors');
  if (B === 0) throw new Error('mnrl: empty batch');
  if (x.groups && x.groups.length !== B) throw new Error('mnrl: one group per row');
  const score = x.score ?? 'cosine';
  const scale = x.scale ?? defaultScale(score);
  const m = simMatrix(x.anchors, x.positives, D, score);
  const S = m.S.map((v) => v * scale);
  const g = x.groups;
  const masked = (i: number, j: number): boolean => g !== undefined && i !== j && g[i] === g[j];
  const G = new Float64Array(B * B);
  const parts = x.symmetric ? 2 : 1;
  let loss = rowTerms(S, B, masked, false, G, 1 / (B * parts));
  if (x.symmetric) loss += rowTerms(S, B, (i, j) => masked(j, i), true, G, 1 / (B * parts));
  for (let k = 0; k < G.length; k++) G[k] *= scale;
  const want = x.want ?? { anchors: true, positives: true };
  const { dA, dC } = simMatrixBackward(m, x.anchors, x.positives, D, G, { a: want.anchors, c: want.positives });
  return { loss, dAnchors: dA && castLike(dA, x.anchors), dPositives: dC && castLike(dC, x.positives) };
}
