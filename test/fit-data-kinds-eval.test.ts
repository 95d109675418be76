/**
 * `fit` evaluating on Finetuner-style data (issue 17 items 3-4 in fit): --eval-data given a labeled
 * file (relevant = items of the query's label, the query itself excluded) or a pairs file
 * (relevant = each query's documents), docarray metric definitions by default, --convention
 * passed through; the before/after metrics are those `evaluate` computes on the exported model.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTrainingData } from '../lib/data/forms';
import { evaluationSet } from '../lib/data/relevance';
import { evaluate } from '../lib/evaluation';
import { loadEncoder } from '../lib/models/encoder';
import { buildWordPieceTokenizer } from '../lib/models/wordpiece';
import { fitRun } from '../lib/training/run';
import { runCli } from './helpers/cli';

const FIX = path.join(__dirname, 'fixtures', 'finetuner');
const fx = (f: string) => path.join(FIX, f);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-fit-kinds-eval-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const ALL_TEXTS = fs.readdirSync(FIX).flatMap((f) => fs.readFileSync(fx(f), 'utf8').split(/[\n,\t"{}[\]:]+/)).filter((t) => t.trim());
const tokDir = path.join(root, 'tokenizer');
const tok = buildWordPieceTokenizer(ALL_TEXTS, { vocabSize: 400 });
fs.mkdirSync(tokDir, { recursive: true });
fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJson));
fs.writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));

const STATIC = { method: 'static' as const, tokenizer: tokDir, dim: 16, epochs: 12, batchSize: 64, learningRate: 0.05, seed: 1, log: null };

describe('fit --eval-data <labeled | pairs file>', () => {
  it('labeled: metrics before and after, the query itself excluded, equal to evaluating the exported model', async () => {
    const out = path.join(root, 'labeled');
    const r = await fitRun({ ...STATIC, train: fx('labeled-header.csv'), evalData: fx('labeled-header.csv'), evalKs: [1, 3], out });
    expect(r.before).not.toBeNull();
    expect(r.after).not.toBeNull();
    const after = r.after as Record<string, number>;
    // the exported model, evaluated as `synthtune evaluate --query-data` does (docarray, exclude_self)
    const data = (await readTrainingData(fx('labeled-header.csv'))).data;
    const set = evaluationSet(data, undefined);
    expect(set.excludeSelf).toBe(true);
    const enc = await loadEncoder(r.modelDir, { threads: 1 });
    try {
      const e = await evaluate({ encoder: enc, queries: set.queries, corpus: set.corpus, qrels: set.qrels, ks: [1, 3], convention: 'docarray', excludeSelf: true, normalize: true });
      for (const [k, v] of Object.entries(e.mean)) if (k in after) expect(after[k], k).toBeCloseTo(v, 4);
      expect(Object.keys(e.mean).filter((k) => k in after).length).toBeGreaterThan(3);
    } finally {
      await enc.release();
    }
    // a query never retrieves itself (it would be its own nearest item: hit@1 = 1 before training)
    const before = r.before as Record<string, number>;
    expect(before['hit@1']).toBeLessThan(1);
    // SupConLoss on these items brings items of one label together
    expect(after['ndcg@3']).toBeGreaterThan(before['ndcg@3'] + 0.2);
  });

  it('pairs file; --convention passes through (trec and docarray differ on the same run)', async () => {
    const a = await fitRun({ ...STATIC, train: fx('pairs.csv'), evalData: fx('pairs.csv'), evalKs: [1, 3], out: path.join(root, 'pairs-d') });
    const b = await fitRun({ ...STATIC, train: fx('pairs.csv'), evalData: fx('pairs.csv'), evalKs: [1, 3], evalConvention: 'trec', out: path.join(root, 'pairs-t') });
    expect(a.after).not.toBeNull();
    expect(b.after).not.toBeNull();
    expect(Object.keys(a.after as object).sort()).toEqual(Object.keys(b.after as object).sort());
    // the same rankings (equal recall), but the two conventions define dcg differently
    const da = a.after as Record<string, number>;
    const tr = b.after as Record<string, number>;
    expect(da['recall@3']).toBe(tr['recall@3']);
    expect(da['dcg@3']).not.toBeCloseTo(tr['dcg@3'], 3);
  });

  it('CLI: --eval-data <file> prints the before/after table; scored data is refused as evaluation data', async () => {
    const out = path.join(root, 'cli');
    const r = await runCli('fit', ['--train', fx('docarray-labeled.jsonl'), '--method', 'static', '--tokenizer', tokDir, '--dim', '16', '--epochs', '4',
      '--batch-size', '64', '--lr', '0.05', '--eval-data', fx('docarray-labeled.jsonl'), '--k', '1,3', '--quiet', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/before fine-tuning: \d\.\d{4}\s+after fine-tuning: \d\.\d{4}/);
    const bad = await runCli('fit', ['--train', fx('pairs.csv'), '--method', 'static', '--tokenizer', tokDir, '--eval-data', fx('train.csv'), '--quiet', '--out', path.join(root, 'bad')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/train\.csv: evaluation data holds scored data; evaluation needs/);
  });
});
