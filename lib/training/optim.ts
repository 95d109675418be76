/**
 * Optimizers (Adam, AdamW) and learning-rate schedules (warmup, then constant / linear / cosine
 * decay) for the training loop.
 *
 * Optimizers update named parameter tensors in place (see Param in ./student.ts). A parameter may
 * say which of its rows got gradient this step (`rows`): then only those rows are updated, with
 * their moments, as lazy Adam does for embedding tables (the static student touches a few
 * thousand of 30k rows per batch). Bias correction uses the global step, as in TF's LazyAdam.
 *
 *   Adam:  g ← g + wd·θ;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *          θ ← θ − lr · m̂ / (√v̂ + ε),  m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)
 *   AdamW: the same without the wd·θ term in g, and θ ← θ − lr·wd·θ before the update
 *          (decoupled weight decay, Loshchilov & Hutter).
 * The update is lib/kernels/train.ts's adamRows (native, parallel over rows, or the pure-TS
 * reference): every element is updated independently with the same double-precision arithmetic on
 * every backend, so a run is bit-for-bit deterministic.
 */
import { adamRows, type AdamRowsConsts } from '../kernels/train';
import type { Param } from './student';
import { InputRangeError, OptionsError } from '../util/errors';

export type OptimizerName = 'Adam' | 'AdamW';

export interface OptimizerOptions {
  name?: OptimizerName;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Serializable optimizer state: the step count and the moments of each parameter by name. */
export interface OptimizerState {
  name: OptimizerName;
  t: number;
  tensors: Record<string, Float32Array>;
}

export class Adam {
  readonly name: OptimizerName;
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Steps taken so far. */
  t = 0;
  private m = new Map<string, Float32Array>();
  private v = new Map<string, Float32Array>();
  /**
   * Called at the start of state(). A student whose moment tables are views of memory it refreshes
   * on demand (the full student on a CUDA device: host mirrors of the device's moments) sets it to
   * bring them up to date.
   */
  beforeState: (() => void) | null = null;

  constructor(opts: OptimizerOptions = {}) {
    this.name = opts.name ?? 'Adam';
    this.weightDecay = opts.weightDecay ?? 0;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    if (this.name !== 'Adam' && this.name !== 'AdamW') throw new OptionsError(`unknown optimizer: ${String(this.name)} (Adam, AdamW)`);
    for (const [k, v] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(v >= 0 && v < 1)) throw new OptionsError(`optimizer ${k} must be in [0, 1), got ${v}`);
    }
    if (!(this.eps > 0 && Number.isFinite(this.eps))) throw new OptionsError(`optimizer eps must be a finite number > 0, got ${this.eps}`);
    if (!(this.weightDecay >= 0 && Number.isFinite(this.weightDecay))) throw new OptionsError(`optimizer weightDecay must be a finite number ≥ 0, got ${this.weightDecay}`);
  }

  /** One update of every parameter with learning rate lr. */
  step(params: Param[], lr: number): void {
    this.t++;
    for (const p of params) this.update(p, lr);
  }

  /**
   * Updates params at the current step count without advancing it: for a student whose main
   * tensors were stepped elsewhere (the native Adam of the full student) in this same step.
   */
  stepAtCurrent(params: Param[], lr: number): void {
    if (this.t < 1) throw new Error('stepAtCurrent: no step has been taken yet');
    for (const p of params) this.update(p, lr);
  }

  private moments(p: Param): [Float32Array, Float32Array] {
    let m = this.m.get(p.name);
    let v = this.v.get(p.name);
    if (!m || !v || m.length !== p.data.length) {
      m = new Float32Array(p.data.length);
      v = new Float32Array(p.data.length);
      this.m.set(p.name, m);
      this.v.set(p.name, v);
    }
    return [m, v];
  }

  private update(p: Param, lr: number): void {
    const [m, v] = this.moments(p);
    const wd = p.decay === false ? 0 : this.weightDecay;
    const k: AdamRowsConsts = {
      lr,
      b1: this.beta1,
      b2: this.beta2,
      eps: this.eps,
      c1: 1 / (1 - Math.pow(this.beta1, this.t)),
      c2: 1 / (1 - Math.pow(this.beta2, this.t)),
      l2: this.name === 'Adam' ? wd : 0,
      decoupled: this.name === 'AdamW' ? lr * wd : 0,
    };
    if (p.data.length === 0) return;
    // Native when the addon has it, else the pure-TS loop; the same arithmetic bit for bit.
    if (p.rows) adamRows(p.data, p.grad, m, v, rowWidth(p), p.rows, k);
    else adamRows(p.data, p.grad, m, v, p.data.length, null, k);
  }

  state(): OptimizerState {
    this.beforeState?.();
    const tensors: Record<string, Float32Array> = {};
    for (const [name, m] of this.m) {
      tensors[`${name}.m`] = m.slice();
      tensors[`${name}.v`] = (this.v.get(name) as Float32Array).slice();
    }
    return { name: this.name, t: this.t, tensors };
  }

  load(s: OptimizerState): void {
    if (s.name !== this.name) throw new InputRangeError(`optimizer state is for ${s.name}, not ${this.name}`);
    this.t = s.t;
    this.m.clear();
    this.v.clear();
    for (const key of Object.keys(s.tensors)) {
      if (!key.endsWith('.m')) continue;
      const name = key.slice(0, -2);
      const v = s.tensors[`${name}.v`];
      if (!v) throw new InputRangeError(`optimizer state lacks ${name}.v`);
      this.m.set(name, s.tensors[key].slice());
      this.v.set(name, v.slice());
    }
  }
}

function rowWidth(p: Param): number {
  const rows = p.shape[0];
  if (!(rows > 0) || p.data.length % rows !== 0) throw new Error(`param ${p.name}: bad shape for row updates`);
  return p.data.length / rows;
}

// The Adam/AdamW update of a range of elements (lib/kernels/train-reference.ts adamRowsRef, and
// native/cpu/embedding.cc for the addon), per element in double precision:
//   gi = g + l2·x;  mi = b1·m + (1−b1)·gi;  vi = b2·v + (1−b2)·gi²;  m = mi;  v = vi;
//   x = x − decoupled·x − lr·(mi·c1) / (√(vi·c2) + ε)

// ---------------------------------------------------------------------------------------------
// Learning-rate schedules

export type DecayKind = 'constant' | 'linear' | 'cosine';

export interface SchedulerOptions {
  /** Warmup steps (an integer ≥ 1) or a fraction of all steps (0 < w < 1). Default 0. */
  warmup?: number;
  /** Decay after warmup, to 0 at the last step. Default 'linear'. */
  decay?: DecayKind;
}

export type SchedulerSpec = DecayKind | SchedulerOptions;

/**
 * lr(step) for step = 0 … total−1:
 *   warmup (step < W):  base · (step+1)/W
 *   then, with progress u = (step − W)/(total − W):
 *     constant: base;  linear: base · (1 − u);  cosine: base · ½(1 + cos(π u))
 */
export function learningRate(base: number, step: number, total: number, spec: SchedulerSpec = 'linear'): number {
  const opts: SchedulerOptions = typeof spec === 'string' ? { decay: spec } : spec;
  const W = warmupSteps(opts.warmup ?? 0, total);
  if (step < W) return (base * (step + 1)) / W;
  const u = total > W ? (step - W) / (total - W) : 0;
  switch (opts.decay ?? 'linear') {
    case 'constant':
      return base;
    case 'linear':
      return base * (1 - u);
    case 'cosine':
      return base * 0.5 * (1 + Math.cos(Math.PI * u));
    default:
      throw new OptionsError(`unknown lr decay: ${String(opts.decay)} (linear, cosine, constant)`);
  }
}

export function warmupSteps(warmup: number, total: number): number {
  if (!(warmup >= 0)) throw new OptionsError(`warmup must be ≥ 0, got ${warmup}`);
  return warmup > 0 && warmup < 1 ? Math.round(warmup * total) : Math.floor(warmup);
}
