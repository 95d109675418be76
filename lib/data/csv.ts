/**
 * CSV reader for the three shapes Finetuner accepts, with options modelled on its CSVOptions.
 *
 *   isLabeled: true          rows (text, label)                → { kind: 'labeled', documents }
 *   isLabeled: false, 2 cols rows (query, document)            → { kind: 'pairs', queries, documents }
 *                            a query and all documents paired with the same query text share a
 *                            label (the query's id)
 *   isLabeled: false, 3 cols rows (text, text, score ∈ [0, 1]) → { kind: 'scored', pairs }
 *
 * Parsing is done by csv-parse (quoted fields may hold delimiters, doubled quotes and newlines),
 * fed line by line from the streaming reader in ./lines.ts (so invalid bytes name their line).
 * Dialects follow Python's csv module: 'excel' (`,` and `"`), 'excel-tab' (tab and `"`), 'unix'
 * (`,` and `"`; it differs from excel only when writing), or 'auto' (default): the delimiter
 * (`,` tab `;` `|`) and quote (`"` or `'`) are sniffed from the first 20 lines.
 * A header row is skipped when `header: true`, or with 'auto' (default) when the first row looks
 * like one: its score column is not a number (3 columns, unlabeled) or all its cells are common column names.
 * `samplingRate` keeps each data row with that probability (seeded PRNG, `seed`, default 0);
 * reading stops once `size` rows were kept. CRLF line ends become LF, also inside quoted fields.
 */
import { parse, type Info } from 'csv-parse';
import { DataError } from './errors';
import { contentId, IdAssigner } from './ids';
import { readLines, type Line } from './lines';
import type { CsvData, Document, Query, ScoredPair } from './types';
import { mulberry32 } from '../util/rng';

export type CsvDialectName = 'auto' | 'excel' | 'excel-tab' | 'unix';
export interface CsvDialect {
  delimiter: string;
  quote: string;
}

export interface CsvOptions {
  isLabeled?: boolean;
  dialect?: CsvDialectName | CsvDialect;
  /** TextDecoder label (default 'utf-8'). */
  encoding?: string;
  header?: boolean | 'auto';
  /** Keep at most this many data rows. */
  size?: number;
  /** Probability in (0, 1] of keeping each data row (default 1). */
  samplingRate?: number;
  seed?: number;
}

const DIALECTS: Record<Exclude<CsvDialectName, 'auto'>, CsvDialect> = {
  excel: { delimiter: ',', quote: '"' },
  'excel-tab': { delimiter: '\t', quote: '"' },
  unix: { delimiter: ',', quote: '"' },
};
const SNIFF_LINES = 20;
const DELIMITERS = [',', '\t', ';', '|'];
const HEADER_WORDS = new Set([
  'text', 'label', 'query', 'queries', 'document', 'documents', 'doc', 'passage', 'score', 'sentence', 'sentence1',
  'sentence2', 'text1', 'text2', 'text_a', 'text_b', 'left', 'right', 'anchor', 'positive', 'content', 'question',
  'answer', 'similarity', 'class', 'category', 'id',
]);

// ---------------------------------------------------------------- dialect sniffing

function countOutsideQuotes(line: string, ch: string, quote: string): number {
  let n = 0;
  let inQuotes = false;
  for (const c of line) {
    if (c === quote) inQuotes = !inQuotes;
    else if (c === ch && !inQuotes) n++;
  }
  return n;
}

function sniffQuote(lines: string[], delimiter: string): string {
  if (lines.some((l) => l.includes('"'))) return '"';
  const d = delimiter.replace(/[|\\]/g, '\\$&');
  const single = new RegExp(`(^|${d})'[^']*'(${d}|$)`);
  return lines.some((l) => single.test(l)) ? "'" : '"';
}

/** Picks the delimiter whose per-line count is most consistent (then most frequent). */
export function sniffDialect(sample: readonly string[]): CsvDialect {
  const lines = sample.filter((l) => l.trim());
  let best = { delimiter: ',', consistent: 0, count: 0 };
  for (const d of DELIMITERS) {
    const counts = lines.map((l) => countOutsideQuotes(l, d, '"'));
    const mode = counts[0] ?? 0;
    if (mode === 0) continue;
    const consistent = counts.filter((c) => c === mode).length;
    if (consistent > best.consistent || (consistent === best.consistent && mode > best.count)) {
      best = { delimiter: d, consistent, count: mode };
    }
  }
  return { delimiter: best.delimiter, quote: sniffQuote(lines, best.delimiter) };
}

function resolveDialect(d: CsvOptions['dialect'], sample: string[]): CsvDialect {
  if (d === undefined || d === 'auto') return sniffDialect(sample);
  if (typeof d === 'string') {
    const known = DIALECTS[d];
    if (!known) throw new RangeError(`unknown CSV dialect '${d}' (expected auto, excel, excel-tab or unix)`);
    return known;
  }
  return d;
}

// ---------------------------------------------------------------- records

export interface CsvRecord {
  /** Line on which the record starts. */
  line: number;
  cells: string[];
}

function newlines(cells: string[]): number {
  let n = 0;
  for (const c of cells) for (let i = c.indexOf('\n'); i !== -1; i = c.indexOf('\n', i + 1)) n++;
  return n;
}

async function takeSample(it: AsyncGenerator<Line>): Promise<Line[]> {
  const sample: Line[] = [];
  while (sample.length < SNIFF_LINES) {
    const r = await it.next();
    if (r.done) break;
    sample.push(r.value);
  }
  return sample;
}

function drained(p: NodeJS.WritableStream & { destroyed: boolean }): Promise<void> {
  return new Promise((resolve) => {
    p.once('drain', resolve);
    p.once('close', resolve);
  });
}

function csvError(file: string, e: unknown, lastLine: number): DataError {
  if (e instanceof DataError) return e;
  const err = e as Error & { code?: string; lines?: number };
  if (err.code === 'CSV_QUOTE_NOT_CLOSED') {
    return new DataError(file, lastLine + 1, 'quote opened in this record is never closed');
  }
  return new DataError(file, err.lines, err.message);
}

/** Raw CSV records of a file (no header/shape handling), streamed. */
export async function* csvRecords(file: string, opts: Pick<CsvOptions, 'dialect' | 'encoding'> = {}): AsyncGenerator<CsvRecord> {
  const lines = readLines(file, { encoding: opts.encoding });
  const sample = await takeSample(lines);
  const { delimiter, quote } = resolveDialect(opts.dialect, sample.map((l) => l.text));
  const parser = parse({ delimiter, quote, escape: quote, relax_column_count: true, skip_empty_lines: true, info: true });
  const feed = async () => {
    for (const l of sample) parser.write(l.text + '\n');
    for await (const l of lines) {
      if (parser.destroyed) return;
      if (!parser.write(l.text + '\n')) await drained(parser);
    }
    parser.end();
  };
  feed().catch((e: unknown) => parser.destroy(e as Error));
  let lastLine = 0;
  try {
    for await (const { info, record } of parser as AsyncIterable<{ info: Info; record: string[] }>) {
      lastLine = info.lines;
      yield { line: info.lines - newlines(record), cells: record };
    }
  } catch (e) {
    throw csvError(file, e, lastLine);
  } finally {
    parser.destroy();
    await lines.return(undefined);
  }
}

// ---------------------------------------------------------------- shapes

type Shape = 'labeled' | 'pairs' | 'scored';

function shapeOf(file: string, r: CsvRecord, isLabeled: boolean): Shape {
  const n = r.cells.length;
  if (isLabeled) {
    if (n !== 2) throw columnError(file, r, 2);
    return 'labeled';
  }
  if (n === 2) return 'pairs';
  if (n === 3) return 'scored';
  throw new DataError(file, r.line, `${n < 2 ? 'missing' : 'extra'} column(s): expected 2 (query, document) or 3 (text, text, score), got ${n}`);
}

function columnError(file: string, r: CsvRecord, expected: number): DataError {
  const what = r.cells.length < expected ? 'missing' : 'extra';
  return new DataError(file, r.line, `${what} column(s): expected ${expected}, got ${r.cells.length}`);
}

function looksLikeHeader(cells: string[], isLabeled: boolean): boolean {
  if (!isLabeled && cells.length === 3 && !Number.isFinite(Number(cells[2])) && cells[2].trim() !== '') return true;
  return cells.every((c) => HEADER_WORDS.has(c.trim().toLowerCase()));
}

function parseScore(file: string, r: CsvRecord): number {
  const raw = r.cells[2].trim();
  const s = Number(raw);
  if (raw === '' || !Number.isFinite(s)) throw new DataError(file, r.line, `score '${r.cells[2]}' is not a number`);
  if (s < 0 || s > 1) throw new DataError(file, r.line, `score ${s} outside [0, 1]`);
  return s;
}

/** A seeded PRNG for row sampling (mulberry32, lib/util/rng.ts). */
export const seededRandom: (seed: number) => () => number = mulberry32;

/** Collects rows into the shape's result. */
class ShapeBuilder {
  private readonly docIds = new IdAssigner();
  readonly documents: Document[] = [];
  readonly queries = new Map<string, Query>();
  readonly pairs: ScoredPair[] = [];

  constructor(private readonly file: string, readonly shape: Shape) {}

  add(r: CsvRecord): void {
    const [a, b] = r.cells;
    if (!a.trim() || !b.trim()) throw new DataError(this.file, r.line, 'empty field');
    if (this.shape === 'labeled') this.documents.push({ id: this.docIds.next(a), text: a, label: b.trim() });
    else if (this.shape === 'scored') this.pairs.push({ left: a, right: b, score: parseScore(this.file, r) });
    else this.addPair(a, b);
  }

  private addPair(query: string, doc: string): void {
    const qid = contentId(query);
    if (!this.queries.has(query)) this.queries.set(query, { id: qid, text: query, label: qid });
    this.documents.push({ id: this.docIds.next(doc), text: doc, label: qid });
  }

  result(): CsvData {
    if (this.shape === 'labeled') return { kind: 'labeled', documents: this.documents };
    if (this.shape === 'scored') return { kind: 'scored', pairs: this.pairs };
    return { kind: 'pairs', queries: [...this.queries.values()], documents: this.documents };
  }
}

function checkOptions(opts: CsvOptions): void {
  const rate = opts.samplingRate ?? 1;
  if (!(rate > 0 && rate <= 1)) throw new RangeError(`samplingRate must be in (0, 1], got ${opts.samplingRate}`);
  if (opts.size !== undefined && !(Number.isInteger(opts.size) && opts.size >= 1)) {
    throw new RangeError(`size must be an integer ≥ 1, got ${opts.size}`);
  }
}

/** Reads a Finetuner-style CSV file (see the file header for shapes and options). */
export async function readCsv(file: string, opts: CsvOptions = {}): Promise<CsvData> {
  checkOptions(opts);
  const rate = opts.samplingRate ?? 1;
  const random = seededRandom(opts.seed ?? 0);
  let builder: ShapeBuilder | null = null;
  let kept = 0;
  let first = true;
  for await (const r of csvRecords(file, opts)) {
    const isHeader = first && (opts.header === true || ((opts.header ?? 'auto') === 'auto' && looksLikeHeader(r.cells, opts.isLabeled ?? false)));
    first = false;
    if (isHeader) continue;
    builder ??= new ShapeBuilder(file, shapeOf(file, r, opts.isLabeled ?? false));
    const expected = builder.shape === 'scored' ? 3 : 2;
    if (r.cells.length !== expected) throw columnError(file, r, expected);
    if (rate < 1 && random() >= rate) continue;
    builder.add(r);
    if (opts.size !== undefined && ++kept >= opts.size) break;
  }
  if (!builder) throw new DataError(file, undefined, first ? 'empty file' : 'no data rows (only a header)');
  return builder.result();
}
