/**
 * `synthtune fit` in process: a tiny synthetic train.jsonl and BEIR folder in a temp dir; the
 * static method with a generated WordPiece tokenizer, the adapter on a tiny seeded ONNX encoder;
 * metrics.json keyed `<metric>@<k>`, the exported model loads through the encoder; bad
 * arguments exit 2 with a message that names the problem.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEncoder } from '../lib/models/encoder';
import { writeTinyModel } from '../lib/models/tiny';
import { buildWordPieceTokenizer } from '../lib/models/wordpiece';
import { runCli } from './helpers/cli';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-cli-fit-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const TOPICS = ['vaccine infection risk', 'protein folding structure', 'quick brown fox', 'embedding vectors queries', 'clinical trials safety', 'gene expression cells', 'ocean tides moon', 'river delta sediment'];
const DOCS = TOPICS.flatMap((t, i) => [`${t} study number ${i}`, `${t} review and notes`]);
const QUERIES = TOPICS.map((t) => `what about ${t.split(' ')[0]} ${t.split(' ')[1]}`);

const beir = path.join(root, 'beir');
const train = path.join(root, 'train.jsonl');
const tokDir = path.join(root, 'tokenizer');

fs.mkdirSync(path.join(beir, 'qrels'), { recursive: true });
fs.writeFileSync(path.join(beir, 'corpus.jsonl'), DOCS.map((text, i) => JSON.stringify({ _id: `d${i}`, title: '', text })).join('\n'));
fs.writeFileSync(path.join(beir, 'queries.jsonl'), QUERIES.map((text, i) => JSON.stringify({ _id: `q${i}`, text })).join('\n'));
fs.writeFileSync(path.join(beir, 'qrels', 'test.tsv'), ['query-id\tcorpus-id\tscore', ...QUERIES.map((_, i) => `q${i}\td${2 * i}\t1`)].join('\n'));
// Synthesis format: the positive is the topic's first document, negatives the other topics' second ones.
const rows: string[] = [];
QUERIES.forEach((q, i) => {
  for (let j = 0; j < TOPICS.length; j++) if (j !== i) rows.push(JSON.stringify({ query: q, positive: DOCS[2 * i], negative: DOCS[2 * j + 1], margin: 2 + 0.1 * j }));
});
fs.writeFileSync(train, rows.join('\n') + '\n');
const tok = buildWordPieceTokenizer([...DOCS, ...QUERIES], { vocabSize: 300 });
fs.mkdirSync(tokDir, { recursive: true });
fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJson));
fs.writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));

const cli = (args: string[]) => runCli('fit', args);

function metricsOf(out: string): { before: Record<string, number>; after: Record<string, number> } {
  return JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
}

describe('synthtune fit', () => {
  it('static: generated tokenizer, before/after table, metrics.json, loadable model', async () => {
    const out = path.join(root, 'run-static');
    const r = await cli(['--train', train, '--method', 'static', '--tokenizer', tokDir, '--dim', '16', '--epochs', '3', '--lr', '0.01',
      '--batch-size', '8', '--seed', '1', '--score', 'cosine', '--margin-scale', '0.1', '--eval-data', beir, '--k', '1,10', '--out', out]);
    expect(r.err).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    // progress on stderr, the before/after lines on stdout
    expect(r.err).toMatch(/epoch 3\/3/);
    for (const k of ['ndcg@1', 'ndcg@10', 'recall@10', 'mrr@10']) expect(r.out).toMatch(new RegExp(`^${k.replace('@', '@')}\\s+before fine-tuning: \\d\\.\\d{4}\\s+after fine-tuning: \\d\\.\\d{4}$`, 'm'));
    expect(r.out).toContain(`model: ${path.resolve(out, 'model')}`);
    const m = metricsOf(out);
    expect(Object.keys(m.before)).toContain('ndcg@10');
    expect(Object.keys(m.before)).toContain('recall@1');
    expect(Object.keys(m.after).sort()).toEqual(Object.keys(m.before).sort());
    for (const v of [...Object.values(m.before), ...Object.values(m.after)]) expect(v).toBeGreaterThanOrEqual(0);
    const enc = await loadEncoder(path.join(out, 'model'), { threads: 1 });
    try {
      expect(enc.dim).toBe(16);
      const e = await enc.encode([QUERIES[0], DOCS[0]]);
      expect(e.length).toBe(32);
      expect([...e].every(Number.isFinite)).toBe(true);
    } finally {
      await enc.release();
    }
  });

  it('adapter on a tiny encoder, --json output', async () => {
    const base = writeTinyModel(path.join(root, 'base'), { seed: 3, std: 0.2, texts: [...DOCS, ...QUERIES] }).dir;
    const out = path.join(root, 'run-adapter');
    const r = await cli(['--train', train, '--method', 'adapter', '--model', base, '--epochs', '2', '--lr', '0.01', '--batch-size', '8',
      '--eval-data', beir, '--eval-split', 'test', '--metrics', 'ndcg,recall', '--out', out, '--json', '--quiet']);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ status: 'finished', method: 'adapter', examples: rows.length, epochs: 2, model: path.resolve(out, 'model'), documentModel: path.resolve(out, 'model') });
    expect(Object.keys(j.before).sort()).toEqual(['ndcg@10', 'ndcg@100', 'recall@10', 'recall@100']);
    expect(metricsOf(out)).toEqual({ before: j.before, after: j.after });
    const enc = await loadEncoder(j.model, { threads: 1 });
    try {
      expect(enc.dim).toBe(32);
      expect((await enc.encodeQueries([QUERIES[1]])).length).toBe(32);
    } finally {
      await enc.release();
    }
  });

  it('a synthesis run folder is accepted as --train; without --eval-data no table', async () => {
    const runDir = path.join(root, 'synth-run');
    fs.mkdirSync(runDir);
    fs.copyFileSync(train, path.join(runDir, 'train.jsonl'));
    const out = path.join(root, 'run-folder');
    const r = await cli(['--train', runDir, '--method', 'static', '--model', tokDir, '--dim', '8', '--max-examples', '20', '--out', out, '--quiet']);
    expect(r.code).toBe(0);
    // 20 examples, one step per epoch: the default epochs rise to the cap (10) toward 1000 steps
    expect(r.out).toMatch(/^finished: static student, 20 examples, 10 epoch\(s\), 10 steps/);
    expect(r.out).not.toMatch(/before fine-tuning/);
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(config.epochs).toMatchObject({ value: 10, source: 'auto' });
    expect(config.init).toMatchObject({ value: 'idf', source: 'auto' });
    expect(config.score).toMatchObject({ value: 'cosine', source: 'auto' });
    expect(config.heldOut.value).toBe(0); // fewer than 40 queries: no held-out split
    expect(config.marginScale.source).toBe('auto');
    expect(fs.existsSync(path.join(out, 'model', 'onnx', 'model.onnx'))).toBe(true);
  });

  const out = path.join(root, 'bad');
  const bad: [string, string[], RegExp][] = [
    ['no --train', ['--method', 'static', '--tokenizer', tokDir, '--out', out], /--train <run folder \| train\.jsonl> is required/],
    ['missing train file', ['--train', path.join(root, 'nope.jsonl'), '--method', 'static', '--tokenizer', tokDir, '--out', out], /--train: .*nope\.jsonl does not exist/],
    ['no --method', ['--train', train, '--tokenizer', tokDir, '--out', out], /--method adapter\|static\|full is required/],
    ['unknown method', ['--train', train, '--method', 'lora', '--out', out], /--method must be adapter, static or full, got 'lora'/],
    ['full without model', ['--train', train, '--method', 'full', '--out', out], /--method full needs --model/],
    ['no --out', ['--train', train, '--method', 'static', '--tokenizer', tokDir], /--out <folder> is required/],
    ['adapter without model', ['--train', train, '--method', 'adapter', '--out', out], /--method adapter needs --model/],
    ['static without tokenizer', ['--train', train, '--method', 'static', '--out', out], /--method static needs --tokenizer/],
    ['tokenizer folder without tokenizer.json', ['--train', train, '--method', 'static', '--tokenizer', beir, '--out', out], /holds no tokenizer\.json/],
    ['adapter with --dim', ['--train', train, '--method', 'adapter', '--model', tokDir, '--dim', '8', '--out', out], /--tokenizer and --dim are for --method static/],
    ['bad --score', ['--train', train, '--method', 'static', '--tokenizer', tokDir, '--score', 'l2', '--out', out], /--score must be dot or cosine, got 'l2'/],
    ['bad --epochs', ['--train', train, '--method', 'static', '--tokenizer', tokDir, '--epochs', '0', '--out', out], /--epochs must be an integer ≥ 1, got '0'/],
    ['bad --lr', ['--train', train, '--method', 'static', '--tokenizer', tokDir, '--lr=0', '--out', out], /--lr must be > 0, got '0'/],
    ['bad --margin-scale', ['--train', train, '--method', 'static', '--tokenizer', tokDir, '--margin-scale', 'x', '--out', out], /--margin-scale must be a number, got 'x'/],
    ['eval split without data', ['--train', train, '--method', 'static', '--tokenizer', tokDir, '--eval-split', 'dev', '--out', out], /--eval-split needs --eval-data/],
    ['eval split missing', ['--train', train, '--method', 'static', '--tokenizer', tokDir, '--eval-data', beir, '--eval-split', 'dev', '--out', out], /no qrels\/dev\.tsv/],
    ['unknown metric', ['--train', train, '--method', 'static', '--tokenizer', tokDir, '--metrics', 'ndcg,bleu', '--out', out], /--metrics: unknown metric 'bleu'/],
    ['unknown option', ['--train', train, '--method', 'static', '--tokenizer', tokDir, '--out', out, '--frobnicate'], /Unknown option '--frobnicate'/],
  ];
  for (const [name, args, message] of bad) {
    it(`exit 2: ${name}`, async () => {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^synthtune fit: /);
      expect(r.err).toMatch(message);
      expect(fs.existsSync(out)).toBe(false);
    });
  }

  it('exit 2 with the file and line of a bad train.jsonl row', async () => {
    const file = path.join(root, 'bad.jsonl');
    fs.writeFileSync(file, `${rows[0]}\n{"query": "q", "positive": \n`);
    const r = await cli(['--train', file, '--method', 'static', '--tokenizer', tokDir, '--out', path.join(root, 'bad-rows'), '--quiet']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad\.jsonl:2: bad JSON/);
  });

  it('--help prints the usage', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: synthtune fit --train/);
  });
});
