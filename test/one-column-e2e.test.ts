/**
 * Finetuner's simplest forms, one-column lists of queries and of documents (CSV and TSV), train end
 * to end from the command line: synthesize (BM25) → fit (static) → a loadable model. Before issue
 * 17 the one-column CSV was refused ("expected 2 (query, document) or 3 … columns").
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEncoder } from '../lib/models/encoder';
import { writeWordPieceTokenizer } from '../lib/models/wordpiece';
import { runCli } from './helpers/cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-onecol-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const FIX = path.join(__dirname, 'fixtures', 'finetuner');

const cli = (args: string[]) => runCli(args[0], args.slice(1));

describe('one-column lists end to end', () => {
  it('queries.csv + documents.tsv → synthesize → fit → model', async () => {
    const queries = fs.readFileSync(path.join(FIX, 'queries.csv'), 'utf8').trim().split('\n');
    const docs = fs.readFileSync(path.join(FIX, 'documents.tsv'), 'utf8').trim().split('\n').slice(1); // header 'document'
    const tokDir = path.join(tmp, 'tok');
    writeWordPieceTokenizer(tokDir, [...queries, ...docs], { vocabSize: 150 });
    const run = path.join(tmp, 'run');
    const s = await cli(['synthesize', '--queries', path.join(FIX, 'queries.csv'), '--corpus', path.join(FIX, 'documents.tsv'), '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '3', '--out', run, '--progress', 'none']);
    expect(s.code, s.err).toBe(0);
    const rows = fs.readFileSync(path.join(run, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.length).toBe(queries.length * 2);
    expect(new Set(rows.map((r) => r.query))).toEqual(new Set(queries)); // the list's items, never a header or ids
    for (const r of rows) expect(docs).toContain(r.positive);
    const out = path.join(tmp, 'fit');
    const f = await cli(['fit', '--train', run, '--method', 'static', '--tokenizer', tokDir, '--dim', '16', '--out', out, '--json', '--quiet']);
    expect(f.code, f.err).toBe(0);
    const j = JSON.parse(f.out);
    expect(j.status).toBe('finished');
    const enc = await loadEncoder(j.model);
    try {
      expect((await enc.encode(queries.slice(0, 2))).length).toBe(2 * enc.dim);
    } finally {
      await enc.release();
    }
  });
});
