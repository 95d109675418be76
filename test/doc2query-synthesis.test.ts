/**
 * doc2query pseudo-queries in synthesize (issue 14, 2b): a T5 query generator in ONNX (the
 * random-weight fixture of test/python/make_t5.py) makes perDocument sampled queries per document;
 * they are the run's queries (replace) with their source document as positive, recorded in
 * generated-queries.jsonl and train.jsonl, part of the run's identity (config.json names the
 * generator), and the same on a rerun (a seed per batch).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadQueryGenerator } from '../lib/models/seq2seq';
import { synthesize } from '../lib/synthesis';
import { generateModelQueries } from '../lib/synthesis/pseudo-queries';
import { runCli } from './helpers/cli';
import { scratchDirs } from './helpers/models';
import { pythonMissing } from './helpers/python';

const tmp = scratchDirs('synthtune-doc2query-');
const noPython = pythonMissing(['torch', 'transformers', 'tokenizers', 'onnx']);
if (noPython) console.log(`doc2query synthesis tests skipped: ${noPython}`);

const CORPUS = [
  'the quick brown fox jumps over the lazy dog', 'protein folding and structure of chains', 'vaccines reduce the risk of infection',
  'ocean tides follow the moon', 'river deltas collect sediment in floods', 'gene expression differs between tissues',
  'clinical trials measure safety and dosage', 'embedding vectors help search engines', 'the moon and the tides of the sea',
  'a lazy dog sleeps in the sun', 'infection risk after surgery', 'search queries and documents',
].map((text, i) => ({ id: `d${i}`, text }));

describe.skipIf(!!noPython)('synthesize with a doc2query generator', () => {
  let t5: string;
  beforeAll(async () => {
    t5 = await tmp();
    const r = spawnSync('python3', [path.join(__dirname, 'python', 'make_t5.py'), t5], { encoding: 'utf8', env: { ...process.env, TOKENIZERS_PARALLELISM: 'false' } });
    if (r.status !== 0) throw new Error(`make_t5.py failed:\n${r.stderr}`);
  });

  it('generated queries replace the user\'s, are recorded, and are the same on a rerun', async () => {
    const out = path.join(await tmp(), 'run');
    const opts = {
      corpus: CORPUS, miner: 'bm25' as const, scorer: 'bm25' as const, numRelations: 3, out, seed: 7,
      generateQueries: { perDocument: 2, generator: t5, sampleDocuments: 6, mode: 'replace' as const, sampling: { maxNewTokens: 8 } },
    };
    const run = await synthesize(opts);
    const st = await run.wait();
    expect(st.status).toBe('FINISHED');
    const gen = fs.readFileSync(path.join(out, 'generated-queries.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(gen.length).toBeGreaterThan(0);
    expect(gen.length).toBeLessThanOrEqual(12);
    expect(new Set(gen.map((g) => g.sourceDocId)).size).toBeLessThanOrEqual(6);
    for (const g of gen) {
      expect(g.method).toBe('doc2query');
      expect(g.id).toMatch(new RegExp(`^gen-doc2query-${g.sourceDocId}-\\d$`));
    }
    // the same queries as the generator gives directly with the same settings
    const generator = await loadQueryGenerator(t5);
    try {
      const direct = await generateModelQueries(CORPUS, generator, { perDocument: 2, seed: 7, sampleDocuments: 6, maxNewTokens: 8 });
      expect(gen.map((g) => [g.id, g.text])).toEqual(direct.map((g) => [g.id, g.text]));
    } finally {
      await generator.release();
    }
    const rows = fs.readFileSync(run.trainData, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    for (const r of rows) {
      expect(r.generated).toBe('doc2query');
      const src = gen.find((g) => g.text === r.query);
      expect(src, r.query).toBeDefined();
      expect(r.positive).toBe(CORPUS.find((d) => d.id === src.sourceDocId)!.text);
    }
    const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(config.models.generator).toContain(path.resolve(t5));
    expect(config.parameters.generateQueries.generator).toMatchObject({ topK: 25, topP: 0.95, maxNewTokens: 8 });
    // a rerun on the folder generates the same queries, so it is the same (finished) run
    const before = fs.readFileSync(run.trainData);
    const again = await synthesize(opts);
    expect((await again.wait()).status).toBe('FINISHED');
    expect(fs.readFileSync(again.trainData)).toEqual(before);
    // other sampling is another synthesis
    await expect(synthesize({ ...opts, generateQueries: { ...opts.generateQueries, sampling: { maxNewTokens: 8, topK: 5 } } })).rejects.toThrow(/holds another synthesis run/);
  });

  it('the CLI takes --query-generator with --generate-queries, and only with it', async () => {
    const dir = await tmp();
    const corpus = path.join(dir, 'corpus.jsonl');
    fs.writeFileSync(corpus, CORPUS.map((d) => JSON.stringify({ _id: d.id, text: d.text })).join('\n'));
    const queries = path.join(dir, 'queries.txt');
    fs.writeFileSync(queries, 'fox and dog\nmoon tides\n');
    const bad = await runCli('synthesize', ['--queries', queries, '--corpus', corpus, '--miner', 'bm25', '--scorer', 'bm25', '--query-generator', t5, '--out', path.join(dir, 'x')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--query-generator needs --generate-queries/);
    const ok = await runCli('synthesize', ['--corpus', corpus, '--miner', 'bm25', '--scorer', 'bm25', '--num-relations', '3', '--generate-queries', '1',
      '--query-generator', t5, '--replace-queries', '--out', path.join(dir, 'run'), '--progress', 'none']);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.err).toMatch(/doc2query: \d+ queries from/);
    const gen = fs.readFileSync(path.join(dir, 'run', 'generated-queries.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(gen.every((g) => g.method === 'doc2query')).toBe(true);
  });
});
