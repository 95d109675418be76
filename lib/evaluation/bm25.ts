/**
 * Okapi BM25 over an inverted index: the classic lexical baseline for `synthtune evaluate`, and an
 * offline relevance teacher for synthesis (score(query, docIds) scores arbitrary candidates).
 *
 *   score(q, d) = Σ_{t ∈ q} qtf(t) · idf(t) · tf(t,d)·(k1 + 1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl))
 *   idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))            (Lucene's non-negative idf)
 *
 * Defaults k1 = 0.9, b = 0.4: Anserini/Pyserini's BM25 defaults, the usual IR baseline setting
 * (Elasticsearch, whose numbers BEIR reports, uses 1.2 / 0.75; pass them to reproduce it). The
 * (k1 + 1) factor, dropped by Lucene ≥ 8, only scales scores and does not change rankings.
 * |d| is the number of tokens the analyzer keeps (stopwords excluded), stored exactly (Lucene
 * rounds it to one byte). A query term repeated n times counts n times (qtf), as in Lucene.
 *
 * Memory: postings are CSR typed arrays — per term a run of (doc: uint32, tf: uint16) sorted by doc
 * — plus one float per document, ≈ 6 bytes per (term, doc) pair. Search is term-at-a-time into a
 * reusable accumulator that only touches documents containing a query term, then a k-sized heap.
 * score() finds a document in a term's postings by binary search, so it costs O(|q|·log df) per doc.
 */
import { englishAnalyzer, type Analyzer } from './analyzer';
import { InputRangeError } from '../util/errors';

export interface Bm25Params {
  k1?: number;
  b?: number;
  /** Text → index terms (default englishAnalyzer()). */
  analyzer?: Analyzer;
}

export interface Bm25Hit {
  id: string;
  /** Position of the document in insertion order. */
  index: number;
  score: number;
}

type TypedArray = Uint32Array | Uint16Array;

/** Entries of the builder's raw token → term id memo before it is cleared (bounds its memory). */
const RAW_CACHE_LIMIT = 1 << 21;

/** An append-only typed array that doubles its capacity. */
class Growable<T extends TypedArray> {
  private a: T;
  length = 0;

  constructor(private readonly make: (n: number) => T) {
    this.a = make(1024);
  }

  push(v: number): void {
    if (this.length === this.a.length) {
      const bigger = this.make(this.a.length * 2);
      bigger.set(this.a);
      this.a = bigger;
    }
    this.a[this.length++] = v;
  }

  get(i: number): number {
    return this.a[i];
  }

  /** A trimmed copy (releases the spare capacity). */
  trimmed(): T {
    return this.a.slice(0, this.length) as T;
  }
}

/** Collects documents one at a time; build() turns them into a searchable Bm25Index. */
export class Bm25Builder {
  private readonly k1: number;
  private readonly b: number;
  private readonly analyzer: Analyzer;
  private readonly terms = new Map<string, number>();
  /** Raw token → term id, or -1 for a dropped token (staged analyzers only). */
  private readonly rawIds = new Map<string, number>();
  private readonly ids: string[] = [];
  private readonly lengths = new Growable((n) => new Uint32Array(n));
  /** Per document, where its (term, tf) pairs start in pTerm/pTf. */
  private readonly docStart = new Growable((n) => new Uint32Array(n));
  private readonly pTerm = new Growable((n) => new Uint32Array(n));
  private readonly pTf = new Growable((n) => new Uint16Array(n));

  constructor(params: Bm25Params = {}) {
    this.k1 = params.k1 ?? 0.9;
    this.b = params.b ?? 0.4;
    if (!(this.k1 >= 0) || !(this.b >= 0 && this.b <= 1)) throw new InputRangeError(`BM25 needs k1 ≥ 0 and b in [0, 1], got k1=${this.k1}, b=${this.b}`);
    this.analyzer = params.analyzer ?? englishAnalyzer();
    this.docStart.push(0);
  }

  private termId(t: string): number {
    let id = this.terms.get(t);
    if (id === undefined) this.terms.set(t, (id = this.terms.size));
    return id;
  }

  /** Term ids of a text; the staged path memoises raw token → term id (-1: dropped). */
  private termIds(text: string): Uint32Array {
    const { tokenize, term } = this.analyzer;
    if (!tokenize || !term) return Uint32Array.from(this.analyzer(text), (t) => this.termId(t));
    const raw = tokenize(text);
    const out = new Uint32Array(raw.length);
    let n = 0;
    for (const tok of raw) {
      let id = this.rawIds.get(tok);
      if (id === undefined) {
        if (this.rawIds.size >= RAW_CACHE_LIMIT) this.rawIds.clear();
        const t = term(tok);
        this.rawIds.set(tok, (id = t === null ? -1 : this.termId(t)));
      }
      if (id >= 0) out[n++] = id;
    }
    return out.subarray(0, n);
  }

  /** Adds one document; returns its index. */
  add(id: string, text: string): number {
    const tids = this.termIds(text);
    tids.sort();
    for (let i = 0; i < tids.length; ) {
      let j = i + 1;
      while (j < tids.length && tids[j] === tids[i]) j++;
      this.pTerm.push(tids[i]);
      this.pTf.push(Math.min(j - i, 0xffff));
      i = j;
    }
    this.docStart.push(this.pTerm.length);
    this.lengths.push(tids.length);
    this.ids.push(id);
    return this.ids.length - 1;
  }

  /** Builds the CSR postings (counting sort by term; docs stay in ascending order per term). */
  build(): Bm25Index {
    const V = this.terms.size;
    const offsets = new Uint32Array(V + 1);
    for (let p = 0; p < this.pTerm.length; p++) offsets[this.pTerm.get(p) + 1]++;
    for (let t = 0; t < V; t++) offsets[t + 1] += offsets[t];
    const cursor = offsets.slice(0, V);
    const docs = new Uint32Array(this.pTerm.length);
    const tfs = new Uint16Array(this.pTerm.length);
    for (let d = 0; d < this.ids.length; d++) {
      for (let p = this.docStart.get(d); p < this.docStart.get(d + 1); p++) {
        const pos = cursor[this.pTerm.get(p)]++;
        docs[pos] = d;
        tfs[pos] = this.pTf.get(p);
      }
    }
    const postings = { offsets, docs, tfs };
    return new Bm25Index({ k1: this.k1, b: this.b, analyzer: this.analyzer, terms: this.terms, ids: this.ids, lengths: this.lengths.trimmed(), postings });
  }
}

interface IndexParts {
  k1: number;
  b: number;
  analyzer: Analyzer;
  terms: Map<string, number>;
  ids: string[];
  lengths: Uint32Array;
  postings: { offsets: Uint32Array; docs: Uint32Array; tfs: Uint16Array };
}

/** A min-heap of (score, index) of bounded size: keeps the k best, ties favour lower indices. */
class TopK {
  readonly scores: Float64Array;
  readonly idx: Int32Array;
  size = 0;

  constructor(readonly k: number) {
    this.scores = new Float64Array(k);
    this.idx = new Int32Array(k);
  }

  /** true when (s1, i1) ranks below (s2, i2). */
  private worse(s1: number, i1: number, s2: number, i2: number): boolean {
    return s1 < s2 || (s1 === s2 && i1 > i2);
  }

  offer(s: number, i: number): void {
    if (this.size < this.k) {
      let c = this.size++;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!this.worse(s, i, this.scores[p], this.idx[p])) break;
        this.scores[c] = this.scores[p];
        this.idx[c] = this.idx[p];
        c = p;
      }
      this.scores[c] = s;
      this.idx[c] = i;
    } else if (this.worse(this.scores[0], this.idx[0], s, i)) {
      this.siftDown(s, i);
    }
  }

  private siftDown(s: number, i: number): void {
    let c = 0;
    for (;;) {
      let m = 2 * c + 1;
      if (m >= this.size) break;
      if (m + 1 < this.size && this.worse(this.scores[m + 1], this.idx[m + 1], this.scores[m], this.idx[m])) m++;
      if (!this.worse(this.scores[m], this.idx[m], s, i)) break;
      this.scores[c] = this.scores[m];
      this.idx[c] = this.idx[m];
      c = m;
    }
    this.scores[c] = s;
    this.idx[c] = i;
  }

  /** Entries best first. */
  sorted(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let j = 0; j < this.size; j++) out.push([this.scores[j], this.idx[j]]);
    return out.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  }
}

export class Bm25Index {
  readonly k1: number;
  readonly b: number;
  readonly avgdl: number;
  private readonly analyzer: Analyzer;
  private readonly terms: Map<string, number>;
  private readonly ids: string[];
  private readonly lengths: Uint32Array;
  private readonly offsets: Uint32Array;
  private readonly docs: Uint32Array;
  private readonly tfs: Uint16Array;
  /** Per doc: k1·(1 − b + b·|d|/avgdl). */
  private readonly norms: Float64Array;
  private readonly idfs: Float64Array;
  private acc: Float64Array | null = null;
  private touched: Uint32Array | null = null;
  private idIndex: Map<string, number> | null = null;

  constructor(p: IndexParts) {
    this.k1 = p.k1;
    this.b = p.b;
    this.analyzer = p.analyzer;
    this.terms = p.terms;
    this.ids = p.ids;
    this.lengths = p.lengths;
    ({ offsets: this.offsets, docs: this.docs, tfs: this.tfs } = p.postings);
    let total = 0;
    for (const l of this.lengths) total += l;
    this.avgdl = this.ids.length ? total / this.ids.length : 0;
    this.norms = this.computeNorms();
    this.idfs = this.computeIdfs();
  }

  /** Indexes documents in one go. */
  static build(docs: Iterable<{ id: string; text: string }>, params: Bm25Params = {}): Bm25Index {
    const builder = new Bm25Builder(params);
    for (const d of docs) builder.add(d.id, d.text);
    return builder.build();
  }

  get size(): number {
    return this.ids.length;
  }

  get vocabularySize(): number {
    return this.terms.size;
  }

  /** Bytes held by the typed arrays (postings, lengths, norms, idf); excludes the term and id strings. */
  get postingsBytes(): number {
    return [this.lengths, this.offsets, this.docs, this.tfs, this.norms, this.idfs].reduce((s, a) => s + a.byteLength, 0);
  }

  docId(index: number): string {
    return this.ids[index];
  }

  private computeNorms(): Float64Array {
    const norms = new Float64Array(this.ids.length);
    const avg = this.avgdl || 1;
    for (let d = 0; d < norms.length; d++) norms[d] = this.k1 * (1 - this.b + (this.b * this.lengths[d]) / avg);
    return norms;
  }

  private computeIdfs(): Float64Array {
    const V = this.offsets.length - 1;
    const N = this.ids.length;
    const idfs = new Float64Array(V);
    for (let t = 0; t < V; t++) {
      const df = this.offsets[t + 1] - this.offsets[t];
      idfs[t] = Math.log(1 + (N - df + 0.5) / (df + 0.5));
    }
    return idfs;
  }

  /** idf of an (already analyzed) index term; 0 when unknown. */
  idf(term: string): number {
    const t = this.terms.get(term);
    return t === undefined ? 0 : this.idfs[t];
  }

  /** Query terms known to the index → weight qtf·idf·(k1 + 1). */
  private queryWeights(query: string): Map<number, number> {
    const w = new Map<number, number>();
    for (const tok of this.analyzer(query)) {
      const t = this.terms.get(tok);
      if (t !== undefined) w.set(t, (w.get(t) ?? 0) + this.idfs[t] * (this.k1 + 1));
    }
    return w;
  }

  /** The k best documents for a query, best first (ties: lower index first). Only docs sharing a term. */
  search(query: string, k = 10): Bm25Hit[] {
    if (!Number.isInteger(k) || k < 1) throw new InputRangeError(`k must be an integer ≥ 1, got ${k}`);
    const acc = (this.acc ??= new Float64Array(this.ids.length));
    const touched = (this.touched ??= new Uint32Array(this.ids.length));
    let n = 0;
    for (const [t, w] of this.queryWeights(query)) {
      for (let p = this.offsets[t]; p < this.offsets[t + 1]; p++) {
        const d = this.docs[p];
        const tf = this.tfs[p];
        if (acc[d] === 0) touched[n++] = d;
        acc[d] += (w * tf) / (tf + this.norms[d]);
      }
    }
    const heap = new TopK(Math.min(k, Math.max(n, 1)));
    for (let i = 0; i < n; i++) {
      const d = touched[i];
      heap.offer(acc[d], d);
      acc[d] = 0;
    }
    return heap.sorted().map(([score, index]) => ({ id: this.ids[index], index, score }));
  }

  /** BM25 scores of the given documents (by insertion index) for a query; 0 where no term matches. */
  scoreIndices(query: string, indices: ArrayLike<number>): Float64Array {
    const out = new Float64Array(indices.length);
    for (const [t, w] of this.queryWeights(query)) {
      const lo = this.offsets[t];
      const hi = this.offsets[t + 1];
      for (let i = 0; i < indices.length; i++) {
        const d = indices[i];
        const p = lowerBound(this.docs, lo, hi, d);
        if (p < hi && this.docs[p] === d) out[i] += (w * this.tfs[p]) / (this.tfs[p] + this.norms[d]);
      }
    }
    return out;
  }

  /** BM25 scores of the given documents (by id) for a query. Unknown ids are a RangeError. */
  score(query: string, docIds: readonly string[]): Float64Array {
    if (!this.idIndex) this.idIndex = new Map(this.ids.map((id, i) => [id, i]));
    const indices = docIds.map((id) => {
      const i = this.idIndex!.get(id);
      if (i === undefined) throw new InputRangeError(`unknown document id '${id}'`);
      return i;
    });
    return this.scoreIndices(query, indices);
  }
}

/** First position in a[lo, hi) whose value is ≥ v (a sorted ascending). */
function lowerBound(a: Uint32Array, lo: number, hi: number, v: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
