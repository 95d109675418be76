/**
 * Supervised contrastive loss (Khosla et al. 2020, "SupCon" L_out) for labeled items: in a batch,
 * every item with the same label is a positive of an item, every other item a negative.
 *
 *   S_ij = scale · sim(a_i, c_j)     (a: the items as anchors, query side; c: the same items as
 *                                     candidates, document side; scale 20 on cosine, 1 on dot)
 *   loss_i = −(1/|P(i)|) Σ_{p ∈ P(i)} [ S_ip − logsumexp_{j ≠ i} S_ij ],  P(i) = {j ≠ i : y_j = y_i}
 *   loss = mean of loss_i over the anchors with at least one positive (0 when none has one)
 *
 * With a symmetric student a and c are the same embeddings and the gradient is dA + dC.
 * labelBatchOrder() is the sampler that gives batches several items of one label.
 */
import { mixSeed, mulberry32 } from '../../util/rng';
import { castLike, logSumExp, rowsOf, simMatrix, simMatrixBackward, type Score, type Vec } from './similarity';
import { OptionsError } from '../../util/errors';

export interface SupConInput {
  anchors: Vec;
  candidates: Vec;
  labels: ArrayLike<string | number>;
  dim: number;
  score?: Score;
  scale?: number;
  want?: { anchors: boolean; candidates: boolean };
}

export interface SupConResult {
  loss: number;
  /** Anchors that had a positive in the batch. */
  anchorsWithPositives: number;
  dAnchors: Vec | null;
  dCandidates: Vec | null;
}

export function supCon(x: SupConInput): SupConResult {
  const D = x.dim;
  const B = rowsOf(x.anchors, D, 'supcon');
  if (x.candidates.length !== x.anchors.length) throw new Error('supcon: candidates must have the shape of anchors');
  if (x.labels.length !== B) throw new Error('supcon: one label per item');
  const score = x.score ?? 'cosine';
  const scale = x.scale ?? (score === 'cosine' ? 20 : 1);
  const m = simMatrix(x.anchors, x.candidates, D, score);
  const S = m.S.map((v) => v * scale);
  const G = new Float64Array(B * B);
  const row = new Float64Array(B);
  const pos: number[][] = [];
  for (let i = 0; i < B; i++) {
    const p: number[] = [];
    for (let j = 0; j < B; j++) if (j !== i && x.labels[j] === x.labels[i]) p.push(j);
    pos.push(p);
  }
  const N = pos.filter((p) => p.length > 0).length;
  let loss = 0;
  if (N > 0) {
    for (let i = 0; i < B; i++) {
      const P = pos[i];
      if (!P.length) continue;
      for (let j = 0; j < B; j++) row[j] = j === i ? -Infinity : S[i * B + j];
      const lse = logSumExp(row);
      let li = 0;
      for (const p of P) li += lse - row[p];
      loss += li / P.length / N;
      for (let j = 0; j < B; j++) if (j !== i) G[i * B + j] += (Math.exp(row[j] - lse) / N) * scale;
      for (const p of P) G[i * B + p] -= scale / (P.length * N);
    }
  }
  const want = x.want ?? { anchors: true, candidates: true };
  const { dA, dC } = simMatrixBackward(m, x.anchors, x.candidates, D, G, { a: want.anchors, c: want.candidates });
  return { loss, anchorsWithPositives: N, dAnchors: dA && castLike(dA, x.anchors), dCandidates: dC && castLike(dC, x.candidates) };
}

/**
 * The order of n labeled items in one epoch, so that consecutive runs of `perLabel` items share a
 * label (a batch of b items then holds about b / perLabel labels, each with several items):
 * each label's items are shuffled and cut into chunks of perLabel (a last chunk of one item joins
 * the chunk before it), and the chunks are shuffled. Depends only on (labels, seed, epoch), like
 * epochPermutation, so a resumed run sees the same batches. shuffle false: items grouped by label
 * in order of first appearance.
 */
export function labelBatchOrder(labels: ArrayLike<string | number>, seed: number, epoch: number, perLabel = 4, shuffle = true): Int32Array {
  if (!(Number.isInteger(perLabel) && perLabel >= 2)) throw new OptionsError('labelBatchOrder: perLabel must be an integer ≥ 2');
  const byLabel = new Map<string | number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    let list = byLabel.get(l);
    if (!list) byLabel.set(l, (list = []));
    list.push(i);
  }
  const rnd = mulberry32(mixSeed(seed, epoch, 0x1abe1));
  const shuffleInPlace = <T>(a: T[]): void => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  };
  const chunks: number[][] = [];
  for (const items of byLabel.values()) {
    if (shuffle) shuffleInPlace(items);
    const start = chunks.length;
    for (let k = 0; k < items.length; k += perLabel) chunks.push(items.slice(k, k + perLabel));
    const last = chunks[chunks.length - 1];
    if (chunks.length - start > 1 && last.length === 1) {
      chunks.pop();
      chunks[chunks.length - 1].push(last[0]);
    }
  }
  if (shuffle) shuffleInPlace(chunks);
  const order = new Int32Array(labels.length);
  let k = 0;
  for (const c of chunks) for (const i of c) order[k++] = i;
  return order;
}
