/**
 * One entry point for every data form synthtune reads, returning the typed result of its kind
 * (types.ts TrainingData: texts, labeled, pairs, scored, margins) and how it was recognised:
 *
 *   a folder holding train.jsonl (a synthesis run)  → its rows (margins)
 *   .csv / .tsv                                      → csv.ts (Finetuner's CSV shapes, header names)
 *   .jsonl / .ndjson                                 → docarray.ts, one record per line
 *   .json                                            → docarray.ts, an array of records
 *   any other file                                   → one text per line (texts)
 *
 * `size` and `samplingRate` (Finetuner's CSVOptions) apply to every format: each row is kept with
 * probability samplingRate (seeded), and reading stops after `size` kept rows. The CSV options
 * (dialect, isLabeled, header) apply to CSV only. `textsFor` picks what synthesize reads from a
 * file given as --queries or --corpus; a BEIR folder is read by beir.ts, not here.
 */
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { readCsvDetailed, seededRandom, type CsvDialect, type CsvLayout, type CsvOptions } from './csv';
import { jsonlRecords, jsonRecords, recordsToData, type RawRecord } from './docarray';
import { DataError } from './errors';
import { IdAssigner } from './ids';
import { readLines } from './lines';
import type { DataKind, Document, TrainingData } from './types';
import { InputRangeError } from '../util/errors';

export type DataFormat = 'csv' | 'jsonl' | 'json' | 'text' | 'run';

export type ReadDataOptions = Omit<CsvOptions, 'onDialect'>;

export interface DataReading {
  data: TrainingData;
  format: DataFormat;
  /** The file actually read (train.jsonl inside a run folder). */
  file: string;
  /** Why the kind was chosen, one sentence per decision. */
  why: string[];
  /** CSV only: the dialect and column layout used. */
  csv?: { dialect: CsvDialect; layout: CsvLayout };
}

function checkSampling(opts: ReadDataOptions): void {
  const rate = opts.samplingRate ?? 1;
  if (!(rate > 0 && rate <= 1)) throw new InputRangeError(`samplingRate must be in (0, 1], got ${opts.samplingRate}`);
  if (opts.size !== undefined && !(Number.isInteger(opts.size) && opts.size >= 1)) throw new InputRangeError(`size must be an integer ≥ 1, got ${opts.size}`);
}

/** Finetuner's `_subsample`: keep each item with probability `rate` (seeded), at most `size`. */
export function* subsample<T>(items: Iterable<T>, opts: Pick<ReadDataOptions, 'size' | 'samplingRate' | 'seed'>): Generator<T> {
  const rate = opts.samplingRate ?? 1;
  const random = seededRandom(opts.seed ?? 0);
  let kept = 0;
  for (const it of items) {
    if (rate < 1 && random() >= rate) continue;
    yield it;
    if (opts.size !== undefined && ++kept >= opts.size) return;
  }
}

function formatOf(file: string): DataFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv' || ext === '.tsv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.json') return 'json';
  return 'text';
}

const KIND_WHY: Record<DataKind, string> = {
  texts: 'records with a text and no label or score: a list of texts',
  labeled: 'records with a label (tags.finetuner_label or label): labeled items',
  pairs: 'records with two chunks and no score: (query, document) pairs',
  scored: 'records with two chunks and tags.finetuner_score: scored pairs',
  margins: 'records with query, positive, negative(s) and margin(s): synthesized Margin-MSE rows',
};

async function readTextLines(file: string, opts: ReadDataOptions): Promise<TrainingData> {
  const ids = new IdAssigner();
  const docs: Document[] = [];
  const lines: { text: string }[] = [];
  for await (const l of readLines(file, { encoding: opts.encoding })) if (l.text.trim()) lines.push(l);
  if (!lines.length) throw new DataError(file, undefined, 'empty file (no non-blank line)');
  for (const l of subsample(lines, opts)) docs.push({ id: ids.next(l.text), text: l.text });
  return { kind: 'texts', documents: docs };
}

/** Reads any supported data file or run folder; see the file header. */
export async function readTrainingData(p: string, opts: ReadDataOptions = {}): Promise<DataReading> {
  checkSampling(opts);
  if (!existsSync(p)) throw new DataError(p, undefined, 'file not found');
  if (statSync(p).isDirectory()) {
    const train = path.join(p, 'train.jsonl');
    if (existsSync(train)) {
      const r = await readTrainingData(train, opts);
      return { ...r, format: 'run', why: [`a synthesis run folder (holds train.jsonl)`, ...r.why] };
    }
    if (existsSync(path.join(p, 'corpus.jsonl'))) throw new DataError(p, undefined, 'a BEIR folder (corpus.jsonl, queries.jsonl, qrels/): read it with readBeir, or give one of its files');
    throw new DataError(p, undefined, 'a folder without train.jsonl (synthesis run) or corpus.jsonl (BEIR)');
  }
  const format = formatOf(p);
  if (format === 'csv') {
    const r = await readCsvDetailed(p, opts);
    const d = r.dialect;
    const dialect = `dialect: delimiter ${JSON.stringify(d.delimiter)}, quote ${JSON.stringify(d.quote)}${d.skipInitialSpace ? ', spaces after delimiters skipped' : ''}`;
    return { data: r.data, format, file: p, why: [`${path.extname(p)} file: CSV`, dialect, r.layout.why], csv: { dialect: d, layout: r.layout } };
  }
  if (format === 'text') {
    return { data: await readTextLines(p, opts), format, file: p, why: [`${path.extname(p) || 'no'} extension: plain text, one item per line`] };
  }
  // not records.push(...jsonRecords): spreading 150k+ records overflows the call stack
  let records: RawRecord[] = [];
  if (format === 'json') records = await jsonRecords(p, { encoding: opts.encoding });
  else for await (const r of jsonlRecords(p, { encoding: opts.encoding })) records.push(r);
  if (!records.length) throw new DataError(p, undefined, 'empty file (no record)');
  const data = recordsToData(p, subsample(records, opts), { allowEmpty: opts.allowEmpty });
  const what = format === 'json' ? 'JSON array of records (DocumentArray.to_json)' : 'JSONL, one record per line';
  return { data, format, file: p, why: [`${path.extname(p)} file: ${what}`, KIND_WHY[data.kind]] };
}

/**
 * The texts synthesize uses from a data file given as --queries or --corpus: a list as is;
 * labeled items' texts (their labels are not texts); the queries or the documents of pairs.
 * Scored pairs and synthesized rows are training data, not inputs: a DataError says so.
 */
export function textsFor(data: TrainingData, role: 'queries' | 'corpus', file: string): Document[] {
  switch (data.kind) {
    case 'texts':
    case 'labeled':
      return data.documents;
    case 'pairs':
      return role === 'queries' ? data.queries : data.documents;
    case 'scored':
      throw new DataError(file, undefined, `scored pairs (text, text, score) are training data for fit, not ${role} for synthesize; give a list of texts`);
    case 'margins':
      throw new DataError(file, undefined, `synthesized rows (query, positive, negative, margin) are training data for fit, not ${role} for synthesize`);
  }
}

/** readTrainingData + textsFor. */
export async function readTexts(p: string, role: 'queries' | 'corpus', opts: ReadDataOptions = {}): Promise<Document[]> {
  return textsFor((await readTrainingData(p, opts)).data, role, p);
}
