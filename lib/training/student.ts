/**
 * The Student interface: what the training loop (./fit.ts) needs from a trainable embedding
 * model. Students implemented here: the adapter (a linear map over frozen, cached embeddings)
 * and the static token-embedding model. A full transformer student (`method: 'full'`, native
 * forward/backward) plugs in by implementing the same interface: its inputs are token ids, its
 * forward keeps activations in the returned context, its parameters are Float32Array views of
 * its own buffers, and it may take the optimizer step itself (`step`).
 *
 * Protocol of one training step (fit.ts):
 *   zeroGrad() → forward(queries,'query') and forward(documents,'document') → loss →
 *   backward(ctx, dEmb) for each forward (gradients accumulate) → step(optimizer, lr) or
 *   optimizer.step(params(), lr).
 *
 * Shapes: B rows per batch, D = dim; embeddings are row-major (B,D) Float32Arrays.
 */
import type { Adam } from './optim';
import { InputRangeError, InputTypeError, OptionsError } from '../util/errors';

/** Which side of retrieval a text is on; adapters may transform only one side. */
export type Side = 'query' | 'document';

/** A trainable tensor and its gradient (same length, row-major with `shape`). */
export interface Param {
  name: string;
  data: Float32Array;
  grad: Float32Array;
  shape: number[];
  /**
   * When set, only these rows (of shape[0]) have gradient this step: the optimizer updates just
   * them (lazy / row-wise Adam). Set by sparse students between backward and step.
   */
  rows?: Int32Array | null;
  /** false: no weight decay (biases). Default true. */
  decay?: boolean;
}

/** A forward pass: the (B,D) output and whatever backward needs. */
export interface Forward {
  out: Float32Array;
  rows: number;
  side: Side;
  /** Student-specific saved activations. */
  ctx: unknown;
}

/** Weights by name plus the student's configuration: enough to rebuild it (see ./students/index.ts). */
export interface StudentState {
  kind: string;
  config: Record<string, unknown>;
  tensors: Record<string, Float32Array>;
}

export interface Student<I = unknown> {
  /** 'adapter', 'static', later 'full'. */
  readonly kind: string;
  /** Output embedding dimension D. */
  readonly dim: number;
  /** True when training never changes document embeddings (query-only adapter): evaluators encode them once. */
  readonly documentsFrozen?: boolean;
  /** Training forward over B inputs: (B,D) embeddings plus the context for backward. */
  forward(inputs: readonly I[], side: Side): Promise<Forward>;
  /** Accumulates parameter gradients for dOut (B,D) = ∂loss/∂out of that forward. */
  backward(f: Forward, dOut: Float32Array): Promise<void>;
  /** Inference: (B,D) embeddings, no context kept. */
  encode(inputs: readonly I[], side: Side): Promise<Float32Array>;
  /** The trainable tensors (stable order and names). */
  params(): Param[];
  zeroGrad(): void;
  /** Optional: take the optimizer step itself (native students); default optimizer.step(params()). */
  step?(optimizer: Adam, lr: number): void;
  /** A copy of the weights and configuration. */
  state(): StudentState;
  /** Replaces the weights (same kind and shapes). */
  load(state: StudentState): void;
  /**
   * WiSE-FT: weights ← alpha·current + (1 − alpha)·initial. Default (when absent): element-wise
   * on every tensor of state(), which is exact for students linear in their parameters.
   */
  interpolate?(initial: StudentState, alpha: number): void;
  /** Export hook: writes a self-contained model folder (tokenizer, config, onnx/model.onnx); see ./export.ts. */
  exportArtifact?(dir: string, opts?: Record<string, string | undefined>): Promise<void>;
}

/** One training example after normalisation: inputs are the student's input type I. */
export interface Example<I> {
  query: I;
  positive: I;
  /** One negative (train.jsonl's `negative`)… */
  negative?: I;
  margin?: number;
  /** …or several, each with its margin. */
  negatives?: I[];
  margins?: number[];
}

export interface NormalExample<I> {
  query: I;
  positive: I;
  negatives: I[];
  margins: number[];
}

/** A row's negatives: `negatives`, or its single `negative`, or none. */
export function negativesOf<T>(e: { negative?: T; negatives?: T[] }): T[] {
  return e.negatives ?? (e.negative !== undefined ? [e.negative] : []);
}

/** A row's margins: `margins`, or its single `margin`, or none. */
export function marginsOf(e: { margin?: number; margins?: number[] }): number[] {
  return e.margins ?? (e.margin !== undefined ? [e.margin] : []);
}

/** Brings `negative`/`margin` and `negatives`/`margins` to one form; throws on malformed rows. */
export function normalizeExample<I>(e: Example<I>, index = 0): NormalExample<I> {
  const negatives = negativesOf(e);
  const margins = marginsOf(e);
  if (e.query === undefined || e.positive === undefined) throw new InputTypeError(`examples[${index}]: query and positive are required`);
  if (negatives.length === 0) throw new InputTypeError(`examples[${index}]: no negative (negative or negatives)`);
  if (margins.length !== negatives.length) throw new InputRangeError(`examples[${index}]: ${negatives.length} negatives but ${margins.length} margins`);
  for (const m of margins) if (!Number.isFinite(m)) throw new InputTypeError(`examples[${index}]: margin is not a finite number`);
  return { query: e.query, positive: e.positive, negatives, margins };
}

/** Element-wise WiSE-FT on a state: out = alpha·a + (1 − alpha)·b. */
export function interpolateStates(a: StudentState, b: StudentState, alpha: number): StudentState {
  const tensors: Record<string, Float32Array> = {};
  for (const [name, x] of Object.entries(a.tensors)) {
    const y = b.tensors[name];
    if (!y || y.length !== x.length) throw new InputRangeError(`WiSE-FT: initial weights lack ${name} or differ in shape`);
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = alpha * x[i] + (1 - alpha) * y[i];
    tensors[name] = out;
  }
  return { kind: a.kind, config: a.config, tensors };
}

/** Applies WiSE-FT to a student through its own interpolate() or element-wise. */
export function wiseFt(student: Student<unknown>, initial: StudentState, alpha: number): void {
  if (!(alpha >= 0 && alpha <= 1)) throw new OptionsError(`WiSE-FT alpha must be in [0, 1], got ${alpha}`);
  if (student.interpolate) student.interpolate(initial, alpha);
  else student.load(interpolateStates(student.state(), initial, alpha));
}

/** Copies B vectors of length D into one (B,D) matrix. */
export function stackRows(rows: readonly ArrayLike<number>[], D: number, out = new Float32Array(rows.length * D)): Float32Array {
  for (let b = 0; b < rows.length; b++) {
    const r = rows[b];
    if (r.length !== D) throw new InputRangeError(`input ${b} has length ${r.length}, expected ${D}`);
    out.set(r as ArrayLike<number>, b * D);
  }
  return out;
}
