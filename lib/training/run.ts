/**
 * fitRun(): the whole `synthtune fit` job, files in, model folder out.
 *
 * The training data is any form lib/data/forms.ts reads, and the loss follows its kind (`loss`
 * overrides it): synthesized margins (a run folder or train.jsonl) → MarginMSELoss; (query,
 * document) pairs → MultipleNegativesRankingLoss; scored pairs → CoSENTLoss; labeled items →
 * SupConLoss. The margin scale and the held-out agreement check are Margin-MSE's and apply only
 * to it. config.json records the loss, the data kind, and why each was chosen.
 *
 *   train.jsonl (a synthesis run folder or the file) → student inputs (adapter: every text encoded
 *   once by the frozen encoder; static: every text tokenised once) → fit() with an
 *   EvaluationCallback on a BEIR split when given → <out>/model: the exported model folder.
 *
 * full: the model folder's weights are imported into the native encoder (accepted only when its
 *   forward pass reproduces onnxruntime's embeddings on the folder's ONNX file), every text is
 *   tokenised once, the whole encoder is trained, and the folder is written back through the ONNX
 *   builder (tokenizer files copied, config.json, onnx/model.onnx, pooling).
 *
 * The CLI parses flags and calls this; the demo calls it after synthesis. Everything else a run
 * leaves in <out> is fit()'s (logs.jsonl, status.json, metrics.json, checkpoint.bin, student/).
 */
import { readModelJson } from '../models/json-file';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { beirText, readBeir } from '../data/beir';
import { readTrainingData, type DataReading, type ReadDataOptions } from '../data/forms';
import { readLines } from '../data/lines';
import { evaluationSet } from '../data/relevance';
import type { BeirDataset, Document, Qrels, Query } from '../data/types';
import type { MetricName } from '../evaluation';
import { loadBackend } from '../kernels/loader';
import { loadEncoder, type Encoder } from '../models/encoder';
import { folderOnnx } from '../models/import';
import { readModelFolder, sidePromptName } from '../models/st-folder';
import { TextTokenizer } from '../models/tokenizer';
import { dataGuidance } from '../synthesis/pseudo-queries';
import { autoEpochs, autoLearningRate, defaultWarmup, heldOutAgreement, holdOutByQuery, HOLDOUT_MIN_QUERIES, idfStaticInit, idfWeights, MARGIN_SPREAD, marginScale, tightFrame, optionChoice, studentMargins, type Choice, type FitMethod } from './auto';
import { EvaluationCallback, KeepBestHeldOut, type Callback } from './callbacks';
import { selfMinedNegatives } from './self-negatives';
import { documentInputs, encodeExamples, encodeTextItems, firstItems, itemInputs, mapTextItems, pairsOfMargins, sideTexts, textItems, tokenizeExamples, type TextExample, type TextItems } from './data';
import type { Convention } from '../evaluation/metrics';
import { LOSS_NAMES, type LossName, type TrainItem } from './losses';
import { retrievalEvaluator } from './evaluation';
import { exportStatic } from './export';
import { importFullStudent } from './import-weights';
import { checkFitFolder, fit, markFitFolder, type FitResult } from './fit';
import { DataError } from '../data/errors';
import { ModelError } from '../models/errors';
import { isUserError, OptionsError } from '../util/errors';
import { claimFolder } from '../util/run-folder';
import { writeJsonAtomic } from './io';
import type { Score } from './losses/margin-mse';
import { marginsOf, negativesOf, normalizeExample, type Example, type Student } from './student';
import type { OptimizerName, SchedulerSpec } from './optim';
import { AdapterStudent } from './students/adapter';
import { DenseHeadStudent } from './students/dense-head';
import { StaticStudent } from './students/static';

export interface FitRunOptions {
  /**
   * The training data: a synthesis run folder (holding train.jsonl) or a train.jsonl file, or any
   * file lib/data/forms.ts reads (CSV/TSV, JSON, JSONL, DocumentArray records) holding pairs,
   * scored pairs or labeled items.
   */
  train: string;
  /** Reader options of --train (CSV dialect, isLabeled, size, samplingRate). */
  read?: ReadDataOptions;
  /** The loss (default: from the data kind, see the file header). */
  loss?: LossName;
  /** Similarity scale of MultipleNegativesRankingLoss, CoSENTLoss and SupConLoss (default 20 on cosine, 1 on dot). */
  lossScale?: number;
  /** Metric definitions of the evaluation (default trec for a BEIR folder, docarray for a data file). */
  evalConvention?: Convention;
  method: 'adapter' | 'static' | 'full';
  /**
   * adapter: the frozen encoder (folder or hub id). static: a model folder whose tokenizer to use.
   * full: the BERT or DistilBERT model folder to fine-tune (model.safetensors and/or onnx/model.onnx, tokenizer, config.json).
   */
  model?: string;
  /** full: truncate texts to this many tokens (default: the model's max length). */
  maxLength?: number;
  /** full: native CPU threads (default: the pool's). */
  threads?: number;
  /** full: where to train — 'auto' (default: the GPU when the CUDA backend is loaded), 'cpu' or 'cuda'. */
  device?: 'cpu' | 'cuda' | 'auto';
  /** full on cuda: matmul arithmetic, 'tf32' (default) or 'fp32'. */
  precision?: 'fp32' | 'tf32';
  /** static: the tokenizer folder (default: model). */
  tokenizer?: string;
  /** static: embedding dimension (default 256). */
  dim?: number;
  /** adapter options. */
  rank?: number;
  bias?: boolean;
  sides?: 'query' | 'both';
  epochs?: number;
  learningRate?: number;
  batchSize?: number;
  seed?: number;
  optimizer?: OptimizerName;
  weightDecay?: number;
  scheduler?: SchedulerSpec;
  score?: 'dot' | 'cosine';
  /**
   * What to evaluate on before and after training: a BEIR folder (evalSplit), or a labeled or
   * pairs data file (Finetuner's EvaluationCallback: relevant = items of the query's label, the
   * query itself excluded; or the documents paired with each query).
   */
  evalData?: string;
  evalSplit?: string;
  /** Cut-offs of the reported metrics (default [10, 100]). */
  evalKs?: number[];
  evalMetrics?: MetricName[];
  /**
   * Multiply every margin by this. Default: derived from the data (./auto.ts: the spread of the
   * untrained student's margins over the teacher's). Margin-MSE is scale-sensitive: BM25 margins
   * run to tens, far beyond what a cosine (|s| ≤ 1) student scores.
   */
  marginScale?: number;
  /** static: the initial table, 'idf' (default: random vectors scaled by √ of their BM25 idf) or 'random' (N(0, 1/D)). */
  init?: 'idf' | 'random';
  /** Hold out 10% of the queries (with ≥ 40) and keep the best epoch by their Margin-MSE (default true). */
  holdOut?: boolean;
  /**
   * static, on rows BM25 labelled (a synthesis run with the BM25 scorer): per training query, this
   * many negatives mined by the untrained student among the rows' documents and labelled by BM25
   * (./self-negatives.ts). Default: as many as the rows hold per query; 0 turns it off.
   */
  selfNegatives?: number;
  /** Use at most this many training examples (the first ones). */
  maxExamples?: number;
  out: string;
  resume?: boolean;
  log?: ((line: string) => void) | null;
  callbacks?: Callback[];
}

export interface FitRunResult extends FitResult {
  /** The exported model folder (<out>/model). */
  modelDir: string;
  /** Where documents are encoded (the base encoder for a query-only adapter). */
  documentModel: string;
  examples: number;
  /** The settings used and where each came from (also <out>/config.json). */
  config: FitRunConfig;
}

/** train.jsonl rows as text examples (the synthesis format: query, positive, negative, margin). */
export async function readTrainRows(train: string, max = Infinity): Promise<TextExample[]> {
  const stat = await fsp.stat(train).catch(() => null);
  if (!stat) throw new DataError(train, undefined, 'does not exist (--train)');
  const file = stat.isDirectory() ? path.join(train, 'train.jsonl') : train;
  const rows: TextExample[] = [];
  for await (const { no, text } of readLines(file)) {
    if (!text.trim()) continue;
    let r: TextExample;
    try {
      r = JSON.parse(text) as TextExample;
    } catch (e) {
      throw new DataError(file, no, `bad JSON: ${(e as Error).message}`);
    }
    if (typeof r.query !== 'string' || typeof r.positive !== 'string') throw new DataError(file, no, 'query and positive must be strings');
    // checked here, with the line, rather than later as "example <index>"
    const negatives = negativesOf(r);
    const margins = marginsOf(r);
    if (!Array.isArray(negatives) || !negatives.length || negatives.some((n) => typeof n !== 'string')) throw new DataError(file, no, 'needs a negative (a string) or negatives (strings)');
    if (!Array.isArray(margins) || margins.length !== negatives.length) throw new DataError(file, no, `${negatives.length} negative(s) but ${Array.isArray(margins) ? margins.length : 0} margin(s)`);
    const bad = margins.findIndex((m) => typeof m !== 'number' || !Number.isFinite(m));
    if (bad >= 0) throw new DataError(file, no, `margin ${JSON.stringify(margins[bad])} is not a finite number`);
    rows.push(r);
    if (rows.length >= max) break;
  }
  if (rows.length === 0) throw new DataError(file, undefined, 'holds no examples');
  return rows;
}

function vocabSize(tokenizerDir: string, json: unknown): number {
  const vocab = (json as { model?: { vocab?: Record<string, number> | [string, number][] } }).model?.vocab;
  if (!vocab) throw new ModelError(`${tokenizerDir}/tokenizer.json: cannot read the vocabulary size (no model.vocab)`);
  // a loop, not Math.max(...ids): vocabularies of 150k+ tokens overflow the call stack as arguments
  let max = Array.isArray(vocab) ? vocab.length - 1 : -1;
  if (!Array.isArray(vocab)) for (const id of Object.values(vocab)) if (id > max) max = id;
  for (const t of (json as { added_tokens?: { id: number }[] }).added_tokens ?? []) if (t.id > max) max = t.id;
  return max + 1;
}

function rows(m: Float32Array, n: number, D: number): Float32Array[] {
  return Array.from({ length: n }, (_, i) => m.subarray(i * D, (i + 1) * D));
}

async function encodeTexts(enc: Encoder, texts: string[], side: 'query' | 'document', bs = 64): Promise<Float32Array> {
  const out = new Float32Array(texts.length * enc.dim);
  const f = side === 'query' ? enc.encodeQueries : enc.encodeDocuments;
  for (let i = 0; i < texts.length; i += bs) out.set(await f(texts.slice(i, i + bs)), i * enc.dim);
  return out;
}

/** Says which prompts the model puts in front of queries and documents, when it has any. */
function logPrompts(enc: Pick<Encoder, 'promptNameFor' | 'prompts' | 'modelDir'>, print: (l: string) => void): void {
  const q = enc.promptNameFor('query');
  const d = enc.promptNameFor('document');
  if (q || d) print(`fit: prompts of ${enc.modelDir}: queries ${q ? JSON.stringify(enc.prompts[q]) : '(none)'}, documents ${d ? JSON.stringify(enc.prompts[d]) : '(none)'}`);
}

/**
 * Fixed per-method starting points (what autoLearningRate gives adapter and full; static's rate is
 * derived from its table, see ./auto.ts). Kept for callers that want the plain numbers.
 */
export function methodDefaults(method: FitRunOptions['method']): { learningRate: number; warmup: number } {
  return method === 'full' ? { learningRate: 2e-5, warmup: 0.1 } : { learningRate: 1e-3, warmup: 0 };
}

/** The schedule with the method's warm-up filled in where the caller left it unset. */
export function withDefaultWarmup(s: SchedulerSpec | undefined, warmup: number): SchedulerSpec | undefined {
  if (warmup === 0) return s;
  if (s === undefined) return { warmup, decay: 'linear' };
  if (typeof s === 'string') return { warmup, decay: s };
  return s.warmup === undefined ? { ...s, warmup } : s;
}

/** The settings a run used, each with where it came from; written to <out>/config.json. */
export interface FitRunConfig {
  method: FitRunOptions['method'];
  /** The training data: its kind, how it was read and why. */
  data: { kind: string; file: string; format: string; why: string[] };
  loss: Choice<LossName>;
  examples: number;
  heldOutExamples: number;
  score: Choice<Score>;
  /** Margin-MSE only (null for the other losses). */
  marginScale: (Choice<number> & { correlation?: number }) | null;
  learningRate: Choice<number>;
  epochs: Choice<number>;
  batchSize: number;
  scheduler: SchedulerSpec | 'linear';
  optimizer: OptimizerName;
  weightDecay: number | null;
  seed: number;
  init?: Choice<'idf' | 'random'>;
  /** static: negatives per query mined by the untrained student (0: none). */
  selfNegatives?: Choice<number>;
  /** How many of `examples` those are (the rest came from the training data). */
  selfMinedExamples?: number;
  heldOut: Choice<number>;
}

/**
 * The score a pretrained model is trained with by default: the similarity its folder declares
 * (similarity_fn_name, what sentence-transformers, evaluate and synthesize score it with), so
 * training, evaluation and the export agree; dot (GPL's) when it declares none or another one.
 */
function declaredScore(similarity: string | undefined, dir: string): Choice<Score> {
  if (similarity === 'cosine' || similarity === 'dot') {
    return { value: similarity, source: 'auto', why: `${dir} declares similarity_fn_name '${similarity}'` };
  }
  return { value: 'dot', source: 'auto', why: similarity ? `${dir} declares '${similarity}', which Margin-MSE does not train: dot-product scores (GPL)` : `${dir} declares no similarity: dot-product scores (GPL)` };
}

/** The evaluation data of a run: a BEIR split, or an evaluation set from labeled or pairs data. */
export interface EvalData {
  queries: Query[];
  corpus: Document[];
  qrels: Qrels;
  /** Never retrieve the index item with the query's own id (labeled data, as Finetuner's exclude_self). */
  excludeSelf: boolean;
  /** The metric definitions unless evalConvention says otherwise: trec for BEIR, docarray for Finetuner-style data. */
  convention: Convention;
  /** How relevance was defined (data files only). */
  how?: string;
}

/**
 * --eval-data: a BEIR folder (its evalSplit), or a labeled / pairs data file read as Finetuner's
 * EvaluationCallback does (lib/data/relevance.ts: relevant = same label, the query itself
 * excluded; or the documents paired with each query).
 */
export async function readEvalData(o: Pick<FitRunOptions, 'evalData' | 'evalSplit' | 'read' | 'seed'>): Promise<EvalData> {
  const p = o.evalData as string;
  const stat = await fsp.stat(p).catch(() => null);
  if (!stat) throw new DataError(p, undefined, 'does not exist (--eval-data)');
  if (stat.isDirectory()) {
    const b: BeirDataset = await readBeir(p, { split: o.evalSplit ?? 'test' });
    return { queries: b.queries, corpus: b.corpus, qrels: b.qrels, excludeSelf: false, convention: 'trec' };
  }
  const r = await readTrainingData(p, { seed: o.seed, ...o.read });
  if (r.data.kind !== 'labeled' && r.data.kind !== 'pairs') {
    throw new DataError(p, undefined, `evaluation data holds ${r.data.kind} data; evaluation needs a BEIR folder, labeled items (relevant = same label) or (query, document) pairs`);
  }
  const e = evaluationSet(r.data, undefined, { queryFile: p });
  return { queries: e.queries, corpus: e.corpus, qrels: e.qrels, excludeSelf: e.excludeSelf, convention: 'docarray', how: e.how };
}

/** The training data of a run: synthesized rows (Margin-MSE) or the text items of another loss. */
export interface TrainSet {
  loss: Choice<LossName>;
  data: FitRunConfig['data'];
  /** Synthesized rows when the loss is Margin-MSE, else null. */
  rows: TextExample[] | null;
  /** The items of the other losses, else null. */
  items: TextItems | null;
}

/** The losses each kind of training data can train with; the first is the default. */
export const KIND_LOSSES: Record<'margins' | 'pairs' | 'scored' | 'labeled', readonly LossName[]> = {
  margins: ['MarginMSELoss', 'MultipleNegativesRankingLoss', 'MultipleNegativesSymmetricRankingLoss'],
  pairs: ['MultipleNegativesRankingLoss', 'MultipleNegativesSymmetricRankingLoss'],
  scored: ['CoSENTLoss', 'CosineSimilarityLoss'],
  labeled: ['SupConLoss'],
};

const KIND_LOSS_WHY: Record<keyof typeof KIND_LOSSES, string> = {
  margins: 'synthesized rows with the teacher\'s margins: Margin-MSE (GPL)',
  pairs: '(query, document) pairs: in-batch negatives (sentence-transformers\' default for pairs)',
  scored: 'scored pairs: CoSENT (sentence-transformers\' recommended loss for scored pairs)',
  labeled: 'labeled items: supervised contrastive loss, items of one label are positives of each other',
};

/** True when the path is a synthesis run folder or a JSONL file whose first record is a synthesized row. */
async function synthesizedRows(train: string): Promise<boolean> {
  const stat = await fsp.stat(train).catch(() => null);
  if (!stat) throw new DataError(train, undefined, 'does not exist (--train)');
  if (stat.isDirectory()) return fsp.access(path.join(train, 'train.jsonl')).then(() => true, () => false);
  if (!/\.(jsonl|ndjson)$/i.test(train)) return false;
  for await (const { text } of readLines(train)) {
    if (!text.trim()) continue;
    try {
      const r = JSON.parse(text) as Record<string, unknown>;
      return typeof r === 'object' && r !== null && typeof r.query === 'string' && typeof r.positive === 'string';
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * Reads --train (every form lib/data/forms.ts reads) and picks the loss from its kind unless
 * o.loss names one; a loss the kind cannot train is an error that lists those it can.
 */
export async function readTrainSet(o: Pick<FitRunOptions, 'train' | 'read' | 'loss' | 'maxExamples' | 'seed'>): Promise<TrainSet> {
  if (o.loss !== undefined && !(LOSS_NAMES as readonly string[]).includes(o.loss)) throw new OptionsError(`fit: unknown loss '${o.loss}' (${LOSS_NAMES.join(', ')})`);
  let reading: DataReading | null = null;
  let rows: TextExample[] | null = null;
  if (await synthesizedRows(o.train)) {
    rows = await readTrainRows(o.train, o.maxExamples);
  } else {
    reading = await readTrainingData(o.train, { seed: o.seed, ...o.read });
    if (reading.data.kind === 'margins') rows = reading.data.examples.slice(0, o.maxExamples ?? Infinity);
  }
  const kind = rows ? 'margins' : (reading as DataReading).data.kind;
  const file = reading?.file ?? o.train;
  if (kind === 'texts') {
    throw new DataError(file, undefined, `is a list of texts (no pairs, scores, labels or margins): not training data by itself; synthesize Margin-MSE rows from it (synthtune synthesize --queries/--corpus ${file}) and fit on the run folder`);
  }
  const allowed = KIND_LOSSES[kind];
  const loss: Choice<LossName> = o.loss !== undefined ? optionChoice(o.loss) : { value: allowed[0], source: 'auto', why: KIND_LOSS_WHY[kind] };
  if (!allowed.includes(loss.value)) throw new OptionsError(`fit: --loss ${loss.value} cannot train ${kind} data (${file}); it trains with ${allowed.join(' or ')}`);
  const data = reading
    ? { kind, file: reading.file, format: reading.format, why: reading.why }
    : { kind, file: o.train, format: 'run', why: ['synthesized rows (query, positive, negative(s), margin(s))'] };
  if (rows) {
    if (loss.value === 'MarginMSELoss') return { loss, data, rows, items: null };
    return { loss, data, rows: null, items: pairsOfMargins(rows) };
  }
  let items = textItems((reading as DataReading).data, file);
  if (o.maxExamples !== undefined) items = firstItems(items, o.maxExamples);
  if (!items.items.length) throw new DataError(file, undefined, 'holds no training items');
  return { loss, data, rows: null, items };
}

/** Splits the rows for the held-out check (or not), per the option and the number of queries. */
function splitRows(o: FitRunOptions, rows: TextExample[]): { train: TextExample[]; heldOut: TextExample[]; choice: Choice<number> } {
  if (o.holdOut === false) return { train: rows, heldOut: [], choice: optionChoice(0) };
  const s = holdOutByQuery(rows, (r) => r.query, o.seed ?? 0);
  const distinct = new Set(rows.map((r) => r.query)).size;
  return {
    train: s.train, heldOut: s.heldOut,
    choice: s.queries
      ? { value: s.queries, source: 'auto', why: `${s.queries} of ${distinct} queries (${s.heldOut.length} examples) held out: training must not end clearly below its best ranking agreement with the teacher on them` }
      : { value: 0, source: 'auto', why: `only ${distinct} distinct queries (< ${HOLDOUT_MIN_QUERIES}): all of them train` },
  };
}

/** CosineSimilarityLoss compares cosines: its score is cosine (an error when dot was asked for). */
function lossScore(set: TrainSet, score: Choice<Score>): Choice<Score> {
  if (set.loss.value !== 'CosineSimilarityLoss' || score.value === 'cosine') return score;
  if (score.source === 'option') throw new OptionsError('fit: CosineSimilarityLoss compares cosine similarities with the scores; --score dot does not apply (use CoSENTLoss for dot products)');
  return { value: 'cosine', source: 'auto', why: 'CosineSimilarityLoss fits the cosine similarity of each pair to its score' };
}

/**
 * The run's settings from the options and the data, then fit(): margins scaled, epochs, learning
 * rate, the held-out check. Shared by the three methods.
 */
async function trainStudent<I>(
  o: FitRunOptions, method: FitMethod, student: Student<I>, trainEx: TrainItem<I>[], heldOutEx: Example<I>[], heldQueries: string[],
  heldOutChoice: Choice<number>, callbacks: Callback[], print: (l: string) => void, warn: string | null,
  extra: { score: Choice<Score>; init?: Choice<'idf' | 'random'>; selfNegatives?: Choice<number>; selfMined?: number; learningRate: () => Choice<number>; set: TrainSet },
): Promise<{ result: FitResult; config: FitRunConfig }> {
  const lossChoice = extra.set.loss;
  const margins = lossChoice.value === 'MarginMSELoss';
  const train: TrainItem<I>[] = margins ? trainEx.map((e, i) => normalizeExample(e as Example<I>, i)) : trainEx;
  const held = heldOutEx.map((e, i) => normalizeExample(e, i));
  const score = extra.score.value;
  let scale: FitRunConfig['marginScale'] = null;
  if (margins) {
    const rows = train as ReturnType<typeof normalizeExample<I>>[];
    if (o.marginScale !== undefined) {
      if (!(o.marginScale > 0)) throw new OptionsError('fit: marginScale must be > 0');
      scale = optionChoice(o.marginScale);
    } else {
      const m = await studentMargins(student, rows, score, { max: 2000, seed: o.seed ?? 0 });
      scale = marginScale(m.student, m.teacher, score, MARGIN_SPREAD[method]);
    }
    const k = scale.value;
    if (k !== 1) for (const e of [...rows, ...held]) e.margins = e.margins.map((x) => x * k);
  }
  const batchSize = o.batchSize ?? 32;
  const epochs = o.epochs !== undefined ? optionChoice(o.epochs) : autoEpochs(method, train.length - (extra.selfMined ?? 0), batchSize, extra.selfMined ?? 0);
  const learningRate = o.learningRate !== undefined ? optionChoice(o.learningRate) : extra.learningRate();
  const scheduler = withDefaultWarmup(o.scheduler, defaultWarmup(method));
  const config: FitRunConfig = {
    method, data: extra.set.data, loss: lossChoice, examples: train.length, heldOutExamples: held.length, score: extra.score, marginScale: scale, learningRate, epochs,
    batchSize, scheduler: scheduler ?? 'linear', optimizer: o.optimizer ?? 'AdamW', weightDecay: o.weightDecay ?? null, seed: o.seed ?? 0,
    ...(extra.init ? { init: extra.init } : {}), ...(extra.selfNegatives ? { selfNegatives: extra.selfNegatives, selfMinedExamples: extra.selfMined ?? 0 } : {}), heldOut: heldOutChoice,
  };
  if (warn) {
    const steps = Math.ceil(train.length / batchSize) * epochs.value;
    print(`${warn}; that is ${steps} optimizer step${steps === 1 ? '' : 's'} at batch size ${batchSize} over ${epochs.value} epoch(s)`);
  }
  const show = (name: string, c: Choice<unknown>) => print(`fit: ${name} ${String(c.value)} (${c.source === 'option' ? 'option' : c.why})`);
  show('loss', lossChoice);
  show('score', extra.score);
  if (extra.init) show('init', extra.init);
  if (extra.selfNegatives) show('self-mined negatives', extra.selfNegatives);
  if (scale) show('margin scale', scale);
  show('learning rate', learningRate);
  show('epochs', epochs);
  show('held out', heldOutChoice);
  await fsp.mkdir(o.out, { recursive: true });
  await writeJsonAtomic(path.join(o.out, 'config.json'), config);
  const all = [...callbacks];
  if (held.length) {
    all.push(new KeepBestHeldOut({ measure: (s) => heldOutAgreement(s, held, heldQueries, score), label: 'held-out agreement with the teacher' }));
  }
  const result = await fit({
    student, trainData: train, loss: lossChoice.value, lossSettings: { scale: o.lossScale }, callbacks: all, epochs: epochs.value, learningRate: learningRate.value, batchSize, seed: o.seed,
    optimizer: o.optimizer, weightDecay: o.weightDecay, scheduler, score, outDir: o.out, resume: o.resume, log: o.log,
  });
  return { result, config };
}

/**
 * Claims <out> (a synthesis run folder or another program's is refused; one live process at a
 * time; temporary files of killed writers removed), then trains and exports into it.
 */
export async function fitRun(o: FitRunOptions): Promise<FitRunResult> {
  await fsp.mkdir(o.out, { recursive: true });
  await checkFitFolder(o.out, { restart: o.resume === false });
  const { release } = await claimFolder(o.out);
  try {
    await markFitFolder(o.out);
    return await fitRunClaimed(o);
  } finally {
    await release();
  }
}

/**
 * Who labelled synthesized rows: 'bm25' or 'cross-encoder' from the synthesis run's config.json
 * (the run folder, or the folder of its train.jsonl); null when the rows come from elsewhere.
 */
export async function synthesisTeacher(train: string): Promise<'bm25' | 'cross-encoder' | null> {
  const stat = await fsp.stat(train).catch(() => null);
  if (!stat) return null;
  const file = path.join(stat.isDirectory() ? train : path.dirname(train), 'config.json');
  try {
    const c = JSON.parse(await fsp.readFile(file, 'utf8')) as { kind?: unknown; models?: { scorer?: unknown } };
    if (c.kind !== 'synthesis' || typeof c.models?.scorer !== 'string') return null;
    return c.models.scorer === 'bm25' ? 'bm25' : 'cross-encoder';
  } catch {
    return null; // no config beside the rows, or not ours: the advice stays general
  }
}

/**
 * How many self-mined negatives per query (./self-negatives.ts): the option, or as many as the rows
 * hold per query when BM25 labelled them; none when another or an unknown teacher did (its
 * margins cannot be extended without running it). Asking for them on such rows is an error.
 */
function selfNegativesChoice(option: number | undefined, teacher: 'bm25' | 'cross-encoder' | null, rows: readonly TextExample[], train: string): Choice<number> {
  if (option !== undefined) {
    if (!(Number.isInteger(option) && option >= 0)) throw new OptionsError(`fit: selfNegatives (--self-negatives) must be an integer ≥ 0, got ${option}`);
    if (option > 0 && teacher !== 'bm25') {
      throw new OptionsError(`fit: selfNegatives (--self-negatives) needs rows labelled by BM25 (a synthesis run with --scorer bm25); ${train} ${teacher ? `was labelled by a ${teacher}` : 'has no synthesis config.json that says who labelled it'}`);
    }
    return optionChoice(option);
  }
  if (teacher !== 'bm25') {
    return { value: 0, source: 'auto', why: teacher ? `the rows' teacher is a ${teacher}, which fit does not run` : 'no synthesis config.json beside the rows says BM25 labelled them' };
  }
  const queries = new Set(rows.map((r) => r.query)).size;
  let negatives = 0;
  for (const r of rows) negatives += negativesOf(r).length;
  const value = queries ? Math.max(1, Math.round(negatives / queries)) : 0;
  return {
    value, source: 'auto',
    why: `as many per query as the synthesized rows hold (${negatives} negatives of ${queries} queries): the documents the untrained student ranks highest among the training documents, outside the query's candidates, labelled by BM25 (crosstalk between token directions lifts them; BM25-mined rows never show them)`,
  };
}

async function fitRunClaimed(o: FitRunOptions): Promise<FitRunResult> {
  const print = o.log === undefined ? (l: string) => process.stderr.write(`${l}\n`) : o.log ?? (() => undefined);
  const set = await readTrainSet(o);
  if (!set.rows && o.marginScale !== undefined) throw new OptionsError(`fit: marginScale (--margin-scale) is Margin-MSE's; ${set.loss.value} on ${set.data.kind} data has no margins to scale`);
  if (o.lossScale !== undefined && !(o.lossScale > 0)) throw new OptionsError('fit: lossScale must be > 0');
  if (o.lossScale !== undefined && ['MarginMSELoss', 'CosineSimilarityLoss'].includes(set.loss.value)) throw new OptionsError(`fit: lossScale (--loss-scale) does not apply to ${set.loss.value}`);
  const allRows = set.rows ?? [];
  if (o.selfNegatives !== undefined && o.method !== 'static') throw new OptionsError(`fit: selfNegatives (--self-negatives) is for the static student, not --method ${o.method}`);
  // who labelled synthesized rows: the advice below and the static student's self-mined negatives depend on it
  const teacher = set.rows ? await synthesisTeacher(o.train) : null;
  const beir: EvalData | null = o.evalData ? await readEvalData(o) : null;
  if (beir?.how) print(`fit: evaluation on ${o.evalData}: ${beir.queries.length} queries, ${beir.corpus.length} index items; ${beir.how}`);
  const ks = o.evalKs ?? [10, 100];
  const modelDir = path.join(o.out, 'model');
  let warn: string | null = null;
  let split: ReturnType<typeof splitRows>;
  if (set.rows) {
    print(`fit: ${allRows.length} examples, method ${o.method}`);
    const advice = dataGuidance(allRows.length, new Set(allRows.map((r) => r.query)).size, teacher);
    warn = advice ? `fit: warning: ${advice.replace('--num-relations', 'synthesize --num-relations')}` : null;
    split = splitRows(o, allRows);
  } else {
    print(`fit: ${(set.items as TextItems).items.length} ${set.data.kind === 'margins' ? '(query, positive) pairs of synthesized rows' : `${set.data.kind} items`} from ${set.data.file}, method ${o.method}`);
    split = { train: [], heldOut: [], choice: { value: 0, source: 'auto', why: `the held-out check measures agreement with a teacher's margins (Margin-MSE only); ${set.loss.value} trains on every item` } };
  }
  const { train: trainRows, heldOut: heldRows, choice: heldOut } = split;

  if (o.method === 'adapter') {
    if (!o.model) throw new OptionsError('fit: --model (the frozen encoder) is required for the adapter');
    const enc = await loadEncoder(o.model);
    try {
      if (enc.folder.moduleTypes[0] === 'StaticEmbedding') {
        throw new ModelError(`fit: ${enc.modelDir} is a static embedding model (a StaticEmbedding module); the adapter is for transformer encoders — train a static model with --method static`);
      }
      if (enc.asymmetric) throw new ModelError(`fit: ${enc.modelDir} already encodes queries and documents differently (a Router module); train the adapter on a symmetric encoder`);
      if ((o.sides ?? 'query') === 'query' && enc.pooling === 'model') {
        throw new ModelError(`fit: a query-only adapter needs a base whose modules.json declares its Pooling (${enc.modelDir} has only its graph's sentence_embedding), so its export can route queries and documents; use --both-sides`);
      }
      print(`fit: encoding the training texts with ${enc.modelDir} (dim ${enc.dim})`);
      logPrompts(enc, print);
      const encode = (rows: TextExample[]) => encodeExamples(rows, enc.dim, (t) => enc.encodeDocuments(t), { encodeQuery: (t) => enc.encodeQueries(t) });
      const examples: TrainItem<Float32Array>[] = set.items
        ? await encodeTextItems(set.items, enc.dim, (t) => enc.encodeDocuments(t), (t) => enc.encodeQueries(t))
        : (await encode(trainRows)).examples;
      const held = heldRows.length ? (await encode(heldRows)).examples : [];
      const student = new AdapterStudent({ dim: enc.dim, rank: o.rank, bias: o.bias, sides: o.sides, seed: o.seed });
      const score = lossScore(set, o.score ? optionChoice(o.score) : declaredScore(enc.folder.similarity, enc.modelDir));
      const callbacks = [...(o.callbacks ?? [])];
      if (beir) {
        print(`fit: encoding ${beir.queries.length} queries and ${beir.corpus.length} documents for evaluation`);
        const q = await encodeTexts(enc, beir.queries.map((x) => x.text), 'query');
        const d = await encodeTexts(enc, beir.corpus.map(beirText), 'document');
        callbacks.unshift(new EvaluationCallback({
          evaluate: retrievalEvaluator({
            queries: rows(q, beir.queries.length, enc.dim), queryIds: beir.queries.map((x) => x.id),
            documents: rows(d, beir.corpus.length, enc.dim), docIds: beir.corpus.map((x) => x.id),
            qrels: beir.qrels, ks, limit: Math.max(...ks), metrics: o.evalMetrics, convention: o.evalConvention ?? beir.convention, excludeSelf: beir.excludeSelf, normalize: score.value === 'cosine',
          }),
        }));
      }
      const { result: r, config } = await trainStudent(o, 'adapter', student, examples, held, heldRows.map((r) => r.query), heldOut, callbacks, print, warn,
        { score, learningRate: () => autoLearningRate('adapter'), set });
      await student.exportArtifact(modelDir, { baseModelDir: enc.modelDir, similarity: score.value });
      print(`fit: model written to ${modelDir}${student.sides === 'query'
        ? ' (query-only adapter: encodeQueries / encode_query apply it, encodeDocuments / encode_document give the unchanged base embeddings)' : ''}`);
      return { ...r, modelDir, documentModel: path.resolve(modelDir), examples: examples.length, config };
    } finally {
      await enc.release();
    }
  }

  if (o.method === 'full') return fitFull(o, set, trainRows, heldRows, heldOut, beir, ks, modelDir, print, warn);
  if (o.method !== 'static') throw new OptionsError(`fit: unknown method '${String(o.method)}' (adapter | static | full)`);
  const tokDir = o.tokenizer ?? o.model;
  if (!tokDir) throw new OptionsError('fit: --tokenizer (or --model) is required for the static student');
  const tokenizer = TextTokenizer.fromFolder(tokDir);
  const V = vocabSize(tokDir, readModelJson(path.join(tokDir, 'tokenizer.json')));
  const ids = (t: string): number[] => tokenizer.encode(t).ids;
  const examples: TrainItem<Int32Array>[] = set.items ? mapTextItems(set.items, (t) => Int32Array.from(ids(t)), (t) => Int32Array.from(ids(t))) : tokenizeExamples(trainRows, ids);
  const held = tokenizeExamples(heldRows, ids);
  const D = o.dim ?? 256;
  const seed = o.seed ?? 0;
  let init: Choice<'idf' | 'random'>;
  let table: Float32Array | undefined;
  if ((o.init ?? 'idf') === 'idf') {
    // idf over the distinct training documents (positives and negatives)
    const docs = new Set<Int32Array>();
    for (const e of examples) for (const d of documentInputs(e)) docs.add(d);
    const { idf, documents } = idfWeights(docs, V);
    table = idfStaticInit(V, D, seed, idf);
    const frame = tightFrame(table, D, docs, idf);
    init = {
      value: 'idf', source: o.init ? 'option' : 'auto',
      why: `random token vectors scaled by the square root of their BM25 idf over the ${documents} distinct training documents (a shared token adds its idf to a dot product, as in BM25); `
        + `the directions of the ${frame.tokens} tokens they use spread by their weight (a tight frame: crosstalk ${frame.crosstalkBefore.toPrecision(3)} → ${frame.crosstalkAfter.toPrecision(3)})`,
    };
  } else {
    init = optionChoice('random');
  }
  const student = new StaticStudent({ vocabSize: V, dim: D, seed, init: table });
  const score: Choice<Score> = lossScore(set, o.score ? optionChoice(o.score) : { value: 'cosine', source: 'auto', why: 'a static student is scored by cosine (its norms follow text length)' });
  const selfNegatives = set.rows && set.loss.value === 'MarginMSELoss'
    ? selfNegativesChoice(o.selfNegatives, teacher, trainRows, o.train) : null;
  if (o.selfNegatives !== undefined && !selfNegatives) throw new OptionsError(`fit: selfNegatives (--self-negatives) adds Margin-MSE rows; ${set.loss.value} on ${set.data.kind} data has none`);
  let selfMined = 0;
  if (selfNegatives && selfNegatives.value > 0) {
    const t0 = performance.now();
    print(`fit: mining ${selfNegatives.value} self-negative(s) per query with the untrained student (${trainRows.length} training rows)`);
    const mined = selfMinedNegatives(trainRows, {
      perQuery: selfNegatives.value, dim: D, cosine: score.value === 'cosine',
      embed: (texts) => student.encodeSync(texts.map((t) => Int32Array.from(ids(t)))),
    });
    examples.push(...(tokenizeExamples(mined.rows, ids) as TrainItem<Int32Array>[]));
    selfMined = mined.rows.length;
    print(`fit: self-mined negatives: ${mined.rows.length} examples from ${mined.queries} queries over the ${mined.documents} training documents `
      + `(BM25 margin ${mined.meanMargin.toFixed(2)} on average, the synthesized rows' ${mined.meanOriginalMargin.toFixed(2)}; ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const callbacks = [...(o.callbacks ?? [])];
  if (beir) {
    callbacks.unshift(new EvaluationCallback({
      evaluate: retrievalEvaluator({
        queries: beir.queries.map((x) => Int32Array.from(ids(x.text))), queryIds: beir.queries.map((x) => x.id),
        documents: beir.corpus.map((x) => Int32Array.from(ids(beirText(x)))), docIds: beir.corpus.map((x) => x.id),
        qrels: beir.qrels, ks, limit: Math.max(...ks), metrics: o.evalMetrics, convention: o.evalConvention ?? beir.convention, excludeSelf: beir.excludeSelf, normalize: score.value === 'cosine',
      }),
    }));
  }
  const used = new Set<number>();
  for (const e of examples) for (const x of itemInputs(e)) for (const t of x) used.add(t);
  const { result: r, config } = await trainStudent(o, 'static', student, examples, held, heldRows.map((r) => r.query), heldOut, callbacks, print, warn,
    { score, init, ...(selfNegatives ? { selfNegatives, selfMined } : {}), learningRate: () => autoLearningRate('static', { table: student.table, dim: D, rows: used }), set });
  await exportStatic(student, modelDir, { tokenizerDir: tokDir, normalize: score.value === 'cosine' });
  print(`fit: model written to ${modelDir}`);
  return { ...r, modelDir, documentModel: path.resolve(modelDir), examples: examples.length, config };
}

const FULL_EXTRA_FILES = ['special_tokens_map.json', 'vocab.txt'];

/** method 'full': import (with the acceptance check) → tokenise → fit → export the model folder. */
async function fitFull(
  o: FitRunOptions, set: TrainSet, trainRows: TextExample[], heldRows: TextExample[], heldOut: Choice<number>, beir: EvalData | null, ks: number[],
  modelDir: string, print: (l: string) => void, warn: string | null,
): Promise<FitRunResult> {
  if (!o.model) throw new OptionsError('fit: --model (the BERT or DistilBERT model folder to fine-tune) is required for method full');
  const stat = await fsp.stat(o.model).catch(() => null);
  if (!stat?.isDirectory()) throw new ModelError(`fit: ${o.model} is not a model folder (method full needs a local folder with config.json, tokenizer.json and model.safetensors or onnx/model.onnx)`);
  // the acceptance check's samples: the first distinct training texts (queries and documents)
  const sides = set.items ? sideTexts(firstItems(set.items, 50)) : null;
  const sampleTexts = sides
    ? [...new Set([...sides.query.slice(0, 3), ...sides.document])].slice(0, 6)
    : [...new Set(trainRows.slice(0, 50).flatMap((r) => [r.query, r.positive, ...(r.negatives ?? (r.negative ? [r.negative] : []))]))].slice(0, 6);
  let imported;
  try {
    // a folder with only model.safetensors has no graph to check the native forward against
    const graph = folderOnnx(o.model);
    if (!graph) print(`fit: ${o.model} has no ONNX graph: the imported weights are not checked against onnxruntime (the native forward pass is checked against PyTorch by the conformance suite)`);
    imported = await importFullStudent(o.model, { sampleTexts, threads: o.threads, maxLength: o.maxLength, device: o.device ?? 'auto', precision: o.precision, check: graph !== null });
  } catch (e) {
    throw isUserError(e) ? e : new ModelError(`fit: ${o.model}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
  const { student: inner, tokenizer, weights, check, head } = imported;
  const c = inner.config;
  print(`fit: imported ${weights.config.layers}-layer ${c.arch ?? 'bert'} (hidden ${c.hidden}, ${inner.layout.reduce((s, t) => s + t.size, 0)} parameters, ${[c.pooling].flat().join('+')} pooling) from ${weights.file}` +
    (check ? `; native vs onnxruntime max abs diff ${check.maxAbsDiff.toExponential(2)} on ${check.samples} samples` : ''));
  // Dense modules after pooling (and Normalize after them) are trained with the transformer
  const student = head ? new DenseHeadStudent(inner, head) : inner;
  if (head) print(`fit: training ${head.dense.length} Dense module(s) after pooling (${head.dense.map((d) => `${d.inFeatures}→${d.outFeatures} ${d.activation}`).join(', ')})${head.normalize ? ', then Normalize' : ''}`);
  const backend = loadBackend().info;
  print(inner.device === 'cuda'
    ? `fit: training on cuda (${backend.device ?? 'GPU'}), ${inner.precision} matmuls`
    : `fit: training on cpu (${backend.name}${o.threads ? `, ${o.threads} threads` : ''}), fp32`);
  // the model's query / document prompts go in front of the texts, as sentence-transformers' encode_query / encode_document
  const folder = readModelFolder(o.model);
  const qp = folder.prompts[sidePromptName(folder, 'query') ?? ''] ?? '';
  const dp = folder.prompts[sidePromptName(folder, 'document') ?? ''] ?? '';
  if ((qp || dp) && folder.pooling && !folder.pooling.includePrompt) {
    throw new ModelError(`fit: ${path.join(o.model, folder.pooling.path, 'config.json')} excludes prompts from pooling (include_prompt false), which method full does not support`);
  }
  if (qp || dp) print(`fit: prompts: queries ${JSON.stringify(qp)}, documents ${JSON.stringify(dp)}`);
  const lower = (t: string) => (folder.doLowerCase ? t.toLowerCase() : t);
  const ids = (t: string): number[] => tokenizer.encode(lower(dp + t)).ids;
  const qids = (t: string): number[] => tokenizer.encode(lower(qp + t)).ids;
  const examples: TrainItem<Int32Array>[] = set.items
    ? mapTextItems(set.items, (t) => Int32Array.from(qids(t)), (t) => Int32Array.from(ids(t)))
    : tokenizeExamples(trainRows, ids, qids);
  const held = tokenizeExamples(heldRows, ids, qids);
  const score = lossScore(set, o.score ? optionChoice(o.score) : declaredScore(folder.similarity, o.model));
  const callbacks = [...(o.callbacks ?? [])];
  if (beir) {
    callbacks.unshift(new EvaluationCallback({
      evaluate: retrievalEvaluator({
        queries: beir.queries.map((x) => Int32Array.from(qids(x.text))), queryIds: beir.queries.map((x) => x.id),
        documents: beir.corpus.map((x) => Int32Array.from(ids(beirText(x)))), docIds: beir.corpus.map((x) => x.id),
        qrels: beir.qrels, ks, limit: Math.max(...ks), metrics: o.evalMetrics, convention: o.evalConvention ?? beir.convention, excludeSelf: beir.excludeSelf, normalize: score.value === 'cosine', batchSize: 64,
      }),
    }));
  }
  const { result: r, config } = await trainStudent(o, 'full', student, examples, held, heldRows.map((r) => r.query), heldOut, callbacks, print, warn,
    { score, learningRate: () => autoLearningRate('full'), set });
  await student.exportArtifact(modelDir, { tokenizerDir: o.model, similarity: score.value });
  for (const f of FULL_EXTRA_FILES) {
    const from = path.join(o.model, f);
    if (await fsp.access(from).then(() => true, () => false)) await fsp.copyFile(from, path.join(modelDir, f));
  }
  print(`fit: model written to ${modelDir}`);
  return { ...r, modelDir, documentModel: path.resolve(modelDir), examples: examples.length, config };
}
