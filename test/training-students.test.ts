/**
 * Students: adapter (full rank, low rank, bias, query-only and both sides) and static
 * embedding-bag gradients against central finite differences through the Margin-MSE loss;
 * native GEMM against the pure-TS path; state round trips; WiSE-FT interpolation.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fsp } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { matmulRef } from '../lib/kernels';
import { marginMse, marginMseForward } from '../lib/training/losses/margin-mse';
import { wiseFt, type Student } from '../lib/training/student';
import { AdapterStudent } from '../lib/training/students/adapter';
import { StaticStudent } from '../lib/training/students/static';
import { loadStudent, saveStudent } from '../lib/training/students';
import { randomFloats } from '../bench/harness';

interface Batch<I> {
  queries: I[];
  docs: I[]; // B positives then T negatives
  owner: number[];
  margin: number[];
}

async function lossOf<I>(s: Student<I>, b: Batch<I>): Promise<number> {
  const D = s.dim;
  const B = b.queries.length;
  const q = (await s.forward(b.queries, 'query')).out;
  const d = (await s.forward(b.docs, 'document')).out;
  return marginMseForward({ q, p: d.subarray(0, B * D), n: d.subarray(B * D), owner: b.owner, margin: b.margin, dim: D }).loss;
}

async function backprop<I>(s: Student<I>, b: Batch<I>): Promise<void> {
  const D = s.dim;
  const B = b.queries.length;
  s.zeroGrad();
  const fq = await s.forward(b.queries, 'query');
  const fd = await s.forward(b.docs, 'document');
  const g = marginMse({ q: fq.out, p: fd.out.subarray(0, B * D), n: fd.out.subarray(B * D), owner: b.owner, margin: b.margin, dim: D });
  const dd = new Float32Array(fd.out.length);
  dd.set(g.dp);
  dd.set(g.dn, B * D);
  await s.backward(fq, g.dq as Float32Array);
  await s.backward(fd, dd);
}

/** Compares every parameter's gradient at `picks` entries with central differences. */
async function checkGrads<I>(s: Student<I>, b: Batch<I>, entries: (p: { name: string; data: Float32Array }) => number[], eps = 1e-2): Promise<number> {
  await backprop(s, b);
  const grads = s.params().map((p) => ({ name: p.name, grad: p.grad.slice() }));
  let worst = 0;
  let checked = 0;
  for (const p of s.params()) {
    const grad = grads.find((g) => g.name === p.name)!.grad;
    for (const i of entries(p)) {
      const keep = p.data[i];
      p.data[i] = keep + eps;
      const hi = p.data[i];
      const up = await lossOf(s, b);
      p.data[i] = keep - eps;
      const lo = p.data[i];
      const down = await lossOf(s, b);
      p.data[i] = keep;
      const fd = (up - down) / (hi - lo);
      const err = Math.abs(fd - grad[i]) / Math.max(1e-2, Math.abs(fd));
      if (err > worst) worst = err;
      if (err > 2e-3) throw new Error(`${s.kind} d${p.name}[${i}]: analytic ${grad[i]} vs numeric ${fd}`);
      checked++;
    }
  }
  expect(checked).toBeGreaterThan(0);
  return worst;
}

function someIndices(n: number, count: number, seed: number): number[] {
  const r = randomFloats(count, seed);
  return Array.from(r, (x) => Math.floor(((x + 1) / 2) * n));
}

function vectors(count: number, D: number, seed: number): Float32Array[] {
  const all = randomFloats(count * D, seed);
  return Array.from({ length: count }, (_, i) => all.subarray(i * D, (i + 1) * D));
}

function adapterBatch(D: number): Batch<Float32Array> {
  const B = 5;
  const owner = [0, 0, 1, 2, 3, 3, 3, 4];
  const margin = Array.from(randomFloats(owner.length, 99), (x) => 2 * x);
  return { queries: vectors(B, D, 11), docs: [...vectors(B, D, 12), ...vectors(owner.length, D, 13)], owner, margin };
}

/** Random non-identity weights so no gradient is trivially zero. */
function randomize(s: Student<unknown>, seed: number, scale = 0.3): void {
  s.params().forEach((p, i) => {
    const r = randomFloats(p.data.length, seed + i);
    for (let j = 0; j < r.length; j++) p.data[j] = r[j] * scale;
  });
}

describe('adapter student', () => {
  const D = 12;
  const variants = [
    { rank: 0, bias: false, sides: 'query' as const },
    { rank: 0, bias: true, sides: 'both' as const },
    { rank: 3, bias: false, sides: 'query' as const },
    { rank: 3, bias: true, sides: 'both' as const },
  ];
  for (const v of variants) {
    it(`gradients match finite differences (rank ${v.rank}, bias ${v.bias}, sides ${v.sides})`, async () => {
      const s = new AdapterStudent({ dim: D, ...v, seed: 5 });
      randomize(s, 21);
      const worst = await checkGrads(s, adapterBatch(D), (p) => someIndices(p.data.length, 25, p.name.length + 3));
      expect(worst).toBeLessThan(2e-3);
    });
  }

  it('starts as the identity and leaves documents alone when query-only', async () => {
    for (const rank of [0, 4]) {
      const s = new AdapterStudent({ dim: D, rank, bias: true });
      const x = vectors(3, D, 1);
      const y = await s.encode(x, 'query');
      expect(Array.from(y)).toEqual(Array.from(x.flatMap((r) => Array.from(r))));
      const { w } = s.matrix();
      for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) expect(w[i * D + j]).toBe(i === j ? 1 : 0);
    }
    const s = new AdapterStudent({ dim: D });
    randomize(s, 3);
    const x = vectors(2, D, 2);
    expect(Array.from(await s.encode(x, 'document'))).toEqual([...x[0], ...x[1]]);
  });

  it('matrix() is the map forward() applies', async () => {
    const s = new AdapterStudent({ dim: D, rank: 3, bias: true });
    randomize(s, 8);
    const x = vectors(4, D, 9);
    const y = await s.encode(x, 'query');
    const { w, b } = s.matrix();
    for (let r = 0; r < 4; r++) {
      for (let o = 0; o < D; o++) {
        let acc = b[o];
        for (let i = 0; i < D; i++) acc += w[o * D + i] * x[r][i];
        expect(y[r * D + o]).toBeCloseTo(acc, 5);
      }
    }
  });

  it('native and pure-TS matmul give the same forward and gradients', async () => {
    const a = new AdapterStudent({ dim: 40, rank: 0, bias: true });
    const ref = new AdapterStudent({ dim: 40, rank: 0, bias: true, matmul: matmulRef });
    randomize(a, 4);
    ref.load(a.state());
    const b = adapterBatch(40);
    await backprop(a, b);
    await backprop(ref, b);
    const ga = a.params()[0].grad;
    const gr = ref.params()[0].grad;
    let m = 0;
    for (let i = 0; i < ga.length; i++) m = Math.max(m, Math.abs(ga[i] - gr[i]));
    expect(m).toBeLessThan(1e-4);
  });

  it('saves and loads; WiSE-FT interpolates W exactly (full and fresh low rank)', async () => {
    for (const rank of [0, 3]) {
      const s = new AdapterStudent({ dim: D, rank, bias: true, seed: 2 });
      const init = s.state();
      randomize(s, 30);
      const trained = s.matrix();
      const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'synthtune-adapter-'));
      await saveStudent(dir, s);
      const back = (await loadStudent(dir)) as AdapterStudent;
      expect(back.kind).toBe('adapter');
      expect(Array.from(back.matrix().w)).toEqual(Array.from(trained.w));
      await fsp.rm(dir, { recursive: true, force: true });
      if (rank > 0) {
        // a fresh low-rank adapter has U = 0; put the random weights in the trained state only
        init.tensors.u.fill(0);
      }
      wiseFt(s, init, 0.25);
      const mixed = s.matrix();
      for (let i = 0; i < D * D; i++) {
        const id = Math.floor(i / D) === i % D ? 1 : 0;
        expect(mixed.w[i]).toBeCloseTo(0.25 * trained.w[i] + 0.75 * id, 5);
      }
    }
  });
});

describe('static student', () => {
  const V = 50;
  const D = 6;
  const ids = (seed: number, n: number): Int32Array =>
    Int32Array.from(randomFloats(n, seed), (x) => Math.floor(((x + 1) / 2) * V));
  const batch: Batch<Int32Array> = {
    queries: [ids(1, 3), ids(2, 5), ids(3, 1)],
    // positives share tokens with the queries (the loss is then quartic in a shared row)
    docs: [ids(1, 4), ids(5, 7), ids(6, 2), ids(7, 6), ids(8, 3), new Int32Array(0), ids(2, 2)],
    owner: [0, 1, 1, 2],
    margin: [0.5, -0.3, 1.2, 0.1],
  };

  it('gradients match finite differences (shared rows, repeated tokens, empty text)', async () => {
    const s = new StaticStudent({ vocabSize: V, dim: D, seed: 3 });
    randomize(s, 40, 1);
    const used = new Set<number>();
    for (const t of [...batch.queries, ...batch.docs]) for (const id of t) used.add(id);
    const worst = await checkGrads(s, batch, () => [...used].flatMap((r) => [r * D, r * D + 3]));
    expect(worst).toBeLessThan(2e-3);
  });

  it('tracks touched rows; zeroGrad clears them; the optimizer sees only them', async () => {
    const s = new StaticStudent({ vocabSize: V, dim: D });
    await backprop(s, batch);
    const rows = Array.from(s.params()[0].rows!).sort((a, b) => a - b);
    const used = new Set<number>();
    for (const t of [...batch.queries, ...batch.docs]) for (const id of t) used.add(id);
    expect(rows).toEqual([...used].sort((a, b) => a - b));
    s.zeroGrad();
    expect(s.params()[0].rows!.length).toBe(0);
    expect(s.grad.every((x) => x === 0)).toBe(true);
  });

  it('mean-pools, initialises from given vectors, rejects bad ids, round-trips', async () => {
    const init = Float32Array.from({ length: V * D }, (_, i) => Math.floor(i / D));
    const s = new StaticStudent({ vocabSize: V, dim: D, init });
    const out = await s.encode([Int32Array.of(2, 4), new Int32Array(0)], 'query');
    expect(Array.from(out.subarray(0, D))).toEqual(new Array(D).fill(3));
    expect(Array.from(out.subarray(D))).toEqual(new Array(D).fill(0));
    await expect(s.encode([[V]], 'query')).rejects.toThrow(/outside/);
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'synthtune-static-'));
    await saveStudent(dir, s);
    const back = (await loadStudent(dir)) as StaticStudent;
    expect(Array.from(back.table)).toEqual(Array.from(init));
    await fsp.rm(dir, { recursive: true, force: true });
    expect(Array.from(new StaticStudent({ vocabSize: V, dim: D, seed: 1 }).table))
      .toEqual(Array.from(new StaticStudent({ vocabSize: V, dim: D, seed: 1 }).table));
  });
});
