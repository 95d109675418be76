/**
 * The full student with Dense modules and Normalize after pooling (lib/training/students/
 * dense-head.ts): gradients of the Dense weights, biases and of the transformer weights through the
 * head against central finite differences (float64 objective over the float32 forward); training
 * with fit() lowers the loss, resumes exactly after an abort, and the state round-trips.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BertConfig } from '../lib/models/onnx/bert';
import { randomBertWeights } from '../lib/models/tiny';
import { fit, type Callback } from '../lib/training';
import { mulberry32 } from '../lib/training/rng';
import type { Example } from '../lib/training/student';
import { DenseHeadStudent, denseHeadFromState } from '../lib/training/students/dense-head';
import { studentFromState } from '../lib/training/students';
import { FullStudent, nativeBertAvailable, nativeConfigFrom } from '../lib/training/students/full';
import { scratchDirs } from './helpers/models';

const avail = nativeBertAvailable();
if (!avail.ok) console.log(`dense-head tests skipped: ${avail.reason}`);
const tmp = scratchDirs('synthtune-dense-head-');

const SHAPE: BertConfig = { vocabSize: 60, hidden: 16, layers: 1, heads: 2, intermediate: 32, maxPosition: 24, typeVocabSize: 2, layerNormEps: 1e-12 };
const WEIGHTS = randomBertWeights(SHAPE, { seed: 8, std: 0.2 });

function make(activation: 'tanh' | 'identity' | 'gelu' = 'tanh', normalize = true): DenseHeadStudent {
  const inner = new FullStudent({ config: nativeConfigFrom(SHAPE, { pooling: 'mean', normalize: false, threads: 1 }), weights: WEIGHTS });
  const rnd = mulberry32(4);
  const w = (n: number) => Float32Array.from({ length: n }, () => (rnd() - 0.5) * 0.8);
  return new DenseHeadStudent(inner, {
    normalize,
    dense: [
      { inFeatures: 16, outFeatures: 12, bias: true, activation, weight: w(16 * 12), biasData: w(12) },
      { inFeatures: 12, outFeatures: 6, bias: false, activation: 'identity', weight: w(12 * 6), biasData: null },
    ],
  });
}

const IDS = [Int32Array.from([1, 5, 9, 13, 2]), Int32Array.from([1, 7, 2]), Int32Array.from([1, 40, 41, 42, 43, 44, 2])];

describe.runIf(avail.ok)('full student with Dense + Normalize', () => {
  for (const activation of ['tanh', 'gelu'] as const) {
    it(`gradients match finite differences (${activation}, normalised)`, async () => {
      const s = make(activation);
      const rnd = mulberry32(9);
      const R = Float64Array.from({ length: IDS.length * s.dim }, () => rnd() - 0.5);
      // objective L = Σ R ⊙ out
      const loss = async () => {
        const out = await s.encode(IDS, 'document');
        let l = 0;
        for (let i = 0; i < out.length; i++) l += R[i] * out[i];
        return l;
      };
      s.zeroGrad();
      const f = await s.forward(IDS, 'document');
      await s.backward(f, Float32Array.from(R));
      const params = s.params();
      const pick = ['dense.0.linear.weight', 'dense.0.linear.bias', 'dense.1.linear.weight', 'encoder.layer.0.output.dense.weight', 'embeddings.word_embeddings.weight'];
      for (const name of pick) {
        const p = params.find((x) => x.name === name)!;
        expect(p, name).toBeDefined();
        // along a random direction u: (L(θ+εu) − L(θ−εu)) / 2ε vs ⟨g, u⟩
        const u = Float32Array.from({ length: p.data.length }, () => rnd() - 0.5);
        if (name.startsWith('embeddings.word')) for (let i = 0; i < u.length; i++) if (Math.floor(i / 16) > 45) u[i] = 0;
        const orig = p.data.slice();
        const eps = 1e-2;
        const shift = async (k: number) => {
          for (let i = 0; i < u.length; i++) p.data[i] = orig[i] + k * eps * u[i];
          if (!name.startsWith('dense.')) s.load(s.state()); // native tensors: push the edited view
          return loss();
        };
        const fd = ((await shift(1)) - (await shift(-1))) / (2 * eps);
        await shift(0);
        let g = 0;
        let gn = 0;
        for (let i = 0; i < u.length; i++) {
          g += p.grad[i] * u[i];
          gn += p.grad[i] * p.grad[i];
        }
        const rel = Math.abs(fd - g) / Math.max(Math.sqrt(gn) * Math.sqrt(u.reduce((a, x) => a + x * x, 0)), 1e-6);
        console.log(`${activation} ${name}: fd ${fd.toExponential(4)} analytic ${g.toExponential(4)} rel ${rel.toExponential(2)}`);
        expect(rel).toBeLessThan(2e-3);
      }
    });
  }

  it('trains with fit(), resumes after an abort exactly, and round-trips its state', async () => {
    const rnd = mulberry32(5);
    const text = () => Int32Array.from({ length: 3 + Math.floor(rnd() * 8) }, (_, i) => (i === 0 ? 1 : 2 + Math.floor(rnd() * 55)));
    const TRAIN: Example<Int32Array>[] = Array.from({ length: 20 }, () => ({ query: text(), positive: text(), negative: text(), margin: rnd() * 0.4 - 0.1 }));
    const opts = (dir: string) => ({ student: make(), trainData: TRAIN, optimizer: 'AdamW' as const, learningRate: 3e-3, epochs: 2, batchSize: 5, seed: 3, score: 'cosine' as const, outDir: dir, log: null });
    const wholeOpts = opts(await tmp());
    const whole = await fit(wholeOpts);
    expect(whole.epochLosses[1]).toBeLessThan(whole.epochLosses[0]);
    const dir = await tmp();
    const ctl = new AbortController();
    const aborter: Callback = { name: 'aborter', onStepEnd: (_c, st) => { if (st.step === 3) ctl.abort(); } };
    await fit({ ...opts(dir), callbacks: [aborter], signal: ctl.signal });
    const resumedOpts = { ...opts(dir), resume: true };
    const resumed = await fit(resumedOpts);
    expect(resumed.epochLosses).toEqual(whole.epochLosses);
    const a = wholeOpts.student.state();
    const b = resumedOpts.student.state();
    for (const k of Object.keys(a.tensors)) expect(b.tensors[k], k).toEqual(a.tensors[k]);
    // rebuilt from its state: same embeddings
    const copy = studentFromState(a) as DenseHeadStudent;
    expect(copy).toBeInstanceOf(DenseHeadStudent);
    expect(await copy.encode(IDS, 'query')).toEqual(await wholeOpts.student.encode(IDS, 'query'));
    expect(() => denseHeadFromState({ ...a, kind: 'full' })).toThrow(/cannot build from a full state/);
    await fsp.rm(path.join(dir), { recursive: true, force: true });
  });
});
