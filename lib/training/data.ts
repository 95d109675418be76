/**
 * Turning text examples (train.jsonl rows from synthesis: {query, positive, negative, margin};
 * pairs, scored pairs and labeled items read by lib/data/forms.ts) into student inputs: cached embeddings for the adapter (every distinct text encoded once, rows
 * are views into one matrix) or token-id arrays for the static student.
 */
import type { TrainingData } from '../data/types';
import type { LabeledItem, PairItem, ScoredItem, TrainItem } from './losses';
import type { MarginExample } from '../data/types';
import { marginsOf, negativesOf, type Example } from './student';
import { DataError } from '../data/errors';
import { InputRangeError } from '../util/errors';

/** A synthesized training row with texts (lib/data's MarginExample; extra fields are ignored here). */
export type TextExample = MarginExample;

function texts(e: TextExample): string[] {
  return [e.query, e.positive, ...negativesOf(e)];
}

function mapExample<I>(e: TextExample, f: (t: string) => I): Example<I> {
  const negatives = negativesOf(e).map(f);
  const margins = marginsOf(e);
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
      if (e.length !== Math.min(bs, list.length - i) * dim) throw new InputRangeError(`encodeExamples: the encoder returned ${e.length} values for ${Math.min(bs, list.length - i)} texts of dimension ${dim}`);
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

// ---------------------------------------------------------------------------------------------
// The other kinds of training data (lib/data/forms.ts): pairs, scored pairs, labeled items, as
// text items of their loss; `query` texts go through the student's query side, `document` texts
// through its document side.


export type TextItems =
  | { kind: 'pairs'; items: PairItem<string>[] }
  | { kind: 'scored'; items: ScoredItem<string>[] }
  | { kind: 'labeled'; items: LabeledItem<string>[] };

/**
 * Text items of a data reading: pairs → (query, document) with the query's id as group (its other
 * documents are not its negatives); scored → (left, right, score); labeled → (text, label), the
 * text on both sides. Lists of texts and synthesized rows are not handled here.
 */
export function textItems(data: TrainingData, file: string): TextItems {
  switch (data.kind) {
    case 'pairs': {
      const byId = new Map(data.queries.map((q) => [q.id, q.text]));
      return {
        kind: 'pairs',
        items: data.documents.map((d, i) => {
          const q = d.label === undefined ? undefined : byId.get(d.label);
          if (q === undefined) throw new DataError(file, undefined, `document ${i + 1} (${d.id}) is paired with no query`);
          return { anchor: q, positive: d.text, group: d.label as string };
        }),
      };
    }
    case 'scored':
      return { kind: 'scored', items: data.pairs.map((p) => ({ left: p.left, right: p.right, score: p.score })) };
    case 'labeled':
      return { kind: 'labeled', items: data.documents.map((d) => ({ item: d.text, query: d.text, label: d.label ?? '' })) };
    default:
      throw new Error(`fit: ${file}: ${data.kind} data is not handled by textItems`);
  }
}

/** (query, positive) pairs of synthesized rows (each distinct pair once; its query is its group). */
export function pairsOfMargins(rows: readonly TextExample[]): TextItems {
  const seen = new Set<string>();
  const items: PairItem<string>[] = [];
  for (const r of rows) {
    const key = JSON.stringify([r.query, r.positive]);
    if (seen.has(key)) continue;
    seen.add(key);
    items.push({ anchor: r.query, positive: r.positive, group: r.query });
  }
  return { kind: 'pairs', items };
}

/** The first n items. */
export function firstItems(t: TextItems, n: number): TextItems {
  return { kind: t.kind, items: t.items.slice(0, n) } as TextItems;
}

/** Every distinct text of each side, in order of first appearance. */
export function sideTexts(t: TextItems): { query: string[]; document: string[] } {
  const q = new Set<string>();
  const d = new Set<string>();
  for (const it of t.items) {
    if (t.kind === 'pairs') {
      q.add((it as PairItem<string>).anchor);
      d.add((it as PairItem<string>).positive);
    } else if (t.kind === 'scored') {
      q.add((it as ScoredItem<string>).left);
      d.add((it as ScoredItem<string>).right);
    } else {
      const l = it as LabeledItem<string>;
      q.add(l.query ?? l.item);
      d.add(l.item);
    }
  }
  return { query: [...q], document: [...d] };
}

/** The items with every text replaced by the student's input: `query` for the query side, `doc` for the document side. */
export function mapTextItems<I>(t: TextItems, query: (s: string) => I, doc: (s: string) => I): TrainItem<I>[] {
  switch (t.kind) {
    case 'pairs':
      return t.items.map((x) => ({ anchor: query(x.anchor), positive: doc(x.positive), group: x.group }));
    case 'scored':
      return t.items.map((x) => ({ left: query(x.left), right: doc(x.right), score: x.score }));
    case 'labeled':
      return t.items.map((x) => ({ item: doc(x.item), query: query(x.query ?? x.item), label: x.label }));
  }
}

/** Every input of an item (for token statistics). */
export function itemInputs<I>(it: TrainItem<I>): I[] {
  const r = it as unknown as Record<string, unknown>;
  const out: unknown[] = [];
  for (const k of ['query', 'positive', 'negative', 'anchor', 'left', 'right', 'item']) if (r[k] !== undefined) out.push(r[k]);
  if (Array.isArray(r.negatives)) out.push(...r.negatives);
  return out as I[];
}

/** The document-side inputs of an item (the texts an idf is computed over). */
export function documentInputs<I>(it: TrainItem<I>): I[] {
  const r = it as unknown as Record<string, unknown>;
  const out: unknown[] = [];
  for (const k of ['positive', 'negative', 'right', 'item']) if (r[k] !== undefined) out.push(r[k]);
  if (Array.isArray(r.negatives)) out.push(...r.negatives);
  return out as I[];
}

/**
 * Encodes every distinct text once per side (query texts with encodeQuery, document texts with
 * encode; batches of batchSize) and maps the items to views of the embeddings.
 */
export async function encodeTextItems(t: TextItems, dim: number, encode: (texts: string[]) => Promise<Float32Array>,
  encodeQuery: (texts: string[]) => Promise<Float32Array>, batchSize = 256): Promise<TrainItem<Float32Array>[]> {
  const { query, document } = sideTexts(t);
  const run = async (list: string[], f: (t: string[]) => Promise<Float32Array>): Promise<Map<string, Float32Array>> => {
    const out = new Float32Array(list.length * dim);
    for (let i = 0; i < list.length; i += batchSize) {
      const e = await f(list.slice(i, i + batchSize));
      if (e.length !== Math.min(batchSize, list.length - i) * dim) throw new InputRangeError(`encodeTextItems: the encoder returned ${e.length} values for ${Math.min(batchSize, list.length - i)} texts of dimension ${dim}`);
      out.set(e, i * dim);
    }
    return new Map(list.map((s, i) => [s, out.subarray(i * dim, (i + 1) * dim)]));
  };
  const d = await run(document, encode);
  const q = await run(query, encodeQuery);
  return mapTextItems(t, (s) => q.get(s) as Float32Array, (s) => d.get(s) as Float32Array);
}
