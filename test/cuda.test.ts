/**
 * The CUDA backend (build-cuda/Release/synthtune_cuda.node, from `npm run build:cuda`; or the build
 * named by SYNTHTUNE_CUDA_ADDON, e.g. the CPU-emulated build-cuda-emu/synthtune_cuda.node of
 * `npm run build:cuda-emu`, which test/cuda-emu.test.ts runs this file with).
 * With a CUDA device: CUDA matmul and top-k against the pure-TS references on odd shapes.
 * Without one (CI, most laptops): the build must still load, report 0 devices and refuse work
 * with an error instead of crashing; the device tests skip with a message.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { randomFloats } from '../bench/harness';
import { matmulRef, topkRef } from '../lib/kernels';
import type { NativeAddon } from '../lib/kernels/loader';
import { compareTopK, maxAbsDiff } from './helpers/compare';

const buildPath = process.env.SYNTHTUNE_CUDA_ADDON
  ? path.resolve(process.env.SYNTHTUNE_CUDA_ADDON)
  : path.resolve(__dirname, '..', 'build-cuda', 'Release', 'synthtune_cuda.node');
const built = fs.existsSync(buildPath);
const addon: NativeAddon | null = built ? (require(buildPath) as NativeAddon) : null;
const devices = addon?.cudaDeviceCount ? addon.cudaDeviceCount() : 0;
if (!built) {
  console.log(
    process.env.SYNTHTUNE_CUDA_ADDON
      ? `CUDA tests skipped: SYNTHTUNE_CUDA_ADDON=${process.env.SYNTHTUNE_CUDA_ADDON} does not exist`
      : 'CUDA tests skipped: no CUDA build (run `npm run build:cuda` where nvcc is installed)',
  );
}
else if (devices === 0) console.log('CUDA device tests skipped: the CUDA build loads but no CUDA device is visible');

describe.runIf(built && devices === 0)('CUDA build without a device', () => {
  it('reports no device and refuses work with an error, not a crash', () => {
    expect(addon!.cudaDeviceCount!()).toBe(0);
    const a = new Float32Array(4);
    expect(() => addon!.cudaSgemmSync!(false, 1, 2, 2, 2, 1, a, a.slice(), 0, new Float32Array(4))).toThrow();
    // the CPU kernels in the same binary still work
    const c = new Float32Array(4);
    addon!.sgemmSync(false, 1, 2, 2, 2, 1, new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), 0, c, 0);
    expect(Array.from(c)).toEqual([19, 22, 43, 50]);
  });
});

describe.runIf(devices > 0)('CUDA kernels against the references', () => {
  const shapes: Array<[number, number, number, number]> = [
    [1, 1, 1, 1],
    [1, 7, 5, 3],
    [2, 129, 33, 70],
    [1, 130, 67, 129],
    [1, 512, 384, 384],
  ];
  for (const [batch, m, n, k] of shapes) {
    for (const transB of [false, true]) {
      it(`sgemm batch=${batch} m=${m} n=${n} k=${k} transB=${transB}`, async () => {
        const a = randomFloats(batch * m * k, m + k);
        const b = randomFloats(batch * k * n, n + 1);
        const c0 = randomFloats(batch * m * n, 3);
        const want = matmulRef(a, b, { m, n, k, batch, transB, alpha: 0.5, beta: 2, c: c0.slice() });
        const got = c0.slice();
        await addon!.cudaSgemm!(transB, batch, m, n, k, 0.5, a, b, 2, got);
        expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5 * k + 1e-5);
      });
    }
  }
  for (const [q, n, d, k] of [
    [1, 7, 3, 7],
    [7, 129, 17, 5],
    [129, 3000, 33, 10],
    [5, 5000, 384, 100],
  ] as Array<[number, number, number, number]>) {
    it(`topk Q=${q} N=${n} D=${d} k=${k} with exclusions`, async () => {
      const queries = randomFloats(q * d, q + d);
      const corpus = randomFloats(n * d, n + d);
      const exclude = Array.from({ length: q }, (_, i) => [i, (i * 7) % n]);
      const want = topkRef(queries, corpus, { dim: d, k, exclude });
      const offsets = new Int32Array(q + 1);
      const ids = new Int32Array(q * 2);
      exclude.forEach((e, i) => {
        offsets[i + 1] = offsets[i] + 2;
        ids.set(e, i * 2);
      });
      const kk = Math.min(k, n);
      const idx = new Int32Array(q * kk);
      const sc = new Float32Array(q * kk);
      await addon!.cudaTopk!(queries, corpus, q, n, d, kk, offsets, ids, idx, sc);
      const dot = (qi: number, j: number) => {
        let s = 0;
        for (let p = 0; p < d; p++) s += queries[qi * d + p] * corpus[j * d + p];
        return s;
      };
      expect(compareTopK({ k: kk, indices: idx, scores: sc }, want, q, dot, 1e-5 * d + 1e-6)).toEqual([]);
    });
  }
});
