/**
 * The synthesis pipeline, stage by stage, each stage checkpointed in <run>/checkpoints:
 *
 *   encode  (dense miners) corpus and queries in fixed batches → emb-<m>/{corpus,queries}-<b>.safetensors
 *   index   (hnsw)         graph per dense miner → hnsw-<m>.bin (+ .sha256)
 *   mine    per query batch: candidates of every miner, fused, then selection → mine-<b>.safetensors (I32)
 *   score   per query batch: teacher scores of (q, pos), (q, neg…) → score-<b>.safetensors (F32)
 * Checkpoints are checksummed safetensors (lib/util/run-folder.ts): a damaged one is a RunError.
 *   write   train.jsonl (and train.csv), atomically, from the checkpoints
 *
 * Every stage is deterministic given its inputs and skips finished batches, so a run killed at
 * any point and started again with the same arguments writes byte-identical output.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunError } from '../util/errors';
import { ModelError } from '../models/errors';
import { buildHnsw, defaultThreads, HnswSearcher } from './hnsw';
import { exactSearch, fuseRanked, lexicalSearch, recallAt, selectRelations, type Ranked } from './mining';
import { csvLines, jsonlLines, type ExampleSource } from './output';
import type { Plan } from './prepare';
import { Progress } from './progress';
import { RUN_FILES, type RunWriter } from './run';
import { bm25Lexical, lexicalRowScorer, modelRowScorer, scoreCheckpointed } from './scoring';
import { diskStore, encodeCheckpointed, memoryStore, type VectorStore } from './store';
import { exists, readTensor, writeAtomic, writeTensor } from './fsutil';
import type { Encoder, LexicalIndex, SynthesizeOptions } from './types';

type Hook = SynthesizeOptions['onCheckpoint'];

/** A miner ready to search one batch of queries (rows [start, end) of the query set). */
interface ReadyMiner {
  search(start: number, end: number, k: number, exclude: (number[] | null)[]): Promise<Ranked>;
  /** Exact twin of search for recall measurement (HNSW miners only). */
  exact?(start: number, end: number, k: number, exclude: (number[] | null)[]): Promise<Ranked>;
  close(): Promise<void>;
  bytes: number;
}

export interface Context {
  plan: Plan;
  writer: RunWriter;
  progress: Progress;
  hook?: Hook;
  ckpt: string;
}

/** Share of the run's progress bar given to each stage. */
const WEIGHT = { encode: 0.4, index: 0.1, mine: 0.1, score: 0.4 };

async function stageProgress(ctx: Context, stage: keyof typeof WEIGHT, base: number, done: number, total: number): Promise<void> {
  await ctx.writer.setStatus({ stage, done, total, progress: Math.min(1, base + WEIGHT[stage] * (done / Math.max(1, total))) });
}

// ---- encode ----------------------------------------------------------------------------------

async function encodeSide(ctx: Context, m: number, enc: Encoder, side: 'corpus' | 'queries', base: number, share: number): Promise<VectorStore> {
  const { params } = ctx.plan;
  const texts = side === 'corpus' ? ctx.plan.docs : ctx.plan.queries;
  const dir = path.join(ctx.ckpt, `emb-${m}`);
  const dtype = side === 'corpus' ? params.embeddingDtype : 'float32';
  const bar = ctx.progress.stage(`encode ${side}`, texts.length);
  const t0 = Date.now();
  let fresh = 0;
  await encodeCheckpointed({
    encoder: enc,
    texts,
    dir,
    prefix: side,
    side: side === 'corpus' ? 'document' : 'query',
    batchSize: params.encodeBatchSize,
    dtype,
    normalize: params.similarity === 'cosine',
    onBatch: async (done, total, isFresh, b) => {
      bar.update(Math.min(texts.length, done * params.encodeBatchSize));
      await ctx.writer.setStatus({ stage: 'encode', done, total, progress: base + share * (done / total) });
      if (isFresh) {
        fresh++;
        await ctx.hook?.(`encode:${m}:${side}`, b);
      }
    },
  });
  bar.stop();
  await ctx.writer.log('info', `encoded ${side} with miner ${m}`, { miner: m, side, count: texts.length, dim: enc.dim, batchesEncoded: fresh, seconds: (Date.now() - t0) / 1000 });
  const spec = { dir, prefix: side, n: texts.length, dim: enc.dim, batchSize: params.encodeBatchSize, dtype };
  return side === 'corpus' && params.embeddingStore === 'disk' ? diskStore(spec) : memoryStore(spec);
}

// ---- miners ----------------------------------------------------------------------------------

async function hnswMiner(ctx: Context, m: number, corpus: VectorStore, queries: Float32Array): Promise<ReadyMiner> {
  const { hnsw } = ctx.plan.params;
  const file = path.join(ctx.ckpt, `hnsw-${m}.bin`);
  const dim = corpus.dim;
  if (!(await exists(file))) {
    const t0 = Date.now();
    const bar = ctx.progress.stage('build hnsw', corpus.n);
    await buildHnsw(corpus, file, { M: hnsw.M, efConstruction: hnsw.efConstruction, seed: hnsw.seed }, (added) => {
      bar.update(added);
      void stageProgress(ctx, 'index', WEIGHT.encode, added, corpus.n);
    });
    bar.stop();
    await ctx.writer.log('info', `built HNSW index for miner ${m}`, { miner: m, M: hnsw.M, efConstruction: hnsw.efConstruction, seconds: (Date.now() - t0) / 1000 });
    await ctx.hook?.(`index:${m}`, 0);
  }
  const searcher = HnswSearcher.open(file, dim, hnsw.threads || defaultThreads(), hnsw.efSearch, { count: corpus.n, M: hnsw.M });
  const rows = (s: number, e: number) => queries.subarray(s * dim, e * dim);
  return {
    search: (s, e, k, ex) => searcher.search(rows(s, e), k, ex),
    exact: (s, e, k, ex) => exactSearch(rows(s, e), corpus, k, ex),
    close: () => searcher.close(),
    bytes: corpus.bytes + queries.byteLength,
  };
}

async function denseMiner(ctx: Context, m: number, enc: Encoder): Promise<ReadyMiner> {
  const n = ctx.plan.miners.length;
  const share = WEIGHT.encode / n;
  const corpus = await encodeSide(ctx, m, enc, 'corpus', share * m, share * 0.8);
  const qStore = await encodeSide(ctx, m, enc, 'queries', share * (m + 0.8), share * 0.2);
  const queries = qStore.dense!;
  if (ctx.plan.params.index === 'hnsw') return hnswMiner(ctx, m, corpus, queries);
  const dim = enc.dim;
  return {
    search: (s, e, k, ex) => exactSearch(queries.subarray(s * dim, e * dim), corpus, k, ex),
    close: async () => undefined,
    bytes: corpus.bytes + queries.byteLength,
  };
}

function lexicalMiner(ctx: Context, index: LexicalIndex): ReadyMiner {
  const { queries, docs } = ctx.plan;
  let padded = 0;
  return {
    search: async (s, e, k, ex) => {
      const r = lexicalSearch(index, queries.slice(s, e), docs.length, k, ex);
      padded += r.padded;
      return r.ranked;
    },
    close: async () => {
      if (padded) await ctx.writer.log('warn', `BM25 miner: ${padded} queries matched fewer documents than needed; padded with zero-score documents in corpus order`, { padded });
    },
    bytes: 0,
  };
}

// ---- mine ------------------------------------------------------------------------------------

function mineFile(ckpt: string, b: number): string {
  return path.join(ckpt, `mine-${String(b).padStart(6, '0')}.safetensors`);
}

async function mineBatch(ctx: Context, miners: ReadyMiner[], s: number, e: number): Promise<Int32Array> {
  const { plan } = ctx;
  const exclude = plan.known.slice(s, e);
  const lists = await Promise.all(miners.map((m) => m.search(s, e, plan.fetch, exclude)));
  const ranked = fuseRanked(lists, e - s, plan.fetch);
  return selectRelations({ ranked, qids: plan.qids.slice(s, e), numRelations: plan.params.numRelations, negatives: plan.params.negatives, known: exclude });
}

async function mineAll(ctx: Context, miners: ReadyMiner[]): Promise<Int32Array> {
  const { plan } = ctx;
  const R = plan.params.numRelations;
  const q = plan.qids.length;
  const size = plan.params.mineBatchSize;
  const total = Math.ceil(q / size);
  const rel = new Int32Array(q * R);
  const bar = ctx.progress.stage('mine', q);
  for (let b = 0; b < total; b++) {
    const s = b * size;
    const e = Math.min(q, s + size);
    const file = mineFile(ctx.ckpt, b);
    const fresh = !(await exists(file));
    const part = fresh ? await mineBatch(ctx, miners, s, e) : await readTensor(file, Int32Array, (e - s) * R);
    if (part.length !== (e - s) * R) throw new Error(`${file}: ${part.length} entries, expected ${(e - s) * R}`);
    if (fresh) await writeTensor(file, part);
    rel.set(part, s * R);
    bar.update(e);
    await stageProgress(ctx, 'mine', WEIGHT.encode + WEIGHT.index, b + 1, total);
    if (fresh) await ctx.hook?.('mine', b);
  }
  bar.stop();
  return rel;
}

/** Recall@numRelations of each HNSW miner against exact search, on an evenly spread sample. */
async function logRecall(ctx: Context, miners: ReadyMiner[]): Promise<void> {
  const { plan } = ctx;
  const sample = Math.min(plan.params.hnsw.recallSample, plan.qids.length);
  if (sample === 0) return;
  const step = plan.qids.length / sample;
  const rows = Array.from({ length: sample }, (_, i) => Math.floor(i * step));
  const k = Math.min(plan.params.numRelations, plan.docs.length);
  for (const [m, miner] of miners.entries()) {
    if (!miner.exact) continue;
    let hits = 0;
    for (const r of rows) {
      const ex = [plan.known[r]];
      const [a, x] = await Promise.all([miner.search(r, r + 1, k, ex), miner.exact(r, r + 1, k, ex)]);
      hits += recallAt(a, x, 1, k);
    }
    await ctx.writer.log('info', `HNSW recall@${k} vs exact: ${(hits / sample).toFixed(4)} on ${sample} queries`, { miner: m, recall: hits / sample, k, sample, efSearch: plan.params.hnsw.efSearch });
  }
}

// ---- score + write ---------------------------------------------------------------------------

async function scoreAll(ctx: Context, rel: Int32Array, lexical: () => LexicalIndex): Promise<Float32Array> {
  const { plan } = ctx;
  const R = plan.params.numRelations;
  const q = plan.qids.length;
  // the relations come from checkpoints that may be damaged: every one must name a document
  const nDocs = plan.docIds.length;
  for (let i = 0; i < rel.length; i++) {
    if (!(rel[i] >= 0 && rel[i] < nDocs)) {
      throw new RunError(ctx.ckpt, `${ctx.ckpt}: the mined relations (query '${plan.qids[Math.floor(i / R)]}', rank ${i % R}) name document ${rel[i]} of ${nDocs}: a mining checkpoint is damaged; delete ${ctx.ckpt} to mine again, use --restart to start over, or another --out`);
    }
  }
  const rowScorer = plan.scorer === 'bm25' ? lexicalRowScorer(lexical(), plan.queries, rel, R) : modelRowScorer(plan.scorer, plan.queries, plan.docs, rel, R);
  const bar = ctx.progress.stage('score', q);
  const t0 = Date.now();
  let freshPairs = 0;
  const scores = await scoreCheckpointed({
    rowScorer,
    q,
    R,
    batchSize: plan.params.scoreBatchSize,
    dir: ctx.ckpt,
    onBatch: async (done, total, fresh, b) => {
      bar.update(Math.min(q, done * plan.params.scoreBatchSize));
      await stageProgress(ctx, 'score', 1 - WEIGHT.score, done, total);
      if (fresh) {
        freshPairs += (Math.min(q, (b + 1) * plan.params.scoreBatchSize) - b * plan.params.scoreBatchSize) * R;
        await ctx.hook?.('score', b);
      }
    },
  });
  bar.stop();
  // a teacher's NaN or ±Infinity would become a margin of null in train.jsonl
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) {
      throw new ModelError(`the scorer (${ctx.plan.config.models.scorer}) gave ${scores[i]} for query '${plan.qids[Math.floor(i / R)]}' and document '${plan.docIds[rel[i]]}': teacher scores must be finite numbers${fs.existsSync(ctx.ckpt) ? ` (its checkpoints in ${ctx.ckpt} may be damaged: delete them to score again)` : ''}`);
    }
  }
  const sec = (Date.now() - t0) / 1000;
  await ctx.writer.log('info', `scored ${q * R} pairs`, { pairs: q * R, scoredNow: freshPairs, seconds: sec, pairsPerSecond: sec > 0 ? freshPairs / sec : null });
  return scores;
}

async function writeOutputs(ctx: Context, rel: Int32Array, scores: Float32Array, csv: boolean): Promise<number> {
  const { plan } = ctx;
  const src: ExampleSource = { qids: plan.qids, queries: plan.queries, docIds: plan.docIds, docs: plan.docs, relations: rel, scores, R: plan.params.numRelations, generatedMethod: plan.generatedMethod };
  await writeAtomic(ctx.writer.file(RUN_FILES.train), jsonlLines(src));
  if (csv) await writeAtomic(ctx.writer.file(RUN_FILES.csv), csvLines(src, plan.scorer === 'bm25' ? 'max' : 'sigmoid'));
  return plan.qids.length * (plan.params.numRelations - 1);
}

// ---- the whole run ---------------------------------------------------------------------------

export async function execute(ctx: Context, csv: boolean): Promise<number> {
  await fs.promises.mkdir(ctx.ckpt, { recursive: true });
  const t0 = Date.now();
  let lexIndex: LexicalIndex | null = null;
  const lexical = () => (lexIndex ??= bm25Lexical(ctx.plan.docs));
  const miners: ReadyMiner[] = [];
  try {
    for (const [m, spec] of ctx.plan.miners.entries()) miners.push(spec === 'bm25' ? lexicalMiner(ctx, lexical()) : await denseMiner(ctx, m, spec));
    const rel = await mineAll(ctx, miners);
    if (ctx.plan.params.index === 'hnsw') await logRecall(ctx, miners);
    await ctx.writer.log('info', `mined ${ctx.plan.params.numRelations} relations for ${ctx.plan.qids.length} queries`, { embeddingBytes: miners.reduce((s, m) => s + m.bytes, 0) });
    const scores = await scoreAll(ctx, rel, lexical);
    await ctx.writer.setStatus({ stage: 'write', progress: 0.99 });
    const n = await writeOutputs(ctx, rel, scores, csv);
    const sec = (Date.now() - t0) / 1000;
    await ctx.writer.log('info', `wrote ${n} examples`, { examples: n, seconds: sec, examplesPerSecond: n / Math.max(sec, 1e-9), peakRssBytes: process.resourceUsage().maxRSS * 1024 });
    return n;
  } finally {
    for (const m of miners) await m.close();
  }
}
