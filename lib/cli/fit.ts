/**
 * `synthtune fit`: train a student on synthesized data (Margin-MSE) or on pairs, scored pairs or
 * labeled items in any form the readers take (lib/training/run.ts fitRun; the loss follows the data
 * kind, --loss overrides it).
 *
 *   synthtune fit --train <run folder | train.jsonl | data file> [--loss <name>] [--dialect --is-labeled --size --sampling-rate]
 *   synthtune fit --train <run folder | train.jsonl> --method adapter --model <model folder> --out <folder>
 *   synthtune fit --train <run folder | train.jsonl> --method static (--tokenizer <folder> | --model <folder>)
 *                 [--dim 256] --out <folder>
 *   synthtune fit --train <run folder | train.jsonl> --method full --model <BERT or DistilBERT model folder> --out <folder>
 *                 [--max-length 128] [--threads n] [--device auto|cpu|cuda] [--precision tf32|fp32]
 *                 [--epochs --lr --batch-size --seed --margin-scale --score dot|cosine --init idf|random --self-negatives N --no-hold-out]
 *                 [--eval-data <BEIR folder> --eval-split test --k 10,100]
 *
 * Progress goes to stderr; the summary (and, with --eval-data, one line per metric
 * "<metric>@<k>: before fine-tuning: X after fine-tuning: Y") to stdout, or one JSON object
 * with --json. The run folder <out> holds logs.jsonl, status.json, metrics.json, checkpoint.bin;
 * the exported model is <out>/model. Running the same command again resumes an interrupted fit
 * (--restart starts over).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { METRIC_NAMES, parseMetricNames, type MetricName } from '../evaluation/metrics';
import { LOSS_NAMES, type LossName } from '../training/losses';
import type { OptimizerName } from '../training/optim';
import { CliError, csvOptions, csvUsage, CSV_OPTIONS, intListOption, intOption, numberOption, parseCli } from './util';

const USAGE = `usage: synthtune fit --train <run folder | train.jsonl | data file> --method adapter|static|full --out <folder> [options]

  --train <path>          a synthesis run folder (holding train.jsonl) or a train.jsonl file (Margin-MSE),
                          or training data in any form synthtune reads (CSV/TSV, JSON, JSONL,
                          DocumentArray records): (query, document) pairs, scored pairs (text, text,
                          score) or labeled items (text, label); see synthtune inspect
  --loss <name>           (auto) from the data: MarginMSELoss (synthesized rows),
                          MultipleNegativesRankingLoss (pairs; also synthesized rows' query-positive
                          pairs), MultipleNegativesSymmetricRankingLoss, CoSENTLoss (scored pairs),
                          CosineSimilarityLoss (scored pairs), SupConLoss (labeled items)
  --loss-scale <x>        similarity scale of MultipleNegativesRankingLoss, CoSENTLoss and SupConLoss
                          (default 20 on cosine, 1 on dot)
${csvUsage(26)}
  --method <m>            adapter: a linear map on a frozen ONNX encoder (needs --model)
                          static: a static token-embedding model (needs --tokenizer or --model)
                          full: the whole BERT encoder, trained in the native core (needs --model)
  --model <folder>        adapter: the frozen encoder; static: a folder whose tokenizer to use;
                          full: the BERT or DistilBERT model folder to fine-tune (its weights are imported only
                          if the native forward pass reproduces onnxruntime's embeddings)
  --tokenizer <folder>    static: folder with tokenizer.json (default: --model)
  --dim <n>               static: embedding dimension (default 256)
  --rank <n>              adapter: low-rank update of this rank (default: full d×d)
  --both-sides            adapter: apply to documents too (default: queries only)
  --max-length <n>        full: truncate texts to n tokens (default: the model's max length)
  --threads <n>           full: native CPU threads (default: all cores)
  --device <d>            full: auto (default: the GPU when the CUDA build and a device are present),
                          cpu or cuda (an error without the CUDA backend)
  --precision <p>         full on cuda: tf32 (default, tensor-core matmuls) or fp32
  Unset, the options marked (auto) are derived from the data; the values chosen, and why, are
  printed and written to <out>/config.json.
  --epochs <n>            (auto) enough epochs for 1000 steps (static), 500 (adapter), 300 (full);
                          at most 10
  --lr <x>                learning rate (auto: 2e-5 for full, 1e-3 for adapter, static: 1% of the
                          RMS of its initial table entries)
  --batch-size <n>        examples per step (default 32)
  --seed <n>              default 0
  --optimizer <o>         AdamW (default) or Adam
  --weight-decay <x>      default 0.01 with AdamW
  --warmup <x>            warm-up steps (≥ 1) or fraction of all steps (< 1) (default 0.1 for full, else 0)
  --decay <d>             linear (default), cosine or constant learning-rate schedule
  --score <s>             dot or cosine similarity in the loss and the evaluation (default: cosine
                          for static, dot for adapter and full)
  --margin-scale <x>      Margin-MSE: multiply every margin by x (auto: the spread of the untrained student's
                          margins over the teacher's, when they correlate; else a fixed temperature)
  --init <i>              static: idf (default: random vectors scaled by √ of each token's BM25 idf over
                          the training documents) or random (N(0, 1/dim))
  --self-negatives <n>    static, on rows BM25 labelled: per query, n documents the untrained student ranks
                          highest among the training documents (outside the query's own candidates),
                          labelled by BM25, as extra rows (default: as many as the rows hold per query;
                          0: none)
  --no-hold-out           Margin-MSE: train on every query (default: with ≥ 40 queries, 10% are held out; the
                          final weights are kept unless their ranking agreement with the teacher on them falls
                          clearly below the best epoch's, the untrained weights included)
  --max-examples <n>      use at most the first n training examples
  --eval-data <path>      what to evaluate on before and after training: a BEIR folder, or a labeled
                          data file (relevant = items with the query's label, the query itself
                          excluded) or a pairs file (relevant = each query's documents), as
                          Finetuner's EvaluationCallback; read with the CSV options
  --eval-split <name>     qrels split of --eval-data (default test)
  --k <list>              metric cut-offs (default 10,100)
  --convention <c>        metric definitions of the evaluation: trec (default for a BEIR folder) or
                          docarray (default for a data file)
  --metrics <list>        metrics to report (default all: ${METRIC_NAMES.join(',')})
  --out <folder>          run folder; the model is written to <out>/model
  --restart               start over instead of resuming a checkpoint in <out>
  --quiet                 no progress lines
  --json                  print the result as one JSON object
`;

const OPTIONS = {
  train: { type: 'string' },
  loss: { type: 'string' },
  'loss-scale': { type: 'string' },
  convention: { type: 'string' },
  ...CSV_OPTIONS,
  method: { type: 'string' },
  model: { type: 'string' },
  tokenizer: { type: 'string' },
  dim: { type: 'string' },
  rank: { type: 'string' },
  'both-sides': { type: 'boolean' },
  'max-length': { type: 'string' },
  threads: { type: 'string' },
  device: { type: 'string' },
  precision: { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  'batch-size': { type: 'string' },
  seed: { type: 'string' },
  optimizer: { type: 'string' },
  'weight-decay': { type: 'string' },
  warmup: { type: 'string' },
  decay: { type: 'string' },
  score: { type: 'string' },
  'margin-scale': { type: 'string' },
  init: { type: 'string' },
  'no-hold-out': { type: 'boolean' },
  'self-negatives': { type: 'string' },
  'max-examples': { type: 'string' },
  'eval-data': { type: 'string' },
  'eval-split': { type: 'string' },
  k: { type: 'string' },
  metrics: { type: 'string' },
  out: { type: 'string' },
  restart: { type: 'boolean' },
  quiet: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

function need(v: string | undefined, what: string): string {
  if (!v) throw new CliError(`${what} is required\n\n${USAGE}`);
  return v;
}

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = numberOption(name, v, 0);
  if (!(x > 0)) throw new CliError(`--${name} must be > 0, got '${v}'`);
  return x;
}

function existing(p: string, flag: string, kind: 'file or folder' | 'folder'): string {
  if (!fs.existsSync(p)) throw new CliError(`--${flag}: ${p} does not exist`);
  if (kind === 'folder' && !fs.statSync(p).isDirectory()) throw new CliError(`--${flag}: ${p} is not a folder`);
  return p;
}

function metricList(v: string | undefined): MetricName[] | undefined {
  if (v === undefined) return undefined;
  try {
    return parseMetricNames(v);
  } catch (e) {
    throw new CliError(`--metrics: ${(e as Error).message}`);
  }
}

function initOption(v: string | undefined, method: string): 'idf' | 'random' | undefined {
  if (v === undefined) return undefined;
  if (method !== 'static') throw new CliError('--init is for --method static');
  if (v !== 'idf' && v !== 'random') throw new CliError(`--init must be idf or random, got '${v}'`);
  return v;
}

function selfNegativesOption(v: string | undefined, method: string): number | undefined {
  if (v === undefined) return undefined;
  if (method !== 'static') throw new CliError('--self-negatives is for --method static');
  return intOption('self-negatives', v, 0, 0);
}

function warmupOption(v: string | undefined): number {
  if (v === undefined) return 0;
  const x = numberOption('warmup', v, 0);
  if (!(x >= 0) || (x >= 1 && !Number.isInteger(x))) throw new CliError(`--warmup must be a fraction in [0, 1) or a whole number of steps, got '${v}'`);
  return x;
}

type Values = ReturnType<typeof parseCli<typeof OPTIONS>>['values'];

/** The fitRun options of a command line (exported for tests). */
export function fitOptions(v: Values) {
  const train = existing(need(v.train, '--train <run folder | train.jsonl>'), 'train', 'file or folder');
  const loss = v.loss;
  if (loss !== undefined && !(LOSS_NAMES as readonly string[]).includes(loss)) throw new CliError(`--loss must be one of ${LOSS_NAMES.join(', ')}, got '${loss}'`);
  const convention = v.convention;
  if (convention !== undefined && convention !== 'trec' && convention !== 'docarray') throw new CliError(`--convention must be trec or docarray, got '${convention}'`);
  if (convention !== undefined && !v['eval-data']) throw new CliError('--convention needs --eval-data <BEIR folder | data file>');
  const method = need(v.method, '--method adapter|static|full');
  if (method !== 'adapter' && method !== 'static' && method !== 'full') throw new CliError(`--method must be adapter, static or full, got '${method}'`);
  const out = need(v.out, '--out <folder>');
  if (method !== 'full' && (v['max-length'] !== undefined || v.threads !== undefined)) throw new CliError('--max-length and --threads are for --method full');
  if (method !== 'full' && (v.device !== undefined || v.precision !== undefined)) throw new CliError('--device and --precision are for --method full');
  if (v.device !== undefined && !['auto', 'cpu', 'cuda'].includes(v.device)) throw new CliError(`--device must be auto, cpu or cuda, got '${v.device}'`);
  if (v.precision !== undefined && v.precision !== 'tf32' && v.precision !== 'fp32') throw new CliError(`--precision must be tf32 or fp32, got '${v.precision}'`);
  if (v.precision === 'tf32' && v.device === 'cpu') throw new CliError('--precision tf32 needs --device cuda or auto (the CPU model computes in fp32)');
  if (method === 'full') {
    if (!v.model) throw new CliError('--method full needs --model <model folder> (the BERT or DistilBERT model to fine-tune)');
    existing(v.model, 'model', 'folder');
    for (const f of ['config.json', 'tokenizer.json']) {
      if (!fs.existsSync(path.join(v.model, f))) throw new CliError(`--model: ${v.model} holds no ${f}`);
    }
    if (v.tokenizer !== undefined || v.dim !== undefined) throw new CliError('--tokenizer and --dim are for --method static (full fine-tunes the model with its own tokenizer)');
    if (v.rank !== undefined || v['both-sides']) throw new CliError('--rank and --both-sides are for --method adapter');
  } else if (method === 'adapter') {
    if (!v.model) throw new CliError('--method adapter needs --model <model folder> (the frozen encoder to adapt)');
    if (v.tokenizer !== undefined || v.dim !== undefined) throw new CliError('--tokenizer and --dim are for --method static (the adapter keeps the encoder\'s dimension)');
  } else {
    if (!v.model && !v.tokenizer) throw new CliError('--method static needs --tokenizer <folder> (or --model <folder> whose tokenizer to use)');
    if (v.rank !== undefined || v['both-sides']) throw new CliError('--rank and --both-sides are for --method adapter');
  }
  // a model folder, or a Hugging Face hub id (owner/name) that loadEncoder resolves from the cache
  if (v.model && !fs.existsSync(v.model) && !/^[\w.-]+\/[\w.-]+$/.test(v.model)) existing(v.model, 'model', 'folder');
  const tokenizer = v.tokenizer ?? (method === 'static' ? v.model : undefined);
  if (tokenizer && method === 'static') {
    existing(tokenizer, v.tokenizer ? 'tokenizer' : 'model', 'folder');
    if (!fs.existsSync(path.join(tokenizer, 'tokenizer.json'))) throw new CliError(`--${v.tokenizer ? 'tokenizer' : 'model'}: ${tokenizer} holds no tokenizer.json`);
  }
  if (v['eval-split'] !== undefined && !v['eval-data']) throw new CliError('--eval-split needs --eval-data <BEIR folder>');
  if (v['eval-data'] && fs.existsSync(v['eval-data']) && !fs.statSync(v['eval-data']).isDirectory()) {
    // a labeled or pairs data file (read by fitRun, which names what is wrong with it)
    if (v['eval-split'] !== undefined) throw new CliError('--eval-split is for a BEIR folder; a data file given as --eval-data has no splits');
  } else if (v['eval-data']) {
    const dir = existing(v['eval-data'], 'eval-data', 'folder');
    for (const f of ['corpus.jsonl', 'queries.jsonl', path.join('qrels', `${v['eval-split'] ?? 'test'}.tsv`)]) {
      if (!fs.existsSync(path.join(dir, f))) throw new CliError(`--eval-data: ${dir} is not a BEIR folder with that split (no ${f})`);
    }
  }
  const score = v.score;
  if (score !== undefined && score !== 'dot' && score !== 'cosine') throw new CliError(`--score must be dot or cosine, got '${score}'`);
  const optimizer = v.optimizer ?? 'AdamW';
  if (optimizer !== 'AdamW' && optimizer !== 'Adam') throw new CliError(`--optimizer must be AdamW or Adam, got '${optimizer}'`);
  const decay = v.decay ?? 'linear';
  if (!['linear', 'cosine', 'constant'].includes(decay)) throw new CliError(`--decay must be linear, cosine or constant, got '${decay}'`);
  const warmup = v.warmup === undefined ? undefined : warmupOption(v.warmup);
  const wd = v['weight-decay'] === undefined ? undefined : numberOption('weight-decay', v['weight-decay'], 0);
  if (wd !== undefined && wd < 0) throw new CliError(`--weight-decay must be ≥ 0, got '${v['weight-decay']}'`);
  return {
    train,
    read: csvOptions(v),
    loss: loss as LossName | undefined,
    lossScale: positive('loss-scale', v['loss-scale']),
    evalConvention: convention as 'trec' | 'docarray' | undefined,
    method: method as 'adapter' | 'static' | 'full',
    model: method === 'adapter' || method === 'full' ? v.model : undefined,
    maxLength: v['max-length'] === undefined ? undefined : intOption('max-length', v['max-length'], 0, 2),
    threads: v.threads === undefined ? undefined : intOption('threads', v.threads, 0, 1),
    device: v.device as 'auto' | 'cpu' | 'cuda' | undefined,
    precision: v.precision as 'tf32' | 'fp32' | undefined,
    tokenizer: method === 'static' ? tokenizer : undefined,
    dim: method === 'static' ? intOption('dim', v.dim, 256) : undefined,
    rank: v.rank === undefined ? undefined : intOption('rank', v.rank, 0),
    sides: (v['both-sides'] ? 'both' : 'query') as 'query' | 'both',
    epochs: v.epochs === undefined ? undefined : intOption('epochs', v.epochs, 1),
    learningRate: positive('lr', v.lr),
    batchSize: intOption('batch-size', v['batch-size'], 32),
    seed: intOption('seed', v.seed, 0, 0),
    optimizer: optimizer as OptimizerName,
    weightDecay: wd,
    // unset parts of the schedule are left to fitRun's per-method defaults
    scheduler: warmup === undefined && v.decay === undefined ? undefined
      : { ...(warmup === undefined ? {} : { warmup }), decay: decay as 'linear' | 'cosine' | 'constant' },
    score: score as 'dot' | 'cosine' | undefined,
    marginScale: positive('margin-scale', v['margin-scale']),
    init: initOption(v.init, method),
    holdOut: v['no-hold-out'] ? false : undefined,
    selfNegatives: selfNegativesOption(v['self-negatives'], method),
    maxExamples: v['max-examples'] === undefined ? undefined : intOption('max-examples', v['max-examples'], 0),
    evalData: v['eval-data'],
    evalSplit: v['eval-data'] ? v['eval-split'] ?? 'test' : undefined,
    evalKs: intListOption('k', v.k, [10, 100]),
    evalMetrics: metricList(v.metrics),
    out,
    resume: !v.restart,
  };
}

function fmt(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(4);
}

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseCli(argv, OPTIONS);
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const opts = fitOptions(v);
  const { fitRun } = await import('../training/run.js'); // lazily: onnxruntime only once arguments are fine
  const t0 = performance.now();
  const log = v.quiet ? null : (line: string) => process.stderr.write(`${line}\n`);
  // library errors are typed (DataError, ModelError, RunError, OptionsError...): main prints them as one line, exit 2
  const r = await fitRun({ ...opts, log });
  const seconds = (performance.now() - t0) / 1000;
  const keys = [...new Set([...Object.keys(r.before ?? {}), ...Object.keys(r.after ?? {})])];
  if (v.json) {
    process.stdout.write(JSON.stringify({
      status: r.status, method: opts.method, loss: r.config.loss.value, data: r.config.data.kind, examples: r.examples, epochs: r.epochs, steps: r.steps, epochLosses: r.epochLosses,
      before: r.before, after: r.after, stopReason: r.stopReason, resumedFrom: r.resumedFrom,
      out: path.resolve(opts.out), model: path.resolve(r.modelDir), documentModel: r.documentModel, config: r.config, seconds,
    }) + '\n');
  } else {
    const lines = [
      `${r.status}: ${opts.method} student, ${r.examples} examples, ${r.epochs} epoch(s), ${r.steps} steps in ${seconds.toFixed(1)}s (${r.config.loss.value} on ${r.config.data.kind} data)`,
      `model: ${path.resolve(r.modelDir)}${opts.method === 'adapter' && opts.sides === 'query'
        ? ' (query-only adapter: queries go through it, documents through the unchanged base — encodeQueries / encodeDocuments, or encode_query / encode_document in sentence-transformers)' : ''}`,
    ];
    if (keys.length) {
      lines.push('');
      const w = Math.max(...keys.map((k) => k.length));
      for (const k of keys) lines.push(`${k.padEnd(w)}  before fine-tuning: ${fmt(r.before?.[k])}  after fine-tuning: ${fmt(r.after?.[k])}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  }
  return r.status === 'interrupted' ? 1 : 0;
}
