/**
 * BEIR dataset folders: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`)
 * and `qrels/<split>.tsv` (`query-id  corpus-id  score`, tab-separated, with a header line).
 *
 * Like BEIR's GenericDataLoader, only queries judged in the split are returned. Unlike it, bad
 * input is an error naming file and line: missing/extra qrels columns, a non-numeric score, a
 * repeated (query, doc) pair, qrels naming a query or document that does not exist.
 */
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { DataError } from './errors';
import { readJsonl } from './jsonl';
import { readLines, requireDataFile, type LineOptions } from './lines';
import type { BeirDataset, Document, Qrels } from './types';

export interface BeirOptions extends LineOptions {
  /** qrels/<split>.tsv to read (default 'test'). */
  split?: string;
}

/** The text BEIR encodes for a corpus document: `(title + " " + text).trim()`, or the text alone. */
export function beirText(doc: Pick<Document, 'title' | 'text'>): string {
  return doc.title !== undefined ? `${doc.title} ${doc.text}`.trim() : doc.text.trim();
}

const requireFile = requireDataFile;

/**
 * A header names its columns (BEIR writes `query-id corpus-id score`); a first row whose score
 * is merely not a number is a data row with a bad score, reported as such, never skipped.
 */
function isHeader(cols: string[]): boolean {
  const [q, d, s] = cols.map((c) => c.trim().toLowerCase());
  return !Number.isFinite(Number(s)) && (/^(query|q|topic)[-_ ]?id$|^query$|^qid$/.test(q) || /^(corpus|doc(ument)?)[-_ ]?id$|^docno$|^pid$/.test(d) || /^(score|relevance|rel|grade|label|judg(e)?ment)$/.test(s));
}

function parseQrelsRow(file: string, no: number, cols: string[]): [string, string, number] {
  if (cols.length < 3) throw new DataError(file, no, `missing column(s): expected 3 (query-id, corpus-id, score), got ${cols.length}`);
  if (cols.length > 3) throw new DataError(file, no, `extra column(s): expected 3 (query-id, corpus-id, score), got ${cols.length}`);
  const grade = Number(cols[2]);
  if (cols[2].trim() === '' || !Number.isFinite(grade)) throw new DataError(file, no, `score '${cols[2]}' is not a number`);
  return [cols[0], cols[1], grade];
}

/**
 * Reads a qrels TSV. When `known` is given, every query/doc id must be in it. The first line is
 * treated as a header when its third column is not a number.
 */
export async function readQrels(
  file: string,
  opts: LineOptions & { knownQueries?: ReadonlySet<string> | ReadonlyMap<string, unknown>; knownDocs?: ReadonlySet<string> | ReadonlyMap<string, unknown> } = {},
): Promise<Qrels> {
  const qrels: Qrels = new Map();
  const seenAt = new Map<string, number>();
  let rows = 0;
  for await (const { no, text } of readLines(requireFile(file), opts)) {
    if (!text.trim()) continue;
    const cols = text.split('\t');
    if (no === 1 && cols.length === 3 && isHeader(cols)) continue;
    const [qid, did, grade] = parseQrelsRow(file, no, cols);
    if (opts.knownQueries && !opts.knownQueries.has(qid)) throw new DataError(file, no, `unknown query id '${qid}'`);
    if (opts.knownDocs && !opts.knownDocs.has(did)) throw new DataError(file, no, `unknown corpus id '${did}'`);
    const key = `${qid}\t${did}`;
    const prev = seenAt.get(key);
    if (prev !== undefined) throw new DataError(file, no, `duplicate judgement for query '${qid}', doc '${did}' (first on line ${prev})`);
    seenAt.set(key, no);
    let m = qrels.get(qid);
    if (!m) qrels.set(qid, (m = new Map()));
    m.set(did, grade);
    rows++;
  }
  if (rows === 0) throw new DataError(file, undefined, 'empty file (no judgement)');
  return qrels;
}

/** Reads a BEIR folder for one split. */
export async function readBeir(dir: string, opts: BeirOptions = {}): Promise<BeirDataset> {
  const split = opts.split ?? 'test';
  const st = statSync(dir, { throwIfNoEntry: false });
  if (!st) throw new DataError(dir, undefined, 'BEIR folder not found');
  if (!st.isDirectory()) throw new DataError(dir, undefined, 'is a file; a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) was expected');
  const corpus = await readJsonl(requireFile(path.join(dir, 'corpus.jsonl')), { ...opts, requireId: true });
  const allQueries = await readJsonl(requireFile(path.join(dir, 'queries.jsonl')), { ...opts, requireId: true });
  const docIds = new Set(corpus.map((d) => d.id));
  const queryIds = new Set(allQueries.map((q) => q.id));
  const qrels = await readQrels(path.join(dir, 'qrels', `${split}.tsv`), { ...opts, knownQueries: queryIds, knownDocs: docIds });
  const queries = allQueries.filter((q) => qrels.has(q.id));
  return { corpus, queries, qrels, split };
}
