/**
 * Margin-MSE: value on a hand-computed case, and analytic gradients w.r.t. q, p, n against
 * central finite differences in float64 (dot and cosine; several negatives per query).
 */
import { describe, expect, it } from 'vitest';
import { marginMse, marginMseForward, type Score } from '../lib/training/losses/margin-mse';
import { randomFloats } from '../bench/harness';

function f64(n: number, seed: number): Float64Array {
  return Float64Array.from(randomFloats(n, seed));
}

describe('margin-mse loss', () => {
  it('matches a hand computation', () => {
    // q = (1,0), p = (2,0), n = (0,1): s(q,p) = 2, s(q,n) = 0, margin 1.5 → r = 0.5
    const f = marginMseForward({
      q: Float64Array.of(1, 0), p: Float64Array.of(2, 0), n: Float64Array.of(0, 1, 1, 1),
      owner: [0, 0], margin: [1.5, 0], dim: 2,
    });
    // second negative (1,1): s = 1 → r = 2 − 1 − 0 = 1; mean(0.25, 1) = 0.625
    expect(f.loss).toBeCloseTo(0.625, 12);
    const c = marginMseForward({
      q: Float64Array.of(1, 0), p: Float64Array.of(2, 0), n: Float64Array.of(0, 1), owner: [0], margin: [0.5], dim: 2, score: 'cosine',
    });
    expect(c.loss).toBeCloseTo(0.25, 12); // cos = 1 and 0 → r = 0.5
  });

  it('rejects malformed inputs', () => {
    const q = new Float32Array(4);
    expect(() => marginMse({ q, p: q, n: new Float32Array(2), owner: [2], margin: [0], dim: 2 })).toThrow(/owner/);
    expect(() => marginMse({ q, p: q, n: new Float32Array(2), owner: [0], margin: [], dim: 2 })).toThrow(/margin/);
    expect(() => marginMse({ q, p: q, n: new Float32Array(0), owner: [], margin: [], dim: 2 })).toThrow(/no negatives/);
  });

  for (const score of ['dot', 'cosine'] as Score[]) {
    it(`gradients match finite differences (${score}, several negatives)`, () => {
      const D = 7;
      const B = 3;
      const owner = [0, 0, 1, 2, 2, 2]; // 2, 1 and 3 negatives
      const T = owner.length;
      const q = f64(B * D, 1);
      const p = f64(B * D, 2);
      const n = f64(T * D, 3);
      const margin = Array.from(randomFloats(T, 4), (x) => x * 2);
      const input = { q, p, n, owner, margin, dim: D, score };
      const g = marginMse(input);
      const eps = 1e-6;
      let worst = 0;
      for (const [name, x, dx] of [['q', q, g.dq], ['p', p, g.dp], ['n', n, g.dn]] as const) {
        for (let i = 0; i < x.length; i++) {
          const keep = x[i];
          x[i] = keep + eps;
          const up = marginMseForward(input).loss;
          x[i] = keep - eps;
          const down = marginMseForward(input).loss;
          x[i] = keep;
          const fd = (up - down) / (2 * eps);
          const err = Math.abs(fd - dx[i]) / Math.max(1, Math.abs(fd));
          if (err > worst) worst = err;
          if (err > 1e-6) throw new Error(`${score} d${name}[${i}]: analytic ${dx[i]} vs numeric ${fd}`);
        }
      }
      expect(worst).toBeLessThan(1e-6);
    });
  }

  it('float32 inputs give float32 gradients equal to the float64 ones within rounding', () => {
    const D = 5;
    const q = randomFloats(2 * D, 7);
    const p = randomFloats(2 * D, 8);
    const n = randomFloats(2 * D, 9);
    const g32 = marginMse({ q, p, n, owner: [0, 1], margin: [0.3, -0.2], dim: D });
    const g64 = marginMse({ q: Float64Array.from(q), p: Float64Array.from(p), n: Float64Array.from(n), owner: [0, 1], margin: [0.3, -0.2], dim: D });
    expect(g32.dq).toBeInstanceOf(Float32Array);
    for (let i = 0; i < g32.dq.length; i++) expect(g32.dq[i]).toBeCloseTo(g64.dq[i], 6);
    expect(g32.loss).toBeCloseTo(g64.loss, 12);
  });
});
