/**
 * Suite `kernels`: native matmul and top-k against the pure-TypeScript path (the baseline,
 * backend "js"), plus OpenBLAS sgemm as an outside reference when Debian's libopenblas-dev is
 * installed (bench-only, see bench/openblas/; never a runtime dependency).
 *
 * Top-k also has faiss IndexFlatIP (bench/faiss.ts) as an outside reference when a Python with
 * faiss is present, and, on CPUs with AVX512_BF16, the native fp32-only pass (no bf16 screening)
 * so the screening's gain shows. Top-k data are unit-length rows, like embeddings.
 *
 * GEMM flops = 2·B·M·N·K; top-k flops = 2·Q·N·D (the selection is not counted).
 * The pure-TS top-k is far too slow to run on the full query set, so it runs on a slice of the
 * queries and its time is scaled linearly to Q (it is exactly linear in Q); the row says so.
 */
import { backend, matmulRef, matmulSync, topkRef, topkSync } from '../lib/kernels';
import { randomFloats, measure, unitRows, type BenchRow, type Suite } from './harness';
import { openblasSgemm } from './openblas';
import { faissTopk } from './faiss';
import { loadBackend } from '../lib/kernels/loader';

interface GemmShape {
  m: number;
  n: number;
  k: number;
  transB: boolean;
}

const GEMM_FULL: GemmShape[] = [
  { m: 4096, k: 384, n: 1536, transB: false },
  { m: 4096, k: 384, n: 1536, transB: true },
  { m: 2048, k: 768, n: 768, transB: false },
  { m: 2048, k: 768, n: 768, transB: true },
];
const GEMM_QUICK: GemmShape[] = [{ m: 256, k: 128, n: 192, transB: true }];

interface TopkShape {
  q: number;
  n: number;
  d: number;
  k: number;
}

const TOPK_FULL: TopkShape[] = [
  { q: 1000, n: 100_000, d: 384, k: 10 },
  { q: 1000, n: 100_000, d: 384, k: 100 },
  { q: 1000, n: 100_000, d: 768, k: 10 },
  { q: 1000, n: 100_000, d: 768, k: 100 },
  { q: 10_000, n: 100_000, d: 384, k: 10 },
  { q: 10_000, n: 100_000, d: 384, k: 100 },
  { q: 10_000, n: 100_000, d: 768, k: 10 },
  { q: 10_000, n: 100_000, d: 768, k: 100 },
];
const TOPK_QUICK: TopkShape[] = [{ q: 64, n: 5000, d: 96, k: 10 }];

function gemmName(s: GemmShape): string {
  return `gemm ${s.m}x${s.k}x${s.n}${s.transB ? ' (A·Bᵀ)' : ' (A·B)'}`;
}

async function gemmRows(shapes: GemmShape[], quick: boolean, log: (l: string) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const native = backend();
  const budgetMs = quick ? 200 : 1500;
  for (const s of shapes) {
    const a = randomFloats(s.m * s.k, 1);
    const b = randomFloats(s.k * s.n, 2);
    const c = new Float32Array(s.m * s.n);
    const args = { m: s.m, n: s.n, k: s.k, transB: s.transB, c };
    const gflop = (2 * s.m * s.n * s.k) / 1e9;
    const name = gemmName(s);
    const jsMs = await measure(() => matmulRef(a, b, args), { budgetMs: quick ? 200 : 100, minReps: 1, warmup: 0 });
    rows.push(row('kernels', name, 'js', jsMs, gflop / (jsMs / 1e3), 'GFLOP/s', jsMs));
    if (native.name !== 'js') {
      const ms = await measure(() => matmulSync(a, b, args), { budgetMs, minReps: 3 });
      const r = row('kernels', name, native.name, ms, gflop / (ms / 1e3), 'GFLOP/s', jsMs);
      const ob = quick ? null : openblasSgemm(s, native.threads);
      if (ob) r.extra = { ...r.extra, openblas_gflops: ob.gflops, fraction_of_openblas: round(r.throughput / ob.gflops) };
      rows.push(r);
      if (ob) rows.push(row('kernels', name, 'openblas', ob.median_ms, ob.gflops, 'GFLOP/s', jsMs));
    }
    log(`  ${name}: done`);
  }
  return rows;
}

/** Runs f with SYNTHTUNE_TOPK_SCREEN set to v (the native top-k reads it on every call). */
async function withScreen<T>(v: string, f: () => Promise<T>): Promise<T> {
  const old = process.env.SYNTHTUNE_TOPK_SCREEN;
  process.env.SYNTHTUNE_TOPK_SCREEN = v;
  try {
    return await f();
  } finally {
    if (old === undefined) delete process.env.SYNTHTUNE_TOPK_SCREEN;
    else process.env.SYNTHTUNE_TOPK_SCREEN = old;
  }
}

async function topkRows(shapes: TopkShape[], quick: boolean, log: (l: string) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const native = backend();
  const addon = loadBackend().addon as { topkScreen?: () => boolean } | null;
  const screen = native.name !== 'js' && !!addon?.topkScreen?.();
  let faissWhy = '';
  for (const s of shapes) {
    const corpus = unitRows(s.n, s.d, 3);
    const queries = unitRows(s.q, s.d, 4);
    const gflop = (2 * s.q * s.n * s.d) / 1e9;
    const name = `topk Q=${s.q} N=${s.n} D=${s.d} k=${s.k}`;
    // Pure-TS path on a slice of the queries, scaled to Q.
    const slice = Math.min(s.q, quick ? s.q : 8);
    const qs = queries.subarray(0, slice * s.d);
    const sliceMs = await measure(() => topkRef(qs, corpus, { dim: s.d, k: s.k }), { budgetMs: 0, minReps: 1, warmup: 0 });
    const jsMs = (sliceMs * s.q) / slice;
    const jr = row('kernels', name, 'js', jsMs, (s.q / jsMs) * 1e3, 'queries/s', jsMs);
    jr.extra = { gflops: round(gflop / (jsMs / 1e3)), measured_queries: slice, scaled_to: s.q };
    rows.push(jr);
    if (native.name !== 'js') {
      const budgetMs = quick ? 200 : 1000;
      const ms = await measure(() => topkSync(queries, corpus, { dim: s.d, k: s.k }), { budgetMs, minReps: 2 });
      const r = row('kernels', name, native.name, ms, (s.q / ms) * 1e3, 'queries/s', jsMs);
      r.extra = { gflops: round(gflop / (ms / 1e3)), bf16_screen: screen };
      rows.push(r);
      if (screen) {
        const fp32Ms = await withScreen('0', () => measure(() => topkSync(queries, corpus, { dim: s.d, k: s.k }), { budgetMs, minReps: 2 }));
        const fr = row('kernels', name, `${native.name}-fp32`, fp32Ms, (s.q / fp32Ms) * 1e3, 'queries/s', jsMs);
        fr.extra = { gflops: round(gflop / (fp32Ms / 1e3)), bf16_screen: false };
        rows.push(fr);
        r.extra = { ...r.extra, vs_fp32_pass: `${(fp32Ms / ms).toFixed(2)}x` };
      }
      if (!faissWhy) {
        const f = faissTopk(queries, corpus, s.d, s.k, native.threads, quick);
        if (f.result) {
          const fr = row('kernels', name, 'faiss', f.result.median_ms, f.result.queries_per_s, 'queries/s', jsMs);
          fr.extra = { gflops: round(gflop / (f.result.median_ms / 1e3)), faiss: f.result.version, threads: native.threads };
          rows.push(fr);
          r.extra = { ...r.extra, vs_faiss: `${(f.result.median_ms / ms).toFixed(2)}x` };
        } else {
          faissWhy = f.why;
          log(`  faiss reference skipped: ${f.why}`);
        }
      }
    }
    log(`  ${name}: done`);
  }
  return rows;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function row(suite: string, name: string, be: string, ms: number, throughput: number, unit: string, baseMs: number): BenchRow {
  return {
    suite,
    case: name,
    backend: be,
    median_ms: round(ms),
    throughput: round(throughput),
    unit,
    speedup: round(baseMs / ms),
    baseline: 'js',
  };
}

export const suite: Suite = {
  name: 'kernels',
  description: 'batched GEMM and fused top-k: native vs pure-TS (and OpenBLAS, faiss IndexFlatIP when installed)',
  async run({ quick, log }) {
    return [
      ...(await gemmRows(quick ? GEMM_QUICK : GEMM_FULL, quick, log)),
      ...(await topkRows(quick ? TOPK_QUICK : TOPK_FULL, quick, log)),
    ];
  },
};
