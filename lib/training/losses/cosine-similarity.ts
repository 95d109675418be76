/**
 * CosineSimilarityLoss (sentence-transformers) for scored pairs: the mean squared error between
 * the cosine of each pair and its label,
 *
 *   loss = (1/n) Σ_i (cos(l_i, r_i) − y_i)²
 *
 * Always cosine (the label is a cosine target in [0, 1] or [−1, 1]).
 */
import type { PairLossInput, PairLossResult } from './cosent';
import { castLike, pairSims, pairSimsBackward, rowsOf } from './similarity';

export function cosineSimilarityLoss(x: Omit<PairLossInput, 'score' | 'scale'>): PairLossResult {
  const D = x.dim;
  const n = rowsOf(x.left, D, 'cosine-similarity');
  if (x.labels.length !== n) throw new Error('cosine-similarity: one label per pair');
  if (n === 0) throw new Error('cosine-similarity: empty batch');
  const p = pairSims(x.left, x.right, D, 'cosine');
  let loss = 0;
  const g = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const r = p.s[i] - x.labels[i];
    loss += r * r;
    g[i] = (2 * r) / n;
  }
  const want = x.want ?? { left: true, right: true };
  const { dL, dR } = pairSimsBackward(p, x.left, x.right, D, g, { l: want.left, r: want.right });
  return { loss: loss / n, dLeft: dL && castLike(dL, x.left), dRight: dR && castLike(dR, x.right) };
}
