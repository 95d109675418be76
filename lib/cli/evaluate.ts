/**
 * `synthtune evaluate`: retrieval quality of BM25 or a dense model on a BEIR folder, or, as
 * Finetuner's EvaluationCallback, on labeled or (query, document) pair data.
 *
 *   synthtune evaluate --data <beir folder> [--split test] --model <bm25 | model folder>
 *                      [--k 1,3,5,10,100] [--json] [--save-run <file>] [--convention trec|docarray]
 *                      [--metrics ndcg,recall_at_k,...] [--k1 0.9] [--b 0.4] [--exclude-self] [--batch-size 64]
 *   synthtune evaluate --query-data <file> [--index-data <file>] --model <m> [same options]
 *                      labeled queries against a labeled index (relevant = same label; the query
 *                      itself excluded unless --no-exclude-self), or pairs (query → its documents,
 *                      --index-data: extra texts as distractors). Defaults there are Finetuner's:
 *                      --convention docarray, k 20. `--data <file>` is --query-data <file>.
 *
 * Prints a metric × k table (or, with --json, one object whose keys are `<metric>@<k>`), and can
 * save the ranking as a TREC run (`qid Q0 docid rank score tag`, top 100 per query, written
 * atomically) so trec_eval/pytrec_eval/ir_measures can re-check the numbers. Timings go to stderr.
 */
import { SingleBar } from 'cli-progress';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { beirText, readBeir } from '../data/beir';
import { readTrainingData } from '../data/forms';
import { evaluationSet } from '../data/relevance';
import { writeFileAtomic } from '../data/atomic';
import type { Document, Qrels, Query } from '../data/types';
import { Bm25Builder } from '../evaluation/bm25';
import { evaluate, evaluateRankings, type Encoder, type Evaluation, type Ranked } from '../evaluation/evaluator';
import { DEFAULT_KS, METRIC_NAMES, parseMetricNames, type Convention, type MetricName } from '../evaluation/metrics';
import type { Encoder as ModelsEncoder } from '../models/encoder';
import { userError } from '../util/errors';
import { CliError, csvOptions, csvUsage, CSV_OPTIONS, intListOption, intOption, numberOption, parseCli } from './util';

const RUN_DEPTH = 100;

const USAGE = `usage: synthtune evaluate --data <beir folder> --model <bm25 | model folder> [options]
       synthtune evaluate --query-data <file> [--index-data <file>] --model <bm25 | model folder> [options]

  --data <dir>          BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv
                        (a file instead: the same as --query-data)
  --split <name>        qrels split (default test)
  --query-data <file>   labeled items (CSV text,label / --is-labeled, JSONL with
                        tags.finetuner_label) or (query, document) pairs, as Finetuner's
                        EvaluationCallback: relevant = same label, or the query's documents
  --index-data <file>   labeled: the items to search (default: the query data);
                        pairs: extra texts to search among (distractors)
  --model <m>           'bm25' or a dense model folder
  --k <list>            cut-offs (default 1,3,5,10,100; 20 with --convention docarray)
  --convention <c>      trec (BEIR/pytrec_eval definitions; default with --data) or docarray
                        (Finetuner's; default with --query-data)
  --metrics <list>      metrics to report, synthtune's (${METRIC_NAMES.join(',')}) or
                        Finetuner's (precision_at_k,recall_at_k,f1_score_at_k,hit_at_k,
                        average_precision,reciprocal_rank,dcg_at_k,ndcg_at_k); default all
  --json                print one JSON object {"<metric>@<k>": value}
  --save-run <file>     write the top ${RUN_DEPTH} per query in TREC run format
  --k1 <x> --b <x>      BM25 parameters (default 0.9 and 0.4, Anserini's)
  --exclude-self        never retrieve the document whose id equals the query id (default
                        with labeled --query-data; --no-exclude-self turns it off)
  --batch-size <n>      texts per model call for dense models (default 64)
${csvUsage(24)}
`;

const OPTIONS = {
  data: { type: 'string' },
  'query-data': { type: 'string' },
  'index-data': { type: 'string' },
  split: { type: 'string' },
  metrics: { type: 'string' },
  model: { type: 'string' },
  k: { type: 'string' },
  convention: { type: 'string' },
  json: { type: 'boolean' },
  'save-run': { type: 'string' },
  k1: { type: 'string' },
  b: { type: 'string' },
  'exclude-self': { type: 'boolean' },
  'no-exclude-self': { type: 'boolean' },
  'batch-size': { type: 'string' },
  ...CSV_OPTIONS,
} as const;

interface Settings {
  /** A BEIR folder, or undefined with queryData. */
  data?: string;
  queryData?: string;
  indexData?: string;
  split: string;
  metrics: MetricName[];
  model: string;
  ks: number[];
  convention: Convention;
  json: boolean;
  saveRun?: string;
  k1: number;
  b: number;
  /** undefined: the mode's default (labeled data: true, otherwise false). */
  excludeSelf?: boolean;
  batchSize: number;
}

/** A BM25 parameter: a number in [0, max]. */
function bm25Parameter(name: string, v: string | undefined, dflt: number, max: number): number {
  const x = numberOption(name, v, dflt);
  const range = max === Infinity ? '[0, ∞)' : `[0, ${max}]`;
  if (!(x >= 0 && x <= max)) throw new CliError(`--${name} must be a number in ${range}, got '${v}'`);
  return x;
}

function settings(values: Record<string, string | boolean | undefined>): Settings {
  const str = (k: string) => values[k] as string | undefined;
  let data = str('data');
  let queryData = str('query-data');
  if (data && queryData) throw new CliError('give --data <beir folder> or --query-data <file>, not both');
  if (data && fs.existsSync(data) && !fs.statSync(data).isDirectory()) [data, queryData] = [undefined, data];
  if (!data && !queryData) throw new CliError('--data <beir folder> or --query-data <file> is required');
  if (str('index-data') && !queryData) throw new CliError('--index-data needs --query-data');
  if (!str('model')) throw new CliError("--model <bm25 | model folder> is required");
  if (values['exclude-self'] && values['no-exclude-self']) throw new CliError('give --exclude-self or --no-exclude-self, not both');
  const convention = (str('convention') ?? (queryData ? 'docarray' : 'trec')) as Convention;
  if (convention !== 'trec' && convention !== 'docarray') throw new CliError(`--convention must be trec or docarray, got '${convention}'`);
  let metrics: MetricName[] = [...METRIC_NAMES];
  try {
    if (str('metrics') !== undefined) metrics = parseMetricNames(str('metrics')!);
  } catch (e) {
    throw new CliError(`--metrics: ${(e as Error).message}`);
  }
  return {
    data,
    queryData,
    indexData: str('index-data'),
    split: str('split') ?? 'test',
    metrics,
    model: str('model')!,
    ks: intListOption('k', str('k'), [...DEFAULT_KS[convention]]),
    convention,
    json: values.json === true,
    saveRun: str('save-run'),
    k1: bm25Parameter('k1', str('k1'), 0.9, Infinity),
    b: bm25Parameter('b', str('b'), 0.4, 1),
    excludeSelf: values['exclude-self'] ? true : values['no-exclude-self'] ? false : undefined,
    batchSize: intOption('batch-size', str('batch-size'), 64),
  };
}

function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

function seconds(t0: number): string {
  return `${((performance.now() - t0) / 1000).toFixed(2)}s`;
}

// ------------------------------------------------------------------ retrieval

/** What is searched and judged: a BEIR split, or a set built from labeled / pair data. */
interface EvalData {
  queries: Query[];
  corpus: Document[];
  qrels: Qrels;
  excludeSelf: boolean;
}

function bm25Run(ds: EvalData, depth: number, s: Settings): Map<string, Ranked> {
  let t0 = performance.now();
  const builder = new Bm25Builder({ k1: s.k1, b: s.b });
  for (const d of ds.corpus) builder.add(d.id, beirText(d));
  const index = builder.build();
  log(`bm25 (k1=${s.k1}, b=${s.b}): indexed ${index.size} documents, ${index.vocabularySize} terms in ${seconds(t0)}`);
  t0 = performance.now();
  const run = new Map<string, Ranked>();
  for (const q of ds.queries) {
    const hits = index.search(q.text, depth + (ds.excludeSelf ? 1 : 0)).filter((h) => !(ds.excludeSelf && h.id === q.id));
    run.set(q.id, { ids: hits.slice(0, depth).map((h) => h.id), scores: hits.slice(0, depth).map((h) => h.score) });
  }
  log(`bm25: searched ${ds.queries.length} queries in ${seconds(t0)}`);
  return run;
}

function progressBar(total: number): { update(done: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({ stream: process.stderr, format: 'encoding [{bar}] {value}/{total} texts  {eta}s left' });
  bar.start(total, 0);
  return { update: (d) => bar.update(d), stop: () => bar.stop() };
}

async function denseEvaluation(ds: EvalData, s: Settings, depth: number): Promise<Evaluation> {
  const { loadEncoder } = await import('../models/index.js'); // lazily: onnxruntime only for dense models
  let encoder: Encoder & { release?: () => Promise<void> };
  try {
    encoder = await loadEncoder(s.model, { batchSize: s.batchSize, allowEmpty: true });
  } catch (e) {
    // the model's own problems (missing files, a damaged config) are the user's; a bug keeps its stack
    const user = userError(e);
    if (!user) throw e;
    throw new CliError(`cannot load model '${s.model}': ${user.message}`);
  }
  const withPrompts = encoder as Partial<ModelsEncoder>;
  const qp = withPrompts.promptNameFor?.('query');
  const dp = withPrompts.promptNameFor?.('document');
  const modelSim = withPrompts.similarity;
  if (modelSim && modelSim !== 'cosine' && modelSim !== 'dot') {
    await encoder.release?.();
    throw new CliError(`${s.model} declares similarity_fn_name '${modelSim}'; synthtune ranks by cosine or dot product only`);
  }
  if (withPrompts.describeSide) log(`${path.basename(s.model)}: queries: ${withPrompts.describeSide('query')}; documents: ${withPrompts.describeSide('document')}`);
  if (modelSim) log(`${path.basename(s.model)}: similarity ${modelSim} (similarity_fn_name)`);
  if (qp || dp) log(`${path.basename(s.model)}: queries with prompt ${qp ? JSON.stringify(withPrompts.prompts![qp]) : '(none)'}, documents with ${dp ? JSON.stringify(withPrompts.prompts![dp]) : '(none)'}`);
  const t0 = performance.now();
  const bar = progressBar(ds.queries.length + ds.corpus.length);
  try {
    const res = await evaluate({
      encoder, queries: ds.queries, corpus: ds.corpus, qrels: ds.qrels, ks: s.ks, convention: s.convention, normalize: modelSim === 'cosine',
      metrics: s.metrics, excludeSelf: ds.excludeSelf, depth, batchSize: s.batchSize * 16, onProgress: (d) => bar.update(d),
    });
    bar.stop();
    log(`${path.basename(s.model)}: encoded and searched in ${seconds(t0)}`);
    return res;
  } finally {
    bar.stop();
    await encoder.release?.();
  }
}

// ------------------------------------------------------------------ output

function table(mean: Record<string, number>, ks: number[], metrics: readonly string[]): string {
  const w = Math.max(10, ...metrics.map((m) => m.length + 2));
  const head = ['metric'.padEnd(w), ...ks.map((k) => `@${k}`.padStart(9))].join('');
  const rows = metrics.map((m) => [m.padEnd(w), ...ks.map((k) => (mean[`${m}@${k}`] ?? 0).toFixed(4).padStart(9))].join(''));
  return [head, ...rows].join('\n');
}

function orderedMean(mean: Record<string, number>, ks: number[], metrics: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics) for (const k of ks) out[`${m}@${k}`] = mean[`${m}@${k}`] ?? 0;
  return out;
}

function* runLines(run: ReadonlyMap<string, Ranked>, tag: string): Generator<string> {
  for (const [qid, r] of run) {
    const n = Math.min(RUN_DEPTH, r.ids.length);
    for (let i = 0; i < n; i++) yield `${qid} Q0 ${r.ids[i]} ${i + 1} ${r.scores[i]} ${tag}\n`;
  }
}

function runTag(model: string): string {
  const tag = model === 'bm25' ? 'synthtune-bm25' : `synthtune-${path.basename(path.resolve(model))}`;
  return tag.replace(/\s+/g, '_');
}

async function beirData(s: Settings): Promise<EvalData> {
  const ds = await readBeir(s.data!, { split: s.split });
  log(`${path.basename(path.resolve(s.data!))} (${s.split}): ${ds.queries.length} queries, ${ds.corpus.length} documents`);
  return { ...ds, excludeSelf: s.excludeSelf ?? false };
}

/** Labeled or pair data as Finetuner's EvaluationCallback uses it (lib/data/relevance.ts). */
async function labeledData(s: Settings, values: Record<string, unknown>): Promise<EvalData> {
  const opts = csvOptions(values);
  const q = await readTrainingData(s.queryData!, opts);
  const x = s.indexData ? await readTrainingData(s.indexData, opts) : undefined;
  const set = evaluationSet(q.data, x?.data, { excludeSelf: s.excludeSelf, queryFile: s.queryData, indexFile: s.indexData });
  log(`${path.basename(s.queryData!)}: ${q.data.kind} (${q.why[q.why.length - 1]}); ${set.queries.length} queries, ${set.corpus.length} index items; ${set.how}; convention ${s.convention}`);
  return set;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCli(argv, OPTIONS);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const s = settings(values);
  const t0 = performance.now();
  const ds = s.data ? await beirData(s) : await labeledData(s, values);
  log(`read in ${seconds(t0)}`);
  // BEIR corpora hold documents with neither title nor text; they are searched as empty texts
  // (an empty BM25 document, the embedding of the special tokens alone), as BEIR's evaluation does
  const empty = ds.corpus.filter((d) => beirText(d) === '').map((d) => d.id);
  if (empty.length) log(`${empty.length} document(s) with no title and no text (${empty.slice(0, 3).map((id) => `'${id}'`).join(', ')}${empty.length > 3 ? ', …' : ''}): searched as empty texts`);
  const depth = Math.max(...s.ks, s.saveRun ? RUN_DEPTH : 1);
  const t1 = performance.now();
  const res = s.model === 'bm25'
    ? evaluateRankings(bm25Run(ds, depth, s), { qrels: ds.qrels, ks: s.ks, convention: s.convention, metrics: s.metrics })
    : await denseEvaluation(ds, s, depth);
  log(`evaluated ${res.evaluated} queries (${res.skipped.length} without relevant documents skipped) in ${seconds(t1)}`);
  if (s.saveRun) await writeFileAtomic(s.saveRun, runLines(res.run, runTag(s.model)));
  const mean = orderedMean(res.mean, s.ks, s.metrics);
  process.stdout.write((s.json ? JSON.stringify(mean) : table(mean, s.ks, s.metrics)) + '\n');
  return 0;
}
