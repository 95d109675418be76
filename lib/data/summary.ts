/**
 * What a data set holds, like DocumentArray.summary(): a pure function over typed data (and a
 * BEIR reader), apart from the CLI that prints it (lib/cli/inspect.ts).
 *
 * For every text role of the kind (texts: text; labeled: text; pairs: query and document; scored:
 * left and right; margins: query, positive, negative) it reports the count, the empty texts, the
 * duplicate texts (copies beyond the first) and the length distribution (nearest-rank
 * percentiles 50/90/99 and max) in tokens when a token counter is given (special tokens
 * included, and how many texts exceed the tokenizer's max length, i.e. would be truncated), else
 * in whitespace-separated words. Labeled and pairs data also get the items per label (or
 * documents per query), scored data the score distribution, margins the margin distribution, a
 * BEIR folder the queries without judgements. `use` says what synthesize, fit and evaluate do
 * with the kind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonl } from './jsonl';
import { readQrels } from './beir';
import { DataError } from './errors';
import type { DataKind, TrainingData } from './types';

export interface LengthStats {
  count: number;
  empty: number;
  /** Copies beyond the first of a text seen before in the same role. */
  duplicates: number;
  unit: 'tokens' | 'words';
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Texts longer than maxLength tokens (only with a tokenizer). */
  truncated?: number;
}

export interface Distribution {
  min: number;
  max: number;
  mean: number;
  /** [lower bound, count] per bin, `bins` equal bins from min to max. */
  histogram: [number, number][];
}

export interface GroupStats {
  /** Labels (or queries for pairs). */
  groups: number;
  /** Group sizes: items per label, documents per query. */
  sizes: Distribution;
  /** Groups with one item: no positive for an in-batch or label-aware loss, no relevant item when evaluating with exclude_self. */
  singletons: number;
  /** The largest groups, [label, items], at most 20. */
  top: [string, number][];
}

export interface DataSummary {
  kind: DataKind | 'beir';
  counts: Record<string, number>;
  texts: Record<string, LengthStats>;
  labels?: GroupStats;
  scores?: Distribution;
  margins?: Distribution;
  /** BEIR: split → judged queries, and the queries without any judgement in any split. */
  beir?: { splits: Record<string, { queries: number; judgements: number; relevant: number }>; unjudgedQueries: number };
  /** What synthesize / fit / evaluate would do with this data. */
  use: string[];
  warnings: string[];
}

export interface SummaryOptions {
  /** Tokens of one text, special tokens included. Without it lengths are in words. */
  countTokens?: (text: string) => number;
  /** The tokenizer's max length (texts longer are truncated). */
  maxLength?: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

export function distribution(values: readonly number[], bins = 5): Distribution {
  if (!values.length) return { min: 0, max: 0, mean: 0, histogram: [] };
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
  }
  const width = (max - min) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[width > 0 ? Math.min(bins - 1, Math.floor((v - min) / width)) : 0]++;
  return { min, max, mean: sum / values.length, histogram: counts.map((c, i) => [min + i * width, c]) };
}

function words(t: string): number {
  const s = t.trim();
  return s ? s.split(/\s+/).length : 0;
}

export function lengthStats(texts: readonly string[], opts: SummaryOptions = {}): LengthStats {
  const seen = new Set<string>();
  let empty = 0;
  let duplicates = 0;
  const lengths: number[] = [];
  let truncated = 0;
  for (const t of texts) {
    if (!t.trim()) empty++;
    if (seen.has(t)) duplicates++;
    else seen.add(t);
    const n = opts.countTokens ? opts.countTokens(t) : words(t);
    if (opts.maxLength !== undefined && n > opts.maxLength) truncated++;
    lengths.push(n);
  }
  lengths.sort((a, b) => a - b);
  const mean = lengths.length ? lengths.reduce((a, b) => a + b, 0) / lengths.length : 0;
  return {
    count: texts.length, empty, duplicates, unit: opts.countTokens ? 'tokens' : 'words', mean,
    p50: percentile(lengths, 50), p90: percentile(lengths, 90), p99: percentile(lengths, 99), max: lengths[lengths.length - 1] ?? 0,
    ...(opts.countTokens && opts.maxLength !== undefined ? { truncated } : {}),
  };
}

function groupStats(labels: readonly string[]): GroupStats {
  const counts = new Map<string, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  const sizes = [...counts.values()];
  const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 20);
  return { groups: counts.size, sizes: distribution(sizes), singletons: sizes.filter((n) => n === 1).length, top };
}

/** What each command does with a kind (kept in one place so inspect's advice follows the code). */
export const KIND_USE: Record<DataKind | 'beir', string[]> = {
  texts: [
    'synthesize: a list of texts, usable as --queries or --corpus',
    'fit: not training data by itself; synthesize Margin-MSE rows from it first',
  ],
  labeled: [
    'synthesize: as --queries or --corpus its texts are used (the labels are not texts)',
    'fit: labeled items, trained with SupConLoss (supervised contrastive, in-batch: items of one label are positives of each other; batches hold several items of each label)',
    'evaluate: --query-data (relevant = items with the same label, the query itself excluded), as Finetuner\'s EvaluationCallback',
  ],
  pairs: [
    'synthesize: as --queries its queries are used, as --corpus its documents',
    'fit: (query, document) pairs, trained with in-batch negatives (MultipleNegativesRankingLoss; --loss MultipleNegativesSymmetricRankingLoss for both directions)',
    'evaluate: --query-data (relevant = the documents paired with each query)',
  ],
  scored: [
    'synthesize: not an input (it is training data already)',
    'fit: scored pairs, trained to order the pairs as the scores do (CoSENTLoss; --loss CosineSimilarityLoss fits the cosines to the scores)',
  ],
  margins: [
    'synthesize: this is its output',
    'fit: --train trains with Margin-MSE on these rows (--loss MultipleNegativesRankingLoss: on their query-positive pairs)',
  ],
  beir: [
    'synthesize: --queries <folder> [--query-split train] and --corpus <folder>',
    'evaluate / fit --eval-data: the judged queries of the split against the corpus',
  ],
};

/** Summary of typed data. */
export function summarize(data: TrainingData, opts: SummaryOptions = {}): DataSummary {
  const texts: Record<string, LengthStats> = {};
  const counts: Record<string, number> = {};
  const warnings: string[] = [];
  const out: DataSummary = { kind: data.kind, counts, texts, use: KIND_USE[data.kind], warnings };
  switch (data.kind) {
    case 'texts':
      counts.texts = data.documents.length;
      texts.text = lengthStats(data.documents.map((d) => d.text), opts);
      break;
    case 'labeled': {
      counts.items = data.documents.length;
      texts.text = lengthStats(data.documents.map((d) => d.text), opts);
      out.labels = groupStats(data.documents.map((d) => d.label ?? ''));
      counts.labels = out.labels.groups;
      if (out.labels.singletons) warnings.push(`${out.labels.singletons} label(s) have a single item: no positive to learn from, and no relevant item when evaluating with exclude_self`);
      break;
    }
    case 'pairs': {
      counts.queries = data.queries.length;
      counts.documents = data.documents.length;
      texts.query = lengthStats(data.queries.map((q) => q.text), opts);
      texts.document = lengthStats(data.documents.map((d) => d.text), opts);
      out.labels = groupStats(data.documents.map((d) => d.label ?? ''));
      break;
    }
    case 'scored': {
      counts.pairs = data.pairs.length;
      texts.left = lengthStats(data.pairs.map((p) => p.left), opts);
      texts.right = lengthStats(data.pairs.map((p) => p.right), opts);
      out.scores = distribution(data.pairs.map((p) => p.score));
      if (out.scores.max === out.scores.min) warnings.push(`every score is ${out.scores.min}: nothing to learn from the scores`);
      break;
    }
    case 'margins': {
      counts.rows = data.examples.length;
      counts.queries = new Set(data.examples.map((e) => e.query)).size;
      texts.query = lengthStats(data.examples.map((e) => e.query), opts);
      texts.positive = lengthStats(data.examples.map((e) => e.positive), opts);
      texts.negative = lengthStats(data.examples.flatMap((e) => e.negatives ?? (e.negative !== undefined ? [e.negative] : [])), opts);
      out.margins = distribution(data.examples.flatMap((e) => e.margins ?? (e.margin !== undefined ? [e.margin] : [])));
      const negative = data.examples.flatMap((e) => e.margins ?? (e.margin !== undefined ? [e.margin] : [])).filter((m) => m < 0).length;
      if (negative) warnings.push(`${negative} margin(s) are negative: the teacher scored the negative above the positive`);
      break;
    }
  }
  for (const [role, s] of Object.entries(texts)) {
    if (s.empty) warnings.push(`${s.empty} empty text(s) (${role})`);
    if (s.truncated) warnings.push(`${s.truncated} text(s) (${role}) longer than ${opts.maxLength} tokens would be truncated`);
  }
  return out;
}

/** Summary of a BEIR folder: every split in qrels/, and the queries judged in none. */
export async function summarizeBeir(dir: string, opts: SummaryOptions = {}): Promise<DataSummary> {
  const corpus = await readJsonl(path.join(dir, 'corpus.jsonl'), { requireId: true });
  const queries = await readJsonl(path.join(dir, 'queries.jsonl'), { requireId: true });
  const qrelsDir = path.join(dir, 'qrels');
  if (!fs.existsSync(qrelsDir)) throw new DataError(qrelsDir, undefined, 'folder not found (BEIR keeps judgements in qrels/<split>.tsv)');
  const known = new Set(queries.map((q) => q.id));
  const docs = new Set(corpus.map((d) => d.id));
  const splits: Record<string, { queries: number; judgements: number; relevant: number }> = {};
  const judged = new Set<string>();
  for (const f of fs.readdirSync(qrelsDir).filter((x) => x.endsWith('.tsv')).sort()) {
    const qrels = await readQrels(path.join(qrelsDir, f), { knownQueries: known, knownDocs: docs });
    let judgements = 0;
    let relevant = 0;
    for (const [qid, m] of qrels) {
      judged.add(qid);
      judgements += m.size;
      for (const g of m.values()) if (g > 0) relevant++;
    }
    splits[path.basename(f, '.tsv')] = { queries: qrels.size, judgements, relevant };
  }
  const unjudged = queries.filter((q) => !judged.has(q.id)).length;
  const texts = {
    query: lengthStats(queries.map((q) => q.text), opts),
    document: lengthStats(corpus.map((d) => (d.title ? `${d.title} ${d.text}` : d.text).trim()), opts),
  };
  const warnings: string[] = [];
  if (unjudged) warnings.push(`${unjudged} of ${queries.length} queries have no judgement in any split (BEIR's loader drops them; synthesize --queries <folder> uses them unless --query-split is given)`);
  for (const [role, s] of Object.entries(texts)) {
    if (s.empty) warnings.push(`${s.empty} empty text(s) (${role})`);
    if (s.truncated) warnings.push(`${s.truncated} text(s) (${role}) longer than ${opts.maxLength} tokens would be truncated`);
  }
  return {
    kind: 'beir', counts: { documents: corpus.length, queries: queries.length, splits: Object.keys(splits).length }, texts,
    beir: { splits, unjudgedQueries: unjudged }, use: KIND_USE.beir, warnings,
  };
}
