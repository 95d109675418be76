/**
 * `synthtune synthesize`: Margin-MSE training data from unlabeled queries and documents.
 *
 *   synthtune synthesize --queries <file | BEIR folder> [--query-split train]
 *                        --corpus <file | BEIR folder> --miner <model | bm25> --scorer <model | bm25>
 *                        [--num-relations 10] [--index exact | hnsw] --out <run folder> [options]
 *
 * Inputs: .jsonl (one {_id?, text, title?} per line), .csv/.tsv (Finetuner shapes), any other file
 * one text per line, or a BEIR folder (corpus.jsonl / queries.jsonl; with --query-split only the
 * queries listed in qrels/<split>.tsv, whose judgements are otherwise unused).
 * Output: a run folder (see lib/synthesis/run.ts); running the same command again resumes it.
 * Progress bars on a terminal, plain lines otherwise; the summary goes to stdout.
 * With --generate-queries N, pseudo-queries made from the corpus (lib/synthesis/pseudo-queries.ts)
 * join the queries (or replace them with --replace-queries); --queries is then optional.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonl } from '../data/jsonl';
import { readQrels } from '../data/beir';
import { readTexts, type ReadDataOptions } from '../data/forms';
import type { Document } from '../data/types';
import { synthesize } from '../synthesis';
import { PSEUDO_QUERY_METHODS, type PseudoQueryMethod } from '../synthesis/pseudo-queries';
import type { NegativeSelection, ProgressMode, SynthesizeOptions } from '../synthesis/types';
import { userError } from '../util/errors';
import type { EncoderBackend } from '../models/encoder';
import { CliError, csvOptions, csvUsage, CSV_OPTIONS, intOption, parseCli } from './util';

const USAGE = `usage: synthtune synthesize --queries <file | BEIR folder> --corpus <file | BEIR folder>
                            --miner <model | bm25> --scorer <model | bm25> --out <run folder> [options]

  --queries <path>         queries: .jsonl/.json (DocumentArray records), .csv/.tsv, text file
                           (one per line) or BEIR folder
  --query-split <name>     with a BEIR folder: only the queries judged in qrels/<name>.tsv
  --corpus <path>          documents: same formats (BEIR: corpus.jsonl); of labeled data the
                           texts (not the labels), of (query, document) pairs the documents
${csvUsage(27)}
  --miner <m>              bi-encoder folder / hub id, or bm25; repeat to merge several miners
  --scorer <m>             cross-encoder folder / hub id, or bm25
  --num-relations <n>      documents per query: 1 positive + n−1 negatives (default 10)
  --index <exact|hnsw>     candidate search (default exact)
  --hnsw-m <n> --ef-construction <n> --ef-search <n>   HNSW parameters (16, 200, 100)
  --threads <n>            HNSW search workers (default: cores)
  --sample-negatives <N>   sample negatives from the top N instead of taking them in order
  --seed <n>               seed for sampling (default 42)
  --max-documents <n>      use at most n corpus documents (seeded sample)
  --float16                keep corpus embeddings as float16 (half the memory)
  --quantized              run the miner and scorer folders' onnx/model_quantized.onnx
                           (dynamic int8, opt-in: faster where the CPU has VNNI; its agreement
                           with float32 is in the folder's synthtune.json and bench encode)
  --miner-backend <b>      what runs a bi-encoder miner: auto (default: its ONNX graph, else its
                           model.safetensors on the native core), onnxruntime, or native (the
                           folder's model.safetensors on the native core even beside a graph;
                           float32, equal to the graph's embeddings to rounding)
  --embeddings-on-disk     leave corpus embeddings in checkpoint files, stream them per search
  --batch-size <n>         texts per encode call / checkpoint (default 512)
  --score-batch-size <n>   queries per scoring checkpoint (default 64)
  --generate-queries <N>   also make N pseudo-queries per document and method from the corpus
                           (their source document is the positive; --queries becomes optional)
  --generation-methods <m> comma-separated: salient (top-idf terms), icl (a sentence), title
                           (default salient,icl,title)
  --sample-documents <M>   generate from a seeded sample of M documents only (GPL's new_size)
  --replace-queries        use only the generated queries, not --queries
  --query-generator <m>    also generate N queries per document with a doc2query T5 model in ONNX
                           (folder or hub id: onnx/encoder_model.onnx + decoder; GPL's sampling:
                           top-p 0.95, top-k 25, 64 tokens); the model-free methods then only with
                           --generation-methods
  --csv                    also write Finetuner's scored-pair CSV (train.csv)
  --overwrite              replace a run folder whose run cannot be resumed (a different
                           synthesis, an older format, a damaged config.json)
  --restart                discard the run folder's previous state (finished, failed, damaged,
                           older format, another synthesis) and start over
  --progress <mode>        auto (default), bar, lines or none
  --json                   print the final status as JSON
`;

const OPTIONS = {
  queries: { type: 'string' },
  'query-split': { type: 'string' },
  corpus: { type: 'string' },
  miner: { type: 'string', multiple: true },
  scorer: { type: 'string' },
  'num-relations': { type: 'string' },
  index: { type: 'string' },
  'hnsw-m': { type: 'string' },
  'ef-construction': { type: 'string' },
  'ef-search': { type: 'string' },
  threads: { type: 'string' },
  'sample-negatives': { type: 'string' },
  seed: { type: 'string' },
  'max-documents': { type: 'string' },
  float16: { type: 'boolean' },
  quantized: { type: 'boolean' },
  'miner-backend': { type: 'string' },
  'embeddings-on-disk': { type: 'boolean' },
  'batch-size': { type: 'string' },
  'score-batch-size': { type: 'string' },
  'generate-queries': { type: 'string' },
  'generation-methods': { type: 'string' },
  'sample-documents': { type: 'string' },
  'replace-queries': { type: 'boolean' },
  'query-generator': { type: 'string' },
  csv: { type: 'boolean' },
  overwrite: { type: 'boolean' },
  restart: { type: 'boolean' },
  progress: { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
  ...CSV_OPTIONS,
} as const;

function required(v: string | undefined, name: string): string {
  if (!v) throw new CliError(`--${name} is required\n\n${USAGE}`);
  return v;
}

async function readBeirQueries(dir: string, split: string | undefined): Promise<Document[]> {
  const queries = await readJsonl(path.join(dir, 'queries.jsonl'), { requireId: true });
  if (!split) return queries;
  const qrels = await readQrels(path.join(dir, 'qrels', `${split}.tsv`), { knownQueries: new Set(queries.map((q) => q.id)) });
  return queries.filter((q) => qrels.has(q.id));
}

export async function readInput(p: string, role: 'queries' | 'corpus', split?: string, dataOpts: ReadDataOptions = {}): Promise<Document[]> {
  if (!fs.existsSync(p)) throw new CliError(`--${role}: ${p} does not exist`);
  if (fs.statSync(p).isDirectory()) {
    if (role === 'queries') return readBeirQueries(p, split);
    return readJsonl(path.join(p, 'corpus.jsonl'), { requireId: true });
  }
  if (role === 'queries' && split) throw new CliError('--query-split needs --queries to be a BEIR folder');
  return readTexts(p, role, dataOpts);
}

function negatives(v: string | undefined, seed: number): NegativeSelection {
  if (v === undefined) return 'top';
  return { sampleFrom: intOption('sample-negatives', v, 0, 2), seed };
}

// lib/models/encoder's ENCODER_BACKENDS (not imported: it loads onnxruntime, which BM25 runs never need)
const MINER_BACKENDS: readonly EncoderBackend[] = ['auto', 'onnxruntime', 'native'];

function minerBackend(v: string): EncoderBackend {
  if (!(MINER_BACKENDS as readonly string[]).includes(v)) throw new CliError(`--miner-backend must be ${MINER_BACKENDS.join(', ')}, got '${v}'`);
  return v as EncoderBackend;
}

function progressMode(v: string | undefined): ProgressMode {
  const m = v ?? 'auto';
  if (!['auto', 'bar', 'lines', 'none'].includes(m)) throw new CliError(`--progress must be auto, bar, lines or none, got '${m}'`);
  return m as ProgressMode;
}

type Values = ReturnType<typeof parseCli<typeof OPTIONS>>['values'];

function generation(v: Values): SynthesizeOptions['generateQueries'] {
  if (v['generate-queries'] === undefined) {
    for (const f of ['generation-methods', 'sample-documents', 'replace-queries', 'query-generator'] as const) {
      if (v[f] !== undefined) throw new CliError(`--${f} needs --generate-queries`);
    }
    return undefined;
  }
  const generator = v['query-generator'];
  // with a doc2query model the model-free methods are added only when asked for
  const methods = (v['generation-methods'] ?? (generator ? '' : PSEUDO_QUERY_METHODS.join(','))).split(',').map((m) => m.trim()).filter((m) => m);
  if (methods.length === 0 && !generator) throw new CliError(`--generation-methods must list at least one of ${PSEUDO_QUERY_METHODS.join(', ')}`);
  for (const m of methods) {
    if (!(PSEUDO_QUERY_METHODS as readonly string[]).includes(m)) throw new CliError(`--generation-methods: unknown method '${m}' (choose from ${PSEUDO_QUERY_METHODS.join(', ')})`);
  }
  const sample = v['sample-documents'];
  return {
    perDocument: intOption('generate-queries', v['generate-queries'], 1),
    methods: methods as PseudoQueryMethod[],
    ...(sample === undefined ? {} : { sampleDocuments: intOption('sample-documents', sample, 1) }),
    mode: v['replace-queries'] ? 'replace' : 'mix',
    ...(generator ? { generator } : {}),
  };
}

function options(v: Values): Omit<SynthesizeOptions, 'queries' | 'corpus'> {
  const index = v.index ?? 'exact';
  if (index !== 'exact' && index !== 'hnsw') throw new CliError(`--index must be exact or hnsw, got '${index}'`);
  const seed = intOption('seed', v.seed, 42, 0);
  const maxDocs = v['max-documents'];
  return {
    miner: v.miner && v.miner.length > 1 ? v.miner : required(v.miner?.[0], 'miner'),
    scorer: required(v.scorer, 'scorer'),
    numRelations: intOption('num-relations', v['num-relations'], 10, 2),
    index,
    hnsw: {
      M: intOption('hnsw-m', v['hnsw-m'], 16, 2),
      efConstruction: intOption('ef-construction', v['ef-construction'], 200),
      efSearch: intOption('ef-search', v['ef-search'], 100),
      threads: intOption('threads', v.threads, 0, 0),
    },
    negatives: negatives(v['sample-negatives'], seed),
    seed,
    maxDocuments: maxDocs === undefined ? undefined : intOption('max-documents', maxDocs, 0),
    embeddingDtype: v.float16 ? 'float16' : 'float32',
    ...(v.quantized || v['miner-backend'] !== undefined ? { modelOptions: { ...(v.quantized ? { quantized: true } : {}), ...(v['miner-backend'] !== undefined ? { backend: minerBackend(v['miner-backend']) } : {}) } } : {}),
    embeddingStore: v['embeddings-on-disk'] ? 'disk' : 'memory',
    encodeBatchSize: intOption('batch-size', v['batch-size'], 512),
    scoreBatchSize: intOption('score-batch-size', v['score-batch-size'], 64),
    generateQueries: generation(v),
    csv: v.csv ?? false,
    overwrite: v.overwrite ?? false,
    restart: v.restart ?? false,
    progress: progressMode(v.progress),
    out: required(v.out, 'out'),
  };
}

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseCli(argv, OPTIONS);
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  // with --generate-queries the user's queries are optional (and unused with --replace-queries)
  const queriesPath = v['generate-queries'] === undefined ? required(v.queries, 'queries') : v['replace-queries'] ? undefined : v.queries;
  const corpusPath = required(v.corpus, 'corpus');
  const opts = options(v);
  const dataOpts = csvOptions(v);
  const queries = queriesPath === undefined ? [] : await readInput(queriesPath, 'queries', v['query-split'], dataOpts);
  const corpus = await readInput(corpusPath, 'corpus', undefined, dataOpts);
  const r = await synthesize({ ...opts, queries, corpus, ...(v.json ? {} : { log: (l: string) => process.stderr.write(`${l}\n`) }) });
  try {
    const status = await r.wait();
    if (v.json) process.stdout.write(JSON.stringify({ run: r.folder, trainData: r.trainData, ...status }) + '\n');
    else process.stdout.write(`${status.examples} examples → ${r.trainData}\n`);
    return 0;
  } catch (e) {
    // a damaged checkpoint, a model or data problem found while running: one line, exit 2
    if (userError(e)) throw e;
    process.stderr.write(`synthtune synthesize: ${(e as Error).message}\n  run folder: ${r.folder} (run the same command again to resume)\n`);
    return 1;
  }
}
