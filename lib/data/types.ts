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

/** The three CSV shapes Finetuner documents, as returned by readCsv. */
export type CsvData =
  /** Rows (text, label). */
  | { kind: 'labeled'; documents: Document[] }
  /** Rows (query, document); a query and all its documents share one label. */
  | { kind: 'pairs'; queries: Query[]; documents: Document[] }
  /** Rows (text, text, score). */
  | { kind: 'scored'; pairs: ScoredPair[] };
