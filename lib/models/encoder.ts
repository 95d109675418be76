/**
 * Bi-encoder inference: texts → one embedding per text, reading as tokenize → model → pool →
 * the folder's modules after pooling (Dense, Normalize, a Router's side).
 *
 *   const enc = await loadEncoder('sentence-transformers/msmarco-distilbert-base-v3', { threads: 2 });
 *   const vecs = await enc.encode(texts);          // Float32Array [N * enc.dim], row i = texts[i]
 *   await enc.encodeQueries(texts);                // the folder's query prompt / the Router's query side
 *   await enc.encodeDocuments(texts);              // … and the document side
 *
 * What the folder declares comes from lib/models/st-folder.ts: pooling (every sentence-transformers
 * mode, several concatenated, include_prompt), Dense and Normalize in their order, prompts,
 * do_lower_case, a Router (an asymmetric model: plain encode() then needs a side), similarity.
 * The model runs on onnxruntime (the folder's ONNX graph), or, for a folder with only
 * model.safetensors, on the native core (./native-encoder.ts). Without a Pooling module the graph's
 * own `sentence_embedding` output is used when it has one ('model': the whole pipeline, no modules
 * applied again), else mean pooling.
 *
 * Texts are tokenised once, ordered by token length, and cut into batches, so each batch is padded
 * only to its own longest text; results are written back in input order.
 *
 * Shapes: N texts, B batch, S padded length of a batch, H hidden size, dim = embedding size.
 */
import * as path from 'node:path';
import { loadOrtModel, type IoSpec, type OrtModel, type OutTensor, type SessionOptions } from './ort';
import { resolveModel, type ResolveOptions, type ResolvedModel } from './resolve';
import { checkIdsInVocab, checkTexts, TextTokenizer, type Batch, type Encoded, type TokenizerOptions } from './tokenizer';
import { ModelError } from './errors';
import { applyDense, isCrossEncoderFolder, POOLING_MODES, poolTokens, readModelFolder, sidePromptName, type ModelFolder, type PoolingMode, type Similarity } from './st-folder';
import { InputTypeError, isUserError } from '../util/errors';

/** A sentence-transformers pooling mode, or 'model': the graph's own sentence_embedding output. */
export type Pooling = PoolingMode | 'model';

export interface LoadOptions extends SessionOptions, TokenizerOptions, ResolveOptions {
  /** Texts (or pairs) per model call. Default 32. */
  batchSize?: number;
  /** Accept empty / whitespace-only texts (encoded as just the special tokens). Default false: error. */
  allowEmpty?: boolean;
}

export interface EncoderOptions extends LoadOptions {
  /** Overrides the folder's pooling (one mode, or 'model'). */
  pooling?: Pooling;
  normalize?: boolean;
  /** Return the pooled embeddings, without the folder's Dense modules (weight-import checks). Default false. */
  stopAfterPooling?: boolean;
  /**
   * What runs the transformer: 'onnxruntime' (the folder's ONNX graph), 'native' (its
   * model.safetensors on the native core, as full fine-tuning trains it; float32, agrees with the
   * graph to rounding; batches packed, no padding computed), or 'auto' (default): the weights on
   * the native core when the folder has them and the core can run it (see nativePreferred), else
   * the graph.
   */
  backend?: EncoderBackend;
}

export type EncoderBackend = 'auto' | 'onnxruntime' | 'native';
export const ENCODER_BACKENDS: readonly EncoderBackend[] = ['auto', 'onnxruntime', 'native'];

/** Per-call options; sortByLength / padTo exist to measure the naive path in benchmarks. */
export interface EncodeCallOptions {
  batchSize?: number;
  normalize?: boolean;
  /** Order texts by length before batching. Default true. */
  sortByLength?: boolean;
  /** Pad every batch to at least this many tokens (fixed padding). Default: none (dynamic). */
  padTo?: number;
  /** Text put in front of every input (as sentence-transformers' encode(prompt=...)). */
  prompt?: string;
  /** A prompt of the folder's config_sentence_transformers.json by name ('query', 'document', ...). */
  promptName?: string;
  /**
   * Which side the texts are. Required by an asymmetric folder (a Router: queries and documents
   * go through different modules); encodeQueries / encodeDocuments set it (and the side's prompt).
   */
  side?: 'query' | 'document';
}

/** Time spent in the last call, in ms: total, tokenisation, and inside session.run. */
export interface CallStats {
  totalMs: number;
  tokenizeMs: number;
  runMs: number;
  batches: number;
  /** Padded tokens fed to the model (B·S summed over batches) and real tokens among them. */
  paddedTokens: number;
  realTokens: number;
  truncated: number;
}

export interface Encoder {
  readonly dim: number;
  /** The first pooling mode (or 'model'); all of them in poolingModes. */
  readonly pooling: Pooling;
  readonly poolingModes: Pooling[];
  /** What the folder declares (modules, prompts, similarity). */
  readonly folder: ModelFolder;
  /** Named prompts of the folder (config_sentence_transformers.json). */
  readonly prompts: Record<string, string>;
  /** The folder's similarity_fn_name ('cosine' when it declares none, as sentence-transformers). */
  readonly similarity: Similarity;
  /** The prompt name sentence-transformers would use for queries / documents (undefined: none). */
  promptNameFor(side: 'query' | 'document'): string | undefined;
  /** Queries and documents are encoded differently (a Router module): plain encode() needs a side. */
  readonly asymmetric: boolean;
  /** What encodes each side, in words (for logs): e.g. "query: Transformer → Pooling → Dense (Router 'query' route)". */
  describeSide(side: 'query' | 'document'): string;
  readonly normalize: boolean;
  readonly maxLength: number;
  readonly batchSize: number;
  readonly modelDir: string;
  readonly tokenizer: TextTokenizer;
  /** What runs the model: onnxruntime (the folder's ONNX graph) or the native forward pass (model.safetensors only). */
  readonly backend: 'onnxruntime' | 'native';
  /** The onnxruntime session (undefined on the native backend). */
  readonly session: OrtModel | undefined;
  /** Stats of the last encode call. */
  readonly lastStats: CallStats;
  encode(texts: string[], opts?: EncodeCallOptions): Promise<Float32Array>;
  /** encode() with the folder's query prompt (sentence-transformers' encode_query), unless the call names one. */
  encodeQueries(texts: string[], opts?: EncodeCallOptions): Promise<Float32Array>;
  /** encode() with the folder's document prompt ('document', 'passage' or 'corpus'; encode_document). */
  encodeDocuments(texts: string[], opts?: EncodeCallOptions): Promise<Float32Array>;
  release(): Promise<void>;
}

/** A model folder opened for inference: resolved files, tokenizer, session. */
export interface OpenedModel {
  resolved: ResolvedModel;
  tokenizer: TextTokenizer;
  session: OrtModel;
}

export async function openModel(ref: string | ResolvedModel, io: IoSpec, opts: LoadOptions): Promise<OpenedModel> {
  const resolved = typeof ref === 'string' ? await resolveModel(ref, opts) : ref;
  if (!resolved.onnxPath) throw new ModelError(`${resolved.dir} has no ONNX graph (onnx/model.onnx); this use needs one`);
  const tokenizer = TextTokenizer.fromFolder(resolved.dir, opts);
  const session = await loadOrtModel(resolved.onnxPath, io, opts);
  return { resolved, tokenizer, session };
}

export function checkBatchSize(n: number | undefined, dflt = 32): number {
  const b = n ?? dflt;
  if (!Number.isInteger(b) || b < 1) throw new InputTypeError(`batchSize must be a positive integer, got ${n}`);
  return b;
}

/** Input indices cut into batches; with sortByLength, ordered by token length (longest first). */
export function lengthSortedBatches(lengths: number[], batchSize: number, sortByLength = true): number[][] {
  const order = lengths.map((_, i) => i);
  if (sortByLength) order.sort((a, b) => lengths[b] - lengths[a] || a - b);
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  return batches;
}

/** Feeds for a padded batch (token_type_ids is dropped by the session when the graph lacks it). */
export function feedsOf(b: Batch) {
  const dims = [b.batch, b.seq];
  return {
    input_ids: { data: b.inputIds, dims },
    attention_mask: { data: b.attentionMask, dims },
    token_type_ids: { data: b.tokenTypeIds, dims },
  };
}

export function emptyStats(): CallStats {
  return { totalMs: 0, tokenizeMs: 0, runMs: 0, batches: 0, paddedTokens: 0, realTokens: 0, truncated: 0 };
}

/**
 * The batch loop shared by the bi-encoder and the cross-encoder: length-sorted batches of the
 * encoded items, each padded, run through the session for `fetch`, and counted in `stats`;
 * `post(rows, batch, output)` writes the batch's results to the input positions `rows`.
 */
export async function runBatches(
  tokenizer: TextTokenizer,
  session: OrtModel,
  encoded: Encoded[],
  batchSize: number,
  call: { sortByLength?: boolean; padTo?: number },
  fetch: string,
  stats: CallStats,
  post: (rows: number[], batch: Batch, output: OutTensor) => void,
): Promise<void> {
  for (const rows of lengthSortedBatches(encoded.map((e) => e.ids.length), batchSize, call.sortByLength ?? true)) {
    const items = rows.map((i) => encoded[i]);
    const t1 = performance.now();
    const batch = tokenizer.pad(items, call.padTo);
    stats.tokenizeMs += performance.now() - t1;
    const t2 = performance.now();
    const output = (await session.run(feedsOf(batch), [fetch]))[fetch];
    stats.runMs += performance.now() - t2;
    stats.batches++;
    stats.paddedTokens += batch.batch * batch.seq;
    for (const e of items) {
      stats.realTokens += e.ids.length;
      if (e.truncated) stats.truncated++;
    }
    post(rows, batch, output);
  }
}

/** Masked mean over the sequence: out[b] = Σ_s mask[b,s]·h[b,s] / Σ_s mask[b,s].  h is [B, S, H]. (poolTokens' 'mean'.) */
export function meanPool(h: Float32Array, mask: BigInt64Array, B: number, S: number, H: number, out: Float32Array, rows: number[], dim: number): void {
  poolTokens(h, mask, B, S, H, ['mean'], out, rows, dim);
}

/** In-place L2 normalisation of N rows of length dim (norms clamped at 1e-12 like F.normalize). */
export function l2NormalizeRows(x: Float32Array, dim: number): Float32Array {
  for (let o = 0; o < x.length; o += dim) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[o + d] * x[o + d];
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let d = 0; d < dim; d++) x[o + d] *= inv;
  }
  return x;
}

const ENCODER_IO: IoSpec = {
  requiredInputs: ['input_ids', 'attention_mask'],
  optionalInputs: ['token_type_ids'],
  anyOutput: ['last_hidden_state', 'token_embeddings', 'sentence_embedding'],
};

/**
 * Pooling of a loaded folder: the option, else the folder's Pooling module, else the graph's own
 * sentence_embedding when it has one, else mean.
 */
function choosePooling(opt: Pooling | undefined, folder: ModelFolder, hasSentence: boolean): Pooling[] {
  if (opt !== undefined) return [opt];
  if (folder.pooling) return folder.pooling.modes;
  return [hasSentence ? 'model' : 'mean'];
}

/**
 * What produces the pooled embeddings of a batch of encoded texts: onnxruntime (token embeddings
 * pooled here) or the native forward pass (pooled in the native core). Dense, Normalize, prompts
 * and lowercasing are applied around it, the same for both.
 */
interface PooledBackend {
  kind: 'onnxruntime' | 'native';
  /** Width of the pooled output (before Dense). */
  pooledWidth: number;
  session?: OrtModel;
  /** Pools the encoded texts into out (rows in input order). */
  pool(encoded: Encoded[], out: Float32Array, bs: number, call: EncodeCallOptions, stats: CallStats, promptLength: number): Promise<void>;
  release(): Promise<void>;
}

async function onnxBackend(m: OpenedModel, folder: ModelFolder, modes: Pooling[], fail: (msg: string) => Promise<never>): Promise<PooledBackend> {
  const { tokenizer, session } = m;
  const hasSentence = session.outputNames.includes('sentence_embedding');
  const hiddenName = session.outputNames.includes('last_hidden_state') ? 'last_hidden_state' : session.outputNames.includes('token_embeddings') ? 'token_embeddings' : undefined;
  const pooling = modes[0];
  if (pooling === 'model' && !hasSentence) await fail(`pooling 'model' needs a sentence_embedding output; ${m.resolved.onnxPath} has outputs [${session.outputNames.join(', ')}]`);
  if (pooling !== 'model' && !hiddenName) {
    await fail(`pooling '${modes.join('+')}' needs a last_hidden_state (or token_embeddings) output; ${m.resolved.onnxPath} has outputs [${session.outputNames.join(', ')}]`);
  }
  const fetch = pooling === 'model' ? 'sentence_embedding' : hiddenName!;
  // Token width: one probe run on the shortest possible input.
  const probe = await session.run(feedsOf(tokenizer.pad([tokenizer.encode('')])), [fetch]);
  const hidden = probe[fetch].dims[probe[fetch].dims.length - 1];
  if (folder.pooling?.dimension !== undefined && pooling !== 'model' && folder.pooling.dimension !== hidden) {
    await fail(`${path.join(m.resolved.dir, folder.pooling.path, 'config.json')}: embedding_dimension ${folder.pooling.dimension} does not match the model's ${hidden}-wide token embeddings`);
  }
  const pooledWidth = pooling === 'model' ? hidden : hidden * modes.length;
  return {
    kind: 'onnxruntime',
    pooledWidth,
    session,
    async pool(encoded, out, bs, call, stats, promptLength) {
      await runBatches(tokenizer, session, encoded, bs, call, fetch, stats, (rows, batch, res) => {
        const { batch: B, seq: S } = batch;
        if (pooling === 'model') {
          for (let b = 0; b < B; b++) out.set(res.data.subarray(b * hidden, (b + 1) * hidden), rows[b] * hidden);
        } else {
          poolTokens(res.data, batch.attentionMask, B, S, hidden, modes as PoolingMode[], out, rows, pooledWidth, promptLength);
        }
      });
    },
    release: () => session.release(),
  };
}

/**
 * Whether backend 'auto' runs a folder that has both a graph and model.safetensors on the native
 * core: a float32 CPU run (not quantized, not device 'cuda') whose pooling the folder declares (or
 * the caller names; without either the graph's own sentence_embedding output may be what the
 * folder means), prompts pooled like the rest, and the native addon loaded.
 */
async function nativePreferred(opts: EncoderOptions, folder: ModelFolder): Promise<boolean> {
  if (opts.quantized || (opts.device ?? 'cpu') !== 'cpu' || opts.pooling === 'model') return false;
  if (opts.pooling === undefined && !folder.pooling) return false;
  if (folder.pooling?.includePrompt === false) return false;
  const { nativeBertAvailable } = await import('../training/students/full.js');
  return nativeBertAvailable().ok;
}

/** Loads a bi-encoder from a folder or a Hugging Face id (ONNX graph, or model.safetensors run natively). */
export async function loadEncoder(ref: string, opts: EncoderOptions = {}): Promise<Encoder> {
  const batchSize = checkBatchSize(opts.batchSize);
  if (opts.pooling !== undefined && !['model', ...POOLING_MODES].includes(opts.pooling)) {
    throw new InputTypeError(`pooling must be 'model' or one of ${POOLING_MODES.join(', ')}, got '${String(opts.pooling)}'`);
  }
  const want = opts.backend ?? 'auto';
  if (!ENCODER_BACKENDS.includes(want)) throw new InputTypeError(`backend must be one of ${ENCODER_BACKENDS.join(', ')}, got '${String(want)}'`);
  if (want === 'native' && opts.quantized) throw new InputTypeError("backend 'native' runs float32 weights; quantized (onnx/model_quantized.onnx) needs backend 'onnxruntime' or 'auto'");
  const resolved = await resolveModel(ref, { ...opts, weightsOk: want !== 'onnxruntime' });
  const folder = readModelFolder(resolved.dir);
  if (isCrossEncoderFolder(folder)) {
    throw new ModelError(`${resolved.dir} is a cross-encoder (its sentence-transformers files say so); load it with loadCrossEncoder / as a scorer, not as a bi-encoder`);
  }
  if (want === 'native' && !resolved.weightsPath) {
    throw new ModelError(`backend 'native' needs ${path.join(resolved.dir, 'model.safetensors')}; the folder has only ${path.relative(resolved.dir, resolved.onnxPath ?? '') || 'an ONNX graph'} (use backend 'onnxruntime' or 'auto')`);
  }
  let backend: PooledBackend | undefined;
  let tokenizer!: TextTokenizer;
  let modes!: Pooling[];
  // auto: beside a graph, the folder's model.safetensors runs on the native core when it can
  // (float32, the graph's embeddings to rounding; batches packed, no padding computed): that is
  // faster than onnxruntime on the same weights (bench encode). Where the core cannot run the
  // folder (architecture, missing addon), auto runs the graph and says why.
  const tryNative = want === 'native' || !resolved.onnxPath || (want === 'auto' && resolved.weightsPath !== undefined && (await nativePreferred(opts, folder)));
  if (tryNative) {
    if (opts.pooling === 'model') throw new ModelError(`pooling 'model' needs an ONNX graph with a sentence_embedding output; ${resolved.dir} has only ${path.basename(resolved.weightsPath ?? 'model.safetensors')}`);
    const native = choosePooling(opts.pooling, folder, false);
    const { nativeBackend } = await import('./native-encoder.js');
    try {
      const nb = await nativeBackend(resolved, folder, native as PoolingMode[], opts);
      modes = native;
      tokenizer = nb.tokenizer;
      backend = nb;
    } catch (e) {
      if (want !== 'auto' || !resolved.onnxPath || !isUserError(e)) throw e;
      opts.log?.(`${resolved.dir}: running its ONNX graph (${(e as Error).message})`);
    }
  }
  if (!backend) {
    const m = await openModel(resolved, ENCODER_IO, opts);
    tokenizer = m.tokenizer;
    modes = choosePooling(opts.pooling, folder, m.session.outputNames.includes('sentence_embedding'));
    backend = await onnxBackend(m, folder, modes, async (msg) => {
      await m.session.release();
      throw new ModelError(msg);
    });
  }
  const run: PooledBackend = backend;
  const pooling = modes[0];
  // 'model' is the graph's whole sentence pipeline: the folder's Dense / Normalize modules are not applied again.
  const dense = pooling === 'model' || opts.stopAfterPooling ? [] : folder.dense;
  const normalizeDefault = opts.normalize ?? (pooling === 'model' ? false : folder.normalize);
  const includePrompt = folder.pooling?.includePrompt ?? true;
  const { pooledWidth } = backend;
  let width = pooledWidth;
  for (const d of dense) {
    if (d.inFeatures !== width) {
      await backend.release();
      throw new ModelError(`Dense module ${d.path} in ${resolved.dir}: in_features ${d.inFeatures} does not match the ${width}-wide pooled embedding`);
    }
    width = d.outFeatures;
  }
  const dim = width;
  // an asymmetric folder: each side's route continues from the shared modules, to the same width
  const routes = pooling === 'model' || opts.stopAfterPooling ? null : folder.routes;
  if (routes) {
    for (const side of ['query', 'document'] as const) {
      let w = dim;
      for (const m of routes[side]) {
        if (m.kind !== 'dense') continue;
        if (m.dense.inFeatures !== w) {
          await backend.release();
          throw new ModelError(`Dense module ${m.dense.path} of the '${side}' route in ${resolved.dir}: in_features ${m.dense.inFeatures} does not match the ${w}-wide embedding before it`);
        }
        w = m.dense.outFeatures;
      }
      if (w !== dim) {
        await backend.release();
        throw new ModelError(`${resolved.dir}: the '${side}' route gives ${w}-wide embeddings, the other side ${dim}: queries and documents must share a width`);
      }
    }
  }
  const describe = (side: 'query' | 'document') => {
    const shared = [folder.moduleTypes[0] ?? 'Transformer', ...(folder.pooling ? ['Pooling'] : []), ...folder.moduleTypes.slice(1).filter((t) => t !== 'Pooling' && t !== 'Router')];
    const route = routes ? routes[side].map((m) => (m.kind === 'dense' ? `Dense(${m.dense.inFeatures}→${m.dense.outFeatures})` : 'Normalize')) : [];
    return `${[...shared, ...route].join(' → ')}${routes ? ` (the Router's '${side}' route)` : ''} from ${resolved.dir}`;
  };
  let lastStats = emptyStats();

  const promptLengths = new Map<string, number>();
  /** Tokens of a prompt that sentence-transformers excludes from pooling (its trailing special token not counted). */
  function promptLength(prompt: string): number {
    let n = promptLengths.get(prompt);
    if (n === undefined) {
      const ids = tokenizer.encode(prompt).ids;
      n = ids.length;
      if (n > 0 && tokenizer.isSpecial(ids[n - 1])) n--;
      promptLengths.set(prompt, n);
    }
    return n;
  }

  function resolvePrompt(call: EncodeCallOptions): string {
    if (call.prompt !== undefined && call.promptName !== undefined) throw new InputTypeError('give prompt or promptName, not both');
    if (call.prompt !== undefined) {
      if (typeof call.prompt !== 'string') throw new InputTypeError(`prompt must be a string, got ${typeof call.prompt}`);
      return call.prompt;
    }
    if (call.promptName !== undefined) {
      const p = folder.prompts[call.promptName];
      if (p === undefined) {
        throw new ModelError(`prompt '${call.promptName}' is not defined by ${path.join(resolved.dir, 'config_sentence_transformers.json')} (it has ${Object.keys(folder.prompts).map((k) => `'${k}'`).join(', ') || 'no prompts'})`);
      }
      return p;
    }
    return folder.defaultPromptName ? folder.prompts[folder.defaultPromptName] : '';
  }

  function sideCall(call: EncodeCallOptions, side: 'query' | 'document'): EncodeCallOptions {
    if (call.prompt !== undefined || call.promptName !== undefined) return call;
    const name = sidePromptName(folder, side);
    return name === undefined ? call : { ...call, promptName: name };
  }

  async function encode(texts: string[], call: EncodeCallOptions = {}): Promise<Float32Array> {
    const t0 = performance.now();
    if (call.side !== undefined && call.side !== 'query' && call.side !== 'document') throw new InputTypeError(`side must be 'query' or 'document', got ${JSON.stringify(call.side)}`);
    if (routes && !call.side) {
      throw new ModelError(`${resolved.dir} encodes queries and documents differently (a Router module in modules.json): call encodeQueries(texts) or encodeDocuments(texts), or pass { side }`);
    }
    checkTexts(texts, 'texts', opts.allowEmpty);
    const bs = checkBatchSize(call.batchSize, batchSize);
    const prompt = resolvePrompt(call);
    const pLen = prompt && !includePrompt ? promptLength(prompt) : 0;
    const stats = emptyStats();
    // tokenize
    const encoded: Encoded[] = texts.map((t) => {
      const text = prompt + t;
      return tokenizer.encode(folder.doLowerCase ? text.toLowerCase() : text);
    });
    checkIdsInVocab(encoded, folder.config.vocab_size, resolved.dir);
    stats.tokenizeMs = performance.now() - t0;
    // model + pooling, then the modules after pooling
    let out: Float32Array = new Float32Array(texts.length * pooledWidth);
    await run.pool(encoded, out, bs, call, stats, pLen);
    // the modules after pooling, in order; Normalize where the folder has it (last when asked per call)
    const normalizeAt = dense === folder.dense && folder.normalize ? folder.normalizeAt : dense.length;
    const normalize = call.normalize ?? normalizeDefault;
    for (let l = 0; l <= dense.length; l++) {
      if (l === normalizeAt && normalize) l2NormalizeRows(out, l === 0 ? pooledWidth : dense[l - 1].outFeatures);
      if (l < dense.length) out = applyDense(out, texts.length, dense[l]);
    }
    for (const m of routes && call.side ? routes[call.side] : []) {
      if (m.kind === 'dense') out = applyDense(out, texts.length, m.dense);
      else l2NormalizeRows(out, dim);
    }
    // damaged weights (NaN / Inf) give non-finite embeddings: say so instead of ranking by NaN
    for (let i = 0; i < out.length; i++) {
      if (!Number.isFinite(out[i])) {
        throw new ModelError(`${resolved.dir}: the model gave a non-finite embedding for text ${Math.floor(i / dim) + 1} of ${texts.length}; its weights (${path.basename(resolved.onnxPath ?? resolved.weightsPath ?? 'model')}) are damaged or overflow`);
      }
    }
    stats.totalMs = performance.now() - t0;
    lastStats = stats;
    return out;
  }

  return {
    dim,
    pooling,
    poolingModes: modes,
    backend: backend.kind,
    folder,
    prompts: { ...folder.prompts },
    similarity: folder.similarity ?? 'cosine',
    promptNameFor: (side) => sidePromptName(folder, side),
    asymmetric: routes !== null,
    describeSide: describe,
    normalize: normalizeDefault,
    maxLength: tokenizer.maxLength,
    batchSize,
    modelDir: resolved.dir,
    tokenizer,
    session: backend.session,
    get lastStats() {
      return lastStats;
    },
    encode,
    encodeQueries: (texts, call = {}) => encode(texts, { ...sideCall(call, 'query'), side: 'query' }),
    encodeDocuments: (texts, call = {}) => encode(texts, { ...sideCall(call, 'document'), side: 'document' }),
    release: () => backend.release(),
  };
}
