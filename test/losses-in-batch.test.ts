/**
 * The in-batch and scored-pair losses (lib/training/losses/): MultipleNegativesRankingLoss (plain,
 * symmetric, with groups), CoSENT, CosineSimilarityLoss and SupCon. For each: the value against a
 * naive re-implementation written here from the papers' formulas, the analytic gradients against
 * central finite differences in float64 (dot and cosine), and, when python3 has torch, value and
 * autograd gradients against the sentence-transformers formulas in PyTorch. Also the label sampler.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { randomFloats } from '../bench/harness';
import { cosent } from '../lib/training/losses/cosent';
import { cosineSimilarityLoss } from '../lib/training/losses/cosine-similarity';
import { mnrl } from '../lib/training/losses/mnrl';
import type { Score, Vec } from '../lib/training/losses/similarity';
import { labelBatchOrder, supCon } from '../lib/training/losses/supcon';
import { epochPermutation } from '../lib/training/rng';
import { pythonMissing } from './helpers/python';

function f64(n: number, seed: number): Float64Array {
  return Float64Array.from(randomFloats(n, seed));
}

function sim(a: Vec, i: number, c: Vec, j: number, D: number, score: Score): number {
  let s = 0;
  let na = 0;
  let nc = 0;
  for (let d = 0; d < D; d++) {
    s += a[i * D + d] * c[j * D + d];
    na += a[i * D + d] ** 2;
    nc += c[j * D + d] ** 2;
  }
  return score === 'cosine' ? s / Math.sqrt(na * nc) : s;
}

/** Naive MNRL: mean over rows of −log softmax, masked same-group columns. */
function naiveMnrl(A: Vec, P: Vec, D: number, score: Score, scale: number, groups: number[] | null, symmetric: boolean): number {
  const B = A.length / D;
  const dir = (x: Vec, y: Vec): number => {
    let l = 0;
    for (let i = 0; i < B; i++) {
      let den = 0;
      for (let j = 0; j < B; j++) if (j === i || !groups || groups[i] !== groups[j]) den += Math.exp(scale * sim(x, i, y, j, D, score));
      l += -Math.log(Math.exp(scale * sim(x, i, y, i, D, score)) / den);
    }
    return l / B;
  };
  return symmetric ? (dir(A, P) + dir(P, A)) / 2 : dir(A, P);
}

function naiveCosent(L: Vec, R: Vec, y: number[], D: number, score: Score, scale: number): number {
  let s = 1;
  for (let i = 0; i < y.length; i++) for (let j = 0; j < y.length; j++) {
    if (y[i] < y[j]) s += Math.exp(scale * (sim(L, i, R, i, D, score) - sim(L, j, R, j, D, score)));
  }
  return Math.log(s);
}

function naiveSupCon(A: Vec, C: Vec, labels: string[], D: number, score: Score, scale: number): number {
  const B = labels.length;
  let total = 0;
  let n = 0;
  for (let i = 0; i < B; i++) {
    const P = labels.map((l, j) => (j !== i && l === labels[i] ? j : -1)).filter((j) => j >= 0);
    if (!P.length) continue;
    let den = 0;
    for (let j = 0; j < B; j++) if (j !== i) den += Math.exp(scale * sim(A, i, C, j, D, score));
    let li = 0;
    for (const p of P) li -= Math.log(Math.exp(scale * sim(A, i, C, p, D, score)) / den);
    total += li / P.length;
    n++;
  }
  return n ? total / n : 0;
}

/** Central differences of f over every coordinate of x (x is changed and restored). */
function fd(x: Float64Array, f: () => number, h = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const v = x[k];
    x[k] = v + h;
    const up = f();
    x[k] = v - h;
    const down = f();
    x[k] = v;
    g[k] = (up - down) / (2 * h);
  }
  return g;
}

function expectClose(a: Vec | null, b: Float64Array, tol: number): void {
  expect(a).not.toBeNull();
  let worst = 0;
  let scale = 0;
  for (let k = 0; k < b.length; k++) {
    worst = Math.max(worst, Math.abs((a as Vec)[k] - b[k]));
    scale = Math.max(scale, Math.abs(b[k]));
  }
  expect(scale).toBeGreaterThan(0); // the gradient is not trivially zero
  expect(worst / scale).toBeLessThan(tol);
}

const D = 5;
const B = 6;

describe.each(['dot', 'cosine'] as Score[])('in-batch losses (%s)', (score) => {
  // dot products of N(0,1) vectors are large: a smaller scale keeps the softmax informative
  const scale = score === 'cosine' ? 20 : 0.5;

  for (const variant of ['plain', 'symmetric', 'groups'] as const) {
    it(`MultipleNegativesRankingLoss ${variant}: value and gradients`, () => {
      const A = f64(B * D, 11);
      const P = f64(B * D, 12);
      const groups = variant === 'groups' ? [0, 0, 1, 2, 2, 3] : null;
      const symmetric = variant === 'symmetric';
      const run = () => mnrl({ anchors: A, positives: P, dim: D, score, scale, symmetric, groups: groups ?? undefined });
      const r = run();
      expect(r.loss).toBeCloseTo(naiveMnrl(A, P, D, score, scale, groups, symmetric), 10);
      expectClose(r.dAnchors, fd(A, () => run().loss), 1e-5);
      expectClose(r.dPositives, fd(P, () => run().loss), 1e-5);
    });
  }

  it('CoSENT: value and gradients; equal labels give 0', () => {
    const L = f64(B * D, 21);
    const R = f64(B * D, 22);
    const y = [0.8, 0.1, 0.9, 0.1, 0.5, 0.3];
    const s = score === 'cosine' ? 20 : 0.5;
    const run = () => cosent({ left: L, right: R, labels: y, dim: D, score, scale: s });
    const r = run();
    expect(r.loss).toBeCloseTo(naiveCosent(L, R, y, D, score, s), 10);
    expectClose(r.dLeft, fd(L, () => run().loss), 1e-5);
    expectClose(r.dRight, fd(R, () => run().loss), 1e-5);
    expect(cosent({ left: L, right: R, labels: y.map(() => 1), dim: D, score }).loss).toBe(0);
  });

  it('SupCon: value and gradients, singletons are negatives only', () => {
    const A = f64(B * D, 31);
    const C = f64(B * D, 32);
    const labels = ['a', 'b', 'a', 'c', 'b', 'a']; // 'c' has no positive
    const run = () => supCon({ anchors: A, candidates: C, labels, dim: D, score, scale });
    const r = run();
    expect(r.anchorsWithPositives).toBe(5);
    expect(r.loss).toBeCloseTo(naiveSupCon(A, C, labels, D, score, scale), 10);
    expectClose(r.dAnchors, fd(A, () => run().loss), 1e-5);
    expectClose(r.dCandidates, fd(C, () => run().loss), 1e-5);
  });
});

describe('scored and labeled losses', () => {
  it('CosineSimilarityLoss: MSE of the cosine against the score, gradients', () => {
    const L = f64(B * D, 41);
    const R = f64(B * D, 42);
    const y = [0.8, 0.1, 0.9, 0.1, 0.5, -0.3];
    const run = () => cosineSimilarityLoss({ left: L, right: R, labels: y, dim: D });
    let want = 0;
    for (let i = 0; i < B; i++) want += (sim(L, i, R, i, D, 'cosine') - y[i]) ** 2;
    expect(run().loss).toBeCloseTo(want / B, 12);
    expectClose(run().dLeft, fd(L, () => run().loss), 1e-5);
    expectClose(run().dRight, fd(R, () => run().loss), 1e-5);
  });

  it('the same embeddings as anchors and candidates: the gradient is dA + dC (symmetric student)', () => {
    const X = f64(B * D, 51);
    const labels = [1, 2, 1, 2, 3, 3];
    const r = supCon({ anchors: X, candidates: X, labels, dim: D, score: 'cosine' });
    const sum = Float64Array.from(r.dAnchors as Float64Array, (v, k) => v + (r.dCandidates as Float64Array)[k]);
    expectClose(sum, fd(X, () => supCon({ anchors: X, candidates: X, labels, dim: D, score: 'cosine' }).loss), 1e-5);
  });

  it('a batch without positives has loss 0 and zero gradients; skipped gradients are null', () => {
    const X = f64(3 * D, 61);
    const r = supCon({ anchors: X, candidates: X, labels: ['a', 'b', 'c'], dim: D, want: { anchors: true, candidates: false } });
    expect(r.loss).toBe(0);
    expect(r.dCandidates).toBeNull();
    expect(Array.from(r.dAnchors as Float64Array).every((v) => v === 0)).toBe(true);
    const m = mnrl({ anchors: X, positives: X, dim: D, want: { anchors: false, positives: true } });
    expect(m.dAnchors).toBeNull();
    expect(m.dPositives).not.toBeNull();
  });

  it('float32 inputs give float32 gradients; malformed inputs are refused', () => {
    const X = Float32Array.from(randomFloats(4 * D, 71));
    expect(mnrl({ anchors: X, positives: X, dim: D }).dAnchors).toBeInstanceOf(Float32Array);
    expect(() => mnrl({ anchors: X, positives: X.subarray(D), dim: D })).toThrow(/shape/);
    expect(() => cosent({ left: X, right: X, labels: [1], dim: D })).toThrow(/one label per pair/);
    expect(() => supCon({ anchors: X, candidates: X, labels: [1, 2], dim: D })).toThrow(/one label per item/);
  });
});

describe('labelBatchOrder (the SupCon sampler)', () => {
  const labels = Array.from({ length: 40 }, (_, i) => `l${i % 7}`); // 7 labels of 5-6 items

  /** How many items of the order have another item of their label in their batch. */
  function withPositive(order: Int32Array, ls: string[], batch: number): number {
    let n = 0;
    for (let s = 0; s < order.length; s += batch) {
      const b = [...order.subarray(s, s + batch)].map((i) => ls[i]);
      n += b.filter((l, k) => b.some((m, j) => j !== k && m === l)).length;
    }
    return n;
  }

  it('is a permutation whose runs of perLabel items share a label', () => {
    const o = labelBatchOrder(labels, 3, 0, 4);
    expect([...o].sort((a, b) => a - b)).toEqual(labels.map((_, i) => i));
    // chunks of 4 to 5 items of a label: only an item at a batch boundary can lose its positive
    expect(withPositive(o, labels, 8)).toBeGreaterThanOrEqual(36);
    // a plain shuffle does much worse (batches of 8 over 7 labels)
    expect(withPositive(epochPermutation(labels.length, 3, 0), labels, 8)).toBeLessThan(30);
    // labels of 4 items and batches of 8: every item has a positive in its batch
    const four = Array.from({ length: 32 }, (_, i) => `m${i % 8}`);
    expect(withPositive(labelBatchOrder(four, 5, 2, 4), four, 8)).toBe(32);
  });

  it('depends only on (seed, epoch): deterministic, different per epoch and seed', () => {
    expect([...labelBatchOrder(labels, 3, 1)]).toEqual([...labelBatchOrder(labels, 3, 1)]);
    expect([...labelBatchOrder(labels, 3, 1)]).not.toEqual([...labelBatchOrder(labels, 3, 2)]);
    expect([...labelBatchOrder(labels, 3, 1)]).not.toEqual([...labelBatchOrder(labels, 4, 1)]);
    expect([...labelBatchOrder(['a', 'a', 'b', 'b', 'a'], 0, 0, 2, false)]).toEqual([0, 1, 4, 2, 3]);
  });
});

const torchMissing = pythonMissing(['torch']);

describe.skipIf(torchMissing !== null)('against the sentence-transformers formulas in PyTorch (autograd)', () => {
  it('MNRL (scale 20, cos), symmetric MNRL, CoSENT (scale 20), CosineSimilarityLoss: values and gradients', () => {
    const A = f64(B * D, 81);
    const P = f64(B * D, 82);
    const y = [0.8, 0.1, 0.9, 0.1, 0.5, 0.3];
    const py = `
import json, sys, torch
x = json.load(sys.stdin)
def t(v): return torch.tensor(v, dtype=torch.float64).reshape(-1, ${D}).requires_grad_(True)
out = {}
for name in ['mnrl', 'mnrl_sym', 'cosent', 'cossim']:
    a, b = t(x['a']), t(x['b'])
    y = torch.tensor(x['y'], dtype=torch.float64)
    if name.startswith('mnrl'):
        # sentence_transformers.losses.MultipleNegativesRankingLoss: cos_sim * 20, cross-entropy with labels arange
        s = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T * 20
        lab = torch.arange(len(s))
        loss = torch.nn.functional.cross_entropy(s, lab)
        if name == 'mnrl_sym':  # MultipleNegativesSymmetricRankingLoss
            loss = (loss + torch.nn.functional.cross_entropy(s.T, lab)) / 2
    elif name == 'cosent':  # CoSENTLoss
        s = torch.nn.functional.cosine_similarity(a, b) * 20
        s = s[:, None] - s[None, :]
        m = (y[:, None] < y[None, :]).double()
        s = s - (1 - m) * 1e12
        loss = torch.logsumexp(torch.cat((torch.zeros(1, dtype=torch.float64), s.view(-1))), dim=0)
    else:  # CosineSimilarityLoss: MSE(cos, label)
        loss = torch.nn.functional.mse_loss(torch.cosine_similarity(a, b), y)
    loss.backward()
    out[name] = [loss.item(), a.grad.flatten().tolist(), b.grad.flatten().tolist()]
print(json.dumps(out))
`;
    const r = spawnSync('python3', ['-c', py], { input: JSON.stringify({ a: [...A], b: [...P], y }), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const ref = JSON.parse(r.stdout) as Record<string, [number, number[], number[]]>;
    const ours = {
      mnrl: mnrl({ anchors: A, positives: P, dim: D }),
      mnrl_sym: mnrl({ anchors: A, positives: P, dim: D, symmetric: true }),
      cosent: cosent({ left: A, right: P, labels: y, dim: D }),
      cossim: cosineSimilarityLoss({ left: A, right: P, labels: y, dim: D }),
    };
    for (const [name, [loss, ga, gb]] of Object.entries(ref)) {
      const o = ours[name as keyof typeof ours] as { loss: number } & Record<string, Vec | null | number>;
      expect(o.loss, name).toBeCloseTo(loss, 9);
      const [da, db] = 'dAnchors' in o ? [o.dAnchors, o.dPositives] : [o.dLeft, o.dRight];
      expectClose(da as Vec, Float64Array.from(ga), 1e-9);
      expectClose(db as Vec, Float64Array.from(gb), 1e-9);
    }
  });
});
