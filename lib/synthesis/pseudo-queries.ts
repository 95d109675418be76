/**
 * Model-free pseudo-queries from the corpus (GPL's first step without a query generator): more
 * training signal when query logs are few or absent. Every generated query has a source document,
 * which synthesis takes as a known positive.
 *
 *   salient  the document's highest-idf terms (BM25 analyzer: stopwords dropped, idf of the Porter
 *            stem over the whole corpus), 3–5 of them in document order. Query j > 0 of a document
 *            draws its terms from the top 2·k by seeded sampling, so repeats differ.
 *   icl      inverse cloze: one sentence of the document (seeded choice), verbatim. The whole
 *            document stays the positive, span included (the pipeline mines, scores and writes
 *            from one text per document): the span leaks into its positive, which makes these
 *            pairs easier than real ones (Lee et al. keep the span 10% of the time for that reason).
 *   title    the document's title, when it has one (at most one per document).
 *
 * Deterministic for a seed: the same corpus, options and seed give the same queries and ids.
 * Ids are `gen-<method>-<docId>-<j>`.
 *
 * Also here: the 'how much data' advice (dataGuidance) that synthesize and fit log, whose remedy
 * is these pseudo-queries. It has no dependencies so lib/training can use it.
 */
import { toDocuments } from '../data/memory';
import type { Document } from '../data/types';
import { englishAnalyzer, tokenize } from '../evaluation/analyzer';
import { InputRangeError } from '../util/errors';

export const PSEUDO_QUERY_METHODS = ['salient', 'icl', 'title'] as const;
export type PseudoQueryMethod = (typeof PSEUDO_QUERY_METHODS)[number];

export interface PseudoQuery {
  id: string;
  text: string;
  /** A model-free method, or 'doc2query' (a seq2seq query generator, generateModelQueries). */
  method: PseudoQueryMethod | 'doc2query';
  sourceDocId: string;
}

export interface PseudoQueryOptions {
  /** Queries per document and method (GPL's queries_per_passage); title gives at most one. */
  perDocument: number;
  /** Default: all three. */
  methods?: readonly PseudoQueryMethod[];
  /** Seed for sampling documents, terms and sentences (default 42). */
  seed?: number;
  /** Generate for a seeded sample of this many documents only (GPL's new_size); default all. */
  sampleDocuments?: number;
}

/** Salient-term queries have between these many terms (inclusive). */
const MIN_TERMS = 3;
const MAX_TERMS = 5;
/** Sentences shorter than this many tokens are not used as inverse-cloze spans (headings, fragments). */
const MIN_SPAN_TOKENS = 4;

/** mulberry32: small, fast, seedable. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed per (global seed, document, method, j): stable whatever else is generated. */
function subSeed(seed: number, doc: string, method: string, j: number): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (const s of [doc, method, String(j)]) {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
    h = Math.imul(h ^ 0xff, 0x01000193) >>> 0;
  }
  return h;
}

function shuffled<T>(xs: T[], rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Sentences: split after . ! ? followed by white space, or at line breaks; trimmed, non-empty. */
export function sentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+|\n+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Indices of the documents queries are generated from: all, or a seeded sample (corpus order). */
export function sampleDocuments(n: number, sample: number | undefined, seed: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  return sample !== undefined && sample < n ? shuffled(all, rng(seed)).slice(0, sample).sort((a, b) => a - b) : all;
}

/** What generateModelQueries needs of a query generator (lib/models/seq2seq.ts's QueryGenerator). */
export interface TextGenerator {
  generate(texts: string[], opts: { maxNewTokens: number; numReturnSequences?: number; doSample?: boolean; topK?: number; topP?: number; temperature?: number; seed?: number; batchSize?: number }): Promise<string[][]>;
}

/** Sampling settings of doc2query generation; defaults are GPL's (top-p 0.95, top-k 25, 64 tokens). */
export interface Doc2QueryOptions {
  perDocument: number;
  seed?: number;
  sampleDocuments?: number;
  maxNewTokens?: number;
  topK?: number;
  topP?: number;
  temperature?: number;
  batchSize?: number;
  /** After each batch: documents done, of total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * doc2query pseudo-queries (GPL's first step): `perDocument` sampled queries per document from a
 * seq2seq generator, ids `gen-doc2query-<docId>-<j>`, the same document sample as the model-free
 * methods for the same seed. Empty and repeated queries of a document are dropped.
 */
export async function generateModelQueries(corpus: readonly Document[], generator: TextGenerator, opts: Doc2QueryOptions): Promise<PseudoQuery[]> {
  const { perDocument } = opts;
  if (!Number.isInteger(perDocument) || perDocument < 1) throw new InputRangeError(`perDocument must be an integer ≥ 1, got ${perDocument}`);
  const seed = opts.seed ?? 42;
  const chosen = sampleDocuments(corpus.length, opts.sampleDocuments, seed);
  const bs = opts.batchSize ?? 16;
  const out: PseudoQuery[] = [];
  for (let s = 0; s < chosen.length; s += bs) {
    const docs = chosen.slice(s, s + bs).map((i) => corpus[i]);
    // the seed of a batch depends on its position, so a resumed run generates the same queries
    const res = await generator.generate(docs.map((d) => d.text), {
      maxNewTokens: opts.maxNewTokens ?? 64, numReturnSequences: perDocument, doSample: true,
      topK: opts.topK ?? 25, topP: opts.topP ?? 0.95, temperature: opts.temperature ?? 1, seed: seed + s, batchSize: bs,
    });
    docs.forEach((d, b) => {
      const seen = new Set<string>();
      res[b].forEach((q, j) => {
        const t = q.trim();
        if (!t || seen.has(t)) return;
        seen.add(t);
        out.push({ id: `gen-doc2query-${d.id}-${j}`, text: t, method: 'doc2query', sourceDocId: d.id });
      });
    });
    opts.onProgress?.(Math.min(chosen.length, s + bs), chosen.length);
  }
  return out;
}

export function checkMethods(methods: readonly string[]): PseudoQueryMethod[] {
  if (methods.length === 0) throw new InputRangeError(`generation methods must not be empty (choose from ${PSEUDO_QUERY_METHODS.join(', ')})`);
  for (const m of methods) {
    if (!(PSEUDO_QUERY_METHODS as readonly string[]).includes(m)) throw new InputRangeError(`unknown generation method '${m}' (choose from ${PSEUDO_QUERY_METHODS.join(', ')})`);
  }
  return [...new Set(methods)] as PseudoQueryMethod[];
}

/** Pseudo-queries for a corpus, document by document (corpus order), methods in the given order. */
export function generatePseudoQueries(corpus: readonly (string | Document)[], opts: PseudoQueryOptions): PseudoQuery[] {
  const { perDocument } = opts;
  if (!Number.isInteger(perDocument) || perDocument < 1) throw new InputRangeError(`perDocument must be an integer ≥ 1, got ${perDocument}`);
  const methods = checkMethods(opts.methods ?? PSEUDO_QUERY_METHODS);
  const seed = opts.seed ?? 42;
  if (opts.sampleDocuments !== undefined && (!Number.isInteger(opts.sampleDocuments) || opts.sampleDocuments < 1)) {
    throw new InputRangeError(`sampleDocuments must be an integer ≥ 1, got ${opts.sampleDocuments}`);
  }
  const docs = toDocuments(corpus as never) as Document[];
  const chosen = sampleDocuments(docs.length, opts.sampleDocuments, seed);

  // document frequency of stems over the whole corpus (idf is a corpus property, not the sample's)
  const analyzer = englishAnalyzer();
  const term = analyzer.term!;
  let df: Map<string, number> | null = null;
  if (methods.includes('salient')) {
    df = new Map();
    for (const d of docs) for (const s of new Set(analyzer(d.text))) df.set(s, (df.get(s) ?? 0) + 1);
  }
  const N = docs.length;
  const idf = (s: string) => Math.log(1 + (N - df!.get(s)! + 0.5) / (df!.get(s)! + 0.5));

  const out: PseudoQuery[] = [];
  const seen = new Set<string>();
  const push = (d: Document, method: PseudoQueryMethod, j: number, text: string) => {
    const t = text.trim();
    const k = `${d.id}\0${t}`;
    if (!t || seen.has(k)) return; // a document's duplicate queries add nothing
    seen.add(k);
    out.push({ id: `gen-${method}-${d.id}-${j}`, text: t, method, sourceDocId: d.id });
  };
  for (const i of chosen) {
    const d = docs[i];
    for (const method of methods) {
      if (method === 'title') {
        if (d.title && d.title.trim()) push(d, 'title', 0, d.title);
        continue;
      }
      if (method === 'salient') {
        // distinct surface tokens, first occurrence order, scored by the idf of their stem
        const firstAt = new Map<string, { token: string; pos: number; idf: number }>();
        tokenize(d.text).forEach((tok, pos) => {
          const s = term(tok);
          if (s === null || firstAt.has(s) || /^\p{N}+$/u.test(tok)) return;
          firstAt.set(s, { token: tok, pos, idf: idf(s) });
        });
        const ranked = [...firstAt.values()].sort((a, b) => b.idf - a.idf || a.pos - b.pos);
        if (ranked.length === 0) continue;
        for (let j = 0; j < perDocument; j++) {
          const rand = rng(subSeed(seed, d.id, method, j));
          const k = Math.min(ranked.length, MIN_TERMS + Math.floor(rand() * (MAX_TERMS - MIN_TERMS + 1)));
          const pool = j === 0 ? ranked.slice(0, k) : shuffled(ranked.slice(0, 2 * k), rand).slice(0, k);
          push(d, 'salient', j, pool.sort((a, b) => a.pos - b.pos).map((t) => t.token).join(' '));
        }
        continue;
      }
      // icl
      const spans = sentences(d.text).filter((s) => tokenize(s).length >= MIN_SPAN_TOKENS);
      if (spans.length === 0) continue;
      const order = shuffled(spans, rng(subSeed(seed, d.id, method, 0)));
      for (let j = 0; j < Math.min(perDocument, order.length); j++) push(d, 'icl', j, order[j]);
    }
  }
  return out;
}

// ---- how much data -------------------------------------------------------------------------
/**
 * Rules of thumb, not thresholds measured on synthtune: below them a Margin-MSE run is unlikely
 * to move a pretrained model. 1,000 examples is ~31 optimizer steps at fit's default batch of 32,
 * far from the thousands of steps GPL trains for (its default is 140k steps over ~100k+
 * pseudo-queries); with under ~200 distinct queries every epoch repeats the same few queries and
 * the student overfits them. Both produce advice in the logs, never a failure.
 */
export const FEW_EXAMPLES = 1000;
export const FEW_QUERIES = 200;

/**
 * The 'too little data' advice, or null when the run is large enough. `teacher`: who labelled the
 * rows ('bm25', a cross-encoder, or null when unknown). With BM25's labels the remedy is more real
 * queries: model-free pseudo-queries and deeper mining were measured to lower a static student
 * trained on BM25's labels (README, "How much data"), so they are not offered; with a
 * cross-encoder (or an unknown teacher) pseudo-queries are GPL's remedy.
 */
export function dataGuidance(examples: number, queries: number, teacher: string | null = null): string | null {
  if (examples >= FEW_EXAMPLES && queries >= FEW_QUERIES) return null;
  const head =
    `only ${examples} examples from ${queries} queries (advised: at least ${FEW_EXAMPLES} examples and ${FEW_QUERIES} queries); ` +
    'fine-tuning on this little data is unlikely to help. ';
  if (teacher === 'bm25') {
    return (
      head +
      'Add real queries (search logs). With BM25 as the teacher, pseudo-queries from the corpus (--generate-queries) and a larger ' +
      '--num-relations do not help: a student learns BM25\'s ranking of the source document by its own words, which its idf start already ' +
      'gives; pseudo-queries pay off with a cross-encoder teacher (--scorer) and a query generator (--query-generator), as in GPL'
    );
  }
  return head + 'Add queries, or generate pseudo-queries from the corpus with --generate-queries N (generateQueries: { perDocument: N }), or raise --num-relations';
}
