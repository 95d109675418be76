/**
 * `synthtune bench [suite...] [--json] [--quick]`: runs benchmark suites and prints the hardware
 * and one table per suite, or with --json one JSON array with one object per measured case:
 *   { suite, case, backend, median_ms, throughput, unit, speedup, baseline, extra? }
 * where speedup = baseline median time / this row's median time.
 */
import { SUITES } from '../../bench/index.js';
import { hardware, type BenchRow } from '../../bench/harness.js';
import { backend } from '../kernels';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CliError, parseCli } from './util';

const HELP = `usage: synthtune bench [suite...] [--json] [--quick] [--profile]
       synthtune bench quality [--data <BEIR folder>]... [--tokenizer <folder>] [--out <folder>] [--json]

Suites: ${Object.keys(SUITES).join(', ')} (default: all).
  --json    print one JSON array of rows instead of tables
  --quick   small shapes (a smoke run, not a measurement)
  --profile train: time the native full step by operation, layer and phase (GFLOP/s per GEMM,
            elementwise kernels, the optimizer, time outside the kernels)

quality (run on its own, minutes per collection): retrieval quality with default options — per
collection BM25, the static student from scratch before / after / after÷BM25, and domain adaptation
of the adapter and full students from a small BERT pretrained on another collection.
  --data <dir>       a BEIR folder, repeatable (default: the bundled sample); its qrels/train.tsv
                     and test.tsv, or its judged queries split in halves
  --tokenizer <dir>  tokenizer for every student (default: WordPiece learnt from the collections)
  --out <dir>        where the runs go (default: a temporary folder)
`;

export function formatTable(rows: BenchRow[]): string {
  const head = ['case', 'backend', 'median ms', 'throughput', 'speedup', 'note'];
  const body = rows.map((r) => [
    r.case,
    r.backend,
    r.median_ms.toFixed(r.median_ms < 10 ? 3 : 1),
    `${r.throughput.toFixed(r.throughput < 100 ? 2 : 0)} ${r.unit}`,
    `${r.speedup.toFixed(r.speedup < 10 ? 2 : 1)}x vs ${r.baseline}`,
    r.extra ? Object.entries(r.extra).map(([k, v]) => `${k}=${v !== null && typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ') : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}

async function quality(values: { json?: boolean; quick?: boolean; data?: string[]; tokenizer?: string; out?: string }): Promise<number> {
  const { qualityBench, qualityTable } = await import('../../bench/quality.js');
  const { sampleDataDir } = await import('./demo.js');
  const data = values.data?.length ? values.data : [sampleDataDir()];
  for (const d of data) {
    for (const f of ['corpus.jsonl', 'queries.jsonl', 'qrels']) {
      if (!fs.existsSync(path.join(d, f))) throw new CliError(`--data: ${d} is not a BEIR folder (no ${f})`);
    }
  }
  if (values.tokenizer && !fs.existsSync(path.join(values.tokenizer, 'tokenizer.json'))) throw new CliError(`--tokenizer: ${values.tokenizer} holds no tokenizer.json`);
  const rows = await qualityBench({ data, tokenizer: values.tokenizer, out: values.out, quick: values.quick, log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(values.json ? JSON.stringify(rows, null, 2) + '\n' : qualityTable(rows) + '\n');
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, {
    json: { type: 'boolean' }, quick: { type: 'boolean' }, profile: { type: 'boolean' },
    data: { type: 'string', multiple: true }, tokenizer: { type: 'string' }, out: { type: 'string' },
  }, true);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if ((positionals as string[]).includes('quality')) {
    if (positionals.length > 1) throw new CliError('bench quality runs on its own (not with other suites)');
    return quality(values);
  }
  if (values.data || values.tokenizer || values.out) throw new CliError('--data, --tokenizer and --out are for bench quality');
  if (values.profile && !(positionals as string[]).includes('train')) throw new CliError('--profile is for the train suite: synthtune bench train --profile');
  const names = positionals.length ? positionals : Object.keys(SUITES);
  for (const n of names) if (!SUITES[n]) throw new CliError(`unknown bench suite '${n}' (known: ${Object.keys(SUITES).join(', ')})`);
  const json = Boolean(values.json);
  const quick = Boolean(values.quick);
  const log = (line: string) => process.stderr.write(line + '\n');
  const be = backend();
  if (!json) {
    const hw = hardware();
    process.stdout.write(`hardware: ${hw.cpu}, ${hw.cores} cores, ${hw.memory_gib} GiB, ${hw.platform}, node ${hw.node}\n`);
    process.stdout.write(`kernel backend: ${be.name} (simd ${be.simd}, ${be.threads} threads)${be.device ? ` on ${be.device}` : ''}\n`);
    for (const r of be.reasons) process.stdout.write(`  note: ${r}\n`);
  }
  const all: BenchRow[] = [];
  for (const n of names) {
    const suite = await SUITES[n]();
    log(`bench ${n}: ${suite.description}${quick ? ' [quick]' : ''}`);
    const rows = await suite.run({ quick, log, profile: Boolean(values.profile) });
    all.push(...rows);
    if (!json) process.stdout.write(`\n== ${n} ==\n${formatTable(rows)}\n`);
  }
  if (json) process.stdout.write(JSON.stringify(all, null, 2) + '\n');
  return 0;
}
