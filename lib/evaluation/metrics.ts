/**
 * Retrieval metrics: pure functions over a ranking (doc ids, best first) and the query's graded
 * judgements. Every metric is computed for several cut-offs k at once from prefix sums.
 *
 * Two conventions:
 *
 * 'trec' (default) — what IR papers and BEIR report (BEIR runs pytrec_eval, i.e. trec_eval):
 *   relevant      grade > 0 (trec_eval's relevance_level 1); nRel = number of judged relevant docs
 *   precision@k   #relevant in top k / k                 (trec_eval P_k: always divides by k)
 *   recall@k      #relevant in top k / nRel               (trec_eval recall_k, BEIR)
 *   f1@k          2·P·R / (P + R), 0 when both are 0
 *   hit@k         1 when a relevant doc is in the top k   (BEIR's top_k_accuracy)
 *   map@k (AP)    Σ_{relevant i ≤ k} precision@i / nRel   (trec_eval map_cut_k divides by ALL
 *                 relevant docs, not by min(k, nRel); BEIR uses map_cut, so we do too)
 *   mrr@k (RR)    1 / rank of the first relevant doc within k, else 0 (BEIR's custom MRR@k)
 *   dcg@k         Σ_{i ≤ k} grade_i / log2(i + 1)         (gain = grade, as trec_eval ndcg_cut)
 *   ndcg@k        dcg@k / ideal dcg@k, the ideal ranking built from ALL judged relevant docs
 *
 * 'docarray' — Finetuner's EvaluationCallback (docarray's metric functions), applied to the
 *   ranking truncated to k, i.e. as if the search limit were k (Finetuner searches with limit k):
 *   precision@k   #relevant / L where L = min(k, #retrieved)   (np.mean over the returned list)
 *   recall, f1, hit, RR   as above
 *   AP            mean of precision@i over the relevant ranks i ≤ k (divides by #relevant RETRIEVED)
 *   dcg@k         r1 + Σ_{2 ≤ i ≤ k} r_i / log2(i)         (ranks 1 and 2 weigh the same)
 *   ndcg@k        dcg@k / dcg@k of the same top-k list re-sorted by grade
 *   default k     [20] (Finetuner's default search limit); 'trec' defaults to [1, 3, 5, 10, 100]
 *
 * Queries with no relevant judged document (no grade > 0) are left out of per-query results and
 * of the means (all 0 when no query is left) in both conventions (BEIR's evaluation only averages over queries with positives;
 * trec_eval would score them 0 and docarray's recall would divide by zero); they are listed in
 * `skipped`. Queries in the qrels but absent from a run count as an empty ranking (all zeros).
 * Negative grades count as 0 gain. Ties in scores: rankByScore orders them like trec_eval
 * (score descending, then doc id descending), so equal-score documents get a reproducible order.
 */
import type { Qrels } from '../data/types';
import { InputRangeError } from '../util/errors';

export type Convention = 'trec' | 'docarray';
/** synthtune's metric names (BEIR's). */
export const METRIC_NAMES = ['ndcg', 'map', 'mrr', 'recall', 'precision', 'hit', 'f1', 'dcg'] as const;
export type SynthtuneMetricName = (typeof METRIC_NAMES)[number];

/**
 * Finetuner's metric names (its EvaluationCallback reports docarray's metric functions) and the
 * synthtune metric each one is. Either name set is accepted wherever metrics are chosen; results
 * are keyed `<name as asked>@<k>`.
 */
export const FINETUNER_METRICS = {
  precision_at_k: 'precision',
  recall_at_k: 'recall',
  f1_score_at_k: 'f1',
  hit_at_k: 'hit',
  average_precision: 'map',
  reciprocal_rank: 'mrr',
  dcg_at_k: 'dcg',
  ndcg_at_k: 'ndcg',
} as const satisfies Record<string, SynthtuneMetricName>;
export type FinetunerMetricName = keyof typeof FINETUNER_METRICS;
export const FINETUNER_METRIC_NAMES = Object.keys(FINETUNER_METRICS) as FinetunerMetricName[];
/** A metric in either naming. */
export type MetricName = SynthtuneMetricName | FinetunerMetricName;

/** The synthtune metric a name (either set) stands for; a RangeError naming both sets otherwise. */
export function canonicalMetric(name: string): SynthtuneMetricName {
  if ((METRIC_NAMES as readonly string[]).includes(name)) return name as SynthtuneMetricName;
  const alias = (FINETUNER_METRICS as Record<string, SynthtuneMetricName>)[name];
  if (alias) return alias;
  throw new InputRangeError(`unknown metric '${name}': choose from ${METRIC_NAMES.join(', ')} or Finetuner's ${FINETUNER_METRIC_NAMES.join(', ')}`);
}

/** "ndcg,recall_at_k" → ['ndcg', 'recall_at_k'], every name checked (RangeError), no repeats. */
export function parseMetricNames(list: string): MetricName[] {
  const names = list.split(',').map((x) => x.trim()).filter(Boolean);
  if (!names.length) throw new InputRangeError(`no metric named in '${list}'`);
  const seen = new Set<string>();
  for (const n of names) {
    canonicalMetric(n);
    if (seen.has(n)) throw new InputRangeError(`metric '${n}' named twice`);
    seen.add(n);
  }
  return names as MetricName[];
}
/** Keys are `<metric>@<k>`, e.g. `ndcg@10`. */
export type MetricValues = Record<string, number>;

export const DEFAULT_KS: Record<Convention, readonly number[]> = { trec: [1, 3, 5, 10, 100], docarray: [20] };

export interface MetricOptions {
  ks?: readonly number[];
  convention?: Convention;
  /** Metrics to report, in either naming (default all of METRIC_NAMES). */
  metrics?: readonly MetricName[];
}

export interface RunEvaluation {
  perQuery: Map<string, MetricValues>;
  mean: MetricValues;
  /** Number of queries averaged. */
  evaluated: number;
  /** Judged queries without any relevant document (excluded from the means). */
  skipped: string[];
}

/** Doc ids ordered by score descending, ties by doc id descending (trec_eval's order). */
export function rankByScore(scores: Iterable<readonly [string, number]>): string[] {
  return [...scores]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0))
    .map(([id]) => id);
}

/** Grades of the ranked docs (0 for unjudged), checking that no doc appears twice. */
export function gradesOf(ranking: readonly string[], judged: ReadonlyMap<string, number>, limit = ranking.length): number[] {
  const n = Math.min(limit, ranking.length);
  const seen = new Set<string>();
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    if (seen.has(ranking[i])) throw new InputRangeError(`doc '${ranking[i]}' appears twice in a ranking`);
    seen.add(ranking[i]);
    out[i] = Math.max(0, judged.get(ranking[i]) ?? 0);
  }
  return out;
}

// ------------------------------------------------------------------ single metrics

const log2 = Math.log2;

/** Σ over the first k grades of grade / discount(rank). */
export function dcgAt(grades: readonly number[], k: number, convention: Convention = 'trec'): number {
  let s = 0;
  const n = Math.min(k, grades.length);
  for (let i = 0; i < n; i++) {
    const rank = i + 1;
    const discount = convention === 'docarray' ? (rank === 1 ? 1 : log2(rank)) : log2(rank + 1);
    s += grades[i] / discount;
  }
  return s;
}

/** nDCG@k. trec: ideal from all judged grades (`allGrades`); docarray: the top k re-sorted. */
export function ndcgAt(grades: readonly number[], k: number, allGrades: readonly number[], convention: Convention = 'trec'): number {
  const idealSource = convention === 'docarray' ? grades.slice(0, k) : allGrades;
  const ideal = [...idealSource].filter((g) => g > 0).sort((a, b) => b - a);
  const max = dcgAt(ideal, k, convention);
  return max > 0 ? dcgAt(grades, k, convention) / max : 0;
}

function relevantIn(grades: readonly number[], k: number): number {
  let n = 0;
  for (let i = 0; i < Math.min(k, grades.length); i++) if (grades[i] > 0) n++;
  return n;
}

export function precisionAt(grades: readonly number[], k: number, convention: Convention = 'trec'): number {
  const denom = convention === 'docarray' ? Math.min(k, grades.length) : k;
  return denom > 0 ? relevantIn(grades, k) / denom : 0;
}

export function recallAt(grades: readonly number[], k: number, nRel: number): number {
  return nRel > 0 ? relevantIn(grades, k) / nRel : 0;
}

export function f1At(grades: readonly number[], k: number, nRel: number, convention: Convention = 'trec'): number {
  const p = precisionAt(grades, k, convention);
  const r = recallAt(grades, k, nRel);
  return p + r > 0 ? (2 * p * r) / (p + r) : 0;
}

export function hitAt(grades: readonly number[], k: number): number {
  return relevantIn(grades, k) > 0 ? 1 : 0;
}

export function reciprocalRankAt(grades: readonly number[], k: number): number {
  for (let i = 0; i < Math.min(k, grades.length); i++) if (grades[i] > 0) return 1 / (i + 1);
  return 0;
}

/** AP@k. trec: divided by nRel (all relevant); docarray: by the relevant docs retrieved in the top k. */
export function averagePrecisionAt(grades: readonly number[], k: number, nRel: number, convention: Convention = 'trec'): number {
  let hits = 0;
  let sum = 0;
  for (let i = 0; i < Math.min(k, grades.length); i++) {
    if (grades[i] > 0) sum += ++hits / (i + 1);
  }
  const denom = convention === 'docarray' ? hits : nRel;
  return denom > 0 ? sum / denom : 0;
}

// ------------------------------------------------------------------ per query and per run

function checkKs(ks: readonly number[]): void {
  if (!ks.length || ks.some((k) => !Number.isInteger(k) || k < 1)) throw new InputRangeError(`ks must be positive integers, got [${ks.join(', ')}]`);
}

function metricAt(name: MetricName, grades: number[], k: number, all: number[], nRel: number, c: Convention): number {
  switch (canonicalMetric(name)) {
    case 'ndcg': return ndcgAt(grades, k, all, c);
    case 'map': return averagePrecisionAt(grades, k, nRel, c);
    case 'mrr': return reciprocalRankAt(grades, k);
    case 'recall': return recallAt(grades, k, nRel);
    case 'precision': return precisionAt(grades, k, c);
    case 'hit': return hitAt(grades, k);
    case 'f1': return f1At(grades, k, nRel, c);
    case 'dcg': return dcgAt(grades, k, c);
  }
}

/** All metrics at all ks for one query; null when the query has no relevant judged document. */
export function queryMetrics(ranking: readonly string[], judged: ReadonlyMap<string, number>, opts: MetricOptions = {}): MetricValues | null {
  const convention = opts.convention ?? 'trec';
  const ks = opts.ks ?? DEFAULT_KS[convention];
  checkKs(ks);
  const all = [...judged.values()].map((g) => Math.max(0, g));
  const nRel = all.filter((g) => g > 0).length;
  if (nRel === 0) return null;
  const grades = gradesOf(ranking, judged, Math.max(...ks));
  const out: MetricValues = {};
  for (const name of opts.metrics ?? METRIC_NAMES) {
    for (const k of ks) out[`${name}@${k}`] = metricAt(name, grades, k, all, nRel, convention);
  }
  return out;
}

/** Metrics of a whole run (qid → ranking) against qrels: per query and averaged over queries. */
export function evaluateRun(run: ReadonlyMap<string, readonly string[]>, qrels: Qrels, opts: MetricOptions = {}): RunEvaluation {
  const perQuery = new Map<string, MetricValues>();
  const skipped: string[] = [];
  const convention = opts.convention ?? 'trec';
  const sums: MetricValues = {};
  for (const name of opts.metrics ?? METRIC_NAMES) for (const k of opts.ks ?? DEFAULT_KS[convention]) sums[`${name}@${k}`] = 0;
  for (const [qid, judged] of qrels) {
    const m = queryMetrics(run.get(qid) ?? [], judged, opts);
    if (!m) {
      skipped.push(qid);
      continue;
    }
    perQuery.set(qid, m);
    for (const [key, v] of Object.entries(m)) sums[key] += v;
  }
  const mean: MetricValues = {};
  for (const [key, s] of Object.entries(sums)) mean[key] = perQuery.size ? s / perQuery.size : 0;
  return { perQuery, mean, evaluated: perQuery.size, skipped };
}
