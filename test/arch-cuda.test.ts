/**
 * RoBERTa / MPNet / pooling modes on the device model (native/cuda/bert_model.cu) against the CPU
 * model of the same addon, on tiny generated models (hidden 32, 2 layers, 4 heads, T ≤ 12, B ≤ 4,
 * so that it also runs under the CPU emulator of CUDA):
 *   forward (fp32) ≤ 1e-4 for every architecture × pooling mode (and a list of modes, concatenated), padded batches with an all-padding
 *   sequence; gradients after backwards into two slots, tensor by tensor, relative ≤ 1e-3 (RoBERTa
 *   position rows, MPNet's relative-bias table included); the device forward against the TS reference;
 *   two device runs give bit-identical embeddings and gradients (no atomics in the new kernels).
 * Runs when the loaded backend is CUDA (a CUDA build with a device, or the emulator build:
 * SYNTHTUNE_CUDA_ADDON=build-cuda-emu/synthtune_cuda.node SYNTHTUNE_BACKEND=cuda); skips with a
 * message otherwise.
 */
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../lib/kernels/loader';
import { POOLING_MODES, type BertConfig, type PoolingMode } from '../lib/models/onnx/bert';
import { bertForwardRef } from '../lib/models/reference-forward';
import { randomBertWeights } from '../lib/models/tiny';
import { mulberry32 } from '../lib/training/rng';
import { createNativeBert, loadNativeWeights, nativeBertAvailable, nativeConfigFrom, type NativeBertHandle } from '../lib/training/students/full';
import { batchOf } from './helpers/models';

const backend = loadBackend();
const onCuda = backend.info.name === 'cuda' && nativeBertAvailable().ok;
if (!onCuda) console.log(`arch CUDA tests skipped: the loaded backend is ${backend.info.name}, not cuda (${backend.info.reasons.join('; ') || 'no reason given'})`);

const C = 32;
const base = { vocabSize: 100, hidden: C, layers: 2, heads: 4, intermediate: 64, layerNormEps: 1e-5, maxPosition: 16 };
const SHAPES: Record<string, BertConfig> = {
  bert: { ...base, arch: 'bert', typeVocabSize: 2 },
  roberta: { ...base, arch: 'roberta', typeVocabSize: 1, paddingIdx: 1 },
  mpnet: { ...base, arch: 'mpnet', typeVocabSize: 0, paddingIdx: 1, relativeBuckets: 32 },
};

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

function randomVec(n: number, seed: number): Float32Array {
  const rnd = mulberry32(seed);
  return Float32Array.from({ length: n }, () => rnd() * 2 - 1);
}

function model(arch: string, device: 'cpu' | 'cuda', pooling: PoolingMode | PoolingMode[], normalize: boolean): NativeBertHandle {
  const h = createNativeBert(nativeConfigFrom(SHAPES[arch], { pooling, normalize, threads: 1 }), { device, ...(device === 'cuda' ? { precision: 'fp32' as const } : {}) });
  loadNativeWeights(h, randomBertWeights(SHAPES[arch], { seed: 5, std: 0.2 }));
  return h;
}

/** Worst per-tensor relative gradient difference (floor 1e-2 · the model's largest gradient; see cuda-bert.test.ts). */
function gradientError(cpu: NativeBertHandle, dev: NativeBertHandle): { worst: number; name: string } {
  const gc = cpu.getGrads();
  const gd = dev.getGrads();
  const floor = 1e-2 * maxAbs(gc);
  let worst = 0;
  let name = '';
  for (const t of cpu.layout()) {
    const e = maxAbsDiff(gc.subarray(t.offset, t.offset + t.size), gd.subarray(t.offset, t.offset + t.size)) /
      Math.max(maxAbs(gc.subarray(t.offset, t.offset + t.size)), floor);
    if (!(e <= worst)) {
      worst = Number.isNaN(e) ? Infinity : e;
      name = t.name;
    }
  }
  return { worst, name };
}

describe.runIf(onCuda)('architectures: CUDA model vs CPU model (fp32)', () => {
  for (const arch of Object.keys(SHAPES)) {
    it(`${arch}: forward of every pooling mode, and gradients, match the CPU`, () => {
      const types = SHAPES[arch].typeVocabSize > 1;
      const fwd: string[] = [];
      for (const pooling of [...POOLING_MODES, ['lasttoken', 'max', 'mean', 'cls'] as PoolingMode[]]) {
        const normalize = pooling === 'mean' || pooling === 'max' || typeof pooling !== 'string';
        const D = C * [pooling].flat().length;
        const label = [pooling].flat().join('+');
        const cpu = model(arch, 'cpu', pooling, normalize);
        const dev = model(arch, 'cuda', pooling, normalize);
        const q = batchOf([12, 9, 3, 0], 12, 3);
        const want = cpu.forwardSync(q.ids, q.mask, types ? q.types : null, q.B, q.T, 0);
        const got = dev.forwardSync(q.ids, q.mask, types ? q.types : null, q.B, q.T, 0);
        const d = maxAbsDiff(got, want);
        fwd.push(`${label} ${d.toExponential(2)}`);
        expect(d, label).toBeLessThanOrEqual(1e-4);
        const rows = (a: Int32Array) => Array.from({ length: q.B }, (_, b) => Array.from(a.subarray(b * q.T, (b + 1) * q.T)));
        const ref = bertForwardRef({ ...SHAPES[arch], pooling, normalize }, randomBertWeights(SHAPES[arch], { seed: 5, std: 0.2 }), {
          inputIds: rows(q.ids), attentionMask: rows(q.mask), ...(types ? { tokenTypeIds: rows(q.types) } : {}),
        }).sentenceEmbedding!;
        expect(maxAbsDiff(got, ref), `${label} vs TS reference`).toBeLessThanOrEqual(1e-4);
        // two slots, backwards accumulated
        const d2 = batchOf([7, 4, 1], 7, 4);
        for (const h of [cpu, dev]) {
          h.zeroGrad();
          h.forwardSync(d2.ids, d2.mask, types ? d2.types : null, d2.B, d2.T, 1);
          h.backwardSync(randomVec(d2.B * D, 6), 1);
          h.backwardSync(randomVec(q.B * D, 7), 0);
        }
        const { worst, name } = gradientError(cpu, dev);
        fwd.push(`grad ${worst.toExponential(2)} (${name})`);
        expect(worst, `${label} gradients (${name})`).toBeLessThanOrEqual(1e-3);
      }
      console.log(`${arch} cuda vs cpu: ${fwd.join(', ')}`);
      // determinism: the same forward/backward twice on the device, bit for bit
      const run = () => {
        const dev = model(arch, 'cuda', ['max', 'weightedmean'], true);
        const q = batchOf([12, 9, 3, 0], 12, 8);
        dev.zeroGrad();
        const out = dev.forwardSync(q.ids, q.mask, types ? q.types : null, q.B, q.T, 0);
        dev.backwardSync(randomVec(q.B * 2 * C, 9), 0);
        return { out, grads: dev.getGrads() };
      };
      const a = run();
      const b = run();
      const same = (x: Float32Array, y: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
      expect(same(a.out, b.out) && same(a.grads, b.grads)).toBe(true);
    }, 300_000);
  }
});
