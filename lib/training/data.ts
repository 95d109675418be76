/**
 * Turning text examples (train.jsonl rows from synthesis: {query, positive, negative, margin})
 * into student inputs: cached embeddings for the adapter (every distinct text encoded once, rows
 * are views into one matrix) or token-id arrays for the static student.
 */
import type { Example } from './student';

/** A synthesized training row with texts (extra fields are ignored). */
export interface TextExample {
  query: string;
  positive: string;
  negative?: string;
  margin?: number;
  negatives?: string[];
  margins?: number[];
}

function texts(e: TextExample): string[] {
  return [e.query, e.positive, ...(e.negatives ?? (e.negative !== undefined ? [e.negative] : []))];
}

function mapExample<I>(e: TextExample, f: (t: string) => I): Example<I> {
  const negatives = (e.negatives ?? (e.negative !== undefined ? [e.negative] : [])).map(f);
  const margins = e.margins ?? (e.margin !== undefined ? [e.margin] : []);
  return { query: f(e.query), positive: f(e.positive), negatives, margins };
}

export interface EncodedExamples {
  examples: Example<Float32Array>[];
  /** (U,D) embeddings of the U distinct texts; example inputs are subarray views of it. */
  matrix: Float32Array;
  texts: string[];
}

/**
 * Encodes every distinct text once with `encode` (batches of `batchSize` texts → (n,D) floats).
 * Queries and documents go through the same encoder; use encodeQuery for a model with a query
 * prefix or a separate query model.
 */
export async function encodeExamples(
  rows: readonly TextExample[],
  dim: number,
  encode: (texts: string[]) => Promise<Float32Array>,
  opts: { batchSize?: number; encodeQuery?: (texts: string[]) => Promise<Float32Array> } = {},
): Promise<EncodedExamples> {
  const index = new Map<string, number>();
  const queryIndex = new Map<string, number>();
  const docTexts: string[] = [];
  const queryTexts: string[] = [];
  for (const r of rows) {
    const [q, ...docs] = texts(r);
    const qMap = opts.encodeQuery ? queryIndex : index;
    const qList = opts.encodeQuery ? queryTexts : docTexts;
    if (!qMap.has(q)) qMap.set(q, qList.push(q) - 1);
    for (const d of docs) if (!index.has(d)) index.set(d, docTexts.push(d) - 1);
  }
  const bs = opts.batchSize ?? 256;
  const run = async (list: string[], f: (t: string[]) => Promise<Float32Array>): Promise<Float32Array> => {
    const out = new Float32Array(list.length * dim);
    for (let i = 0; i < list.length; i += bs) {
      const e = await f(list.slice(i, i + bs));
      if (e.length !== Math.min(bs, list.length - i) * dim) throw new Error('encodeExamples: encoder returned the wrong number of values');
      out.set(e, i * dim);
    }
    return out;
  };
  const docs = await run(docTexts, encode);
  const queries = opts.encodeQuery ? await run(queryTexts, opts.encodeQuery) : docs;
  const doc = (t: string): Float32Array => {
    const i = index.get(t) as number;
    return docs.subarray(i * dim, (i + 1) * dim);
  };
  const query = (t: string): Float32Array => {
    if (!opts.encodeQuery) return doc(t);
    const i = queryIndex.get(t) as number;
    return queries.subarray(i * dim, (i + 1) * dim);
  };
  const examples = rows.map((r) => {
    const e = mapExample(r, doc);
    e.query = query(r.query);
    return e;
  });
  return { examples, matrix: docs, texts: docTexts };
}

/** Tokenizes every distinct text once (`tokenize` returns the ids of one text). */
export function tokenizeExamples(rows: readonly TextExample[], tokenize: (text: string) => ArrayLike<number>,
  tokenizeQuery?: (text: string) => ArrayLike<number>): Example<Int32Array>[] {
  const cached = (f: (text: string) => ArrayLike<number>) => {
    const cache = new Map<string, Int32Array>();
    return (t: string): Int32Array => {
      let x = cache.get(t);
      if (!x) {
        x = Int32Array.from(f(t));
        cache.set(t, x);
      }
      return x;
    };
  };
  const ids = cached(tokenize);
  const qids = tokenizeQuery ? cached(tokenizeQuery) : ids;
  return rows.map((r) => ({ ...mapExample(r, ids), query: qids(r.query) }));
}
