/**
 * Serialisation of the examples. In memory a synthesis holds only indices and scores
 * ((Q, R) Int32Array + Float32Array); texts are looked up when a line is written, so no text is
 * duplicated per example. train.jsonl: one Example per line, keys in a fixed order; train.csv:
 * Finetuner's scored-pair shape (query, document, score in [0, 1]).
 */
import type { Example } from './types';

export interface ExampleSource {
  qids: readonly string[];
  queries: readonly string[];
  docIds: readonly string[];
  docs: readonly string[];
  /** (Q, R): positive then negatives, corpus indices. */
  relations: Int32Array;
  /** (Q, R): teacher scores of the same pairs. */
  scores: Float32Array;
  R: number;
  /** Per query, the method of a generated pseudo-query, or null; such rows get `generated`. */
  generatedMethod?: readonly (string | null)[];
}

/** Examples in output order (query by query, negatives in rank order). */
export function* examples(src: ExampleSource): Generator<Example> {
  const { R } = src;
  for (let r = 0; r < src.qids.length; r++) {
    const pos = src.relations[r * R];
    const posScore = src.scores[r * R];
    const generated = src.generatedMethod?.[r] ?? null;
    for (let j = 1; j < R; j++) {
      const neg = src.relations[r * R + j];
      const negScore = src.scores[r * R + j];
      yield {
        query: src.queries[r],
        positive: src.docs[pos],
        negative: src.docs[neg],
        margin: posScore - negScore,
        qid: src.qids[r],
        posId: src.docIds[pos],
        negId: src.docIds[neg],
        posScore,
        negScore,
        ...(generated === null ? {} : { generated }),
      };
    }
  }
}

export function* jsonlLines(src: ExampleSource): Generator<string> {
  for (const e of examples(src)) yield JSON.stringify(e) + '\n';
}

function csvCell(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * CSV rows (query, document, score): every scored pair once. Cross-encoder logits map to [0, 1]
 * with a sigmoid; BM25 scores (≥ 0, unbounded) are divided by the query's best score.
 */
export function* csvLines(src: ExampleSource, scale: 'sigmoid' | 'max'): Generator<string> {
  const { R } = src;
  yield 'query,document,score\n';
  for (let r = 0; r < src.qids.length; r++) {
    let max = 0;
    for (let j = 0; j < R; j++) max = Math.max(max, src.scores[r * R + j]);
    for (let j = 0; j < R; j++) {
      const s = src.scores[r * R + j];
      const p = scale === 'sigmoid' ? sigmoid(s) : max > 0 ? s / max : 0;
      yield `${csvCell(src.queries[r])},${csvCell(src.docs[src.relations[r * R + j]])},${p}\n`;
    }
  }
}
