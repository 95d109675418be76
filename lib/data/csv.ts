/**
 * CSV reader for Finetuner's three CSV shapes and plain lists, with options modelled on its
 * CSVOptions (size, sampling_rate, dialect, encoding, is_labeled).
 *
 *   1 column                 rows (text)                        → { kind: 'texts', documents }
 *   isLabeled: true          rows (text, label)                 → { kind: 'labeled', documents }
 *   isLabeled: false, 2 cols rows (query, document)             → { kind: 'pairs', queries, documents }
 *                            a query and all documents paired with the same query text share a
 *                            label (the query's id)
 *   3 cols                   rows (text, text, score ∈ [0, 1])  → { kind: 'scored', pairs }
 *
 * A header row names the columns and then decides the shape (see COLUMN_ROLES): `id,text` (or
 * `_id,title,text`) is a list of texts with ids, `text,label` labeled items, `query,document`
 * pairs, any two text columns plus `score` scored pairs. Without a header the shape comes from the
 * column count as above; two columns with isLabeled left unset are read as pairs (Finetuner's
 * default) unless the second column repeats like a label column (at most half as many distinct
 * values as rows, and fewer than the first column): that file is ambiguous and refused with an
 * error that names both readings and how to choose.
 *
 * Parsing is done by csv-parse (quoted fields may hold delimiters, doubled quotes and newlines),
 * fed line by line from the streaming reader in ./lines.ts (so invalid bytes name their line).
 * Dialects follow Python's csv module: 'excel' (`,` and `"`), 'excel-tab' (tab and `"`), 'unix'
 * (`,` and `"`; it differs from excel only when writing), or 'auto' (default): the delimiter
 * (`,` tab `;` `|`; always tab for a .tsv file) and quote (`"` or `'`) are sniffed from the first 20 lines, and so is
 * skipinitialspace as Python's csv.Sniffer does (every delimiter of the first line followed by a
 * space), so Finetuner's `"a, b", "c", 0.8` layout reads as three fields. With any dialect a quote
 * that follows a delimiter and spaces (`, "c"`) opens a quoted field (Python would keep the quotes
 * and the space as text; csv-parse would fail with "Invalid Opening Quote").
 * A header row is used when `header: true`, or with 'auto' (default) when the first row looks
 * like one: all its cells are known column names, or (3 columns, unlabeled) its score column is not a number.
 * `samplingRate` keeps each data row with that probability (seeded PRNG, `seed`, default 0);
 * reading stops once `size` rows were kept. CRLF line ends become LF, also inside quoted fields.
 */
import { parse, type Info } from 'csv-parse';
import { DataError } from './errors';
import { contentId, IdAssigner } from './ids';
import { readLines, type Line } from './lines';
import type { CsvData, Document, Query, ScoredPair } from './types';
import { mulberry32 } from '../util/rng';
import { InputRangeError } from '../util/errors';

export type CsvDialectName = 'auto' | 'excel' | 'excel-tab' | 'unix';
export interface CsvDialect {
  delimiter: string;
  quote: string;
  /** Ignore spaces after a delimiter (Python's skipinitialspace). Default false. */
  skipInitialSpace?: boolean;
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
  /** Keep empty text cells as '' instead of failing (`synthtune inspect` counts them). Labels and scores must never be empty. */
  allowEmpty?: boolean;
  /** Called once with the dialect in use (sniffed or given). */
  onDialect?: (d: CsvDialect) => void;
}

const DIALECTS: Record<Exclude<CsvDialectName, 'auto'>, CsvDialect> = {
  excel: { delimiter: ',', quote: '"' },
  'excel-tab': { delimiter: '\t', quote: '"' },
  unix: { delimiter: ',', quote: '"' },
};
const SNIFF_LINES = 20;
const DELIMITERS = [',', '\t', ';', '|'];

/** What a header cell says its column holds. */
export type ColumnRole = 'id' | 'title' | 'text' | 'query' | 'document' | 'label' | 'score';

/** Known header names (lower-cased, trimmed) and their roles. */
export const COLUMN_ROLES: Readonly<Record<string, ColumnRole>> = {
  id: 'id', _id: 'id', doc_id: 'id', docid: 'id', 'doc-id': 'id', 'corpus-id': 'id', query_id: 'id', 'query-id': 'id', qid: 'id',
  title: 'title',
  text: 'text', content: 'text', sentence: 'text', item: 'text',
  query: 'query', queries: 'query', question: 'query', anchor: 'query', sentence1: 'query', text1: 'query', text_a: 'query', left: 'query',
  document: 'document', documents: 'document', doc: 'document', passage: 'document', positive: 'document', answer: 'document',
  sentence2: 'document', text2: 'document', text_b: 'document', right: 'document',
  label: 'label', labels: 'label', class: 'label', category: 'label', finetuner_label: 'label',
  score: 'score', similarity: 'score', finetuner_score: 'score',
};

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

/** Positions of `ch` outside quoted parts of a line. */
function positionsOutsideQuotes(line: string, ch: string, quote: string): number[] {
  const out: number[] = [];
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === quote) inQuotes = !inQuotes;
    else if (line[i] === ch && !inQuotes) out.push(i);
  }
  return out;
}

/**
 * Python's csv.Sniffer rule (every delimiter of the first line that has one is followed by a
 * space), or any sample line where a delimiter, spaces and a quote start a field.
 */
function sniffSkipInitialSpace(lines: readonly string[], delimiter: string, quote: string): boolean {
  const first = lines.find((l) => positionsOutsideQuotes(l, delimiter, quote).length > 0);
  if (first !== undefined && positionsOutsideQuotes(first, delimiter, quote).every((i) => first[i + 1] === ' ')) return true;
  return spaceBeforeQuote(lines, delimiter, quote);
}

/** True when some line has a field made of spaces and then a quote (`, "c"`). */
function spaceBeforeQuote(lines: readonly string[], delimiter: string, quote: string): boolean {
  return lines.some((l) => positionsOutsideQuotes(l, delimiter, quote).some((i) => {
    let j = i + 1;
    while (l[j] === ' ') j++;
    return j > i + 1 && l[j] === quote;
  }));
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
  const quote = sniffQuote(lines, best.delimiter);
  return { delimiter: best.delimiter, quote, skipInitialSpace: sniffSkipInitialSpace(lines, best.delimiter, quote) };
}

function resolveDialect(d: CsvOptions['dialect'], sample: string[], file: string): CsvDialect {
  if ((d === undefined || d === 'auto') && file.toLowerCase().endsWith('.tsv')) {
    // a .tsv file is tab-separated even when no sampled line has a tab (a one-column list whose
    // texts hold commas would otherwise sniff as comma-separated)
    const lines = sample.filter((l) => l.trim());
    const quote = sniffQuote(lines, '\t');
    return { delimiter: '\t', quote, skipInitialSpace: spaceBeforeQuote(lines, '\t', quote) };
  }
  if (d === undefined || d === 'auto') return sniffDialect(sample);
  if (typeof d === 'string') {
    const known = DIALECTS[d];
    if (!known) throw new InputRangeError(`unknown CSV dialect '${d}' (expected auto, excel, excel-tab or unix)`);
    return spaceBeforeQuote(sample, known.delimiter, known.quote) ? { ...known, skipInitialSpace: true } : known;
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

/** Waits for 'drain' or 'close', then removes both listeners (a listener left behind per wait
 *  was the MaxListenersExceededWarning on larger files). */
function drained(p: NodeJS.WritableStream & { destroyed: boolean }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      p.off('drain', done);
      p.off('close', done);
      resolve();
    };
    p.on('drain', done);
    p.on('close', done);
  });
}

function csvError(file: string, e: unknown, recordStart: number): DataError {
  if (e instanceof DataError) return e;
  const err = e as Error & { code?: string; lines?: number };
  if (err.code === 'CSV_QUOTE_NOT_CLOSED') {
    return new DataError(file, recordStart, 'quote opened in this record is never closed');
  }
  return new DataError(file, err.lines, err.message);
}

/** Raw CSV records of a file (no header/shape handling), streamed. */
export async function* csvRecords(file: string, opts: Pick<CsvOptions, 'dialect' | 'encoding' | 'onDialect'> = {}): AsyncGenerator<CsvRecord> {
  const lines = readLines(file, { encoding: opts.encoding });
  const sample = await takeSample(lines);
  const dialect = resolveDialect(opts.dialect, sample.map((l) => l.text), file);
  opts.onDialect?.(dialect);
  const { delimiter, quote } = dialect;
  // the last line of the last record the parser completed (it parses ahead of what is consumed, and
  // a stream error drops what is buffered: an unclosed quote starts after this line, not after the
  // last record yielded)
  let parsedLine = 0;
  // empty lines fed after parsedLine (the parser skips them: the unclosed quote is after them)
  const blanks: number[] = [];
  const parser = parse({
    delimiter, quote, escape: quote, ltrim: dialect.skipInitialSpace ?? false, relax_column_count: true, skip_empty_lines: true, info: true,
    on_record: (record: string[], context: { lines: number }) => {
      parsedLine = context.lines;
      while (blanks.length && blanks[0] <= parsedLine) blanks.shift();
      return record;
    },
  });
  const write = (l: Line) => {
    if (l.text === '') blanks.push(l.no);
    return parser.write(l.text + '\n');
  };
  const feed = async () => {
    for (const l of sample) write(l);
    for await (const l of lines) {
      if (parser.destroyed) return;
      if (!write(l)) await drained(parser);
    }
    parser.end();
  };
  feed().catch((e: unknown) => parser.destroy(e as Error));
  try {
    for await (const { info, record } of parser as AsyncIterable<{ info: Info; record: string[] }>) {
      yield { line: info.lines - newlines(record), cells: record };
    }
  } catch (e) {
    let start = parsedLine + 1;
    for (const b of blanks) if (b === start) start++;
    throw csvError(file, e, start);
  } finally {
    parser.destroy();
    await lines.return(undefined);
  }
}

// ---------------------------------------------------------------- layouts (shape + columns)

type Shape = 'texts' | 'labeled' | 'pairs' | 'scored';

/** Which column holds what, for one shape; `why` says how it was decided (for inspect). */
export interface CsvLayout {
  shape: Shape;
  columns: number;
  text?: number;
  id?: number;
  title?: number;
  label?: number;
  query?: number;
  document?: number;
  score?: number;
  /** The header row's cells, when the file has one. */
  header?: string[];
  why: string;
}

const SHAPES_CONSIDERED = 'one column (text), (text, label), (query, document), (text, text, score), or a header naming id/_id, text/content, title, query, document, label, score';

function roleOf(cell: string): ColumnRole | undefined {
  return COLUMN_ROLES[cell.trim().toLowerCase()];
}

function looksLikeHeader(cells: string[], isLabeled: boolean | undefined): boolean {
  if (cells.every((c) => roleOf(c) !== undefined)) return true;
  return isLabeled !== true && cells.length === 3 && !Number.isFinite(Number(cells[2])) && cells[2].trim() !== '';
}

/** The layout a header row names; a DataError when its names fit no shape. */
function layoutFromHeader(file: string, r: CsvRecord, isLabeled: boolean | undefined): CsvLayout {
  const cells = r.cells;
  const n = cells.length;
  const named = cells.map(roleOf);
  if (named.some((x) => x === undefined)) {
    // not every cell is a known name (a header forced with header: true, or a 3-column header
    // whose score column is not a number): the columns are read by position
    const positional = layoutFromCount(file, r, isLabeled);
    return { ...positional, header: cells, why: `header '${cells.join(',')}' (names not known, columns by position): ${positional.why}` };
  }
  const at = (role: ColumnRole) => named.flatMap((x, i) => (x === role ? [i] : []));
  const one = (role: ColumnRole): number | undefined => {
    const cols = at(role);
    if (cols.length > 1) throw new DataError(file, r.line, `header '${cells.join(',')}' has ${cols.length} ${role} columns`);
    return cols[0];
  };
  const id = one('id');
  const title = one('title');
  const label = one('label');
  const score = one('score');
  const texty = named.flatMap((x, i) => (x === 'text' || x === 'query' || x === 'document' ? [i] : []));
  const header = cells;
  const names = `header '${cells.join(',')}'`;
  if (isLabeled === false && label !== undefined) throw new DataError(file, r.line, `${names} names a label column but isLabeled is false`);
  if (score !== undefined) {
    if (texty.length !== 2 || label !== undefined) throw new DataError(file, r.line, `${names}: a score column needs exactly two text columns (text, text, score)`);
    return { shape: 'scored', columns: n, query: texty[0], document: texty[1], score, id, header, why: `${names}: two texts and a score` };
  }
  if (label !== undefined || isLabeled === true) {
    const labelCol = label ?? (texty.length === 2 && n === 2 ? texty[1] : undefined);
    const textCols = texty.filter((i) => i !== labelCol);
    if (labelCol === undefined || textCols.length !== 1) throw new DataError(file, r.line, `${names}: labeled items need one text column and one label column`);
    return { shape: 'labeled', columns: n, text: textCols[0], label: labelCol, id, title, header, why: label !== undefined ? `${names}: a label column` : `${names} read as (text, label) because isLabeled is true` };
  }
  const query = one('query');
  const document = one('document');
  if (query !== undefined && document !== undefined && texty.length === 2) {
    return { shape: 'pairs', columns: n, query, document, header, why: `${names}: a query and a document column` };
  }
  if (texty.length === 1) {
    return { shape: 'texts', columns: n, text: texty[0], id, title, header, why: `${names}: one text column${id !== undefined ? ' with ids' : ''}` };
  }
  throw new DataError(file, r.line, `${names} fits no shape; expected ${SHAPES_CONSIDERED}`);
}

/** The layout of a headerless file, from the column count of its first record. */
function layoutFromCount(file: string, r: CsvRecord, isLabeled: boolean | undefined): CsvLayout {
  const n = r.cells.length;
  if (isLabeled === true) {
    if (n !== 2) throw columnError(file, r, 2, '(text, label) because isLabeled is true');
    return { shape: 'labeled', columns: 2, text: 0, label: 1, why: 'two columns read as (text, label) because isLabeled is true' };
  }
  if (n === 1) return { shape: 'texts', columns: 1, text: 0, why: 'one column: a list of texts' };
  if (n === 2) return { shape: 'pairs', columns: 2, query: 0, document: 1, why: isLabeled === false ? 'two columns read as (query, document) because isLabeled is false' : 'two columns without a header: (query, document) pairs (Finetuner\'s default when is_labeled is not set)' };
  if (n === 3) return { shape: 'scored', columns: 3, query: 0, document: 1, score: 2, why: 'three columns: (text, text, score)' };
  throw new DataError(file, r.line, `${n} columns fit no shape; considered ${SHAPES_CONSIDERED}`);
}

function columnError(file: string, r: CsvRecord, expected: number, what?: string): DataError {
  const kind = r.cells.length < expected ? 'missing' : 'extra';
  return new DataError(file, r.line, `${kind} column(s): expected ${expected}${what ? ` ${what}` : ''}, got ${r.cells.length}`);
}

function parseScore(file: string, r: CsvRecord, col: number): number {
  const raw = r.cells[col].trim();
  const s = Number(raw);
  if (raw === '' || !Number.isFinite(s)) throw new DataError(file, r.line, `score '${r.cells[col]}' is not a number`);
  if (s < 0 || s > 1) throw new DataError(file, r.line, `score ${s} outside [0, 1]`);
  return s;
}

/** A seeded PRNG for row sampling (mulberry32, lib/util/rng.ts). */
export const seededRandom: (seed: number) => () => number = mulberry32;

/** Collects rows into the shape's result. */
class ShapeBuilder {
  private readonly docIds = new IdAssigner();
  private readonly idLine = new Map<string, number>();
  readonly documents: Document[] = [];
  readonly queries = new Map<string, Query>();
  readonly pairs: ScoredPair[] = [];
  /** Distinct values per column of a 2-column pairs file (the ambiguity check). */
  readonly distinct: [Set<string>, Set<string>] = [new Set(), new Set()];

  constructor(private readonly file: string, readonly layout: CsvLayout, private readonly allowEmpty = false) {}

  /** A text cell ('' allowed with allowEmpty); `required` cells (ids, labels) are never empty. */
  private cell(r: CsvRecord, col: number | undefined, required = false): string {
    const v = col === undefined ? '' : r.cells[col];
    if (col !== undefined && !v.trim() && (required || !this.allowEmpty)) throw new DataError(this.file, r.line, 'empty field');
    return v;
  }

  private item(r: CsvRecord, text: string): Document {
    const L = this.layout;
    let id: string;
    if (L.id !== undefined) {
      id = this.cell(r, L.id, true).trim();
      const prev = this.idLine.get(id);
      if (prev !== undefined) throw new DataError(this.file, r.line, `duplicate id '${id}' (first seen on line ${prev})`);
      this.idLine.set(id, r.line);
    } else {
      id = this.docIds.next(text);
    }
    const doc: Document = { id, text };
    if (L.title !== undefined && r.cells[L.title].trim()) doc.title = r.cells[L.title];
    return doc;
  }

  add(r: CsvRecord): void {
    const L = this.layout;
    if (L.shape === 'texts') this.documents.push(this.item(r, this.cell(r, L.text)));
    else if (L.shape === 'labeled') this.documents.push({ ...this.item(r, this.cell(r, L.text)), label: this.cell(r, L.label, true).trim() });
    else if (L.shape === 'scored') this.pairs.push({ left: this.cell(r, L.query), right: this.cell(r, L.document), score: parseScore(this.file, r, L.score!) });
    else this.addPair(this.cell(r, L.query), this.cell(r, L.document));
  }

  private addPair(query: string, doc: string): void {
    this.distinct[0].add(query);
    this.distinct[1].add(doc);
    const qid = contentId(query);
    if (!this.queries.has(query)) this.queries.set(query, { id: qid, text: query, label: qid });
    this.documents.push({ id: this.docIds.next(doc), text: doc, label: qid });
  }

  result(): CsvData {
    const shape = this.layout.shape;
    if (shape === 'texts') return { kind: 'texts', documents: this.documents };
    if (shape === 'labeled') return { kind: 'labeled', documents: this.documents };
    if (shape === 'scored') return { kind: 'scored', pairs: this.pairs };
    return { kind: 'pairs', queries: [...this.queries.values()], documents: this.documents };
  }
}

/**
 * A headerless 2-column file read as pairs whose second column repeats like labels: at most half
 * as many distinct values as rows (and at least 4 rows), and fewer distinct values than the first
 * column. Returns the counts when so.
 */
function labelLike(b: ShapeBuilder): { rows: number; distinct: number } | null {
  const rows = b.documents.length;
  const [first, second] = b.distinct;
  if (rows >= 4 && second.size * 2 <= rows && second.size < first.size) return { rows, distinct: second.size };
  return null;
}

function checkOptions(opts: CsvOptions): void {
  const rate = opts.samplingRate ?? 1;
  if (!(rate > 0 && rate <= 1)) throw new InputRangeError(`samplingRate must be in (0, 1], got ${opts.samplingRate}`);
  if (opts.size !== undefined && !(Number.isInteger(opts.size) && opts.size >= 1)) {
    throw new InputRangeError(`size must be an integer ≥ 1, got ${opts.size}`);
  }
}

/** readCsv's result with how the file was read (for `synthtune inspect`). */
export interface CsvReading {
  data: CsvData;
  layout: CsvLayout;
  dialect: CsvDialect;
  /** Data rows read (before sampling). */
  rows: number;
}

/** Reads a CSV file and says how (dialect, header, shape and why). See the file header. */
export async function readCsvDetailed(file: string, opts: CsvOptions = {}): Promise<CsvReading> {
  checkOptions(opts);
  const rate = opts.samplingRate ?? 1;
  const random = seededRandom(opts.seed ?? 0);
  let builder: ShapeBuilder | null = null;
  let kept = 0;
  let rows = 0;
  let firstDataLine = 0;
  let first = true;
  let dialect: CsvDialect = DIALECTS.excel;
  const header = opts.header ?? 'auto';
  for await (const r of csvRecords(file, { ...opts, onDialect: (d) => { dialect = d; opts.onDialect?.(d); } })) {
    if (first) {
      first = false;
      const isHeader = header === true || (header === 'auto' && looksLikeHeader(r.cells, opts.isLabeled));
      if (isHeader) {
        builder = new ShapeBuilder(file, layoutFromHeader(file, r, opts.isLabeled), opts.allowEmpty);
        continue;
      }
    }
    builder ??= new ShapeBuilder(file, layoutFromCount(file, r, opts.isLabeled), opts.allowEmpty);
    const L = builder.layout;
    if (r.cells.length !== L.columns) throw columnError(file, r, L.columns);
    if (rows++ === 0) firstDataLine = r.line;
    if (rate < 1 && random() >= rate) continue;
    builder.add(r);
    if (opts.size !== undefined && ++kept >= opts.size) break;
  }
  if (!builder) throw new DataError(file, undefined, 'empty file');
  if (rows === 0) throw new DataError(file, undefined, 'no data rows (only a header)');
  const L = builder.layout;
  if (L.shape === 'pairs' && !L.header && opts.isLabeled === undefined) {
    const like = labelLike(builder);
    if (like) {
      throw new DataError(file, firstDataLine, `ambiguous: two columns and no header, so this is either (query, document) pairs or labeled (text, label) items; `
        + `the second column has only ${like.distinct} distinct values in ${like.rows} rows, like labels. Say which: isLabeled true or false `
        + `(CLI --is-labeled / --no-is-labeled), or a header row 'text,label' or 'query,document'`);
    }
  }
  return { data: builder.result(), layout: L, dialect, rows };
}

/** Reads a Finetuner-style CSV file (see the file header for shapes and options). */
export async function readCsv(file: string, opts: CsvOptions = {}): Promise<CsvData> {
  return (await readCsvDetailed(file, opts)).data;
}
