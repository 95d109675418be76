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
 * DistilBERT is the same model with typeVocabSize 0 (config.arch 'distilbert'): the native layout keeps
 * the BERT names, weights may come under DistilBERT names, and export writes a DistilBERT folder.
 *
 * Shapes: B texts per batch, T padded length, C hidden (= dim), V vocabulary.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadBackend } from '../../kernels/loader';
import type { BertConfig, NamedTensor, WeightMap } from '../../models/onnx/bert';
import { distilbertToBertName } from '../../models/onnx/distilbert';
import type { Adam } from '../optim';
import type { Forward, Param, Side, Student, StudentState } from '../student';

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
 * Configuration of the native model: the BERT shape of the ONNX builder's BertConfig (arch only
 * names weights on import/export; distilbert is typeVocabSize 0) plus pooling and threads.
 */
export interface NativeBertConfig
  extends Pick<BertConfig, 'arch' | 'vocabSize' | 'hidden' | 'layers' | 'heads' | 'intermediate' | 'maxPosition' | 'typeVocabSize' | 'layerNormEps'> {
  pooling: 'mean' | 'cls';
  normalize: boolean;
  /** CPU threads (0 or absent: the pool's default). */
  threads?: number;
}

/** The native BertModel object (native/bindings_bert.cc). */
export interface NativeBertHandle {
  layout(): TensorLayout[];
  numParams(): number;
  paramsBuffer(): ArrayBuffer;
  gradsBuffer(): ArrayBuffer;
  adamMBuffer(): ArrayBuffer;
  adamVBuffer(): ArrayBuffer;
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
  zeroGrad(): void;
  adamStep(lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, t: number, decoupled?: boolean): void;
  resetOptimizer(): void;
  slotInfo(slot?: number): { batch: number; seq: number; generation: number; valid: boolean };
  activationBytes(batch: number, seq: number): number;
}

interface BertAddon {
  BertModel?: new (config: NativeBertConfig) => NativeBertHandle;
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

/** Creates the native model; throws a clear error when the addon lacks it. */
export function createNativeBert(config: NativeBertConfig): NativeBertHandle {
  const avail = nativeBertAvailable();
  if (!avail.ok) throw new Error(`method 'full' needs the native core: ${avail.reason}`);
  const Ctor = (loadBackend().addon as unknown as BertAddon).BertModel!;
  return new Ctor(config);
}

/** A BertConfig (lib/models/onnx) plus pooling → the native config. */
export function nativeConfigFrom(c: BertConfig, opts: { pooling?: 'mean' | 'cls'; normalize?: boolean; threads?: number } = {}): NativeBertConfig {
  const pooling = opts.pooling ?? (c.pooling === 'cls' ? 'cls' : 'mean');
  return {
    ...(c.arch ? { arch: c.arch } : {}),
    vocabSize: c.vocabSize, hidden: c.hidden, layers: c.layers, heads: c.heads, intermediate: c.intermediate,
    maxPosition: c.maxPosition, typeVocabSize: c.typeVocabSize, layerNormEps: c.layerNormEps,
    pooling, normalize: opts.normalize ?? c.normalize ?? false, threads: opts.threads,
  };
}

/** The native config → a BertConfig for the ONNX builder (pooling output included). */
export function bertConfigFrom(c: NativeBertConfig): BertConfig {
  return {
    ...(c.arch ? { arch: c.arch } : {}),
    vocabSize: c.vocabSize, hidden: c.hidden, layers: c.layers, heads: c.heads, intermediate: c.intermediate,
    maxPosition: c.maxPosition, typeVocabSize: c.typeVocabSize, layerNormEps: c.layerNormEps,
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
 * right size (a 'bert.' / 'distilbert.' prefix and DistilBERT names are accepted); names the model
 * does not know are an error unless they are heads it does not train (pooler.*, classifier.*) —
 * those are ignored.
 */
export function loadNativeWeights(handle: NativeBertHandle, weights: NamedWeights): void {
  const byName = new Map<string, Float32Array>();
  for (const [k, v] of weightEntries(weights)) byName.set(distilbertToBertName(k.replace(/^(distil)?bert\./, '')), v);
  const layout = handle.layout();
  const known = new Set(layout.map((t) => t.name));
  for (const name of byName.keys()) {
    if (!known.has(name) && !/^(pooler|classifier)\./.test(name)) {
      throw new Error(`full: unexpected weight '${name}' (not part of this BERT configuration)`);
    }
  }
  for (const t of layout) {
    const data = byName.get(t.name);
    if (!data) throw new Error(`full: missing weight '${t.name}' [${t.shape.join(', ')}]`);
    if (data.length !== t.size) throw new Error(`full: weight '${t.name}' has ${data.length} values, expected ${t.size} [${t.shape.join(', ')}]`);
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

export interface FullOptions {
  config: NativeBertConfig;
  /** Initial weights by HF name (e.g. lib/models/tiny.ts's randomBertWeights, or a model's initializers). */
  weights: NamedWeights;
  /** Longer inputs are truncated (default min(maxPosition, 512)). */
  maxLength?: number;
  /** Token id used for padding (masked, so its value does not matter; default 0). */
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
  /** Zero-copy views of the native flat buffers (whole model). */
  readonly flatParams: Float32Array;
  readonly flatGrads: Float32Array;
  private readonly paramList: Param[];

  constructor(opts: FullOptions) {
    this.config = { ...opts.config };
    this.handle = createNativeBert(this.config);
    this.dim = this.config.hidden;
    this.maxLength = opts.maxLength ?? Math.min(this.config.maxPosition, 512);
    if (!(Number.isInteger(this.maxLength) && this.maxLength >= 1 && this.maxLength <= this.config.maxPosition)) {
      throw new Error(`full: maxLength must be an integer in [1, maxPosition = ${this.config.maxPosition}]`);
    }
    this.padId = opts.padId ?? 0;
    this.layout = this.handle.layout();
    loadNativeWeights(this.handle, opts.weights);
    this.flatParams = new Float32Array(this.handle.paramsBuffer());
    this.flatGrads = new Float32Array(this.handle.gradsBuffer());
    this.paramList = this.layout.map((t) => ({
      name: t.name,
      data: this.flatParams.subarray(t.offset, t.offset + t.size),
      grad: this.flatGrads.subarray(t.offset, t.offset + t.size),
      shape: [...t.shape],
      decay: t.decay,
    }));
  }

  private checkIds(inputs: readonly TokenIds[]): void {
    const V = this.config.vocabSize;
    for (let b = 0; b < inputs.length; b++) {
      const x = inputs[b];
      for (let t = 0; t < Math.min(x.length, this.maxLength); t++) {
        const id = x[t];
        if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new Error(`full: token id ${id} of input ${b} is outside [0, ${V})`);
      }
    }
  }

  private async run(inputs: readonly TokenIds[], slot: number): Promise<Float32Array> {
    if (inputs.length === 0) return new Float32Array(0);
    this.checkIds(inputs);
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
    await this.handle.backward(dOut, ctx.slot);
  }

  async encode(inputs: readonly TokenIds[], _side: Side): Promise<Float32Array> {
    return this.run(inputs, SLOT.encode);
  }

  params(): Param[] {
    return this.paramList;
  }

  zeroGrad(): void {
    this.handle.zeroGrad();
  }

  /** The Adam/AdamW step in C++ with the optimizer's hyper-parameters (moments live in the native model). */
  step(optimizer: Adam, lr: number): void {
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
    }
    const loaded = [...m.values()].some((x) => !this.momentViews!.some((w) => w.m === x));
    this.layout.forEach((t, i) => {
      const views = this.momentViews![i];
      for (const [table, view] of [[m, views.m], [v, views.v]] as const) {
        const cur = table.get(t.name);
        if (cur === view) continue;
        if (cur) {
          if (cur.length !== t.size) throw new Error(`full: optimizer moments of '${t.name}' have ${cur.length} values, expected ${t.size}`);
          view.set(cur);
        } else if (loaded) {
          throw new Error(`full: the optimizer state lacks the moments of '${t.name}'`);
        }
        table.set(t.name, view);
      }
    });
  }

  /** Weights by HF name (copies), for lib/models' ONNX builder. */
  weightMap(): WeightMap {
    return nativeWeightMap(this.handle);
  }

  state(): StudentState {
    const tensors: Record<string, Float32Array> = {};
    for (const t of this.layout) tensors[t.name] = this.handle.getTensor(t.name);
    return {
      kind: this.kind,
      config: { ...this.config, maxLength: this.maxLength, padId: this.padId } as unknown as Record<string, unknown>,
      tensors,
    };
  }

  load(s: StudentState): void {
    if (s.kind !== this.kind) throw new Error(`full: cannot load a ${s.kind} state`);
    loadNativeWeights(this.handle, s.tensors);
  }

  /**
   * Writes a model folder (config.json, onnx/model.onnx with a sentence_embedding output,
   * 1_Pooling, tokenizer files copied from tokenizerDir) through lib/models' ONNX builder.
   */
  async exportArtifact(dir: string, opts: { tokenizerDir?: string } = {}): Promise<void> {
    if (!opts.tokenizerDir) throw new Error('full export needs tokenizerDir (the tokenizer the token ids come from)');
    const read = (f: string): unknown => JSON.parse(fs.readFileSync(path.join(opts.tokenizerDir as string, f), 'utf8'));
    const { writeModelFolder } = await import('../../models/tiny.js');
    writeModelFolder(dir, {
      config: bertConfigFrom(this.config),
      weights: this.weightMap(),
      tokenizerJson: read('tokenizer.json'),
      tokenizerConfig: read('tokenizer_config.json'),
      kind: 'bi-encoder',
      stPooling: this.config.pooling,
      stNormalize: this.config.normalize,
    });
  }
}

/** Rebuilds a full student from state() (for the registry in ./index.ts: registerStudent('full', fullFromState)). */
export function fullFromState(s: StudentState): FullStudent {
  if (s.kind !== 'full') throw new Error(`full: cannot build from a ${s.kind} state`);
  const c = s.config as unknown as NativeBertConfig & { maxLength?: number; padId?: number };
  const { maxLength, padId, ...config } = c;
  return new FullStudent({ config, weights: s.tensors, maxLength, padId });
}
