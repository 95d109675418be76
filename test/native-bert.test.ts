/**
 * The native BERT encoder (native/cpu/bert*.cc via native/bindings_bert.cc) and the full student
 * (lib/training/students/full.ts):
 *   (a) forward == lib/models' pure-TS reference forward (mean / CLS pooling, ± normalisation,
 *       padded batch of different lengths, token types), max abs diff ≤ 1e-4;
 *   (b) backward == central differences of a float64 reference, tensor by tensor (relative error
 *       ≤ 1e-3), through the attention mask and padding; padded positions leak nothing;
 *   (c) a few AdamW steps on a fixed batch lower the Margin-MSE loss (fit.ts's trainStep);
 *   (d) training is deterministic; (e) bad arguments give clear errors, never a crash.
 * Skipped (with the reason) when the native addon, or its BertModel, is not loaded.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrtModel } from '../lib/models/ort';
import type { BertConfig, WeightMap } from '../lib/models/onnx/bert';
import { bertForwardRef } from '../lib/models/reference-forward';
import { randomBertWeights, writeTinyModel } from '../lib/models/tiny';
import { assemble, trainStep } from '../lib/training/fit';
import { Adam } from '../lib/training/optim';
import { mulberry32 } from '../lib/training/rng';
import type { NormalExample } from '../lib/training/student';
import {
  createNativeBert,
  FullStudent,
  loadNativeWeights,
  nativeBertAvailable,
  nativeConfigFrom,
  nativeWeightMap,
  type NativeBertHandle,
  type TokenIds,
} from '../lib/training/students/full';
import { bertForward64, type Ref64Config, type Weights64 } from './helpers/bert-ref64';
import { batchOf } from './helpers/models';

const avail = nativeBertAvailable();
if (!avail.ok) console.log(`native BERT tests skipped: ${avail.reason}`);

const SHAPE: BertConfig = {
  vocabSize: 100, hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPosition: 16, typeVocabSize: 2, layerNormEps: 1e-12,
};

function rows(a: Int32Array, B: number, T: number): number[][] {
  return Array.from({ length: B }, (_, b) => Array.from(a.subarray(b * T, (b + 1) * T)));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function nativeModel(config: BertConfig, weights: WeightMap, pooling: 'mean' | 'cls', normalize: boolean): NativeBertHandle {
  const h = createNativeBert(nativeConfigFrom(config, { pooling, normalize, threads: 2 }));
  loadNativeWeights(h, weights);
  return h;
}

describe.runIf(avail.ok)('native BERT forward', () => {
  const weights = randomBertWeights(SHAPE, { seed: 11, std: 0.2 });
  const { ids, mask, types, B, T } = batchOf([8, 5, 2], 8, 3);

  for (const pooling of ['mean', 'cls'] as const) {
    for (const normalize of [false, true]) {
      it(`matches the TS reference (${pooling} pooling${normalize ? ', normalised' : ''}, padded batch)`, () => {
        const h = nativeModel(SHAPE, weights, pooling, normalize);
        const out = h.forwardSync(ids, mask, types, B, T);
        const ref = bertForwardRef({ ...SHAPE, pooling, normalize }, weights, {
          inputIds: rows(ids, B, T), attentionMask: rows(mask, B, T), tokenTypeIds: rows(types, B, T),
        }).sentenceEmbedding!;
        const d = maxAbsDiff(out, ref);
        console.log(`forward ${pooling}${normalize ? '+norm' : ''}: max abs diff vs reference ${d.toExponential(2)}`);
        expect(d).toBeLessThanOrEqual(1e-4);
      });
    }
  }

  it('a padded sequence gives the same embedding as the sequence alone', () => {
    const h = nativeModel(SHAPE, weights, 'mean', false);
    const out = h.forwardSync(ids, mask, types, B, T);
    const L = 5;
    const alone = h.forwardSync(ids.slice(T, T + L), null, types.slice(T, T + L), 1, L, 3);
    expect(maxAbsDiff(alone, out.subarray(32, 64))).toBeLessThanOrEqual(1e-5);
  });

  it('round-trips weights by name (setTensor / getTensor / nativeWeightMap)', () => {
    const h = nativeModel(SHAPE, weights, 'mean', false);
    const back = nativeWeightMap(h);
    expect([...back.keys()].sort()).toEqual([...weights.keys()].sort());
    for (const [name, t] of weights) {
      expect(back.get(name)!.dims).toEqual(t.dims);
      expect(back.get(name)!.data).toEqual(t.data);
    }
    const layout = h.layout();
    expect(layout.reduce((s, t) => s + t.size, 0)).toBe(h.numParams());
    expect(layout.find((t) => t.name.endsWith('query.bias'))!.decay).toBe(false);
    expect(layout.find((t) => t.name === 'embeddings.word_embeddings.weight')!.decay).toBe(true);
  });
});

// ---- backward vs finite differences -------------------------------------------------------------

function to64(w: WeightMap): Weights64 {
  return new Map([...w].map(([k, v]) => [k, Float64Array.from(v.data)]));
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

interface GradReport {
  worst: number;
  worstName: string;
  /** max |∇ key.bias| / |∇ query.bias| (exactly 0 in exact arithmetic). */
  keyBias: number;
}

/** Checks every tensor's native gradient of L = <r, out> against central differences in float64. */
function checkGradients(pooling: 'mean' | 'cls', normalize: boolean, seed: number): GradReport {
  const weights = randomBertWeights(SHAPE, { seed, std: 0.3 });
  const { ids, mask, types, B, T } = batchOf([6, 4, 2], 6, seed + 1);
  const C = SHAPE.hidden;
  const rnd = mulberry32(seed + 2);
  const r = Float32Array.from({ length: B * C }, () => rnd() * 2 - 1);
  const h = nativeModel(SHAPE, weights, pooling, normalize);
  h.zeroGrad();
  h.forwardSync(ids, mask, types, B, T);
  h.backwardSync(r);
  const grads = h.getGrads();

  const cfg: Ref64Config = { ...SHAPE, pooling, normalize };
  const W = to64(weights);
  const loss = () => dot(r, bertForward64(cfg, W, ids, mask, types, B, T));
  const eps = 1e-5;
  /** Directional derivative of the loss along u for tensor `name` (central difference). */
  const fd = (name: string, u: Float64Array): number => {
    const x = W.get(name)!;
    const x0 = x.slice();
    for (let i = 0; i < x.length; i++) x[i] = x0[i] + eps * u[i];
    const lp = loss();
    for (let i = 0; i < x.length; i++) x[i] = x0[i] - eps * u[i];
    const lm = loss();
    x.set(x0);
    return (lp - lm) / (2 * eps);
  };

  let worst = 0;
  let worstName = '';
  let keyBias = 0;
  const note = (name: string, err: number) => {
    if (err > worst) {
      worst = err;
      worstName = name;
    }
  };
  const layout = h.layout();
  const norm = (name: string) => {
    const t = layout.find((x) => x.name === name)!;
    const g = grads.subarray(t.offset, t.offset + t.size);
    return Math.sqrt(dot(g, g));
  };
  for (const t of layout) {
    const g = grads.subarray(t.offset, t.offset + t.size);
    const gn = Math.sqrt(dot(g, g));
    if (t.name.endsWith('attention.self.key.bias')) {
      // Softmax is shift-invariant per row and q·(k + b) shifts every score of a row by q·b: the
      // exact gradient is 0. Both the native value (rounding noise) and the difference must be tiny.
      const qb = norm(t.name.replace('key.bias', 'query.bias'));
      keyBias = Math.max(keyBias, gn / qb);
      expect(gn / qb).toBeLessThanOrEqual(1e-5);
      const u = Float64Array.from({ length: t.size }, () => rnd() * 2 - 1);
      expect(Math.abs(fd(t.name, u)) / (qb * Math.sqrt(dot(u, u)))).toBeLessThanOrEqual(1e-5);
      continue;
    }
    expect(gn, `${t.name} has a zero gradient`).toBeGreaterThan(0);
    // 1. along the gradient itself: the derivative must be |g|
    const ug = Float64Array.from(g, (v) => v / gn);
    note(t.name, Math.abs(fd(t.name, ug) - gn) / gn);
    // 2. along a random direction, relative to the Cauchy–Schwarz bound |g|·|u|
    const u = Float64Array.from({ length: t.size }, () => rnd() * 2 - 1);
    note(t.name, Math.abs(fd(t.name, u) - dot(g, u)) / (gn * Math.sqrt(dot(u, u))));
    // 3. the three largest entries, one by one
    const top = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, 3);
    for (const i of top) {
      const e = new Float64Array(t.size);
      e[i] = 1;
      const f = fd(t.name, e);
      note(`${t.name}[${i}]`, Math.abs(f - g[i]) / Math.max(Math.abs(f), Math.abs(g[i])));
    }
  }
  return { worst, worstName, keyBias };
}

describe.runIf(avail.ok)('native BERT backward', () => {
  for (const [pooling, normalize] of [['mean', true], ['cls', false]] as const) {
    it(`matches central differences tensor by tensor (${pooling}${normalize ? ', normalised' : ''}, masked padded batch)`, () => {
      const { worst, worstName, keyBias } = checkGradients(pooling, normalize, pooling === 'mean' ? 21 : 31);
      console.log(`backward ${pooling}${normalize ? '+norm' : ''}: worst relative error ${worst.toExponential(2)} (${worstName}); ` +
        `|grad key.bias| / |grad query.bias| ${keyBias.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(1e-3);
    });
  }

  it('padded positions leak nothing: other padding ids/types change neither output nor gradients', () => {
    const weights = randomBertWeights(SHAPE, { seed: 5, std: 0.3 });
    const run = (padIds: number[]) => {
      const { ids, mask, types, B, T } = batchOf([7, 4, 1], 7, 9, padIds);
      const h = nativeModel(SHAPE, weights, 'mean', false);
      h.zeroGrad();
      const out = h.forwardSync(ids, mask, types, B, T);
      const r = Float32Array.from({ length: out.length }, (_, i) => Math.sin(i));
      h.backwardSync(r);
      return { out, grads: h.getGrads(), layout: h.layout() };
    };
    const a = run([90, 91, 92]);
    const b = run([95, 96, 97]);
    expect(maxAbsDiff(a.out, b.out)).toBe(0);
    expect(maxAbsDiff(a.grads, b.grads)).toBe(0);
    // word-embedding rows of ids that occur only in padding get exactly zero gradient
    const word = a.layout.find((t) => t.name === 'embeddings.word_embeddings.weight')!;
    const C = SHAPE.hidden;
    for (const id of [90, 91, 92, 95, 96, 97]) {
      const row = a.grads.subarray(word.offset + id * C, word.offset + (id + 1) * C);
      expect(row.every((v) => v === 0)).toBe(true);
    }
  });

  it('gradients accumulate across backwards until zeroGrad', () => {
    const weights = randomBertWeights(SHAPE, { seed: 6 });
    const h = nativeModel(SHAPE, weights, 'mean', false);
    const { ids, mask, types, B, T } = batchOf([5, 3], 5, 1);
    const r = new Float32Array(B * SHAPE.hidden).fill(0.5);
    h.zeroGrad();
    h.forwardSync(ids, mask, types, B, T);
    h.backwardSync(r);
    const g1 = h.getGrads();
    h.backwardSync(r);
    const g2 = h.getGrads();
    expect(maxAbsDiff(g2, g1.map((v) => 2 * v))).toBeLessThanOrEqual(1e-6);
    h.zeroGrad();
    expect(h.getGrads().every((v) => v === 0)).toBe(true);
  });
});

// ---- the full student: Margin-MSE training ------------------------------------------------------

function examples(n: number, seed: number): NormalExample<TokenIds>[] {
  const rnd = mulberry32(seed);
  const text = (len: number) => [1, ...Array.from({ length: len }, () => 3 + Math.floor(rnd() * 90)), 2];
  return Array.from({ length: n }, (_, i) => ({
    query: text(2 + (i % 3)),
    positive: text(5 + (i % 4)),
    negatives: [text(4 + (i % 5))],
    margins: [2 * rnd() - 0.5],
  }));
}

function student(seed: number): FullStudent {
  const config = nativeConfigFrom(SHAPE, { pooling: 'mean', normalize: false, threads: 2 });
  return new FullStudent({ config, weights: randomBertWeights(SHAPE, { seed, std: 0.05 }) });
}

async function train(s: FullStudent, steps: number): Promise<number[]> {
  const data = examples(6, 4);
  const order = Int32Array.from(data.keys());
  const batch = assemble(data, order, 0, data.length);
  const opt = new Adam({ name: 'AdamW', weightDecay: 0.01 });
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push(await trainStep(s, batch, opt, 3e-3, 'dot'));
  return losses;
}

describe.runIf(avail.ok)('native AdamW step', () => {
  it('gives the bits of the float32 formula (one rounding per operation), decoupled and L2, decayed or not', () => {
    const h = nativeModel(SHAPE, randomBertWeights(SHAPE, { seed: 41, std: 0.2 }), 'mean', false);
    const { ids, mask, types, B, T } = batchOf([8, 5, 2], 8, 42);
    const f = Math.fround;
    const x = h.getParams();
    const m = new Float32Array(x.length);
    const v = new Float32Array(x.length);
    const layout = h.layout();
    const [lr, b1, b2, eps, wd] = [2e-3, 0.9, 0.999, 1e-8, 0.01];
    for (let t = 1; t <= 4; t++) {
      h.zeroGrad();
      h.forwardSync(ids, mask, types, B, T);
      h.backwardSync(Float32Array.from({ length: B * SHAPE.hidden }, (_, i) => Math.sin(i + t)));
      const g = h.getGrads();
      const decoupled = t !== 3;
      h.adamStep(lr, b1, b2, eps, wd, t, decoupled);
      // the reference, with the native code's constants (float32)
      const c1 = f(1 / (1 - f(b1) ** t));
      const c2 = f(1 / (1 - f(b2) ** t));
      const [fb1, fb2, a1, a2, flr, feps] = [f(b1), f(b2), f(1 - f(b1)), f(1 - f(b2)), f(lr), f(eps)];
      for (const tensor of layout) {
        const w = tensor.decay ? f(wd) : 0;
        const l2 = decoupled ? 0 : w;
        const dec = decoupled ? f(flr * w) : 0;
        for (let i = tensor.offset; i < tensor.offset + tensor.size; i++) {
          const gi = f(g[i] + f(l2 * x[i]));
          const mi = f(f(fb1 * m[i]) + f(a1 * gi));
          const vi = f(f(fb2 * v[i]) + f(f(a2 * gi) * gi));
          m[i] = mi;
          v[i] = vi;
          x[i] = f(f(x[i] - f(dec * x[i])) - f(f(flr * f(mi * c1)) / f(f(Math.sqrt(f(vi * c2))) + feps)));
        }
      }
    }
    const got = h.getParams();
    let differ = 0;
    for (let i = 0; i < x.length; i++) differ += Object.is(got[i], x[i]) ? 0 : 1;
    expect(differ).toBe(0);
    expect(new Float32Array(h.adamMBuffer())).toEqual(m);
    expect(new Float32Array(h.adamVBuffer())).toEqual(v);
  });
});

describe.runIf(avail.ok)('full student (method: full)', () => {
  it('a few AdamW steps on a fixed batch lower the Margin-MSE loss', async () => {
    const losses = await train(student(1), 8);
    console.log(`full student Margin-MSE losses: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);
  });

  it('is deterministic for a seed', async () => {
    const a = student(2);
    const b = student(2);
    const la = await train(a, 3);
    const lb = await train(b, 3);
    expect(lb).toEqual(la);
    expect(maxAbsDiff(a.flatParams, b.flatParams)).toBe(0);
    const x = [[1, 5, 6, 2], [1, 7, 2]];
    expect(await a.encode(x, 'query')).toEqual(await a.encode(x, 'query'));
  });

  it('params() are live views named like HF; state()/load() round-trip', async () => {
    const s = student(3);
    const p = s.params();
    expect(p.map((x) => x.name)).toContain('encoder.layer.1.attention.self.query.weight');
    const q = p.find((x) => x.name === 'encoder.layer.0.intermediate.dense.weight')!;
    expect(q.shape).toEqual([64, 32]);
    const st = s.state();
    await train(s, 2);
    expect(maxAbsDiff(q.data, st.tensors[q.name])).toBeGreaterThan(0); // the view saw the native update
    s.load(st);
    expect(maxAbsDiff(q.data, st.tensors[q.name])).toBe(0);
  });

  it('exports through the ONNX builder: onnxruntime reproduces the trained native embeddings (≤ 1e-4)', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-full-'));
    try {
      const tiny = writeTinyModel(path.join(root, 'base'), { seed: 8 });
      const s = new FullStudent({ config: nativeConfigFrom(tiny.config, { pooling: 'mean', normalize: true }), weights: tiny.weights });
      const data = examples(4, 2);
      await trainStep(s, assemble(data, Int32Array.from(data.keys()), 0, 4), new Adam({ name: 'AdamW' }), 1e-2, 'dot');
      await s.exportArtifact(path.join(root, 'out'), { tokenizerDir: tiny.dir });
      const texts = [[1, 5, 9, 2], [1, 7, 2]];
      const want = await s.encode(texts, 'document');
      const ort = await loadOrtModel(path.join(root, 'out', 'onnx', 'model.onnx'), {
        requiredInputs: ['input_ids', 'attention_mask'], optionalInputs: ['token_type_ids'], anyOutput: ['sentence_embedding'],
      });
      const big = (a: number[]) => ({ data: BigInt64Array.from(a, (v) => BigInt(v)), dims: [2, 4] });
      const got = await ort.run({
        input_ids: big([1, 5, 9, 2, 1, 7, 2, 0]), attention_mask: big([1, 1, 1, 1, 1, 1, 1, 0]), token_type_ids: big(new Array(8).fill(0)),
      }, ['sentence_embedding']);
      await ort.release();
      const d = maxAbsDiff(got.sentence_embedding.data, want);
      console.log(`export: onnxruntime vs native after training, max abs diff ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-4);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('a backward whose activations were overwritten throws', async () => {
    const s = student(4);
    const f1 = await s.forward([[1, 4, 2]], 'query');
    await s.forward([[1, 5, 6, 2]], 'query');
    await expect(s.backward(f1, new Float32Array(32))).rejects.toThrow(/overwritten/);
  });
});

// ---- bad arguments -------------------------------------------------------------------------------

describe.runIf(avail.ok)('native BERT argument checks', () => {
  const cfg = nativeConfigFrom(SHAPE, { pooling: 'mean' });
  const h = () => {
    const m = createNativeBert(cfg);
    loadNativeWeights(m, randomBertWeights(SHAPE, { seed: 1 }));
    return m;
  };
  const ids = (n: number, v = 1) => new Int32Array(n).fill(v);

  it('rejects bad configs', () => {
    expect(() => createNativeBert({ ...cfg, hidden: 30 })).toThrow(/divisible by config.heads/);
    expect(() => createNativeBert({ ...cfg, vocabSize: 0 })).toThrow(RangeError);
    expect(() => createNativeBert({ ...cfg, layers: 1.5 })).toThrow(/layers must be an integer/);
    expect(() => createNativeBert({ ...cfg, pooling: 'median' as never })).toThrow(/pooling must be 'mean', 'cls', 'max', 'mean_sqrt_len_tokens', 'weightedmean' or 'lasttoken' \(or an array of 1 to 6 of them\), got 'median'/);
    expect(() => createNativeBert({ ...cfg, vocabSize: undefined as never })).toThrow(/vocabSize is required/);
    expect(() => createNativeBert({ ...cfg, vocabSize: 2 ** 30, hidden: 4096, heads: 4 })).toThrow(/too many parameters/);
    expect(() => createNativeBert(null as never)).toThrow(TypeError);
  });

  it('rejects bad forward / backward arguments', () => {
    const m = h();
    expect(() => m.forwardSync(ids(4, 100), null, null, 2, 2)).toThrow(/inputIds\[0\] = 100 is outside \[0, 100\)/);
    expect(() => m.forwardSync(ids(4, -1), null, null, 2, 2)).toThrow(RangeError);
    expect(() => m.forwardSync(ids(34), null, null, 2, 17)).toThrow(/seq \(17\) exceeds maxPosition \(16\)/);
    expect(() => m.forwardSync(ids(3), null, null, 2, 2)).toThrow(/inputIds has length 3, expected 4/);
    expect(() => m.forwardSync(new Float32Array(4) as never, null, null, 2, 2)).toThrow(/inputIds must be a Int32Array/);
    expect(() => m.forwardSync(ids(4), ids(4, 2), null, 2, 2)).toThrow(/attentionMask\[0\] = 2 is not 0 or 1/);
    expect(() => m.forwardSync(ids(4), ids(3), null, 2, 2)).toThrow(/attentionMask has length 3/);
    expect(() => m.forwardSync(ids(4), null, ids(4, 2), 2, 2)).toThrow(/tokenTypeIds\[0\] = 2 is outside \[0, 2\)/);
    expect(() => m.forwardSync(ids(4), null, null, 0, 4)).toThrow(/batch must be in/);
    expect(() => m.forwardSync(ids(4), null, null, 2, 2, 9)).toThrow(/slot must be in \[0, 7\]/);
    expect(() => (m.forwardSync as (...a: unknown[]) => unknown)(ids(4))).toThrow(TypeError);
    expect(() => m.backwardSync(new Float32Array(64))).toThrow(/no forward pass in slot 0/);
    m.forwardSync(ids(4), null, null, 2, 2);
    expect(() => m.backwardSync(new Float32Array(63))).toThrow(/dPooled has length 63, expected 64/);
    expect(() => m.backwardSync(new Float32Array(64).fill(NaN))).toThrow(/not finite/);
    expect(() => m.setTensor('nope', new Float32Array(1))).toThrow(/unknown tensor 'nope'/);
    expect(() => m.setTensor('embeddings.LayerNorm.bias', new Float32Array(3))).toThrow(/has length 3, expected 32/);
    expect(() => m.adamStep(1e-3, 1, 0.999, 1e-8, 0, 1)).toThrow(/beta1 must be in \[0, 1\)/);
    expect(() => m.adamStep(1e-3, 0.9, 0.999, 1e-8, 0, 0)).toThrow(/t must be in/);
    // still healthy afterwards
    const out = m.forwardSync(ids(4), null, null, 2, 2);
    expect(out.every(Number.isFinite)).toBe(true);
    m.backwardSync(new Float32Array(64).fill(1));
  });

  it('an async call makes the model busy instead of racing it', async () => {
    const m = h();
    const p = m.forward(ids(16), null, null, 2, 8);
    expect(() => m.forwardSync(ids(4), null, null, 2, 2)).toThrow(/busy/);
    expect(() => m.zeroGrad()).toThrow(/busy/);
    const out = await p;
    expect(out.length).toBe(64);
    await m.backward(new Float32Array(64).fill(1));
    expect(m.getGrads().some((v) => v !== 0)).toBe(true);
  });

  it('full student: bad token ids and missing weights are clear errors', async () => {
    const s = student(5);
    await expect(s.forward([[1, 100]], 'query')).rejects.toThrow(/token id 100 of input 0 is outside \[0, 100\)/);
    const w = randomBertWeights(SHAPE, { seed: 1 });
    w.delete('encoder.layer.1.output.dense.bias');
    expect(() => new FullStudent({ config: cfg, weights: w })).toThrow(/missing weight 'encoder.layer.1.output.dense.bias'/);
  });
});
