/**
 * doc2query generation with a T5-style encoder-decoder in ONNX (as GPL's
 * BeIR/query-gen-msmarco-t5-base-v1): documents in, generated queries out, reading as
 * tokenize → encoder → decoder loop with a KV cache → decode.
 *
 *   const qg = await loadQueryGenerator('BeIR/query-gen-msmarco-t5-base-v1');
 *   const queries = await qg.generate(docs, { maxNewTokens: 64, numReturnSequences: 3, doSample: true, topP: 0.95, topK: 25, seed: 1 });
 *   // string[][]: queries[i] holds numReturnSequences queries for docs[i]
 *
 * Model folder (the layout of an optimum / transformers.js export): config.json
 * (decoder_start_token_id, eos_token_id, pad_token_id, num_heads, d_kv), tokenizer.json (+ tokenizer_config.json),
 *   onnx/encoder_model.onnx          input_ids, attention_mask [B, S] → last_hidden_state [B, S, D]
 *   onnx/decoder_model_merged.onnx   input_ids [B, T], encoder_attention_mask [B, S], encoder_hidden_states,
 *                                    past_key_values.{i}.{decoder,encoder}.{key,value} [B, H, P, K],
 *                                    use_cache_branch bool[1] → logits [B, T, V], present.{i}.{decoder,encoder}.{key,value}
 *   or onnx/decoder_model.onnx (no past) + onnx/decoder_with_past_model.onnx (past in, present.*.decoder.* out).
 * The encoder's cross-attention keys/values come out of the first decoder step (present.*.encoder.*) and
 * are fed back unchanged; the self-attention cache grows by one position per step (present.*.decoder.*).
 * Shapes: B rows (texts × numReturnSequences), S source tokens, T decoder tokens fed, P cached positions,
 * H heads, K head dim, D model dim, V vocabulary.
 *
 * Relation to Hugging Face `generate()`:
 *   - greedy (doSample false) matches it token for token (test/seq2seq.test.ts, random-weight T5 made
 *     by test/python/make_t5.py): argmax with the lowest index on ties, finished rows padded, stop at
 *     max_new_tokens or when every row has emitted eos_token_id. Sources are right-padded; T5's relative
 *     positions make padding invisible to the real tokens.
 *   - sampling applies HF's warpers in HF's order — temperature, then top-k (TopKLogitsWarper: keep
 *     scores ≥ the k-th largest, ties included), then top-p (TopPLogitsWarper: sort ascending, drop the
 *     prefix whose cumulative probability is ≤ 1 − top_p, always keep the best) — and draws from the
 *     softmax of what is left. The filtering equals HF's on the same logits (tested; probabilities are
 *     summed in float64 here, float32 in torch, so a cumulative sum within ~1e-7 of 1 − top_p may
 *     differ). The draw itself uses mulberry32 (lib/util/rng.ts), not torch's generator, so sampled
 *     queries cannot equal HF's bit for bit; they are deterministic for a seed. Each (text, return
 *     sequence) row has its own stream, mixSeed(seed, text index, sequence index), so results do not
 *     depend on batchSize. Defaults follow HF's GenerationConfig: topK 50, topP 1, temperature 1.
 *   - HF refuses numReturnSequences > 1 without sampling (greedy rows would be identical); so do we.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mixSeed, mulberry32, type Rng } from '../util/rng';
import { ModelError } from './errors';
import { loadOrtModel, type FeedTensor, type OrtModel, type OutTensor, type SessionOptions } from './ort';
import { resolveModel, type ResolveOptions } from './resolve';
import { TextTokenizer } from './tokenizer';
import { InputTypeError } from '../util/errors';
import { readModelJson } from './json-file';

export const ENCODER_FILE = 'onnx/encoder_model.onnx';
export const DECODER_MERGED_FILE = 'onnx/decoder_model_merged.onnx';
export const DECODER_FILE = 'onnx/decoder_model.onnx';
export const DECODER_WITH_PAST_FILE = 'onnx/decoder_with_past_model.onnx';

export interface QueryGeneratorOptions extends SessionOptions, Pick<ResolveOptions, 'cacheDir' | 'hfCacheDir' | 'offline' | 'download' | 'log'> {
  /** Max source tokens (special tokens included). Default: tokenizer_config / 512. */
  maxLength?: number;
  /** Use decoder_model.onnx + decoder_with_past_model.onnx even when the merged decoder is present. */
  preferSplit?: boolean;
}

export interface GenerateOptions {
  /** New tokens per query at most (eos included). */
  maxNewTokens: number;
  /** Queries per text. Default 1; > 1 needs doSample. */
  numReturnSequences?: number;
  /** Sample instead of greedy argmax. Default false. */
  doSample?: boolean;
  /** Keep the k best tokens (0 = off). Default 50 (HF's default). */
  topK?: number;
  /** Keep the smallest set of best tokens with probability > topP (1 = off). Default 1. */
  topP?: number;
  /** Divides the logits before filtering. Default 1. */
  temperature?: number;
  /** Seed of the sampling streams. Default 0. */
  seed?: number;
  /** Texts per encoder/decoder batch. Default 16. */
  batchSize?: number;
  /** Feed back the KV cache (default true); false re-runs the decoder on the whole prefix each step (a check). */
  useCache?: boolean;
}

export interface QueryGenerator {
  readonly modelDir: string;
  readonly tokenizer: TextTokenizer;
  /** 'merged' (decoder_model_merged.onnx) or 'split' (decoder_model.onnx + decoder_with_past_model.onnx). */
  readonly decoderLayout: 'merged' | 'split';
  /** Queries per text: result[i][r] is the r-th query for texts[i]. */
  generate(texts: string[], opts: GenerateOptions): Promise<string[][]>;
  /** The generated ids (without the decoder start token, through the first eos), per text and sequence. */
  generateIds(texts: string[], opts: GenerateOptions): Promise<number[][][]>;
  release(): Promise<void>;
}

export interface WarpOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
}

/**
 * HF's TemperatureLogitsWarper → TopKLogitsWarper → TopPLogitsWarper on one row of logits [V].
 * Removed entries become -Infinity; the result is a new array.
 */
export function warpLogits(logits: Float32Array, { temperature = 1, topK = 0, topP = 1 }: WarpOptions): Float32Array {
  const v = logits.length;
  const out = new Float32Array(v);
  for (let i = 0; i < v; i++) out[i] = temperature !== 1 ? logits[i] / temperature : logits[i];
  if (topK > 0) {
    const k = Math.min(Math.max(topK, 1), v);
    const threshold = Float32Array.from(out).sort((a, b) => b - a)[k - 1];
    for (let i = 0; i < v; i++) if (out[i] < threshold) out[i] = -Infinity;
  }
  if (topP < 1) {
    // Entries already removed (-Infinity) have probability 0: HF sorts them first and drops them again,
    // so only the finite ones need sorting (after top-k, k of them instead of V).
    const order: number[] = [];
    for (let i = 0; i < v; i++) if (out[i] !== -Infinity) order.push(i);
    order.sort((a, b) => out[a] - out[b] || a - b); // ascending
    const n = order.length;
    const max = out[order[n - 1]];
    let total = 0;
    for (const i of order) total += Math.exp(out[i] - max);
    let cum = 0;
    const cut = 1 - topP;
    const remove: number[] = [];
    for (let j = 0; j < n - 1; j++) {
      // the last (best) token is always kept (min_tokens_to_keep = 1)
      cum += Math.exp(out[order[j]] - max) / total;
      if (cum <= cut) remove.push(order[j]);
    }
    for (const i of remove) out[i] = -Infinity;
  }
  return out;
}

/** Index of the largest value, the lowest index on ties (torch.argmax). */
export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Draws an index from softmax(row) with one uniform number from `rng` (-Infinity entries never). */
export function sampleIndex(row: Float32Array, rng: Rng): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let total = 0;
  const p = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) total += p[i] = row[i] === -Infinity ? 0 : Math.exp(row[i] - max);
  const u = rng() * total;
  let cum = 0;
  let last = 0;
  for (let i = 0; i < row.length; i++) {
    if (p[i] === 0) continue;
    cum += p[i];
    last = i;
    if (u < cum) return i;
  }
  return last;
}

interface T5Config {
  decoderStart: number;
  eos: Set<number>;
  pad: number;
  heads: number;
  headDim: number;
}

function readConfig(dir: string): T5Config {
  const file = path.join(dir, 'config.json');
  const cfg = readModelJson(file, true);
  if (!cfg) throw new ModelError(`${dir}: no config.json (needed for seq2seq generation)`);
  const int = (key: string, fallback?: number): number => {
    const v = cfg[key] ?? fallback;
    if (!Number.isInteger(v)) throw new ModelError(`${file} has no integer '${key}' (needed for seq2seq generation)`);
    return v as number;
  };
  const eosRaw = cfg.eos_token_id;
  const eos = Array.isArray(eosRaw) ? eosRaw : [eosRaw];
  if (!eos.every((e) => Number.isInteger(e))) throw new ModelError(`${file} has no integer 'eos_token_id'`);
  const pad = int('pad_token_id');
  return { decoderStart: int('decoder_start_token_id', pad), eos: new Set(eos as number[]), pad, heads: int('num_heads'), headDim: int('d_kv') };
}

const SEQ2SEQ_FILES = [DECODER_MERGED_FILE, DECODER_FILE, DECODER_WITH_PAST_FILE];

/** Loads a T5-style doc2query model (folder or hub id) exported to ONNX; see the file header. */
export async function loadQueryGenerator(ref: string, opts: QueryGeneratorOptions = {}): Promise<QueryGenerator> {
  const resolved = await resolveModel(ref, { ...opts, graphFiles: [ENCODER_FILE], extraFiles: ['generation_config.json', ...SEQ2SEQ_FILES] });
  const dir = resolved.dir;
  const has = (f: string) => fs.existsSync(path.join(dir, f));
  const merged = has(DECODER_MERGED_FILE) && !(opts.preferSplit && has(DECODER_FILE) && has(DECODER_WITH_PAST_FILE));
  if (!merged && !(has(DECODER_FILE) && has(DECODER_WITH_PAST_FILE))) {
    throw new ModelError(`seq2seq model folder ${dir} needs ${DECODER_MERGED_FILE}, or ${DECODER_FILE} and ${DECODER_WITH_PAST_FILE}`);
  }
  const cfg = readConfig(dir);
  const tokenizer = TextTokenizer.fromFolder(dir, { maxLength: opts.maxLength });
  const session: SessionOptions = { threads: opts.threads, device: opts.device, optimization: opts.optimization };
  const sessions: OrtModel[] = [];
  try {
    const encoder = await loadOrtModel(resolved.onnxPath!, { requiredInputs: ['input_ids', 'attention_mask'], anyOutput: ['last_hidden_state'] }, session);
    sessions.push(encoder);
    const decoderIo = {
      requiredInputs: ['input_ids', 'encoder_attention_mask'],
      optionalInputs: ['encoder_hidden_states', 'use_cache_branch'],
      optionalInputPattern: /^past_key_values\.\d+\.(decoder|encoder)\.(key|value)$/,
      anyOutput: ['logits'],
    };
    const open = (file: string) => loadOrtModel(path.join(dir, file), decoderIo, session);
    const noPast = await open(merged ? DECODER_MERGED_FILE : DECODER_FILE);
    sessions.push(noPast);
    const withPast = merged ? noPast : await open(DECODER_WITH_PAST_FILE);
    if (!merged) sessions.push(withPast);
    const layers = noPast.outputNames.filter((n) => /^present\.\d+\.decoder\.key$/.test(n)).length;
    if (!layers) throw new ModelError(`${noPast.path} has no present.{i}.decoder.key outputs (not an optimum seq2seq decoder export)`);
    return makeGenerator({ dir, tokenizer, cfg, encoder, noPast, withPast, merged, layers });
  } catch (e) {
    for (const s of sessions) await s.release();
    throw e;
  }
}

interface Parts {
  dir: string;
  tokenizer: TextTokenizer;
  cfg: T5Config;
  encoder: OrtModel;
  noPast: OrtModel;
  withPast: OrtModel;
  merged: boolean;
  layers: number;
}

function checkGenerate(texts: string[], o: GenerateOptions): Required<GenerateOptions> {
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) throw new InputTypeError('texts must be an array of strings');
  const r: Required<GenerateOptions> = {
    maxNewTokens: o?.maxNewTokens,
    numReturnSequences: o.numReturnSequences ?? 1,
    doSample: o.doSample ?? false,
    topK: o.topK ?? 50,
    topP: o.topP ?? 1,
    temperature: o.temperature ?? 1,
    seed: o.seed ?? 0,
    batchSize: o.batchSize ?? 16,
    useCache: o.useCache ?? true,
  };
  if (!Number.isInteger(r.maxNewTokens) || r.maxNewTokens < 1) throw new InputTypeError(`maxNewTokens must be a positive integer, got ${o?.maxNewTokens}`);
  if (!Number.isInteger(r.numReturnSequences) || r.numReturnSequences < 1) throw new InputTypeError(`numReturnSequences must be a positive integer, got ${r.numReturnSequences}`);
  if (r.numReturnSequences > 1 && !r.doSample) throw new InputTypeError('numReturnSequences > 1 needs doSample: true (greedy decoding would repeat the same query)');
  if (!Number.isInteger(r.topK) || r.topK < 0) throw new InputTypeError(`topK must be an integer ≥ 0, got ${r.topK}`);
  if (!(r.topP > 0 && r.topP <= 1)) throw new InputTypeError(`topP must be in (0, 1], got ${r.topP}`);
  if (!(r.temperature > 0 && Number.isFinite(r.temperature))) throw new InputTypeError(`temperature must be a positive number, got ${r.temperature}`);
  if (!Number.isInteger(r.seed)) throw new InputTypeError(`seed must be an integer, got ${r.seed}`);
  if (!Number.isInteger(r.batchSize) || r.batchSize < 1) throw new InputTypeError(`batchSize must be a positive integer, got ${r.batchSize}`);
  return r;
}

function makeGenerator(p: Parts): QueryGenerator {
  const { cfg, tokenizer } = p;
  const kv = (prefix: string, kind: 'decoder' | 'encoder') => {
    const names: string[] = [];
    for (let i = 0; i < p.layers; i++) names.push(`${prefix}.${i}.${kind}.key`, `${prefix}.${i}.${kind}.value`);
    return names;
  };
  const presentDec = kv('present', 'decoder');
  const presentEnc = kv('present', 'encoder');
  const pastDec = kv('past_key_values', 'decoder');
  const pastEnc = kv('past_key_values', 'encoder');

  /** Generated ids for one batch of texts; rows = texts × n, text-major (HF's repeat_interleave). */
  async function generateBatch(texts: string[], first: number, o: Required<GenerateOptions>): Promise<number[][]> {
    const n = o.numReturnSequences;
    const enc = tokenizer.encodeBatch(texts);
    const encOut = await p.encoder.run({ input_ids: { data: enc.inputIds, dims: [enc.batch, enc.seq] }, attention_mask: { data: enc.attentionMask, dims: [enc.batch, enc.seq] } }, ['last_hidden_state']);
    const hidden = encOut.last_hidden_state; // [b, S, D]
    const rows = enc.batch * n;
    const S = enc.seq;
    const D = hidden.dims[2];
    const hid = new Float32Array(rows * S * D);
    const mask = new BigInt64Array(rows * S);
    for (let r = 0; r < rows; r++) {
      const t = Math.floor(r / n);
      hid.set(hidden.data.subarray(t * S * D, (t + 1) * S * D), r * S * D);
      mask.set(enc.attentionMask.subarray(t * S, (t + 1) * S), r * S);
    }
    const rngs = Array.from({ length: rows }, (_, r) => mulberry32(mixSeed(o.seed, first + Math.floor(r / n), r % n)));
    const emptyPast = (): Record<string, FeedTensor> => {
      const f: Record<string, FeedTensor> = {};
      for (const name of [...pastDec, ...pastEnc]) f[name] = { data: new Float32Array(0), dims: [rows, cfg.heads, 0, cfg.headDim] };
      return f;
    };
    const common = { encoder_attention_mask: { data: mask, dims: [rows, S] }, encoder_hidden_states: { data: hid, dims: [rows, S, D] } };

    const seqs: number[][] = Array.from({ length: rows }, () => []); // through the first eos
    const fed: number[][] = Array.from({ length: rows }, () => []); // every chosen token, pad after eos (HF)
    const done = new Array<boolean>(rows).fill(false);
    let last = new Array<number>(rows).fill(cfg.decoderStart);
    let past: Record<string, OutTensor> | undefined; // present.* of the previous step
    let encPast: Record<string, OutTensor> | undefined; // present.*.encoder.* of the first step
    for (let step = 0; step < o.maxNewTokens; step++) {
      let logits: OutTensor;
      if (o.useCache && step > 0) {
        const feeds: Record<string, FeedTensor> = { ...common, input_ids: { data: BigInt64Array.from(last, BigInt), dims: [rows, 1] } };
        for (let j = 0; j < pastDec.length; j++) feeds[pastDec[j]] = past![presentDec[j]];
        for (let j = 0; j < pastEnc.length; j++) feeds[pastEnc[j]] = encPast![presentEnc[j]];
        if (p.merged) feeds.use_cache_branch = { data: Uint8Array.of(1), dims: [1] };
        const out = await p.withPast.run(feeds, ['logits', ...presentDec]);
        logits = out.logits;
        past = out;
      } else {
        // the whole prefix (decoder start + tokens so far) through the graph without past
        const T = step + 1;
        const ids = new BigInt64Array(rows * T);
        for (let r = 0; r < rows; r++) {
          ids[r * T] = BigInt(cfg.decoderStart);
          for (let t = 1; t < T; t++) ids[r * T + t] = BigInt(fed[r][t - 1]);
        }
        const feeds: Record<string, FeedTensor> = { ...common, input_ids: { data: ids, dims: [rows, T] } };
        if (p.merged) Object.assign(feeds, emptyPast(), { use_cache_branch: { data: Uint8Array.of(0), dims: [1] } });
        const out = await p.noPast.run(feeds, ['logits', ...(o.useCache ? [...presentDec, ...presentEnc] : [])]);
        logits = out.logits;
        if (o.useCache) {
          past = out;
          encPast = out;
        }
      }
      const [, T, V] = logits.dims;
      const next = new Array<number>(rows);
      for (let r = 0; r < rows; r++) {
        if (done[r]) {
          next[r] = cfg.pad;
          continue;
        }
        const row = logits.data.subarray((r * T + T - 1) * V, (r * T + T) * V);
        next[r] = o.doSample ? sampleIndex(warpLogits(row, o), rngs[r]) : argmax(row);
        seqs[r].push(next[r]);
        if (cfg.eos.has(next[r])) done[r] = true;
      }
      for (let r = 0; r < rows; r++) fed[r].push(next[r]);
      last = next;
      if (done.every(Boolean)) break;
    }
    return seqs;
  }

  async function generateIds(texts: string[], opts: GenerateOptions): Promise<number[][][]> {
    const o = checkGenerate(texts, opts);
    const out: number[][][] = [];
    for (let i = 0; i < texts.length; i += o.batchSize) {
      const chunk = texts.slice(i, i + o.batchSize);
      const seqs = await generateBatch(chunk, i, o);
      for (let t = 0; t < chunk.length; t++) out.push(seqs.slice(t * o.numReturnSequences, (t + 1) * o.numReturnSequences));
    }
    return out;
  }

  return {
    modelDir: p.dir,
    tokenizer,
    decoderLayout: p.merged ? 'merged' : 'split',
    generateIds,
    async generate(texts, opts) {
      const ids = await generateIds(texts, opts);
      return ids.map((seqs) => seqs.map((s) => tokenizer.decode(s, true).trim()));
    },
    async release() {
      for (const s of new Set([p.encoder, p.noPast, p.withPast])) await s.release();
    },
  };
}
