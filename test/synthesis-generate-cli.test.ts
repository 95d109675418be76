/**
 * `synthtune synthesize --generate-queries`: pseudo-queries from the corpus mixed with or replacing
 * --queries, the run folder's records, the 'too little data' warning (also from fit), and the
 * flags' errors.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWordPieceTokenizer } from '../lib/models/wordpiece';
import { runCli } from './helpers/cli';

let tmp: string;
let corpus: string;
let queries: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-gen-cli-'));
  corpus = path.join(tmp, 'corpus.jsonl');
  queries = path.join(tmp, 'queries.txt');
  const topics = ['volcano', 'glacier', 'reef', 'desert', 'tundra', 'canyon'];
  const docs = Array.from({ length: 24 }, (_, i) => ({
    _id: `d${i}`,
    title: `${topics[i % 6]} ${i}`,
    text: `The ${topics[i % 6]} of place${i} is old. Many visitors come to see the ${topics[(i + 1) % 6]} every year. It has rare${i} stones.`,
  }));
  fs.writeFileSync(corpus, docs.map((d) => JSON.stringify(d)).join('\n'));
  fs.writeFileSync(queries, 'volcano stones\nreef visitors\n');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const cli = (args: string[]) => runCli('synthesize', args);
const base = () => ['--corpus', corpus, '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '3', '--progress', 'none'];
const lines = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('synthtune synthesize --generate-queries', () => {
  it('mixes generated queries with --queries and records them', async () => {
    const out = path.join(tmp, 'mix');
    const r = await cli([...base(), '--queries', queries, '--generate-queries', '1', '--generation-methods', 'salient,title', '--out', out, '--json']);
    expect(r.code).toBe(0);
    const gen = lines(path.join(out, 'generated-queries.jsonl'));
    expect(gen.length).toBe(48);
    expect(new Set(gen.map((g) => g.method))).toEqual(new Set(['salient', 'title']));
    expect(JSON.parse(r.out)).toMatchObject({ status: 'FINISHED', examples: (2 + 48) * 2 });
    const rows = lines(path.join(out, 'train.jsonl'));
    expect(rows.filter((x) => x.generated).length).toBe(96);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.parameters.generateQueries).toEqual({ perDocument: 1, methods: ['salient', 'title'], sampleDocuments: null, mode: 'mix' });
  });

  it('--replace-queries and --sample-documents; --queries optional; the small-data warning on stderr', async () => {
    const out = path.join(tmp, 'replace');
    const r = await cli([...base(), '--generate-queries', '2', '--generation-methods', 'icl', '--sample-documents', '5', '--replace-queries', '--out', out, '--progress', 'lines']);
    expect(r.code).toBe(0);
    const gen = lines(path.join(out, 'generated-queries.jsonl'));
    expect(gen.length).toBe(10);
    expect(new Set(gen.map((g) => g.sourceDocId)).size).toBe(5);
    expect(r.out).toMatch(/^20 examples → /);
    // BM25 labelled these rows: the advice is more real queries, not more pseudo-queries
    expect(r.err).toMatch(/warning: only 20 examples from 10 queries.*Add real queries.*pseudo-queries from the corpus \(--generate-queries\) and a larger --num-relations do not help/);
    // --queries given with --replace-queries is not used
    const r2 = await cli([...base(), '--queries', queries, '--generate-queries', '2', '--generation-methods', 'icl', '--sample-documents', '5', '--replace-queries', '--out', out]);
    expect(r2.code).toBe(0);
  });

  it('flag errors exit with code 2', async () => {
    const out = ['--out', path.join(tmp, 'bad')];
    const cases: [string[], RegExp][] = [
      [['--generate-queries', '0'], /--generate-queries must be an integer ≥ 1, got '0'/],
      [['--generate-queries', 'x'], /--generate-queries must be an integer ≥ 1/],
      [['--generate-queries', '1', '--generation-methods', 'salient,t5'], /--generation-methods: unknown method 't5' \(choose from salient, icl, title\)/],
      [['--generate-queries', '1', '--generation-methods', ','], /--generation-methods must list at least one/],
      [['--generate-queries', '1', '--sample-documents', '0'], /--sample-documents must be an integer ≥ 1/],
      [['--queries', queries, '--replace-queries'], /--replace-queries needs --generate-queries/],
      [['--queries', queries, '--sample-documents', '3'], /--sample-documents needs --generate-queries/],
      [['--queries', queries, '--generation-methods', 'icl'], /--generation-methods needs --generate-queries/],
      [[], /--queries is required/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli([...base(), ...args, ...out]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
    }
  });

  it('fit warns on the same small run, with the number of steps', async () => {
    const train = path.join(tmp, 'mix', 'train.jsonl');
    const rows = lines(train);
    const tok = buildWordPieceTokenizer(rows.flatMap((x) => [x.query, x.positive]), { vocabSize: 200 });
    const tokDir = path.join(tmp, 'tok');
    fs.mkdirSync(tokDir, { recursive: true });
    fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJson));
    fs.writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
    const r = await runCli('fit', ['--train', train, '--method', 'static', '--tokenizer', tokDir, '--dim', '8', '--epochs', '2', '--batch-size', '16', '--out', path.join(tmp, 'fit')]);
    expect(r.code).toBe(0);
    // 100 examples from 50 distinct queries; 5 queries (10 examples) are held out for the
    // best-epoch check, BM25 labelled the rows, so 2 self-mined negatives join each of the 45
    // training queries: ceil(180 / 16) × 2 epochs = 24 steps
    expect(r.err).toMatch(/fit: held out 5 \(5 of 50 queries \(10 examples\)/);
    // the rows' run folder says BM25 labelled them
    expect(r.err).toMatch(/fit: warning: only 100 examples from 50 queries.*Add real queries \(search logs\)\. With BM25 as the teacher.*as in GPL; that is 24 optimizer steps at batch size 16 over 2 epoch\(s\)/);
    // 90 training rows + 2 self-mined negatives for each of their 45 queries = 180 examples
    expect(r.err).toMatch(/fit: self-mined negatives: 90 examples from 45 queries/);
    // the same rows without their run folder: who labelled them is unknown, the advice is general
    const plain = path.join(tmp, 'plain');
    fs.mkdirSync(plain, { recursive: true });
    fs.copyFileSync(train, path.join(plain, 'train.jsonl'));
    const q = await runCli('fit', ['--train', path.join(plain, 'train.jsonl'), '--method', 'static', '--tokenizer', tokDir, '--dim', '8', '--epochs', '1', '--batch-size', '16', '--out', path.join(tmp, 'fit-plain')]);
    expect(q.code).toBe(0);
    expect(q.err).toMatch(/fit: warning: only 100 examples from 50 queries.*--generate-queries N.*synthesize --num-relations; that is 6 optimizer steps/);
  });
});
