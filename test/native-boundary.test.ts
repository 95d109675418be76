/**
 * The native boundary under abuse (issue 15): buffers detached or resized while an async call
 * runs, outputs aliasing inputs, NaN/Inf inputs, sizes past int32, allocations larger than the
 * machine, and damaged HNSW graph files. Whatever can crash the process runs in a child process,
 * so a crash shows up as an exit code or signal here instead of killing the test runner.
 *
 * Outcomes asserted: a correct result (compared with the sync kernel or the TS reference), or a
 * clear error naming the argument or file — never a signal, never a silent wrong result.
 *
 * SYNTHTUNE_TEST_ADDON=<file.node> makes the child processes load that addon (scripts/asan-addon.sh
 * passes a sanitizer build, with SYNTHTUNE_TEST_PRELOAD naming the sanitizer runtimes to preload
 * into the children only); the tests that map many GiB of zero pages are skipped then.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recordTask } from './robustness/outcome';
import {
  embeddingBag, matmul, matmulRef, matmulSync, topk, topkRef, topkSync,
} from '../lib/kernels';
import { loadBackend } from '../lib/kernels/loader';
import { availableMemory } from '../lib/kernels/validate';
import { synthesize } from '../lib/synthesis';
import { buildHnsw, checkHnswFile, checksumFile, HnswIndexError, HnswSearcher } from '../lib/synthesis/hnsw';
import { denseStore } from '../lib/synthesis/store';
import { FakeEncoder, FakeScorer, syntheticData } from './synthesis-fakes';

const root = path.resolve(__dirname, '..');
const { addon, info } = loadBackend();
const native = addon !== null;
if (!native) console.log(`native boundary tests of the addon skipped: ${info.reasons.join('; ')}`);

const childAddon = process.env.SYNTHTUNE_TEST_ADDON;
const preload = process.env.SYNTHTUNE_TEST_PRELOAD;
const sanitized = preload !== undefined && preload !== '';
const loadAddon = childAddon ? `require(${JSON.stringify(path.resolve(childAddon))})` : `require('node-gyp-build')(${JSON.stringify(root)})`;

/** Runs `body` in `node --expose-gc` with `addon` loaded; returns the exit status, signal and output. */
function child(body: string, timeout = 60_000) {
  const env = sanitized
    ? { ...process.env, LD_PRELOAD: preload, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1', UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' }
    : process.env;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', `const addon = ${loadAddon};\n${body}`], {
    cwd: root,
    encoding: 'utf8',
    env,
    timeout: sanitized ? timeout * 4 : timeout,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** The last line of a child's stdout as JSON, after checking that it exited normally. */
function result(r: ReturnType<typeof child>): Record<string, unknown> {
  expect(r.signal, `child killed by ${r.signal}; stderr: ${r.stderr}`).toBeNull();
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

// ---- detached or resized while an async call runs ------------------------------------------------

// Child script: starts the async call `kind`, detaches (or shrinks) argument `arg` at once, runs
// a few GCs with allocations (so freed memory is reused), then reports how the call ended and
// whether its results equal those of the sync kernel on the original arguments.
const DETACH = String.raw`
const [kind, arg, how] = process.argv.slice(1);
function rnd(n, s) { const o = new Float32Array(n); for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; o[i] = s / 1073741824 - 1; } return o; }
function resizable(src) {
  const ab = new ArrayBuffer(src.byteLength, { maxByteLength: src.byteLength });
  const v = new src.constructor(ab); v.set(src); return v;
}
function same(x, y) { return x.length === y.length && x.every((v, i) => Object.is(v, y[i])); }
async function main() {
  let args, run, outs, expected;
  if (kind === 'sgemm') {
    const M = 384, N = 384, K = 384, beta = arg === 'c+beta' ? 1 : 0;
    const a = rnd(M * K, 1), b = rnd(K * N, 2), c = rnd(M * N, 3);
    const ec = c.slice(); addon.sgemmSync(false, 1, M, N, K, 1, a.slice(), b.slice(), beta, ec, 1);
    args = { a, b, c, 'c+beta': c };
    if (how === 'resize') args.c = args['c+beta'] = resizable(c);
    run = () => addon.sgemm(false, 1, M, N, K, 1, args.a, args.b, beta, args.c, 1);
    outs = () => [args.c]; expected = [ec];
  } else if (kind === 'topk') {
    const Q = 48, n = 20000, D = 128, k = 10;
    const q = rnd(Q * D, 1), x = rnd(n * D, 2);
    const off = new Int32Array(Q + 1), ids = new Int32Array(Q);
    for (let i = 0; i < Q; i++) { off[i + 1] = i + 1; ids[i] = i * 7; }
    const ei = new Int32Array(Q * k), es = new Float32Array(Q * k);
    addon.topkSync(q.slice(), x.slice(), Q, n, D, k, off.slice(), ids.slice(), ei, es, 1);
    args = { queries: q, corpus: x, exclOffsets: off, exclIds: ids, outIdx: new Int32Array(Q * k), outScores: new Float32Array(Q * k) };
    if (how === 'resize') { args.outIdx = resizable(args.outIdx); args.outScores = resizable(args.outScores); }
    run = () => addon.topk(args.queries, args.corpus, Q, n, D, k, args.exclOffsets, args.exclIds, args.outIdx, args.outScores, 1);
    outs = () => [args.outIdx, args.outScores]; expected = [ei, es];
  } else {
    const m = new addon.BertModel({ vocabSize: 50, hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPosition: 64, typeVocabSize: 2 });
    const p = m.paramsBuffer(); const pv = new Float32Array(p); pv.set(rnd(pv.length, 9).map((v) => v * 0.1));
    const B = 8, T = 48, ids = new Int32Array(B * T).map((_, i) => (i * 7) % 50), mask = new Int32Array(B * T).fill(1);
    const ef = m.forwardSync(ids, mask, null, B, T);
    args = { inputIds: ids.slice(), attentionMask: mask.slice(), dPooled: rnd(B * 32, 4) };
    if (kind === 'bert-forward') { run = () => m.forward(args.inputIds, args.attentionMask, null, B, T); expected = [ef]; }
    else {
      m.zeroGrad(); m.backwardSync(args.dPooled.slice()); const eg = m.getGrads();
      m.forwardSync(ids, mask, null, B, T); m.zeroGrad();
      run = () => m.backward(args.dPooled); outs = () => [m.getGrads()]; expected = [eg];
    }
  }
  const p = run();
  const x = args[arg];
  if (how === 'resize') x.buffer.resize(0);
  else structuredClone(x.buffer, { transfer: [x.buffer] });
  for (let i = 0; i < 4; i++) { gc(); new Float32Array(1 << 20).fill(7); }
  try {
    const v = await p;
    const got = outs ? outs() : [v];
    console.log(JSON.stringify({ outcome: 'resolved', correct: got.every((g, i) => same(g, expected[i])) }));
  } catch (e) {
    console.log(JSON.stringify({ outcome: 'rejected', message: e.message }));
  }
}
main();
`;

const INPUTS: [string, string][] = [
  ['sgemm', 'a'], ['sgemm', 'b'],
  ['topk', 'queries'], ['topk', 'corpus'], ['topk', 'exclOffsets'], ['topk', 'exclIds'],
  ['bert-forward', 'inputIds'], ['bert-forward', 'attentionMask'], ['bert-backward', 'dPooled'],
];
const OUTPUTS: [string, string][] = [['sgemm', 'c'], ['sgemm', 'c+beta'], ['topk', 'outIdx'], ['topk', 'outScores']];


// the robustness suite's tally (npm run test:robustness): each case asserts a right result or a clear refusal
afterEach(({ task }) => recordTask('native boundary', task));

describe.runIf(native)('a buffer detached while an async call runs', () => {
  for (const [kind, arg] of INPUTS) {
    it(`${kind}: input ${arg} detached → the call still computes the right result`, () => {
      const r = result(child(`${DETACH}`.replace('process.argv.slice(1)', JSON.stringify([kind, arg, 'transfer']))));
      expect(r).toEqual({ outcome: 'resolved', correct: true });
    });
  }
  for (const [kind, arg] of OUTPUTS) {
    it(`${kind}: output ${arg} detached → rejected naming it, nothing written`, () => {
      const r = result(child(DETACH.replace('process.argv.slice(1)', JSON.stringify([kind, arg, 'transfer']))));
      expect(r.outcome).toBe('rejected');
      expect(r.message).toMatch(new RegExp(`${kind}: the output ${arg.replace('+beta', '')} was detached`));
    });
  }
  for (const [kind, arg] of [['sgemm', 'c'], ['topk', 'outScores']]) {
    it(`${kind}: output ${arg} over a resizable ArrayBuffer shrunk to 0 → rejected`, () => {
      const r = result(child(DETACH.replace('process.argv.slice(1)', JSON.stringify([kind, arg, 'resize']))));
      expect(r.outcome).toBe('rejected');
      expect(r.message).toMatch(/detached \(its ArrayBuffer transferred\) or resized/);
    });
  }

  it('arrays over a SharedArrayBuffer are used in place (and cannot be transferred)', async () => {
    const D = 16, n = 500;
    const corpus = new Float32Array(new SharedArrayBuffer(n * D * 4));
    for (let i = 0; i < corpus.length; i++) corpus[i] = Math.sin(i);
    expect(corpus.buffer).toBeInstanceOf(SharedArrayBuffer);
    const q = corpus.slice(0, 3 * D);
    const got = await topk(q, corpus, { dim: D, k: 5 });
    const want = topkRef(q, corpus, { dim: D, k: 5 });
    expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
    // a transfer list cannot detach it: it is shared, never moved
    try {
      structuredClone(corpus.buffer, { transfer: [corpus.buffer as unknown as ArrayBuffer] });
    } catch {
      // newer Node versions refuse the transfer outright
    }
    expect(corpus.length).toBe(n * D);
  });
});

describe('an array already detached when a call starts', () => {
  const detach = <T extends ArrayBufferView>(x: T): T => {
    structuredClone(x.buffer, { transfer: [x.buffer as ArrayBuffer] });
    return x;
  };
  it('is a TypeError naming it, in every kernel and in the references', async () => {
    const f = (n: number) => new Float32Array(n);
    expect(() => matmulSync(detach(f(4)), f(4), { m: 2, n: 2, k: 2 })).toThrow(/^a is detached: its ArrayBuffer was transferred/);
    expect(() => matmulRef(f(4), detach(f(4)), { m: 2, n: 2, k: 2 })).toThrow(/^b is detached/);
    await expect(matmul(f(4), f(4), { m: 2, n: 2, k: 2, c: detach(f(4)) })).rejects.toThrow(/^c is detached/);
    await expect(topk(f(4), detach(f(8)), { dim: 2, k: 1 })).rejects.toThrow(/^corpus is detached/);
    expect(() => topkSync(detach(f(4)), f(8), { dim: 2, k: 1 })).toThrow(/^queries is detached/);
    expect(() => embeddingBag(f(6), 3, 2, detach(new Int32Array(2)), new Int32Array([0, 2]))).toThrow(/^ids is detached/);
  });
  it.runIf(native)('is a RangeError (length 0) when the addon is called directly', () => {
    const a = addon!;
    const f = (n: number) => new Float32Array(n);
    expect(() => a.sgemmSync(false, 1, 2, 2, 2, 1, detach(f(4)), f(4), 0, f(4), 0)).toThrow(/a has length 0, expected 4/);
    expect(() => a.topk(f(4), f(8), 2, 4, 2, 1, null, null, new Int32Array(2), detach(f(2)), 0)).toThrow(/outScores has length 0/);
  });
});

// ---- aliasing ------------------------------------------------------------------------------------

describe('outputs that share memory with inputs', () => {
  const buf = () => new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0]);
  it('matmul: c overlapping a or b is refused alike by the kernels and the reference', async () => {
    const x = buf();
    const a = x.subarray(0, 4);
    const b = new Float32Array([5, 6, 7, 8]);
    for (const c of [a, x.subarray(2, 6)]) {
      expect(() => matmulSync(a, b, { m: 2, n: 2, k: 2, c })).toThrow(/^c must not share memory with a$/);
      expect(() => matmulRef(a, b, { m: 2, n: 2, k: 2, c })).toThrow(/^c must not share memory with a$/);
      await expect(matmul(a, b, { m: 2, n: 2, k: 2, c })).rejects.toThrow(/^c must not share memory with a$/);
    }
    expect(() => matmulSync(b, a, { m: 2, n: 2, k: 2, c: x.subarray(3, 7) })).toThrow(/^c must not share memory with b$/);
  });
  it('matmul: disjoint views of one buffer, and a = b, compute the right product', async () => {
    const x = buf();
    const a = x.subarray(0, 4);
    const b = x.subarray(4, 8);
    const want = matmulRef(a.slice(), b.slice(), { m: 2, n: 2, k: 2 });
    expect(Array.from(want)).toEqual([19, 22, 43, 50]);
    expect(Array.from(matmulSync(a, b, { m: 2, n: 2, k: 2, c: x.subarray(8, 12) }))).toEqual([19, 22, 43, 50]);
    x.fill(0, 8);
    expect(Array.from(await matmul(a, b, { m: 2, n: 2, k: 2, c: x.subarray(8, 12) }))).toEqual([19, 22, 43, 50]);
    expect(Array.from(matmulSync(a, a, { m: 2, n: 2, k: 2, transB: true }))).toEqual([5, 11, 11, 25]);
  });
  it.runIf(native)('the addon refuses aliasing outputs when called directly, sync and async', async () => {
    const a = addon!;
    const m = new Float32Array([1, 2, 3, 4]);
    const b = new Float32Array([5, 6, 7, 8]);
    expect(() => a.sgemmSync(false, 1, 2, 2, 2, 1, m, b, 0, m, 0)).toThrow(/^c must not share memory with a$/);
    expect(() => a.sgemm(false, 1, 2, 2, 2, 1, b, m, 0, m, 0)).toThrow(/^c must not share memory with b$/);
    expect(Array.from(m)).toEqual([1, 2, 3, 4]);
    // topk outputs over the queries' memory, or over each other
    const mem = new ArrayBuffer(64);
    const q = new Float32Array(mem, 0, 4);
    const x = new Float32Array([1, 0, 0, 1]);
    expect(() => a.topkSync(q, x, 2, 2, 2, 1, null, null, new Int32Array(mem, 8, 2), new Float32Array(2), 0)).toThrow(
      /^outIdx must not share memory with queries$/,
    );
    expect(() => a.topkSync(x, x, 2, 2, 2, 1, null, null, new Int32Array(mem, 32, 2), new Float32Array(mem, 36, 2), 0)).toThrow(
      /^outScores must not share memory with outIdx$/,
    );
  });
});

// ---- NaN and Inf ---------------------------------------------------------------------------------

describe('NaN and Inf inputs', () => {
  it('top-k never returns a NaN score nor an index out of range; kernels and reference agree', async () => {
    // rows: finite, NaN, +Inf, -Inf, finite, finite — and queries that make 0·Inf = NaN
    const corpus = new Float32Array([1, 0, NaN, 0, Infinity, 0, -Infinity, 0, 0, 1, 2, 0]);
    const queries = new Float32Array([1, 0, 0, 0, NaN, NaN, Infinity, 0, -1, 0]);
    const want = topkRef(queries, corpus, { dim: 2, k: 6 });
    for (const got of [topkSync(queries, corpus, { dim: 2, k: 6 }), await topk(queries, corpus, { dim: 2, k: 6 })]) {
      expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
      expect(Array.from(got.scores)).toEqual(Array.from(want.scores));
      expect(got.scores.some(Number.isNaN)).toBe(false);
      expect(got.indices.every((i) => i >= -1 && i < 6)).toBe(true);
    }
    // query (0,0): rows 1 (NaN·0), 2 and 3 (±Inf·0) score NaN and are left out; the rest tie at 0
    expect(Array.from(want.indices.subarray(6, 12))).toEqual([0, 4, 5, -1, -1, -1]);
    // an all-NaN query returns nothing
    expect(Array.from(want.indices.subarray(12, 18))).toEqual([-1, -1, -1, -1, -1, -1]);
    // -Inf is a score like any other: returned after the finite ones
    expect(Array.from(want.indices.subarray(0, 6))).toEqual([2, 5, 0, 4, 3, -1]);
  });
  it('matmul propagates NaN and Inf (IEEE: 0·NaN = 0·Inf = NaN) alike in the kernels and the reference', () => {
    const a = new Float32Array([0, 1, NaN, 1, Infinity, 0]);
    const b = new Float32Array([NaN, 1, 2, 3]);
    for (const transB of [false, true]) {
      const want = matmulRef(a, b, { m: 3, n: 2, k: 2, transB });
      expect(Array.from(matmulSync(a, b, { m: 3, n: 2, k: 2, transB }))).toEqual(Array.from(want));
    }
    expect(Array.from(matmulRef(a, b, { m: 3, n: 2, k: 2 }))).toEqual([NaN, 3, NaN, NaN, NaN, Infinity]);
  });
});

// ---- sizes past int32 and allocations past the machine ---------------------------------------------

describe.runIf(native && !sanitized)('sizes past 2^31 elements', () => {
  // A corpus of N·D > 2^31 floats, all zero pages except three rows (never touched for writing,
  // so it costs address space, not memory): int32 index arithmetic would read the wrong rows.
  it('topk and matmul index a 2^31+ element matrix correctly', () => {
    const r = result(child(String.raw`
const D = 1024, N = 2 ** 21 + 3;
const corpus = new Float32Array(N * D);
corpus[(N - 2) * D + D - 1] = 5; corpus[(N - 1) * D + D - 1] = 7; corpus[(N - 3) * D + 3] = 9;
const q = new Float32Array(D); q[D - 1] = 1; q[3] = 0.5;
const idx = new Int32Array(3), sc = new Float32Array(3);
addon.topkSync(q, corpus, 1, N, D, 3, null, null, idx, sc, 2);
const c = new Float32Array(N);
addon.sgemmSync(false, 1, N, 1, D, 1, corpus, q, 0, c, 2);
console.log(JSON.stringify({ n: N, idx: Array.from(idx), sc: Array.from(sc), c: [c[N - 1], c[N - 2], c[N - 3], c[0]] }));
`, 120_000));
    const N = 2 ** 21 + 3;
    expect(N * 1024).toBeGreaterThan(2 ** 31);
    expect(r).toEqual({ n: N, idx: [N - 1, N - 2, N - 3], sc: [7, 5, 4.5], c: [7, 5, 4.5, 0] });
  }, 120_000);
});

describe('counts past int32 in the TypeScript layer', () => {
  it('exclusion lists of more than 2^31 − 1 ids in total are refused before any allocation', async () => {
    const x = new Float32Array(8);
    const huge = [{ length: 2 ** 30 }, { length: 2 ** 30 }] as unknown as number[][];
    await expect(topk(x, x, { dim: 2, k: 1, exclude: [...huge, null, null] })).rejects.toThrow(/^exclude lists hold 2147483648 ids in total, more than 2\^31 - 1$/);
    expect(() => topkRef(x, x, { dim: 2, k: 1, exclude: [...huge, null, null] })).toThrow(/more than 2\^31 - 1/);
  });
});

describe('allocations larger than the memory available', () => {
  const GiB = 1024 ** 3;
  it('matmul without c: refused before allocating, with the size needed', () => {
    const a = new Float32Array(1 << 20);
    expect(() => matmulSync(a, a, { m: 1 << 20, n: 1 << 20, k: 1 })).toThrow(/^matmul: the output c \(batch\*m\*n = 1099511627776 floats\) needs 4096\.00 GiB but only [\d.]+ GiB of memory is available$/);
    expect(() => matmulRef(a, a, { m: 1 << 20, n: 1 << 20, k: 1 })).toThrow(/needs 4096\.00 GiB/);
  });
  it('topk: results larger than memory are refused with the size needed', async () => {
    const x = new Float32Array(1 << 24);
    await expect(topk(x, x, { dim: 1, k: 1 << 14 })).rejects.toThrow(/^topk: the results \(queries\*k = 274877906944 indices and scores\) needs 2048\.00 GiB/);
  });
  // ~1.74e9 parameters (< 2^31), 16 bytes each (weights, gradients, Adam m and v): ~26 GiB. Only
  // where that is refused: elsewhere the model would really be allocated.
  const bigBert = { vocabSize: 30522, hidden: 4096, layers: 8, heads: 32, intermediate: 16384, maxPosition: 512, typeVocabSize: 2 };
  it.runIf(native && 16 * 1.74e9 > 1.1 * availableMemory())('BertModel: a config whose buffers exceed memory is refused before allocating', () => {
    const BertModel = addon!.BertModel as new (c: object) => unknown;
    const t0 = Date.now();
    expect(() => new BertModel(bigBert)).toThrow(
      /^BertModel: \d+ parameters \(weights, gradients and Adam moments\) needs [\d.]+ GiB but only [\d.]+ GiB of memory is available$/,
    );
    expect(Date.now() - t0).toBeLessThan(1000); // refused, not allocated
  });
  // An async topk over 16 GiB of zero pages given as both queries and corpus: 32 GiB to copy.
  it.runIf(native && !sanitized && 32 * GiB > 1.1 * availableMemory())('an async call whose argument copies exceed memory is refused with the size needed', () => {
    const r = result(child(String.raw`
const d = 2 ** 31 - 1, x = new Float32Array(2 * d);
let message = null;
try { addon.topk(x, x, 2, 2, d, 1, null, null, new Int32Array(2), new Float32Array(2), 1); } catch (e) { message = e.message; }
console.log(JSON.stringify({ message, rss: process.memoryUsage().rss }));
`));
    expect(r.message).toMatch(
      /^topk: the async call copies its arguments and needs 32\.00 GiB but only [\d.]+ GiB of memory is available; use the Sync variant, or arrays over a SharedArrayBuffer/,
    );
    expect(r.rss as number).toBeLessThan(2 * GiB);
  });
});

// ---- HNSW graph files ------------------------------------------------------------------------------

let hnswOk = true;
try {
  createRequire(path.join(root, 'package.json'))('hnswlib-node');
} catch (e) {
  hnswOk = false;
  console.log(`HNSW file tests skipped: hnswlib-node does not load (${(e as Error).message.split('\n')[0]})`);
}

describe.runIf(hnswOk)('damaged HNSW graph files', () => {
  const dim = 8;
  const n = 400;
  const M = 8;
  let tmp: string;
  let good: Buffer;
  let sum: string;
  let vectors: Float32Array;
  const file = () => path.join(tmp, 'hnsw-0.bin');
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hnsw-boundary-'));
    const v = new Float32Array(n * dim).map((_, i) => Math.sin(i * 0.37));
    vectors = v;
    await buildHnsw(denseStore(v, dim), file(), { M, efConstruction: 50, seed: 3 });
    good = fs.readFileSync(file());
    sum = fs.readFileSync(checksumFile(file()), 'utf8');
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const write = (bytes: Buffer, withSum: boolean) => {
    fs.writeFileSync(file(), bytes);
    if (withSum) fs.writeFileSync(checksumFile(file()), sum);
    else fs.rmSync(checksumFile(file()), { force: true });
  };
  const expectRefused = (why: RegExp, expect_ = { dim, count: n, M }) => {
    let err: unknown = null;
    try {
      checkHnswFile(file(), expect_);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HnswIndexError);
    const msg = (err as Error).message;
    expect(msg.startsWith(`${file()}: `)).toBe(true);
    expect(msg).toMatch(why);
    expect(msg).toMatch(/delete it \(the synthesis rebuilds it when resumed\), or use another output folder$/);
  };
  // byte offsets: header 96, then n elements of sizePer bytes (links 4 + 4·2M, vector, label u64)
  const sizePer = 4 + 8 * M + 4 * dim + 8;
  const el = (i: number) => 96 + i * sizePer;

  it('the saved graph passes, with its checksum written beside it', () => {
    expect(sum).toMatch(/^[0-9a-f]{64} {2}hnsw-0\.bin\n$/);
    write(good, true);
    expect(checkHnswFile(file(), { dim, count: n, M })).toMatchObject({ count: n, dim, M, checksum: true });
  });

  const damage: [string, (b: Buffer) => Buffer, RegExp][] = [
    ['truncated by one byte', (b) => b.subarray(0, b.length - 1), /truncated|after the last|upper link lists/],
    ['truncated to the header', (b) => b.subarray(0, 100), /is truncated/],
    ['shorter than a header', (b) => b.subarray(0, 50), /shorter than the 96-byte HNSW header/],
    ['a level-0 neighbour id out of range', (b) => { b.writeUInt32LE(0xffffffff, el(5) + 4); b.writeUInt16LE(Math.max(1, b.readUInt16LE(el(5))), el(5)); return b; }, /element 5: level-0 neighbour 4294967295 is not one of the 400 elements/],
    ['too many level-0 links', (b) => { b.writeUInt16LE(999, el(7)); return b; }, /element 7: 999 level-0 links, at most 16/],
    ['a NaN in a vector', (b) => { b.writeFloatLE(NaN, el(9) + 4 + 8 * M + 4); return b; }, /element 9: vector component 1 is NaN/],
    ['a label out of range', (b) => { b.writeBigUInt64LE(1000n, el(3) + 4 + 8 * M + 4 * dim); return b; }, /element 3: label 1000 is not a corpus row/],
    ['a duplicated label', (b) => { b.writeBigUInt64LE(b.readBigUInt64LE(el(1) + 4 + 8 * M + 4 * dim), el(2) + 4 + 8 * M + 4 * dim); return b; }, /label \d+ appears twice/],
    ['the enter point out of range', (b) => { b.writeUInt32LE(5000, 52); return b; }, /enterPoint is 5000/],
    ['a count past maxElements', (b) => { b.writeBigUInt64LE(401n, 16); return b; }, /401 elements in room for 400/],
    ['bytes after the end', (b) => Buffer.concat([b, Buffer.alloc(8)]), /8 bytes after the last link list/],
    ['an upper link list of a bad size', (b) => { b.writeUInt32LE(7, 96 + n * sizePer); return b; }, /element 0: upper link lists of 7 bytes/],
  ];
  for (const [what, fn, why] of damage) {
    it(`${what}: refused by its layout alone (no checksum file), and by the checksum`, () => {
      write(fn(Buffer.from(good)), false);
      expectRefused(why);
      write(fn(Buffer.from(good)), true);
      expectRefused(/does not match its checksum \(hnsw-0\.bin\.sha256\): the file changed after it was written/);
    });
  }

  it('a change the layout cannot see (a finite vector value) is caught by the checksum', () => {
    const b = Buffer.from(good);
    b.writeFloatLE(0.5, el(11) + 4 + 8 * M);
    write(b, false);
    expect(checkHnswFile(file(), { dim, count: n, M }).checksum).toBe(false);
    write(b, true);
    expectRefused(/does not match its checksum/);
  });

  it('a graph of another run (dim, count or M) is refused naming the difference', () => {
    write(good, true);
    expectRefused(/holds vectors of dimension 8, expected 16/, { dim: 16, count: n, M });
    expectRefused(/holds 400 elements, expected 500 \(the corpus size\)/, { dim, count: 500, M });
    expectRefused(/was built with M = 8, this run uses M = 16/, { dim, count: n, M: 16 });
  });

  it('a damaged checksum file, a folder or a missing file are refused', () => {
    write(good, true);
    fs.writeFileSync(checksumFile(file()), 'not a checksum\n');
    expect(() => checkHnswFile(file(), { dim })).toThrow(/hnsw-0\.bin\.sha256: is not a SHA-256 checksum file/);
    fs.rmSync(checksumFile(file()));
    expect(() => checkHnswFile(path.join(tmp, 'absent.bin'), { dim })).toThrow(/absent\.bin: does not exist/);
    expect(() => checkHnswFile(tmp, { dim })).toThrow(/is a folder/);
  });

  it('a resumed synthesis whose hnsw-0.bin was scrambled fails with the file named (was: a segfault)', async () => {
    const out = path.join(tmp, 'run');
    const data = syntheticData(20, 200, 5);
    const opts = { ...data, miner: new FakeEncoder(16), scorer: new FakeScorer(), index: 'hnsw' as const, numRelations: 3, out, hnsw: { recallSample: 10, threads: 1 } };
    // stop right after the graph is saved, as a killed run would
    const first = await synthesize({ ...opts, onCheckpoint: async (stage: string) => {
      if (stage === 'index:0') throw new Error('stopped after the index');
    } });
    await expect(first.wait()).rejects.toThrow(/stopped after the index/);
    const graph = path.join(out, 'checkpoints', 'hnsw-0.bin');
    expect(fs.existsSync(checksumFile(graph))).toBe(true);
    const b = fs.readFileSync(graph);
    const M0 = Number(b.readBigUInt64LE(64));
    for (let i = 0; i < 200; i += 7) {  // level-0 neighbour ids far out of range: hnswlib would read wild memory
      const at = 96 + i * Number(b.readBigUInt64LE(24));
      b.writeUInt16LE(M0, at);
      for (let j = 0; j < M0; j++) b.writeUInt32LE(0x7fff0000 + j, at + 4 + 4 * j);
    }
    fs.writeFileSync(graph, b);
    const resumed = await synthesize(opts);
    let err: unknown = null;
    await resumed.wait().catch((e) => {
      err = e;
    });
    expect(err).toBeInstanceOf(HnswIndexError);
    expect((err as Error).message).toMatch(new RegExp(`^${graph.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: does not match its checksum`));
    // without the checksum file, the layout check refuses it too
    fs.rmSync(checksumFile(graph));
    const again = await synthesize(opts);
    await expect(again.wait()).rejects.toThrow(/hnsw-0\.bin: element 0: level-0 neighbour 2147418112 is not one of the 200 elements/);
  });

  it('HnswSearcher.open refuses a damaged graph before any worker reads it, and searches a good one', async () => {
    const b = Buffer.from(good);
    b.writeUInt32LE(0x7fffffff, el(20) + 4);
    b.writeUInt16LE(Math.max(1, b.readUInt16LE(el(20))), el(20));
    write(b, false);
    expect(() => HnswSearcher.open(file(), dim, 1, 32, { count: n, M })).toThrow(HnswIndexError);
    write(good, true);
    const s = HnswSearcher.open(file(), dim, 1, 32, { count: n, M });
    try {
      const q = new Float32Array(dim).map((_, i) => Math.cos(i));
      const r = await s.search(q, 3);
      expect(r.indices[0]).toBe(topkRef(q, vectors, { dim, k: 1 }).indices[0]);
    } finally {
      await s.close();
    }
  });
});
