/**
 * Evaluation sets (queries, index, qrels) from training-style data, as Finetuner's
 * EvaluationCallback builds them:
 *
 *   labeled query data (+ labeled index data; default: the query data itself)
 *       relevant(q) = index items with q's label, all grade 1. With excludeSelf (Finetuner's
 *       default, exclude_self=True) the index item with q's own id is neither retrieved nor
 *       relevant: a query never finds itself.
 *   pairs data (+ an optional list of extra index texts, distractors)
 *       queries = the pairs' queries, index = their documents (+ the extra texts), relevant(q) =
 *       the documents paired with q (grade 1).
 *
 * A query with no relevant item (a label seen once, with excludeSelf) stays in `queries` but is
 * skipped by the metrics (metrics.ts), as BEIR skips queries without positives.
 */
import { DataError } from './errors';
import type { Document, Qrels, Query, TrainingData } from './types';

export interface EvaluationSet {
  queries: Query[];
  corpus: Document[];
  qrels: Qrels;
  /** Whether the evaluator must drop the index item whose id equals the query id. */
  excludeSelf: boolean;
  /** How relevance was defined, for logs and `inspect`. */
  how: string;
}

export interface EvaluationSetOptions {
  /** Labeled data: never retrieve the query item itself (default true, as Finetuner). */
  excludeSelf?: boolean;
  /** File names, for errors. */
  queryFile?: string;
  indexFile?: string;
}

/** qrels of labeled queries against a labeled index (see the file header). */
export function labeledQrels(queries: readonly Query[], index: readonly Document[], excludeSelf: boolean): Qrels {
  const byLabel = new Map<string, string[]>();
  for (const d of index) {
    if (d.label === undefined) continue;
    let ids = byLabel.get(d.label);
    if (!ids) byLabel.set(d.label, (ids = []));
    ids.push(d.id);
  }
  const qrels: Qrels = new Map();
  for (const q of queries) {
    const judged = new Map<string, number>();
    for (const id of (q.label !== undefined ? byLabel.get(q.label) : undefined) ?? []) {
      if (!(excludeSelf && id === q.id)) judged.set(id, 1);
    }
    qrels.set(q.id, judged);
  }
  return qrels;
}

function uniqueById(file: string, docs: readonly Document[]): Document[] {
  const seen = new Set<string>();
  const out: Document[] = [];
  for (const d of docs) {
    if (seen.has(d.id)) continue; // content ids: the same text twice is one index item
    seen.add(d.id);
    out.push(d);
  }
  if (!out.length) throw new DataError(file, undefined, 'no index items');
  return out;
}

/** The evaluation set for query data (labeled or pairs) and optional index data. */
export function evaluationSet(queryData: TrainingData, indexData: TrainingData | undefined, opts: EvaluationSetOptions = {}): EvaluationSet {
  const qf = opts.queryFile ?? '<query data>';
  const xf = opts.indexFile ?? '<index data>';
  if (queryData.kind === 'labeled') {
    if (indexData && indexData.kind !== 'labeled') {
      throw new DataError(xf, undefined, `index data for labeled queries must be labeled too (relevant = same label), got ${indexData.kind}`);
    }
    const excludeSelf = opts.excludeSelf ?? true;
    const corpus = uniqueById(xf, indexData ? indexData.documents : queryData.documents);
    const queries = queryData.documents;
    return {
      queries, corpus, qrels: labeledQrels(queries, corpus, excludeSelf), excludeSelf,
      how: `labeled: relevant = ${indexData ? 'index' : 'query-data'} items with the query's label${excludeSelf ? ', the query itself excluded' : ''}`,
    };
  }
  if (queryData.kind === 'pairs') {
    if (indexData && indexData.kind !== 'texts') {
      throw new DataError(xf, undefined, `index data for (query, document) pairs must be a list of extra texts (distractors), got ${indexData.kind}`);
    }
    const corpus = uniqueById(xf, [...queryData.documents, ...(indexData ? indexData.documents : [])]);
    const qrels: Qrels = new Map(queryData.queries.map((q) => [q.id, new Map<string, number>()]));
    const byLabel = new Map(queryData.queries.map((q) => [q.label ?? q.id, q.id] as const));
    for (const d of queryData.documents) {
      const qid = d.label !== undefined ? byLabel.get(d.label) : undefined;
      if (qid !== undefined) qrels.get(qid)!.set(d.id, 1);
    }
    return {
      queries: queryData.queries, corpus, qrels, excludeSelf: opts.excludeSelf ?? false,
      how: `pairs: relevant = the documents paired with the query${indexData ? `, plus ${indexData.documents.length} distractors from the index data` : ''}`,
    };
  }
  throw new DataError(qf, undefined, `query data must be labeled items or (query, document) pairs to evaluate (relevance comes from labels or pairs), got ${queryData.kind}; for a BEIR folder use --data`);
}
