/**
 * Pseudo-labelling: scores every (query, document) pair of the mined relations with the teacher
 * (a cross-encoder, or BM25), one checkpoint file per scoring batch of queries (score-<b>.safetensors, checksummed F32).
 *
 * Row r of a batch holds numRelations scores: [score(q, positive), score(q, negative_1), …].
 * Batches have a fixed composition (queries [b·size, (b+1)·size)), so a resumed run sends the
 * cross-encoder exactly the same pair batches and gets bit-identical scores back.
 */
import * as path from 'node:path';
import { Bm25Index } from '../evaluation/bm25';
import { ModelError } from '../models/errors';
import { exists, readTensor, writeTensor } from './fsutil';
import type { LexicalIndex, Scorer } from './types';

/** Scores the relations of queries [start, end): (end − start)·R values. */
export type RowScorer = (start: number, end: number) => Promise<Float32Array>;

export function modelRowScorer(scorer: Scorer, queries: readonly string[], docs: readonly string[], rel: Int32Array, R: number): RowScorer {
  return async (start, end) => {
    const pairs: [string, string][] = [];
    for (let r = start; r < end; r++) for (let j = 0; j < R; j++) pairs.push([queries[r], docs[rel[r * R + j]]]);
    const s = await scorer.score(pairs);
    if (!s || s.length !== pairs.length) throw new ModelError(`the scorer (${scorer.id ?? 'a custom scorer'}) returned ${s?.length} scores for ${pairs.length} pairs`);
    return s instanceof Float32Array ? s : Float32Array.from(s);
  };
}

export function lexicalRowScorer(index: LexicalIndex, queries: readonly string[], rel: Int32Array, R: number): RowScorer {
  return async (start, end) => {
    const out = new Float32Array((end - start) * R);
    for (let r = start; r < end; r++) out.set(Array.from(index.score(queries[r], rel.subarray(r * R, (r + 1) * R))), (r - start) * R);
    return out;
  };
}

/** lib/evaluation's BM25 index behind the LexicalIndex interface (corpus order = index order). */
export function bm25Lexical(texts: readonly string[]): LexicalIndex {
  const index = Bm25Index.build(texts.map((text, i) => ({ id: String(i), text })));
  return {
    search(query, k, exclude) {
      const hits = index.search(query, k + (exclude?.size ?? 0));
      return hits.filter((h) => !exclude?.has(h.index)).slice(0, k).map((h) => ({ index: h.index, score: h.score }));
    },
    score: (query, indices) => index.scoreIndices(query, indices),
  };
}

export interface ScoreJob {
  rowScorer: RowScorer;
  q: number;
  R: number;
  batchSize: number;
  dir: string;
  onBatch?: (done: number, total: number, fresh: boolean, batch: number) => Promise<void> | void;
}

function scoreFile(dir: string, b: number): string {
  return path.join(dir, `score-${String(b).padStart(6, '0')}.safetensors`);
}

/** Scores every batch without a checkpoint; returns all (Q, R) scores. */
export async function scoreCheckpointed(job: ScoreJob): Promise<Float32Array> {
  const { q, R, batchSize } = job;
  const all = new Float32Array(q * R);
  const total = Math.ceil(q / batchSize);
  for (let b = 0; b < total; b++) {
    const start = b * batchSize;
    const end = Math.min(q, start + batchSize);
    const file = scoreFile(job.dir, b);
    const fresh = !(await exists(file));
    let s: Float32Array;
    if (fresh) {
      s = await job.rowScorer(start, end);
      await writeTensor(file, s);
    } else {
      s = await readTensor(file, Float32Array, (end - start) * R);
    }
    all.set(s, start * R);
    await job.onBatch?.(b + 1, total, fresh, b);
  }
  return all;
}
