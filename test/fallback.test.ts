/** SYNTHTUNE_BACKEND=js forces the pure-TS kernels, and says so. */
import { afterAll, describe, expect, it } from 'vitest';
import { backend, matmulSync, topkSync } from '../lib/kernels';
import { resetBackendForTests } from '../lib/kernels/loader';

describe('pure-TS fallback', () => {
  const saved = process.env.SYNTHTUNE_BACKEND;
  afterAll(() => {
    if (saved === undefined) delete process.env.SYNTHTUNE_BACKEND;
    else process.env.SYNTHTUNE_BACKEND = saved;
    resetBackendForTests();
  });
  it('is selected by SYNTHTUNE_BACKEND=js and reports why', () => {
    process.env.SYNTHTUNE_BACKEND = 'js';
    resetBackendForTests();
    const be = backend();
    expect(be.name).toBe('js');
    expect(be.reasons.join(' ')).toMatch(/SYNTHTUNE_BACKEND=js/);
    const c = matmulSync(new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), { m: 2, n: 2, k: 2 });
    expect(Array.from(c)).toEqual([19, 22, 43, 50]);
    const r = topkSync(new Float32Array([1, 0]), new Float32Array([0, 1, 2, 0, 1, 0]), { dim: 2, k: 2 });
    expect(Array.from(r.indices)).toEqual([1, 2]);
  });
});
