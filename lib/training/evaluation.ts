/**
 * The evaluate function for EvaluationCallback: retrieval metrics of a student on a query set
 * and a corpus given as student inputs (cached vectors or token ids), through the evaluation
 * stage's top-k evaluator. Keys are `<metric>@<k>` (e.g. ndcg@10, recall@100).
 *
 * Documents are re-encoded at every evaluation unless the student says its document side never
 * changes (documentsFrozen: the query-only adapter), in which case they are encoded once.
 */
import type { Qrels } from '../data/types';
import { evaluate, type MetricName } from '../evaluation';
import type { Convention } from '../evaluation/metrics';
import type { Metrics } from './callbacks';
import type { Side, Student } from './student';
import { InputRangeError } from '../util/errors';

export interface RetrievalEvalOptions<I> {
  queries: readonly I[];
  queryIds: readonly string[];
  documents: readonly I[];
  docIds: readonly string[];
  qrels: Qrels;
  /** Cut-offs (default [10, 20]); retrieval depth is max(limit, max ks). */
  ks?: number[];
  /** Documents retrieved per query (Finetuner's limit; default 20). */
  limit?: number;
  metrics?: readonly MetricName[];
  convention?: Convention;
  /** Never retrieve the document whose id equals the query id (labeled evaluation data). */
  excludeSelf?: boolean;
  /** Cosine instead of dot product (default false). */
  normalize?: boolean;
  /** Inputs per student.encode call (default 512). */
  batchSize?: number;
}

async function encodeAll<I>(student: Student<I>, inputs: readonly I[], side: Side, batchSize: number): Promise<Float32Array> {
  const D = student.dim;
  const out = new Float32Array(inputs.length * D);
  for (let i = 0; i < inputs.length; i += batchSize) {
    out.set(await student.encode(inputs.slice(i, i + batchSize), side), i * D);
  }
  return out;
}

export function retrievalEvaluator<I>(o: RetrievalEvalOptions<I>): (student: Student<I>) => Promise<Metrics> {
  if (o.queries.length !== o.queryIds.length) throw new InputRangeError('retrievalEvaluator: queries and queryIds differ in length');
  if (o.documents.length !== o.docIds.length) throw new InputRangeError('retrievalEvaluator: documents and docIds differ in length');
  const ks = o.ks ?? [10, 20];
  const depth = Math.max(o.limit ?? 20, ...ks);
  const bs = o.batchSize ?? 512;
  let frozenDocs: Float32Array | null = null;
  return async (student) => {
    const queryEmbeddings = await encodeAll(student, o.queries, 'query', bs);
    let corpusEmbeddings = frozenDocs;
    if (!corpusEmbeddings) {
      corpusEmbeddings = await encodeAll(student, o.documents, 'document', bs);
      if (student.documentsFrozen) frozenDocs = corpusEmbeddings;
    }
    const res = await evaluate({
      queryEmbeddings, corpusEmbeddings, dim: student.dim, queryIds: o.queryIds, docIds: o.docIds,
      qrels: o.qrels, ks, depth, metrics: o.metrics, convention: o.convention, excludeSelf: o.excludeSelf, normalize: o.normalize,
    });
    return { ...res.mean };
  };
}
