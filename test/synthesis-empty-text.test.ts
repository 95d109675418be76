/** An empty document or query text is refused with its id (it used to become `"negative": ""` in train.jsonl). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError } from '../lib/data/errors';
import { synthesize } from '../lib/synthesis';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-empty-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('synthesize: empty texts', () => {
  const corpus = [{ id: 'd1', text: 'hello world' }, { id: 'd2', title: '', text: '  ' }, { id: 'd3', text: 'another doc about the world' }];
  it('a document with no title and no text: DataError naming it, nothing written', async () => {
    const out = path.join(tmp, 'a');
    const err = await synthesize({ queries: ['hello', 'world doc'], corpus, miner: 'bm25', scorer: 'bm25', numRelations: 3, out, progress: 'none' }).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(/<corpus>:2: document 'd2' has no text/);
    expect(fs.existsSync(path.join(out, 'train.jsonl'))).toBe(false);
  });
  it('a title alone is text enough; an empty query is refused', async () => {
    const titled = corpus.map((d) => (d.id === 'd2' ? { ...d, title: 'world title' } : d));
    const run = await synthesize({ queries: ['hello', 'world doc'], corpus: titled, miner: 'bm25', scorer: 'bm25', numRelations: 3, out: path.join(tmp, 'b'), progress: 'none' });
    const status = await run.wait();
    expect(status.examples).toBe(4);
    const rows = fs.readFileSync(run.trainData, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.every((r) => r.positive.trim() && r.negative.trim())).toBe(true);
    await expect(synthesize({ queries: ['hello', ' '], corpus, miner: 'bm25', scorer: 'bm25', numRelations: 3, out: path.join(tmp, 'c'), progress: 'none' }))
      .rejects.toThrow(/query '.*' has no text|empty/);
  });
});
