/**
 * Every data form of Finetuner's "Prepare Training Data" guide (test/fixtures/finetuner/) read to
 * its typed kind with exact contents: labeled, pairs, scored (the quoted layout with spaces after
 * the commas), the three dialects, one-column lists, `id,text`, DocumentArray JSON/JSONL with
 * label / score / chunks, synthesized rows; the ambiguity and shape errors with file and line;
 * what synthesize takes from each kind; no MaxListenersExceededWarning on a larger CSV.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  contentId, csvRecords, DataError, readCsv, readCsvDetailed, readTexts, readTrainingData, recordsToData, textsFor, type TrainingData,
} from '../lib/data/index';
import { arrayElementLines } from '../lib/data/docarray';
import { runCli } from './helpers/cli';
import { pythonMissing } from './helpers/python';

const FIX = path.join(__dirname, 'fixtures', 'finetuner');
const fx = (name: string) => path.join(FIX, name);
const dir = mkdtempSync(path.join(os.tmpdir(), 'synthtune-forms-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: string, ext = '.csv'): string {
  const p = path.join(dir, `f${n++}${ext}`);
  writeFileSync(p, content);
  return p;
}

async function expectDataError(p: Promise<unknown>, f: string, line: number | undefined, re: RegExp) {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(DataError);
  const msg = (err as Error).message;
  expect(msg.startsWith(line === undefined ? `${f}: ` : `${f}:${line}: `), msg).toBe(true);
  expect(msg).toMatch(re);
}

function texts(d: TrainingData): string[] {
  if (d.kind === 'texts' || d.kind === 'labeled') return d.documents.map((x) => x.text);
  if (d.kind === 'pairs') return d.documents.map((x) => x.text);
  if (d.kind === 'scored') return d.pairs.flatMap((p) => [p.left, p.right]);
  return d.examples.map((e) => e.query);
}

const GREETINGS = [
  ['Hello!', 'greeting-english'], ['Hi there.', 'greeting-english'], ['Good morning.', 'greeting-english'],
  ["I'm sorry!", 'apologize-english'], ["I'm sorry to have kept you waiting.", 'apologize-english'], ['Please forgive me.', 'apologize-english'],
];

describe('Finetuner CSV forms', () => {
  it("labeled, headerless ('Hello!, greeting-english'): ambiguous unless isLabeled says which", async () => {
    await expectDataError(readCsv(fx('labeled.csv')), fx('labeled.csv'), 1, /ambiguous: .*\(query, document\) pairs or labeled \(text, label\).*2 distinct values in 6 rows.*--is-labeled/);
    const d = await readCsv(fx('labeled.csv'), { isLabeled: true });
    expect(d.kind).toBe('labeled');
    // the space after each comma is skipped (Python's skipinitialspace, sniffed)
    expect(d.kind === 'labeled' && d.documents.map((x) => [x.text, x.label])).toEqual(GREETINGS);
    const asPairs = await readCsv(fx('labeled.csv'), { isLabeled: false });
    expect(asPairs.kind).toBe('pairs');
  });

  it('labeled with a text,label header: labeled without any option', async () => {
    const d = await readCsv(fx('labeled-header.csv'));
    expect(d.kind).toBe('labeled');
    if (d.kind !== 'labeled') return;
    expect(d.documents).toHaveLength(7);
    expect(d.documents[0]).toEqual({ id: contentId('Hello!'), text: 'Hello!', label: 'greeting-english' });
    expect(new Set(d.documents.map((x) => x.label))).toEqual(new Set(['greeting-english', 'apologize-english', 'greeting-german']));
  });

  it("query-document pairs ('Rice dishes, Chicken curry'): documents of one query share its label", async () => {
    const d = await readCsv(fx('pairs.csv'));
    expect(d.kind).toBe('pairs');
    if (d.kind !== 'pairs') return;
    expect(d.queries.map((q) => q.text)).toEqual(['Rice dishes', 'Pasta dishes', 'Soups']);
    expect(d.documents.map((x) => x.text)).toEqual(['Chicken curry', 'Risotto', 'Spaghetti bolognese', 'Penne arrabbiata', 'Minestrone']);
    const [rice, pasta, soups] = d.queries.map((q) => q.label);
    expect(d.documents.map((x) => x.label)).toEqual([rice, rice, pasta, pasta, soups]);
  });

  it('scored pairs in the quoted layout with spaces after the delimiters (was "Invalid Opening Quote")', async () => {
    const r = await readCsvDetailed(fx('scored-quoted.csv'));
    expect(r.dialect).toEqual({ delimiter: ',', quote: '"', skipInitialSpace: true });
    expect(r.data).toEqual({
      kind: 'scored',
      pairs: [
        { left: "If we're ordering lunch, we should get pizza", right: 'I want to order pizza for lunch', score: 0.8 },
        { left: "If we're ordering lunch, we should get pizza", right: 'I like to go swimming on Sundays', score: 0.1 },
        { left: 'The cat sat on the mat', right: 'A cat is sitting on a mat', score: 0.9 },
      ],
    });
    // an explicit dialect reads it too: a quote after a delimiter and spaces opens a quoted field
    expect((await readCsv(fx('scored-quoted.csv'), { dialect: 'excel' })).kind === 'scored').toBe(true);
    expect(await readCsv(fx('scored-quoted.csv'), { dialect: 'excel' })).toEqual(r.data);
  });

  it('synthtune\'s own train.csv (query,document,score) is scored pairs', async () => {
    const d = await readCsv(fx('train.csv'));
    expect(d.kind === 'scored' && d.pairs.map((p) => p.score)).toEqual([1, 0.12, 1, 0.3]);
  });

  it('the excel, excel-tab and unix dialects, given and sniffed, read the same items', async () => {
    const expected = [['Hello, world!', 'greeting'], ['She said "hi"', 'greeting'], ['Sorry, my fault.', 'apology'], ['My apologies.', 'apology']];
    const pick = (d: TrainingData) => (d.kind === 'labeled' ? d.documents.map((x) => [x.text, x.label]) : d.kind);
    expect(pick(await readCsv(fx('excel.csv'), { dialect: 'excel' }))).toEqual(expected);
    expect(pick(await readCsv(fx('excel.csv')))).toEqual(expected);
    expect(pick(await readCsv(fx('unix.csv'), { dialect: 'unix' }))).toEqual(expected);
    expect(pick(await readCsv(fx('unix.csv')))).toEqual(expected);
    const tab = [['Hello, world!', 'greeting'], ['tab\tinside', 'greeting'], ['Sorry, my fault.', 'apology'], ['My apologies.', 'apology']];
    expect(pick(await readCsv(fx('excel-tab.tsv'), { dialect: 'excel-tab' }))).toEqual(tab);
    expect(pick(await readCsv(fx('excel-tab.tsv')))).toEqual(tab);
  });

  it('one-column lists of queries or documents (was "expected 2 (query, document) or 3")', async () => {
    const q = await readCsv(fx('queries.csv'));
    expect(q).toEqual({ kind: 'texts', documents: ['how do I cook rice', 'what is a good pasta sauce', 'vegetable soup recipe'].map((t) => ({ id: contentId(t), text: t })) });
    const d = await readCsv(fx('documents.tsv'));
    expect(d.kind === 'texts' && d.documents.map((x) => x.text)).toEqual(['Chicken curry is a rice dish.', 'Risotto is made with arborio rice.', 'Minestrone is an Italian vegetable soup.']);
    // a .tsv is tab-separated even when its only column holds commas on every line
    const commas = file('rice, beans\npasta, sauce\n', '.tsv');
    expect(await readCsv(commas)).toEqual({ kind: 'texts', documents: ['rice, beans', 'pasta, sauce'].map((t) => ({ id: contentId(t), text: t })) });
  });

  it('an id,text CSV gives texts with their ids, never ids as queries', async () => {
    const d = await readCsv(fx('id-text.csv'));
    expect(d).toEqual({ kind: 'texts', documents: [
      { id: 'q0', text: 'how do I cook rice' }, { id: 'q1', text: 'what is a good pasta sauce' }, { id: 'q2', text: 'vegetable soup recipe' },
    ] });
    const titled = file('_id,title,text\nd1,Rice,Chicken curry is a rice dish.\nd2,,Risotto.\n');
    expect(await readCsv(titled)).toEqual({ kind: 'texts', documents: [{ id: 'd1', title: 'Rice', text: 'Chicken curry is a rice dish.' }, { id: 'd2', text: 'Risotto.' }] });
    const dup = file('id,text\na,x\na,y\n');
    await expectDataError(readCsv(dup), dup, 3, /duplicate id 'a' \(first seen on line 2\)/);
  });

  it('headers by column name: content/label, question/answer, sentence1/sentence2/score', async () => {
    expect((await readCsv(file('label,content\nA,first\nB,second\n'))).kind).toBe('labeled');
    const l = await readCsv(file('label,content\nA,first\n'));
    expect(l.kind === 'labeled' && [l.documents[0].text, l.documents[0].label]).toEqual(['first', 'A']);
    const p = await readCsv(file('answer,question\nyes,is it\n'));
    expect(p.kind === 'pairs' && [p.queries[0].text, p.documents[0].text]).toEqual(['is it', 'yes']);
    expect(await readCsv(file('sentence1,sentence2,similarity\na,b,0.25\n'))).toEqual({ kind: 'scored', pairs: [{ left: 'a', right: 'b', score: 0.25 }] });
  });

  it('shape errors say what was considered, with file and line', async () => {
    const four = file('a,b,c,d\n');
    await expectDataError(readCsv(four), four, 1, /4 columns fit no shape; considered one column \(text\), \(text, label\), \(query, document\), \(text, text, score\)/);
    const threeTexts = file('query,document,text,score\na,b,c,0.5\n');
    await expectDataError(readCsv(threeTexts), threeTexts, 1, /a score column needs exactly two text columns/);
    const conflict = file('text,label\na,b\n');
    await expectDataError(readCsv(conflict, { isLabeled: false }), conflict, 1, /names a label column but isLabeled is false/);
    const twoIds = file('id,_id,text\n1,2,x\n');
    await expectDataError(readCsv(twoIds), twoIds, 1, /2 id columns/);
    const labelCsvCount = file('text,label\na,A\nb\n');
    await expectDataError(readCsv(labelCsvCount), labelCsvCount, 3, /missing column\(s\): expected 2, got 1/);
  });

  it('pairs whose second column does not repeat like labels are not ambiguous', async () => {
    const d = await readCsv(file('q1,d1\nq1,d2\nq2,d3\nq2,d4\n'));
    expect(d.kind).toBe('pairs');
  });

  it('a larger CSV reads without MaxListenersExceededWarning', async () => {
    const rows = Array.from({ length: 40_000 }, (_, i) => `"row ${i}, ${'x'.repeat(60)}",label${i % 13}`).join('\n');
    const big = file(`text,label\n${rows}\n`);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const d = await readCsv(big);
      expect(d.kind === 'labeled' && d.documents.length).toBe(40_000);
      await new Promise((r) => setTimeout(r, 50)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
  });
});

// Finetuner reads CSV with Python: csv.Sniffer().sniff(first 1024 chars), falling back to 'excel',
// then csv.reader. Our records must be the same cells. Not compared: the one-column lists, where
// the Sniffer picks a letter as the delimiter (queries.csv: 'i') or gives up (documents.tsv).
const PY_CSV = `
import csv, json, sys
out = {}
for f in sys.argv[1:]:
    with open(f, encoding='utf-8', newline='') as fp:
        try:
            d = csv.Sniffer().sniff(fp.read(1024))
        except csv.Error:
            d = 'excel'
        fp.seek(0)
        out[f] = [r for r in csv.reader(fp, dialect=d) if r]
print(json.dumps(out))
`;

describe.skipIf(pythonMissing(['csv']) !== null)("the same cells as Python's csv.Sniffer + csv.reader (Finetuner's CSV path)", () => {
  it('every two- and three-column fixture', async () => {
    const files = readdirSync(FIX).filter((f) => /\.(csv|tsv)$/.test(f) && !['queries.csv', 'documents.tsv'].includes(f)).map(fx);
    expect(files.length).toBeGreaterThanOrEqual(9);
    const r = spawnSync('python3', ['-c', PY_CSV, ...files], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const py = JSON.parse(r.stdout) as Record<string, string[][]>;
    for (const f of files) {
      const ours: string[][] = [];
      for await (const rec of csvRecords(f)) ours.push(rec.cells);
      expect(ours, f).toEqual(py[f]);
    }
  });
});

describe('DocumentArray-style records and synthesized rows', () => {
  it('JSONL with tags.finetuner_label (text or content) is labeled, ids kept', async () => {
    const r = await readTrainingData(fx('docarray-labeled.jsonl'));
    expect(r.format).toBe('jsonl');
    expect(r.data.kind).toBe('labeled');
    if (r.data.kind !== 'labeled') return;
    expect(r.data.documents.map((d) => [d.id, d.text, d.label])).toEqual([
      ['d1', 'Hello!', 'greeting-english'], ['d2', 'Hi there.', 'greeting-english'], ['d3', 'Good morning.', 'greeting-english'],
      ['d4', "I'm sorry!", 'apologize-english'], ['d5', 'Please forgive me.', 'apologize-english'],
    ]);
  });

  it('JSON array with chunks and tags.finetuner_score is scored (string scores as Finetuner stores CSV cells)', async () => {
    const r = await readTrainingData(fx('docarray-scored.json'));
    expect(r.format).toBe('json');
    expect(r.data).toEqual({ kind: 'scored', pairs: [
      { left: "If we're ordering lunch, we should get pizza", right: 'I want to order pizza for lunch', score: 0.8 },
      { left: "If we're ordering lunch, we should get pizza", right: 'I like to go swimming on Sundays', score: 0.1 },
      { left: 'The cat sat on the mat', right: 'A cat is sitting on a mat', score: 0.9 },
    ] });
  });

  it('chunks without a score are (query, document) pairs; plain records are texts; synthesized rows are margins', async () => {
    const p = await readTrainingData(fx('docarray-pairs.jsonl'));
    expect(p.data.kind === 'pairs' && [p.data.queries.map((q) => q.text), p.data.documents.map((d) => d.text)]).toEqual([
      ['Rice dishes', 'Pasta dishes'], ['Chicken curry', 'Risotto', 'Spaghetti bolognese'],
    ]);
    const t = await readTrainingData(fx('docarray-texts.json'));
    expect(t.data).toEqual({ kind: 'texts', documents: [
      { id: 'c1', text: 'Chicken curry is a rice dish.' }, { id: 'c2', text: 'Risotto is made with arborio rice.' }, { id: 'c3', text: 'Minestrone is an Italian vegetable soup.' },
    ] });
    const m = await readTrainingData(fx('margins.jsonl'));
    expect(m.data.kind === 'margins' && m.data.examples.map((e) => [e.query, e.margin])).toEqual([['how do I cook rice', 4.5], ['vegetable soup recipe', 3.25]]);
  });

  it('a file mixing kinds, and malformed records, are errors naming the line', async () => {
    await expectDataError(readTrainingData(fx('mixed.jsonl')), fx('mixed.jsonl'), 2, /a scored pair .* but the file started with a labeled record .*\(line 1\)/);
    const noText = file('{"text":"a"}\n\n{"title":"b"}\n', '.jsonl');
    await expectDataError(readTrainingData(noText), noText, 3, /record has no text/);
    const three = file('{"chunks":[{"text":"a"},{"text":"b"},{"text":"c"}]}\n', '.jsonl');
    await expectDataError(readTrainingData(three), three, 1, /exactly two/);
    const range = file('{"chunks":[{"text":"a"},{"text":"b"}],"tags":{"finetuner_score":2}}\n', '.jsonl');
    await expectDataError(readTrainingData(range), range, 1, /finetuner_score 2 outside \[0, 1\]/);
    const dup = file('[\n  {"id": "x", "text": "a"},\n  {"id": "x",\n   "text": "b"}\n]\n', '.json');
    await expectDataError(readTrainingData(dup), dup, 3, /duplicate id 'x' \(first seen on line 2\)/);
    const notArray = file('{"text": "a"}', '.json');
    await expectDataError(readTrainingData(notArray), notArray, 1, /expected a JSON array/);
    const badLabel = file('{"text":"a","tags":{"finetuner_label":""}}\n', '.jsonl');
    await expectDataError(readTrainingData(badLabel), badLabel, 1, /tags.finetuner_label/);
    const negs = file('{"query":"q","positive":"p","negatives":["a","b"],"margins":[1]}\n', '.jsonl');
    await expectDataError(readTrainingData(negs), negs, 1, /2 negative\(s\) but 1 margin\(s\)/);
  });

  it('arrayElementLines finds where each top-level element starts, past strings with brackets and escapes', () => {
    expect(arrayElementLines('[\n{"a": "[,]"},\n\n {"b": "\\"}"}, 3,\n"x"]')).toEqual([2, 4, 4, 5]);
    expect(arrayElementLines('[]')).toEqual([]);
  });

  it('recordsToData alone, and size / samplingRate on JSONL as on CSV', async () => {
    const d = recordsToData('<mem>', [{ line: 1, value: { text: 'a', label: 1 } }, { line: 2, value: { text: 'b', label: 'x' } }]);
    expect(d.kind === 'labeled' && d.documents.map((x) => x.label)).toEqual(['1', 'x']);
    const many = file(Array.from({ length: 200 }, (_, i) => JSON.stringify({ text: `t${i}` })).join('\n'), '.jsonl');
    const first = await readTrainingData(many, { size: 5 });
    expect(texts(first.data)).toEqual(['t0', 't1', 't2', 't3', 't4']);
    const a = await readTrainingData(many, { samplingRate: 0.5, seed: 3 });
    const b = await readTrainingData(many, { samplingRate: 0.5, seed: 3 });
    expect(texts(a.data)).toEqual(texts(b.data));
    expect(texts(a.data).length).toBeGreaterThan(70);
    expect(texts(a.data).length).toBeLessThan(130);
  });
});

describe('what synthesize takes from each kind', () => {
  it('labeled as corpus gives its texts, never its labels; pairs give queries or documents; scored is refused', async () => {
    const labeled = await readTexts(fx('labeled-header.csv'), 'corpus');
    expect(labeled.map((d) => d.text)).toContain('Hello!');
    expect(labeled.map((d) => d.text)).not.toContain('greeting-english');
    expect((await readTexts(fx('pairs.csv'), 'queries')).map((d) => d.text)).toEqual(['Rice dishes', 'Pasta dishes', 'Soups']);
    expect((await readTexts(fx('pairs.csv'), 'corpus')).map((d) => d.text)).toHaveLength(5);
    const scored = await readTrainingData(fx('scored-quoted.csv'));
    expect(() => textsFor(scored.data, 'corpus', fx('scored-quoted.csv'))).toThrow(/scored pairs .* not corpus for synthesize/);
  });

  it('synthtune synthesize on an id,text query CSV and a labeled corpus CSV: queries are texts, documents are texts', async () => {
    const queries = file('id,text\nq0,red apple\nq1,blue car\n');
    const corpus = file('text,label\nred apple pie,fruit\ngreen apple,fruit\nblue car fast,vehicle\nred car,vehicle\n');
    const out = path.join(dir, 'run');
    const r = await runCli('synthesize', ['--queries', queries, '--corpus', corpus, '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '2', '--out', out, '--progress', 'none', '--json']);
    expect(r.code, r.err).toBe(0);
    const { readFileSync } = await import('node:fs');
    const rows = readFileSync(path.join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(new Set(rows.map((x) => x.qid))).toEqual(new Set(['q0', 'q1']));
    expect(new Set(rows.map((x) => x.query))).toEqual(new Set(['red apple', 'blue car']));
    const docs = new Set(['red apple pie', 'green apple', 'blue car fast', 'red car']);
    for (const x of rows) {
      expect(docs.has(x.positive)).toBe(true);
      expect(docs.has(x.negative)).toBe(true);
    }
  });

  it('synthesize --is-labeled reads a headerless labeled corpus (texts, not labels); without it the ambiguity is an exit-2 error', async () => {
    const queries = file("I'm sorry\ngood morning\n", '.txt');
    const out = path.join(dir, 'run2');
    const args = ['--queries', queries, '--corpus', fx('labeled.csv'), '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '2', '--out', out, '--progress', 'none'];
    const bad = await runCli('synthesize', args);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/labeled\.csv:1: ambiguous/);
    const bad2 = await runCli('synthesize', [...args, '--dialect', 'tsv']);
    expect(bad2.code).toBe(2);
    expect(bad2.err).toMatch(/--dialect must be one of auto, excel, excel-tab, unix/);
    const ok = await runCli('synthesize', [...args, '--is-labeled', '--json']);
    expect(ok.code, ok.err).toBe(0);
    const { readFileSync } = await import('node:fs');
    const rows = readFileSync(path.join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const greetings = new Set(GREETINGS.map(([t]) => t));
    expect(rows.length).toBeGreaterThan(0);
    for (const x of rows) expect(greetings.has(x.positive) && greetings.has(x.negative)).toBe(true);
  });
});
