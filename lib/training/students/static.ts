/**
 * Static student: a static token-embedding model (an embedding bag with mean pooling, like
 * model2vec and sentence-transformers' static embeddings). A text is a list of token ids; its
 * embedding is the mean of their rows of the table E. No attention, no context: it trains and
 * encodes on a laptop CPU in seconds. Tokenisation happens outside (the inputs are id arrays),
 * so the student needs no tokenizer and tests need none.
 *
 *   forward:  out[b] = (1/L_b) · Σ_{t<L_b} E[ids_b[t]]             (zero vector when L_b = 0)
 *   backward: dE[ids_b[t]] += dOut[b] / L_b   for every b, t
 *
 * Gradients are sparse: only the rows of tokens in the batch are touched. They are tracked, so
 * zeroGrad clears just those rows and the optimizer updates just those rows (lazy Adam; weight
 * decay too acts only on rows seen in the step).
 *
 * Shapes: V vocabulary size, D dim, B texts per batch, L_b tokens of text b. E (V,D).
 */
import { normals } from '../rng';
import type { Forward, Param, Side, Student, StudentState } from '../student';

export type TokenIds = ArrayLike<number>;

export interface StaticOptions {
  vocabSize: number;
  dim: number;
  /** Seed of the random initialisation N(0, 1/D) (default 0). */
  seed?: number;
  /** (V,D) initial vectors (e.g. distilled from a teacher); overrides the random init. */
  init?: Float32Array;
}

export class StaticStudent implements Student<TokenIds> {
  readonly kind = 'static';
  readonly vocabSize: number;
  readonly dim: number;
  readonly seed: number;
  /** E (V,D) and its gradient. */
  readonly table: Float32Array;
  readonly grad: Float32Array;
  /** Rows with gradient since the last zeroGrad: touched[0..nTouched), and a mark per row. */
  private readonly touched: Int32Array;
  private nTouched = 0;
  private readonly mark: Uint8Array;
  private readonly param: Param;

  constructor(opts: StaticOptions) {
    const { vocabSize: V, dim: D } = opts;
    if (!(Number.isInteger(V) && V > 0)) throw new Error('static: vocabSize must be a positive integer');
    if (!(Number.isInteger(D) && D > 0)) throw new Error('static: dim must be a positive integer');
    this.vocabSize = V;
    this.dim = D;
    this.seed = opts.seed ?? 0;
    if (opts.init) {
      if (opts.init.length !== V * D) throw new Error(`static: init must have vocabSize·dim = ${V * D} values`);
      this.table = opts.init.slice();
    } else {
      this.table = normals(V * D, this.seed, 1 / Math.sqrt(D));
    }
    this.grad = new Float32Array(V * D);
    this.touched = new Int32Array(V);
    this.mark = new Uint8Array(V);
    this.param = { name: 'embeddings', data: this.table, grad: this.grad, shape: [V, D], rows: null };
  }

  private checkIds(ids: TokenIds, b: number): void {
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t];
      if (!(Number.isInteger(id) && id >= 0 && id < this.vocabSize)) {
        throw new Error(`static: token id ${id} of input ${b} is outside [0, ${this.vocabSize})`);
      }
    }
  }

  /** out (B,D): mean of the rows of each input's ids. */
  private pool(inputs: readonly TokenIds[], out: Float32Array): void {
    const D = this.dim;
    const E = this.table;
    for (let b = 0; b < inputs.length; b++) {
      const ids = inputs[b];
      const L = ids.length;
      if (L === 0) continue;
      const o = b * D;
      for (let t = 0; t < L; t++) addRow(out, o, E, ids[t] * D, 1, D);
      scaleRow(out, o, 1 / L, D);
    }
  }

  async forward(inputs: readonly TokenIds[], side: Side): Promise<Forward> {
    inputs.forEach((ids, b) => this.checkIds(ids, b));
    const out = new Float32Array(inputs.length * this.dim);
    this.pool(inputs, out);
    return { out, rows: inputs.length, side, ctx: inputs };
  }

  async backward(f: Forward, dOut: Float32Array): Promise<void> {
    const inputs = f.ctx as readonly TokenIds[];
    const D = this.dim;
    const G = this.grad;
    for (let b = 0; b < inputs.length; b++) {
      const ids = inputs[b];
      const L = ids.length;
      if (L === 0) continue;
      const s = 1 / L;
      const o = b * D;
      for (let t = 0; t < L; t++) {
        const id = ids[t];
        if (!this.mark[id]) {
          this.mark[id] = 1;
          this.touched[this.nTouched++] = id;
        }
        addRow(G, id * D, dOut, o, s, D);
      }
    }
  }

  async encode(inputs: readonly TokenIds[], side: Side): Promise<Float32Array> {
    return (await this.forward(inputs, side)).out;
  }

  /** Synchronous encode of many texts (evaluation of a corpus). */
  encodeSync(inputs: readonly TokenIds[]): Float32Array {
    inputs.forEach((ids, b) => this.checkIds(ids, b));
    const out = new Float32Array(inputs.length * this.dim);
    this.pool(inputs, out);
    return out;
  }

  params(): Param[] {
    this.param.rows = this.touched.subarray(0, this.nTouched);
    return [this.param];
  }

  zeroGrad(): void {
    const D = this.dim;
    for (let i = 0; i < this.nTouched; i++) {
      const id = this.touched[i];
      this.grad.fill(0, id * D, id * D + D);
      this.mark[id] = 0;
    }
    this.nTouched = 0;
  }

  /** Model folder with the ONNX embedding bag; opts.tokenizerDir: the tokenizer of the ids. */
  async exportArtifact(dir: string, opts: { tokenizerDir?: string } = {}): Promise<void> {
    if (!opts.tokenizerDir) throw new Error('static export needs tokenizerDir (the tokenizer the token ids come from)');
    const { exportStatic } = await import('../export.js');
    await exportStatic(this, dir, { tokenizerDir: opts.tokenizerDir });
  }

  state(): StudentState {
    return {
      kind: this.kind,
      config: { vocabSize: this.vocabSize, dim: this.dim, seed: this.seed },
      tensors: { embeddings: this.table.slice() },
    };
  }

  load(s: StudentState): void {
    if (s.kind !== this.kind) throw new Error(`static: cannot load a ${s.kind} state`);
    const t = s.tensors.embeddings;
    if (!t || t.length !== this.table.length) throw new Error('static: state lacks embeddings or its shape differs');
    this.table.set(t);
  }
}

export function staticFromState(s: StudentState): StaticStudent {
  const c = s.config as { vocabSize: number; dim: number; seed?: number };
  return new StaticStudent({ vocabSize: c.vocabSize, dim: c.dim, seed: c.seed, init: s.tensors.embeddings });
}

/** y[yo..yo+D) += a · x[xo..xo+D) (unrolled by 4: this loop is the student's whole cost). */
function addRow(y: Float32Array, yo: number, x: Float32Array, xo: number, a: number, D: number): void {
  let d = 0;
  if (a === 1) {
    for (; d + 3 < D; d += 4) {
      y[yo + d] += x[xo + d];
      y[yo + d + 1] += x[xo + d + 1];
      y[yo + d + 2] += x[xo + d + 2];
      y[yo + d + 3] += x[xo + d + 3];
    }
  } else {
    for (; d + 3 < D; d += 4) {
      y[yo + d] += a * x[xo + d];
      y[yo + d + 1] += a * x[xo + d + 1];
      y[yo + d + 2] += a * x[xo + d + 2];
      y[yo + d + 3] += a * x[xo + d + 3];
    }
  }
  for (; d < D; d++) y[yo + d] += a * x[xo + d];
}

function scaleRow(y: Float32Array, yo: number, a: number, D: number): void {
  for (let d = 0; d < D; d++) y[yo + d] *= a;
}
