/**
 * Query-only adapters end to end (issue 13): the export holds both sides (a sentence-transformers
 * Router: the adapter in the 'query' route, nothing in the 'document' route), declares the score
 * it was trained with, and `synthtune evaluate` on it reproduces fitRun's "after" metrics exactly;
 * plain encode() on it is an error that says which side to call; the folder is self-contained
 * (moved elsewhere, it gives the same embeddings). Router folders written by sentence-transformers
 * itself read the same.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadEncoder } from '../lib/models/encoder';
import { readModelFolder, writeSentenceTransformersFilesSync } from '../lib/models/st-folder';
import { writeTinyModel } from '../lib/models/tiny';
import { fitRun } from '../lib/training/run';
import { runCli } from './helpers/cli';
import { maxAbsDiff, scratchDirs } from './helpers/models';
import { DOCS, QUERIES, writeTinyBeir } from './helpers/tiny-beir';
import { pythonMissing } from './helpers/python';

const tmp = scratchDirs('synthtune-adapter-sides-');


function trainFile(dir: string): string {
  const rows = QUERIES.flatMap((q, i) => [1, 2].map((j) => ({ query: q, positive: DOCS[3 * i], negative: DOCS[(3 * i + 3 * j + 1) % DOCS.length], margin: 0.5 + 0.1 * j })));
  const f = path.join(dir, 'train.jsonl');
  fs.writeFileSync(f, rows.map((r) => JSON.stringify(r)).join('\n'));
  return f;
}

describe('query-only adapter export', () => {
  let root: string;
  let base: string;
  let beir: string;
  beforeAll(async () => {
    root = await tmp();
    base = writeTinyModel(path.join(root, 'base'), { seed: 9, std: 0.2, texts: [...DOCS, ...QUERIES], vocabSize: 300 }).dir;
    beir = writeTinyBeir(path.join(root, 'beir'));
  });

  for (const score of ['cosine', 'dot'] as const) {
    it(`synthtune evaluate on the export reproduces fit's "after" metrics exactly (${score})`, async () => {
      const out = path.join(root, `fit-${score}`);
      const r = await fitRun({
        train: trainFile(root), method: 'adapter', model: base, epochs: 3, batchSize: 4, learningRate: 5e-2, seed: 1, score,
        evalData: beir, evalKs: [1, 3, 10], out, log: null,
      });
      expect(r.after).toBeDefined();
      expect(r.documentModel).toBe(path.resolve(r.modelDir));
      const folder = readModelFolder(r.modelDir);
      expect(folder.moduleTypes).toEqual(['Transformer', 'Pooling', 'Router']);
      expect(folder.routes?.query.map((m) => m.kind)).toEqual(['dense']);
      expect(folder.routes?.document).toEqual([]);
      expect(folder.similarity).toBe(score);
      const info = JSON.parse(fs.readFileSync(path.join(r.modelDir, 'synthtune.json'), 'utf8'));
      expect(JSON.stringify(info)).not.toContain(root); // no absolute path of this machine

      const cli = await runCli('evaluate', ['--data', beir, '--model', r.modelDir, '--k', '1,3,10', '--json']);
      expect(cli.code, cli.err).toBe(0);
      expect(cli.err).toMatch(/queries: .*Dense\(32→32\) \(the Router's 'query' route\)/);
      expect(cli.err).toMatch(new RegExp(`similarity ${score}`));
      const got = JSON.parse(cli.out) as Record<string, number>;
      for (const [k, v] of Object.entries(r.after!)) expect(got[k], k).toBe(v);
      // the base model alone scores differently on the query side
      const b = await runCli('evaluate', ['--data', beir, '--model', base, '--k', '1,3,10', '--json']);
      expect(JSON.parse(b.out)).not.toEqual(got);
    });
  }

  it('documents encode as the base model, queries through the adapter; plain encode() says which to call; the folder moves', async () => {
    const out = path.join(root, 'fit-move');
    const r = await fitRun({ train: trainFile(root), method: 'adapter', model: base, epochs: 1, batchSize: 4, learningRate: 5e-2, out, log: null });
    const moved = path.join(await tmp(), 'elsewhere');
    fs.cpSync(r.modelDir, moved, { recursive: true });
    fs.rmSync(out, { recursive: true });
    const enc = await loadEncoder(moved, { threads: 1 });
    const baseEnc = await loadEncoder(base, { threads: 1 });
    try {
      expect(enc.asymmetric).toBe(true);
      await expect(enc.encode(DOCS)).rejects.toThrow(/encodes queries and documents differently .*call encodeQueries\(texts\) or encodeDocuments\(texts\)/);
      expect(maxAbsDiff(await enc.encodeDocuments(DOCS), await baseEnc.encode(DOCS))).toBe(0);
      expect(maxAbsDiff(await enc.encodeQueries(QUERIES), await baseEnc.encode(QUERIES))).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(await enc.encode(QUERIES, { side: 'query' }), await enc.encodeQueries(QUERIES))).toBe(0);
    } finally {
      await enc.release();
      await baseEnc.release();
    }
  });

  it('a Router folder saved by sentence-transformers reads the same', async () => {
    const noPython = pythonMissing(['torch', 'sentence_transformers']);
    if (noPython) {
      console.log(`skipping the sentence-transformers Router check: ${noPython}`);
      return;
    }
    // our writer's Router, then sentence-transformers' own encode_query / encode_document on it
    const dir = path.join(await tmp(), 'router');
    fs.cpSync(base, dir, { recursive: true });
    fs.rmSync(path.join(dir, 'modules.json'));
    const tiny = writeTinyModel(path.join(root, 'st-base'), { seed: 9, std: 0.2, texts: [...DOCS, ...QUERIES], vocabSize: 300 });
    const { encodeSafetensors } = await import('../lib/models/import');
    fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(tiny.weights, { format: 'pt' }));
    const w = Float32Array.from({ length: 32 * 32 }, (_, i) => (i % 33 === 0 ? 1 : 0) + Math.sin(i) * 0.1);
    writeSentenceTransformersFilesSync(dir, { hidden: 32, pooling: 'mean', router: { query: [{ inFeatures: 32, outFeatures: 32, bias: false, activation: 'identity', weight: w, biasData: null }], document: [] } });
    const script = [
      'import json, sys',
      'from sentence_transformers import SentenceTransformer',
      'm = SentenceTransformer(sys.argv[1], device="cpu")',
      't = json.loads(sys.argv[2])',
      'print(json.dumps({"q": m.encode_query(t).tolist(), "d": m.encode_document(t).tolist()}))',
    ].join('\n');
    const res = spawnSync('python3', ['-c', script, dir, JSON.stringify(QUERIES)], { encoding: 'utf8' });
    expect(res.status, res.stderr).toBe(0);
    const ref = JSON.parse(res.stdout.trim().split('\n').pop()!) as { q: number[][]; d: number[][] };
    const enc = await loadEncoder(dir, { threads: 1 });
    try {
      const dq = maxAbsDiff(await enc.encodeQueries(QUERIES), Float32Array.from(ref.q.flat()));
      const dd = maxAbsDiff(await enc.encodeDocuments(QUERIES), Float32Array.from(ref.d.flat()));
      console.log(`Router folder: encode_query ${dq.toExponential(2)}, encode_document ${dd.toExponential(2)} (max abs diff vs sentence-transformers)`);
      expect(dq).toBeLessThan(1e-5);
      expect(dd).toBeLessThan(1e-5);
    } finally {
      await enc.release();
    }
  });
});
