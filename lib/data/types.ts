/**
 * Data types shared by the readers, the evaluator and synthesis.
 *
 * A Document is what gets embedded and retrieved; a Query is what is searched with. Relevance
 * judgements (qrels) map a query id to the graded relevance of judged documents
 * (grade > 0 = relevant, 0 = judged non-relevant), exactly as BEIR/TREC qrels do.
 */

/** Free-form metadata carried along with an item (BEIR `metadata`, Finetuner `tags`). */
export type Tags = Record<string, unknown>;

export interface Document {
  /** Unique within its collection. Readers derive a stable id when the input has none (see ids.ts). */
  id: string;
  text: string;
  title?: string;
  /** Class label (Finetuner labeled data): items sharing a label are positives of each other. */
  label?: string;
  tags?: Tags;
}

/** A query has the same shape as a document; the separate name documents intent. */
export type Query = Document;

/** qid → (docid → grade). */
export type Qrels = Map<string, Map<string, number>>;

/** A BEIR dataset folder read for one split. */
export interface BeirDataset {
  corpus: Document[];
  /** Only the queries that have judgements in the split's qrels (as BEIR's loader does). */
  queries: Query[];
  qrels: Qrels;
  split: string;
}

/** Finetuner's third CSV shape: two texts and a similarity score in [0, 1]. */
export interface ScoredPair {
  left: string;
  right: string;
  score: number;
}

/**
 * One synthesized Margin-MSE row (train.jsonl of a synthesis run): a query, its positive, one
 * negative (or several) and the teacher's score margin(s) positive − negative. Extra fields of the
 * file (qid, posId, ...) are kept.
 */
export interface MarginExample {
  query: string;
  positive: string;
  negative?: string;
  margin?: number;
  negatives?: string[];
  margins?: number[];
  [extra: string]: unknown;
}

/**
 * Every kind of data synthtune reads, one typed result per kind (what `fit` trains on and
 * `inspect` reports):
 *   texts    a plain list of queries or documents (one-column CSV, `id,text` CSV, text file,
 *            JSONL/DocumentArray records without label or score): input for synthesize
 *   labeled  items with a class label (Finetuner `is_labeled`, `tags.finetuner_label`): items
 *            sharing a label are positives of each other
 *   pairs    (query, document) rows: a query and all its documents share one label (the query's id)
 *   scored   (text, text, score ∈ [0, 1]) rows (Finetuner's third CSV shape, `tags.finetuner_score`)
 *   margins  synthesized Margin-MSE rows (synthtune's train.jsonl)
 */
export type TrainingData =
  | { kind: 'texts'; documents: Document[] }
  | { kind: 'labeled'; documents: Document[] }
  | { kind: 'pairs'; queries: Query[]; documents: Document[] }
  | { kind: 'scored'; pairs: ScoredPair[] }
  | { kind: 'margins'; examples: MarginExample[] };

export type DataKind = TrainingData['kind'];

/** The CSV shapes, as returned by readCsv (every kind but margins). */
export type CsvData = Exclude<TrainingData, { kind: 'margins' }>;
