/**
 * Plain-text reader: one item per line (blank lines are skipped), ids from ids.ts.
 * Streams the file; an input with no item at all is an error.
 */
import { DataError } from './errors';
import { IdAssigner } from './ids';
import { readLines, type LineOptions } from './lines';
import type { Document } from './types';

export async function* iterateText(file: string, opts: LineOptions = {}): AsyncGenerator<Document> {
  const ids = new IdAssigner();
  let any = false;
  for await (const { text } of readLines(file, opts)) {
    if (!text.trim()) continue;
    any = true;
    yield { id: ids.next(text), text };
  }
  if (!any) throw new DataError(file, undefined, 'empty file (no non-blank line)');
}

export async function readText(file: string, opts: LineOptions = {}): Promise<Document[]> {
  const out: Document[] = [];
  for await (const d of iterateText(file, opts)) out.push(d);
  return out;
}
