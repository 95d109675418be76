/**
 * Suite `mining`: relation mining at corpus scale, and synthesis end to end.
 *
 *  - exact fused top-k (lib/kernels, the baseline) vs HNSW (hnswlib-node, searches spread over
 *    worker threads) at N = 100k and 1M documents, D = 384, k = 10: queries/s, HNSW build time and
 *    recall@10 against exact. Vectors are synthetic but clustered (1000 Gaussian clusters,
 *    L2-normalised) — uniform random vectors in 384 dimensions have no neighbourhood structure
 *    and would understate HNSW recall. When the kernels run on the pure-TS fallback, exact search
 *    is timed on a slice of queries (the cost is linear in Q; rows say so).
 *  - memory for 100k queries × 1M documents × 384 dims: the formula, and (full mode) RSS measured
 *    with the 1M corpus and 100k query embeddings resident while a mining batch runs.
 *  - end-to-end examples/s of synthesize() with MiniLM-sized generated models (6 layers, hidden 384).
 * Quick mode: N = 20k only, fewer queries, smaller end-to-end run. 1M runs only in full mode (its
 * HNSW build is single-threaded in hnswlib-node and takes long on small machines).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backend, topk } from '../lib/kernels';
import { buildHnsw, defaultThreads, HnswSearcher } from '../lib/synthesis/hnsw';
import { recallAt } from '../lib/synthesis/mining';
import { denseStore, normalizeRows } from '../lib/synthesis/store';
import { measure, randomFloats, type BenchRow, type Suite } from './harness';

const D = 384;
const K = 10;
const CLUSTERS = 1000;

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** n points around shared cluster centres (seeded), L2-normalised. */
function clustered(n: number, centres: Float32Array, seed: number): Float32Array {
  const v = randomFloats(n * D, seed);
  for (let i = 0; i < n; i++) {
    const c = ((i * 2654435761) >>> 0) % CLUSTERS;
    for (let j = 0; j < D; j++) v[i * D + j] = centres[c * D + j] + 0.35 * v[i * D + j];
  }
  return normalizeRows(v, D);
}

interface Scale {
  n: number;
  hnswQueries: number;
  recallSample: number;
  efConstruction: number;
}

function exactSlice(n: number, native: boolean): number {
  if (native) return 1000;
  return Math.max(4, Math.round(2e6 / n)); // pure TS: keep each call around a few seconds
}

async function exactRow(corpus: Float32Array, queries: Float32Array, n: number, native: boolean, log: (l: string) => void): Promise<{ row: BenchRow; msPerQuery: number }> {
  const q = Math.min(exactSlice(n, native), queries.length / D);
  const qs = queries.subarray(0, q * D);
  const ms = await measure(() => topk(qs, corpus, { dim: D, k: K }), { budgetMs: 2000, minReps: 1, maxReps: 5, warmup: native ? 1 : 0 });
  log(`  exact N=${n}: ${round((q / ms) * 1000, 1)} queries/s (${q} queries)`);
  const row: BenchRow = {
    suite: 'mining',
    case: `exact top-${K} N=${n} D=${D}`,
    backend: backend().name,
    median_ms: round(ms),
    throughput: round((q / ms) * 1000),
    unit: 'queries/s',
    speedup: 1,
    baseline: 'exact',
    extra: { queries_measured: q, threads: backend().threads },
  };
  return { row, msPerQuery: ms / q };
}

async function hnswRows(corpus: Float32Array, queries: Float32Array, s: Scale, exactMsPerQuery: number, log: (l: string) => void): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-hnsw-'));
  const file = path.join(dir, 'graph.bin');
  const threads = defaultThreads();
  try {
    const t0 = performance.now();
    await buildHnsw(denseStore(corpus, D), file, { M: 16, efConstruction: s.efConstruction, seed: 100 });
    const buildMs = performance.now() - t0;
    log(`  hnsw N=${s.n}: built in ${round(buildMs / 1000, 1)} s`);
    const searcher = HnswSearcher.open(file, D, threads, 100);
    try {
      const qs = queries.subarray(0, s.hnswQueries * D);
      const ms = await measure(() => searcher.search(qs, K), { budgetMs: 2000, minReps: 2, maxReps: 10 });
      const sample = queries.subarray(0, s.recallSample * D);
      const [approx, exact] = await Promise.all([searcher.search(sample, K), topk(sample, corpus, { dim: D, k: K })]);
      const recall = recallAt(approx, exact, s.recallSample, K);
      log(`  hnsw N=${s.n}: ${round((s.hnswQueries / ms) * 1000, 1)} queries/s, recall@${K} ${round(recall, 4)}`);
      const base = { suite: 'mining', backend: `hnswlib x${threads}`, baseline: 'exact' };
      return [
        { ...base, case: `hnsw build N=${s.n} D=${D}`, median_ms: round(buildMs), throughput: round((s.n / buildMs) * 1000), unit: 'points/s', speedup: 1, extra: { M: 16, efConstruction: s.efConstruction, build_threads: 1, index_bytes: fs.statSync(file).size } },
        {
          ...base,
          case: `hnsw top-${K} N=${s.n} D=${D}`,
          median_ms: round(ms),
          throughput: round((s.hnswQueries / ms) * 1000),
          unit: 'queries/s',
          speedup: round(exactMsPerQuery / (ms / s.hnswQueries)),
          extra: { recall_at_10: round(recall, 4), recall_sample: s.recallSample, efSearch: 100, search_threads: threads, queries: s.hnswQueries },
        },
      ];
    } finally {
      await searcher.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes a synthesis holds for Q queries × N docs × D dims with R relations (texts excluded). */
export function miningMemoryEstimate(q: number, n: number, d: number, r = 10, hnswThreads = 0, M = 16): Record<string, number> {
  const corpus32 = n * d * 4;
  const queries = q * d * 4;
  const relations = q * r * 8; // Int32 indices + Float32 scores
  const hnswPerWorker = n * (d * 4 + 2 * M * 4 + 4 + 8) + n * 8;
  return {
    corpus_float32_bytes: corpus32,
    corpus_float16_bytes: corpus32 / 2,
    queries_bytes: queries,
    relations_and_scores_bytes: relations,
    exact_total_float32_bytes: corpus32 + queries + relations,
    exact_total_float16_bytes: corpus32 / 2 + queries + relations,
    hnsw_per_search_worker_bytes: hnswPerWorker,
    hnsw_total_bytes: corpus32 + queries + relations + hnswPerWorker * Math.max(1, hnswThreads),
  };
}

/** Full mode: RSS with a 1M × 384 corpus and 100k query embeddings resident during a mining batch. */
function memoryRow(measureIt: boolean, log: (l: string) => void): Promise<BenchRow> {
  return (async () => {
    const Q = 100_000;
    const n = 1_000_000;
    const est = miningMemoryEstimate(Q, n, D, 10, defaultThreads());
    const extra: Record<string, unknown> = { ...est };
    let ms = 0;
    if (measureIt) {
      const rssBefore = process.memoryUsage().rss;
      const corpus = randomFloats(n * D, 76);
      const queries = randomFloats(Q * D, 77); // the 100k query embeddings, resident
      const rel = new Int32Array(Q * 10);
      const scores = new Float32Array(Q * 10);
      const batch = backend().name === 'js' ? 8 : 1024;
      const t0 = performance.now();
      const r = await topk(queries.subarray(0, batch * D), corpus, { dim: D, k: 10 });
      ms = performance.now() - t0;
      rel.set(r.indices);
      scores.set(r.scores);
      extra.measured_rss_bytes = process.memoryUsage().rss;
      extra.measured_peak_rss_bytes = process.resourceUsage().maxRSS * 1024;
      extra.rss_before_bytes = rssBefore;
      extra.measured_growth_bytes = (extra.measured_rss_bytes as number) - rssBefore;
      extra.mining_batch = batch;
      log(`  memory 100k×1M×384: estimate ${round(est.exact_total_float32_bytes / 2 ** 30, 2)} GiB (float32), measured growth ${round((extra.measured_growth_bytes as number) / 2 ** 30, 2)} GiB, peak RSS ${round((extra.measured_peak_rss_bytes as number) / 2 ** 30, 2)} GiB`);
    } else {
      log(`  memory 100k×1M×384: estimate ${round(est.exact_total_float32_bytes / 2 ** 30, 2)} GiB (float32), ${round(est.exact_total_float16_bytes / 2 ** 30, 2)} GiB (float16); measured in full mode`);
    }
    return { suite: 'mining', case: 'memory 100k queries x 1M docs x 384', backend: backend().name, median_ms: round(ms), throughput: round(est.exact_total_float32_bytes / 2 ** 30, 3), unit: 'GiB (estimate, float32)', speedup: 1, baseline: 'estimate', extra };
  })();
}

/** synthesize() with MiniLM-sized random models (6 layers, hidden 384): examples/s. */
async function endToEndRow(quick: boolean, log: (l: string) => void): Promise<BenchRow> {
  const { writeTinyModel } = await import('../lib/models/tiny.js');
  const { synthesize } = await import('../lib/synthesis/index.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
  try {
    const words = 'protein cell gene vaccine trial efficacy safety model query document vector search index relevance score margin teacher student domain corpus'.split(' ');
    const rand = randomFloats(1 << 16, 5);
    let p = 0;
    const text = (len: number) => Array.from({ length: len }, () => words[Math.floor(((rand[p++ & 0xffff] + 1) / 2) * words.length)]).join(' ');
    const nd = quick ? 200 : 2000;
    const nq = quick ? 20 : 200;
    const corpus = Array.from({ length: nd }, (_, i) => `${text(40)} ${i}`);
    const queries = Array.from({ length: nq }, () => text(8));
    const shape = { hidden: 384, layers: 6, heads: 12, intermediate: 1536, maxPosition: 512 };
    const bi = writeTinyModel(path.join(dir, 'bi'), { texts: corpus, shape, seed: 1, stPooling: 'mean', vocabSize: 3000 }).dir;
    const ce = writeTinyModel(path.join(dir, 'ce'), { kind: 'cross-encoder', texts: corpus, shape, seed: 2, vocabSize: 3000 }).dir;
    const t0 = performance.now();
    const run = await synthesize({ queries, corpus, miner: bi, scorer: ce, numRelations: 10, out: path.join(dir, 'run') });
    const status = await run.wait();
    const ms = performance.now() - t0;
    const logs = await run.logs();
    const stage = (m: string) => logs.find((l) => l.message.startsWith(m))?.seconds;
    const examples = status.examples ?? 0;
    log(`  synthesize (MiniLM-sized): ${examples} examples in ${round(ms / 1000, 1)} s`);
    return {
      suite: 'mining',
      case: `synthesize end-to-end ${nq}q x ${nd}d, R=10, MiniLM-sized models`,
      backend: 'onnxruntime-cpu',
      median_ms: round(ms),
      throughput: round((examples / ms) * 1000),
      unit: 'examples/s',
      speedup: 1,
      baseline: 'self',
      extra: { examples, encode_corpus_s: stage('encoded corpus'), encode_queries_s: stage('encoded queries'), score_s: stage('scored'), pairs: nq * 10 },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const suite: Suite = {
  name: 'mining',
  description: 'relation mining: exact top-k vs HNSW (queries/s, build time, recall@10) at 100k/1M x 384, memory for 100k x 1M, synthesis examples/s',
  async run({ quick, log }) {
    const native = backend().name !== 'js';
    // SYNTHTUNE_BENCH_MINING_MAX_N caps the corpus sizes (the 1M HNSW build is single-threaded).
    const maxN = Number(process.env.SYNTHTUNE_BENCH_MINING_MAX_N ?? Infinity);
    const scales: Scale[] = (
      quick
        ? [{ n: 20_000, hnswQueries: 200, recallSample: 50, efConstruction: 100 }]
        : [
            { n: 100_000, hnswQueries: 2000, recallSample: native ? 500 : 50, efConstruction: 200 },
            { n: 1_000_000, hnswQueries: 2000, recallSample: native ? 200 : 10, efConstruction: 200 },
          ]
    ).filter((s) => s.n <= maxN);
    const centres = randomFloats(CLUSTERS * D, 3);
    const rows: BenchRow[] = [];
    for (const s of scales) {
      const corpus = clustered(s.n, centres, 11);
      const queries = clustered(Math.max(s.hnswQueries, 1000), centres, 12);
      const ex = await exactRow(corpus, queries, s.n, native, log);
      rows.push(ex.row, ...(await hnswRows(corpus, queries, s, ex.msPerQuery, log)));
    }
    rows.push(await memoryRow(!quick, log));
    rows.push(await endToEndRow(quick, log));
    return rows;
  },
};
