/**
 * `synthtune bench [suite...] [--json] [--quick]`: runs benchmark suites and prints the hardware
 * and one table per suite, or with --json one JSON array with one object per measured case:
 *   { suite, case, backend, median_ms, throughput, unit, speedup, baseline, extra? }
 * where speedup = baseline median time / this row's median time.
 */
import { SUITES } from '../../bench/index.js';
import { hardware, type BenchRow } from '../../bench/harness.js';
import { backend } from '../kernels';
import { CliError, parseCli } from './util';

const HELP = `usage: synthtune bench [suite...] [--json] [--quick]

Suites: ${Object.keys(SUITES).join(', ')} (default: all).
  --json    print one JSON array of rows instead of tables
  --quick   small shapes (a smoke run, not a measurement)
`;

export function formatTable(rows: BenchRow[]): string {
  const head = ['case', 'backend', 'median ms', 'throughput', 'speedup', 'note'];
  const body = rows.map((r) => [
    r.case,
    r.backend,
    r.median_ms.toFixed(r.median_ms < 10 ? 3 : 1),
    `${r.throughput.toFixed(r.throughput < 100 ? 2 : 0)} ${r.unit}`,
    `${r.speedup.toFixed(r.speedup < 10 ? 2 : 1)}x vs ${r.baseline}`,
    r.extra ? Object.entries(r.extra).map(([k, v]) => `${k}=${v}`).join(' ') : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(argv, { json: { type: 'boolean' }, quick: { type: 'boolean' } }, true);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
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
    const rows = await suite.run({ quick, log });
    all.push(...rows);
    if (!json) process.stdout.write(`\n== ${n} ==\n${formatTable(rows)}\n`);
  }
  if (json) process.stdout.write(JSON.stringify(all, null, 2) + '\n');
  return 0;
}
