/**
 * lib/data readers on temp files: every format, dialect and CSV shape, and every error naming
 * file and line. BEIR checks on ../shared/data/scifact run only when that folder exists.
 */
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  beirText, contentId, DataError, readBeir, readCsv, readJsonl, readLines, readQrels, readText, toDocuments, writeFileAtomic,
} from '../lib/data/index';

const dir = mkdtempSync(path.join(os.tmpdir(), 'synthtune-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: string | Buffer, name = `f${n++}.txt`): string {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** Expects a DataError whose message starts with `<file>:<line>:` and matches `re`. */
async function expectDataError(p: Promise<unknown>, f: string, line: number | undefined, re: RegExp) {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(DataError);
  const e = err as DataError;
  expect(e.name).toBe('DataError');
  expect(e.message.startsWith(line === undefined ? `${f}: ` : `${f}:${line}: `), e.message).toBe(true);
  expect(e.message).toMatch(re);
}

describe('text files', () => {
  it('one item per line, blank lines skipped, CRLF handled, content ids', async () => {
    const f = file('first item\r\n\r\nsecond item\nfirst item\n');
    const docs = await readText(f);
    expect(docs.map((d) => d.text)).toEqual(['first item', 'second item', 'first item']);
    expect(docs[0].id).toBe(contentId('first item'));
    expect(docs[0].id).toMatch(/^[0-9a-f]{16}$/);
    expect(docs[2].id).toBe(`${contentId('first item')}~2`);
    // stable: the same text has the same id whatever its position
    expect((await readText(file('other\nsecond item')))[1].id).toBe(docs[1].id);
  });

  it('empty file and missing file', async () => {
    const f = file('');
    await expectDataError(readText(f), f, undefined, /empty file/);
    const blank = file('\n  \n');
    await expectDataError(readText(blank), blank, undefined, /empty file/);
    const missing = path.join(dir, 'nope.txt');
    await expectDataError(readText(missing), missing, undefined, /not found/);
  });

  it('invalid UTF-8 names the line', async () => {
    const f = file(Buffer.concat([Buffer.from('ok\nstill ok\nbad '), Buffer.from([0xc3, 0x28]), Buffer.from('\nok\n')]));
    await expectDataError(readText(f), f, 3, /invalid utf-8/);
  });

  it('encoding option (latin1)', async () => {
    const f = file(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])); // "café" in latin1, invalid as UTF-8
    await expectDataError(readText(f), f, 1, /invalid utf-8/);
    expect((await readText(f, { encoding: 'latin1' }))[0].text).toBe('café');
    await expectDataError(readText(f, { encoding: 'klingon' }), f, undefined, /unknown encoding/);
  });

  it('UTF-16 files are decoded in streaming mode', async () => {
    const f = file(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('première\r\nseconde\n', 'utf16le')]));
    expect((await readText(f, { encoding: 'utf-16le' })).map((d) => d.text)).toEqual(['première', 'seconde']);
  });

  it('streams: lines longer than a read chunk, multi-byte characters across chunk borders', async () => {
    const long = 'é'.repeat(1_500_000) + 'x'; // 3 MB, crosses 1 MB chunk borders mid-character
    const f = file(`${long}\nshort\n${long}`);
    const lines: number[] = [];
    for await (const l of readLines(f)) lines.push(l.text.length);
    expect(lines).toEqual([long.length, 5, long.length]);
  });
});

describe('JSONL', () => {
  it('reads _id/id, text, title, label, tags/metadata', async () => {
    const f = file(
      [
        JSON.stringify({ _id: 'a', title: 'T', text: 'alpha', metadata: { src: 1 } }),
        '',
        JSON.stringify({ id: 7, text: 'beta', label: 3, tags: { x: true } }),
        JSON.stringify({ text: 'gamma' }),
      ].join('\n'),
    );
    const docs = await readJsonl(f);
    expect(docs).toEqual([
      { id: 'a', title: 'T', text: 'alpha', tags: { src: 1 } },
      { id: '7', text: 'beta', label: '3', tags: { x: true } },
      { id: contentId('gamma'), text: 'gamma' },
    ]);
  });

  it('errors: bad JSON, not an object, missing text, duplicate id, empty, invalid UTF-8', async () => {
    const bad = file('{"_id":"a","text":"x"}\n{"_id": "b", "text": \n');
    await expectDataError(readJsonl(bad), bad, 2, /bad JSON/);
    const arr = file('{"_id":"a","text":"x"}\n[1,2]\n');
    await expectDataError(readJsonl(arr), arr, 2, /expected a JSON object/);
    const noText = file('{"_id":"a","title":"x"}\n');
    await expectDataError(readJsonl(noText), noText, 1, /missing field 'text'/);
    const dup = file('{"_id":"a","text":"x"}\n{"_id":"b","text":"y"}\n{"_id":"a","text":"z"}\n');
    await expectDataError(readJsonl(dup), dup, 3, /duplicate id 'a' \(first seen on line 1\)/);
    const empty = file('\n');
    await expectDataError(readJsonl(empty), empty, undefined, /empty file/);
    const utf = file(Buffer.concat([Buffer.from('{"text":"ok"}\n{"text":"'), Buffer.from([0xff]), Buffer.from('"}\n')]));
    await expectDataError(readJsonl(utf), utf, 2, /invalid utf-8/);
    const noId = file('{"text":"x"}\n');
    await expectDataError(readJsonl(noId, { requireId: true }), noId, 1, /missing field '_id'/);
  });
});

describe('CSV', () => {
  it('labeled rows with quoted commas, doubled quotes and newlines (excel)', async () => {
    const f = file('text,label\n"hello, ""world""\nsecond line",greeting\nplain,other\n');
    const data = await readCsv(f, { isLabeled: true, dialect: 'excel' });
    expect(data.kind).toBe('labeled');
    if (data.kind !== 'labeled') return;
    expect(data.documents.map((d) => [d.text, d.label])).toEqual([
      ['hello, "world"\nsecond line', 'greeting'],
      ['plain', 'other'],
    ]);
    expect(data.documents[0].id).toBe(contentId('hello, "world"\nsecond line'));
  });

  it('dialects excel-tab and unix, and automatic detection', async () => {
    const tab = file('a, with comma\tA\n"quoted\ttab"\tB\n');
    const t = await readCsv(tab, { isLabeled: true, dialect: 'excel-tab' });
    expect(t.kind === 'labeled' && t.documents.map((d) => d.text)).toEqual(['a, with comma', 'quoted\ttab']);
    const auto = await readCsv(tab, { isLabeled: true });
    expect(auto).toEqual(t);
    const unix = file('"x","A"\n"y, z","B"\n');
    const u = await readCsv(unix, { isLabeled: true, dialect: 'unix' });
    expect(u.kind === 'labeled' && u.documents.map((d) => d.text)).toEqual(['x', 'y, z']);
    const semi = file('one;A\n"two; three";B\nfour;C\n');
    const s = await readCsv(semi, { isLabeled: true });
    expect(s.kind === 'labeled' && s.documents.map((d) => d.label)).toEqual(['A', 'B', 'C']);
    const single = file("'x, y',A\n'z',B\n");
    const q = await readCsv(single, { isLabeled: true, dialect: 'auto' });
    expect(q.kind === 'labeled' && q.documents.map((d) => d.text)).toEqual(['x, y', 'z']);
  });

  it('query-document pairs: documents of one query share its label', async () => {
    const f = file('query,document\nwhat is a cat,cats are felines\nwhat is a dog,dogs bark\nwhat is a cat,a small feline\n');
    const data = await readCsv(f);
    expect(data.kind).toBe('pairs');
    if (data.kind !== 'pairs') return;
    expect(data.queries.map((q) => q.text)).toEqual(['what is a cat', 'what is a dog']);
    const [cat, dog] = data.queries;
    expect(cat.label).toBe(cat.id);
    expect(data.documents.map((d) => d.label)).toEqual([cat.id, dog.id, cat.id]);
  });

  it('scored pairs with scores in [0, 1]', async () => {
    const f = file('sentence1,sentence2,score\na,b,0.5\nc,d,1\ne,f,0\n');
    const data = await readCsv(f);
    expect(data).toEqual({ kind: 'scored', pairs: [{ left: 'a', right: 'b', score: 0.5 }, { left: 'c', right: 'd', score: 1 }, { left: 'e', right: 'f', score: 0 }] });
  });

  it('header: auto keeps a first row that is data, true always skips it, false never does', async () => {
    const f = file('apple,fruit\ncar,vehicle\n');
    const auto = await readCsv(f, { isLabeled: true });
    expect(auto.kind === 'labeled' && auto.documents.length).toBe(2);
    const skip = await readCsv(f, { isLabeled: true, header: true });
    expect(skip.kind === 'labeled' && skip.documents.map((d) => d.text)).toEqual(['car']);
    const h = file('text,label\nx,y\n');
    const keep = await readCsv(h, { isLabeled: true, header: false });
    expect(keep.kind === 'labeled' && keep.documents[0].text).toBe('text');
  });

  it('size and seeded samplingRate', async () => {
    const rows = Array.from({ length: 1000 }, (_, i) => `row ${i},L${i % 7}`).join('\n');
    const f = file(rows);
    const first = await readCsv(f, { isLabeled: true, size: 10 });
    expect(first.kind === 'labeled' && first.documents.map((d) => d.text)).toEqual(Array.from({ length: 10 }, (_, i) => `row ${i}`));
    const a = await readCsv(f, { isLabeled: true, samplingRate: 0.3, seed: 1 });
    const b = await readCsv(f, { isLabeled: true, samplingRate: 0.3, seed: 1 });
    const c = await readCsv(f, { isLabeled: true, samplingRate: 0.3, seed: 2 });
    const texts = (d: typeof a) => (d.kind === 'labeled' ? d.documents.map((x) => x.text) : []);
    expect(texts(a)).toEqual(texts(b));
    expect(texts(a)).not.toEqual(texts(c));
    expect(texts(a).length).toBeGreaterThan(230);
    expect(texts(a).length).toBeLessThan(370);
    const capped = await readCsv(f, { isLabeled: true, samplingRate: 0.5, size: 20 });
    expect(texts(capped).length).toBe(20);
    await expect(readCsv(f, { samplingRate: 0 })).rejects.toThrow(RangeError);
  });

  it('encoding option', async () => {
    const f = file(Buffer.from('caf\xe9,drink\n', 'latin1'));
    const d = await readCsv(f, { isLabeled: true, encoding: 'latin1' });
    expect(d.kind === 'labeled' && d.documents[0].text).toBe('café');
    await expectDataError(readCsv(f, { isLabeled: true }), f, 1, /invalid utf-8/);
  });

  it('errors: missing and extra columns, bad scores, empty file, header only, unclosed quote', async () => {
    const missing = file('a,A\nb\n');
    await expectDataError(readCsv(missing, { isLabeled: true }), missing, 2, /missing column\(s\): expected 2, got 1/);
    const extra = file('a,A\n"multi\nline",B\nc,C,x\n');
    await expectDataError(readCsv(extra, { isLabeled: true }), extra, 4, /extra column\(s\): expected 2, got 3/);
    const labeled3 = file('a,A,x\n');
    await expectDataError(readCsv(labeled3, { isLabeled: true }), labeled3, 1, /extra column/);
    const four = file('a,b,0.5,x\n');
    await expectDataError(readCsv(four), four, 1, /4 columns fit no shape; considered one column/);
    const range = file('a,b,0.5\nc,d,1.5\n');
    await expectDataError(readCsv(range), range, 2, /score 1.5 outside \[0, 1\]/);
    const nan = file('a,b,0.5\nc,d,high\n');
    await expectDataError(readCsv(nan), nan, 2, /score 'high' is not a number/);
    const empty = file('');
    await expectDataError(readCsv(empty), empty, undefined, /empty file/);
    const headerOnly = file('text,label\n');
    await expectDataError(readCsv(headerOnly, { isLabeled: true }), headerOnly, undefined, /only a header/);
    const unclosed = file('a,A\n"open,B\nc,C\n');
    await expectDataError(readCsv(unclosed, { isLabeled: true }), unclosed, 2, /quote .* never closed/);
    const badQuote = file('a,A\nb"c"d,B\n');
    await expectDataError(readCsv(badQuote, { isLabeled: true }), badQuote, 2, /quote/i);
    const emptyField = file('a,A\n,B\n');
    await expectDataError(readCsv(emptyField, { isLabeled: true }), emptyField, 2, /empty field/);
  });
});

describe('BEIR folders', () => {
  function beir(files: Record<string, string>): string {
    const d = mkdtempSync(path.join(dir, 'beir-'));
    mkdirSync(path.join(d, 'qrels'));
    for (const [name, content] of Object.entries(files)) writeFileSync(path.join(d, name), content);
    return d;
  }
  const corpus = [
    { _id: 'd1', title: 'Cats', text: 'Cats purr.' },
    { _id: 'd2', title: '', text: 'Dogs bark.' },
    { _id: 'd3', text: 'No title here.' },
  ].map((x) => JSON.stringify(x)).join('\n');
  const queries = ['{"_id":"q1","text":"purring"}', '{"_id":"q2","text":"barking"}', '{"_id":"q3","text":"unjudged"}'].join('\n');

  it('reads corpus, queries judged in the split, qrels with header', async () => {
    const d = beir({ 'corpus.jsonl': corpus, 'queries.jsonl': queries, 'qrels/test.tsv': 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\td3\t0\n' });
    const ds = await readBeir(d);
    expect(ds.corpus.map((x) => x.id)).toEqual(['d1', 'd2', 'd3']);
    expect(ds.queries.map((q) => q.id)).toEqual(['q1', 'q2']);
    expect(ds.qrels).toEqual(new Map([['q1', new Map([['d1', 1]])], ['q2', new Map([['d2', 2], ['d3', 0]])]]));
    expect(ds.corpus.map(beirText)).toEqual(['Cats Cats purr.', 'Dogs bark.', 'No title here.']);
    await expectDataError(readBeir(d, { split: 'dev' }), path.join(d, 'qrels', 'dev.tsv'), undefined, /not found/);
  });

  it('qrels errors name file and line', async () => {
    const mk = (qrels: string) => beir({ 'corpus.jsonl': corpus, 'queries.jsonl': queries, 'qrels/test.tsv': qrels });
    const cases: Array<[string, number, RegExp]> = [
      ['query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td1\t1\n', 3, /unknown query id 'q9'/],
      ['q1\td1\t1\nq1\td7\t1\n', 2, /unknown corpus id 'd7'/],
      ['query-id\tcorpus-id\tscore\nq1\td1\n', 2, /missing column/],
      ['query-id\tcorpus-id\tscore\nq1\td1\t1\t5\n', 2, /extra column/],
      ['query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t2\n', 3, /duplicate judgement .* \(first on line 2\)/],
      ['query-id\tcorpus-id\tscore\nq1\td1\tx\n', 2, /score 'x' is not a number/],
    ];
    for (const [content, line, re] of cases) {
      const d = mk(content);
      await expectDataError(readBeir(d), path.join(d, 'qrels', 'test.tsv'), line, re);
    }
    const onlyHeader = mk('query-id\tcorpus-id\tscore\n');
    await expectDataError(readBeir(onlyHeader), path.join(onlyHeader, 'qrels', 'test.tsv'), undefined, /empty file/);
  });

  it('corpus errors: duplicate id, missing _id, missing file', async () => {
    const dup = beir({ 'corpus.jsonl': corpus + '\n{"_id":"d2","text":"again"}', 'queries.jsonl': queries, 'qrels/test.tsv': 'q1\td1\t1\n' });
    await expectDataError(readBeir(dup), path.join(dup, 'corpus.jsonl'), 4, /duplicate id 'd2'/);
    const noId = beir({ 'corpus.jsonl': '{"text":"x"}', 'queries.jsonl': queries, 'qrels/test.tsv': 'q1\td1\t1\n' });
    await expectDataError(readBeir(noId), path.join(noId, 'corpus.jsonl'), 1, /missing field '_id'/);
    const noQueries = beir({ 'corpus.jsonl': corpus, 'qrels/test.tsv': 'q1\td1\t1\n' });
    await expectDataError(readBeir(noQueries), path.join(noQueries, 'queries.jsonl'), undefined, /not found/);
  });

  it('readQrels alone accepts files without header', async () => {
    const q = await readQrels(file('a\tb\t1\na\tc\t2\n'));
    expect(q.get('a')).toEqual(new Map([['b', 1], ['c', 2]]));
  });

  const scifact = path.resolve(__dirname, '../../shared/data/scifact');
  const hasScifact = existsSync(scifact);
  if (!hasScifact) console.log(`skipping the scifact checks: ${scifact} is absent`);
  it.skipIf(!hasScifact)('reads scifact (5183 documents, 300 test queries)', async () => {
    const ds = await readBeir(scifact, { split: 'test' });
    expect(ds.corpus.length).toBe(5183);
    expect(ds.queries.length).toBe(300);
    expect(ds.qrels.size).toBe(300);
    expect(new Set(ds.corpus.map((d) => d.id)).size).toBe(5183);
  });
});

describe('in-memory arrays', () => {
  it('strings and document-like objects', () => {
    const docs = toDocuments(['a', { id: 5, text: 'b', label: 'x' }, { text: 'c', title: 't' }, 'a']);
    expect(docs).toEqual([
      { id: contentId('a'), text: 'a' },
      { id: '5', text: 'b', label: 'x' },
      { id: contentId('c'), text: 'c', title: 't' },
      { id: `${contentId('a')}~2`, text: 'a' },
    ]);
  });

  it('errors name the position', () => {
    expect(() => toDocuments([])).toThrow(/empty input/);
    expect(() => toDocuments([{ id: 'x', text: 'a' }, { id: 'x', text: 'b' }])).toThrow(/^<memory>:2: duplicate id 'x'/);
    expect(() => toDocuments(['ok', { text: 3 } as never])).toThrow(/^<memory>:2: item needs a string 'text'/);
  });
});

describe('writeFileAtomic', () => {
  it('writes all chunks, and leaves the old file and no temp file when writing fails', async () => {
    const sub = mkdtempSync(path.join(dir, 'atomic-'));
    const target = path.join(sub, 'out.txt');
    await writeFileAtomic(target, ['a\n', 'b\n']);
    expect(readFileSync(target, 'utf8')).toBe('a\nb\n');
    function* failing() {
      yield 'x'.repeat(100_000);
      throw new Error('boom');
    }
    await expect(writeFileAtomic(target, failing())).rejects.toThrow('boom');
    expect(readFileSync(target, 'utf8')).toBe('a\nb\n');
    expect(readdirSync(sub)).toEqual(['out.txt']);
  });
});
