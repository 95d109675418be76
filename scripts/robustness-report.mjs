#!/usr/bin/env node
// Runs the robustness suite (test/robustness, plus the native boundary tests) with every case
// recorded (test/robustness/outcome.ts), then prints the counts by outcome and by area.
// Exit code: vitest's (non-zero when any case ended other than correct / clear-error).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-robustness-')), 'cases.jsonl');
fs.writeFileSync(report, '');
const files = process.argv.slice(2).length ? process.argv.slice(2) : ['test/robustness', 'test/native-boundary.test.ts'];
const r = spawnSync('npx', ['vitest', 'run', ...files], { stdio: 'inherit', env: { ...process.env, SYNTHTUNE_ROBUSTNESS_REPORT: report } });
const rows = fs.readFileSync(report, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const outcomes = ['correct', 'clear-error', 'unclear', 'stack-trace', 'silent-wrong', 'crash'];
const areas = [...new Set(rows.map((x) => x.area))].sort();
const count = (area, o) => rows.filter((x) => (area === null || x.area === area) && x.outcome === o).length;
const line = (cells) => `| ${cells.join(' | ')} |`;
console.log(`\nrobustness suite: ${rows.length} cases\n`);
console.log(line(['area', 'cases', ...outcomes]));
console.log(line(['---', '---', ...outcomes.map(() => '---')]));
for (const a of areas) console.log(line([a, rows.filter((x) => x.area === a).length, ...outcomes.map((o) => count(a, o))]));
console.log(line(['**all**', rows.length, ...outcomes.map((o) => count(null, o))]));
const bad = rows.filter((x) => x.outcome !== 'correct' && x.outcome !== 'clear-error');
for (const b of bad) console.log(`  ${b.outcome}: ${b.area} / ${b.name}: ${b.detail}`);
process.exit(r.status ?? 1);
