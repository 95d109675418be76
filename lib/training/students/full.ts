/**
 * Full transformer student (`method: 'full'`): a BERT encoder trained end to end in the native
 * core (native/cpu/bert.h, bound by native/bindings_bert.cc). Every weight is trainable; forward,
 * backward and the Adam/AdamW step run in C++ on the model's own flat buffers, and params()
 * exposes zero-copy Float32Array views of them under the Hugging Face names.
 *
 *   inputs:   token ids per text, special tokens included ([CLS] … [SEP]); padded per batch to its
 *             longest text (attention mask 0 on the padding), truncated to maxLength
 *   forward:  BERT → masked-mean or CLS pooling → optional L2 normalisation → (B, hidden)
 *   backward: the native backward of that forward; gradients accumulate until zeroGrad()
 *
 * The native model keeps the activations of one forward per slot. fit.ts runs forward(queries),
 * forward(documents), then the two backwards, so the query side uses slot 0, the document side
 * slot 1 and encode() slot 2; a backward whose slot was overwritten since its forward throws.
 *
 * Device: `device: 'cpu'` (default) trains in the CPU core; 'cuda' keeps the whole model (weights,
 * gradients, Adam moments, activations) on the GPU (native/cuda/bert_model.cuh, CUDA builds) with
 * fp32 or tf32 ('tf32', the default there) matmuls; 'auto' picks cuda when the loaded backend is the
 * CUDA build with a device (lib/kernels/loader.ts), else cpu. Both devices share one layout, one
 * state() format and one export, so checkpoints and exports move freely between them. On cuda the
 * zero-copy views (params(), flatParams, flatGrads, the optimizer's moment tables) are host mirrors:
 * each params() / flatParams / flatGrads access downloads params and gradients, and edits made
 * through those views are uploaded before the student's next operation; the moment tables are
 * downloaded when the optimizer's state() is taken and uploaded when a loaded state is adopted.
 *
 * DistilBERT is the same model with typeVocabSize 0 (config.arch 'distilbert'): the native layout keeps
 * the BERT names, weights may come under DistilBERT names, and export writes a DistilBERT folder.
 * RoBERTa / XLM-RoBERTa (arch 'roberta' / 'xlm-roberta') add RoBERTa position ids (paddingIdx), MPNet
 * (arch 'mpnet') those and a relative attention bias (relativeBuckets); the native layout keeps the
 * BERT names (plus 'encoder.relative_attention_bias.weight'), weights may come under the
 * architecture's names, and export writes that architecture's folder. Pooling: any of
 * sentence-transformers' modes (PoolingMode), or a list of them concatenated in order (then dim =
 * modes × hidden, normalised as a whole), as sentence-transformers' Pooling.
 *
 * Shapes: B texts per batch, T padded length, C hidden (= dim), V vocabulary.
 */
import * as fs from 'node:fs';
import { callNative, InputRangeError, OptionsError, SynthtuneError } from '../../util/errors';
import * as path from 'node:path';
import { loadBackend } from '../../kernels/loader';
import { maxSequenceLength, poolingModes, type BertConfig, type NamedTensor, type PoolingMode, type WeightMap } from '../../models/onnx/bert';
import { distilbertToBertName } from '../../models/onnx/distilbert';
import { mpnetToBertName } from '../../models/onnx/mpnet';
import type { FullExportOptions } from '../export';
import type { Adam } from '../optim';
import type { Forward, Param, Side, Student, StudentState } from '../student';
import { ModelError } from '../../models/errors';
import { bertParameterCount, checkModelMemory } from '../../models/import';

export type TokenIds = ArrayLike<number>;

/** One entry of the native layout table: a tensor inside the flat buffers. */
export interface TensorLayout {
  name: string;
  shape: number[];
  /** Offset in floats into params / grads / Adam moments. */
  offset: number;
  size: number;
  /** AdamW weight decay applies (false for biases and LayerNorm). */
  decay: boolean;
}

/**
 * Configuration of the native model: the BERT shape of the ONNX builder's BertConfig (arch names
 * weights on import/export; distilbert is typeVocabSize 0; paddingIdx and relativeBuckets carry the
 * RoBERTa / MPNet differences) plus pooling and threads.
 */
export interface NativeBertConfig
  extends Pick<BertConfig, 'arch' | 'vocabSize' | 'hidden' | 'layers' | 'heads' | 'intermediate' | 'maxPosition' | 'typeVocabSize' | 'layerNormEps' | 'paddingIdx' | 'relativeBuckets'> {
  /** One mode, or several concatenated in order (the embedding is modes × hidden wide). */
  pooling: PoolingMode | PoolingMode[];
  normalize: boolean;
  /** CPU threads (0 or absent: the pool's default). */
  threads?: number;
}

/** Where the full model trains: 'auto' = cuda when the CUDA backend is loaded, else cpu. */
export type FullDevice = 'cpu' | 'cuda' | 'auto';
/** Matmul arithmetic on the device (the CPU model is always fp32). */
export type FullPrecision = 'fp32' | 'tf32';
/** A flat buffer of the native model, for syncToHost / syncFromHost. */
export type FlatBufferName = 'params' | 'grads' | 'adamM' | 'adamV' | 'all';

/** The native BertModel object (native/bindings_bert.cc). */
export interface NativeBertHandle {
  /** Where the model lives. */
  readonly device: 'cpu' | 'cuda';
  /** Matmul arithmetic ('fp32' on the CPU; 'tf32' by default on cuda). */
  readonly precision: FullPrecision;
  /** Changes the matmul arithmetic for later calls ('tf32' only on cuda). */
  setPrecision(p: FullPrecision): void;
  layout(): TensorLayout[];
  numParams(): number;
  /**
   * ArrayBuffers over the flat buffers. cpu: the model's own memory (live). cuda: a host mirror
   * (the same memory on every call) downloaded by each call and by syncToHost(); writes reach the
   * device through syncFromHost() only.
   */
  paramsBuffer(): ArrayBuffer;
  gradsBuffer(): ArrayBuffer;
  adamMBuffer(): ArrayBuffer;
  adamVBuffer(): ArrayBuffer;
  /** cuda: download into / upload from the host mirrors (default 'all'); cpu: no-ops. */
  syncToHost(which?: FlatBufferName): void;
  syncFromHost(which?: FlatBufferName): void;
  getTensor(name: string): Float32Array;
  setTensor(name: string, data: Float32Array): void;
  getParams(): Float32Array;
  setParams(flat: Float32Array): void;
  getGrads(): Float32Array;
  forwardSync(inputIds: Int32Array, attentionMask: Int32Array | null, tokenTypeIds: Int32Array | null,
    batch: number, seq: number, slot?: number): Float32Array;
  forward(inputIds: Int32Array, attentionMask: Int32Array | null, tokenTypeIds: Int32Array | null,
    batch: number, seq: number, slot?: number): Promise<Float32Array>;
  backwardSync(dPooled: Float32Array, slot?: number): void;
  backward(dPooled: Float32Array, slot?: number): Promise<void>;
  /**
   * Inference over packed sequences (no padding computed, no slot touched): inputIds hold B
   * sequences back to back, sequence b = [offsets[b], offsets[b+1]), each 1..maxPosition tokens.
   * Returns (B,D), equal to a masked forward of the same sequences padded, to float rounding.
   */
  inferSync(inputIds: Int32Array, offsets: Int32Array, tokenTypeIds?: Int32Array | null): Float32Array;
  infer(inputIds: Int32Array, offsets: Int32Array, tokenTypeIds?: Int32Array | null): Promise<Float32Array>;
  zeroGrad(): void;
  adamStep(lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, t: number, decoupled?: boolean): void;
  resetOptimizer(): void;
  slotInfo(slot?: number): { batch: number; seq: number; generation: number; valid: boolean };
  activationBytes(batch: number, seq: number): number;
}

interface BertAddon {
  BertModel?: new (config: NativeBertConfig & { device?: 'cpu' | 'cuda'; precision?: FullPrecision }) => NativeBertHandle;
}

/** Whether the loaded native addon has the BERT model, and why not. */
export function nativeBertAvailable(): { ok: boolean; reason: string } {
  const { addon, info } = loadBackend();
  if (!addon) return { ok: false, reason: `native addon not loaded (${info.reasons.join('; ')})` };
  if (typeof (addon as unknown as BertAddon).BertModel !== 'function') {
    return { ok: false, reason: 'the loaded native addon has no BertModel (rebuild it: npm run build:native)' };
  }
  return { ok: true, reason: '' };
}

/**
 * The device a full model runs on: 'cpu' → cpu; 'cuda' → cuda, or a clear error when the loaded
 * backend is not the CUDA build with a device; 'auto' → cuda when it is, else cpu.
 */
export function resolveFullDevice(want: FullDevice = 'auto'): 'cpu' | 'cuda' {
  if (want !== 'cpu' && want !== 'cuda' && want !== 'auto') throw new OptionsError(`full: device must be 'cpu', 'cuda' or 'auto', got '${String(want)}'`);
  if (want === 'cpu') return 'cpu';
  const { info } = loadBackend();
  if (info.name === 'cuda') return 'cuda';
  if (want === 'auto') return 'cpu';
  const why = info.reasons.filter((r) => r.startsWith('cuda') || r.startsWith('SYNTHTUNE_BACKEND')).join('; ');
  throw new SynthtuneError('environment', `full: device 'cuda' needs the CUDA backend (a CUDA build with a visible device: npm run build:cuda), but the loaded backend is ${info.name}${why ? ` (${why})` : ''}`);
}

export interface DeviceOptions {
  /** Default 'cpu'. */
  device?: FullDevice;
  /** Matmul arithmetic on cuda (default 'tf32'); ignored when 'auto' resolves to the CPU. */
  precision?: FullPrecision;
}

/** Creates the native model; throws a clear error when the addon lacks it (or lacks the device). */
export function createNativeBert(config: NativeBertConfig, opts: DeviceOptions = {}): NativeBertHandle {
  const avail = nativeBertAvailable();
  if (!avail.ok) throw new SynthtuneError('environment', `method 'full' needs the native core: ${avail.reason}`);
  const want = opts.device ?? 'cpu';
  const device = resolveFullDevice(want);
  const precision = opts.precision;
  if (precision !== undefined && precision !== 'fp32' && precision !== 'tf32') throw new OptionsError(`full: precision must be 'fp32' or 'tf32', got '${String(precision)}'`);
  if (want === 'cpu' && precision === 'tf32') throw new OptionsError("full: precision 'tf32' needs device 'cuda' (the CPU model computes in fp32)");
  const Ctor = (loadBackend().addon as unknown as BertAddon).BertModel!;
  // too large for this machine, or a config the native model refuses: an input error, not a bug
  return callNative(() => new Ctor(device === 'cuda' ? { ...config, device, ...(precision ? { precision } : {}) } : config));
}

/** A BertConfig (lib/models/onnx) plus pooling → the native config. */
export function nativeConfigFrom(c: BertConfig, opts: { pooling?: PoolingMode | readonly PoolingMode[]; normalize?: boolean; threads?: number } = {}): NativeBertConfig {
  const want = opts.pooling ?? c.pooling;
  const modes = want === undefined || want === 'none' ? ['mean' as const] : poolingModes(want);
  const pooling = modes.length === 1 ? modes[0] : modes;
  return {
    ...(c.arch ? { arch: c.arch } : {}),
    vocabSize: c.vocabSize, hidden: c.hidden, layers: c.layers, heads: c.heads, intermediate: c.intermediate,
    maxPosition: c.maxPosition, typeVocabSize: c.typeVocabSize, layerNormEps: c.layerNormEps,
    ...(c.paddingIdx !== undefined ? { paddingIdx: c.paddingIdx } : {}),
    ...(c.relativeBuckets ? { relativeBuckets: c.relativeBuckets } : {}),
    pooling, normalize: opts.normalize ?? c.normalize ?? false, threads: opts.threads,
  };
}

/** The native config → a BertConfig for the ONNX builder (pooling output included). */
export function bertConfigFrom(c: NativeBertConfig): BertConfig {
  return {
    ...(c.arch ? { arch: c.arch } : {}),
    vocabSize: c.vocabSize, hidden: c.hidden, layers: c.layers, heads: c.heads, intermediate: c.intermediate,
    maxPosition: c.maxPosition, typeVocabSize: c.typeVocabSize, layerNormEps: c.layerNormEps,
    ...(c.paddingIdx !== undefined ? { paddingIdx: c.paddingIdx } : {}),
    ...(c.relativeBuckets ? { relativeBuckets: c.relativeBuckets } : {}),
    pooling: c.pooling, normalize: c.normalize,
  };
}

/** Weights by name: a WeightMap ({dims, data}) or plain Float32Arrays. */
export type NamedWeights = WeightMap | Map<string, Float32Array> | Record<string, Float32Array>;

function weightEntries(w: NamedWeights): [string, Float32Array][] {
  const entries: [string, Float32Array | NamedTensor][] = w instanceof Map ? [...w.entries()] : Object.entries(w);
  return entries.map(([k, v]) => [k, v instanceof Float32Array ? v : v.data]);
}

/**
 * Copies named weights into the native model. Every tensor of its layout must be present with the
 * right size (a 'bert.' / 'roberta.' / 'distilbert.' / 'mpnet.' prefix and DistilBERT / MPNet names are accepted); names the model
 * does not know are an error unless they are heads it does not train (pooler.*, classifier.*) —
 * those are ignored.
 */
export function loadNativeWeights(handle: NativeBertHandle, weights: NamedWeights): void {
  const byName = new Map<string, Float32Array>();
  for (const [k, v] of weightEntries(weights)) byName.set(mpnetToBertName(distilbertToBertName(k.replace(/^((distil)?bert|roberta|mpnet)\./, ''))), v);
  const layout = handle.layout();
  const known = new Set(layout.map((t) => t.name));
  for (const name of byName.keys()) {
    if (!known.has(name) && !/^(pooler|classifier)\./.test(name)) {
      throw new ModelError(`full: unexpected weight '${name}' (not part of this BERT configuration)`);
    }
  }
  for (const t of layout) {
    const data = byName.get(t.name);
    if (!data) throw new ModelError(`full: missing weight '${t.name}' [${t.shape.join(', ')}]`);
    if (data.length !== t.size) throw new ModelError(`full: weight '${t.name}' has ${data.length} values, expected ${t.size} [${t.shape.join(', ')}]`);
    handle.setTensor(t.name, data);
  }
}

/** The native model's weights as a WeightMap (copies), ready for lib/models' ONNX builder. */
export function nativeWeightMap(handle: NativeBertHandle): WeightMap {
  const out: WeightMap = new Map();
  for (const t of handle.layout()) out.set(t.name, { dims: [...t.shape], data: handle.getTensor(t.name) });
  return out;
}

/** Pads B id lists to the longest (≤ maxLength, longer ones truncated): ids, mask (B,T). */
export function padBatch(inputs: readonly TokenIds[], maxLength: number, padId = 0): { ids: Int32Array; mask: Int32Array; B: number; T: number } {
  const B = inputs.length;
  let T = 1;
  for (const x of inputs) T = Math.max(T, Math.min(x.length, maxLength));
  const ids = new Int32Array(B * T).fill(padId);
  const mask = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const x = inputs[b];
    const L = Math.min(x.length, T);
    for (let t = 0; t < L; t++) {
      ids[b * T + t] = x[t];
      mask[b * T + t] = 1;
    }
  }
  return { ids, mask, B, T };
}

/** Inputs back to back (each truncated to maxLength) and their offsets (B+1), for the native infer(). */
export function packBatch(inputs: readonly TokenIds[], maxLength: number): { ids: Int32Array; offsets: Int32Array } {
  const offsets = new Int32Array(inputs.length + 1);
  for (let b = 0; b < inputs.length; b++) offsets[b + 1] = offsets[b] + Math.min(inputs[b].length, maxLength);
  const ids = new Int32Array(offsets[inputs.length]);
  for (let b = 0; b < inputs.length; b++) {
    const x = inputs[b];
    const L = offsets[b + 1] - offsets[b];
    for (let t = 0; t < L; t++) ids[offsets[b] + t] = x[t];
  }
  return { ids, offsets };
}

export interface FullOptions extends DeviceOptions {
  config: NativeBertConfig;
  /** Initial weights by HF name (e.g. lib/models/tiny.ts's randomBertWeights, or a model's initializers). */
  weights: NamedWeights;
  /** Longer inputs are truncated (default min(maxSequenceLength(config), 512): maxPosition less paddingIdx + 1 for RoBERTa positions). */
  maxLength?: number;
  /** Token id used for padding (masked, so its value does not matter; default paddingIdx, else 0). */
  padId?: number;
}

const SLOT: Record<Side | 'encode', number> = { query: 0, document: 1, encode: 2 };

interface FullCtx {
  slot: number;
  generation: number;
}

export class FullStudent implements Student<TokenIds> {
  readonly kind = 'full';
  readonly dim: number;
  readonly config: NativeBertConfig;
  readonly maxLength: number;
  readonly padId: number;
  readonly handle: NativeBertHandle;
  readonly layout: TensorLayout[];
  /** Where the model lives ('cuda': every weight, gradient and moment stays on the GPU). */
  readonly device: 'cpu' | 'cuda';
  private readonly flatP: Float32Array;
  private readonly flatG: Float32Array;
  private readonly paramList: Param[];
  /** cuda: the host mirrors of params and grads were handed out (and may have been edited). */
  private hostDirty = false;

  constructor(opts: FullOptions) {
    this.config = { ...opts.config };
    // weights, gradients and two Adam moments in host memory: refused before the allocation, with the size
    checkModelMemory(bertParameterCount(this.config), 16, `full: a BERT of hidden ${this.config.hidden}, ${this.config.layers} layers, vocabulary ${this.config.vocabSize}`);
    this.handle = createNativeBert(this.config, { device: opts.device, precision: opts.precision });
    this.device = this.handle.device;
    this.dim = this.config.hidden * poolingModes(this.config.pooling).length;
    const maxSeq = maxSequenceLength(this.config);
    this.maxLength = opts.maxLength ?? Math.min(maxSeq, 512);
    if (!(Number.isInteger(this.maxLength) && this.maxLength >= 1 && this.maxLength <= maxSeq)) {
      throw new OptionsError(`full: maxLength must be an integer in [1, ${maxSeq}]` +
        (this.config.paddingIdx !== undefined ? ` (maxPosition ${this.config.maxPosition} less paddingIdx + 1)` : ` (maxPosition)`));
    }
    this.padId = opts.padId ?? this.config.paddingIdx ?? 0;
    this.layout = this.handle.layout();
    loadNativeWeights(this.handle, opts.weights);
    this.flatP = new Float32Array(this.handle.paramsBuffer());
    this.flatG = new Float32Array(this.handle.gradsBuffer());
    this.paramList = this.layout.map((t) => ({
      name: t.name,
      data: this.flatP.subarray(t.offset, t.offset + t.size),
      grad: this.flatG.subarray(t.offset, t.offset + t.size),
      shape: [...t.shape],
      decay: t.decay,
    }));
  }

  /** Matmul arithmetic of the native model ('fp32' on the CPU). */
  get precision(): FullPrecision {
    return this.handle.precision;
  }

  /** Changes the matmul arithmetic ('tf32' only on cuda). */
  setPrecision(p: FullPrecision): void {
    this.handle.setPrecision(p);
  }

  /** Where and how the model computes, for logs: "cpu (fp32)" or "cuda (tf32)". */
  describeDevice(): string {
    return `${this.device} (${this.precision})`;
  }

  /**
   * Views of the whole flat parameter / gradient buffers. cpu: live zero-copy views. cuda: host
   * mirrors, downloaded on each access; edits are uploaded before the next operation.
   */
  get flatParams(): Float32Array {
    this.pullHost();
    return this.flatP;
  }

  get flatGrads(): Float32Array {
    this.pullHost();
    return this.flatG;
  }

  /** cuda: brings the host mirrors of params and grads up to date and marks them handed out. */
  private pullHost(): void {
    if (this.device !== 'cuda') return;
    this.flushHost();
    this.handle.syncToHost('params');
    this.handle.syncToHost('grads');
    this.hostDirty = true;
  }

  /** cuda: uploads host mirrors handed out since the last operation (edits through params() views). */
  private flushHost(): void {
    if (!this.hostDirty) return;
    this.hostDirty = false;
    this.handle.syncFromHost('params');
    this.handle.syncFromHost('grads');
  }

  private checkIds(inputs: readonly TokenIds[]): void {
    const V = this.config.vocabSize;
    for (let b = 0; b < inputs.length; b++) {
      const x = inputs[b];
      for (let t = 0; t < Math.min(x.length, this.maxLength); t++) {
        const id = x[t];
        if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new InputRangeError(`full: token id ${id} of input ${b} is outside [0, ${V})`);
      }
    }
  }

  private async run(inputs: readonly TokenIds[], slot: number): Promise<Float32Array> {
    if (inputs.length === 0) return new Float32Array(0);
    this.checkIds(inputs);
    this.flushHost();
    const { ids, mask, B, T } = padBatch(inputs, this.maxLength, this.padId);
    return this.handle.forward(ids, mask, null, B, T, slot);
  }

  async forward(inputs: readonly TokenIds[], side: Side): Promise<Forward> {
    const slot = SLOT[side];
    const out = await this.run(inputs, slot);
    const ctx: FullCtx = { slot, generation: this.handle.slotInfo(slot).generation };
    return { out, rows: inputs.length, side, ctx };
  }

  async backward(f: Forward, dOut: Float32Array): Promise<void> {
    if (f.rows === 0) return;
    const ctx = f.ctx as FullCtx;
    const info = this.handle.slotInfo(ctx.slot);
    if (!info.valid || info.generation !== ctx.generation) {
      throw new Error(`full: the activations of this ${f.side} forward were overwritten by a later forward on the same side`);
    }
    if (dOut.length !== f.rows * this.dim) throw new Error(`full: dOut has length ${dOut.length}, expected ${f.rows * this.dim}`);
    this.flushHost();
    await this.handle.backward(dOut, ctx.slot);
  }

  /**
   * Embeddings for inference: the inputs packed back to back (truncated to maxLength), so no
   * padding token is computed (native infer()); an empty input (no tokens at all) falls back to
   * the padded forward, where a row with no valid key attends uniformly.
   */
  async encode(inputs: readonly TokenIds[], _side: Side): Promise<Float32Array> {
    if (inputs.length === 0) return new Float32Array(0);
    // an addon built before infer() existed (a stale local build) runs the padded forward
    if (inputs.some((x) => x.length === 0) || typeof this.handle.infer !== 'function') return this.run(inputs, SLOT.encode);
    this.checkIds(inputs);
    this.flushHost();
    const { ids, offsets } = packBatch(inputs, this.maxLength);
    return this.handle.infer(ids, offsets, null);
  }

  /** Named views of the flat buffers (cuda: host mirrors, downloaded now; see flatParams). */
  params(): Param[] {
    this.pullHost();
    return this.paramList;
  }

  zeroGrad(): void {
    this.flushHost();
    this.handle.zeroGrad();
  }

  /** The Adam/AdamW step in C++ with the optimizer's hyper-parameters (moments live in the native model). */
  step(optimizer: Adam, lr: number): void {
    this.flushHost();
    this.shareMoments(optimizer);
    optimizer.t++;
    this.handle.adamStep(lr, optimizer.beta1, optimizer.beta2, optimizer.eps, optimizer.weightDecay, optimizer.t,
      optimizer.name === 'AdamW');
  }

  private momentViews: { m: Float32Array; v: Float32Array }[] | null = null;
  private readonly sharedWith = new WeakSet<Adam>();

  /**
   * Makes the optimizer's moment tables (by parameter name) zero-copy views of the native Adam
   * moments, so its state() — what fit() writes into checkpoint.bin — holds them and a resumed run
   * continues exactly. Moments the optimizer already holds (loaded from a checkpoint) are copied
   * into the native buffers first; a fresh optimizer (t = 0, no moments) starts from zero moments.
   * On cuda the views are host mirrors: the optimizer's beforeState hook downloads them when its
   * state() is taken, and adopted moments are uploaded here.
   */
  private shareMoments(optimizer: Adam): void {
    const tables = optimizer as unknown as { m?: unknown; v?: unknown };
    if (!(tables.m instanceof Map) || !(tables.v instanceof Map)) return;
    const m = tables.m as Map<string, Float32Array>;
    const v = tables.v as Map<string, Float32Array>;
    if (!this.momentViews) {
      const M = new Float32Array(this.handle.adamMBuffer());
      const V = new Float32Array(this.handle.adamVBuffer());
      this.momentViews = this.layout.map((t) => ({ m: M.subarray(t.offset, t.offset + t.size), v: V.subarray(t.offset, t.offset + t.size) }));
    }
    if (!this.sharedWith.has(optimizer)) {
      this.sharedWith.add(optimizer);
      if (optimizer.t === 0 && m.size === 0) this.handle.resetOptimizer();
      if (this.device === 'cuda') {
        optimizer.beforeState = () => {
          this.handle.syncToHost('adamM');
          this.handle.syncToHost('adamV');
        };
      }
    }
    const loaded = [...m.values()].some((x) => !this.momentViews!.some((w) => w.m === x));
    // cuda: before the first table is adopted, bring the mirrors up to date (views kept as they are
    // must keep the device's values); upload them once all are written.
    const mirrored = this.device === 'cuda';
    let adopted = false;
    this.layout.forEach((t, i) => {
      const views = this.momentViews![i];
      for (const [table, view] of [[m, views.m], [v, views.v]] as const) {
        const cur = table.get(t.name);
        if (cur === view) continue;
        if (cur) {
          if (cur.length !== t.size) throw new InputRangeError(`full: optimizer moments of '${t.name}' have ${cur.length} values, expected ${t.size}`);
          if (mirrored && !adopted) {
            this.handle.syncToHost('adamM');
            this.handle.syncToHost('adamV');
          }
          adopted = true;
          view.set(cur);
        } else if (loaded) {
          throw new InputRangeError(`full: the optimizer state lacks the moments of '${t.name}'`);
        }
        table.set(t.name, view);
      }
    });
    if (mirrored && adopted) {
      this.handle.syncFromHost('adamM');
      this.handle.syncFromHost('adamV');
    }
  }

  /** Weights by HF name (copies), for lib/models' ONNX builder. */
  weightMap(): WeightMap {
    this.flushHost();
    return nativeWeightMap(this.handle);
  }

  state(): StudentState {
    this.flushHost();
    const tensors: Record<string, Float32Array> = {};
    for (const t of this.layout) tensors[t.name] = this.handle.getTensor(t.name);
    return {
      kind: this.kind,
      config: { ...this.config, maxLength: this.maxLength, padId: this.padId } as unknown as Record<string, unknown>,
      tensors,
    };
  }

  load(s: StudentState): void {
    if (s.kind !== this.kind) throw new InputRangeError(`full: cannot load a ${s.kind} state`);
    this.flushHost();
    loadNativeWeights(this.handle, s.tensors);
  }

  /**
   * Writes a model folder (config.json of the architecture, onnx/model.onnx with a sentence_embedding
   * output, modules.json + 1_Pooling (+ 2_Normalize), tokenizer files copied from tokenizerDir)
   * through lib/models' ONNX builder and st-folder.
   */
  async exportArtifact(dir: string, opts: { tokenizerDir?: string; head?: FullExportOptions['head']; similarity?: 'cosine' | 'dot' } = {}): Promise<void> {
    if (!opts.tokenizerDir) throw new OptionsError('full export needs tokenizerDir (the tokenizer the token ids come from)');
    const read = (f: string): unknown => JSON.parse(fs.readFileSync(path.join(opts.tokenizerDir as string, f), 'utf8'));
    const { writeModelFolder } = await import('../../models/tiny.js');
    // with Dense modules after pooling the graph's own sentence_embedding would stop short of them: leave it out
    const config = bertConfigFrom(this.config);
    writeModelFolder(dir, {
      config: opts.head ? { ...config, pooling: 'none', normalize: false } : config,
      weights: this.weightMap(),
      tokenizerJson: read('tokenizer.json'),
      tokenizerConfig: read('tokenizer_config.json'),
      kind: 'bi-encoder',
      stPooling: null,
    });
    // model.safetensors, config.json, the sentence-transformers modules, onnx/model_quantized.onnx
    const { exportFullSafetensors } = await import('../export.js');
    await exportFullSafetensors(this, dir, { sourceDir: opts.tokenizerDir, head: opts.head, similarity: opts.similarity });
  }
}

/**
 * Rebuilds a full student from state() (for the registry in ./index.ts: registerStudent('full',
 * fullFromState)). The state holds no device: the student is built on opts.device (default cpu).
 */
export function fullFromState(s: StudentState, opts: DeviceOptions = {}): FullStudent {
  if (s.kind !== 'full') throw new InputRangeError(`full: cannot build from a ${s.kind} state`);
  const c = s.config as unknown as NativeBertConfig & { maxLength?: number; padId?: number };
  const { maxLength, padId, ...config } = c;
  return new FullStudent({ config, weights: s.tensors, maxLength, padId, ...opts });
}
