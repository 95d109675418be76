/**
 * Stable ids for inputs that carry none (text files, CSV rows, in-memory strings, JSONL records
 * without `_id`/`id`).
 *
 * Rule: id = first 16 hex digits of SHA-1(text). The n-th repeat (n ≥ 2) of the same text inside
 * one input gets the suffix `~n`. Ids therefore survive re-ordering, insertion and deletion of
 * other items, and the same text gets the same id in every file (useful to join data sets).
 */
import { createHash } from 'node:crypto';

export function contentId(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex').slice(0, 16);
}

/** Hands out content ids for one input, numbering repeats of the same text. */
export class IdAssigner {
  private readonly seen = new Map<string, number>();

  next(text: string): string {
    const base = contentId(text);
    const n = (this.seen.get(base) ?? 0) + 1;
    this.seen.set(base, n);
    return n === 1 ? base : `${base}~${n}`;
  }
}
