/**
 * `synthtune bench quality` end to end on two tiny BEIR collections (their judged queries split in
 * halves): the rows hold BM25, the static student and the domain-adaptation runs, and the numbers
 * are the ones the runs wrote.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { QualityRow } from '../bench/quality';
import { writeTinyBeir } from './helpers/tiny-beir';
import { runCli } from './helpers/cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-quality-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args[0], args.slice(1));

describe('synthtune bench quality', () => {
  const a = writeTinyBeir(path.join(tmp, 'alpha'));
  const b = writeTinyBeir(path.join(tmp, 'beta'));

  it('two collections: BM25, static before/after, adapter and full adapted from the other collection', async () => {
    const out = path.join(tmp, 'run');
    const r = await cli(['bench', 'quality', '--data', a, '--data', b, '--quick', '--json', '--out', out]);
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out) as QualityRow[];
    expect(rows.map((x) => x.collection)).toEqual(['alpha', 'beta']);
    for (const [i, row] of rows.entries()) {
      const name = row.collection;
      // 8 judged queries split in halves
      expect(row.trainQueries + row.testQueries).toBe(8);
      expect(row.trainQueries).toBe(4);
      const stat = JSON.parse(fs.readFileSync(path.join(out, name, 'static', 'metrics.json'), 'utf8'));
      expect(row.static).toEqual({ before: stat.before['ndcg@10'], after: stat.after['ndcg@10'] });
      expect(row.bm25).toBeGreaterThan(0);
      expect(row.bm25).toBeLessThanOrEqual(1);
      const from = rows[(i + 1) % 2].collection;
      expect(row.adaptation?.from).toBe(from);
      for (const m of ['adapter', 'full'] as const) {
        const met = JSON.parse(fs.readFileSync(path.join(out, name, `${m}-from-${from}`, 'metrics.json'), 'utf8'));
        expect(row.adaptation![m]).toEqual({ before: met.before['ndcg@10'], after: met.after['ndcg@10'] });
        // the adaptation ran with the defaults: its config says so
        const config = JSON.parse(fs.readFileSync(path.join(out, name, `${m}-from-${from}`, 'config.json'), 'utf8'));
        expect(config.learningRate.source).toBe('auto');
        expect(config.epochs.source).toBe('auto');
      }
      // the test half and the train half do not share queries
      const qrels = (s: string) => new Set(fs.readFileSync(path.join(out, name, 'beir', 'qrels', `${s}.tsv`), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t')[0]));
      const train = qrels('train'); // (after the header line)
      expect(train.size).toBe(4);
      expect([...qrels('test')].some((q) => train.has(q))).toBe(false);
    }
    // the table form
    const t = await cli(['bench', 'quality', '--data', a, '--quick', '--out', path.join(tmp, 'one')]);
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/\| collection \| docs \| train q \| test q \| BM25 \| static before \| static after \| after\/BM25 \|/);
    expect(t.out).toMatch(/\| alpha \| 24 \| 4 \| 4 \| \d\.\d{4} \| \d\.\d{4} \| \d\.\d{4} \| \d\.\d\d× \| – \|/);
  });

  it('bad input: exit 2 with the reason', async () => {
    const notBeir = fs.mkdtempSync(path.join(tmp, 'x'));
    let r = await cli(['bench', 'quality', '--data', notBeir]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--data: .* is not a BEIR folder \(no corpus\.jsonl\)/);
    r = await cli(['bench', 'quality', 'kernels']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bench quality runs on its own/);
    r = await cli(['bench', 'kernels', '--data', a]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--data, --tokenizer and --out are for bench quality/);
  });
});
