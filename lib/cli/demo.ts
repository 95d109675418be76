/**
 * `synthtune demo`: the main job end to end on the sample dataset shipped in data/sample/ (a
 * SciFact subset, see data/sample/README.md), with nothing downloaded:
 *
 *   1. a WordPiece tokenizer learnt from the sample corpus (lib/models/wordpiece.ts);
 *   2. synthesize(): the sample's train-split queries (their judgements unused) × the corpus,
 *      BM25 as the miner and as the teacher → Margin-MSE examples;
 *   3. fitRun(): a static student (token-embedding bag) trained on them;
 *   4. retrieval metrics on the test split: BM25 (the teacher), the student before and after.
 *
 *   synthtune demo [--out <folder>] [--json] [--seed 42] [--data <BEIR folder>] [--epochs ...]
 *
 * The out folder (default <tmpdir>/synthtune-demo) gets tokenizer/, synthesis/ (the run folder),
 * fit/ (the training run) and fit/model (the exported model, loadable by `synthtune evaluate`).
 * Deterministic for a seed. Progress goes to stderr, the table (or JSON) to stdout.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beirText, readBeir } from '../data/beir';
import type { BeirDataset } from '../data/types';
import { Bm25Builder } from '../evaluation/bm25';
import { evaluateRankings, type Ranked } from '../evaluation/evaluator';
import type { MetricName } from '../evaluation/metrics';
import { writeWordPieceTokenizer } from '../models/wordpiece';
import { synthesize } from '../synthesis';
import type { ProgressMode } from '../synthesis/types';
import { fitRun, type FitRunConfig } from '../training/run';
import { CliError, intOption, numberOption, parseCli } from './util';
import { SynthtuneError } from '../util/errors';

const KS = [10, 100];
const METRICS: MetricName[] = ['ndcg', 'mrr', 'map', 'recall'];
/** Rows of the table, in order. */
const SHOWN = ['ndcg@10', 'mrr@10', 'map@10', 'recall@10', 'recall@100', 'ndcg@100'];

export interface DemoOptions {
  /** BEIR folder with qrels/<trainSplit>.tsv and qrels/<testSplit>.tsv (default: the bundled sample). */
  data?: string;
  trainSplit?: string;
  testSplit?: string;
  /** Default <tmpdir>/synthtune-demo. */
  out?: string;
  seed?: number;
  /** Use only the first n train queries (default all). */
  maxTrainQueries?: number;
  /** Documents mined per query: 1 positive + n − 1 negatives (default 10). */
  numRelations?: number;
  /** WordPiece vocabulary size (default 8000). */
  vocabSize?: number;
  /** Static student dimension (default 256). */
  dim?: number;
  /** Training options; unset, fit derives them from the data (lib/training/auto.ts). */
  epochs?: number;
  learningRate?: number;
  batchSize?: number;
  /** BM25 margins × this (default: derived from the data). */
  marginScale?: number;
  /** Synthesis progress (default 'none'). */
  progress?: ProgressMode;
  /** Progress lines (default stderr; null: silent). */
  log?: ((line: string) => void) | null;
}

export interface DemoResult {
  data: string;
  documents: number;
  trainQueries: number;
  testQueries: number;
  /** Examples synthesize wrote (the held-out ones included). */
  examples: number;
  /** Examples fit added: documents the untrained student ranked high, labelled by BM25 (selfNegatives). */
  selfMined: number;
  /** Test-split metrics keyed `<metric>@<k>`. */
  bm25: Record<string, number>;
  before: Record<string, number>;
  after: Record<string, number>;
  out: string;
  tokenizerDir: string;
  trainData: string;
  modelDir: string;
  seconds: { tokenizer: number; synthesis: number; fit: number; total: number };
  settings: Required<Pick<DemoOptions, 'seed' | 'numRelations' | 'vocabSize' | 'dim'>>;
  /** What fit used, each value with its source (option or auto) and why: <fit>/config.json. */
  fit: FitRunConfig;
}

/** data/sample/ of the installed package (found from lib/cli/ in the sources and dist/lib/cli/ when built). */
export function sampleDataDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'data', 'sample');
    if (fs.existsSync(path.join(candidate, 'corpus.jsonl')) && fs.existsSync(path.join(dir, 'package.json'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new SynthtuneError('environment', `the sample dataset (data/sample/) was not found above ${__dirname}; reinstall synthtune, or give --data <BEIR folder>`);
}

/** BM25 (the teacher) on a BEIR split: `<metric>@<k>` → mean (the demo's and bench quality's reference row). */
export function bm25Metrics(ds: BeirDataset, ks: number[] = KS, metrics: MetricName[] = METRICS): Record<string, number> {
  const builder = new Bm25Builder();
  for (const d of ds.corpus) builder.add(d.id, beirText(d));
  const index = builder.build();
  const run = new Map<string, Ranked>();
  const depth = Math.max(...ks);
  for (const q of ds.queries) {
    const hits = index.search(q.text, depth);
    run.set(q.id, { ids: hits.map((h) => h.id), scores: hits.map((h) => h.score) });
  }
  return { ...evaluateRankings(run, { qrels: ds.qrels, ks, metrics }).mean };
}

function since(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** Runs the demo; see the file comment. */
export async function demo(o: DemoOptions = {}): Promise<DemoResult> {
  const t0 = performance.now();
  const print = o.log === undefined ? (l: string) => process.stderr.write(`${l}\n`) : o.log ?? (() => undefined);
  const data = path.resolve(o.data ?? sampleDataDir());
  const out = path.resolve(o.out ?? path.join(os.tmpdir(), 'synthtune-demo'));
  const trainSplit = o.trainSplit ?? 'train';
  const testSplit = o.testSplit ?? 'test';
  const settings = {
    seed: o.seed ?? 42,
    numRelations: o.numRelations ?? 10,
    vocabSize: o.vocabSize ?? 8000,
    dim: o.dim ?? 256,
  };
  const train = await readBeir(data, { split: trainSplit });
  const test = await readBeir(data, { split: testSplit });
  const queries = train.queries.slice(0, o.maxTrainQueries ?? train.queries.length).map((q) => ({ id: q.id, text: q.text }));
  print(`demo: ${path.basename(data)}: ${train.corpus.length} documents, ${queries.length} ${trainSplit} queries (unlabeled) for training, ${test.queries.length} ${testSplit} queries for evaluation`);
  print(`demo: writing to ${out}`);
  fs.mkdirSync(out, { recursive: true });

  // 1. tokenizer
  let t = performance.now();
  const tokenizerDir = path.join(out, 'tokenizer');
  const tok = writeWordPieceTokenizer(tokenizerDir, train.corpus.map(beirText), { vocabSize: settings.vocabSize });
  const tTok = since(t);
  print(`demo: [1/4] WordPiece tokenizer learnt from the corpus: ${tok.vocab.length} tokens (${tTok.toFixed(1)}s)`);

  // 2. synthesis: BM25 mines and labels
  t = performance.now();
  print(`demo: [2/4] synthesizing: BM25 miner, BM25 teacher, ${settings.numRelations} documents per query`);
  const runFolder = path.join(out, 'synthesis');
  const r = await synthesize({
    queries, corpus: train.corpus, miner: 'bm25', scorer: 'bm25', numRelations: settings.numRelations,
    seed: settings.seed, out: runFolder, overwrite: true, progress: o.progress ?? 'none',
  });
  const status = await r.wait();
  const tSyn = since(t);
  print(`demo: ${status.examples} examples → ${r.trainData} (${tSyn.toFixed(1)}s)`);

  // 3. + 4. fit a static student, evaluated on the test split before and after
  print(`demo: [3/4] BM25 on the ${testSplit} split (the teacher's own quality)`);
  const bm25 = bm25Metrics(test);
  t = performance.now();
  print(`demo: [4/4] training a static student (dim ${settings.dim}; fit's defaults, derived from the data, for what is not set)`);
  const fr = await fitRun({
    train: r.trainData, method: 'static', tokenizer: tokenizerDir, dim: settings.dim, epochs: o.epochs,
    learningRate: o.learningRate, batchSize: o.batchSize, seed: settings.seed, score: 'cosine',
    marginScale: o.marginScale, evalData: data, evalSplit: testSplit, evalKs: KS, evalMetrics: METRICS,
    out: path.join(out, 'fit'), resume: false, log: o.log === undefined ? (l) => print(`  ${l}`) : o.log,
  });
  const tFit = since(t);
  if (!fr.before || !fr.after) throw new Error('demo: the fit produced no before/after metrics');
  return {
    data, documents: test.corpus.length, trainQueries: queries.length, testQueries: test.queries.length, examples: fr.config.examples - (fr.config.selfMinedExamples ?? 0) + fr.config.heldOutExamples, selfMined: fr.config.selfMinedExamples ?? 0,
    bm25, before: fr.before, after: fr.after, out, tokenizerDir, trainData: r.trainData, modelDir: path.resolve(fr.modelDir),
    seconds: { tokenizer: tTok, synthesis: tSyn, fit: tFit, total: since(t0) }, settings, fit: fr.config,
  };
}

/** The before/after table. */
export function demoTable(r: DemoResult): string {
  const rows = SHOWN.filter((k) => k in r.after);
  const head = `${'metric'.padEnd(12)}${'BM25 (teacher)'.padStart(16)}${'before fine-tuning'.padStart(20)}${'after fine-tuning'.padStart(19)}`;
  const lines = rows.map((k) => `${k.padEnd(12)}${r.bm25[k].toFixed(4).padStart(16)}${r.before[k].toFixed(4).padStart(20)}${r.after[k].toFixed(4).padStart(19)}`);
  const share = (k: string) => `${((100 * r.after[k]) / r.bm25[k]).toFixed(0)}%`;
  return [
    `synthtune demo: ${path.basename(r.data)}, ${r.documents} documents; trained on ${r.examples} examples synthesized from ${r.trainQueries} unlabeled queries${r.selfMined ? ` and ${r.selfMined} self-mined negatives` : ''}, evaluated on ${r.testQueries} test queries`,
    '',
    head,
    ...lines,
    '',
    `The static student (before: random token vectors scaled by the square root of their idf in the training documents) reaches ${share('ndcg@10')} of its BM25 teacher's nDCG@10 and ${share('recall@100')} of its recall@100.`,
    `Model: ${r.modelDir}`,
    `  (evaluate it again: synthtune evaluate --data ${r.data} --model ${r.modelDir})`,
    `Took ${r.seconds.total.toFixed(1)}s (synthesis ${r.seconds.synthesis.toFixed(1)}s, training + evaluation ${r.seconds.fit.toFixed(1)}s).`,
  ].join('\n');
}

const USAGE = `usage: synthtune demo [--out <folder>] [--json] [options]

Synthesizes training data from the bundled sample (a SciFact subset; see data/sample/README.md)
with BM25 as miner and teacher, trains a static embedding student on it and prints retrieval
metrics on the sample's test queries: BM25, the student before and after fine-tuning.

  --out <folder>        where the tokenizer, synthesis run, training run and model go
                        (default ${path.join(os.tmpdir(), 'synthtune-demo')})
  --json                print the result as one JSON object
  --seed <n>            default 42
  --data <dir>          another BEIR folder with train and test qrels instead of the sample
  --num-relations <n>   documents mined per query (default 10)
  --vocab-size <n>      WordPiece vocabulary (default 8000)
  --dim <n>             student dimension (default 256)
  --epochs <n>          training epochs (default: fit's, from the data size)
  --lr <x>              learning rate (default: fit's, from the table's scale)
  --batch-size <n>      default 32
  --margin-scale <x>    BM25 margins × x (default: fit's, from the margins' spread)
  --quiet               no progress
`;

const OPTIONS = {
  out: { type: 'string' },
  json: { type: 'boolean' },
  seed: { type: 'string' },
  data: { type: 'string' },
  'num-relations': { type: 'string' },
  'vocab-size': { type: 'string' },
  dim: { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  'batch-size': { type: 'string' },
  'margin-scale': { type: 'string' },
  quiet: { type: 'boolean' },
} as const;

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = numberOption(name, v, 0);
  if (!(x > 0)) throw new CliError(`--${name} must be > 0, got '${v}'`);
  return x;
}

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseCli(argv, OPTIONS);
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (v.data !== undefined) {
    for (const f of ['corpus.jsonl', 'queries.jsonl', 'qrels/train.tsv', 'qrels/test.tsv']) {
      if (!fs.existsSync(path.join(v.data, f))) throw new CliError(`--data: ${v.data} is not a BEIR folder with train and test qrels (no ${f})`);
    }
  }
  const opt = (name: string, x: string | undefined, min = 1) => (x === undefined ? undefined : intOption(name, x, 0, min));
  const r = await demo({
    out: v.out, data: v.data, seed: opt('seed', v.seed, 0), numRelations: opt('num-relations', v['num-relations'], 2),
    vocabSize: opt('vocab-size', v['vocab-size'], 100), dim: opt('dim', v.dim), epochs: opt('epochs', v.epochs),
    learningRate: positive('lr', v.lr), batchSize: opt('batch-size', v['batch-size']), marginScale: positive('margin-scale', v['margin-scale']),
    progress: v.quiet ? 'none' : 'auto', log: v.quiet ? null : undefined,
  });
  process.stdout.write((v.json ? JSON.stringify(r) : demoTable(r)) + '\n');
  return 0;
}
