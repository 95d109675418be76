/**
 * `synthtune inspect`: the kind and why, counts, label distribution, length percentiles (words by
 * hand; tokens and truncation against the tokenizer's own `truncated` flag), empty and duplicate
 * texts, score and margin distributions, BEIR queries without judgements, and the CLI's text and
 * JSON output and errors.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectData } from '../lib/cli/inspect';
import { distribution, percentile } from '../lib/data/summary';
import { buildWordPieceTokenizer, TextTokenizer } from '../lib/models/index';
import { runCli } from './helpers/cli';

const FIX = path.join(__dirname, 'fixtures', 'finetuner');
const fx = (name: string) => path.join(FIX, name);
const dir = mkdtempSync(path.join(os.tmpdir(), 'synthtune-inspect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, content: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe('summary helpers', () => {
  it('nearest-rank percentiles and equal-width histograms', () => {
    const v = [1, 1, 2, 2, 2, 2, 3];
    expect([percentile(v, 50), percentile(v, 90), percentile(v, 99), percentile(v, 1)]).toEqual([2, 3, 3, 1]);
    const d = distribution([0, 0.1, 0.5, 1], 2);
    expect(d).toEqual({ min: 0, max: 1, mean: 0.4, histogram: [[0, 2], [0.5, 2]] });
  });
});

describe('inspectData', () => {
  it('labeled CSV: kind and why, counts, items per label, word lengths', async () => {
    const r = await inspectData(fx('labeled-header.csv'));
    expect(r.kind).toBe('labeled');
    expect(r.format).toBe('csv');
    expect(r.why).toContain("header 'text,label': a label column");
    expect(r.counts).toEqual({ items: 7, labels: 3 });
    expect(r.labels!.top).toEqual([['greeting-english', 3], ['apologize-english', 2], ['greeting-german', 2]]);
    expect(r.labels!.singletons).toBe(0);
    // words: Hello!(1) Hi there.(2) Good morning.(2) I'm sorry!(2) Please forgive me.(3) Guten Morgen!(2) Hallo!(1)
    expect(r.texts.text).toMatchObject({ count: 7, empty: 0, duplicates: 0, unit: 'words', p50: 2, p90: 3, max: 3 });
    expect(r.texts.text.mean).toBeCloseTo(13 / 7, 12);
    expect(r.use.join('\n')).toMatch(/synthesize: .*its texts are used/);
  });

  it('empty and duplicate texts are counted (the readers would refuse the empty one), singleton labels warned', async () => {
    const f = file('dups.csv', 'text,label\nalpha,A\n"",A\nalpha,B\nbeta,B\ngamma,C\n');
    const r = await inspectData(f);
    expect(r.texts.text).toMatchObject({ count: 5, empty: 1, duplicates: 1 });
    expect(r.labels!.singletons).toBe(1);
    expect(r.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^1 label\(s\) have a single item/), '1 empty text(s) (text)']));
  });

  it('lengths in tokens with a tokenizer: percentiles of the encoded lengths, truncation as the tokenizer flags it', async () => {
    const texts = ['a short one', 'a somewhat longer text with more words in it', 'tiny', 'the longest text of all here with many many more words than the others'];
    const tokDir = path.join(dir, 'tok');
    mkdirSync(tokDir);
    const tok = buildWordPieceTokenizer(texts, { vocabSize: 200 });
    writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJson));
    writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
    const f = file('texts.txt', texts.join('\n') + '\n');
    const full = TextTokenizer.fromFolder(tokDir, { maxLength: 512 });
    const lengths = texts.map((t) => full.encode(t).ids.length).sort((a, b) => a - b);
    const r = await inspectData(f, { tokenizer: tokDir });
    expect(r.texts.text).toMatchObject({ unit: 'tokens', p50: lengths[1], p90: lengths[3], max: lengths[3], truncated: 0 });
    const cut = 8;
    const short = TextTokenizer.fromFolder(tokDir, { maxLength: cut });
    const expected = texts.filter((t) => short.encode(t).truncated).length;
    expect(expected).toBeGreaterThan(0);
    expect(expected).toBeLessThan(texts.length);
    const r8 = await inspectData(f, { tokenizer: tokDir, maxLength: cut });
    expect(r8.tokenizer).toEqual({ folder: tokDir, maxLength: cut });
    expect(r8.texts.text.truncated).toBe(expected);
    expect(r8.warnings).toContain(`${expected} text(s) (text) longer than ${cut} tokens would be truncated`);
  });

  it('scored pairs, pairs, DocumentArray JSON and a synthesis run folder', async () => {
    const s = await inspectData(fx('scored-quoted.csv'));
    expect(s.kind).toBe('scored');
    expect(s.scores).toMatchObject({ min: 0.1, max: 0.9 });
    expect(s.scores!.mean).toBeCloseTo(0.6, 12);
    expect(s.scores!.histogram.reduce((a, [, n]) => a + n, 0)).toBe(3);
    expect(s.texts.left.duplicates).toBe(1);
    const p = await inspectData(fx('pairs.csv'));
    expect(p.counts).toEqual({ queries: 3, documents: 5 });
    expect(p.labels).toMatchObject({ groups: 3, singletons: 1 });
    const j = await inspectData(fx('docarray-scored.json'));
    expect([j.kind, j.format]).toEqual(['scored', 'json']);
    const run = path.join(dir, 'run');
    mkdirSync(run);
    writeFileSync(path.join(run, 'train.jsonl'), '{"query":"q","positive":"p","negative":"n","margin":-1}\n{"query":"q","positive":"p","negative":"m","margin":2}\n');
    const m = await inspectData(run);
    expect([m.kind, m.format]).toEqual(['margins', 'run']);
    expect(m.counts).toEqual({ rows: 2, queries: 1 });
    expect(m.margins).toMatchObject({ min: -1, max: 2, mean: 0.5 });
    expect(m.warnings).toContain('1 margin(s) are negative: the teacher scored the negative above the positive');
  });

  it('BEIR folder: splits, and queries judged in no split', async () => {
    const beir = path.join(dir, 'beir');
    mkdirSync(path.join(beir, 'qrels'), { recursive: true });
    writeFileSync(path.join(beir, 'corpus.jsonl'), ['d1', 'd2', 'd3'].map((id) => JSON.stringify({ _id: id, title: 'T', text: `doc ${id}` })).join('\n'));
    writeFileSync(path.join(beir, 'queries.jsonl'), ['q1', 'q2', 'q3', 'q4'].map((id) => JSON.stringify({ _id: id, text: `query ${id}` })).join('\n'));
    writeFileSync(path.join(beir, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td2\t1\n');
    writeFileSync(path.join(beir, 'qrels', 'train.tsv'), 'query-id\tcorpus-id\tscore\nq3\td3\t1\n');
    const r = await inspectData(beir);
    expect(r.kind).toBe('beir');
    expect(r.counts).toEqual({ documents: 3, queries: 4, splits: 2 });
    expect(r.beir).toEqual({ splits: { test: { queries: 2, judgements: 3, relevant: 2 }, train: { queries: 1, judgements: 1, relevant: 1 } }, unjudgedQueries: 1 });
    expect(r.texts.document.p50).toBe(3); // 'T doc dN'
    expect(r.warnings[0]).toMatch(/^1 of 4 queries have no judgement in any split/);
  });
});

describe('synthtune inspect', () => {
  it('prints the kind, why, counts and use; --json prints the same as one object', async () => {
    const t = await runCli('inspect', [fx('id-text.csv')]);
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/id-text\.csv: texts\n/);
    expect(t.out).toMatch(/header 'id,text': one text column with ids/);
    expect(t.out).toMatch(/counts: 3 texts/);
    expect(t.out).toMatch(/use:\n {2}synthesize: a list of texts/);
    const j = await runCli('inspect', [fx('docarray-labeled.jsonl'), '--json']);
    const r = JSON.parse(j.out);
    expect(r).toMatchObject({ kind: 'labeled', format: 'jsonl', counts: { items: 5, labels: 2 } });
  });

  it('CSV options apply; an ambiguous file is an exit-2 error naming file and line', async () => {
    const bad = await runCli('inspect', [fx('labeled.csv')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain(`${fx('labeled.csv')}:1: ambiguous`);
    const ok = await runCli('inspect', [fx('labeled.csv'), '--is-labeled', '--json']);
    expect(JSON.parse(ok.out)).toMatchObject({ kind: 'labeled', counts: { items: 6, labels: 2 } });
    const pairs = await runCli('inspect', [fx('labeled.csv'), '--no-is-labeled', '--json']);
    expect(JSON.parse(pairs.out)).toMatchObject({ kind: 'pairs', counts: { queries: 6, documents: 6 } });
    const both = await runCli('inspect', [fx('labeled.csv'), '--no-is-labeled', '--is-labeled']);
    expect(both.err).toMatch(/--is-labeled or --no-is-labeled, not both/);
    const sized = await runCli('inspect', [fx('labeled.csv'), '--is-labeled', '--size', '2', '--json']);
    expect(JSON.parse(sized.out).counts.items).toBe(2);
    const none = await runCli('inspect', []);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/inspect takes one data path, got 0/);
    const ml = await runCli('inspect', [fx('queries.csv'), '--max-length', '8']);
    expect(ml.err).toMatch(/--max-length needs --tokenizer/);
  });
});
