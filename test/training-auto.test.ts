/**
 * The data-derived training settings (lib/training/auto.ts) and the held-out guard
 * (KeepBestHeldOut), then fitRun's use of them: config.json records every choice with its source.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  autoEpochs, autoLearningRate, correlation, heldOutAgreement, holdOutByQuery, cholesky, idfStaticInit, idfWeights, lowerInverse, MARGIN_SPREAD, marginScale, MAX_EPOCHS, tightFrame,
  sampleIndices, studentMargins,
} from '../lib/training/auto';
import { KeepBestHeldOut, type Callback } from '../lib/training/callbacks';
import { fit } from '../lib/training/fit';
import { normals, mulberry32 } from '../lib/training/rng';
import type { NormalExample, Student } from '../lib/training/student';
import { AdapterStudent } from '../lib/training/students/adapter';
import { fitRun } from '../lib/training/run';
import { writeWordPieceTokenizer } from '../lib/models/wordpiece';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-auto-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A fixed-embedding "student": input i is row i of a table (for exact margins). */
function tableStudent(rows: number[][]): Student<number> {
  const D = rows[0].length;
  return {
    kind: 'table', dim: D,
    forward: async () => { throw new Error('not used'); },
    backward: async () => undefined,
    encode: async (inputs) => Float32Array.from(inputs.flatMap((i) => rows[i])),
    params: () => [], zeroGrad: () => undefined,
    state: () => ({ kind: 'table', config: {}, tensors: {} }), load: () => undefined,
  };
}

describe('idf init', () => {
  it('idfWeights counts each token once per document, with the BM25 formula', () => {
    const { idf, documents } = idfWeights([[1, 1, 2], [2, 3], [2]], 5);
    expect(documents).toBe(3);
    const f = (df: number) => Math.log(1 + (3 - df + 0.5) / (df + 0.5));
    expect(Array.from(idf)).toEqual([f(0), f(1), f(3), f(1), f(0)]);
    expect(idf[0]).toBeGreaterThan(idf[1]); // a token in no document weighs most
    expect(() => idfWeights([[7]], 5)).toThrow(/token id 7 is outside \[0, 5\)/);
  });

  it('idfStaticInit scales row t of the seeded N(0, 1/D) table by √idf[t]', () => {
    const idf = Float64Array.from([0, 1, 2.5]);
    const t = idfStaticInit(3, 4, 7, idf);
    const base = normals(12, 7, 1 / 2);
    for (let i = 0; i < 12; i++) expect(t[i]).toBeCloseTo(base[i] * Math.sqrt(idf[Math.floor(i / 4)]), 6);
    expect(() => idfStaticInit(4, 4, 7, idf)).toThrow(/3 idf values for 4 tokens/);
  });
});

describe('tight frame of the static init', () => {
  // documents with Zipf-like token ids over a vocabulary of V, some tokens unused
  function corpus(V: number, n: number, seed: number): number[][] {
    const rnd = mulberry32(seed);
    return Array.from({ length: n }, () => Array.from({ length: 5 + Math.floor(rnd() * 30) }, () => Math.min(V - 1, Math.floor(Math.exp(rnd() * Math.log(V * 0.8))))));
  }
  // the oracle: each token's share of the documents' normalised √idf-weighted mass, and the
  // weighted crosstalk Σ_{s≠t} m_s m_t cos²(r_s, r_t), by direct double loops
  function shares(docs: number[][], idf: Float64Array): Map<number, number> {
    const m = new Map<number, number>();
    for (const d of docs) {
      const tf = new Map<number, number>();
      for (const t of d) tf.set(t, (tf.get(t) ?? 0) + 1);
      let n2 = 0;
      for (const [t, c] of tf) n2 += c * c * idf[t];
      for (const [t, c] of tf) m.set(t, (m.get(t) ?? 0) + (c * c * idf[t]) / n2);
    }
    const total = [...m.values()].reduce((a, b) => a + b, 0);
    for (const [t, v] of m) m.set(t, v / total);
    return m;
  }
  function crosstalk(table: Float32Array, D: number, m: Map<number, number>): number {
    const toks = [...m.keys()];
    const unit = toks.map((t) => {
      const r = Array.from(table.subarray(t * D, t * D + D));
      const n = Math.hypot(...r);
      return r.map((x) => x / n);
    });
    let f = 0;
    for (let i = 0; i < toks.length; i++) {
      for (let j = 0; j < toks.length; j++) {
        if (i === j) continue;
        let c = 0;
        for (let d = 0; d < D; d++) c += unit[i][d] * unit[j][d];
        f += (m.get(toks[i]) as number) * (m.get(toks[j]) as number) * c * c;
      }
    }
    return f;
  }
  const rowNorm = (t: Float32Array, D: number, r: number) => Math.hypot(...t.subarray(r * D, r * D + D));

  it('lowers the weighted crosstalk of the used tokens, keeps every row norm and the unused rows', () => {
    const V = 400;
    const D = 16;
    const docs = corpus(V, 300, 5);
    const { idf } = idfWeights(docs, V);
    const before = idfStaticInit(V, D, 3, idf);
    const table = before.slice();
    const m = shares(docs, idf);
    const r = tightFrame(table, D, docs, idf);
    expect(r.tokens).toBe(m.size);
    expect(m.size).toBeGreaterThan(D); // the frame iterations, not the orthogonal case
    expect(r.crosstalkBefore).toBeCloseTo(crosstalk(before, D, m), 4);
    expect(r.crosstalkAfter).toBeCloseTo(crosstalk(table, D, m), 4);
    expect(r.crosstalkAfter).toBeLessThan(0.9 * r.crosstalkBefore);
    // the minimum: S = Σ m_t r̂_t r̂_tᵀ = I/D gives ‖S‖²_F − Σ m² = 1/D − Σ m²
    const floor = 1 / D - [...m.values()].reduce((a, b) => a + b * b, 0);
    expect(r.crosstalkAfter).toBeGreaterThanOrEqual(floor - 1e-6);
    expect(r.crosstalkAfter - floor).toBeLessThan(0.1 * (r.crosstalkBefore - floor));
    for (let t = 0; t < V; t++) {
      expect(rowNorm(table, D, t)).toBeCloseTo(rowNorm(before, D, t), 4);
      if (!m.has(t)) expect(table.subarray(t * D, t * D + D)).toEqual(before.subarray(t * D, t * D + D));
    }
    // deterministic
    const again = before.slice();
    tightFrame(again, D, docs, idf);
    expect(again).toEqual(table);
  });

  it('with no more used tokens than dimensions makes their directions orthogonal', () => {
    const V = 50;
    const D = 32;
    const docs = [[1, 2, 3, 3], [4, 5, 6, 1], [7, 8, 9, 10, 11, 12], [2, 13, 14]];
    const { idf } = idfWeights(docs, V);
    const table = idfStaticInit(V, D, 1, idf);
    const r = tightFrame(table, D, docs, idf);
    expect(r.tokens).toBe(14);
    expect(r.crosstalkAfter).toBeLessThan(1e-7); // float32 GEMM rounding
    for (let a = 1; a <= 14; a++) {
      for (let b = a + 1; b <= 14; b++) {
        let c = 0;
        for (let d = 0; d < D; d++) c += table[a * D + d] * table[b * D + d];
        expect(Math.abs(c)).toBeLessThan(1e-5);
      }
    }
    expect(() => tightFrame(table, D, [[60]], idf)).toThrow(/token id 60 is outside \[0, 50\)/);
    expect(() => tightFrame(table.subarray(1), D, docs, idf)).toThrow(/not 50 × 32/);
  });

  it('cholesky and lowerInverse: L·Lᵀ = S and L·L⁻¹ = I; a matrix that is not positive definite is refused', () => {
    const n = 12;
    const g = normals(n * n, 9, 1);
    const S = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s = i === j ? 0.5 : 0;
      for (let k = 0; k < n; k++) s += g[i * n + k] * g[j * n + k];
      S[i * n + j] = s;
    }
    const L = cholesky(S, n);
    const X = lowerInverse(L, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let a = 0;
        let b = 0;
        for (let k = 0; k < n; k++) {
          a += L[i * n + k] * L[j * n + k];
          b += L[i * n + k] * X[k * n + j];
        }
        expect(a).toBeCloseTo(S[i * n + j], 9);
        expect(b).toBeCloseTo(i === j ? 1 : 0, 9);
        if (j > i) expect(L[i * n + j]).toBe(0);
      }
    }
    expect(() => cholesky(Float64Array.from([1, 2, 2, 1]), 2)).toThrow(/not positive definite/);
  });
});

describe('margin scale', () => {
  const rnd = mulberry32(3);
  const teacher = Array.from({ length: 500 }, () => rnd() * 20 - 5);

  it('an informative student: the ratio of the spreads', () => {
    const student = teacher.map((m) => 0.02 * m + 0.01 * (rnd() - 0.5));
    const c = marginScale(student, teacher, 'cosine');
    const std = (x: number[]) => Math.sqrt(x.reduce((s, v) => s + (v - x.reduce((a, b) => a + b, 0) / x.length) ** 2, 0) / x.length);
    expect(c.source).toBe('auto');
    expect(c.correlation).toBeGreaterThan(0.99);
    expect(c.value).toBeCloseTo(std(student) / std(teacher), 4);
    expect(c.why).toMatch(/spread of the student's initial cosine margins/);
    // a static student's targets stretch its spread (MARGIN_SPREAD); the others keep it
    const c2 = marginScale(student, teacher, 'cosine', MARGIN_SPREAD.static);
    expect(MARGIN_SPREAD.static).toBe(2);
    expect(c2.value).toBeCloseTo((2 * std(student)) / std(teacher), 4);
    expect(c2.why).toMatch(/^2 × the spread of the student's initial cosine margins/);
    expect(MARGIN_SPREAD.adapter).toBe(1);
    expect(MARGIN_SPREAD.full).toBe(1);
    expect(() => marginScale(student, teacher, 'cosine', 0)).toThrow(/spread must be > 0/);
  });

  it('a student that does not follow the teacher: a fixed temperature (0.1 cosine, 1 dot)', () => {
    const noise = teacher.map(() => rnd() - 0.5);
    const sd = Math.sqrt(teacher.reduce((s, v) => s + (v - teacher.reduce((a, b) => a + b, 0) / teacher.length) ** 2, 0) / teacher.length);
    expect(Math.abs(correlation(noise, teacher))).toBeLessThan(0.1);
    expect(marginScale(noise, teacher, 'cosine').value).toBeCloseTo(0.1 / sd, 4);
    expect(marginScale(noise, teacher, 'cosine', MARGIN_SPREAD.static).value).toBeCloseTo(0.1 / sd, 4); // no spread to stretch
    expect(marginScale(noise, teacher, 'dot').value).toBeCloseTo(1 / sd, 3);
    expect(marginScale(noise, teacher, 'dot').why).toMatch(/does not follow the teacher/);
    // anti-correlated students are not informative either
    expect(marginScale(teacher.map((m) => -m), teacher, 'cosine').value).toBeCloseTo(0.1 / sd, 4);
  });

  it('a teacher with one margin for every pair is left as it is', () => {
    expect(marginScale([1, 2, 3], [4, 4, 4], 'dot').value).toBe(1);
  });

  it('studentMargins gives s(q,p) − s(q,n) pair by pair (cosine), over a sample', async () => {
    const rows = [[1, 0], [0.6, 0.8], [0, 1], [-1, 0]];
    const s = tableStudent(rows);
    const ex: NormalExample<number>[] = [{ query: 0, positive: 1, negatives: [2, 3], margins: [5, 9] }, { query: 2, positive: 1, negatives: [0], margins: [1] }];
    const m = await studentMargins(s, ex, 'cosine');
    expect(Array.from(m.teacher)).toEqual([5, 9, 1]);
    expect(m.student[0]).toBeCloseTo(0.6 - 0, 6);
    expect(m.student[1]).toBeCloseTo(0.6 - -1, 6);
    expect(m.student[2]).toBeCloseTo(0.8 - 0, 6);
    const sampled = await studentMargins(s, ex, 'cosine', { max: 1, seed: 1 });
    expect(sampled.teacher.length === 2 || sampled.teacher.length === 1).toBe(true);
    expect(sampleIndices(10, 4, 5)).toEqual(sampleIndices(10, 4, 5));
    expect(new Set(sampleIndices(10, 4, 5)).size).toBe(4);
  });
});

describe('epochs, learning rate, held-out split', () => {
  it('epochs reach the method\'s minimum of steps, within [1, MAX_EPOCHS]', () => {
    expect(autoEpochs('static', 1350, 32).value).toBe(MAX_EPOCHS); // 43 steps per epoch
    expect(autoEpochs('static', 7000, 32).value).toBe(5); // 219 per epoch → 5 × 219 ≥ 1000
    expect(autoEpochs('static', 100_000, 32).value).toBe(1);
    expect(autoEpochs('adapter', 4000, 32).value).toBe(4); // 125 per epoch, 500 steps
    expect(autoEpochs('full', 4000, 32).value).toBe(3); // 300 steps
  });

  it('self-mined examples lengthen each epoch, not the run: about the steps the data\'s own examples get', () => {
    // 810 own examples: 26 steps per epoch, 10 epochs (the cap) = 260 steps; with 810 more an epoch is 51 steps → 5 epochs
    const e = autoEpochs('static', 810, 32, 810);
    expect(e.value).toBe(5);
    expect(e.why).toMatch(/with 810 self-mined examples an epoch is 51 steps, so 5 epochs keep about 260/);
    // 6,550 own: 205 per epoch, 5 epochs = 1,025 steps; 13,100 in all: 410 per epoch → 3 (2.5 rounded)
    expect(autoEpochs('static', 6550, 32, 6550).value).toBe(3);
    // never below one epoch; nothing added: the plain rule
    expect(autoEpochs('static', 100_000, 32, 500_000).value).toBe(1);
    expect(autoEpochs('static', 810, 32, 0)).toEqual(autoEpochs('static', 810, 32));
    for (const [n, added] of [[300, 300], [1350, 1215], [4000, 100], [20_000, 20_000]]) {
      const plain = autoEpochs('static', n, 32).value * Math.ceil(n / 32);
      const got = autoEpochs('static', n, 32, added).value * Math.ceil((n + added) / 32);
      expect(Math.abs(got - plain)).toBeLessThanOrEqual(Math.ceil((n + added) / 32) / 2 + 1e-9); // within half an epoch of the plain run's steps
    }
  });

  it('static learning rate: 1% of the RMS of the used rows of the table', () => {
    const table = Float32Array.from([3, 4, 0, 0, 1, 1]); // rows of dim 2
    expect(autoLearningRate('static', { table, dim: 2, rows: [0] }).value).toBe(Number((0.01 * Math.sqrt(12.5)).toPrecision(3)));
    expect(autoLearningRate('full').value).toBe(2e-5);
    expect(autoLearningRate('adapter').value).toBe(1e-3);
  });

  it('holdOutByQuery: none below 40 queries; 10% of them (≥ 5) above, whole queries, seeded', () => {
    const rows = (q: number) => Array.from({ length: q * 3 }, (_, i) => ({ query: `q${i % q}` }));
    expect(holdOutByQuery(rows(39), (r) => r.query, 0).heldOut).toEqual([]);
    const s = holdOutByQuery(rows(100), (r) => r.query, 0);
    expect(s.queries).toBe(10);
    expect(s.heldOut.length).toBe(30);
    const held = new Set(s.heldOut.map((r) => r.query));
    expect(s.train.some((r) => held.has(r.query))).toBe(false);
    expect(holdOutByQuery(rows(100), (r) => r.query, 0).heldOut).toEqual(s.heldOut);
    expect(holdOutByQuery(rows(40), (r) => r.query, 0).queries).toBe(5);
  });
});

describe('held-out agreement and the guard', () => {
  // query 0; candidates 1 (positive), 2, 3 on a line: cosine to [1, 0] decreases 1 > 2 > 3
  const rows = [[1, 0], [1, 0.1], [1, 1], [0, 1]];
  const examples: NormalExample<number>[] = [
    { query: 0, positive: 1, negatives: [2], margins: [1] },
    { query: 0, positive: 1, negatives: [3], margins: [2] },
  ];
  it('a student that orders the candidates as the teacher scores 1; reversed, 0', async () => {
    const same = await heldOutAgreement(tableStudent(rows), examples, ['a', 'a'], 'cosine');
    expect(same.value).toBe(1);
    // the teacher reversed: negative 3 above negative 2 above the positive
    const flipped = examples.map((e) => ({ ...e, margins: e.margins.map((m) => -m * (e.negatives[0] === 3 ? 2 : 1)) }));
    expect((await heldOutAgreement(tableStudent(rows), flipped, ['a', 'a'], 'cosine')).value).toBe(0);
    // two queries counted apart: 3 pairs within one query, none across
    const two = await heldOutAgreement(tableStudent(rows), examples, ['a', 'b'], 'cosine');
    expect(two.value).toBe(1);
    expect(two.se).toBeGreaterThan(0);
  });

  /** fit() of an adapter on random vectors with a scripted held-out measure; returns the weights kept and the log. */
  async function guarded(values: number[], se: number) {
    const D = 4;
    const rnd = mulberry32(9);
    const vec = () => Float32Array.from({ length: D }, () => rnd() - 0.5);
    const data = Array.from({ length: 16 }, () => ({ query: vec(), positive: vec(), negative: vec(), margin: rnd() }));
    const student = new AdapterStudent({ dim: D, sides: 'both', seed: 1 });
    const flat = (st: { tensors: Record<string, Float32Array> }) => Float32Array.from(Object.values(st.tensors).flatMap((t) => Array.from(t)));
    const snapshots: Float32Array[] = [flat(student.state())];
    const snap: Callback = { name: 'snap', onEpochEnd: (ctx) => { snapshots.push(flat(ctx.student.state())); } };
    let i = 0;
    const lines: string[] = [];
    const guard = new KeepBestHeldOut({ measure: async () => ({ value: values[i++], se }) });
    await fit({ student, trainData: data, epochs: values.length - 1, batchSize: 8, learningRate: 0.05, callbacks: [snap, guard], log: (l) => lines.push(l) });
    return { final: flat(student.state()), snapshots, log: lines.join('\n') };
  }

  it('keeps the final weights when they are within two standard errors of the best', async () => {
    const r = await guarded([0.70, 0.72, 0.69], 0.02);
    // training moved the weights every epoch, so "equal to a snapshot" identifies one
    expect(Array.from(r.snapshots[1])).not.toEqual(Array.from(r.snapshots[0]));
    expect(Array.from(r.snapshots[2])).not.toEqual(Array.from(r.snapshots[1]));
    expect(Array.from(r.final)).toEqual(Array.from(r.snapshots[2]));
    expect(r.log).toMatch(/kept the final weights/);
  });

  it('restores the best epoch when the final weights fall clearly below it', async () => {
    const r = await guarded([0.70, 0.80, 0.60], 0.01);
    expect(Array.from(r.final)).toEqual(Array.from(r.snapshots[1]));
    expect(r.log).toMatch(/restored the weights of epoch 1/);
  });

  it('restores the untrained weights when no epoch beat them and the end is clearly worse', async () => {
    const r = await guarded([0.70, 0.65, 0.60], 0.01);
    expect(Array.from(r.final)).toEqual(Array.from(r.snapshots[0]));
    expect(r.log).toMatch(/restored the untrained weights/);
  });
});

describe('fitRun records its settings', () => {
  // 60 queries × 3 examples; documents share words with their query
  const words = ['alpha', 'beta', 'gamma', 'delta', 'eps', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu'];
  const rnd = mulberry32(4);
  const pick = () => words[Math.floor(rnd() * words.length)];
  const rows = Array.from({ length: 180 }, (_, i) => {
    const q = `query ${i % 60} ${words[i % 12]} ${words[(i * 7) % 12]}`;
    return { query: q, positive: `${q} ${pick()} text`, negative: `${pick()} ${pick()} other ${pick()}`, margin: 5 + 10 * rnd() };
  });
  const train = path.join(tmp, 'train.jsonl');
  fs.writeFileSync(train, rows.map((r) => JSON.stringify(r)).join('\n'));
  const tokDir = path.join(tmp, 'tok');
  writeWordPieceTokenizer(tokDir, rows.flatMap((r) => [r.query, r.positive, r.negative]), { vocabSize: 200 });

  it('defaults: every value auto with a reason; 6 of 60 queries held out; the run folder holds config.json', async () => {
    const out = path.join(tmp, 'auto');
    const r = await fitRun({ train, method: 'static', tokenizer: tokDir, dim: 16, out, log: null });
    const c = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(c).toEqual(JSON.parse(JSON.stringify(r.config)));
    for (const k of ['score', 'marginScale', 'learningRate', 'epochs', 'init', 'heldOut']) {
      expect(c[k].source, k).toBe('auto');
      expect(c[k].why.length, k).toBeGreaterThan(10);
    }
    expect(c.heldOut.value).toBe(6);
    expect(c.heldOutExamples).toBe(18);
    expect(c.examples).toBe(162);
    expect(c.epochs.value).toBe(MAX_EPOCHS); // 6 steps per epoch
    expect(r.steps).toBe(6 * MAX_EPOCHS);
    expect(c.score.value).toBe('cosine');
    expect(c.marginScale.value).toBeGreaterThan(0);
    expect(c.marginScale.value).toBeLessThan(1); // margins of 5–15 brought to a cosine student's scale
  });

  it('options stay overrides and are recorded as such', async () => {
    const out = path.join(tmp, 'given');
    const r = await fitRun({
      train, method: 'static', tokenizer: tokDir, dim: 16, out, log: null, epochs: 2, learningRate: 0.01, marginScale: 0.05,
      score: 'dot', init: 'random', holdOut: false,
    });
    expect(r.config).toMatchObject({
      epochs: { value: 2, source: 'option' }, learningRate: { value: 0.01, source: 'option' }, marginScale: { value: 0.05, source: 'option' },
      score: { value: 'dot', source: 'option' }, init: { value: 'random', source: 'option' }, heldOut: { value: 0, source: 'option' },
      examples: 180, heldOutExamples: 0,
    });
    expect(r.steps).toBe(2 * Math.ceil(180 / 32));
  });
});
