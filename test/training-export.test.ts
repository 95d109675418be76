/**
 * Export: the model folders written for trained students give, through synthtune's loadEncoder
 * and through onnxruntime-node directly, the embeddings of the in-process student
 * (max abs difference ≤ 1e-5). Tiny seeded models and a learnt WordPiece tokenizer; no downloads.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEncoder } from '../lib/models/encoder';
import { TextTokenizer } from '../lib/models/tokenizer';
import { writeTinyModel } from '../lib/models/tiny';
import { buildWordPieceTokenizer } from '../lib/models/wordpiece';
import { exportAdapter, exportStatic } from '../lib/training/export';
import { AdapterStudent } from '../lib/training/students/adapter';
import { StaticStudent } from '../lib/training/students/static';
import { randomFloats } from '../bench/harness';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-export-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const TEXTS = [
  'Vaccines reduce the risk of infection.',
  'Protein folding',
  'Domain adaptation with synthetic data: generate queries, mine negatives, label with a teacher.',
  'A',
  'The quick brown fox jumps over the lazy dog, twice over.',
];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function randomize(s: AdapterStudent, seed: number): void {
  s.params().forEach((p, i) => p.data.set(Array.from(randomFloats(p.data.length, seed + i), (x) => 0.2 * x)));
}

describe('static export', () => {
  it('loadEncoder and onnxruntime reproduce the student', async () => {
    const tokDir = path.join(root, 'tok');
    fs.mkdirSync(tokDir, { recursive: true });
    const tok = buildWordPieceTokenizer(TEXTS, { vocabSize: 300 });
    fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJson));
    fs.writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
    const tokenizer = new TextTokenizer(tok.tokenizerJson, tok.tokenizerConfig as Record<string, unknown>);
    const V = Math.max(...Object.values((tok.tokenizerJson as { model: { vocab: Record<string, number> } }).model.vocab)) + 1;
    const student = new StaticStudent({ vocabSize: V, dim: 24, seed: 3 });
    const ids = TEXTS.map((t) => Int32Array.from(tokenizer.encode(t).ids));
    const want = await student.encode(ids, 'query');

    const dir = path.join(root, 'static-model');
    await student.exportArtifact(dir, { tokenizerDir: tokDir });
    for (const f of ['tokenizer.json', 'config.json', 'onnx/model.onnx', 'modules.json', '0_StaticEmbedding/tokenizer.json', '0_StaticEmbedding/model.safetensors']) {
      expect(fs.existsSync(path.join(dir, f))).toBe(true);
    }
    const enc = await loadEncoder(dir, { threads: 1, batchSize: 2 });
    try {
      expect(enc.dim).toBe(24);
      expect(maxAbsDiff(await enc.encode(TEXTS), want)).toBeLessThanOrEqual(1e-5);
    } finally {
      await enc.release();
    }
    // onnxruntime directly: one padded batch, sentence_embedding output
    const S = Math.max(...ids.map((x) => x.length));
    const inputIds = new BigInt64Array(TEXTS.length * S);
    const mask = new BigInt64Array(TEXTS.length * S);
    ids.forEach((x, b) => x.forEach((id, s) => {
      inputIds[b * S + s] = BigInt(id);
      mask[b * S + s] = 1n;
    }));
    const session = await ort.InferenceSession.create(path.join(dir, 'onnx', 'model.onnx'));
    const out = await session.run({
      input_ids: new ort.Tensor('int64', inputIds, [TEXTS.length, S]),
      attention_mask: new ort.Tensor('int64', mask, [TEXTS.length, S]),
    });
    expect(maxAbsDiff(out.sentence_embedding.data as Float32Array, want)).toBeLessThanOrEqual(1e-5);
    await session.release();

    // a cosine-trained student declares a Normalize module; loadEncoder then L2-normalises
    const cosDir = path.join(root, 'static-cos');
    await exportStatic(student, cosDir, { tokenizerDir: tokDir, normalize: true });
    const unit = want.slice();
    for (let r = 0; r < TEXTS.length; r++) {
      const row = unit.subarray(r * 24, (r + 1) * 24);
      const n = Math.hypot(...row);
      for (let i = 0; i < 24; i++) row[i] /= n;
    }
    const enc2 = await loadEncoder(cosDir, { threads: 1 });
    try {
      expect(enc2.normalize).toBe(true);
      expect(maxAbsDiff(await enc2.encode(TEXTS), unit)).toBeLessThanOrEqual(1e-5);
    } finally {
      await enc2.release();
    }
  });
});

describe('adapter export', () => {
  for (const normalize of [false, true]) {
    it(`folds the adapter into the encoder graph (base ${normalize ? 'with' : 'without'} Normalize)`, async () => {
      const base = writeTinyModel(path.join(root, `base-${normalize}`), { seed: 5, std: 0.2, stNormalize: normalize }).dir;
      const enc = await loadEncoder(base, { threads: 1 });
      const x = await enc.encode(TEXTS);
      await enc.release();
      for (const v of [{ rank: 0, bias: true, sides: 'query' as const }, { rank: 4, bias: false, sides: 'both' as const }]) {
        const a = new AdapterStudent({ dim: 32, ...v });
        randomize(a, 9);
        const want = a.apply(x, 'query');
        const dir = path.join(root, `adapter-${normalize}-${v.rank}`);
        const res = await exportAdapter(a, dir, { baseModelDir: base });
        expect(res.documentModel).toBe(path.resolve(dir));
        const info = JSON.parse(fs.readFileSync(path.join(dir, 'synthtune.json'), 'utf8'));
        expect(info.asymmetric ?? false).toBe(v.sides === 'query');
        const q = await loadEncoder(dir, { threads: 1, batchSize: 2 });
        try {
          expect(q.pooling).toBe('mean');
          // a query-only adapter sits in the Router's query route; one on both sides is a plain Dense module
          const shared = normalize ? ['Transformer', 'Pooling', 'Normalize'] : ['Transformer', 'Pooling'];
          expect(q.folder.moduleTypes).toEqual([...shared, v.sides === 'query' ? 'Router' : 'Dense']);
          expect(maxAbsDiff(await q.encodeQueries(TEXTS), want)).toBeLessThanOrEqual(1e-5);
          expect(maxAbsDiff(await q.encodeDocuments(TEXTS), v.sides === 'query' ? x : a.apply(x, 'document'))).toBeLessThanOrEqual(1e-5);
        } finally {
          await q.release();
        }
      }
    });
  }
});
