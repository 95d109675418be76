/**
 * `synthtune bench quality [--data BEIR...]`: retrieval quality of the pipeline with default
 * options (issue 14), per collection:
 *
 *   BM25         the teacher, nDCG@10 on the collection's test queries
 *   static       a static student from scratch: synthesize (BM25 miner and teacher, the train
 *                queries) → fit --method static with defaults → before / after / after ÷ BM25
 *   adapter, full  domain adaptation: a small BERT "pretrained" offline on another collection
 *                (random weights, then fit --method full on that collection's synthesized data
 *                with pretraining settings), then adapted to this collection with synthtune's
 *                pipeline and default options only (fit --method adapter / full) → before / after
 *
 * Train/test queries: qrels/train.tsv and qrels/test.tsv when a collection has both; otherwise
 * its judged queries are split in seeded halves (train on one, evaluate on the other). One
 * WordPiece tokenizer is learnt from all the collections' documents (or --tokenizer), so a model
 * pretrained on one collection reads the others. With one collection there is no domain
 * adaptation row. Everything is written under --out (default a temporary folder).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beirText, readBeir } from '../lib/data/beir';
import type { BeirDataset } from '../lib/data/types';
import { bm25Metrics } from '../lib/cli/demo';
import { writeTinyModel } from '../lib/models/tiny';
import { writeWordPieceTokenizer } from '../lib/models/wordpiece';
import { synthesize } from '../lib/synthesis';
import { fitRun } from '../lib/training/run';
import { mulberry32 } from '../lib/util/rng';

export interface QualityOptions {
  /** BEIR folders (default: the bundled sample). */
  data: string[];
  /** A tokenizer folder for every student (default: WordPiece learnt from the collections). */
  tokenizer?: string;
  out?: string;
  /** Small settings for tests: fewer pretraining epochs, a smaller model. */
  quick?: boolean;
  seed?: number;
  log?: (line: string) => void;
}

export interface QualityRow {
  collection: string;
  documents: number;
  trainQueries: number;
  testQueries: number;
  examples: number;
  bm25: number;
  static: { before: number; after: number };
  /** Domain adaptation from the model pretrained on `from` (absent with one collection). */
  adaptation?: { from: string; adapter: { before: number; after: number }; full: { before: number; after: number } };
}

const METRIC = 'ndcg@10';

function since(t0: number): string {
  return `${((performance.now() - t0) / 1000).toFixed(1)}s`;
}

/** A BEIR view with qrels/train.tsv and qrels/test.tsv (the collection's own, or its judged queries split in halves). */
async function splitView(src: string, dir: string, seed: number): Promise<{ train: BeirDataset; test: BeirDataset; dir: string }> {
  fs.mkdirSync(path.join(dir, 'qrels'), { recursive: true });
  for (const f of ['corpus.jsonl', 'queries.jsonl']) {
    const to = path.join(dir, f);
    if (!fs.existsSync(to)) fs.symlinkSync(path.resolve(src, f), to);
  }
  const own = (s: string) => path.join(src, 'qrels', `${s}.tsv`);
  if (fs.existsSync(own('train')) && fs.existsSync(own('test'))) {
    for (const s of ['train', 'test']) fs.copyFileSync(own(s), path.join(dir, 'qrels', `${s}.tsv`));
  } else {
    const splits = fs.readdirSync(path.join(src, 'qrels')).filter((f) => f.endsWith('.tsv'));
    if (!splits.length) throw new Error(`bench quality: ${src}/qrels holds no split`);
    const name = splits.includes('test.tsv') ? 'test.tsv' : splits[0];
    const lines = fs.readFileSync(path.join(src, 'qrels', name), 'utf8').split('\n').filter((l) => l.trim());
    const header = lines[0].split('\t').length === 3 && !Number.isFinite(Number(lines[0].split('\t')[2])) ? lines.shift() : undefined;
    const qids = [...new Set(lines.map((l) => l.split('\t')[0]))];
    const rnd = mulberry32(seed);
    for (let i = qids.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [qids[i], qids[j]] = [qids[j], qids[i]];
    }
    const trainIds = new Set(qids.slice(0, Math.floor(qids.length / 2)));
    const write = (s: string, keep: (q: string) => boolean) => fs.writeFileSync(path.join(dir, 'qrels', `${s}.tsv`),
      [...(header ? [header] : []), ...lines.filter((l) => keep(l.split('\t')[0]))].join('\n') + '\n');
    write('train', (q) => trainIds.has(q));
    write('test', (q) => !trainIds.has(q));
  }
  return { train: await readBeir(dir, { split: 'train' }), test: await readBeir(dir, { split: 'test' }), dir };
}


export async function qualityBench(o: QualityOptions): Promise<QualityRow[]> {
  const log = o.log ?? (() => undefined);
  const seed = o.seed ?? 42;
  const out = path.resolve(o.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-quality-')));
  fs.mkdirSync(out, { recursive: true });
  const names = o.data.map((d) => path.basename(path.resolve(d)));
  if (new Set(names).size !== names.length) throw new Error(`bench quality: collections need distinct folder names (${names.join(', ')})`);
  log(`bench quality: writing to ${out}`);

  const views = [];
  for (let i = 0; i < o.data.length; i++) views.push(await splitView(o.data[i], path.join(out, names[i], 'beir'), seed));

  let tokDir = o.tokenizer;
  if (!tokDir) {
    tokDir = path.join(out, 'tokenizer');
    const tok = writeWordPieceTokenizer(tokDir, views.flatMap((v) => v.train.corpus.map(beirText)), { vocabSize: 16000 });
    log(`bench quality: WordPiece tokenizer learnt from the collections: ${tok.vocab.length} tokens`);
  }

  // 1. per collection: BM25, synthesis, the static student from scratch (defaults)
  const rows: QualityRow[] = [];
  const runs: string[] = [];
  for (let i = 0; i < views.length; i++) {
    const v = views[i];
    const t0 = performance.now();
    const bm25 = bm25Metrics(v.test, [10], ['ndcg'])[METRIC];
    const syn = await synthesize({
      queries: v.train.queries.map((q) => ({ id: q.id, text: q.text })), corpus: v.train.corpus, miner: 'bm25', scorer: 'bm25',
      numRelations: 10, seed, out: path.join(out, names[i], 'synthesis'), overwrite: true, progress: 'none', log: () => undefined,
    });
    const status = await syn.wait();
    runs.push(syn.trainData);
    const fr = await fitRun({
      train: syn.trainData, method: 'static', tokenizer: tokDir, dim: 256, evalData: v.dir, evalSplit: 'test', evalKs: [10], evalMetrics: ['ndcg'],
      out: path.join(out, names[i], 'static'), resume: false, log: null,
    });
    rows.push({
      collection: names[i], documents: v.test.corpus.length, trainQueries: v.train.queries.length, testQueries: v.test.queries.length,
      examples: status.examples ?? fr.examples, bm25, static: { before: fr.before![METRIC], after: fr.after![METRIC] },
    });
    log(`bench quality: ${names[i]}: BM25 ${bm25.toFixed(4)}, static ${fr.before![METRIC].toFixed(4)} → ${fr.after![METRIC].toFixed(4)} (${since(t0)})`);
  }
  if (views.length < 2) return rows;

  // 2. "pretrained" models: a small random BERT trained on each collection (pretraining settings, not the defaults)
  const pretrained: string[] = [];
  for (let i = 0; i < views.length; i++) {
    const t0 = performance.now();
    const base = path.join(out, names[i], 'bert-random');
    const tok = JSON.parse(fs.readFileSync(path.join(tokDir, 'tokenizer.json'), 'utf8'));
    const tokConfig = fs.existsSync(path.join(tokDir, 'tokenizer_config.json')) ? JSON.parse(fs.readFileSync(path.join(tokDir, 'tokenizer_config.json'), 'utf8')) : {};
    writeTinyModel(base, {
      tokenizer: { tokenizerJson: tok, tokenizerConfig: tokConfig }, seed: seed + i,
      shape: o.quick ? { hidden: 32, layers: 1, heads: 2, intermediate: 64, maxPosition: 128 } : { hidden: 128, layers: 2, heads: 4, intermediate: 512, maxPosition: 256 },
    });
    const pre = await fitRun({
      train: runs[i], method: 'full', model: base, maxLength: 128, score: 'cosine', learningRate: 1e-3, epochs: o.quick ? 1 : 4,
      scheduler: { warmup: 0.1, decay: 'linear' }, marginScale: 0.01, holdOut: false, device: 'cpu',
      out: path.join(out, names[i], 'pretrained'), resume: false, log: null,
    });
    pretrained.push(pre.modelDir);
    log(`bench quality: pretrained a ${o.quick ? '1-layer' : '2-layer'} BERT on ${names[i]} (${pre.steps} steps, ${since(t0)})`);
  }

  // 3. domain adaptation with default options: the model pretrained on the next collection
  for (let i = 0; i < views.length; i++) {
    const j = (i + 1) % views.length;
    const common = { train: runs[i], model: pretrained[j], evalData: views[i].dir, evalSplit: 'test', evalKs: [10], evalMetrics: ['ndcg' as const], resume: false, log: null };
    const t0 = performance.now();
    const ad = await fitRun({ ...common, method: 'adapter', out: path.join(out, names[i], `adapter-from-${names[j]}`) });
    const fu = await fitRun({ ...common, method: 'full', device: 'cpu', out: path.join(out, names[i], `full-from-${names[j]}`) });
    rows[i].adaptation = {
      from: names[j],
      adapter: { before: ad.before![METRIC], after: ad.after![METRIC] },
      full: { before: fu.before![METRIC], after: fu.after![METRIC] },
    };
    log(`bench quality: ${names[j]} → ${names[i]}: adapter ${ad.before![METRIC].toFixed(4)} → ${ad.after![METRIC].toFixed(4)}, full ${fu.before![METRIC].toFixed(4)} → ${fu.after![METRIC].toFixed(4)} (${since(t0)})`);
  }
  return rows;
}

/** The table the README shows. */
export function qualityTable(rows: QualityRow[]): string {
  const f = (x: number) => x.toFixed(4);
  const head = ['collection', 'docs', 'train q', 'test q', 'BM25', 'static before', 'static after', 'after/BM25', 'adapted from', 'adapter before', 'adapter after', 'full before', 'full after'];
  const body = rows.map((r) => [
    r.collection, String(r.documents), String(r.trainQueries), String(r.testQueries), f(r.bm25), f(r.static.before), f(r.static.after),
    `${(r.static.after / r.bm25).toFixed(2)}×`,
    r.adaptation?.from ?? '–', r.adaptation ? f(r.adaptation.adapter.before) : '–', r.adaptation ? f(r.adaptation.adapter.after) : '–',
    r.adaptation ? f(r.adaptation.full.before) : '–', r.adaptation ? f(r.adaptation.full.after) : '–',
  ]);
  const lines = [head, ...body].map((cells) => `| ${cells.join(' | ')} |`);
  lines.splice(1, 0, `|${head.map(() => '---').join('|')}|`);
  return [`nDCG@10 on each collection's test queries; default options for every student but the offline pretraining`, '', ...lines].join('\n');
}
