/**
 * The device-resident full BERT (native/cuda/bert_model.cu, `new BertModel({..., device: 'cuda'})`)
 * against the CPU model of the same addon, on a tiny generated model (2 layers, hidden 32, 4 heads,
 * T ≤ 12, B ≤ 4, so that it also runs under the CPU emulator of CUDA):
 *   (a) forward outputs (fp32) ≤ 1e-4, padded masked batches (an all-padding sequence included),
 *       token types, mask/types omitted, both poolings, ± normalisation;
 *   (b) gradients after backwards into two slots (accumulating), tensor by tensor, relative ≤ 1e-3;
 *   (c) several Adam/AdamW steps: parameters ≤ 1e-4;
 *   (d) determinism: two device runs are bit-identical;
 *   (e) tf32 matmuls within a looser, justified tolerance;
 *   (f) the full student on device 'cuda': params() host-mirror semantics, state() portable to the
 *       CPU, fit() lowers the loss and resumes an interrupted run exactly; fitRun method 'full' on
 *       device 'cuda' (import check, training, export that onnxruntime reproduces);
 *   (g) argument checks on the device model.
 * These run when the loaded backend is CUDA (loadBackend().name === 'cuda': the CUDA build with a
 * device, or the emulator build selected with SYNTHTUNE_CUDA_ADDON + SYNTHTUNE_BACKEND=cuda) and
 * skip with a message otherwise. The no-CUDA path (the CPU build refuses device 'cuda' with a clear
 * error) runs whenever the CPU build is present.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBackend, packageRoot } from '../lib/kernels/loader';
import { loadEncoder } from '../lib/models/encoder';
import type { BertConfig } from '../lib/models/onnx/bert';
import { bertForwardRef } from '../lib/models/reference-forward';
import { randomBertWeights, writeTinyModel } from '../lib/models/tiny';
import { fit, type Callback, type FitOptions } from '../lib/training';
import { fitRun } from '../lib/training/run';
import { mulberry32 } from '../lib/training/rng';
import type { Example } from '../lib/training/student';
import { runCli } from './helpers/cli';
import {
  createNativeBert,
  FullStudent,
  fullFromState,
  loadNativeWeights,
  nativeBertAvailable,
  nativeConfigFrom,
  resolveFullDevice,
  type FullPrecision,
  type NativeBertHandle,
} from '../lib/training/students/full';
import { batchOf as batchOfIds, scratchDirs } from './helpers/models';

const backend = loadBackend();
const onCuda = backend.info.name === 'cuda' && nativeBertAvailable().ok;
if (!onCuda) {
  console.log(`CUDA BERT device tests skipped: the loaded backend is ${backend.info.name}, not cuda (${backend.info.reasons.join('; ') || 'no reason given'})`);
}

// The CPU build (node-gyp), for the no-CUDA path; null when it is not built.
interface CpuAddon {
  BertModel?: new (config: Record<string, unknown>) => NativeBertHandle;
}
const cpuAddon: CpuAddon | null = (() => {
  try {
    return require('node-gyp-build')(packageRoot()) as CpuAddon; // eslint-disable-line @typescript-eslint/no-var-requires
  } catch {
    return null;
  }
})();
if (!cpuAddon?.BertModel) console.log('CUDA BERT no-CUDA-path tests skipped: the CPU build is not present (npm run build:native)');

const SHAPE: BertConfig = {
  vocabSize: 100, hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPosition: 16, typeVocabSize: 2, layerNormEps: 1e-12,
};
const WEIGHTS = randomBertWeights(SHAPE, { seed: 11, std: 0.2 });
const C = SHAPE.hidden;

/** Padding ids 90..99 (the vocabulary of these models has 100 entries). */
const PAD_IDS = Array.from({ length: 10 }, (_, i) => 90 + i);
const batchOf = (lengths: number[], T: number, seed: number) => batchOfIds(lengths, T, seed, PAD_IDS);

function randomVec(n: number, seed: number, scale = 1): Float32Array {
  const rnd = mulberry32(seed);
  return Float32Array.from({ length: n }, () => scale * (rnd() * 2 - 1));
}

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

function bitEqual(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

type Pooling = 'mean' | 'cls';

function model(device: 'cpu' | 'cuda', pooling: Pooling, normalize: boolean, precision?: FullPrecision): NativeBertHandle {
  const h = createNativeBert(nativeConfigFrom(SHAPE, { pooling, normalize, threads: 1 }), { device, precision });
  loadNativeWeights(h, WEIGHTS);
  return h;
}

/**
 * Worst relative gradient difference over the tensors: max |g_dev − g_cpu| over a tensor divided by
 * max(max |g_cpu| of that tensor, 1e-2 · max |g_cpu| of the model). The floor matters for the key
 * biases only: their gradient is exactly 0 in exact arithmetic (softmax ignores a per-row constant),
 * so both devices hold rounding noise there (~1e-7 of the query bias's) and no relative measure of
 * noise against noise is meaningful.
 */
function gradientError(cpu: NativeBertHandle, dev: NativeBertHandle): { worst: number; name: string } {
  const gc = cpu.getGrads();
  const gd = dev.getGrads();
  const floor = 1e-2 * maxAbs(gc);
  let worst = 0;
  let name = '';
  for (const t of cpu.layout()) {
    const a = gc.subarray(t.offset, t.offset + t.size);
    const b = gd.subarray(t.offset, t.offset + t.size);
    const e = maxAbsDiff(a, b) / Math.max(maxAbs(a), floor);
    if (!(e <= worst)) {
      worst = Number.isNaN(e) ? Infinity : e;
      name = t.name;
    }
  }
  return { worst, name };
}

/** zeroGrad, a query forward (slot 0) and a document forward with types (slot 1), both backwards. */
function forwardBackward(h: NativeBertHandle, seed: number): { q: Float32Array; d: Float32Array } {
  const qb = batchOf([7, 4, 1], 7, seed);
  const db = batchOf([12, 9, 3, 0], 12, seed + 1);
  h.zeroGrad();
  const q = h.forwardSync(qb.ids, qb.mask, null, qb.B, qb.T, 0);
  const d = h.forwardSync(db.ids, db.mask, db.types, db.B, db.T, 1);
  h.backwardSync(randomVec(db.B * C, seed + 2), 1);
  h.backwardSync(randomVec(qb.B * C, seed + 3), 0);
  return { q, d };
}

const tmp = scratchDirs('synthtune-cuda-bert-');

describe.runIf(onCuda)('CUDA BERT model vs the CPU model (fp32)', () => {
  const cases: Array<[Pooling, boolean]> = [['mean', false], ['mean', true], ['cls', false], ['cls', true]];
  for (const [pooling, normalize] of cases) {
    it(`forward matches (${pooling} pooling${normalize ? ', normalised' : ''}, padded batch with an all-padding sequence)`, () => {
      const cpu = model('cpu', pooling, normalize);
      const dev = model('cuda', pooling, normalize, 'fp32');
      expect(dev.device).toBe('cuda');
      expect(dev.precision).toBe('fp32');
      const { ids, mask, types, B, T } = batchOf([10, 6, 1, 0], 10, 3);
      const want = cpu.forwardSync(ids, mask, types, B, T);
      const got = dev.forwardSync(ids, mask, types, B, T);
      const d = maxAbsDiff(got, want);
      // and directly against the pure-TypeScript reference forward pass
      const rows = (a: Int32Array) => Array.from({ length: B }, (_, b) => Array.from(a.subarray(b * T, (b + 1) * T)));
      const ref = bertForwardRef({ ...SHAPE, pooling, normalize }, WEIGHTS, {
        inputIds: rows(ids), attentionMask: rows(mask), tokenTypeIds: rows(types),
      }).sentenceEmbedding!;
      const dRef = maxAbsDiff(got, ref);
      console.log(`forward ${pooling}${normalize ? '+norm' : ''}: max abs diff cuda vs cpu ${d.toExponential(2)}, vs TS reference ${dRef.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-4);
      expect(dRef).toBeLessThanOrEqual(1e-4);
      // mask and types omitted (all ones / all zeros), another slot, another shape
      const o = batchOf([5, 5], 5, 4);
      expect(maxAbsDiff(dev.forwardSync(o.ids, null, null, 2, 5, 3), cpu.forwardSync(o.ids, null, null, 2, 5, 3))).toBeLessThanOrEqual(1e-4);
      expect(dev.slotInfo(3)).toMatchObject({ batch: 2, seq: 5, valid: true });
      expect(dev.slotInfo(0)).toMatchObject({ batch: B, seq: T, valid: true });
    });
  }

  it("packed inference (infer: one padded forward in the last slot on the device) equals the CPU's packed infer", async () => {
    const dev = model('cuda', 'mean', true, 'fp32');
    const cpu = model('cpu', 'mean', true);
    const { ids, types } = batchOf([9, 1, 4], 9, 12);
    const offsets = Int32Array.from([0, 9, 10, 14]);
    const flat = Int32Array.from([...ids.subarray(0, 9), ids[9], ...ids.subarray(18, 22)]);
    const ft = Int32Array.from([...types.subarray(0, 9), types[9], ...types.subarray(18, 22)]);
    const before = dev.slotInfo(0);
    expect(maxAbsDiff(dev.inferSync(flat, offsets, ft), cpu.inferSync(flat, offsets, ft))).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(await dev.infer(flat, offsets, ft), cpu.inferSync(flat, offsets, ft))).toBeLessThanOrEqual(1e-4);
    expect(dev.slotInfo(0)).toEqual(before);
    expect(() => dev.inferSync(flat, Int32Array.from([0, 9, 9, 14]))).toThrow(/sequence 1 has 0 tokens/);
  });

  it('async forward/backward agree with the sync calls; a padded sequence embeds like the sequence alone', async () => {
    const dev = model('cuda', 'mean', false, 'fp32');
    const { ids, mask, types, B, T } = batchOf([9, 5, 2], 9, 7);
    const sync = dev.forwardSync(ids, mask, types, B, T, 0);
    const asy = await dev.forward(ids, mask, types, B, T, 0);
    expect(bitEqual(sync, asy)).toBe(true);
    const alone = dev.forwardSync(ids.slice(T, T + 5), null, types.slice(T, T + 5), 1, 5, 2);
    expect(maxAbsDiff(alone, sync.subarray(C, 2 * C))).toBeLessThanOrEqual(1e-5);
    const dout = randomVec(B * C, 8);
    dev.zeroGrad();
    dev.backwardSync(dout, 0);
    const g1 = dev.getGrads();
    dev.zeroGrad();
    await dev.backward(dout, 0);
    expect(bitEqual(g1, dev.getGrads())).toBe(true);
  });

  for (const [pooling, normalize] of [['mean', true], ['cls', false]] as Array<[Pooling, boolean]>) {
    it(`gradients match tensor by tensor (${pooling}${normalize ? ', normalised' : ''}; two slots, accumulated)`, () => {
      const cpu = model('cpu', pooling, normalize);
      const dev = model('cuda', pooling, normalize, 'fp32');
      const a = forwardBackward(cpu, 20);
      const b = forwardBackward(dev, 20);
      expect(maxAbsDiff(b.q, a.q)).toBeLessThanOrEqual(1e-4);
      expect(maxAbsDiff(b.d, a.d)).toBeLessThanOrEqual(1e-4);
      const { worst, name } = gradientError(cpu, dev);
      console.log(`gradients ${pooling}${normalize ? '+norm' : ''}: worst relative difference cuda vs cpu ${worst.toExponential(2)} (${name})`);
      expect(worst).toBeLessThanOrEqual(1e-3);
      // a second backward into slot 0 accumulates on both
      const dout = randomVec(3 * C, 23);
      cpu.backwardSync(dout, 0);
      dev.backwardSync(dout, 0);
      expect(gradientError(cpu, dev).worst).toBeLessThanOrEqual(1e-3);
      // getTensor / gradsBuffer agree with getGrads / getParams on the device
      const gb = new Float32Array(dev.gradsBuffer());
      expect(bitEqual(gb, dev.getGrads())).toBe(true);
      const t = dev.layout().find((x) => x.name === 'encoder.layer.1.intermediate.dense.weight')!;
      expect(bitEqual(dev.getTensor(t.name), dev.getParams().subarray(t.offset, t.offset + t.size))).toBe(true);
    });
  }

  it('Adam/AdamW steps on the same gradients give the same parameters and moments', () => {
    // The CPU's gradients are copied into the device's (through the host mirror), so this compares
    // the optimizer arithmetic alone, with the usual hyper-parameters.
    const cpu = model('cpu', 'mean', true);
    const dev = model('cuda', 'mean', true, 'fp32');
    const G = new Float32Array(dev.gradsBuffer());
    for (let t = 1; t <= 4; t++) {
      forwardBackward(cpu, 30 + t);
      G.set(cpu.getGrads());
      dev.syncFromHost('grads');
      const decoupled = t !== 3; // one plain-Adam (L2) step
      cpu.adamStep(2e-3, 0.9, 0.999, 1e-8, 0.01, t, decoupled);
      dev.adamStep(2e-3, 0.9, 0.999, 1e-8, 0.01, t, decoupled);
    }
    const p0 = model('cpu', 'mean', true).getParams();
    const pc = cpu.getParams();
    const moved = maxAbsDiff(pc, p0);
    const d = maxAbsDiff(dev.getParams(), pc);
    const mc = new Float32Array(cpu.adamMBuffer());
    const vc = new Float32Array(cpu.adamVBuffer());
    const dm = maxAbsDiff(new Float32Array(dev.adamMBuffer()), mc);
    const dv = maxAbsDiff(new Float32Array(dev.adamVBuffer()), vc);
    console.log(`4 Adam steps on the same gradients: params moved up to ${moved.toExponential(2)}; cuda vs cpu params ${d.toExponential(2)}, m ${dm.toExponential(2)}, v ${dv.toExponential(2)}`);
    expect(moved).toBeGreaterThan(1e-3);
    expect(d).toBeLessThanOrEqual(1e-6);
    expect(dm).toBeLessThanOrEqual(1e-6 * maxAbs(mc));
    expect(dv).toBeLessThanOrEqual(1e-6 * maxAbs(vc));
    dev.resetOptimizer();
    expect(maxAbs(new Float32Array(dev.adamMBuffer()))).toBe(0);
    expect(maxAbs(new Float32Array(dev.adamVBuffer()))).toBe(0);
  });

  it('several training steps (each device with its own gradients) give the same parameters (≤ 1e-4)', () => {
    const cpu = model('cpu', 'mean', true);
    const dev = model('cuda', 'mean', true, 'fp32');
    // eps 1e-4 rather than 1e-8: Adam divides each gradient by its own magnitude, so the key-bias
    // gradients (exactly 0 in exact arithmetic, ~1e-7 of rounding noise of either sign on each
    // device) would move those biases by up to ±lr per step, differently on the two devices: with
    // eps 1e-8 they differ by ~1e-4 after a few steps whatever the implementation. With eps 1e-4
    // the noise moves them by ≲ 1e-3·lr; the real gradients here are mostly ≫ 1e-4 and the
    // optimizer arithmetic itself is compared with eps 1e-8 in the test above.
    for (let t = 1; t <= 4; t++) {
      forwardBackward(cpu, 30 + t);
      forwardBackward(dev, 30 + t);
      const decoupled = t !== 3;
      cpu.adamStep(2e-3, 0.9, 0.999, 1e-4, 0.01, t, decoupled);
      dev.adamStep(2e-3, 0.9, 0.999, 1e-4, 0.01, t, decoupled);
    }
    const p0 = model('cpu', 'mean', true).getParams();
    const pc = cpu.getParams();
    const pd = dev.getParams();
    const moved = maxAbsDiff(pc, p0);
    const d = maxAbsDiff(pd, pc);
    const worst = cpu.layout().map((t) => ({ name: t.name, d: maxAbsDiff(pd.subarray(t.offset, t.offset + t.size), pc.subarray(t.offset, t.offset + t.size)) }))
      .sort((a, b) => b.d - a.d)[0];
    console.log(`after 4 training steps: params moved up to ${moved.toExponential(2)}; cuda vs cpu max abs diff ${d.toExponential(2)} (${worst.name})`);
    expect(moved).toBeGreaterThan(1e-3);
    expect(d).toBeLessThanOrEqual(1e-4);
  });

  it('host mirrors: syncFromHost uploads edits, other methods never touch the mirror', () => {
    const dev = model('cuda', 'mean', false, 'fp32');
    const P = new Float32Array(dev.paramsBuffer());
    const before = dev.getParams();
    expect(bitEqual(P, before)).toBe(true);
    P[0] += 1;
    expect(dev.getParams()[0]).toBe(before[0]); // not uploaded yet
    dev.syncFromHost('params');
    expect(dev.getParams()[0]).toBe(P[0]);
    dev.setParams(before);
    expect(P[0]).not.toBe(before[0]); // the mirror is a snapshot
    dev.syncToHost('params');
    expect(P[0]).toBe(before[0]);
    expect(() => dev.syncToHost('bogus' as 'all')).toThrow(/which must be/);
  });

  it('is deterministic: two device runs are bit-identical', () => {
    const run = (): Float32Array[] => {
      const dev = model('cuda', 'mean', true, 'fp32');
      const outs: Float32Array[] = [];
      for (let t = 1; t <= 3; t++) {
        const { q, d } = forwardBackward(dev, 40 + t);
        outs.push(q, d, dev.getGrads());
        dev.adamStep(1e-3, 0.9, 0.999, 1e-8, 0.01, t, true);
      }
      outs.push(dev.getParams());
      return outs;
    };
    const a = run();
    const b = run();
    expect(a.length).toBe(b.length);
    a.forEach((x, i) => expect(bitEqual(x, b[i]), `array ${i}`).toBe(true));
  });

  it('tf32 (the device default) stays within a tf32 tolerance of the CPU', () => {
    // tf32 keeps 10 mantissa bits: each matmul input is rounded with relative error ≤ 2^-11 ≈ 4.9e-4,
    // so a K-term dot product (K ≤ 64 here, ≤ 48 tokens in the weight gradients) carries up to
    // ~√K·4.9e-4 ≈ 4e-3 relative error. Through 2 layers (LayerNorm renormalises each) into
    // unit-norm embeddings that stays well below 5e-3 absolute per component, and gradients
    // (another chain of tf32 matmuls, measured relative to each tensor's scale as above) below 2e-2.
    // (With the tf32 GEMMs under the CPU emulator: 4e-4 and 3e-3.) A wrong matmul path is off by
    // O(1) and still fails.
    const cpu = model('cpu', 'mean', true);
    const dev = model('cuda', 'mean', true);
    expect(dev.precision).toBe('tf32');
    const a = forwardBackward(cpu, 50);
    const b = forwardBackward(dev, 50);
    const dq = maxAbsDiff(b.q, a.q);
    const dd = maxAbsDiff(b.d, a.d);
    const g = gradientError(cpu, dev);
    console.log(`tf32: forward max abs diff ${Math.max(dq, dd).toExponential(2)}; gradients worst relative ${g.worst.toExponential(2)} (${g.name})`);
    expect(Math.max(dq, dd)).toBeLessThanOrEqual(5e-3);
    expect(g.worst).toBeLessThanOrEqual(2e-2);
    // switching to fp32 brings it back within the fp32 tolerance
    dev.setPrecision('fp32');
    expect(dev.precision).toBe('fp32');
    const c = forwardBackward(dev, 50);
    expect(maxAbsDiff(c.d, a.d)).toBeLessThanOrEqual(1e-4);
    expect(gradientError(cpu, dev).worst).toBeLessThanOrEqual(1e-3);
  });

  it('checks its arguments like the CPU model', () => {
    const dev = model('cuda', 'mean', false, 'fp32');
    const { ids, mask, B, T } = batchOf([4, 2], 4, 9);
    expect(() => dev.backwardSync(new Float32Array(B * C), 5)).toThrow(/no forward pass in slot 5/);
    const bad = ids.slice();
    bad[3] = SHAPE.vocabSize;
    expect(() => dev.forwardSync(bad, mask, null, B, T)).toThrow(RangeError);
    expect(() => dev.forwardSync(ids, mask, null, B, T + 1)).toThrow(/length/);
    expect(() => dev.forwardSync(new Int32Array(2 * 17), null, null, 2, 17)).toThrow(/exceeds maxPosition/);
    const badMask = mask.slice();
    badMask[0] = 2;
    expect(() => dev.forwardSync(ids, badMask, null, B, T)).toThrow(/not 0 or 1/);
    expect(() => dev.forwardSync(ids, mask, Int32Array.from({ length: B * T }, () => 2), B, T)).toThrow(/tokenTypeIds/);
    expect(() => dev.forwardSync(ids, mask, null, B, T, 8)).toThrow(/slot/);
    dev.forwardSync(ids, mask, null, B, T, 0);
    expect(() => dev.backwardSync(new Float32Array(B * C + 1), 0)).toThrow(/dPooled has length/);
    expect(() => dev.backwardSync(new Float32Array(B * C).fill(NaN), 0)).toThrow(/not finite/);
    expect(() => dev.setTensor('embeddings.LayerNorm.bias', new Float32Array(C - 1))).toThrow(/length/);
    expect(() => dev.setTensor('nope', new Float32Array(C))).toThrow(/unknown tensor/);
    expect(() => dev.adamStep(1e-3, 1, 0.999, 1e-8, 0, 1)).toThrow(/beta1/);
    expect(() => dev.setPrecision('bf16' as FullPrecision)).toThrow(/fp32' or 'tf32/);
    expect(() => createNativeBert({ ...nativeConfigFrom(SHAPE, { pooling: 'mean' }) }, { device: 'cuda', precision: 'fp16' as FullPrecision })).toThrow(/precision/);
    // a pending async call makes the model busy, on the device too
    const p = dev.forward(ids, mask, null, B, T, 0);
    expect(() => dev.getParams()).toThrow(/busy/);
    expect(() => dev.paramsBuffer()).toThrow(/busy/);
    return p;
  });
});

// ---- the full student on the device ------------------------------------------------------------

function data(n: number): Example<Int32Array>[] {
  const rnd = mulberry32(5);
  const text = () => Int32Array.from({ length: 3 + Math.floor(rnd() * 8) }, (_, i) => (i === 0 ? 1 : 2 + Math.floor(rnd() * 88)));
  return Array.from({ length: n }, () => ({ query: text(), positive: text(), negative: text(), margin: rnd() * 0.4 - 0.1 }));
}
const TRAIN = data(16);

function student(device: 'cpu' | 'cuda', precision?: FullPrecision): FullStudent {
  return new FullStudent({ config: nativeConfigFrom(SHAPE, { pooling: 'mean', normalize: false, threads: 1 }), weights: WEIGHTS, device, precision });
}

function options(device: 'cpu' | 'cuda', outDir?: string): FitOptions<Int32Array> {
  return {
    student: student(device), trainData: TRAIN, optimizer: 'AdamW', learningRate: 3e-3, weightDecay: 0.01, epochs: 2, batchSize: 4,
    scheduler: { warmup: 1, decay: 'linear' }, seed: 3, score: 'cosine', outDir, log: null,
  };
}

describe.runIf(onCuda)("the full student on device 'cuda'", () => {
  const texts = [Int32Array.from([1, 5, 9, 33, 2]), Int32Array.from([1, 70, 2]), Int32Array.from([1, 8, 8, 8, 8, 8, 8, 8, 8, 2])];

  it('params() views are host mirrors: edits reach the device; state() moves to the CPU', async () => {
    const dev = student('cuda', 'fp32');
    const cpu = student('cpu');
    expect(dev.device).toBe('cuda');
    expect(dev.describeDevice()).toBe('cuda (fp32)');
    expect(cpu.describeDevice()).toBe('cpu (fp32)');
    for (const s of [dev, cpu]) {
      for (const p of s.params()) p.data.set(Array.from(p.data, (v, i) => v + 0.01 * Math.sin(i + p.name.length)));
    }
    const a = await dev.encode(texts, 'query');
    const b = await cpu.encode(texts, 'query');
    expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-4);
    expect(Array.from(dev.flatParams)).toEqual(Array.from(cpu.flatParams));
    // the device student's state rebuilt on the CPU (what export and checkpoints hold)
    const moved = fullFromState(dev.state());
    expect(moved.device).toBe('cpu');
    expect(maxAbsDiff(await moved.encode(texts, 'query'), a)).toBeLessThanOrEqual(1e-4);
    const back = fullFromState(cpu.state(), { device: 'cuda', precision: 'fp32' });
    expect(back.device).toBe('cuda');
    expect(maxAbsDiff(await back.encode(texts, 'query'), b)).toBeLessThanOrEqual(1e-4);
  });

  it('fit() lowers the loss and resumes an interrupted run bit-identically', async () => {
    const whole = options('cuda', await tmp());
    const ref = await fit(whole);
    expect(ref.steps).toBe(8);
    console.log(`cuda fit: epoch losses ${ref.epochLosses.map((x) => x.toExponential(3)).join(' → ')}`);
    expect(ref.epochLosses[1]).toBeLessThan(ref.epochLosses[0]);

    const dir = await tmp();
    const ctl = new AbortController();
    const aborter: Callback = { name: 'aborter', onStepEnd: (_c, s) => { if (s.step === 3) ctl.abort(); } };
    const first = await fit({ ...options('cuda', dir), callbacks: [aborter], signal: ctl.signal });
    expect(first.status).toBe('interrupted');
    const second = options('cuda', dir);
    const r = await fit(second);
    expect(r.resumedFrom).toEqual({ epoch: 0, step: 3 });
    expect(r.epochLosses).toEqual(ref.epochLosses);
    expect(bitEqual((second.student as FullStudent).flatParams, (whole.student as FullStudent).flatParams)).toBe(true);
  });
});

// ---- fitRun (what `synthtune fit --method full --device ...` runs) -----------------------------

const e2eRoot = tmp.sync();
const TOPICS = ['vaccine infection risk', 'protein folding chains', 'quick brown fox', 'ocean tides moon', 'river delta flood', 'gene expression cells'];
const ROWS = TOPICS.flatMap((t, i) => {
  const other = TOPICS[(i + 1) % TOPICS.length];
  return [
    { query: `what about ${t}`, positive: `${t} study`, negative: `${other} notes`, margin: 0.3 },
    { query: `${t.split(' ')[0]} facts`, positive: `notes on ${t}`, negative: `${other} study`, margin: 0.2 },
  ];
});
const trainFile = path.join(e2eRoot, 'train.jsonl');
fs.writeFileSync(trainFile, ROWS.map((r) => JSON.stringify(r)).join('\n'));
const e2eModel = () => writeTinyModel(path.join(e2eRoot, 'base'), {
  seed: 9, texts: ROWS.flatMap((r) => [r.query, r.positive, r.negative]), vocabSize: 200,
  shape: { hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPosition: 16 },
});

describe.runIf(onCuda)("fitRun method 'full' on device 'cuda'", () => {
  it('imports (checked in fp32), trains with tf32 (loss goes down), exports what onnxruntime reproduces', async () => {
    const base = e2eModel();
    let trained: FullStudent | null = null;
    const grab: Callback = { name: 'grab', onTrainEnd: (ctx) => { trained = ctx.student as FullStudent; } };
    const lines: string[] = [];
    const r = await fitRun({
      train: trainFile, method: 'full', model: base.dir, device: 'cuda', epochs: 3, batchSize: 4, learningRate: 3e-3, seed: 1,
      score: 'cosine', marginScale: 1, maxLength: 16, out: path.join(e2eRoot, 'fit'), log: (l) => lines.push(l), callbacks: [grab],
    });
    console.log(lines.filter((l) => /device|training on|imported/.test(l)).join('\n'));
    expect(lines.some((l) => /^fit: training on cuda \(.*\), tf32 matmuls$/.test(l))).toBe(true);
    expect(r.status).toBe('finished');
    console.log(`cuda fitRun: epoch losses ${r.epochLosses.map((x) => x.toExponential(3)).join(' → ')}`);
    expect(r.epochLosses[r.epochLosses.length - 1]).toBeLessThan(r.epochLosses[0]);
    const student = trained as unknown as FullStudent;
    expect(student.device).toBe('cuda');
    expect(student.precision).toBe('tf32');
    const enc = await loadEncoder(r.modelDir, { threads: 1 });
    try {
      const texts = ROWS.slice(0, 5).map((x) => x.query);
      const ort = await enc.encode(texts);
      student.setPrecision('fp32');
      const native = await student.encode(texts.map((t) => enc.tokenizer.encode(t).ids), 'query');
      expect(maxAbsDiff(ort, native)).toBeLessThanOrEqual(1e-4);
    } finally {
      await enc.release();
    }
  });
});

// ---- without CUDA ------------------------------------------------------------------------------

describe.runIf(!!cpuAddon?.BertModel)('the CPU build without CUDA', () => {
  const cfg = { ...nativeConfigFrom(SHAPE, { pooling: 'mean' }) };

  it("refuses device 'cuda' with a clear error; device 'cpu' is the default", () => {
    const Ctor = cpuAddon!.BertModel!;
    expect(() => new Ctor({ ...cfg, device: 'cuda' })).toThrow(/this build has no CUDA backend \(npm run build:cuda\)/);
    const h = new Ctor(cfg);
    expect(h.device).toBe('cpu');
    expect(h.precision).toBe('fp32');
    expect(new Ctor({ ...cfg, device: 'cpu', precision: 'fp32' }).device).toBe('cpu');
    expect(() => new Ctor({ ...cfg, device: 'gpu' })).toThrow(/config.device must be 'cpu' or 'cuda'/);
    expect(() => new Ctor({ ...cfg, precision: 'tf32' })).toThrow(/needs device 'cuda'/);
    expect(() => h.setPrecision('tf32')).toThrow(/needs device 'cuda'/);
    h.setPrecision('fp32');
    h.syncToHost();
    h.syncFromHost('params'); // no-ops on the CPU
  });

  it("the student: 'auto' follows the loaded backend, an explicit 'cuda' needs it", () => {
    expect(resolveFullDevice('auto')).toBe(onCuda ? 'cuda' : 'cpu');
    expect(resolveFullDevice('cpu')).toBe('cpu');
    if (!onCuda) {
      expect(() => resolveFullDevice('cuda')).toThrow(/device 'cuda' needs the CUDA backend/);
      expect(() => student('cuda')).toThrow(/device 'cuda' needs the CUDA backend/);
    }
    expect(() => resolveFullDevice('tpu' as 'cpu')).toThrow(/device must be/);
    expect(() => student('cpu', 'tf32')).toThrow(/needs device 'cuda'/);
  });

  it.runIf(!onCuda)("fitRun and the CLI with device 'cuda' fail clearly; their option checks", async () => {
    const base = e2eModel();
    const out = path.join(e2eRoot, 'nocuda');
    await expect(fitRun({ train: trainFile, method: 'full', model: base.dir, device: 'cuda', out, log: null }))
      .rejects.toThrow(/device 'cuda' needs the CUDA backend/);
    const cli = (args: string[]) => runCli('fit', ['--train', trainFile, '--out', out, ...args]);
    const r = await cli(['--method', 'full', '--model', base.dir, '--device', 'cuda']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/device 'cuda' needs the CUDA backend/);
    expect((await cli(['--method', 'full', '--model', base.dir, '--device', 'gpu'])).err).toMatch(/--device must be auto, cpu or cuda/);
    expect((await cli(['--method', 'full', '--model', base.dir, '--precision', 'fp16'])).err).toMatch(/--precision must be tf32 or fp32/);
    expect((await cli(['--method', 'full', '--model', base.dir, '--device', 'cpu', '--precision', 'tf32'])).err).toMatch(/--precision tf32 needs --device cuda/);
    expect((await cli(['--method', 'static', '--model', base.dir, '--device', 'cpu'])).err).toMatch(/--device and --precision are for --method full/);
  });
});
