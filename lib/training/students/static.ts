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
 * Both run in lib/kernels/train.ts (native embedding-bag kernels, or their pure-TS references),
 * on the batch laid out once as CSR token ids.
 *
 * Gradients are sparse: only the rows of tokens in the batch are touched. They are tracked, so
 * zeroGrad clears just those rows and the optimizer updates just those rows (lazy Adam; weight
 * decay too acts only on rows seen in the step).
 *
 * Shapes: V vocabulary size, D dim, B texts per batch, L_b tokens of text b. E (V,D).
 */
import * as os from 'node:os';
import { embeddingBag, embeddingBagBackward } from '../../kernels/train';
import { normals } from '../rng';
import { InputRangeError, OptionsError } from '../../util/errors';
import type { Forward, Param, Side, Student, StudentState } from '../student';

export type TokenIds = ArrayLike<number>;

/** What forward keeps for backward: the batch as CSR token ids. */
interface BagCtx {
  ids: Int32Array;
  offsets: Int32Array;
}

export interface StaticOptions {
  vocabSize: number;
  dim: number;
  /** Seed of the random initialisation N(0, 1/D) (default 0). */
  seed?: number;
  /** (V,D) initial vectors (e.g. distilled from a teacher); overrides the random init. */
  init?: Float32Array;
}

/**
 * Refuses a static table that cannot be held: vocabSize and dim positive integers, and the table,
 * its gradient and two Adam moments (16 · V · D bytes) within this machine's memory and one typed array.
 */
export function checkStaticTableSize(V: number, D: number): void {
  if (!(Number.isInteger(V) && V > 0)) throw new OptionsError(`static: vocabSize must be a positive integer, got ${V}`);
  if (!(Number.isInteger(D) && D > 0)) throw new OptionsError(`static: dim (--dim) must be a positive integer, got ${D}`);
  const bytes = 16 * V * D;
  if (V * D > 2 ** 32 - 1 || bytes > os.totalmem()) {
    throw new OptionsError(`static: a ${V}-token vocabulary × dim ${D} table needs ${(bytes / 2 ** 30).toFixed(1)} GiB with its gradient and Adam moments (this machine has ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB); choose a smaller dim (--dim)`);
  }
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
    checkStaticTableSize(V, D);
    this.vocabSize = V;
    this.dim = D;
    this.seed = opts.seed ?? 0;
    if (opts.init) {
      if (opts.init.length !== V * D) throw new InputRangeError(`static: init must have vocabSize·dim = ${V * D} values`);
      this.table = opts.init.slice();
    } else {
      this.table = normals(V * D, this.seed, 1 / Math.sqrt(D));
    }
    this.grad = new Float32Array(V * D);
    this.touched = new Int32Array(V);
    this.mark = new Uint8Array(V);
    this.param = { name: 'embeddings', data: this.table, grad: this.grad, shape: [V, D], rows: null };
  }

  /** The inputs as CSR (ids, offsets: text b is ids[offsets[b]..offsets[b+1])), ids checked. */
  private csr(inputs: readonly TokenIds[]): BagCtx {
    const offsets = new Int32Array(inputs.length + 1);
    let total = 0;
    for (let b = 0; b < inputs.length; b++) {
      total += inputs[b].length;
      offsets[b + 1] = total;
    }
    const ids = new Int32Array(total);
    for (let b = 0; b < inputs.length; b++) {
      const x = inputs[b];
      const o = offsets[b];
      for (let t = 0; t < x.length; t++) {
        const id = x[t];
        if (!(Number.isInteger(id) && id >= 0 && id < this.vocabSize)) {
          throw new InputRangeError(`static: token id ${id} of input ${b} is outside [0, ${this.vocabSize})`);
        }
        ids[o + t] = id;
      }
    }
    return { ids, offsets };
  }

  /** out (B,D): mean of the rows of each input's ids (the embedding-bag kernel). */
  private pool(c: BagCtx): Float32Array {
    return embeddingBag(this.table, this.vocabSize, this.dim, c.ids, c.offsets);
  }

  async forward(inputs: readonly TokenIds[], side: Side): Promise<Forward> {
    const c = this.csr(inputs);
    return { out: this.pool(c), rows: inputs.length, side, ctx: c };
  }

  async backward(f: Forward, dOut: Float32Array): Promise<void> {
    const { ids, offsets } = f.ctx as BagCtx;
    // Track the rows that get gradient (for zeroGrad and the lazy optimizer step). Ids of empty
    // texts get none, and there are none.
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t];
      if (!this.mark[id]) {
        this.mark[id] = 1;
        this.touched[this.nTouched++] = id;
      }
    }
    embeddingBagBackward(dOut, ids, offsets, this.dim, this.grad, this.vocabSize);
  }

  async encode(inputs: readonly TokenIds[], side: Side): Promise<Float32Array> {
    return (await this.forward(inputs, side)).out;
  }

  /** Synchronous encode of many texts (evaluation of a corpus). */
  encodeSync(inputs: readonly TokenIds[]): Float32Array {
    return this.pool(this.csr(inputs));
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
    if (!opts.tokenizerDir) throw new OptionsError('static export needs tokenizerDir (the tokenizer the token ids come from)');
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
    if (s.kind !== this.kind) throw new InputRangeError(`static: cannot load a ${s.kind} state`);
    const t = s.tensors.embeddings;
    if (!t || t.length !== this.table.length) throw new InputRangeError('static: state lacks embeddings or its shape differs');
    this.table.set(t);
  }
}

export function staticFromState(s: StudentState): StaticStudent {
  const c = s.config as { vocabSize: number; dim: number; seed?: number };
  return new StaticStudent({ vocabSize: c.vocabSize, dim: c.dim, seed: c.seed, init: s.tensors.embeddings });
}
