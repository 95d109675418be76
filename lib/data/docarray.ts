/**
 * DocumentArray-style records (Finetuner's "Prepare Training Data" guide) from JSONL (one record
 * per line) or JSON (an array of records, as DocumentArray.to_json writes), and synthtune's own
 * synthesized rows. The kind of a file is decided by its first record; every other record must be
 * of the same kind, else a DataError names the line and both kinds.
 *
 *   record                                                   kind
 *   {text | content, tags: {finetuner_label}} or {…, label}  labeled
 *   {chunks: [{text|content}, {text|content}],                scored   (two texts and a score)
 *    tags: {finetuner_score}}
 *   {chunks: [{text|content}, {text|content}]} (no score)     pairs    (query, document: CLIP-style)
 *   {query, positive, negative | negatives, margin | margins} margins  (synthtune's train.jsonl)
 *   {text | content} (no label, no score)                     texts
 *
 * A JSON array is parsed whole (JSON.parse; the line of each record is found by a small scanner),
 * so large data belongs in JSONL, which is streamed line by line.
 * Ids: `id` or `_id` when present (duplicates are errors), else content ids (ids.ts). Labels and
 * scores may be strings or numbers (Finetuner's CSV handler stores the CSV cell, a string). Pairs
 * follow the CSV rule: the query's content id is the label of the query and of its documents.
 */
import { DataError } from './errors';
import { jsonSyntaxError } from './json-error';
import { contentId, IdAssigner } from './ids';
import { readLines, requireDataFile, type LineOptions } from './lines';
import type { Document, MarginExample, Query, ScoredPair, Tags, TrainingData } from './types';
import { readFile } from 'node:fs/promises';

export const FINETUNER_LABEL = 'finetuner_label';
export const FINETUNER_SCORE = 'finetuner_score';

type Rec = Record<string, unknown>;
type RecordKind = TrainingData['kind'];

/** One raw record and the line it starts on. */
export interface RawRecord {
  line: number;
  value: Rec;
}

const KIND_WORDS: Record<RecordKind, string> = {
  texts: 'a plain text record (text or content, no label or score)',
  labeled: `a labeled record (text + tags.${FINETUNER_LABEL} or label)`,
  pairs: 'a pair record (chunks with two contents, no score)',
  scored: `a scored pair (chunks with two contents + tags.${FINETUNER_SCORE})`,
  margins: 'a synthesized row (query, positive, negative(s), margin(s))',
};

function isObject(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function tagsOf(r: Rec): Rec | undefined {
  const t = r.tags ?? r.metadata;
  return isObject(t) ? t : undefined;
}

/** The kind of one record; a DataError when it is none of them. */
export function recordKind(file: string, line: number, r: Rec): RecordKind {
  const tags = tagsOf(r);
  if ('query' in r && 'positive' in r) return 'margins';
  if (Array.isArray(r.chunks) && r.chunks.length > 0 && r.text === undefined && r.content === undefined) {
    if (r.chunks.length !== 2) throw new DataError(file, line, `a record with chunks needs exactly two (query and document, or two texts), got ${r.chunks.length}`);
    return tags && tags[FINETUNER_SCORE] !== undefined ? 'scored' : 'pairs';
  }
  if (typeof r.text === 'string' || typeof r.content === 'string') {
    return (tags && tags[FINETUNER_LABEL] !== undefined) || r.label !== undefined ? 'labeled' : 'texts';
  }
  throw new DataError(file, line, "record has no text: expected 'text' or 'content' (a string), 'chunks' (two texts), or query/positive (a synthesized row)");
}

function textOf(file: string, line: number, r: Rec, where: string, allowEmpty = false): string {
  const v = typeof r.text === 'string' ? r.text : r.content;
  if (typeof v !== 'string') throw new DataError(file, line, `${where}: 'text' or 'content' must be a string`);
  if (!v.trim() && !allowEmpty) throw new DataError(file, line, `${where}: empty text`);
  return v;
}

function scalarString(file: string, line: number, v: unknown, field: string): string {
  if (typeof v === 'string' && v.trim()) return v.trim();
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new DataError(file, line, `field '${field}' must be a non-empty string or a number, got ${JSON.stringify(v)}`);
}

function scoreOf(file: string, line: number, v: unknown): number {
  const s = typeof v === 'string' && v.trim() ? Number(v) : typeof v === 'number' ? v : NaN;
  if (!Number.isFinite(s)) throw new DataError(file, line, `tags.${FINETUNER_SCORE} ${JSON.stringify(v)} is not a number`);
  if (s < 0 || s > 1) throw new DataError(file, line, `tags.${FINETUNER_SCORE} ${s} outside [0, 1]`);
  return s;
}

function chunkTexts(file: string, line: number, r: Rec, allowEmpty: boolean): [string, string] {
  const [a, b] = r.chunks as unknown[];
  if (!isObject(a) || !isObject(b)) throw new DataError(file, line, 'chunks must be two objects with text or content');
  return [textOf(file, line, a, 'chunks[0]', allowEmpty), textOf(file, line, b, 'chunks[1]', allowEmpty)];
}

function marginExample(file: string, line: number, r: Rec): MarginExample {
  for (const f of ['query', 'positive'] as const) {
    if (typeof r[f] !== 'string') throw new DataError(file, line, `field '${f}' must be a string`);
  }
  if (r.negative !== undefined && typeof r.negative !== 'string') throw new DataError(file, line, "field 'negative' must be a string");
  if (r.margin !== undefined && (typeof r.margin !== 'number' || !Number.isFinite(r.margin))) throw new DataError(file, line, "field 'margin' must be a finite number");
  if (r.negatives !== undefined && !(Array.isArray(r.negatives) && r.negatives.every((x) => typeof x === 'string'))) throw new DataError(file, line, "field 'negatives' must be an array of strings");
  if (r.margins !== undefined && !(Array.isArray(r.margins) && r.margins.every((x) => typeof x === 'number' && Number.isFinite(x)))) throw new DataError(file, line, "field 'margins' must be an array of finite numbers");
  const negs = (r.negatives as string[] | undefined) ?? (r.negative !== undefined ? [r.negative as string] : []);
  const margins = (r.margins as number[] | undefined) ?? (r.margin !== undefined ? [r.margin as number] : []);
  if (negs.length === 0) throw new DataError(file, line, "a synthesized row needs 'negative' or 'negatives'");
  if (margins.length !== negs.length) throw new DataError(file, line, `${negs.length} negative(s) but ${margins.length} margin(s)`);
  return r as MarginExample;
}

/** Builds the typed result from records of one kind (`allowEmpty`: keep empty texts, for inspect). */
export function recordsToData(file: string, records: Iterable<RawRecord>, opts: { allowEmpty?: boolean } = {}): TrainingData {
  const allowEmpty = opts.allowEmpty ?? false;
  let kind: RecordKind | undefined;
  let firstLine = 0;
  const ids = new IdAssigner();
  const idLine = new Map<string, number>();
  const documents: Document[] = [];
  const queries = new Map<string, Query>();
  const pairs: ScoredPair[] = [];
  const examples: MarginExample[] = [];
  const item = (line: number, r: Rec, text: string): Document => {
    const raw = r.id ?? r._id;
    let id: string;
    if (raw !== undefined && raw !== null) {
      id = scalarString(file, line, raw, r.id !== undefined ? 'id' : '_id');
      const prev = idLine.get(id);
      if (prev !== undefined) throw new DataError(file, line, `duplicate id '${id}' (first seen on line ${prev})`);
      idLine.set(id, line);
    } else {
      id = ids.next(text);
    }
    const doc: Document = { id, text };
    if (typeof r.title === 'string') doc.title = r.title;
    const tags = tagsOf(r);
    if (tags) doc.tags = tags as Tags;
    return doc;
  };
  for (const { line, value: r } of records) {
    const k = recordKind(file, line, r);
    if (kind === undefined) {
      kind = k;
      firstLine = line;
    } else if (k !== kind) {
      throw new DataError(file, line, `${KIND_WORDS[k]}, but the file started with ${KIND_WORDS[kind]} (line ${firstLine}); one file holds one kind of data`);
    }
    if (k === 'texts') documents.push(item(line, r, textOf(file, line, r, 'record', allowEmpty)));
    else if (k === 'labeled') {
      const tags = tagsOf(r);
      const raw = tags?.[FINETUNER_LABEL] ?? r.label;
      const field = tags?.[FINETUNER_LABEL] !== undefined ? `tags.${FINETUNER_LABEL}` : 'label';
      documents.push({ ...item(line, r, textOf(file, line, r, 'record', allowEmpty)), label: scalarString(file, line, raw, field) });
    } else if (k === 'scored') {
      const [left, right] = chunkTexts(file, line, r, allowEmpty);
      pairs.push({ left, right, score: scoreOf(file, line, tagsOf(r)![FINETUNER_SCORE]) });
    } else if (k === 'pairs') {
      const [q, d] = chunkTexts(file, line, r, allowEmpty);
      const qid = contentId(q);
      if (!queries.has(q)) queries.set(q, { id: qid, text: q, label: qid });
      documents.push({ id: ids.next(d), text: d, label: qid });
    } else {
      examples.push(marginExample(file, line, r));
    }
  }
  if (kind === undefined) throw new DataError(file, undefined, 'empty file (no record)');
  switch (kind) {
    case 'texts': return { kind, documents };
    case 'labeled': return { kind, documents };
    case 'pairs': return { kind, queries: [...queries.values()], documents };
    case 'scored': return { kind, pairs };
    case 'margins': return { kind, examples };
  }
}

function parseJson(file: string, line: number, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const { line: at, message } = jsonSyntaxError(e, text);
    const where = line + (at ?? 1) - 1;
    throw new DataError(file, where, `bad JSON: ${message}`);
  }
}


/** Records of a JSONL file (blank lines skipped), each with its line. */
export async function* jsonlRecords(file: string, opts: LineOptions = {}): AsyncGenerator<RawRecord> {
  for await (const { no, text } of readLines(file, opts)) {
    if (!text.trim()) continue;
    const v = parseJson(file, no, text);
    if (!isObject(v)) throw new DataError(file, no, 'expected a JSON object');
    yield { line: no, value: v };
  }
}

/**
 * Line on which each top-level array element starts: a small scanner over the JSON text that
 * tracks strings and nesting (JSON.parse gives no positions).
 */
export function arrayElementLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectValue = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') continue;
    if (depth === 1 && expectValue && c !== ']') {
      lines.push(line);
      expectValue = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectValue = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectValue = true;
  }
  return lines;
}

/** The 1-based line of the first undecodable byte (single-byte-newline encodings), else undefined. */
function badByteLine(bytes: Uint8Array, dec: InstanceType<typeof TextDecoder>): number | undefined {
  if (dec.encoding.startsWith('utf-16')) return undefined;
  let start = 0;
  for (let no = 1; start <= bytes.length; no++) {
    let nl = bytes.indexOf(0x0a, start);
    if (nl === -1) nl = bytes.length;
    try {
      dec.decode(bytes.subarray(start, nl));
    } catch {
      return no;
    }
    start = nl + 1;
  }
  return undefined;
}

/** Records of a JSON file holding an array of records (DocumentArray.to_json). */
export async function jsonRecords(file: string, opts: LineOptions = {}): Promise<RawRecord[]> {
  const bytes = await readFile(requireDataFile(file));
  let dec: InstanceType<typeof TextDecoder>;
  try {
    dec = new TextDecoder(opts.encoding ?? 'utf-8', { fatal: true });
  } catch {
    throw new DataError(file, undefined, `unknown encoding '${opts.encoding}'`);
  }
  let text: string;
  try {
    text = dec.decode(bytes);
  } catch {
    throw new DataError(file, badByteLine(bytes, dec), `invalid ${dec.encoding} byte sequence`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (!text.trim()) throw new DataError(file, undefined, 'empty file (no record)');
  const v = parseJson(file, 1, text);
  if (!Array.isArray(v)) throw new DataError(file, 1, 'expected a JSON array of records (as DocumentArray.to_json writes); for one record per line use .jsonl');
  const lines = arrayElementLines(text);
  return v.map((value, i) => {
    const line = lines[i] ?? 1;
    if (!isObject(value)) throw new DataError(file, line, `item ${i + 1}: expected a JSON object`);
    return { line, value };
  });
}
