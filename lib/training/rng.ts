/**
 * Seeded randomness for training: mulberry32 for uniforms, Box–Muller for normals, and a
 * Fisher–Yates shuffle. The epoch permutation depends only on (seed, epoch), so a resumed run
 * sees exactly the batches an uninterrupted run would.
 */

import { mixSeed, mulberry32, type Rng } from '../util/rng';

export { mixSeed, mulberry32, type Rng };

/** n standard-normal floats times std (Box–Muller). */
export function normals(n: number, seed: number, std = 1): Float32Array {
  const rnd = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - rnd();
    const u2 = rnd();
    const r = Math.sqrt(-2 * Math.log(u1)) * std;
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** The order of n items in epoch `epoch` of a run seeded with `seed`. */
export function epochPermutation(n: number, seed: number, epoch: number, shuffle = true): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!shuffle) return order;
  const rnd = mulberry32(mixSeed(seed, epoch, 0x5eed));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
