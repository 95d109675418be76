/**
 * JSONL reader: one JSON object per line (blank lines skipped), streamed.
 *
 * Fields: `_id` or `id` (string or number; content id when absent, see ids.ts), `text` (required
 * string), optional `title`, `label` (string or number), `tags` or `metadata` (object).
 * Errors name file and line: bad JSON, a line that is not an object, missing text, duplicate id,
 * empty file.
 */
import { DataError } from './errors';
import { IdAssigner } from './ids';
import { readLines, type LineOptions } from './lines';
import type { Document, Tags } from './types';

export interface JsonlOptions extends LineOptions {
  /** Require an explicit `_id`/`id` on every record (BEIR files). Default false. */
  requireId?: boolean;
}

function parseJson(file: string, no: number, text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DataError(file, no, `bad JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataError(file, no, 'expected a JSON object');
  return v as Record<string, unknown>;
}

function optString(file: string, no: number, rec: Record<string, unknown>, key: string): string | undefined {
  const v = rec[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && key !== 'title') return String(v);
  throw new DataError(file, no, `field '${key}' must be a string`);
}

function toDocument(file: string, no: number, rec: Record<string, unknown>, ids: IdAssigner, requireId: boolean): Document {
  const text = optString(file, no, rec, 'text');
  if (text === undefined) throw new DataError(file, no, "missing field 'text'");
  const explicitId = optString(file, no, rec, '_id') ?? optString(file, no, rec, 'id');
  if (explicitId === undefined && requireId) throw new DataError(file, no, "missing field '_id'");
  const doc: Document = { id: explicitId ?? ids.next(text), text };
  const title = optString(file, no, rec, 'title');
  if (title !== undefined) doc.title = title;
  const label = optString(file, no, rec, 'label');
  if (label !== undefined) doc.label = label;
  const tags = rec.tags ?? rec.metadata;
  if (tags && typeof tags === 'object' && !Array.isArray(tags)) doc.tags = tags as Tags;
  return doc;
}

export async function* iterateJsonl(file: string, opts: JsonlOptions = {}): AsyncGenerator<Document> {
  const ids = new IdAssigner();
  const firstLine = new Map<string, number>();
  for await (const { no, text } of readLines(file, opts)) {
    if (!text.trim()) continue;
    const doc = toDocument(file, no, parseJson(file, no, text), ids, opts.requireId ?? false);
    const prev = firstLine.get(doc.id);
    if (prev !== undefined) throw new DataError(file, no, `duplicate id '${doc.id}' (first seen on line ${prev})`);
    firstLine.set(doc.id, no);
    yield doc;
  }
  if (firstLine.size === 0) throw new DataError(file, undefined, 'empty file (no record)');
}

export async function readJsonl(file: string, opts: JsonlOptions = {}): Promise<Document[]> {
  const out: Document[] = [];
  for await (const d of iterateJsonl(file, opts)) out.push(d);
  return out;
}
