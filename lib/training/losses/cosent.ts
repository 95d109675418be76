/**
 * CoSENT (Su 2022; sentence-transformers' CoSENTLoss) for scored pairs (left, right, label):
 *
 *   s_i = scale · sim(l_i, r_i)        (scale 20; cosine by default, as sentence-transformers)
 *   loss = log(1 + Σ_{(i,j): y_i < y_j} exp(s_i − s_j))
 *
 * Only the order of the labels matters: every pair of rows whose labels differ asks the row with
 * the higher label to be the more similar one. A batch whose labels are all equal has loss 0.
 */
import { castLike, pairSims, pairSimsBackward, rowsOf, type Score, type Vec } from './similarity';

export interface PairLossInput {
  left: Vec;
  right: Vec;
  labels: ArrayLike<number>;
  dim: number;
  score?: Score;
  /** CoSENT only: default 20. */
  scale?: number;
  want?: { left: boolean; right: boolean };
}

export interface PairLossResult {
  loss: number;
  dLeft: Vec | null;
  dRight: Vec | null;
}

export function cosent(x: PairLossInput): PairLossResult {
  const D = x.dim;
  const n = rowsOf(x.left, D, 'cosent');
  if (x.labels.length !== n) throw new Error('cosent: one label per pair');
  const scale = x.scale ?? 20;
  const p = pairSims(x.left, x.right, D, x.score ?? 'cosine');
  const s = p.s.map((v) => v * scale);
  // logsumexp over [0] ∪ {s_i − s_j : y_i < y_j}
  let m = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (x.labels[i] < x.labels[j] && s[i] - s[j] > m) m = s[i] - s[j];
  let sum = Math.exp(-m);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (x.labels[i] < x.labels[j]) sum += Math.exp(s[i] - s[j] - m);
  const loss = m + Math.log(sum);
  const g = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (!(x.labels[i] < x.labels[j])) continue;
      const w = Math.exp(s[i] - s[j] - loss);
      g[i] += w * scale;
      g[j] -= w * scale;
    }
  }
  const want = x.want ?? { left: true, right: true };
  const { dL, dR } = pairSimsBackward(p, x.left, x.right, D, g, { l: want.left, r: want.right });
  return { loss, dLeft: dL && castLike(dL, x.left), dRight: dR && castLike(dR, x.right) };
}
