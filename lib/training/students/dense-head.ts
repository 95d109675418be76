/**
 * A full transformer student with the sentence-transformers modules that follow pooling: Dense
 * layers (trainable) and Normalize. The layout of distiluse-base-multilingual-cased-v1 and of any
 * model whose modules.json has Dense after Pooling:
 *
 *   forward:  x0 = inner(ids)            (B, C)   the FullStudent, pooled (normalised when the
 *                                                   folder has Normalize right after pooling)
 *             z_l = x_{l-1}·W_lᵀ + b_l,  x_l = act_l(z_l)   for each Dense l   (B, O_l)
 *             out = x_L / max(‖x_L‖, 1e-12)  when Normalize comes last, else x_L
 *   backward: dx_L = (dout − out·⟨out, dout⟩) / max(‖x_L‖, 1e-12)  (Normalize)
 *             dz_l = dx_l ⊙ act_l'(z_l);  dW_l += dz_lᵀ·x_{l-1};  db_l += Σ_b dz_l;  dx_{l-1} = dz_l·W_l
 *             then the inner student's backward with dx_0.
 *
 * The Dense weights are plain Float32Arrays stepped by the same optimizer (after the inner
 * student's native step, at the same step count). State: the inner state's tensors plus
 * `dense.<l>.linear.weight|bias`, kind 'full+dense'. Export: the inner export, then the
 * sentence-transformers modules rewritten with the trained Dense weights (lib/models/st-folder.ts).
 */
import { erf } from '../../models/reference-forward';
import { activate, type DenseActivation, type DenseSpec } from '../../models/st-folder';
import type { Adam } from '../optim';
import type { Forward, Param, Side, Student, StudentState } from '../student';
import { fullFromState, type FullStudent, type TokenIds } from './full';
import { ModelError } from '../../models/errors';
import { InputRangeError } from '../../util/errors';

interface Layer {
  inF: number;
  outF: number;
  act: DenseActivation;
  w: Param;
  b: Param | null;
}

interface HeadCtx {
  inner: Forward;
  /** x_0 … x_L, each (B, width). */
  xs: Float32Array[];
  /** z_1 … z_L (pre-activation). */
  zs: Float32Array[];
  norms: Float32Array | null;
}

const SQRT1_2PI = 1 / Math.sqrt(2 * Math.PI);

function actGrad(z: number, y: number, a: DenseActivation): number {
  switch (a) {
    case 'tanh': return 1 - y * y;
    case 'relu': return z > 0 ? 1 : 0;
    case 'sigmoid': return y * (1 - y);
    case 'gelu': return 0.5 * (1 + erf(z / Math.SQRT2)) + z * SQRT1_2PI * Math.exp(-0.5 * z * z);
    default: return 1;
  }
}

export interface DenseHeadOptions {
  dense: DenseSpec[];
  normalize: boolean;
}

export class DenseHeadStudent implements Student<TokenIds> {
  readonly kind = 'full+dense';
  readonly dim: number;
  readonly normalize: boolean;
  private readonly layers: Layer[];

  constructor(readonly inner: FullStudent, opts: DenseHeadOptions) {
    if (!opts.dense.length) throw new ModelError('full+dense: no Dense module');
    let width = inner.dim;
    this.layers = opts.dense.map((d, l) => {
      if (d.inFeatures !== width) throw new ModelError(`full+dense: Dense ${l} has in_features ${d.inFeatures}, expected ${width}`);
      if (d.weight.length !== d.inFeatures * d.outFeatures) throw new ModelError(`full+dense: Dense ${l} weight has ${d.weight.length} values`);
      width = d.outFeatures;
      const w: Param = { name: `dense.${l}.linear.weight`, data: Float32Array.from(d.weight), grad: new Float32Array(d.weight.length), shape: [d.outFeatures, d.inFeatures] };
      const b: Param | null = d.biasData
        ? { name: `dense.${l}.linear.bias`, data: Float32Array.from(d.biasData), grad: new Float32Array(d.outFeatures), shape: [d.outFeatures], decay: false }
        : null;
      return { inF: d.inFeatures, outF: d.outFeatures, act: d.activation, w, b };
    });
    this.dim = width;
    this.normalize = opts.normalize;
  }

  /** The Dense modules with their current weights (copies). */
  denseSpecs(): DenseSpec[] {
    return this.layers.map((L) => ({
      inFeatures: L.inF, outFeatures: L.outF, bias: L.b !== null, activation: L.act,
      weight: L.w.data.slice(), biasData: L.b ? L.b.data.slice() : null,
    }));
  }

  private head(x0: Float32Array, B: number): Omit<HeadCtx, 'inner'> & { out: Float32Array } {
    const xs = [x0];
    const zs: Float32Array[] = [];
    let x = x0;
    for (const L of this.layers) {
      const z = new Float32Array(B * L.outF);
      const y = new Float32Array(B * L.outF);
      const W = L.w.data;
      for (let r = 0; r < B; r++) {
        for (let o = 0; o < L.outF; o++) {
          let s = L.b ? L.b.data[o] : 0;
          for (let i = 0; i < L.inF; i++) s += W[o * L.inF + i] * x[r * L.inF + i];
          z[r * L.outF + o] = s;
          y[r * L.outF + o] = activate(s, L.act);
        }
      }
      zs.push(z);
      xs.push(y);
      x = y;
    }
    let out = x;
    let norms: Float32Array | null = null;
    if (this.normalize) {
      const D = this.dim;
      norms = new Float32Array(B);
      out = new Float32Array(x.length);
      for (let r = 0; r < B; r++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += x[r * D + d] * x[r * D + d];
        const n = Math.max(Math.sqrt(s), 1e-12);
        norms[r] = n;
        for (let d = 0; d < D; d++) out[r * D + d] = x[r * D + d] / n;
      }
    }
    return { xs, zs, norms, out };
  }

  async forward(inputs: readonly TokenIds[], side: Side): Promise<Forward> {
    const f = await this.inner.forward(inputs, side);
    const h = this.head(f.out, f.rows);
    const ctx: HeadCtx = { inner: f, xs: h.xs, zs: h.zs, norms: h.norms };
    return { out: h.out, rows: f.rows, side, ctx };
  }

  async backward(f: Forward, dOut: Float32Array): Promise<void> {
    if (f.rows === 0) return;
    const { inner, xs, zs, norms } = f.ctx as HeadCtx;
    const B = f.rows;
    if (dOut.length !== B * this.dim) throw new Error(`full+dense: dOut has length ${dOut.length}, expected ${B * this.dim}`);
    let dx = Float32Array.from(dOut);
    if (norms) {
      const D = this.dim;
      for (let r = 0; r < B; r++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += f.out[r * D + d] * dOut[r * D + d];
        for (let d = 0; d < D; d++) dx[r * D + d] = (dOut[r * D + d] - f.out[r * D + d] * dot) / norms[r];
      }
    }
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const L = this.layers[l];
      const x = xs[l];
      const y = xs[l + 1];
      const z = zs[l];
      const dz = new Float32Array(B * L.outF);
      for (let i = 0; i < dz.length; i++) dz[i] = dx[i] * actGrad(z[i], y[i], L.act);
      const W = L.w.data;
      const dW = L.w.grad;
      const dIn = new Float32Array(B * L.inF);
      for (let r = 0; r < B; r++) {
        for (let o = 0; o < L.outF; o++) {
          const g = dz[r * L.outF + o];
          if (g === 0) continue;
          if (L.b) L.b.grad[o] += g;
          for (let i = 0; i < L.inF; i++) {
            dW[o * L.inF + i] += g * x[r * L.inF + i];
            dIn[r * L.inF + i] += g * W[o * L.inF + i];
          }
        }
      }
      dx = dIn;
    }
    await this.inner.backward(inner, dx);
  }

  async encode(inputs: readonly TokenIds[], side: Side): Promise<Float32Array> {
    const x0 = await this.inner.encode(inputs, side);
    return this.head(x0, inputs.length).out;
  }

  private headParams(): Param[] {
    return this.layers.flatMap((L) => (L.b ? [L.w, L.b] : [L.w]));
  }

  params(): Param[] {
    return [...this.inner.params(), ...this.headParams()];
  }

  zeroGrad(): void {
    this.inner.zeroGrad();
    for (const p of this.headParams()) p.grad.fill(0);
  }

  step(optimizer: Adam, lr: number): void {
    this.inner.step(optimizer, lr); // advances optimizer.t
    optimizer.stepAtCurrent(this.headParams(), lr);
  }

  state(): StudentState {
    const s = this.inner.state();
    const tensors = { ...s.tensors };
    for (const p of this.headParams()) tensors[p.name] = p.data.slice();
    return {
      kind: this.kind,
      config: { ...s.config, innerKind: s.kind, normalizeHead: this.normalize, dense: this.layers.map((L) => ({ inFeatures: L.inF, outFeatures: L.outF, activation: L.act, bias: L.b !== null })) },
      tensors,
    };
  }

  load(s: StudentState): void {
    if (s.kind !== this.kind) throw new InputRangeError(`full+dense: cannot load a ${s.kind} state`);
    const innerTensors: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(s.tensors)) if (!k.startsWith('dense.')) innerTensors[k] = v;
    this.inner.load({ kind: 'full', config: s.config, tensors: innerTensors });
    for (const p of this.headParams()) {
      const t = s.tensors[p.name];
      if (!t || t.length !== p.data.length) throw new InputRangeError(`full+dense: the state lacks '${p.name}' or has another shape`);
      p.data.set(t);
    }
  }

  /** The inner export with the trained Dense modules and Normalize as sentence-transformers modules. */
  async exportArtifact(dir: string, opts: { tokenizerDir?: string; similarity?: 'cosine' | 'dot' } = {}): Promise<void> {
    await this.inner.exportArtifact(dir, { ...opts, head: { dense: this.denseSpecs(), normalize: this.normalize } });
  }
}

/** Rebuilds a full+dense student from its state (checkpoints, WiSE-FT). */
export function denseHeadFromState(s: StudentState): DenseHeadStudent {
  if (s.kind !== 'full+dense') throw new InputRangeError(`full+dense: cannot build from a ${s.kind} state`);
  const c = s.config as Record<string, unknown> & { dense: { inFeatures: number; outFeatures: number; activation: DenseActivation; bias: boolean }[]; normalizeHead: boolean };
  const innerTensors: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(s.tensors)) if (!k.startsWith('dense.')) innerTensors[k] = v;
  const inner = fullFromState({ kind: 'full', config: s.config, tensors: innerTensors });
  const dense: DenseSpec[] = c.dense.map((d, l) => ({
    ...d, weight: s.tensors[`dense.${l}.linear.weight`], biasData: d.bias ? s.tensors[`dense.${l}.linear.bias`] : null,
  }));
  return new DenseHeadStudent(inner, { dense, normalize: c.normalizeHead });
}
