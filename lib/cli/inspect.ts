/**
 * `synthtune inspect`: what a data file or folder holds, like DocumentArray.summary().
 *
 *   synthtune inspect <file | run folder | BEIR folder> [--tokenizer <model folder>] [--json]
 *                     [--dialect d] [--is-labeled | --no-is-labeled] [--size n] [--sampling-rate x]
 *
 * Prints the kind detected and why (format, CSV dialect and header, record shape), the counts,
 * the label distribution, text lengths (tokens with --tokenizer: percentiles and how many would be
 * truncated at its max length; words otherwise), empty and duplicate texts, queries without
 * judgements (BEIR), and what synthesize / fit / evaluate would do with it. Empty texts are
 * counted here instead of failing the read. --json prints the same as one object.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTrainingData, type DataReading } from '../data/forms';
import { summarize, summarizeBeir, type DataSummary, type Distribution, type LengthStats, type SummaryOptions } from '../data/summary';
import { CliError, csvOptions, csvUsage, CSV_OPTIONS, intOption, parseCli } from './util';
import { userError } from '../util/errors';

const USAGE = `usage: synthtune inspect <data> [options]

  <data>                  a data file (.csv/.tsv, .jsonl, .json, text), a synthesis run folder or
                          a BEIR folder
  --tokenizer <folder>    model folder with tokenizer.json: lengths in tokens and truncation at
                          its max length (default: lengths in words)
  --max-length <n>        the max length to check against (default: the tokenizer's)
  --json                  print one JSON object
${csvUsage(26)}
`;

const OPTIONS = {
  tokenizer: { type: 'string' },
  'max-length': { type: 'string' },
  json: { type: 'boolean' },
  ...CSV_OPTIONS,
} as const;

export interface InspectResult extends DataSummary {
  path: string;
  format: DataReading['format'] | 'beir';
  why: string[];
  tokenizer?: { folder: string; maxLength: number };
}

async function tokenCounter(folder: string, maxLength?: number): Promise<SummaryOptions & { maxLength: number }> {
  const { TextTokenizer } = await import('../models/tokenizer.js'); // lazily: only with --tokenizer
  let tok: InstanceType<typeof TextTokenizer>;
  try {
    tok = TextTokenizer.fromFolder(folder, maxLength === undefined ? {} : { maxLength });
  } catch (e) {
    const user = userError(e);
    if (!user) throw e; // a bug keeps its stack
    throw new CliError(`--tokenizer ${folder}: ${user.message}`);
  }
  const specials = tok.encode('').ids.length;
  return { countTokens: (t) => tok.tokenize(t).length + specials, maxLength: tok.maxLength };
}

/** Reads and summarises one path (the CLI's work without printing). */
export async function inspectData(p: string, opts: { tokenizer?: string; maxLength?: number; read?: Parameters<typeof readTrainingData>[1] } = {}): Promise<InspectResult> {
  if (!fs.existsSync(p)) throw new CliError(`${p} does not exist`);
  const counted = opts.tokenizer ? await tokenCounter(opts.tokenizer, opts.maxLength) : undefined;
  const counter: SummaryOptions = counted ?? {};
  const tokenizer = counted && opts.tokenizer ? { folder: opts.tokenizer, maxLength: counted.maxLength } : undefined;
  if (fs.statSync(p).isDirectory() && fs.existsSync(path.join(p, 'corpus.jsonl'))) {
    const s = await summarizeBeir(p, counter);
    return { path: p, format: 'beir', why: ['a folder with corpus.jsonl, queries.jsonl and qrels/: BEIR'], ...s, ...(tokenizer ? { tokenizer } : {}) };
  }
  const r = await readTrainingData(p, { ...opts.read, allowEmpty: true });
  return { path: p, format: r.format, why: r.why, ...summarize(r.data, counter), ...(tokenizer ? { tokenizer } : {}) };
}

function num(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(3);
}

function lengthLine(role: string, s: LengthStats): string {
  const trunc = s.truncated !== undefined ? `, ${s.truncated} truncated` : '';
  return `  ${role.padEnd(10)} ${String(s.count).padStart(7)} texts, ${s.empty} empty, ${s.duplicates} duplicate; ${s.unit}: mean ${num(s.mean)}, p50 ${s.p50}, p90 ${s.p90}, p99 ${s.p99}, max ${s.max}${trunc}`;
}

function histogramLines(d: Distribution): string[] {
  return d.histogram.map(([lo, n], i) => {
    const hi = i + 1 < d.histogram.length ? d.histogram[i + 1][0] : d.max;
    return `    [${num(lo)}, ${num(hi)}${i + 1 < d.histogram.length ? ')' : ']'} ${n}`;
  });
}

/** The human-readable report. */
export function formatInspect(r: InspectResult): string {
  const out: string[] = [`${r.path}: ${r.kind}`];
  for (const w of r.why) out.push(`  - ${w}`);
  out.push('counts: ' + Object.entries(r.counts).map(([k, v]) => `${v} ${k}`).join(', '));
  if (r.tokenizer) out.push(`text lengths (tokenizer ${r.tokenizer.folder}, max length ${r.tokenizer.maxLength}):`);
  else out.push('text lengths (words; --tokenizer <folder> for tokens):');
  for (const [role, s] of Object.entries(r.texts)) out.push(lengthLine(role, s));
  if (r.labels) {
    const what = r.kind === 'pairs' ? 'documents per query' : 'items per label';
    out.push(`${r.kind === 'pairs' ? 'queries' : 'labels'}: ${r.labels.groups}; ${what}: min ${r.labels.sizes.min}, mean ${num(r.labels.sizes.mean)}, max ${r.labels.sizes.max}; ${r.labels.singletons} with one`);
    if (r.kind === 'labeled') for (const [label, n] of r.labels.top) out.push(`    ${label}: ${n}`);
  }
  if (r.scores) out.push(`scores: min ${num(r.scores.min)}, mean ${num(r.scores.mean)}, max ${num(r.scores.max)}`, ...histogramLines(r.scores));
  if (r.margins) out.push(`margins: min ${num(r.margins.min)}, mean ${num(r.margins.mean)}, max ${num(r.margins.max)}`, ...histogramLines(r.margins));
  if (r.beir) {
    for (const [split, s] of Object.entries(r.beir.splits)) out.push(`  split ${split}: ${s.queries} judged queries, ${s.judgements} judgements (${s.relevant} relevant)`);
    out.push(`  queries without judgements: ${r.beir.unjudgedQueries}`);
  }
  if (r.warnings.length) out.push('warnings:', ...r.warnings.map((w) => `  ! ${w}`));
  out.push('use:', ...r.use.map((u) => `  ${u}`));
  return out.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, OPTIONS, true);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError(`inspect takes one data path, got ${positionals.length}\n\n${USAGE}`);
  const maxLength = values['max-length'] === undefined ? undefined : intOption('max-length', values['max-length'], 0, 2);
  if (maxLength !== undefined && !values.tokenizer) throw new CliError('--max-length needs --tokenizer');
  const r = await inspectData(positionals[0], { tokenizer: values.tokenizer, maxLength, read: csvOptions(values) });
  process.stdout.write((values.json ? JSON.stringify(r) : formatInspect(r)) + '\n');
  return 0;
}
