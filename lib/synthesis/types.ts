/**
 * Types of the synthesis stage: the small model interfaces it codes against (so tests can pass
 * fakes and lib/models' ONNX encoders plug in unchanged), its options, and its examples.
 */
import type { Document } from '../data/types';

/** A bi-encoder used as relation miner: texts → (n, dim) row-major embeddings. */
export interface Encoder {
  encode(texts: string[]): Promise<Float32Array>;
  /** Used for the queries / the corpus when present (models with query and document prompts). */
  encodeQueries?(texts: string[]): Promise<Float32Array>;
  encodeDocuments?(texts: string[]): Promise<Float32Array>;
  /** The similarity the model declares (sentence-transformers' similarity_fn_name); mining uses it unless told otherwise. */
  readonly similarity?: 'cosine' | 'dot';
  readonly dim: number;
  /** Identity recorded in config.json (model path / hash); a resume refuses a different one. */
  readonly id?: string;
}

/** A pair scorer (cross-encoder): one raw score (logit) per (query, document) pair. */
export interface Scorer {
  score(pairs: [string, string][]): Promise<Float32Array>;
  readonly id?: string;
}

/** A lexical index over the corpus (BM25): ranked corpus indices, and scores of given pairs. */
export interface LexicalIndex {
  /** Best first; at most k hits, never an index in `exclude`. */
  search(query: string, k: number, exclude?: ReadonlySet<number>): { index: number; score: number }[];
  /** Scores of the query against the given corpus indices. */
  score(query: string, indices: ArrayLike<number>): Float64Array | Float32Array | number[];
}

/** 'bm25' selects the built-in lexical miner / scorer. */
export type MinerSpec = Encoder | 'bm25';
export type ScorerSpec = Scorer | 'bm25';

export type IndexKind = 'exact' | 'hnsw';

export interface HnswOptions {
  /** Graph degree (default 16). */
  M?: number;
  /** Build-time beam (default 200). */
  efConstruction?: number;
  /** Search beam, raised to at least the number of candidates fetched (default 100). */
  efSearch?: number;
  /** Search workers (default: available cores, at most 8). */
  threads?: number;
  /** Graph seed (default 100). */
  seed?: number;
  /** Queries on which recall against exact search is measured and logged (default 200; 0 = off). */
  recallSample?: number;
}

/** How negatives are chosen among the retrieved candidates. */
export type NegativeSelection =
  /** The numRelations − 1 candidates right after the positive (Finetuner). */
  | 'top'
  /** numRelations − 1 negatives sampled without replacement from ranks 2..from (GPL), seeded per query. */
  | { sampleFrom: number; seed?: number };

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

/** Model-free pseudo-queries from the corpus (lib/synthesis/pseudo-queries.ts), GPL's first step. */
export interface GenerateQueriesOptions {
  /** Queries per document and method (GPL's queries_per_passage). */
  perDocument: number;
  /** 'salient' (top-idf terms), 'icl' (inverse cloze: a sentence), 'title'; default all three. */
  methods?: ('salient' | 'icl' | 'title')[];
  /** Generate from a seeded sample of this many documents (GPL's new_size); default all. */
  sampleDocuments?: number;
  /** 'mix' (default): generated queries join the user's; 'replace': only generated queries are used. */
  mode?: 'mix' | 'replace';
  /**
   * A doc2query seq2seq model (folder or hub id; lib/models/seq2seq.ts): perDocument sampled queries
   * per document besides the model-free methods (which then default to none).
   */
  generator?: string;
  /** Sampling of the generator; defaults are GPL's (top-p 0.95, top-k 25, 64 new tokens, temperature 1). */
  sampling?: { maxNewTokens?: number; topK?: number; topP?: number; temperature?: number };
}

export interface SynthesizeOptions {
  /** The user's queries; may be empty (or omitted) when generateQueries is given. */
  queries?: readonly (string | Document)[];
  /**
   * Also make pseudo-queries from the (sampled) corpus; each one's source document is a known
   * positive. The run folder lists them in generated-queries.jsonl; their train.jsonl rows carry
   * `generated: <method>`.
   */
  generateQueries?: GenerateQueriesOptions;
  corpus: readonly (string | Document)[];
  /**
   * One relation miner, or several whose candidate lists are merged (reciprocal-rank fusion):
   * an Encoder object, 'bm25', or a model folder / Hugging Face id loaded with lib/models.
   */
  miner?: MinerSpec | string | (MinerSpec | string)[];
  /** A Scorer object, 'bm25', or a cross-encoder folder / Hugging Face id. */
  scorer?: ScorerSpec | string;
  /** Finetuner-style preset filling miner and scorer: { relationMiner, crossEncoder } or a preset name ('synthesisModelEn'). */
  models?: { relationMiner: string; crossEncoder: string } | string;
  /** Options for models loaded from references (threads, device, batchSize, ...). */
  modelOptions?: Record<string, unknown>;
  /** Lines about the models loaded from references (what encodes queries and documents, prompts, similarity). */
  log?: (line: string) => void;
  /** Documents retrieved per query: 1 positive + numRelations − 1 negatives (default 10, ≥ 2). */
  numRelations?: number;
  index?: IndexKind;
  hnsw?: HnswOptions;
  negatives?: NegativeSelection;
  /**
   * Known positives per query id (corpus ids). They are never used as negatives; a query that has
   * some takes its first known positive as the positive instead of the top-1.
   */
  knownPositives?: ReadonlyMap<string, readonly string[]> | Readonly<Record<string, readonly string[]>>;
  /** Keep at most this many corpus documents (seeded sample, original order, known positives kept). */
  maxDocuments?: number;
  /** Seed for maxDocuments sampling (default 42). */
  seed?: number;
  /** Dense miners: 'cosine' (embeddings L2-normalised, default) or raw 'dot'. */
  similarity?: 'cosine' | 'dot';
  /** Storage of corpus embeddings (default 'float32'). */
  embeddingDtype?: 'float32' | 'float16';
  /** 'memory' (one array, default) or 'disk' (chunk files streamed at every search). */
  embeddingStore?: 'memory' | 'disk';
  /** Texts per encode call and per embedding checkpoint (default 512). */
  encodeBatchSize?: number;
  /** Queries per mining batch and mining checkpoint (default 1024). */
  mineBatchSize?: number;
  /** Queries per scoring batch and score checkpoint (default 64). */
  scoreBatchSize?: number;
  /** Run folder. Default: <runsDir>/<name>. */
  out?: string;
  /** Run name (default: the folder's base name, or a time stamp). */
  name?: string;
  /** Also write Finetuner's scored-pair CSV (query, document, score in [0, 1]). */
  csv?: boolean;
  /**
   * Start from scratch when the folder's run cannot be resumed: another synthesis (other
   * parameters, data or models), another format version, a damaged config.json (default: refuse).
   */
  overwrite?: boolean;
  /**
   * Discard whatever the folder holds (a finished, failed, damaged, older-format or other run:
   * anything but another kind's run folder) and start over (CLI --restart). Default false:
   * resume a run of the same fingerprint, refuse anything else.
   */
  restart?: boolean;
  /** Progress on stderr: bars on a terminal, plain lines otherwise ('auto'), or 'none' (default). */
  progress?: ProgressMode;
  /** Called after each checkpoint is on disk (tests use it to stop a run at a known point). */
  onCheckpoint?: (stage: string, batch: number) => void | Promise<void>;
}

/** One Margin-MSE training example. */
export interface Example {
  query: string;
  positive: string;
  negative: string;
  /** posScore − negScore. */
  margin: number;
  qid: string;
  posId: string;
  negId: string;
  posScore: number;
  negScore: number;
  /** Present on rows of generated pseudo-queries: the method that made the query. */
  generated?: string;
}

export type RunState = 'CREATED' | 'STARTED' | 'FINISHED' | 'FAILED';

/** status.json of a synthesis run (lib/util/run-folder.ts's schema, kind 'synthesis'). */
export interface RunStatus {
  format?: number;
  kind?: 'synthesis';
  state: RunState;
  /** The same as `state` (the field's name before run-folder format 2). */
  status: RunState;
  /** Current stage ('encode', 'index', 'mine', 'score', 'write') and its progress. */
  stage?: string;
  done?: number;
  total?: number;
  /** Fraction of the whole run, 0..1. */
  progress: number;
  updatedAt: string;
  pid?: number;
  host?: string;
  error?: string;
  examples?: number;
  /** SHA-256 of train.jsonl as the finished run wrote it (a reopened run checks it). */
  trainSha256?: string;
  /** SHA-256 of train.csv as the finished run wrote it, when it wrote one. */
  csvSha256?: string;
}

export interface LogEntry {
  time: string;
  level: 'info' | 'warn' | 'error';
  message: string;
  [key: string]: unknown;
}
