/**
 * Adapter student: a linear map on top of a frozen encoder's cached embeddings.
 *
 *   y = W·x + b,   W = I + Δ (full rank, Δ (D,D) starts at 0)   or   W = I + U·Vᵀ (rank r)
 *
 * so training starts exactly at the frozen encoder. Applied to queries only (default: the corpus
 * index stays valid, nothing is re-embedded) or to both sides. Texts are encoded once; training
 * then runs on the cached vectors, and all heavy math is batched GEMM through an injectable
 * matmul (the native kernels by default; the bench swaps in the pure-TS matmulRef). Weight decay
 * acts on Δ (or U, V), i.e. it pulls W towards the identity, not towards 0.
 *
 * Shapes: B rows per batch, D dim, r rank. X (B,D) inputs, Y (B,D) outputs, H (B,r) = X·V.
 *   full:     Y = X + X·Δᵀ (+ b)             dΔ = dYᵀ·X
 *   low rank: Y = X + H·Uᵀ (+ b), H = X·V    dU = dYᵀ·H,  dH = dY·U,  dV = Xᵀ·dH
 *   bias:     db = Σ_b dY[b]
 */
import { matmulSync, type GemmArgs } from '../../kernels';
import { normals } from '../rng';
import { stackRows, type Forward, type Param, type Side, type Student, type StudentState } from '../student';
import { InputRangeError, OptionsError } from '../../util/errors';

export type MatmulFn = (a: Float32Array, b: Float32Array, args: GemmArgs) => Float32Array;

export interface AdapterOptions {
  dim: number;
  /** Rank r of W − I; 0 or absent: full rank (Δ is D×D). */
  rank?: number;
  /** Learn a bias b (default false). */
  bias?: boolean;
  /** 'query' (default): documents pass through unchanged; 'both': one W for both sides. */
  sides?: 'query' | 'both';
  /** Seed of V's initialisation (low rank only). Default 0. */
  seed?: number;
  /** GEMM used for forward and backward (default: the native kernels' matmulSync). */
  matmul?: MatmulFn;
}

interface AdapterCtx {
  /** (B,D) inputs, (B,r) X·V for low rank. Null when this side passes through. */
  x: Float32Array | null;
  h: Float32Array | null;
}

/** (R,C) → (C,R). */
function transpose(a: Float32Array, R: number, C: number, out = new Float32Array(R * C)): Float32Array {
  for (let r = 0; r < R; r++) {
    const ro = r * C;
    for (let c = 0; c < C; c++) out[c * R + r] = a[ro + c];
  }
  return out;
}

export class AdapterStudent implements Student<Float32Array> {
  readonly kind = 'adapter';
  readonly dim: number;
  readonly rank: number;
  readonly hasBias: boolean;
  readonly sides: 'query' | 'both';
  readonly seed: number;
  matmul: MatmulFn;
  private readonly ps: Param[];

  constructor(opts: AdapterOptions) {
    const D = opts.dim;
    if (!(Number.isInteger(D) && D > 0)) throw new OptionsError('adapter: dim must be a positive integer');
    const r = opts.rank ?? 0;
    if (!(Number.isInteger(r) && r >= 0 && r <= D)) throw new OptionsError('adapter: rank must be an integer in [0, dim]');
    this.dim = D;
    this.rank = r;
    this.hasBias = opts.bias ?? false;
    this.sides = opts.sides ?? 'query';
    if (this.sides !== 'query' && this.sides !== 'both') throw new OptionsError("adapter: sides must be 'query' or 'both'");
    this.seed = opts.seed ?? 0;
    this.matmul = opts.matmul ?? matmulSync;
    this.ps = [];
    const param = (name: string, shape: number[], data: Float32Array, decay = true): void => {
      this.ps.push({ name, shape, data, grad: new Float32Array(data.length), decay });
    };
    if (r === 0) {
      param('delta', [D, D], new Float32Array(D * D));
    } else {
      param('u', [D, r], new Float32Array(D * r));
      param('v', [D, r], normals(D * r, this.seed, 1 / Math.sqrt(D)));
    }
    if (this.hasBias) param('bias', [D], new Float32Array(D), false);
  }

  get documentsFrozen(): boolean {
    return this.sides === 'query';
  }

  private get(name: string): Param {
    const p = this.ps.find((x) => x.name === name);
    if (!p) throw new Error(`adapter: no parameter ${name}`);
    return p;
  }

  params(): Param[] {
    return this.ps;
  }

  zeroGrad(): void {
    for (const p of this.ps) p.grad.fill(0);
  }

  private transforms(side: Side): boolean {
    return side === 'query' || this.sides === 'both';
  }

  /** Y (B,D) = X·Wᵀ + b for a (B,D) matrix; also returns H for low rank. */
  private forwardMatrix(x: Float32Array, B: number): { y: Float32Array; h: Float32Array | null } {
    const D = this.dim;
    const y = x.slice();
    let h: Float32Array | null = null;
    if (this.rank === 0) {
      this.matmul(x, this.get('delta').data, { m: B, n: D, k: D, transB: true, beta: 1, c: y });
    } else {
      const r = this.rank;
      h = this.matmul(x, this.get('v').data, { m: B, n: r, k: D });
      this.matmul(h, this.get('u').data, { m: B, n: D, k: r, transB: true, beta: 1, c: y });
    }
    if (this.hasBias) {
      const b = this.get('bias').data;
      for (let i = 0; i < B; i++) for (let d = 0; d < D; d++) y[i * D + d] += b[d];
    }
    return { y, h };
  }

  /** Applies the adapter to a (B,D) matrix of embeddings of one side (inference). */
  apply(x: Float32Array, side: Side = 'query'): Float32Array {
    if (x.length % this.dim !== 0) throw new InputRangeError('adapter: input length is not a multiple of dim');
    if (!this.transforms(side)) return x.slice();
    return this.forwardMatrix(x, x.length / this.dim).y;
  }

  async forward(inputs: readonly Float32Array[], side: Side): Promise<Forward> {
    return this.forwardRows(stackRows(inputs, this.dim), side);
  }

  /** forward() on an already stacked (B,D) matrix (fit's fast path). */
  forwardRows(x: Float32Array, side: Side): Forward {
    const B = x.length / this.dim;
    if (!this.transforms(side)) return { out: x, rows: B, side, ctx: { x: null, h: null } satisfies AdapterCtx };
    const { y, h } = this.forwardMatrix(x, B);
    return { out: y, rows: B, side, ctx: { x, h } satisfies AdapterCtx };
  }

  async backward(f: Forward, dy: Float32Array): Promise<void> {
    const { x, h } = f.ctx as AdapterCtx;
    if (!x) return;
    const B = f.rows;
    const D = this.dim;
    const dyT = transpose(dy, B, D); // (D,B)
    if (this.rank === 0) {
      // dΔ (D,D) += dYᵀ (D,B) · X (B,D)
      const g = this.get('delta').grad;
      this.matmul(dyT, x, { m: D, n: D, k: B, beta: 1, c: g });
    } else {
      const r = this.rank;
      const U = this.get('u');
      const V = this.get('v');
      // dU (D,r) += dYᵀ (D,B) · H (B,r)
      this.matmul(dyT, h as Float32Array, { m: D, n: r, k: B, beta: 1, c: U.grad });
      // dH (B,r) = dY (B,D) · U (D,r);  dV (D,r) += Xᵀ (D,B) · dH (B,r)
      const dh = this.matmul(dy, U.data, { m: B, n: r, k: D });
      this.matmul(transpose(x, B, D), dh, { m: D, n: r, k: B, beta: 1, c: V.grad });
    }
    if (this.hasBias) {
      const g = this.get('bias').grad;
      for (let i = 0; i < B; i++) for (let d = 0; d < D; d++) g[d] += dy[i * D + d];
    }
  }

  async encode(inputs: readonly Float32Array[], side: Side): Promise<Float32Array> {
    return (await this.forward(inputs, side)).out.slice();
  }

  /** The effective map for export: W (D,D) row-major (y = W·x + b) and b (D, zeros without bias). */
  matrix(): { w: Float32Array; b: Float32Array } {
    const D = this.dim;
    let w: Float32Array;
    if (this.rank === 0) {
      w = this.get('delta').data.slice();
    } else {
      // U·Vᵀ: (D,r)·(D,r)ᵀ
      w = this.matmul(this.get('u').data, this.get('v').data, { m: D, n: D, k: this.rank, transB: true });
    }
    for (let d = 0; d < D; d++) w[d * D + d] += 1;
    const b = this.hasBias ? this.get('bias').data.slice() : new Float32Array(D);
    return { w, b };
  }

  /** The adapter as a model folder on its base encoder (lib/training/export.ts); opts.baseModelDir: that encoder's folder. */
  async exportArtifact(dir: string, opts: { baseModelDir?: string; similarity?: 'cosine' | 'dot' } = {}): Promise<void> {
    if (!opts.baseModelDir) throw new OptionsError('adapter export needs baseModelDir (the frozen encoder the adapter was trained on)');
    const { exportAdapter } = await import('../export.js');
    await exportAdapter(this, dir, { baseModelDir: opts.baseModelDir, similarity: opts.similarity });
  }

  config(): Record<string, unknown> {
    return { dim: this.dim, rank: this.rank, bias: this.hasBias, sides: this.sides, seed: this.seed };
  }

  state(): StudentState {
    const tensors: Record<string, Float32Array> = {};
    for (const p of this.ps) tensors[p.name] = p.data.slice();
    return { kind: this.kind, config: this.config(), tensors };
  }

  load(s: StudentState): void {
    if (s.kind !== this.kind) throw new InputRangeError(`adapter: cannot load a ${s.kind} state`);
    for (const p of this.ps) {
      const t = s.tensors[p.name];
      if (!t || t.length !== p.data.length) throw new InputRangeError(`adapter: state lacks ${p.name} or its shape differs`);
      p.data.set(t);
    }
  }

  /**
   * WiSE-FT. Full rank and bias are linear in W, so element-wise interpolation is exact. For low
   * rank, W − I = U·Vᵀ is bilinear: when the initial U is 0 (a fresh adapter), scaling U by alpha
   * gives exactly I + alpha·U·Vᵀ; otherwise U and V are interpolated element-wise (approximate).
   */
  interpolate(initial: StudentState, alpha: number): void {
    const init = initial.tensors;
    const freshLowRank = this.rank > 0 && init.u !== undefined && init.u.every((x) => x === 0);
    for (const p of this.ps) {
      const y = init[p.name];
      if (!y || y.length !== p.data.length) throw new InputRangeError(`adapter: initial state lacks ${p.name}`);
      if (freshLowRank && p.name === 'v') continue;
      for (let i = 0; i < p.data.length; i++) p.data[i] = alpha * p.data[i] + (1 - alpha) * y[i];
    }
  }
}

export function adapterFromState(s: StudentState, matmul?: MatmulFn): AdapterStudent {
  const c = s.config as { dim: number; rank?: number; bias?: boolean; sides?: 'query' | 'both'; seed?: number };
  const a = new AdapterStudent({ ...c, matmul });
  a.load(s);
  return a;
}
