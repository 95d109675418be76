/**
 * fitRun(): the whole `synthtune fit` job, files in, model folder out.
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
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { beirText, readBeir } from '../data/beir';
import { readLines } from '../data/lines';
import type { BeirDataset } from '../data/types';
import type { MetricName } from '../evaluation';
import { loadBackend } from '../kernels/loader';
import { loadEncoder, type Encoder } from '../models/encoder';
import { folderOnnx } from '../models/import';
import { readModelFolder, sidePromptName } from '../models/st-folder';
import { TextTokenizer } from '../models/tokenizer';
import { dataGuidance } from '../synthesis/pseudo-queries';
import { EvaluationCallback, type Callback } from './callbacks';
import { encodeExamples, tokenizeExamples, type TextExample } from './data';
import { retrievalEvaluator } from './evaluation';
import { exportStatic } from './export';
import { importFullStudent } from './import-weights';
import { fit, type FitResult } from './fit';
import type { OptimizerName, SchedulerSpec } from './optim';
import { AdapterStudent } from './students/adapter';
import { DenseHeadStudent } from './students/dense-head';
import { StaticStudent } from './students/static';

export interface FitRunOptions {
  /** A synthesis run folder (holding train.jsonl) or a train.jsonl file. */
  train: string;
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
  /** BEIR folder to evaluate on before and after training. */
  evalData?: string;
  evalSplit?: string;
  /** Cut-offs of the reported metrics (default [10, 100]). */
  evalKs?: number[];
  evalMetrics?: MetricName[];
  /**
   * Multiply every margin by this (default 1). Margin-MSE is scale-sensitive: BM25 margins run to
   * tens, far beyond what a cosine (|s| ≤ 1) or a freshly initialised dot-product student scores.
   */
  marginScale?: number;
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
}

/** train.jsonl rows as text examples (the synthesis format: query, positive, negative, margin). */
export async function readTrainRows(train: string, max = Infinity): Promise<TextExample[]> {
  const stat = await fsp.stat(train).catch(() => null);
  if (!stat) throw new Error(`fit: ${train} does not exist`);
  const file = stat.isDirectory() ? path.join(train, 'train.jsonl') : train;
  const rows: TextExample[] = [];
  for await (const { no, text } of readLines(file)) {
    if (!text.trim()) continue;
    let r: TextExample;
    try {
      r = JSON.parse(text) as TextExample;
    } catch (e) {
      throw new Error(`${file}:${no}: bad JSON: ${(e as Error).message}`);
    }
    if (typeof r.query !== 'string' || typeof r.positive !== 'string') throw new Error(`${file}:${no}: query and positive must be strings`);
    rows.push(r);
    if (rows.length >= max) break;
  }
  if (rows.length === 0) throw new Error(`fit: ${file} holds no examples`);
  return rows;
}

function vocabSize(tokenizerDir: string, json: unknown): number {
  const vocab = (json as { model?: { vocab?: Record<string, number> | [string, number][] } }).model?.vocab;
  if (!vocab) throw new Error(`fit: cannot read the vocabulary size from ${tokenizerDir}/tokenizer.json`);
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
 * Per-method defaults. Full fine-tuning updates a pretrained transformer: 2e-5 with 10% linear
 * warm-up, as sentence-transformers and GPL train (1e-3 would wreck a pretrained model). The
 * adapter and the static student start from scratch (identity / random tables): 1e-3, no warm-up.
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

export async function fitRun(o: FitRunOptions): Promise<FitRunResult> {
  const print = o.log === undefined ? (l: string) => process.stderr.write(`${l}\n`) : o.log ?? (() => undefined);
  const scale = o.marginScale ?? 1;
  if (!(scale > 0)) throw new Error('fit: marginScale must be > 0');
  const trainRows = (await readTrainRows(o.train, o.maxExamples)).map((r) => scale === 1 ? r : {
    ...r,
    margin: r.margin === undefined ? undefined : r.margin * scale,
    margins: r.margins?.map((m) => m * scale),
  });
  const beir: BeirDataset | null = o.evalData ? await readBeir(o.evalData, { split: o.evalSplit ?? 'test' }) : null;
  const ks = o.evalKs ?? [10, 100];
  const defaults = methodDefaults(o.method);
  const scheduler = withDefaultWarmup(o.scheduler, defaults.warmup);
  const common = {
    epochs: o.epochs, learningRate: o.learningRate ?? defaults.learningRate, batchSize: o.batchSize, seed: o.seed, optimizer: o.optimizer,
    weightDecay: o.weightDecay, scheduler, score: o.score, outDir: o.out, resume: o.resume, log: o.log,
  };
  const modelDir = path.join(o.out, 'model');
  print(`fit: ${trainRows.length} examples, method ${o.method}`);
  const advice = dataGuidance(trainRows.length, new Set(trainRows.map((r) => r.query)).size);
  if (advice) {
    const steps = Math.ceil(trainRows.length / (o.batchSize ?? 32)) * (o.epochs ?? 1);
    print(`fit: warning: ${advice.replace('--num-relations', 'synthesize --num-relations')}; that is ${steps} optimizer step${steps === 1 ? '' : 's'} at batch size ${o.batchSize ?? 32} over ${o.epochs ?? 1} epoch(s)`);
  }

  if (o.method === 'adapter') {
    if (!o.model) throw new Error('fit: --model (the frozen encoder) is required for the adapter');
    const enc = await loadEncoder(o.model);
    try {
      if (enc.asymmetric) throw new Error(`fit: ${enc.modelDir} already encodes queries and documents differently (a Router module); train the adapter on a symmetric encoder`);
      if ((o.sides ?? 'query') === 'query' && enc.pooling === 'model') {
        throw new Error(`fit: a query-only adapter needs a base whose modules.json declares its Pooling (${enc.modelDir} has only its graph's sentence_embedding), so its export can route queries and documents; use --both-sides`);
      }
      print(`fit: encoding the training texts with ${enc.modelDir} (dim ${enc.dim})`);
      logPrompts(enc, print);
      const { examples } = await encodeExamples(trainRows, enc.dim, (t) => enc.encodeDocuments(t), { encodeQuery: (t) => enc.encodeQueries(t) });
      const student = new AdapterStudent({ dim: enc.dim, rank: o.rank, bias: o.bias, sides: o.sides, seed: o.seed });
      const callbacks = [...(o.callbacks ?? [])];
      if (beir) {
        print(`fit: encoding ${beir.queries.length} queries and ${beir.corpus.length} documents for evaluation`);
        const q = await encodeTexts(enc, beir.queries.map((x) => x.text), 'query');
        const d = await encodeTexts(enc, beir.corpus.map(beirText), 'document');
        callbacks.unshift(new EvaluationCallback({
          evaluate: retrievalEvaluator({
            queries: rows(q, beir.queries.length, enc.dim), queryIds: beir.queries.map((x) => x.id),
            documents: rows(d, beir.corpus.length, enc.dim), docIds: beir.corpus.map((x) => x.id),
            qrels: beir.qrels, ks, limit: Math.max(...ks), metrics: o.evalMetrics, normalize: o.score === 'cosine',
          }),
        }));
      }
      const r = await fit({ ...common, student, trainData: examples, callbacks });
      await student.exportArtifact(modelDir, { baseModelDir: enc.modelDir, similarity: o.score ?? 'dot' });
      print(`fit: model written to ${modelDir}${student.sides === 'query'
        ? ' (query-only adapter: encodeQueries / encode_query apply it, encodeDocuments / encode_document give the unchanged base embeddings)' : ''}`);
      return { ...r, modelDir, documentModel: path.resolve(modelDir), examples: examples.length };
    } finally {
      await enc.release();
    }
  }

  if (o.method === 'full') return fitFull(o, trainRows, beir, ks, common, modelDir, print);
  if (o.method !== 'static') throw new Error(`fit: unknown method '${String(o.method)}' (adapter | static | full)`);
  const tokDir = o.tokenizer ?? o.model;
  if (!tokDir) throw new Error('fit: --tokenizer (or --model) is required for the static student');
  const tokenizer = TextTokenizer.fromFolder(tokDir);
  const V = vocabSize(tokDir, JSON.parse(await fsp.readFile(path.join(tokDir, 'tokenizer.json'), 'utf8')));
  const ids = (t: string): number[] => tokenizer.encode(t).ids;
  const examples = tokenizeExamples(trainRows, ids);
  const student = new StaticStudent({ vocabSize: V, dim: o.dim ?? 256, seed: o.seed });
  const callbacks = [...(o.callbacks ?? [])];
  if (beir) {
    callbacks.unshift(new EvaluationCallback({
      evaluate: retrievalEvaluator({
        queries: beir.queries.map((x) => Int32Array.from(ids(x.text))), queryIds: beir.queries.map((x) => x.id),
        documents: beir.corpus.map((x) => Int32Array.from(ids(beirText(x)))), docIds: beir.corpus.map((x) => x.id),
        qrels: beir.qrels, ks, limit: Math.max(...ks), metrics: o.evalMetrics, normalize: o.score === 'cosine',
      }),
    }));
  }
  const r = await fit({ ...common, student, trainData: examples, callbacks });
  await exportStatic(student, modelDir, { tokenizerDir: tokDir, normalize: o.score === 'cosine' });
  print(`fit: model written to ${modelDir}`);
  return { ...r, modelDir, documentModel: path.resolve(modelDir), examples: examples.length };
}

const FULL_EXTRA_FILES = ['special_tokens_map.json', 'vocab.txt'];

/** method 'full': import (with the acceptance check) → tokenise → fit → export the model folder. */
async function fitFull(
  o: FitRunOptions, trainRows: TextExample[], beir: BeirDataset | null, ks: number[],
  common: Omit<Parameters<typeof fit>[0], 'student' | 'trainData'>, modelDir: string, print: (l: string) => void,
): Promise<FitRunResult> {
  if (!o.model) throw new Error('fit: --model (the BERT or DistilBERT model folder to fine-tune) is required for method full');
  const stat = await fsp.stat(o.model).catch(() => null);
  if (!stat?.isDirectory()) throw new Error(`fit: ${o.model} is not a model folder (method full needs a local folder with config.json, tokenizer.json and model.safetensors or onnx/model.onnx)`);
  // the acceptance check's samples: the first distinct training texts (queries and documents)
  const sampleTexts = [...new Set(trainRows.slice(0, 50).flatMap((r) => [r.query, r.positive, ...(r.negatives ?? (r.negative ? [r.negative] : []))]))].slice(0, 6);
  let imported;
  try {
    // a folder with only model.safetensors has no graph to check the native forward against
    const graph = folderOnnx(o.model);
    if (!graph) print(`fit: ${o.model} has no ONNX graph: the imported weights are not checked against onnxruntime (the native forward pass is checked against PyTorch by the conformance suite)`);
    imported = await importFullStudent(o.model, { sampleTexts, threads: o.threads, maxLength: o.maxLength, device: o.device ?? 'auto', precision: o.precision, check: graph !== null });
  } catch (e) {
    throw new Error(`fit: ${(e as Error).message}`);
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
    throw new Error(`fit: ${path.join(o.model, folder.pooling.path, 'config.json')} excludes prompts from pooling (include_prompt false), which method full does not support`);
  }
  if (qp || dp) print(`fit: prompts: queries ${JSON.stringify(qp)}, documents ${JSON.stringify(dp)}`);
  const lower = (t: string) => (folder.doLowerCase ? t.toLowerCase() : t);
  const ids = (t: string): number[] => tokenizer.encode(lower(dp + t)).ids;
  const qids = (t: string): number[] => tokenizer.encode(lower(qp + t)).ids;
  const examples = tokenizeExamples(trainRows, ids, qids);
  const callbacks = [...(o.callbacks ?? [])];
  if (beir) {
    callbacks.unshift(new EvaluationCallback({
      evaluate: retrievalEvaluator({
        queries: beir.queries.map((x) => Int32Array.from(qids(x.text))), queryIds: beir.queries.map((x) => x.id),
        documents: beir.corpus.map((x) => Int32Array.from(ids(beirText(x)))), docIds: beir.corpus.map((x) => x.id),
        qrels: beir.qrels, ks, limit: Math.max(...ks), metrics: o.evalMetrics, normalize: o.score === 'cosine', batchSize: 64,
      }),
    }));
  }
  const r = await fit({ ...common, student, trainData: examples, callbacks });
  await student.exportArtifact(modelDir, { tokenizerDir: o.model, similarity: o.score ?? 'dot' });
  for (const f of FULL_EXTRA_FILES) {
    const from = path.join(o.model, f);
    if (await fsp.access(from).then(() => true, () => false)) await fsp.copyFile(from, path.join(modelDir, f));
  }
  print(`fit: model written to ${modelDir}`);
  return { ...r, modelDir, documentModel: path.resolve(modelDir), examples: examples.length };
}
