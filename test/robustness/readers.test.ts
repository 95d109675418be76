/**
 * Robustness suite, area 'readers': generated malformed inputs for every data reader (CSV in each
 * dialect, JSONL, DocumentArray JSON, text lists, BEIR folders and qrels), plus seeded systematic
 * damage of valid files (truncation at k offsets, byte replacement, bit flips, inserted special
 * bytes). Each case ends in the right result (checked: exactly where the input fixes it, else the
 * reading's invariants — every text non-empty and without U+FFFD, ids unique, scores in [0, 1],
 * no more items than lines) or a DataError naming the file (and its 1-based line where one applies).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBeir, readJsonl, readQrels, readText, readTrainingData, toDocuments, type TrainingData } from '../../lib/data';
import { DataError } from '../../lib/data/errors';
import { writeWordPieceTokenizer } from '../../lib/models/wordpiece';
import { mulberry32 } from '../../lib/training/rng';
import { runCli } from '../helpers/cli';
import { scratchDirs } from '../helpers/models';
import { classifyCall, classifyRun, record } from './outcome';

const AREA = 'readers';

const tmp = scratchDirs('synthtune-robust-readers-');
const dir = tmp.sync();
let n = 0;
/** Writes bytes (or text) to a fresh file with this extension; returns its path. */
function put(ext: string, content: string | Uint8Array, name = 'f'): string {
  const p = path.join(dir, `${name}-${n++}${ext}`);
  fs.writeFileSync(p, content);
  return p;
}

/** The invariants of any successful reading (see the file header). */
function sane(d: TrainingData, lines: number): boolean {
  const okText = (t: unknown) => typeof t === 'string' && t.trim() !== '' && !t.includes('\uFFFD');
  const uniq = (ids: string[]) => new Set(ids).size === ids.length;
  switch (d.kind) {
    case 'texts':
    case 'labeled':
      return d.documents.length > 0 && d.documents.length <= lines && d.documents.every((x) => okText(x.text) && (d.kind === 'texts' || okText(x.label))) && uniq(d.documents.map((x) => x.id));
    case 'pairs':
      return d.queries.length > 0 && d.documents.length <= lines && d.queries.every((x) => okText(x.text)) && d.documents.every((x) => okText(x.text));
    case 'scored':
      return d.pairs.length > 0 && d.pairs.length <= lines && d.pairs.every((p) => okText(p.left) && okText(p.right) && p.score >= 0 && p.score <= 1);
    case 'margins':
      return d.examples.length > 0 && d.examples.length <= lines && d.examples.every((e) => okText(e.query) && okText(e.positive)
        && [...(e.negatives ?? []), ...(e.negative !== undefined ? [e.negative] : [])].every(okText)
        && [...(e.margins ?? []), ...(e.margin !== undefined ? [e.margin] : [])].every(Number.isFinite));
  }
}

const lineCount = (p: string) => fs.readFileSync(p).toString('latin1').split('\n').length;
const base = (p: string) => path.basename(p);

/** A reading that must fail: a DataError naming the file (and `line` when given). */
async function expectError(name: string, p: string, f: () => unknown, line?: number, also: (string | RegExp)[] = []): Promise<void> {
  const mentions = [base(p), ...(line !== undefined ? [`${base(p)}:${line}:`] : []), ...also];
  record(AREA, name, await classifyCall(f, { mentions }));
}

/** A reading that must succeed with exactly this data. */
async function expectData(name: string, f: () => Promise<{ data: TrainingData }>, want: TrainingData): Promise<void> {
  let got: TrainingData | undefined;
  record(AREA, name, await classifyCall(async () => { got = (await f()).data; }, { correct: () => JSON.stringify(strip(got!)) === JSON.stringify(strip(want)) }));
}
/** Data without generated ids (compared by content). */
function strip(d: TrainingData): unknown {
  const docs = (xs: { text: string; label?: string; title?: string }[]) => xs.map((x) => ({ text: x.text, label: x.label, title: x.title }));
  switch (d.kind) {
    case 'texts': case 'labeled': return { kind: d.kind, docs: docs(d.documents) };
    case 'pairs': return { kind: d.kind, q: docs(d.queries), d: docs(d.documents) };
    case 'scored': return d;
    case 'margins': return d;
  }
}

// ---------------------------------------------------------------- CSV

const DIALECTS = ['auto', 'excel', 'excel-tab', 'unix'] as const;
const sep = (dialect: string) => (dialect === 'excel-tab' ? '\t' : ',');

describe('CSV', () => {
  for (const dialect of DIALECTS) {
    const d = sep(dialect);
    const read = (p: string, extra: object = {}) => () => readTrainingData(p, { dialect, ...extra });
    it(`${dialect}: well-formed labeled, scored, BOM, CRLF, huge field, quoted newline`, async () => {
      const labeled: TrainingData = { kind: 'labeled', documents: [{ id: '', text: 'a cat', label: 'x' }, { id: '', text: 'a dog', label: 'y' }] };
      await expectData(`csv ${dialect} labeled`, read(put('.csv', `text${d}label\na cat${d}x\na dog${d}y\n`)), labeled);
      await expectData(`csv ${dialect} BOM`, read(put('.csv', `\uFEFFtext${d}label\na cat${d}x\na dog${d}y\n`)), labeled);
      await expectData(`csv ${dialect} CRLF`, read(put('.csv', `text${d}label\r\na cat${d}x\r\na dog${d}y\r\n`)), labeled);
      await expectData(`csv ${dialect} no final newline`, read(put('.csv', `text${d}label\na cat${d}x\na dog${d}y`)), labeled);
      await expectData(`csv ${dialect} scored`, read(put('.csv', `left${d}right${d}score\na${d}b${d}0.25\nc${d}d${d}1\n`)),
        { kind: 'scored', pairs: [{ left: 'a', right: 'b', score: 0.25 }, { left: 'c', right: 'd', score: 1 }] });
      const huge = 'w'.repeat(1 << 20);
      await expectData(`csv ${dialect} 1 MB field`, read(put('.csv', `text${d}label\n${huge}${d}x\nb${d}y\n`)),
        { kind: 'labeled', documents: [{ id: '', text: huge, label: 'x' }, { id: '', text: 'b', label: 'y' }] });
      await expectData(`csv ${dialect} quoted newline`, read(put('.csv', `text${d}label\n"two\nlines"${d}x\nb${d}y\n`)),
        { kind: 'labeled', documents: [{ id: '', text: 'two\nlines', label: 'x' }, { id: '', text: 'b', label: 'y' }] });
    });
    it(`${dialect}: malformed inputs name file and line`, async () => {
      let p = put('.csv', `text${d}label\n"open${d}x\nb${d}y\n`);
      await expectError(`csv ${dialect} unbalanced quote`, p, read(p), 2);
      p = put('.csv', `text${d}label\na${d}x\nb${d}y${d}z\n`);
      await expectError(`csv ${dialect} ragged row (extra)`, p, read(p), 3);
      p = put('.csv', `text${d}label\na${d}x\nb\n`);
      await expectError(`csv ${dialect} ragged row (missing)`, p, read(p), 3);
      p = put('.csv', '');
      await expectError(`csv ${dialect} empty file`, p, read(p));
      p = put('.csv', '\n\n  \n');
      await expectError(`csv ${dialect} blank lines only`, p, read(p));
      p = put('.csv', `text${d}label\n`);
      await expectError(`csv ${dialect} header only`, p, read(p), undefined, [/header|no data/]);
      p = put('.csv', Buffer.concat([Buffer.from(`text${d}label\na${d}x\n`), Buffer.from([0x62, 0xff, 0xfe]), Buffer.from(`${d}y\n`)]));
      await expectError(`csv ${dialect} invalid UTF-8`, p, read(p), 3);
      p = put('.csv', `left${d}right${d}score\na${d}b${d}0.5\nc${d}d${d}high\n`);
      await expectError(`csv ${dialect} non-numeric score`, p, read(p), 3, ['high']);
      p = put('.csv', `left${d}right${d}score\na${d}b${d}0.5\nc${d}d${d}\n`);
      await expectError(`csv ${dialect} empty score`, p, read(p), 3);
      p = put('.csv', `left${d}right${d}score\na${d}b${d}1.5\n`);
      await expectError(`csv ${dialect} score outside [0, 1]`, p, read(p), 2);
      p = put('.csv', `left${d}right${d}score\na${d}b${d}NaN\n`);
      await expectError(`csv ${dialect} NaN score`, p, read(p), 2);
      p = put('.csv', `text${d}label\na${d}x\nb${d}\n`);
      await expectError(`csv ${dialect} empty label`, p, read(p), 3);
      p = put('.csv', `text${d}label\n${d}x\nb${d}y\n`);
      await expectError(`csv ${dialect} empty text`, p, read(p), 2);
      p = put('.csv', `foo${d}bar${d}baz${d}qux${d}quux\n1${d}2${d}3${d}4${d}5\n`);
      await expectError(`csv ${dialect} unknown header`, p, read(p), 1);
    });
    it(`${dialect}: NUL bytes are text or an error, never lost rows`, async () => {
      const p = put('.csv', `text${d}label\na\0b${d}x\nc${d}y\n`);
      let got: TrainingData | undefined;
      record(AREA, `csv ${dialect} NUL byte in a field`, await classifyCall(async () => { got = (await readTrainingData(p, { dialect })).data; }, {
        mentions: [base(p)],
        correct: () => got!.kind === 'labeled' && got!.documents.length === 2 && got!.documents[0].text === 'a\0b',
      }));
    });
  }
});

// ---------------------------------------------------------------- JSONL / DocumentArray JSON

describe('JSONL and DocumentArray JSON', () => {
  it('well-formed records of each kind', async () => {
    await expectData('jsonl texts', () => readTrainingData(put('.jsonl', '{"text":"a"}\n\n{"text":"b"}\n')), { kind: 'texts', documents: [{ id: '', text: 'a' }, { id: '', text: 'b' }] });
    await expectData('jsonl labeled', () => readTrainingData(put('.jsonl', '{"text":"a","tags":{"finetuner_label":"x"}}\n{"text":"b","tags":{"finetuner_label":"y"}}\n')),
      { kind: 'labeled', documents: [{ id: '', text: 'a', label: 'x' }, { id: '', text: 'b', label: 'y' }] });
    await expectData('jsonl margins', () => readTrainingData(put('.jsonl', '{"query":"q","positive":"p","negative":"n","margin":0.5}\n')),
      { kind: 'margins', examples: [{ query: 'q', positive: 'p', negative: 'n', margin: 0.5 }] });
    await expectData('jsonl CRLF + BOM', () => readTrainingData(put('.jsonl', '\uFEFF{"text":"a"}\r\n{"text":"b"}\r\n')), { kind: 'texts', documents: [{ id: '', text: 'a' }, { id: '', text: 'b' }] });
    await expectData('json array', () => readTrainingData(put('.json', '[\n  {"text": "a"},\n  {"text": "b"}\n]\n')), { kind: 'texts', documents: [{ id: '', text: 'a' }, { id: '', text: 'b' }] });
  });
  const bad: [string, string, number, (string | RegExp)[]?][] = [
    ['truncated line', '{"text":"a"}\n{"text":"b"}\n{"text":"c', 3],
    ['not JSON', '{"text":"a"}\n{oops}\n', 2],
    ['array row', '{"text":"a"}\n["a","b"]\n', 2],
    ['number row', '{"text":"a"}\n42\n', 2],
    ['null row', '{"text":"a"}\nnull\n', 2],
    ['string row', '"just a string"\n', 1],
    ['text is a number', '{"text":"a"}\n{"text":5}\n', 2],
    ['text is an object', '{"text":"a"}\n{"text":{"x":1}}\n', 2],
    ['text is null', '{"text":"a"}\n{"text":null}\n', 2],
    ['empty text', '{"text":"a"}\n{"text":""}\n', 2, [/empty/]],
    ['blank text', '{"text":"a"}\n\n{"text":"   "}\n', 3, [/empty/]],
    ['no text field', '{"text":"a"}\n{"title":"t"}\n', 2],
    ['label is an object', '{"text":"a","tags":{"finetuner_label":{"x":1}}}\n', 1],
    ['score not a number', '{"chunks":[{"text":"a"},{"text":"b"}],"tags":{"finetuner_score":"high"}}\n', 1],
    ['score outside [0, 1]', '{"chunks":[{"text":"a"},{"text":"b"}],"tags":{"finetuner_score":2}}\n', 1],
    ['one chunk', '{"chunks":[{"text":"a"}]}\n', 1],
    ['margin is a string', '{"query":"q","positive":"p","negative":"n","margin":"0.5"}\n', 1],
    ['margin is NaN-like', '{"query":"q","positive":"p","negative":"n","margin":1e999}\n', 1],
    ['negatives/margins lengths differ', '{"query":"q","positive":"p","negatives":["a","b"],"margins":[1]}\n', 1],
    ['no negative', '{"query":"q","positive":"p"}\n', 1],
    ['query is a number', '{"query":1,"positive":"p","negative":"n","margin":0.5}\n', 1],
    ['mixed kinds', '{"text":"a"}\n{"query":"q","positive":"p","negative":"n","margin":0.5}\n', 2],
    ['duplicate id', '{"id":"1","text":"a"}\n{"id":"1","text":"b"}\n', 2, [/duplicate/]],
    ['empty file', '', -1],
    ['blank lines only', '\n \n\n', -1],
  ];
  it.each(bad)('jsonl %s → file:line', async (name, text, line, also) => {
    const p = put('.jsonl', text);
    await expectError(`jsonl ${name}`, p, () => readTrainingData(p), line > 0 ? line : undefined, also);
  });
  it('a DocumentArray JSON of 200k records reads (no call-stack overflow)', async () => {
    const N = 200_000;
    const p = put('.json', '[\n' + Array.from({ length: N }, (_, i) => `{"text":"t${i}"}`).join(',\n') + '\n]\n');
    let got: TrainingData | undefined;
    record(AREA, 'json with 200k records', await classifyCall(async () => { got = (await readTrainingData(p)).data; }, {
      correct: () => got!.kind === 'texts' && got!.documents.length === N && got!.documents[N - 1].text === `t${N - 1}`,
    }));
  }, 30_000);
  it('jsonl line numbers are 1-based physical lines (blank lines count)', async () => {
    const p = put('.jsonl', '\n{"text":"a"}\n\n{"text":7e}\n');
    await expectError('jsonl 1-based line after blank lines', p, () => readTrainingData(p), 4);
  });
  const badJson: [string, string, number | undefined][] = [
    ['truncated array', '[\n  {"text": "a"},\n  {"text": "b"', 3],
    ['a missing comma on line 3', '[\n  {"text": "a"}\n  {"text": "b"}\n]', 3],
    ['an unexpected token on line 3', '[\n {"text": "a cat", "tags": {"finetuner_label": "animal"}},\n s"text": "a car"}\n]', 3],
    ['an unexpected token on line 2', '[\n {"text":("a cat"}\n]', 2],
    ['not an array', '{"text": "a"}', undefined],
    ['array of numbers', '[\n  1,\n  2\n]', 2],
    ['second element has no text', '[\n  {"text": "a"},\n  {"title": "b"}\n]', 3],
    ['second element empty text', '[\n  {"text": "a"},\n  {"text": ""}\n]', 3],
    ['empty array', '[]', undefined],
    ['empty file', '', undefined],
    ['trailing garbage', '[{"text": "a"}] x', undefined],
  ];
  it.each(badJson)('json %s → file (and line)', async (name, text, line) => {
    const p = put('.json', text);
    await expectError(`json ${name}`, p, () => readTrainingData(p), line);
    const message = await readTrainingData(p).catch((e: Error) => e.message);
    expect(String(message)).not.toContain('\n'); // one line, even where JSON.parse quotes newlines
  });
  it('readJsonl (BEIR files): bad records name file and line', async () => {
    for (const [name, text, line] of [
      ['truncated', '{"_id":"1","text":"a"}\n{"_id":"2","te', 2],
      ['missing _id', '{"_id":"1","text":"a"}\n{"text":"b"}\n', 2],
      ['text an array', '{"_id":"1","text":["a"]}\n', 1],
      ['title a number', '{"_id":"1","text":"a","title":3}\n', 1],
      ['duplicate _id', '{"_id":"1","text":"a"}\n{"_id":"1","text":"b"}\n', 2],
      ['invalid UTF-8', '{"_id":"1","text":"a"}\n{"_id":"2","text":"\xff"}\n', 2],
    ] as const) {
      const p = put('.jsonl', name === 'invalid UTF-8' ? Buffer.from(text, 'latin1') : text);
      await expectError(`readJsonl ${name}`, p, () => readJsonl(p, { requireId: true }), line);
    }
  });
});

// ---------------------------------------------------------------- text lists

describe('text lists', () => {
  it('well-formed and malformed', async () => {
    await expectData('text CRLF + BOM + blank lines', () => readTrainingData(put('.txt', '\uFEFFfirst\r\n\r\nsecond\r\n')), { kind: 'texts', documents: [{ id: '', text: 'first' }, { id: '', text: 'second' }] });
    await expectData('text without extension', () => readTrainingData(put('', 'one\ntwo')), { kind: 'texts', documents: [{ id: '', text: 'one' }, { id: '', text: 'two' }] });
    let p = put('.txt', '');
    await expectError('text empty file', p, () => readTrainingData(p));
    p = put('.txt', ' \n\t\n');
    await expectError('text blank only', p, () => readTrainingData(p));
    p = put('.txt', Buffer.from([0x61, 0x0a, 0x62, 0xc3, 0x28, 0x0a]));
    await expectError('text invalid UTF-8', p, () => readTrainingData(p), 2);
    await expectError('readText invalid UTF-8', p, () => readText(p), 2);
    p = put('.txt', Buffer.from('\uFEFFfirst\nsecond\n', 'utf16le'));
    await expectError('text UTF-16 with BOM read as UTF-8', p, () => readTrainingData(p), 1, ['UTF-16']);
    let utf16: TrainingData | undefined;
    record(AREA, 'text UTF-16 with encoding utf-16le', await classifyCall(async () => { utf16 = (await readTrainingData(p, { encoding: 'utf-16le' })).data; }, {
      correct: () => JSON.stringify(strip(utf16!)) === JSON.stringify({ kind: 'texts', docs: [{ text: 'first' }, { text: 'second' }] }),
    }));
    p = put('.csv', Buffer.from('\uFEFFtext,label\na b,x\nc d,y\n', 'utf16le'));
    await expectError('csv UTF-16 with BOM read as UTF-8', p, () => readTrainingData(p), 1, ['UTF-16']);
    p = put('.txt', 'a\n');
    await expectError('text unknown encoding', p, () => readTrainingData(p, { encoding: 'klingon' }), undefined, ['klingon']);
    const missing = path.join(dir, 'nope.txt');
    await expectError('text missing file', missing, () => readTrainingData(missing), undefined, [/not found/]);
  });
});

// ---------------------------------------------------------------- BEIR folders and qrels

function beirFolder(files: { corpus?: string; queries?: string; qrels?: string }): string {
  const d = path.join(dir, `beir-${n++}`);
  fs.mkdirSync(path.join(d, 'qrels'), { recursive: true });
  if (files.corpus !== undefined) fs.writeFileSync(path.join(d, 'corpus.jsonl'), files.corpus);
  if (files.queries !== undefined) fs.writeFileSync(path.join(d, 'queries.jsonl'), files.queries);
  if (files.qrels !== undefined) fs.writeFileSync(path.join(d, 'qrels', 'test.tsv'), files.qrels);
  return d;
}
const CORPUS = '{"_id":"d1","title":"","text":"alpha"}\n{"_id":"d2","text":"beta"}\n';
const QUERIES = '{"_id":"q1","text":"alpha?"}\n{"_id":"q2","text":"beta?"}\n';
const QRELS = 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\n';

describe('BEIR folders', () => {
  it('a well-formed folder, with and without a qrels header', async () => {
    for (const [name, qrels] of [['header', QRELS], ['no header', 'q1\td1\t1\nq2\td2\t2\n']] as const) {
      const d = beirFolder({ corpus: CORPUS, queries: QUERIES, qrels });
      let got: Awaited<ReturnType<typeof readBeir>> | undefined;
      record(AREA, `beir well-formed (${name})`, await classifyCall(async () => { got = await readBeir(d); }, {
        correct: () => got!.corpus.length === 2 && got!.queries.length === 2 && got!.qrels.get('q1')?.get('d1') === 1 && got!.qrels.get('q2')?.get('d2') === 2,
      }));
    }
  });
  const cases: [string, { corpus?: string; queries?: string; qrels?: string }, string, number | undefined, (string | RegExp)[]?][] = [
    ['no corpus.jsonl', { queries: QUERIES, qrels: QRELS }, 'corpus.jsonl', undefined],
    ['no queries.jsonl', { corpus: CORPUS, qrels: QRELS }, 'queries.jsonl', undefined],
    ['no qrels/test.tsv', { corpus: CORPUS, queries: QUERIES }, 'test.tsv', undefined],
    ['empty qrels', { corpus: CORPUS, queries: QUERIES, qrels: '' }, 'test.tsv', undefined],
    ['qrels header only', { corpus: CORPUS, queries: QUERIES, qrels: 'query-id\tcorpus-id\tscore\n' }, 'test.tsv', undefined],
    ['header-less qrels whose first score is not a number', { corpus: CORPUS, queries: QUERIES, qrels: 'q1\td1\thigh\nq2\td2\t1\n' }, 'test.tsv', 1, ['high']],
    ['qrels non-numeric score', { corpus: CORPUS, queries: QUERIES, qrels: QRELS + 'q1\td2\tx\n' }, 'test.tsv', 4],
    ['qrels empty score', { corpus: CORPUS, queries: QUERIES, qrels: QRELS + 'q1\td2\t\n' }, 'test.tsv', 4],
    ['qrels two columns', { corpus: CORPUS, queries: QUERIES, qrels: QRELS + 'q1\td2\n' }, 'test.tsv', 4],
    ['qrels four columns', { corpus: CORPUS, queries: QUERIES, qrels: QRELS + 'q1\t0\td2\t1\n' }, 'test.tsv', 4],
    ['qrels space-separated', { corpus: CORPUS, queries: QUERIES, qrels: 'q1 d1 1\n' }, 'test.tsv', 1],
    ['qrels unknown query id', { corpus: CORPUS, queries: QUERIES, qrels: QRELS + 'q9\td1\t1\n' }, 'test.tsv', 4, ['q9']],
    ['qrels unknown corpus id', { corpus: CORPUS, queries: QUERIES, qrels: QRELS + 'q1\td9\t1\n' }, 'test.tsv', 4, ['d9']],
    ['qrels duplicate judgement', { corpus: CORPUS, queries: QUERIES, qrels: QRELS + 'q1\td1\t0\n' }, 'test.tsv', 4],
    ['corpus duplicate id', { corpus: CORPUS + '{"_id":"d1","text":"again"}\n', queries: QUERIES, qrels: QRELS }, 'corpus.jsonl', 3],
    ['queries duplicate id', { corpus: CORPUS, queries: QUERIES + '{"_id":"q1","text":"again"}\n', qrels: QRELS }, 'queries.jsonl', 3],
    ['corpus record without _id', { corpus: CORPUS + '{"text":"x"}\n', queries: QUERIES, qrels: QRELS }, 'corpus.jsonl', 3],
    ['corpus bad JSON', { corpus: CORPUS + '{"_id":\n', queries: QUERIES, qrels: QRELS }, 'corpus.jsonl', 3],
    ['empty corpus', { corpus: '', queries: QUERIES, qrels: QRELS }, 'corpus.jsonl', undefined],
    ['empty queries', { corpus: CORPUS, queries: '', qrels: QRELS }, 'queries.jsonl', undefined],
  ];
  it.each(cases)('%s', async (name, files, file, line, also) => {
    const d = beirFolder(files);
    const mentions = [file, ...(line !== undefined ? [`${file}:${line}:`] : []), ...(also ?? [])];
    record(AREA, `beir ${name}`, await classifyCall(() => readBeir(d), { mentions }));
  });
  it('a BEIR folder given where a data file is expected, and a missing split', async () => {
    const d = beirFolder({ corpus: CORPUS, queries: QUERIES, qrels: QRELS });
    record(AREA, 'beir folder given to readTrainingData', await classifyCall(() => readTrainingData(d), { mentions: [d, 'BEIR'] }));
    record(AREA, 'beir missing split', await classifyCall(() => readBeir(d, { split: 'dev' }), { mentions: ['dev.tsv'] }));
    record(AREA, 'readQrels on a folder', await classifyCall(() => readQrels(path.join(d, 'qrels')), { mentions: ['qrels', 'folder'] }));
    record(AREA, 'readJsonl on a folder', await classifyCall(() => readJsonl(d), { mentions: [d, 'folder'] }));
    record(AREA, 'readText on a folder', await classifyCall(() => readText(d), { mentions: [d, 'folder'] }));
    const file = path.join(d, 'corpus.jsonl');
    record(AREA, 'readBeir on a file', await classifyCall(() => readBeir(file), { mentions: [file] }));
    const plain = path.join(dir, `plain-${n++}`);
    fs.mkdirSync(plain);
    record(AREA, 'readTrainingData on a folder without data', await classifyCall(() => readTrainingData(plain), { mentions: [plain, 'train.jsonl'] }));
    const jsonDir = path.join(dir, `data-${n++}.json`);
    fs.mkdirSync(jsonDir);
    fs.mkdirSync(path.join(jsonDir, 'train.jsonl'));
    record(AREA, 'readTrainingData on a run folder whose train.jsonl is a folder', await classifyCall(() => readTrainingData(jsonDir), { mentions: ['train.jsonl', 'folder'] }));
    const p = put('.json', Buffer.from('[\n {"text": "a"},\n {"text": "\xff"}\n]', 'latin1'));
    record(AREA, 'json invalid UTF-8 names its line', await classifyCall(() => readTrainingData(p), { mentions: [`${base(p)}:3:`] }));
  });
});

// ---------------------------------------------------------------- systematic damage of valid files

/**
 * Seeded damage of a valid file: truncation, byte replacement, bit flips, inserted special bytes;
 * `at` is the byte offset of the damage in the original.
 */
function damaged(source: Uint8Array, seed: number, k: number): { name: string; bytes: Uint8Array; at: number }[] {
  const bytes = Uint8Array.from(source); // a plain copy: Buffer#slice would share (and let each case damage the next)
  const rnd = mulberry32(seed);
  const pos = () => Math.floor(rnd() * bytes.length);
  const SPECIAL = [0x00, 0x0a, 0x0d, 0x22, 0x2c, 0x09, 0x7b, 0x5d, 0xff, 0xc3, 0xef];
  const out: { name: string; bytes: Uint8Array; at: number }[] = [];
  for (let i = 0; i < k; i++) {
    const t = pos();
    out.push({ name: `truncated at ${t}`, bytes: bytes.slice(0, t), at: t });
    const r = pos();
    const b = Math.floor(rnd() * 256);
    const rep = bytes.slice();
    rep[r] = b;
    out.push({ name: `byte ${r} := 0x${b.toString(16)}`, bytes: rep, at: r });
    const f = pos();
    const bit = Math.floor(rnd() * 8);
    const flip = bytes.slice();
    flip[f] ^= 1 << bit;
    out.push({ name: `bit ${bit} of byte ${f} flipped`, bytes: flip, at: f });
    const s = pos();
    const c = SPECIAL[Math.floor(rnd() * SPECIAL.length)];
    out.push({ name: `0x${c.toString(16)} inserted at ${s}`, bytes: Uint8Array.from([...bytes.slice(0, s), c, ...bytes.slice(s)]), at: s });
  }
  return out;
}

/** The items of a reading, in order, as comparable strings (generated ids left out). */
function itemsOf(d: TrainingData): string[] {
  switch (d.kind) {
    case 'texts': case 'labeled': return d.documents.map((x) => JSON.stringify([x.text, x.label ?? null]));
    case 'pairs': return d.queries.map((q) => JSON.stringify(q.text));
    case 'scored': return d.pairs.map((x) => JSON.stringify(x));
    case 'margins': return d.examples.map((x) => JSON.stringify(x));
  }
}

/** [kind, extension, text, line of the first data row] (every data row one line). */
const VALID: [string, string, string, number][] = [
  ['csv labeled', '.csv', 'text,label\n"the cat, sat",animal\na red car,vehicle\n"a ""dog""",animal\nblue bike,vehicle\n', 2],
  ['csv scored', '.csv', 'sentence1,sentence2,score\nthe cat,a feline,0.9\nthe car,a banana,0.05\n', 2],
  ['tsv pairs', '.tsv', 'query\tdocument\nwhat is a cat\tA cat is an animal.\nwhat is a car\tA car is a vehicle.\n', 2],
  ['jsonl texts', '.jsonl', '{"id":"1","text":"first document"}\n{"id":"2","text":"second document"}\n{"id":"3","text":"third"}\n', 1],
  ['jsonl margins', '.jsonl', '{"query":"q one","positive":"pos","negative":"neg","margin":0.5}\n{"query":"q two","positive":"p2","negatives":["n1","n2"],"margins":[0.1,0.2]}\n', 1],
  ['json DocumentArray', '.json', '[\n {"text": "a cat", "tags": {"finetuner_label": "animal"}},\n {"text": "a car", "tags": {"finetuner_label": "vehicle"}}\n]\n', 2],
  ['text list', '.txt', 'first query\nsecond query\nthird query\n', 1],
];

describe('systematic damage of valid files (seeded)', () => {
  VALID.forEach(([kind, ext, text, firstDataLine], v) => {
    it(`${kind}: truncation / byte / bit / insertion`, async () => {
      const original = itemsOf((await readTrainingData(put(ext, text, 'orig'))).data);
      for (const c of damaged(Buffer.from(text), 1000 + v, 10)) {
        const p = put(ext, c.bytes, 'dmg');
        // the rows on the lines before the damaged one must read exactly as before (unless the damage is in the header)
        const line = text.slice(0, c.at).split('\n').length;
        const intact = line > firstDataLine ? line - firstDataLine : 0;
        let got: TrainingData | undefined;
        record(AREA, `${kind}: ${c.name}`, await classifyCall(async () => { got = (await readTrainingData(p)).data; }, {
          mentions: [base(p)],
          correct: () => {
            const items = itemsOf(got!);
            return sane(got!, lineCount(p)) && (firstDataLine > 1 && line === 1 ? true : original.slice(0, intact).every((x, i) => items[i] === x));
          },
        }));
      }
    });
  });
  it('BEIR qrels and corpus: truncation / byte / bit / insertion', async () => {
    const files = { corpus: CORPUS, queries: QUERIES, qrels: QRELS };
    for (const which of ['corpus', 'qrels'] as const) {
      for (const c of damaged(Buffer.from(files[which]), which === 'corpus' ? 7 : 8, 8)) {
        const d = beirFolder({ ...files, [which]: Buffer.from(c.bytes).toString('latin1') });
        if (which === 'corpus') fs.writeFileSync(path.join(d, 'corpus.jsonl'), c.bytes);
        else fs.writeFileSync(path.join(d, 'qrels', 'test.tsv'), c.bytes);
        let got: Awaited<ReturnType<typeof readBeir>> | undefined;
        record(AREA, `beir ${which}: ${c.name}`, await classifyCall(async () => { got = await readBeir(d); }, {
          // a damaged corpus id makes the qrels name a document the corpus no longer has: either file may be named
          mentions: [which === 'corpus' ? /corpus\.jsonl|test\.tsv/ : 'test.tsv'],
          correct: () => got!.corpus.length > 0 && got!.corpus.length <= 2 && [...got!.qrels.values()].every((m) => [...m.values()].every(Number.isFinite))
            && [...got!.qrels.entries()].every(([q, m]) => got!.queries.some((x) => x.id === q) && [...m.keys()].every((id) => got!.corpus.some((x) => x.id === id))),
        }));
      }
    }
  });
  it('errors are DataErrors (not only user errors)', async () => {
    const p = put('.jsonl', '{"text":');
    await expect(readTrainingData(p)).rejects.toBeInstanceOf(DataError);
  });
});

// ---------------------------------------------------------------- malformed data through the CLI

describe('malformed data through the CLI (one line naming file:line, exit 2)', () => {
  const BAD: [string, string, string, number][] = [
    ['jsonl bad JSON on line 3', '.jsonl', '{"text":"a b"}\n{"text":"c d"}\n{"text":\n', 3],
    ['jsonl empty text on line 2', '.jsonl', '{"text":"a b"}\n{"text":""}\n', 2],
    ['jsonl margins row without margin on line 2', '.jsonl', '{"query":"q","positive":"p","negative":"n","margin":1}\n{"query":"q2","positive":"p2","negative":"n2"}\n', 2],
    ['csv unbalanced quote on line 3', '.csv', 'text,label\na b,x\n"c d,y\n', 3],
    ['csv unbalanced quote on line 5 after blank lines', '.csv', 'text,label\na b,x\n\n\n"c d,y\ne f,z\n', 5],
    ['csv unbalanced quote on line 4 after a quoted newline', '.csv', 'text,label\n"a\nb",x\n"c d,y\n', 4],
    ['csv non-numeric score on line 2', '.csv', 'sentence1,sentence2,score\na b,c d,high\n', 2],
    ['json element without text on line 3', '.json', '[\n {"text": "a b"},\n {"title": "c"}\n]\n', 3],
    ['text invalid UTF-8 on line 2', '.txt', 'a b\nc \xff d\n', 2],
  ];
  it.each(BAD)('%s: inspect, fit, evaluate, synthesize', async (_name, ext, text, line) => {
    const f = put(ext, Buffer.from(text, 'latin1'), 'cli');
    const mentions = [`${base(f)}:${line}:`];
    const tok = path.join(dir, 'tok');
    if (!fs.existsSync(tok)) writeWordPieceTokenizer(tok, ['a b c d', 'hello world'], { vocabSize: 40 });
    const corpus = put('.jsonl', '{"_id":"d1","text":"a b"}\n{"_id":"d2","text":"c d"}\n{"_id":"d3","text":"e f"}\n', 'corpus');
    const runs: [string, string[]][] = [
      ['inspect', [f]],
      ['fit', ['--train', f, '--method', 'static', '--tokenizer', tok, '--dim', '4', '--out', path.join(dir, `fit-${n++}`), '--quiet']],
      ['evaluate', ['--query-data', f, '--model', 'bm25']],
      ['synthesize', ['--queries', f, '--corpus', corpus, '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '2', '--out', path.join(dir, `syn-${n++}`)]],
    ];
    for (const [cmd, args] of runs) {
      const r = await runCli(cmd, args);
      const lines = r.err.split('\n');
      const at = lines.findIndex((l) => l.startsWith(`synthtune ${cmd}: `));
      const err = at < 0 ? r.err : lines.slice(at).join('\n').split('\n\n')[0];
      // inspect reads empty texts on purpose and reports them (a warning with the count)
      const correct = cmd === 'inspect' && _name.includes('empty text') ? () => /1 empty text/.test(r.out) : undefined;
      record(AREA, `${cmd}: ${_name}`, await classifyRun({ ...r, err }, { mentions, correct }));
    }
  });
});

describe('BEIR documents with no text, evaluated', () => {
  it('bm25 and a dense model search them as empty texts (as BEIR does) and say so', async () => {
    const d = beirFolder({ corpus: CORPUS + '{"_id":"d3","title":"","text":""}\n', queries: QUERIES, qrels: QRELS });
    const model = path.join(dir, 'model');
    const { writeTinyModel } = await import('../../lib/models/tiny');
    writeTinyModel(model, { vocabSize: 60, texts: ['alpha beta alpha? beta?'], shape: { hidden: 8, layers: 1, heads: 2, intermediate: 16, maxPosition: 32 } });
    for (const m of ['bm25', model]) {
      const r = await runCli('evaluate', ['--data', d, '--model', m, '--json']);
      record(AREA, `evaluate (${m === 'bm25' ? 'bm25' : 'dense'}) with a document with no text`, await classifyRun(r, {
        correct: () => /1 document\(s\) with no title and no text \('d3'\)/.test(r.err) && Object.entries(JSON.parse(r.out) as Record<string, number>).every(([k, v]) => k.startsWith('dcg@') || (v >= 0 && v <= 1)),
      }));
    }
  }, 60_000);
});

describe('in-memory documents (toDocuments)', () => {
  it('bad items name their 1-based position', async () => {
    const cases: [string, unknown, (string | RegExp)[]][] = [
      ['not an array', 'just a string', ['array']],
      ['null', null, ['array']],
      ['empty array', [], ['empty']],
      ['a number item', ['a', 5], ['<memory>:2:']],
      ['a null item', ['a', null], ['<memory>:2:']],
      ['text a number', [{ text: 'a' }, { text: 7 }], ['<memory>:2:', 'text']],
      ['title a number', [{ text: 'a', title: 3 }], ['<memory>:1:', 'title']],
      ['id an object', [{ text: 'a', id: { x: 1 } }], ['<memory>:1:', 'id']],
      ['duplicate ids', [{ id: 1, text: 'a' }, { id: '1', text: 'b' }], ['<memory>:2:', 'duplicate']],
    ];
    for (const [name, items, mentions] of cases) record(AREA, `toDocuments ${name}`, await classifyCall(() => toDocuments(items as never), { mentions }));
    let got: ReturnType<typeof toDocuments> | undefined;
    record(AREA, 'toDocuments strings and objects', await classifyCall(() => { got = toDocuments(['a', { id: 7, text: 'b', title: 't' }]); }, {
      correct: () => got!.length === 2 && got![0].text === 'a' && got![1].id === '7' && got![1].title === 't',
    }));
  });
});
