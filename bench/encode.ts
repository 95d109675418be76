/**
 * `synthtune bench encode`: bi-encoder texts/s and cross-encoder pairs/s for a MiniLM-sized
 * generated model (6 layers, hidden 384, 12 heads, FFN 1536, vocab 30522; random weights, so only
 * speed is meaningful) on a realistic mix of text lengths: SciFact abstracts and claims when
 * ../shared is present, else a synthetic length mix.
 *
 * Backends (onnxruntime-node on the same ONNX file, but for synthtune-native and sentence-transformers):
 *   synthtune           our path: tokenise, sort by length, dynamic padding per batch, pool
 *   fixed-pad-unsorted  our path with every batch padded to max length, input order kept
 *   transformers.js     @huggingface/transformers feature-extraction pipeline (mean, normalised) /
 *                       AutoModelForSequenceClassification for pairs (dev dependency; skipped with
 *                       a note when it cannot load)
 *   session.run (bare)  only the session.run calls of our path, on pre-tokenised sorted batches:
 *                       the floor our overhead (tokenisation, padding, pooling) is measured against
 *   synthtune-native    bi-encoder only: the same weights as model.safetensors on the native core
 *                       (backend 'native', what 'auto' picks for such a folder): float32, batches
 *                       packed (no padding computed); timed interleaved with synthtune (onnxruntime);
 *                       its extra says how close it is: cosine and (with ../shared) the SciFact
 *                       top-10 overlap against onnxruntime
 *   synthtune-int8      bi-encoder only, opt-in precision: the same folder's onnx/model_quantized.onnx
 *                       (dynamic int8 MatMuls, lib/training/export.ts exportQuantized), timed
 *                       interleaved with synthtune; its extra says how close it is to float32:
 *                       cosine of the embeddings on the bench texts, and (with ../shared) the
 *                       top-10 overlap of 300 SciFact claims searched in 1,000 abstracts
 *   sentence-transformers  bi-encoder only: SentenceTransformer.encode on PyTorch CPU with the same
 *                       threads, batch, max length and texts (bench/pytorch/st_encode.py; same
 *                       config and tokenizer, random weights), when a Python with torch and
 *                       sentence-transformers is present (bench/python.ts); run after the
 *                       interleaved rounds, in its own process
 * speedup = baseline median / this row's median. Backends run in interleaved rounds (see
 * compareInterleaved) because a shared 2-core machine drifts a lot over a few minutes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hardware, measure, type BenchRow, type Suite } from './harness';
import { loadCrossEncoder } from '../lib/models/cross-encoder';
import { feedsOf, lengthSortedBatches, loadEncoder, type CallStats } from '../lib/models/encoder';
import type { BertConfig } from '../lib/models/onnx/bert';
import { randomBertWeights, writeModelFolder } from '../lib/models/tiny';
import { buildWordPieceTokenizer } from '../lib/models/wordpiece';
import { exportQuantized } from '../lib/training/export';
import { encodeSafetensors } from '../lib/models/import';
import { agreement } from '../lib/models/onnx/quantize';
import { topkRef } from '../lib/kernels';
import { referencePython, runReferenceScript } from './python';

const MINILM_SHAPE: BertConfig = {
  vocabSize: 30522,
  hidden: 384,
  layers: 6,
  heads: 12,
  intermediate: 1536,
  maxPosition: 512,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
};
/**
 * Max tokens per text or pair: 512, the model_max_length of the MiniLM tokenizer and of
 * ms-marco-MiniLM-L-6-v2, which is what both libraries truncate to by default.
 */
const MAX_LENGTH = 512;

/** The folder holding shared/ (models, data): $SYNTHTUNE_SHARED, else ../shared next to the repo. */
function sharedDir(): string | undefined {
  if (process.env.SYNTHTUNE_SHARED) return process.env.SYNTHTUNE_SHARED;
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && /"name":\s*"synthtune"/.test(fs.readFileSync(pkg, 'utf8'))) {
      const s = path.resolve(dir, '..', 'shared');
      return fs.existsSync(s) ? s : undefined;
    }
    dir = path.dirname(dir);
  }
  return undefined;
}

function readJsonl(file: string, limit: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    out.push(JSON.parse(line) as Record<string, unknown>);
    if (out.length >= limit) break;
  }
  return out;
}

/** Deterministic shuffle (mulberry32). */
function shuffled<T>(xs: T[], seed: number): T[] {
  const a = [...xs];
  let s = seed >>> 0;
  const r = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const WORDS = 'the of protein cell gene expression patients clinical trial results significant increased reduced model analysis data cancer risk treatment response mice human tissue level effect associated'.split(' ');

/** Corpus texts and queries: SciFact when present, else synthetic with a similar length mix. */
function workload(shared: string | undefined, nTexts: number, nPairs: number) {
  const corpusFile = shared && path.join(shared, 'data', 'scifact', 'corpus.jsonl');
  const queriesFile = shared && path.join(shared, 'data', 'scifact', 'queries.jsonl');
  let docs: string[];
  let queries: string[];
  let source: string;
  if (corpusFile && fs.existsSync(corpusFile)) {
    const rows = readJsonl(corpusFile, 6000);
    // titles (short) and abstracts (long): the mix a retrieval corpus + queries encoder sees
    const all = rows.flatMap((r) => [String(r.text ?? ''), String(r.title ?? '')]).filter((t) => t.trim());
    docs = shuffled(rows.map((r) => String(r.text ?? '')).filter((t) => t.trim()), 7);
    const mix = shuffled(all, 3).slice(0, nTexts);
    queries = queriesFile && fs.existsSync(queriesFile) ? readJsonl(queriesFile, 2000).map((q) => String(q.text ?? '')) : mix.map((t) => t.slice(0, 80));
    source = 'SciFact corpus (abstracts + titles) and claims';
    return { texts: mix, pairs: pairsOf(shuffled(queries, 5), docs, nPairs), source };
  }
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const sentence = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(rnd() * WORDS.length)]).join(' ');
  // lengths roughly log-uniform between 5 and 400 words
  docs = Array.from({ length: Math.max(nTexts, nPairs) }, () => sentence(Math.round(Math.exp(Math.log(5) + rnd() * Math.log(80)))));
  queries = Array.from({ length: nPairs }, () => sentence(5 + Math.floor(rnd() * 15)));
  source = 'synthetic length mix (../shared not found)';
  return { texts: docs.slice(0, nTexts), pairs: pairsOf(queries, docs, nPairs), source };
}

function pairsOf(queries: string[], docs: string[], n: number): [string, string][] {
  return Array.from({ length: n }, (_, i) => [queries[i % queries.length], docs[i % docs.length]] as [string, string]);
}

/** Writes the MiniLM-sized bi-encoder and cross-encoder folders (cached in the temp dir). */
function buildModels(shared: string | undefined, log: (l: string) => void, texts: string[]) {
  const minilm = shared && path.join(shared, 'models', 'all-MiniLM-L6-v2');
  const useMiniLM = !!minilm && fs.existsSync(path.join(minilm, 'tokenizer.json'));
  const root = path.join(os.tmpdir(), `synthtune-bench-encode-v3-${useMiniLM ? 'minilm' : 'wp'}`);
  const bi = path.join(root, 'bi');
  const ce = path.join(root, 'ce');
  if (fs.existsSync(path.join(bi, 'model.safetensors')) && fs.existsSync(path.join(ce, 'onnx', 'model.onnx'))) return { root, bi, ce, useMiniLM };
  const t0 = performance.now();
  let tokenizerJson: unknown;
  let tokenizerConfig: Record<string, unknown>;
  if (useMiniLM) {
    tokenizerJson = JSON.parse(fs.readFileSync(path.join(minilm, 'tokenizer.json'), 'utf8'));
    tokenizerConfig = JSON.parse(fs.readFileSync(path.join(minilm, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  } else {
    const wp = buildWordPieceTokenizer(texts, { vocabSize: MINILM_SHAPE.vocabSize, fillTo: true });
    tokenizerJson = wp.tokenizerJson;
    tokenizerConfig = wp.tokenizerConfig;
  }
  tokenizerConfig = { ...tokenizerConfig, model_max_length: MAX_LENGTH };
  // the bi-encoder's weights also as model.safetensors (transformers' names), for the native backend's row
  const biWeights = randomBertWeights(MINILM_SHAPE, { seed: 1 });
  writeModelFolder(bi, { config: MINILM_SHAPE, weights: biWeights, tokenizerJson, tokenizerConfig, kind: 'bi-encoder' });
  fs.writeFileSync(path.join(bi, 'model.safetensors'), encodeSafetensors(biWeights));
  const ceConfig: BertConfig = { ...MINILM_SHAPE, head: 'classifier' };
  writeModelFolder(ce, { config: ceConfig, weights: randomBertWeights(ceConfig, { seed: 2, numLabels: 1 }), tokenizerJson, tokenizerConfig, kind: 'cross-encoder' });
  log(`  built MiniLM-sized models in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${root} (tokenizer: ${useMiniLM ? 'all-MiniLM-L6-v2' : 'generated WordPiece'})`);
  return { root, bi, ce, useMiniLM };
}

interface Tjs {
  encode?: (texts: string[]) => Promise<unknown>;
  score?: (pairs: [string, string][]) => Promise<unknown>;
  note?: string;
}

/** transformers.js on the same folders, or a note saying why not. */
async function loadTransformersJs(root: string, threads: number, batchSize: number): Promise<Tjs> {
  let tf: typeof import('@huggingface/transformers', { with: { 'resolution-mode': 'import' } });
  try {
    tf = await import('@huggingface/transformers');
  } catch (e) {
    return { note: `transformers.js not installed (${(e as Error).message.split('\n')[0]})` };
  }
  try {
    tf.env.allowRemoteModels = false;
    tf.env.allowLocalModels = true;
    tf.env.localModelPath = root + path.sep;
    const session_options = { intraOpNumThreads: threads, interOpNumThreads: 1 };
    const extractor = await tf.pipeline('feature-extraction', 'bi', { dtype: 'fp32', device: 'cpu', session_options });
    const tokenizer = await tf.AutoTokenizer.from_pretrained('ce');
    const model = await tf.AutoModelForSequenceClassification.from_pretrained('ce', { dtype: 'fp32', device: 'cpu', session_options });
    return {
      encode: async (texts) => {
        for (let i = 0; i < texts.length; i += batchSize) await extractor(texts.slice(i, i + batchSize), { pooling: 'mean', normalize: true });
      },
      score: async (pairs) => {
        for (let i = 0; i < pairs.length; i += batchSize) {
          const chunk = pairs.slice(i, i + batchSize);
          const inputs = tokenizer(chunk.map((p) => p[0]), { text_pair: chunk.map((p) => p[1]), padding: true, truncation: true });
          await model(inputs);
        }
      },
    };
  } catch (e) {
    return { note: `transformers.js could not load the model: ${(e as Error).message.split('\n')[0]}` };
  }
}

function row(c: string, backend: string, ms: number, n: number, unit: string, baseline: string, baseMs: number, extra?: Record<string, unknown>): BenchRow {
  return { suite: 'encode', case: c, backend, median_ms: ms, throughput: (n * 1000) / ms, unit, speedup: baseMs / ms, baseline, extra };
}

const median = (xs: number[]) => {
  const a = [...xs].sort((x, y) => x - y);
  const mid = a.length >> 1;
  return a.length % 2 ? a[mid] : (a[mid - 1] + a[mid]) / 2;
};

/**
 * Times several backends in interleaved rounds (one run of each per round) and returns their
 * medians. On a shared machine, load drifts over minutes; interleaving spreads the drift over all
 * backends instead of penalising whichever ran during a busy spell. Each backend is warmed up
 * once first (onnxruntime grows its memory arena on the first large shapes).
 */
async function compareInterleaved(fns: [string, () => Promise<unknown>][], rounds: number, log: (l: string) => void): Promise<Map<string, number>> {
  for (const [, fn] of fns) await fn();
  const times = new Map<string, number[]>(fns.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of fns) times.get(name)!.push(await measure(fn, { warmup: 0, minReps: 1, maxReps: 1, budgetMs: 0 }));
  }
  log(`    per-round ms: ${[...times].map(([name, t]) => `${name} [${t.map((x) => x.toFixed(0)).join(', ')}]`).join('; ')}`);
  return new Map([...times].map(([name, t]) => [name, median(t)]));
}

interface Case {
  name: string;
  unit: string;
  n: number;
  ours: () => Promise<unknown>;
  fixed: () => Promise<unknown>;
  bare: () => Promise<unknown>;
  tjs?: () => Promise<unknown>;
  stats: () => CallStats;
}

/** Measures one case (bi-encoder or cross-encoder) and turns it into rows. */
/**
 * The bi-encoder on the folder's dynamic-int8 graph (opt-in: encode with { quantized: true }),
 * timed interleaved with the float32 path, and how far its embeddings are from float32's.
 */
async function int8Row(folder: string, f32: Awaited<ReturnType<typeof loadEncoder>>, texts: string[], shared: string | undefined, threads: number, batchSize: number, rounds: number, quick: boolean, log: (l: string) => void): Promise<BenchRow[]> {
  if (!fs.existsSync(path.join(folder, 'onnx', 'model_quantized.onnx'))) await exportQuantized(folder);
  const q8 = await loadEncoder(folder, { threads, batchSize, pooling: 'mean', normalize: true, quantized: true });
  try {
    const t = await compareInterleaved([['synthtune', () => f32.encode(texts)], ['synthtune-int8', () => q8.encode(texts)]], rounds, log);
    const ours = t.get('synthtune')!;
    const int8 = t.get('synthtune-int8')!;
    const cos = agreement(await q8.encode(texts), await f32.encode(texts), f32.dim);
    const extra: Record<string, unknown> = { cosine_mean_vs_fp32: +cos.meanCosine.toFixed(5), cosine_min_vs_fp32: +cos.minCosine.toFixed(5) };
    // retrieval agreement: 300 claims against 1,000 abstracts, top-10 sets of int8 vs float32
    const sf = quick ? null : await scifactTop10Overlap(f32, q8, shared);
    if (sf) {
      extra.top10_overlap_scifact = +sf.overlap.toFixed(4);
      extra.scifact_cosine_mean_vs_fp32 = +sf.cosine.toFixed(5);
    }
    const name = `bi-encoder ${texts.length} texts`;
    log(`  ${name}: int8 (opt-in) ${((texts.length * 1000) / int8).toFixed(1)} texts/s vs float32 ${((texts.length * 1000) / ours).toFixed(1)} (${(ours / int8).toFixed(2)}x); ${JSON.stringify(extra)}`);
    return [row(name, 'synthtune-int8', int8, texts.length, 'texts/s', 'synthtune', ours, extra)];
  } finally {
    await q8.release();
  }
}

/** top-10 overlap of 300 SciFact claims searched in 1,000 abstracts, embeddings a vs b (null without ../shared). */
async function scifactTop10Overlap(a: { encode(t: string[]): Promise<Float32Array>; dim: number }, b: { encode(t: string[]): Promise<Float32Array> }, shared: string | undefined): Promise<{ overlap: number; cosine: number } | null> {
  const scifact = shared && path.join(shared, 'data', 'scifact');
  if (!scifact || !fs.existsSync(path.join(scifact, 'corpus.jsonl'))) return null;
  const docs = readJsonl(path.join(scifact, 'corpus.jsonl'), 1000).map((r) => `${r.title ?? ''} ${r.text ?? ''}`.trim());
  const claims = readJsonl(path.join(scifact, 'queries.jsonl'), 300).map((r) => String(r.text ?? ''));
  const [aq, ad, bq, bd] = [await a.encode(claims), await a.encode(docs), await b.encode(claims), await b.encode(docs)];
  const x = topkRef(aq, ad, { dim: a.dim, k: 10 });
  const y = topkRef(bq, bd, { dim: a.dim, k: 10 });
  let same = 0;
  for (let i = 0; i < claims.length; i++) {
    const want = new Set(x.indices.subarray(i * 10, i * 10 + 10));
    for (const j of y.indices.subarray(i * 10, i * 10 + 10)) if (want.has(j)) same++;
  }
  return { overlap: same / (10 * claims.length), cosine: agreement(bd, ad, a.dim).meanCosine };
}

/**
 * The native backend (the folder's model.safetensors on the native transformer core, float32)
 * against onnxruntime on the same weights, timed interleaved; its extra says how close the
 * embeddings are (cosine, and the SciFact top-10 overlap with ../shared).
 */
async function nativeRow(folder: string, f32: Awaited<ReturnType<typeof loadEncoder>>, texts: string[], shared: string | undefined, threads: number, batchSize: number, rounds: number, quick: boolean, log: (l: string) => void): Promise<BenchRow[]> {
  let nat: Awaited<ReturnType<typeof loadEncoder>>;
  try {
    nat = await loadEncoder(folder, { threads, batchSize, pooling: 'mean', normalize: true, backend: 'native' });
  } catch (e) {
    log(`  native backend row skipped: ${(e as Error).message}`);
    return [];
  }
  try {
    const t = await compareInterleaved([['synthtune', () => f32.encode(texts)], ['synthtune-native', () => nat.encode(texts)]], rounds, log);
    const ours = t.get('synthtune')!;
    const native = t.get('synthtune-native')!;
    const cos = agreement(await nat.encode(texts), await f32.encode(texts), f32.dim);
    const extra: Record<string, unknown> = { cosine_min_vs_onnxruntime: +cos.minCosine.toFixed(7), max_abs_diff_vs_onnxruntime: +cos.maxAbsDiff.toExponential(2) };
    const sf = quick ? null : await scifactTop10Overlap(f32, nat, shared);
    if (sf) extra.top10_overlap_scifact = +sf.overlap.toFixed(4);
    const name = `bi-encoder ${texts.length} texts`;
    log(`  ${name}: native backend ${((texts.length * 1000) / native).toFixed(1)} texts/s vs onnxruntime ${((texts.length * 1000) / ours).toFixed(1)} (${(ours / native).toFixed(2)}x); ${JSON.stringify(extra)}`);
    return [row(name, 'synthtune-native', native, texts.length, 'texts/s', 'synthtune', ours, extra)];
  } finally {
    await nat.release();
  }
}

/** The bi-encoder case on sentence-transformers (PyTorch CPU); the synthtune row gets vs_sentence_transformers. */
function sentenceTransformersRow(folder: string, texts: string[], batchSize: number, threads: number, rounds: number, quick: boolean, rows: BenchRow[], log: (l: string) => void): BenchRow[] {
  const py = referencePython(['torch', 'sentence_transformers', 'transformers'], quick);
  if (!py.python) {
    log(`  sentence-transformers row skipped: ${py.why}`);
    return [];
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-st-encode-'));
  try {
    const file = path.join(dir, 'texts.json');
    fs.writeFileSync(file, JSON.stringify(texts));
    const args = ['--model', folder, '--texts', file, '--batch', String(batchSize), '--max-length', String(MAX_LENGTH), '--threads', String(threads), '--rounds', String(rounds)];
    const { json: j, why } = runReferenceScript<{ median_ms: number; torch: string; sentence_transformers: string }>(py.python, 'st_encode.py', args, 900_000);
    if (!j) {
      log(`  sentence-transformers row skipped: ${why}`);
      return [];
    }
    const name = `bi-encoder ${texts.length} texts`;
    const st = row(name, 'sentence-transformers', j.median_ms, texts.length, 'texts/s', 'sentence-transformers', j.median_ms);
    st.extra = { torch: j.torch, sentence_transformers: j.sentence_transformers, threads };
    for (const ours of rows.filter((x) => x.case === name && (x.backend === 'synthtune' || x.backend === 'synthtune-int8' || x.backend === 'synthtune-native'))) {
      ours.extra = { ...(ours.extra ?? {}), vs_sentence_transformers: `${(j.median_ms / ours.median_ms).toFixed(2)}x` };
    }
    log(`  ${name}: sentence-transformers ${((texts.length * 1000) / j.median_ms).toFixed(1)} texts/s (torch ${j.torch}, ${threads} threads)`);
    return [st];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runCase(k: Case, rounds: number, log: (l: string) => void): Promise<BenchRow[]> {
  const fns: [string, () => Promise<unknown>][] = [
    ['synthtune', k.ours],
    ['fixed-pad-unsorted', k.fixed],
    ['session.run (bare)', k.bare],
  ];
  if (k.tjs) fns.push(['transformers.js', k.tjs]);
  const t = await compareInterleaved(fns, rounds, log);
  await k.ours(); // stats of a clean run of our path
  const st = k.stats();
  const ours = t.get('synthtune')!;
  const fixed = t.get('fixed-pad-unsorted')!;
  const bare = t.get('session.run (bare)')!;
  const tj = t.get('transformers.js');
  const extra = {
    // time outside session.run within one call of our path (tokenise, pad, pool)
    overhead_in_call_pct: +(((st.totalMs - st.runMs) / st.runMs) * 100).toFixed(1),
    overhead_vs_bare_run_pct: +(((ours - bare) / bare) * 100).toFixed(1),
    tokenize_ms: +st.tokenizeMs.toFixed(1),
    padding_ratio: +(st.paddedTokens / st.realTokens).toFixed(2),
    truncated: st.truncated,
    speedup_vs_fixed_padding: +(fixed / ours).toFixed(2),
  };
  const rows: BenchRow[] = [];
  if (tj !== undefined) {
    rows.push(row(k.name, 'transformers.js', tj, k.n, k.unit, 'transformers.js', tj));
    rows.push(row(k.name, 'synthtune', ours, k.n, k.unit, 'transformers.js', tj, extra));
  }
  rows.push(row(k.name, 'fixed-pad-unsorted', fixed, k.n, k.unit, 'fixed-pad-unsorted', fixed));
  rows.push(row(k.name, 'synthtune', ours, k.n, k.unit, 'fixed-pad-unsorted', fixed, extra));
  rows.push(row(k.name, 'session.run (bare)', bare, k.n, k.unit, 'synthtune', ours));
  const rate = (ms: number) => `${((k.n * 1000) / ms).toFixed(1)} ${k.unit}`;
  log(
    `  ${k.name}: synthtune ${rate(ours)}` +
      (tj !== undefined ? `, transformers.js ${rate(tj)} (speedup ${(tj / ours).toFixed(2)})` : '') +
      `, fixed padding ${rate(fixed)} (speedup ${(fixed / ours).toFixed(2)}), bare session.run ${rate(bare)}; ` +
      `overhead outside session.run ${extra.overhead_in_call_pct}% (tokenise ${extra.tokenize_ms} ms), padding ratio ${extra.padding_ratio}`,
  );
  return rows;
}

export const suite: Suite = {
  name: 'encode',
  description: 'bi-encoder texts/s and cross-encoder pairs/s, MiniLM-sized ONNX model: ours vs fixed padding and transformers.js',
  async run({ quick, log }) {
    const shared = sharedDir();
    // several batches per run, so that batching by length has something to sort
    const n = quick ? 48 : 128;
    const batchSize = quick ? 16 : 32;
    const rounds = quick ? 1 : 3;
    const threads = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
    const work = workload(shared, n, n);
    log(`encode bench: ${JSON.stringify(hardware())}`);
    log(`  workload: ${work.source}; ${n} texts, ${n} pairs, batch ${batchSize}, max length ${MAX_LENGTH}, ${threads} threads, ${rounds} interleaved round(s)`);
    const models = buildModels(shared, log, work.texts);
    const tjs = await loadTransformersJs(models.root, threads, batchSize);
    if (tjs.note) log(`  transformers.js rows skipped: ${tjs.note}`);
    const rows: BenchRow[] = [];

    // ---- bi-encoder: texts → mean-pooled, normalised embeddings ----
    // the onnxruntime path, named: the folder also has model.safetensors, which 'auto' would run natively (the synthtune-native row)
    const enc = await loadEncoder(models.bi, { threads, batchSize, pooling: 'mean', normalize: true, backend: 'onnxruntime' });
    const texts = work.texts;
    const encoded = texts.map((t) => enc.tokenizer.encode(t));
    const textBatches = lengthSortedBatches(encoded.map((e) => e.ids.length), batchSize).map((b) => feedsOf(enc.tokenizer.pad(b.map((i) => encoded[i]))));
    rows.push(
      ...(await runCase(
        {
          name: `bi-encoder ${texts.length} texts`,
          unit: 'texts/s',
          n: texts.length,
          ours: () => enc.encode(texts),
          fixed: () => enc.encode(texts, { sortByLength: false, padTo: enc.maxLength }),
          bare: async () => {
            for (const f of textBatches) await enc.session!.run(f, ['last_hidden_state']);
          },
          tjs: tjs.encode && (() => tjs.encode!(texts)),
          stats: () => enc.lastStats,
        },
        rounds,
        log,
      )),
    );
    rows.push(...(await nativeRow(models.bi, enc, texts, shared, threads, batchSize, rounds, quick, log)));
    rows.push(...(await int8Row(models.bi, enc, texts, shared, threads, batchSize, rounds, quick, log)));
    await enc.release();
    rows.push(...sentenceTransformersRow(models.bi, texts, batchSize, threads, rounds, quick, rows, log));

    // ---- cross-encoder: (query, document) pairs → logits ----
    const ce = await loadCrossEncoder(models.ce, { threads, batchSize });
    const pairs = work.pairs;
    const encPairs = pairs.map(([q, d]) => ce.tokenizer.encodePair(q, d));
    const pairBatches = lengthSortedBatches(encPairs.map((e) => e.ids.length), batchSize).map((b) => feedsOf(ce.tokenizer.pad(b.map((i) => encPairs[i]))));
    rows.push(
      ...(await runCase(
        {
          name: `cross-encoder ${pairs.length} pairs`,
          unit: 'pairs/s',
          n: pairs.length,
          ours: () => ce.score(pairs),
          fixed: () => ce.score(pairs, { sortByLength: false, padTo: ce.maxLength }),
          bare: async () => {
            for (const f of pairBatches) await ce.session.run(f, ['logits']);
          },
          tjs: tjs.score && (() => tjs.score!(pairs)),
          stats: () => ce.lastStats,
        },
        rounds,
        log,
      )),
    );
    await ce.release();
    return rows;
  },
};
