/**
 * Self-mined negatives (lib/training/self-negatives.ts, fit's selfNegatives): which documents are
 * picked (the student's top ones outside each query's candidates, by a brute-force oracle), their
 * BM25 margins (an independent index over the same documents), cosine vs dot, limits and errors;
 * then fitRun on synthesized run folders: the default per BM25 teacher, the option, config.json,
 * and the refusals for rows another or an unknown teacher labelled.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bm25Builder } from '../lib/evaluation/bm25';
import { buildWordPieceTokenizer } from '../lib/models/wordpiece';
import { synthesize } from '../lib/synthesis';
import { fitRun } from '../lib/training/run';
import { selfMinedNegatives } from '../lib/training/self-negatives';
import type { TextExample } from '../lib/training/data';
import { FakeEncoder, FakeScorer } from './synthesis-fakes';
import { runCli } from './helpers/cli';

const DOCS = [
  'volcano lava rock eruption', 'volcano ash cloud', 'glacier ice melt water', 'glacier valley snow',
  'reef coral fish water', 'reef diving boat', 'desert sand dune heat', 'desert cactus rain',
  'canyon river rock walls', 'canyon trail hike',
];
const ROWS: TextExample[] = [
  { query: 'volcano rock', positive: DOCS[0], negative: DOCS[1], margin: 1.5 },
  { query: 'volcano rock', positive: DOCS[0], negative: DOCS[8], margin: 2.5 },
  { query: 'reef water', positive: DOCS[4], negatives: [DOCS[2], DOCS[5]], margins: [0.5, 1.0] },
];
const DIM = 4;

/** Deterministic embeddings: a text's vector from its characters (no meaning, just fixed). */
function hashEmbed(texts: string[], scale = (_: string) => 1): Float32Array {
  const out = new Float32Array(texts.length * DIM);
  texts.forEach((t, i) => {
    for (let c = 0; c < t.length; c++) out[i * DIM + (c % DIM)] += ((t.charCodeAt(c) * 31 + c * 7) % 17) - 8;
    for (let k = 0; k < DIM; k++) out[i * DIM + k] *= scale(t);
  });
  return out;
}

/** The oracle: per query, documents by score (cosine or dot), best first, outside `seen`. */
function oracleTop(query: string, docs: string[], seen: Set<string>, k: number, cosine: boolean, embed: (t: string[]) => Float32Array): string[] {
  const q = embed([query]);
  const d = embed(docs);
  const norm = (m: Float32Array, o: number) => Math.sqrt(Array.from(m.subarray(o, o + DIM)).reduce((s, x) => s + x * x, 0)) || 1;
  const scored = docs.map((t, j) => {
    let s = 0;
    for (let c = 0; c < DIM; c++) s += q[c] * d[j * DIM + c];
    return { t, s: cosine ? s / (norm(q, 0) * norm(d, j * DIM)) : s };
  });
  return scored.filter((x) => !seen.has(x.t)).sort((a, b) => b.s - a.s).slice(0, k).map((x) => x.t);
}

describe('selfMinedNegatives', () => {
  const docsInRows = [...new Set(ROWS.flatMap((r) => [r.positive, ...(r.negatives ?? [r.negative!])]))];

  for (const cosine of [true, false]) {
    it(`picks the student's top documents outside each query's candidates (${cosine ? 'cosine' : 'dot'}), with BM25 margins`, () => {
      // per-text scales make cosine and dot rank differently
      const embed = (t: string[]) => hashEmbed(t, (s) => 1 + (s.length % 5));
      const r = selfMinedNegatives(ROWS, { perQuery: 2, dim: DIM, cosine, embed });
      expect(r.queries).toBe(2);
      expect(r.documents).toBe(docsInRows.length);
      const bm25 = new Bm25Builder();
      docsInRows.forEach((t, i) => bm25.add(`x${i}`, t));
      const index = bm25.build();
      const id = (t: string) => `x${docsInRows.indexOf(t)}`;
      for (const q of ['volcano rock', 'reef water']) {
        const mine = r.rows.filter((x) => x.query === q);
        const seen = new Set(ROWS.filter((x) => x.query === q).flatMap((x) => [x.positive, ...(x.negatives ?? [x.negative!])]));
        expect(mine.map((x) => x.negative)).toEqual(oracleTop(q, docsInRows, seen, 2, cosine, embed));
        for (const x of mine) {
          expect(x.positive).toBe(ROWS.find((y) => y.query === q)!.positive);
          expect(x.selfMined).toBe(true);
          const [p, n] = index.score(q, [id(x.positive), id(x.negative!)]);
          expect(x.margin).toBeCloseTo(p - n, 10);
        }
      }
      expect(r.meanMargin).toBeCloseTo(r.rows.reduce((s, x) => s + x.margin!, 0) / r.rows.length, 10);
      expect(r.meanOriginalMargin).toBeCloseTo((1.5 + 2.5 + 0.5 + 1.0) / 4, 10);
    });
  }

  it('the two rankings differ on this data (so the cosine/dot cases test something)', () => {
    const embed = (t: string[]) => hashEmbed(t, (s) => 1 + (s.length % 5));
    const docs = [...new Set(ROWS.flatMap((r) => [r.positive, ...(r.negatives ?? [r.negative!])]))];
    const a = oracleTop('reef water', docs, new Set(), docs.length, true, embed);
    const b = oracleTop('reef water', docs, new Set(), docs.length, false, embed);
    expect(a).not.toEqual(b);
  });

  it('returns fewer rows when fewer documents remain, none when every document is a candidate, and is deterministic', () => {
    const embed = (t: string[]) => hashEmbed(t);
    const many = selfMinedNegatives(ROWS, { perQuery: 50, dim: DIM, cosine: true, embed });
    // 6 distinct documents: each query has 3 candidates, so 3 are left to each
    expect(many.documents).toBe(6);
    expect(many.rows.length).toBe(6);
    expect(selfMinedNegatives(ROWS, { perQuery: 50, dim: DIM, cosine: true, embed })).toEqual(many);
    const all = [{ query: 'q', positive: DOCS[0], negatives: [DOCS[1], DOCS[2]], margins: [1, 2] }];
    expect(selfMinedNegatives(all, { perQuery: 3, dim: DIM, cosine: true, embed }).rows).toEqual([]);
    expect(selfMinedNegatives([], { perQuery: 3, dim: DIM, cosine: true, embed }).rows).toEqual([]);
  });

  it('refuses a bad count and embeddings of the wrong size', () => {
    const embed = (t: string[]) => hashEmbed(t);
    for (const perQuery of [0, -1, 1.5, NaN]) expect(() => selfMinedNegatives(ROWS, { perQuery, dim: DIM, cosine: true, embed })).toThrow(/perQuery must be an integer ≥ 1/);
    expect(() => selfMinedNegatives(ROWS, { perQuery: 1, dim: DIM, cosine: true, embed: (t) => new Float32Array(t.length * DIM - 1) })).toThrow(/embed returned/);
  });
});

describe('fitRun selfNegatives on synthesized run folders', () => {
  let tmp: string;
  let tokDir: string;
  const corpus = Array.from({ length: 30 }, (_, i) => ({ id: `d${i}`, text: `${DOCS[i % DOCS.length]} place${i} ${DOCS[(i * 3 + 1) % DOCS.length]}` }));
  const queries = ['volcano rock', 'reef water', 'glacier snow', 'desert heat', 'canyon river', 'lava ash', 'coral boat', 'ice melt'].map((text, i) => ({ id: `q${i}`, text }));
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'self-neg-'));
    tokDir = path.join(tmp, 'tok');
    const tok = buildWordPieceTokenizer([...corpus.map((d) => d.text), ...queries.map((q) => q.text)], { vocabSize: 200 });
    fs.mkdirSync(tokDir, { recursive: true });
    fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJson));
    fs.writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
    await (await synthesize({ queries, corpus, miner: 'bm25', scorer: 'bm25', numRelations: 4, seed: 1, out: path.join(tmp, 'bm25'), progress: 'none', log: () => undefined })).wait();
    await (await synthesize({ queries, corpus, miner: new FakeEncoder(16), scorer: new FakeScorer(), numRelations: 4, seed: 1, out: path.join(tmp, 'ce'), progress: 'none', log: () => undefined })).wait();
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const fitStatic = (train: string, out: string, extra: Record<string, unknown> = {}) => {
    const lines: string[] = [];
    return fitRun({ train, method: 'static', tokenizer: tokDir, dim: 8, epochs: 1, batchSize: 8, seed: 2, out: path.join(tmp, out), resume: false, log: (l) => lines.push(l), ...extra })
      .then((r) => ({ r, lines, config: JSON.parse(fs.readFileSync(path.join(tmp, out, 'config.json'), 'utf8')) }));
  };

  it('BM25 rows: as many per query as the rows hold, added to the training examples, logged and recorded', async () => {
    const { r, lines, config } = await fitStatic(path.join(tmp, 'bm25'), 'fit-auto');
    // 8 queries × 3 negatives = 24 rows; fewer than 40 queries, so none is held out
    expect(config.selfNegatives).toMatchObject({ value: 3, source: 'auto' });
    expect(config.selfNegatives.why).toMatch(/24 negatives of 8 queries/);
    expect(r.examples).toBe(24 + 8 * 3);
    expect(config.examples).toBe(48);
    expect(lines.join('\n')).toMatch(/self-mined negatives: 24 examples from 8 queries over the \d+ training documents/);
  });

  it('the option: a count, or 0 for none', async () => {
    const two = await fitStatic(path.join(tmp, 'bm25', 'train.jsonl'), 'fit-two', { selfNegatives: 2 });
    expect(two.config.selfNegatives).toMatchObject({ value: 2, source: 'option' });
    expect(two.r.examples).toBe(24 + 16);
    const none = await fitStatic(path.join(tmp, 'bm25'), 'fit-none', { selfNegatives: 0 });
    expect(none.config.selfNegatives).toMatchObject({ value: 0, source: 'option' });
    expect(none.r.examples).toBe(24);
    expect(none.lines.join('\n')).not.toMatch(/self-mined negatives: \d+ examples/);
  });

  it('rows of another or an unknown teacher: none by default, refused when asked for', async () => {
    const ce = await fitStatic(path.join(tmp, 'ce'), 'fit-ce');
    expect(ce.config.selfNegatives).toMatchObject({ value: 0, source: 'auto' });
    expect(ce.config.selfNegatives.why).toMatch(/cross-encoder/);
    expect(ce.r.examples).toBe(24);
    await expect(fitStatic(path.join(tmp, 'ce'), 'fit-ce-2', { selfNegatives: 2 })).rejects.toThrow(/needs rows labelled by BM25.*was labelled by a cross-encoder/);
    const bare = path.join(tmp, 'bare');
    fs.mkdirSync(bare, { recursive: true });
    fs.copyFileSync(path.join(tmp, 'bm25', 'train.jsonl'), path.join(bare, 'rows.jsonl'));
    const b = await fitStatic(path.join(bare, 'rows.jsonl'), 'fit-bare');
    expect(b.config.selfNegatives).toMatchObject({ value: 0, source: 'auto' });
    await expect(fitStatic(path.join(bare, 'rows.jsonl'), 'fit-bare-2', { selfNegatives: 1 })).rejects.toThrow(/rows\.jsonl has no synthesis config\.json/);
    await expect(fitStatic(path.join(tmp, 'bm25'), 'fit-bad', { selfNegatives: -1 })).rejects.toThrow(/must be an integer ≥ 0/);
  });

  it('is refused for losses without margins and for other methods; the CLI flag', async () => {
    await expect(fitStatic(path.join(tmp, 'bm25'), 'fit-mnrl', { loss: 'MultipleNegativesRankingLoss', selfNegatives: 2 })).rejects.toThrow(/selfNegatives.*adds Margin-MSE rows/);
    const ok = await runCli('fit', ['--train', path.join(tmp, 'bm25'), '--method', 'static', '--tokenizer', tokDir, '--dim', '8', '--epochs', '1', '--self-negatives', '1', '--out', path.join(tmp, 'fit-cli')]);
    expect(ok.code).toBe(0);
    expect(ok.err).toMatch(/fit: self-mined negatives 1 \(option\)/);
    const bad = await runCli('fit', ['--train', path.join(tmp, 'bm25'), '--method', 'static', '--tokenizer', tokDir, '--self-negatives', 'x', '--out', path.join(tmp, 'fit-cli-2')]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--self-negatives must be an integer ≥ 0, got 'x'/);
    // the static student's option: refused for the others, never ignored
    await expect(fitRun({ train: path.join(tmp, 'bm25'), method: 'adapter', model: path.join(tmp, 'no-model'), selfNegatives: 2, out: path.join(tmp, 'fit-ad'), log: null }))
      .rejects.toThrow(/selfNegatives \(--self-negatives\) is for the static student, not --method adapter/);
    const ad = await runCli('fit', ['--train', path.join(tmp, 'bm25'), '--method', 'adapter', '--model', tokDir, '--self-negatives', '2', '--out', path.join(tmp, 'fit-cli-3')]);
    expect(ad.code).not.toBe(0);
    expect(ad.err).toMatch(/--self-negatives is for --method static/);
  });
});
