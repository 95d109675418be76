/** Comparison helpers for kernel tests: normalised max error, and top-k lists compared as sets with ties resolved by score. */
import type { TopKResult } from '../../lib/kernels';

/** max |x - y| over all elements; NaN counts as infinite. */
export function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`length ${x.length} != ${y.length}`);
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return m;
}

/**
 * Checks that `got` holds the same top-k as `want` for every query: the score lists agree within
 * tol, every index is a valid, non-excluded row whose score (recomputed by `score`) matches its
 * slot, and the index sets agree except for rows tied (within tol) with the k-th score.
 * Returns a list of problems (empty when equal).
 */
export function compareTopK(
  got: TopKResult,
  want: TopKResult,
  q: number,
  score: (qi: number, idx: number) => number,
  tol: number,
): string[] {
  const problems: string[] = [];
  if (got.k !== want.k) return [`k ${got.k} != ${want.k}`];
  const k = got.k;
  for (let qi = 0; qi < q && problems.length < 5; qi++) {
    const gi = Array.from(got.indices.subarray(qi * k, qi * k + k));
    const wi = Array.from(want.indices.subarray(qi * k, qi * k + k));
    const gs = Array.from(got.scores.subarray(qi * k, qi * k + k));
    const ws = Array.from(want.scores.subarray(qi * k, qi * k + k));
    for (let j = 0; j < k; j++) {
      if ((gi[j] === -1) !== (wi[j] === -1)) {
        problems.push(`query ${qi} slot ${j}: padding differs (${gi[j]} vs ${wi[j]})`);
        break;
      }
      if (gi[j] === -1) {
        if (gs[j] !== -Infinity) problems.push(`query ${qi} slot ${j}: padding score ${gs[j]} != -Infinity`);
        continue;
      }
      if (Math.abs(gs[j] - ws[j]) > tol) problems.push(`query ${qi} slot ${j}: score ${gs[j]} vs ${ws[j]}`);
      if (Math.abs(gs[j] - score(qi, gi[j])) > tol) problems.push(`query ${qi} slot ${j}: index ${gi[j]} does not have score ${gs[j]}`);
      if (j > 0 && gs[j] > gs[j - 1]) problems.push(`query ${qi}: scores not descending at slot ${j}`);
    }
    const filled = ws.filter((s) => s !== -Infinity);
    if (!filled.length) continue;
    const kth = filled[filled.length - 1];
    const gset = new Set(gi);
    const wset = new Set(wi);
    if (gset.size !== gi.length) problems.push(`query ${qi}: duplicate indices ${gi}`);
    for (let j = 0; j < k; j++) {
      if (wi[j] !== -1 && !gset.has(wi[j]) && ws[j] > kth + tol) {
        problems.push(`query ${qi}: missing index ${wi[j]} (score ${ws[j]}, k-th ${kth})`);
      }
    }
    for (let j = 0; j < k; j++) {
      if (gi[j] !== -1 && !wset.has(gi[j]) && gs[j] > kth + tol) problems.push(`query ${qi}: extra index ${gi[j]}`);
    }
  }
  return problems;
}
