/**
 * Input checks and the run's identity, done before any run folder is touched so that bad
 * arguments fail at once with a clear message: numRelations < 2 or larger than the corpus,
 * empty inputs, unknown known-positive ids.
 *
 * The resolved Plan carries documents as parallel arrays (ids, texts) and the config written to
 * config.json, whose `key` (SHA-256 of every parameter that changes the output, the model
 * identities and the input contents) decides whether an existing run folder may be resumed.
 */
import { createHash } from 'node:crypto';
import { beirText } from '../data/beir';
import { DataError } from '../data/errors';
import { toDocuments } from '../data/memory';
import type { Document } from '../data/types';
import { candidatesNeeded } from './mining';
import { checkMethods, generatePseudoQueries, PSEUDO_QUERY_METHODS, type PseudoQuery, type PseudoQueryMethod } from './pseudo-queries';
import type { Encoder, HnswOptions, IndexKind, MinerSpec, NegativeSelection, Scorer, SynthesizeOptions } from './types';
import { InputTypeError, InputRangeError } from '../util/errors';

export interface Resolved {
  numRelations: number;
  index: IndexKind;
  hnsw: Required<HnswOptions>;
  negatives: NegativeSelection;
  similarity: 'cosine' | 'dot';
  embeddingDtype: 'float32' | 'float16';
  embeddingStore: 'memory' | 'disk';
  encodeBatchSize: number;
  mineBatchSize: number;
  scoreBatchSize: number;
  maxDocuments: number | null;
  seed: number;
  /** Absent when no queries are generated (so older run keys are unchanged). */
  generateQueries?: {
    perDocument: number; methods: PseudoQueryMethod[]; sampleDocuments: number | null; mode: 'mix' | 'replace';
    /** doc2query: the generator as given and its sampling (its identity is in the models section of the config). */
    generator?: { ref: string; maxNewTokens: number; topK: number; topP: number; temperature: number };
  };
}

export interface Plan {
  params: Resolved;
  miners: MinerSpec[];
  scorer: Scorer | 'bm25';
  qids: string[];
  queries: string[];
  docIds: string[];
  docs: string[];
  /** Per query, known positive corpus indices (null when none). */
  known: (number[] | null)[];
  /** Candidates fetched per query and miner. */
  fetch: number;
  /** Per query, the generation method of a pseudo-query (null for the user's queries). */
  generatedMethod: (string | null)[];
  /** The generated pseudo-queries, in query order (empty when none). */
  generated: PseudoQuery[];
  config: RunConfig;
}

export interface RunConfig {
  version: 1;
  key: string;
  parameters: Resolved;
  models: { miners: string[]; scorer: string };
  inputs: { queries: { count: number; sha256: string; generated?: number }; corpus: { count: number; sha256: string; originalCount: number }; knownPositives: number };
}

function intAtLeast(name: string, v: number | undefined, dflt: number, min: number): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < min) throw new InputRangeError(`${name} must be an integer ≥ ${min}, got ${v}`);
  return x;
}

export function resolveParams(o: SynthesizeOptions): Resolved {
  const numRelations = o.numRelations ?? 10;
  if (!Number.isInteger(numRelations) || numRelations < 2) {
    throw new InputRangeError(`numRelations must be an integer ≥ 2 (one positive and at least one negative per query), got ${o.numRelations}`);
  }
  const index = o.index ?? 'exact';
  if (index !== 'exact' && index !== 'hnsw') throw new InputRangeError(`index must be 'exact' or 'hnsw', got '${index}'`);
  const h = o.hnsw ?? {};
  const hnsw: Required<HnswOptions> = {
    M: intAtLeast('hnsw.M', h.M, 16, 2),
    efConstruction: intAtLeast('hnsw.efConstruction', h.efConstruction, 200, 1),
    efSearch: intAtLeast('hnsw.efSearch', h.efSearch, 100, 1),
    threads: intAtLeast('hnsw.threads', h.threads, 0, 0),
    seed: intAtLeast('hnsw.seed', h.seed, 100, 0),
    recallSample: intAtLeast('hnsw.recallSample', h.recallSample, 200, 0),
  };
  const negatives = o.negatives ?? 'top';
  if (negatives !== 'top') {
    if (!Number.isInteger(negatives.sampleFrom) || negatives.sampleFrom < numRelations) {
      throw new InputRangeError(`negatives.sampleFrom must be an integer ≥ numRelations (${numRelations}), got ${negatives.sampleFrom}`);
    }
  }
  return {
    numRelations,
    index,
    hnsw,
    negatives,
    similarity: o.similarity ?? 'cosine',
    embeddingDtype: o.embeddingDtype ?? 'float32',
    embeddingStore: o.embeddingStore ?? 'memory',
    encodeBatchSize: intAtLeast('encodeBatchSize', o.encodeBatchSize, 512, 1),
    mineBatchSize: intAtLeast('mineBatchSize', o.mineBatchSize, 1024, 1),
    scoreBatchSize: intAtLeast('scoreBatchSize', o.scoreBatchSize, 64, 1),
    maxDocuments: o.maxDocuments === undefined ? null : intAtLeast('maxDocuments', o.maxDocuments, 0, 1),
    seed: intAtLeast('seed', o.seed, 42, 0),
    ...(o.generateQueries === undefined ? {} : { generateQueries: resolveGeneration(o.generateQueries) }),
  };
}

function resolveGeneration(g: NonNullable<SynthesizeOptions['generateQueries']>): NonNullable<Resolved['generateQueries']> {
  const mode = g.mode ?? 'mix';
  if (mode !== 'mix' && mode !== 'replace') throw new InputRangeError(`generateQueries.mode must be 'mix' or 'replace', got '${mode}'`);
  if (g.generator !== undefined && (typeof g.generator !== 'string' || !g.generator.trim())) throw new InputTypeError('generateQueries.generator must be a model folder or hub id');
  const sm = g.sampling ?? {};
  const num = (name: string, v: number | undefined, dflt: number, ok: (x: number) => boolean) => {
    const x = v ?? dflt;
    if (typeof x !== 'number' || !ok(x)) throw new InputRangeError(`generateQueries.sampling.${name} is out of range: ${v}`);
    return x;
  };
  return {
    perDocument: intAtLeast('generateQueries.perDocument', g.perDocument, 0, 1),
    // with a generator the model-free methods are optional
    methods: g.generator !== undefined && (g.methods === undefined || g.methods.length === 0) ? [] : checkMethods(g.methods ?? PSEUDO_QUERY_METHODS),
    sampleDocuments: g.sampleDocuments === undefined ? null : intAtLeast('generateQueries.sampleDocuments', g.sampleDocuments, 0, 1),
    mode,
    ...(g.generator === undefined ? {} : {
      generator: {
        ref: g.generator,
        maxNewTokens: num('maxNewTokens', sm.maxNewTokens, 64, (x) => Number.isInteger(x) && x >= 1),
        topK: num('topK', sm.topK, 25, (x) => Number.isInteger(x) && x >= 0),
        topP: num('topP', sm.topP, 0.95, (x) => x > 0 && x <= 1),
        temperature: num('temperature', sm.temperature, 1, (x) => x > 0),
      },
    }),
  };
}

function documents(items: SynthesizeOptions['queries'] | undefined, what: string): Document[] {
  if (!items || items.length === 0) throw new DataError(`<${what}>`, undefined, `no ${what}: the ${what} input is empty`);
  const docs = toDocuments(items as never);
  // an empty text would become an empty positive or negative in the training data
  docs.forEach((d, i) => {
    if (!`${d.title ?? ''}${d.text}`.trim()) {
      throw new DataError(`<${what}>`, i + 1, `${what === 'corpus' ? 'document' : 'query'} '${d.id}' has no text${what === 'corpus' ? ' (title and text are empty)' : ''}; remove it or give it text`);
    }
  });
  return docs;
}

function knownMap(k: SynthesizeOptions['knownPositives']): Map<string, readonly string[]> {
  if (!k) return new Map();
  return k instanceof Map ? new Map(k) : new Map(Object.entries(k));
}

/** Seeded sample of `max` document indices (known positives always kept), in corpus order. */
function sampleDocs(n: number, max: number, keep: Set<number>, seed: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rest = Array.from({ length: n }, (_, i) => i).filter((i) => !keep.has(i));
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [rest[i], rest[j]] = [rest[j], rest[i]];
  }
  const chosen = [...keep, ...rest.slice(0, Math.max(0, max - keep.size))];
  return chosen.sort((x, y) => x - y);
}

function sha256(parts: Iterable<string>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
}

function* docParts(ids: readonly string[], texts: readonly string[]): Generator<string> {
  for (let i = 0; i < ids.length; i++) {
    yield ids[i];
    yield texts[i];
  }
}

export function modelId(m: MinerSpec | Scorer | 'bm25'): string {
  if (m === 'bm25') return 'bm25';
  return m.id ?? `unidentified (${m.constructor?.name ?? 'object'})`;
}

function isEncoder(m: unknown): m is Encoder {
  return !!m && typeof (m as Encoder).encode === 'function' && Number.isInteger((m as Encoder).dim) && (m as Encoder).dim > 0;
}

function checkModels(miners: MinerSpec[], scorer: unknown): void {
  if (miners.length === 0) throw new InputTypeError('synthesize needs at least one miner');
  for (const m of miners) if (m !== 'bm25' && !isEncoder(m)) throw new InputTypeError("a miner must be 'bm25' or an encoder { encode(texts), dim }");
  if (scorer !== 'bm25' && typeof (scorer as Scorer)?.score !== 'function') throw new InputTypeError("the scorer must be 'bm25' or a cross-encoder { score(pairs) }");
}

/** Validates options and inputs; builds the Plan (throws RangeError / TypeError / DataError). */
export type PlanInput = Omit<SynthesizeOptions, 'miner' | 'scorer'> & {
  miner: MinerSpec | MinerSpec[];
  scorer: Scorer | 'bm25';
  /** doc2query pseudo-queries made beforehand from synthesisDocuments(...) (synthesize does this), and the generator's identity. */
  pregenerated?: { queries: PseudoQuery[]; generatorId: string };
};

/** The documents a synthesis uses (the corpus, or the maxDocuments sample that keeps known positives). */
export function synthesisDocuments(o: Pick<SynthesizeOptions, 'corpus' | 'knownPositives' | 'generateQueries' | 'maxDocuments' | 'seed'>, params = resolveParams(o as SynthesizeOptions)): Document[] {
  const allDocs = documents(o.corpus, 'corpus');
  const known = knownMap(o.knownPositives);
  if (params.generateQueries?.mode === 'replace') known.clear();
  const allIndex = new Map(allDocs.map((d, i) => [d.id, i]));
  const keep = new Set<number>();
  for (const [qid, ids] of known) {
    for (const id of ids) {
      const i = allIndex.get(id);
      if (i === undefined) throw new InputRangeError(`known positive '${id}' of query '${qid}' is not a corpus document id`);
      keep.add(i);
    }
  }
  const picked = params.maxDocuments === null ? allDocs.map((_, i) => i) : sampleDocs(allDocs.length, params.maxDocuments, keep, params.seed);
  return picked.map((i) => allDocs[i]);
}

export function plan(o: PlanInput): Plan {
  const params = resolveParams(o);
  const miners = Array.isArray(o.miner) ? [...o.miner] : [o.miner];
  checkModels(miners, o.scorer);
  const gen = params.generateQueries;
  // with generation the user's queries may be absent; in 'replace' mode they are not used
  const userQueries = gen && (gen.mode === 'replace' || !o.queries || o.queries.length === 0) ? [] : documents(o.queries, 'queries');
  const allCount = documents(o.corpus, 'corpus').length;
  const known = knownMap(o.knownPositives);
  if (gen?.mode === 'replace') for (const q of known.keys()) known.delete(q);
  const docs = synthesisDocuments(o, params);
  const R = params.numRelations;
  if (R > docs.length) throw new InputRangeError(`numRelations (${R}) exceeds the corpus size (${docs.length} document${docs.length === 1 ? '' : 's'}); lower numRelations or add documents`);
  const docIndex = new Map(docs.map((d, i) => [d.id, i]));
  // pseudo-queries come from the documents synthesis uses, so each source document is in the corpus
  if (gen?.generator && !o.pregenerated) throw new InputTypeError('plan: doc2query queries must be generated before planning (synthesize does this)');
  const generated = [
    ...(gen && gen.methods.length ? generatePseudoQueries(docs, { perDocument: gen.perDocument, methods: gen.methods, seed: params.seed, sampleDocuments: gen.sampleDocuments ?? undefined }) : []),
    ...(o.pregenerated?.queries ?? []),
  ];
  const userIds = new Set(userQueries.map((q) => q.id));
  for (const g of generated) {
    if (userIds.has(g.id)) throw new InputRangeError(`query id '${g.id}' is used by a user query and a generated one; rename the user query`);
    known.set(g.id, [g.sourceDocId]);
  }
  const queryDocs: Document[] = [...userQueries, ...generated.map((g) => ({ id: g.id, text: g.text }))];
  if (queryDocs.length === 0) throw new DataError('<queries>', undefined, 'no queries: the queries input is empty and no pseudo-query could be generated from the corpus');
  const p: Omit<Plan, 'config'> = {
    params,
    miners,
    scorer: o.scorer,
    qids: queryDocs.map((q) => q.id),
    queries: queryDocs.map((q) => q.text),
    docIds: docs.map((d) => d.id),
    docs: docs.map((d) => beirText(d)),
    known: queryDocs.map((q) => {
      const ids = known.get(q.id);
      return ids && ids.length ? ids.map((id) => docIndex.get(id)!) : null;
    }),
    fetch: Math.min(candidatesNeeded(R, params.negatives), docs.length),
    generatedMethod: [...userQueries.map(() => null), ...generated.map((g) => g.method)],
    generated,
  };
  return { ...p, config: makeConfig(p, allCount, o.pregenerated?.generatorId) };
}

function makeConfig(p: Omit<Plan, 'config'>, originalCount: number, generatorId?: string): RunConfig {
  const { threads: _t, recallSample: _r, ...hnswKey } = p.params.hnsw;
  const models = { miners: p.miners.map(modelId), scorer: modelId(p.scorer), ...(generatorId ? { generator: generatorId } : {}) };
  const inputs = {
    queries: { count: p.qids.length, sha256: sha256(docParts(p.qids, p.queries)), ...(p.generated.length ? { generated: p.generated.length } : {}) },
    corpus: { count: p.docIds.length, sha256: sha256(docParts(p.docIds, p.docs)), originalCount },
    knownPositives: p.known.reduce((s, k) => s + (k ? k.length : 0), 0),
  };
  const knownHash = sha256(p.known.map((k) => (k ? k.join(',') : '')));
  const key = sha256([JSON.stringify({ ...p.params, hnsw: hnswKey }), JSON.stringify(models), JSON.stringify(inputs), knownHash]);
  return { version: 1, key, parameters: p.params, models, inputs };
}
