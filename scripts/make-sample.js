#!/usr/bin/env node
// Regenerates data/sample/ (the dataset `synthtune demo` runs on) from the SciFact BEIR folder.
//
//   node scripts/make-sample.js [--from ../shared/data/scifact] [--to data/sample]
//                               [--train 150] [--test 100] [--distractors 200] [--seed 7]
//
// Selection (deterministic for a seed; mulberry32 shuffles):
//   - `train` queries drawn from qrels/train.tsv and `test` queries from qrels/test.tsv;
//   - every document judged for a selected query;
//   - `distractors` more documents drawn from the rest of the corpus.
// Lines of corpus.jsonl, queries.jsonl and the qrels are copied byte for byte in source order,
// so the sample is a plain subset of the source. The README.md / LICENSE.md beside the data are
// written by hand and left alone.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function args() {
  const o = { from: path.resolve(root, '../shared/data/scifact'), to: path.join(root, 'data/sample'), train: 150, test: 100, distractors: 200, seed: 7 };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) {
    const k = a[i].replace(/^--/, '');
    if (!(k in o) || a[i + 1] === undefined) throw new Error(`unknown or incomplete option ${a[i]}`);
    o[k] = typeof o[k] === 'number' ? Number(a[i + 1]) : path.resolve(a[i + 1]);
  }
  return o;
}

function mulberry32(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates on a copy. */
function shuffled(items, rand) {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function lines(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
}

function readQrels(file) {
  const [header, ...rows] = lines(file);
  return { header, rows: rows.map((l) => ({ line: l, qid: l.split('\t')[0], did: l.split('\t')[1] })) };
}

function main() {
  const o = args();
  const rand = mulberry32(o.seed);
  const splits = { train: readQrels(path.join(o.from, 'qrels/train.tsv')), test: readQrels(path.join(o.from, 'qrels/test.tsv')) };
  const picked = {};
  const judged = new Set();
  for (const split of ['train', 'test']) {
    const qids = [...new Set(splits[split].rows.map((r) => r.qid))].sort((a, b) => Number(a) - Number(b));
    picked[split] = new Set(shuffled(qids, rand).slice(0, o[split]));
    for (const r of splits[split].rows) if (picked[split].has(r.qid)) judged.add(r.did);
  }
  const corpus = lines(path.join(o.from, 'corpus.jsonl')).map((line) => ({ line, id: JSON.parse(line)._id }));
  const rest = corpus.map((d) => d.id).filter((id) => !judged.has(id));
  const keep = new Set([...judged, ...shuffled(rest, rand).slice(0, o.distractors)]);
  const queryIds = new Set([...picked.train, ...picked.test]);
  const queries = lines(path.join(o.from, 'queries.jsonl')).filter((l) => queryIds.has(JSON.parse(l)._id));

  fs.mkdirSync(path.join(o.to, 'qrels'), { recursive: true });
  const write = (f, ls) => fs.writeFileSync(path.join(o.to, f), ls.join('\n') + '\n');
  write('corpus.jsonl', corpus.filter((d) => keep.has(d.id)).map((d) => d.line));
  write('queries.jsonl', queries);
  for (const split of ['train', 'test']) {
    write(`qrels/${split}.tsv`, [splits[split].header, ...splits[split].rows.filter((r) => picked[split].has(r.qid)).map((r) => r.line)]);
  }
  let bytes = 0;
  for (const f of ['corpus.jsonl', 'queries.jsonl', 'qrels/train.tsv', 'qrels/test.tsv']) bytes += fs.statSync(path.join(o.to, f)).size;
  process.stdout.write(
    `${path.relative(process.cwd(), o.to) || '.'}: ${keep.size} documents (${judged.size} judged, ${keep.size - judged.size} distractors), ` +
      `${picked.train.size} train + ${picked.test.size} test queries, ${bytes} bytes\n`,
  );
}

main();
