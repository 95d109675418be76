/**
 * Dense-retrieval evaluator: ranks the corpus for every query with the kernels' top-k
 * inner-product search (native when built, pure TS otherwise) and scores the rankings with
 * ./metrics.ts. Input is either embeddings (row-major Float32Array, one row per id) or an encoder
 * plus texts. Scores are inner products: normalise the embeddings (or set `normalize`) for cosine.
 *
 * Under the 'trec' convention, equal scores inside a retrieved list are re-ordered like
 * trec_eval/pytrec_eval (doc id descending) so numbers match BEIR's; 'docarray' keeps the
 * retrieval order. `excludeSelf` drops the corpus document whose id equals the query id (BEIR's
 * ignore_identical_ids, for data sets whose queries are also documents).
 */
import { beirText } from '../data/beir';
import type { Document, Qrels, Query } from '../data/types';
import { topk } from '../kernels/index';
import { DEFAULT_KS, evaluateRun, rankByScore, type Convention, type MetricName, type RunEvaluation } from './metrics';
import { InputRangeError } from '../util/errors';

export interface Encoder {
  dim: number;
  /** Row-major (texts.length × dim) embeddings. */
  encode(texts: string[]): Promise<Float32Array>;
  /** Used for queries / documents when present (a model with query and document prompts). */
  encodeQueries?(texts: string[]): Promise<Float32Array>;
  encodeDocuments?(texts: string[]): Promise<Float32Array>;
}

interface CommonOptions {
  qrels: Qrels;
  ks?: readonly number[];
  convention?: Convention;
  metrics?: readonly MetricName[];
  excludeSelf?: boolean;
  /** Documents retrieved per query (default max(ks)). */
  depth?: number;
  /** L2-normalise embeddings before searching (cosine similarity). Default false. */
  normalize?: boolean;
}

export interface EmbeddingInput extends CommonOptions {
  queryEmbeddings: Float32Array;
  corpusEmbeddings: Float32Array;
  dim: number;
  queryIds: readonly string[];
  docIds: readonly string[];
}

export interface EncoderInput extends CommonOptions {
  encoder: Encoder;
  queries: readonly Query[];
  corpus: readonly Document[];
  /** Texts per encode() call (default 64). */
  batchSize?: number;
  /** Called after each encoded batch with (done, total) texts. */
  onProgress?: (done: number, total: number) => void;
}

/** One query's ranking, best first. */
export interface Ranked {
  ids: string[];
  scores: number[];
}

export interface Evaluation extends RunEvaluation {
  run: Map<string, Ranked>;
}

/** Scores a run of (ids, scores) rankings; trec convention re-orders ties like trec_eval. */
export function evaluateRankings(run: ReadonlyMap<string, Ranked>, opts: Omit<CommonOptions, 'depth' | 'normalize' | 'excludeSelf'>): Evaluation {
  const convention = opts.convention ?? 'trec';
  const ordered = new Map<string, Ranked>();
  for (const [qid, r] of run) ordered.set(qid, convention === 'trec' ? reorderTies(r) : r);
  const ids = new Map([...ordered].map(([q, r]) => [q, r.ids] as const));
  const res = evaluateRun(ids, opts.qrels, { ks: opts.ks ?? DEFAULT_KS[convention], convention, metrics: opts.metrics });
  return { ...res, run: ordered };
}

function reorderTies(r: Ranked): Ranked {
  const score = new Map(r.ids.map((id, i) => [id, r.scores[i]] as const));
  const ids = rankByScore(score);
  return { ids, scores: ids.map((id) => score.get(id)!) };
}

export function l2Normalize(x: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / dim; r++) {
    let s = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) s += x[j] * x[j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) out[j] = x[j] * inv;
  }
  return out;
}

function checkShapes(i: EmbeddingInput): void {
  if (!Number.isInteger(i.dim) || i.dim < 1) throw new InputRangeError(`dim must be a positive integer, got ${i.dim}`);
  if (i.queryEmbeddings.length !== i.queryIds.length * i.dim) {
    throw new InputRangeError(`queryEmbeddings has ${i.queryEmbeddings.length} floats, expected ${i.queryIds.length} × ${i.dim}`);
  }
  if (i.corpusEmbeddings.length !== i.docIds.length * i.dim) {
    throw new InputRangeError(`corpusEmbeddings has ${i.corpusEmbeddings.length} floats, expected ${i.docIds.length} × ${i.dim}`);
  }
}

function selfExclusions(queryIds: readonly string[], docIds: readonly string[]): Array<number[] | null> {
  const index = new Map(docIds.map((id, i) => [id, i] as const));
  return queryIds.map((q) => (index.has(q) ? [index.get(q)!] : null));
}

async function evaluateEmbeddings(i: EmbeddingInput): Promise<Evaluation> {
  checkShapes(i);
  const convention = i.convention ?? 'trec';
  const ks = i.ks ?? DEFAULT_KS[convention];
  const depth = i.depth ?? Math.max(...ks);
  const q = i.normalize ? l2Normalize(i.queryEmbeddings, i.dim) : i.queryEmbeddings;
  const c = i.normalize ? l2Normalize(i.corpusEmbeddings, i.dim) : i.corpusEmbeddings;
  const exclude = i.excludeSelf ? selfExclusions(i.queryIds, i.docIds) : undefined;
  const res = await topk(q, c, { dim: i.dim, k: depth, exclude });
  const run = new Map<string, Ranked>();
  i.queryIds.forEach((qid, row) => {
    const ranked: Ranked = { ids: [], scores: [] };
    for (let j = row * res.k; j < (row + 1) * res.k && res.indices[j] >= 0; j++) {
      ranked.ids.push(i.docIds[res.indices[j]]);
      ranked.scores.push(res.scores[j]);
    }
    run.set(qid, ranked);
  });
  return evaluateRankings(run, { ...i, ks });
}

/** Encodes texts in batches and concatenates the embeddings. */
export async function encodeAll(encoder: Encoder, texts: readonly string[], batchSize = 64, onBatch?: (n: number) => void, side?: 'query' | 'document'): Promise<Float32Array> {
  const out = new Float32Array(texts.length * encoder.dim);
  const call = side === 'query' && encoder.encodeQueries ? encoder.encodeQueries.bind(encoder)
    : side === 'document' && encoder.encodeDocuments ? encoder.encodeDocuments.bind(encoder) : encoder.encode.bind(encoder);
  for (let s = 0; s < texts.length; s += batchSize) {
    const batch = texts.slice(s, s + batchSize);
    const emb = await call(batch);
    if (emb.length !== batch.length * encoder.dim) {
      throw new InputRangeError(`encoder returned ${emb.length} floats for ${batch.length} texts of dim ${encoder.dim}`);
    }
    out.set(emb, s * encoder.dim);
    onBatch?.(batch.length);
  }
  return out;
}

async function evaluateEncoder(i: EncoderInput): Promise<Evaluation> {
  const total = i.queries.length + i.corpus.length;
  let done = 0;
  const tick = (n: number) => i.onProgress?.((done += n), total);
  const bs = i.batchSize ?? 64;
  const queryEmbeddings = await encodeAll(i.encoder, i.queries.map((q) => q.text), bs, tick, 'query');
  const corpusEmbeddings = await encodeAll(i.encoder, i.corpus.map(beirText), bs, tick, 'document');
  return evaluateEmbeddings({
    ...i,
    queryEmbeddings,
    corpusEmbeddings,
    dim: i.encoder.dim,
    queryIds: i.queries.map((q) => q.id),
    docIds: i.corpus.map((d) => d.id),
  });
}

/** Retrieves with top-k and scores against qrels; see the file header. */
export function evaluate(input: EmbeddingInput | EncoderInput): Promise<Evaluation> {
  return 'encoder' in input ? evaluateEncoder(input) : evaluateEmbeddings(input);
}
