/**
 * Exports load in Python: every student kind's model folder is read by sentence-transformers
 * (`SentenceTransformer(dir)`) and, where it holds transformer weights, by transformers
 * (`AutoModel.from_pretrained(dir)`, pooled here as the folder declares), and both give
 * synthtune's embeddings (max abs difference ≤ 1e-5). The quantised graph written beside each
 * export follows the float32 one (agreement recorded in synthtune.json). Tiny seeded models and
 * learnt WordPiece tokenizers; no downloads. The Python side (test/python/load_export.py) is
 * skipped, with the reason printed, where python3, torch, transformers or sentence-transformers
 * is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { loadEncoder } from '../lib/models/encoder';
import { randomFloats } from '../bench/harness';
import { encodeSafetensors, readSafetensors } from '../lib/models/import';
import type { BertConfig } from '../lib/models/onnx/bert';
import { randomBertWeights, TINY_SHAPE, writeTinyModel } from '../lib/models/tiny';
import { TextTokenizer } from '../lib/models/tokenizer';
import { buildWordPieceTokenizer } from '../lib/models/wordpiece';
import { exportAdapter, exportFullSafetensors, exportStatic } from '../lib/training/export';
import { importFullStudent } from '../lib/training/import-weights';
import { AdapterStudent } from '../lib/training/students/adapter';
import { FullStudent, nativeBertAvailable, nativeConfigFrom } from '../lib/training/students/full';
import { writeSentenceTransformersFilesSync } from '../lib/models/st-folder';
import { StaticStudent } from '../lib/training/students/static';
import { report, scratchDirs } from './helpers/models';
import { PythonServer, pythonMissing } from './helpers/python';

const tmp = scratchDirs('synthtune-export-py-');
const SCRIPT = path.join(__dirname, 'python', 'load_export.py');
const TEXTS = [
  'Vaccines reduce the risk of infection.',
  'Protein folding',
  'Domain adaptation with synthetic data: generate queries, mine negatives, label with a teacher.',
  'A',
  'The quick brown fox jumps over the lazy dog, twice over.',
];

const noPython = pythonMissing(['torch', 'transformers', 'sentence_transformers']);
if (noPython) console.warn(`export-python.test: skipping the Python loads: ${noPython}`);
const noNative = nativeBertAvailable();
if (!noNative.ok) console.warn(`export-python.test: skipping the full student: ${noNative.reason}`);

interface PyOut {
  st?: number[][];
  st_modules?: string[];
  hf?: number[][];
  hf_class?: string;
  hf_loading?: { missing_keys: string[]; unexpected_keys: string[]; mismatched_keys: string[] };
}

/** Runs load_export.py on a folder; flags as the script takes them. */
async function python(dir: string, flags: string[]): Promise<PyOut> {
  const r = await pythonRun(dir, flags);
  if (r.status !== 0) throw new Error(`load_export.py failed (${r.status}):\n${r.stderr}`);
  return r.out!;
}

/** One load_export.py --serve process for the whole file (a failed load: status 1, the traceback as stderr). */
const server = new PythonServer('python3', SCRIPT, { TOKENIZERS_PARALLELISM: 'false' });
afterAll(() => server.stop());

async function pythonRun(dir: string, flags: string[]): Promise<{ status: number | null; stderr: string; out?: PyOut }> {
  const res = await server.request<PyOut>({ dir, texts: TEXTS, flags });
  return res.ok ? { status: 0, stderr: '', out: res.out } : { status: 1, stderr: res.error };
}

/** synthtune's loadEncoder on a folder (the query side of an asymmetric one). */
async function synthtune(dir: string): Promise<Float32Array> {
  const enc = await loadEncoder(dir, { threads: 1, batchSize: 2 });
  try {
    return enc.asymmetric ? await enc.encodeQueries(TEXTS) : await enc.encode(TEXTS);
  } finally {
    await enc.release();
  }
}

const flat = (rows: number[][] | undefined): Float32Array => Float32Array.from((rows ?? []).flat());

function safetensorsHeader(file: string): Record<string, { dtype: string; shape: number[] }> {
  const b = fs.readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  return JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
}

describe.runIf(noNative.ok)('full student export', () => {
  const cases = [
    { arch: 'bert' as const, normalize: false, pooler: false },
    { arch: 'bert' as const, normalize: true, pooler: true },
    { arch: 'distilbert' as const, normalize: false, pooler: false },
  ];
  for (const c of cases) {
    it(`${c.arch}${c.normalize ? ' (normalised)' : ''}${c.pooler ? ', source with a pooler' : ''}: SentenceTransformer and AutoModel reproduce the student`, async () => {
      const root = await tmp();
      const { dir: base, config } = writeTinyModel(path.join(root, 'base'), { seed: 8, std: 0.2, arch: c.arch, stNormalize: c.normalize });
      let pooler: Float32Array | null = null;
      if (c.pooler) {
        // a source checkpoint as transformers saves it, pooler included: the export carries the pooler over
        const w = randomBertWeights({ ...config, head: 'classifier' }, { seed: 3 });
        w.delete('classifier.weight');
        w.delete('classifier.bias');
        pooler = w.get('pooler.dense.weight')!.data;
        fs.writeFileSync(path.join(base, 'model.safetensors'), encodeSafetensors(new Map([...w].map(([k, v]) => [`bert.${k}`, v])), { format: 'pt' }));
      }
      const { student, tokenizer } = await importFullStudent(base, { threads: 1, check: !c.pooler });
      for (const p of student.params()) p.data.set(Array.from(p.data, (v, i) => v + 0.01 * Math.sin(i)));
      const want = await student.encode(TEXTS.map((t) => Int32Array.from(tokenizer.encode(t).ids)), 'query');
      const dir = path.join(root, 'export');
      await student.exportArtifact(dir, { tokenizerDir: base });
      const res = await exportFullSafetensors(student, dir, { sourceDir: base });

      // the checkpoint: float32 tensors under the class's names (what save_pretrained writes)
      const header = safetensorsHeader(path.join(dir, 'model.safetensors'));
      expect((header.__metadata__ as unknown as Record<string, string>).format).toBe('pt');
      const names = Object.keys(header).filter((k) => k !== '__metadata__');
      expect(names.every((k) => header[k].dtype === 'F32')).toBe(true);
      expect(names).toEqual(res.tensors);
      if (c.arch === 'distilbert') expect(names).toContain('transformer.layer.0.attention.q_lin.weight');
      else expect(names).toContain('encoder.layer.0.attention.self.query.weight');
      if (pooler) expect(readSafetensors(path.join(dir, 'model.safetensors')).tensors.get('pooler.dense.weight')!.data).toEqual(pooler);
      expect(res.missing).toEqual(c.arch === 'bert' && !c.pooler ? ['^pooler\\.'] : []);
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      expect(cfg.model_type).toBe(c.arch);
      expect(cfg.architectures).toEqual([c.arch === 'bert' ? 'BertModel' : 'DistilBertModel']);

      // synthtune reads it back
      const enc = await loadEncoder(dir, { threads: 1 });
      try {
        expect(report(`${c.arch} export via loadEncoder`, await enc.encode(TEXTS), want)).toBeLessThanOrEqual(1e-5);
      } finally {
        await enc.release();
      }
      // the quantised graph and its recorded agreement
      const info = JSON.parse(fs.readFileSync(path.join(dir, 'synthtune.json'), 'utf8'));
      expect(info.kind).toBe('full');
      expect(info.quantized.file).toBe('onnx/model_quantized.onnx');
      expect(info.quantized.matmuls).toBe(6 * config.layers);
      console.log(`${c.arch} full export, int8 vs float32 on ${info.quantized.agreement.rows} texts: min cosine ${info.quantized.agreement.minCosine.toFixed(5)}, max abs ${info.quantized.agreement.maxAbsDiff.toExponential(2)}`);
      expect(info.quantized.agreement.minCosine).toBeGreaterThan(0.99);

      if (noPython) return;
      const py = await python(dir, ['--st', '--hf', 'mean', ...(c.normalize ? ['--normalize'] : [])]);
      expect(py.st_modules).toEqual(c.normalize ? ['Transformer', 'Pooling', 'Normalize'] : ['Transformer', 'Pooling']);
      expect(report(`${c.arch} export via SentenceTransformer`, flat(py.st), want)).toBeLessThanOrEqual(1e-5);
      expect(report(`${c.arch} export via AutoModel (mean-pooled)`, flat(py.hf), want)).toBeLessThanOrEqual(1e-5);
      expect(py.hf_class).toBe(c.arch === 'bert' ? 'BertModel' : 'DistilBertModel');
      // every tensor is one the class expects; only BERT's untrained pooler may be missing
      expect(py.hf_loading!.unexpected_keys).toEqual([]);
      expect(py.hf_loading!.mismatched_keys).toEqual([]);
      expect(py.hf_loading!.missing_keys).toEqual(c.arch === 'bert' && !c.pooler ? ['pooler.dense.bias', 'pooler.dense.weight'] : []);
    });
  }
});


describe.runIf(noNative.ok)('full student export, RoBERTa-style architectures', () => {
  for (const arch of ['roberta', 'xlm-roberta', 'mpnet'] as const) {
    it(`${arch}: SentenceTransformer and AutoModel reproduce the student`, async () => {
      const root = await tmp();
      const tokDir = path.join(root, 'tok');
      fs.mkdirSync(tokDir);
      const tok = buildWordPieceTokenizer(TEXTS, { vocabSize: 300 });
      fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJson));
      fs.writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
      const tokenizer = new TextTokenizer(tok.tokenizerJson, tok.tokenizerConfig as Record<string, unknown>);
      const vocab = (tok.tokenizerJson as { model: { vocab: Record<string, number> } }).model.vocab;
      const config: BertConfig = {
        ...TINY_SHAPE, arch, vocabSize: Math.max(...Object.values(vocab)) + 1, paddingIdx: 1,
        ...(arch === 'mpnet' ? { typeVocabSize: 0, relativeBuckets: 32 } : { typeVocabSize: 1 }),
      };
      const student = new FullStudent({ config: nativeConfigFrom(config, { pooling: 'mean', threads: 1 }), weights: randomBertWeights(config, { seed: 21, std: 0.2 }) });
      const ids = TEXTS.map((t) => Int32Array.from(tokenizer.encode(t).ids));
      // HF derives RoBERTa positions from input_ids != pad_token_id (1 = [UNK] here): keep the texts free of it
      expect(ids.every((x) => !x.includes(1))).toBe(true);
      const want = await student.encode(ids, 'query');
      const dir = path.join(root, 'export');
      await student.exportArtifact(dir, { tokenizerDir: tokDir });
      const res = await exportFullSafetensors(student, dir, { sourceDir: tokDir });
      expect(report(`${arch} export via loadEncoder`, await synthtune(dir), want)).toBeLessThanOrEqual(1e-5);
      if (noPython) return;
      const py = await python(dir, ['--st', '--hf', 'mean']);
      expect(py.hf_class).toBe({ roberta: 'RobertaModel', 'xlm-roberta': 'XLMRobertaModel', mpnet: 'MPNetModel' }[arch]);
      expect(report(`${arch} export via SentenceTransformer`, flat(py.st), want)).toBeLessThanOrEqual(1e-5);
      expect(report(`${arch} export via AutoModel (mean-pooled)`, flat(py.hf), want)).toBeLessThanOrEqual(1e-5);
      expect(py.hf_loading!.unexpected_keys).toEqual([]);
      expect(py.hf_loading!.missing_keys).toEqual(['pooler.dense.bias', 'pooler.dense.weight']);
      expect(res.missing).toEqual(['^pooler\\.']);
    });
  }
});

describe('adapter export', () => {
  /** A tiny BERT base; with model.safetensors (as transformers saves it) unless onnxOnly. */
  async function base(opts: { pooling?: 'mean' | 'cls'; normalize?: boolean; onnxOnly?: boolean }): Promise<{ dir: string; x: Float32Array }> {
    const root = await tmp();
    const { dir, weights } = writeTinyModel(path.join(root, 'base'), { seed: 5, std: 0.2, stPooling: opts.pooling ?? 'mean', stNormalize: opts.normalize });
    if (!opts.onnxOnly) fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(weights, { format: 'pt' }));
    return { dir, x: await synthtune(dir) };
  }
  function adapter(o: { rank: number; bias: boolean; sides: 'query' | 'both' }): AdapterStudent {
    const a = new AdapterStudent({ dim: 32, ...o });
    a.params().forEach((p, i) => p.data.set(Array.from(randomFloats(p.data.length, 9 + i), (v) => 0.2 * v)));
    return a;
  }

  for (const c of [
    { pooling: 'mean' as const, rank: 0, bias: true, sides: 'query' as const },
    { pooling: 'cls' as const, rank: 4, bias: false, sides: 'both' as const },
  ]) {
    it(`${c.pooling} pooling, rank ${c.rank}${c.bias ? ' + bias' : ''} (${c.sides === 'query' ? 'query-only: Router query route' : 'both sides: Dense'}) in sentence-transformers, as in synthtune`, async () => {
      const b = await base({ pooling: c.pooling });
      const a = adapter(c);
      const want = a.apply(b.x, 'query');
      const dir = path.join(await tmp(), 'adapter');
      const res = await exportAdapter(a, dir, { baseModelDir: b.dir });
      expect(res.layout).toBe('modules');
      expect(res.pytorch).toBe(true);
      expect(report('adapter export via loadEncoder', await synthtune(dir), want)).toBeLessThanOrEqual(1e-5);
      const info = JSON.parse(fs.readFileSync(path.join(dir, 'synthtune.json'), 'utf8'));
      console.log(`adapter export (${c.pooling}), int8 vs float32: min cosine ${info.quantized.agreement.minCosine.toFixed(5)}, max abs ${info.quantized.agreement.maxAbsDiff.toExponential(2)}`);
      expect(info.quantized.agreement.minCosine).toBeGreaterThan(0.99);
      if (noPython) return;
      // a query-only adapter is the Router's query route: encode_query applies it
      const py = await python(dir, ['--st', '--hf', c.pooling, ...(c.sides === 'query' ? ['--query'] : [])]);
      expect(py.st_modules).toEqual(['Transformer', 'Pooling', c.sides === 'query' ? 'Router' : 'Dense']);
      expect(report('adapter export via SentenceTransformer', flat(py.st), want)).toBeLessThanOrEqual(1e-5);
      // AutoModel is the base transformer: pooled, it gives the adapter's input
      expect(report('adapter export via AutoModel (the base, pooled)', flat(py.hf), b.x)).toBeLessThanOrEqual(1e-5);
    });
  }

  it('a base with a Dense module: Pooling → its Dense (tanh, 32 → 16) → Router(query: the adapter)', async () => {
    const root = await tmp();
    const { dir, weights } = writeTinyModel(path.join(root, 'base'), { seed: 5, std: 0.2 });
    fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(weights, { format: 'pt' }));
    const wd = Float32Array.from(randomFloats(16 * 32, 77), (v) => 0.3 * v);
    writeSentenceTransformersFilesSync(dir, { hidden: 32, pooling: 'mean', dense: [{ inFeatures: 32, outFeatures: 16, bias: true, activation: 'tanh', weight: wd, biasData: new Float32Array(16).fill(0.1) }] });
    const x = await synthtune(dir);
    expect(x.length).toBe(TEXTS.length * 16);
    const a = new AdapterStudent({ dim: 16, rank: 0, bias: true });
    a.params().forEach((p, i) => p.data.set(Array.from(randomFloats(p.data.length, 31 + i), (v) => 0.2 * v)));
    const want = a.apply(x, 'query');
    const out = path.join(root, 'adapter');
    const res = await exportAdapter(a, out, { baseModelDir: dir });
    expect(res.layout).toBe('modules');
    expect(report('adapter on a Dense base via loadEncoder', await synthtune(out), want)).toBeLessThanOrEqual(1e-5);
    if (noPython) return;
    const py = await python(out, ['--st', '--query']);
    expect(py.st_modules).toEqual(['Transformer', 'Pooling', 'Dense', 'Router']);
    expect(report('adapter on a Dense base via SentenceTransformer', flat(py.st), want)).toBeLessThanOrEqual(1e-5);
  });

  it('a normalising base: Pooling → Normalize → Router(query: the adapter), the same in synthtune and sentence-transformers', async () => {
    const b = await base({ normalize: true });
    const a = adapter({ rank: 0, bias: true, sides: 'query' });
    const want = a.apply(b.x, 'query');
    const dir = path.join(await tmp(), 'adapter');
    const res = await exportAdapter(a, dir, { baseModelDir: b.dir });
    expect(res).toMatchObject({ layout: 'modules', pytorch: true });
    expect(report('adapter export (normalising base) via loadEncoder', await synthtune(dir), want)).toBeLessThanOrEqual(1e-5);
    if (noPython) return;
    const py = await python(dir, ['--st', '--query']);
    expect(py.st_modules).toEqual(['Transformer', 'Pooling', 'Normalize', 'Router']);
    expect(report('adapter export (normalising base) via SentenceTransformer', flat(py.st), want)).toBeLessThanOrEqual(1e-5);
  });

  it('an ONNX-only base: synthtune reads the export; Python refuses it for lack of transformer weights', async () => {
    const b = await base({ onnxOnly: true });
    const a = adapter({ rank: 0, bias: true, sides: 'both' });
    const dir = path.join(await tmp(), 'adapter');
    const res = await exportAdapter(a, dir, { baseModelDir: b.dir });
    expect(res).toMatchObject({ layout: 'modules', pytorch: false });
    expect(report('adapter export (ONNX-only base) via loadEncoder', await synthtune(dir), a.apply(b.x, 'query'))).toBeLessThanOrEqual(1e-5);
    if (noPython) return;
    const r = await pythonRun(dir, ['--st']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/model\.safetensors|pytorch_model\.bin/);
  });
});

describe('static export', () => {
  async function setup(texts: string[], opts: { specials?: boolean; maxLength?: number } = {}) {
    const tokDir = await tmp();
    const tok = buildWordPieceTokenizer(texts, { vocabSize: 200 });
    const json = tok.tokenizerJson as { post_processor: unknown; model: { vocab: Record<string, number> } };
    if (opts.specials === false) json.post_processor = null;
    const cfg = { ...(tok.tokenizerConfig as Record<string, unknown>), ...(opts.maxLength ? { model_max_length: opts.maxLength } : {}) };
    fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(json));
    fs.writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(cfg));
    const tokenizer = new TextTokenizer(json, cfg);
    const V = Math.max(...Object.values(json.model.vocab)) + 1;
    return { tokDir, tokenizer, V };
  }

  for (const c of [
    { normalize: false, specials: true }, { normalize: true, specials: true }, { normalize: false, specials: false },
    { normalize: false, specials: true, maxLength: 8 }, { normalize: false, specials: false, maxLength: 6 },
  ]) {
    it(`StaticEmbedding in sentence-transformers gives the student's embeddings (${c.normalize ? 'normalised' : 'raw'}, ${c.specials ? '[CLS]/[SEP] added' : 'no special tokens'}${c.maxLength ? `, truncated at ${c.maxLength}` : ''})`, async () => {
      const texts = [...TEXTS, '  spaced   out  ', 'Ünïcödé àccents and 中文'];
      const { tokDir, tokenizer, V } = await setup(texts, { specials: c.specials, maxLength: c.maxLength });
      if (c.maxLength) expect(TEXTS.some((t) => tokenizer.encode(t).truncated)).toBe(true);
      const student = new StaticStudent({ vocabSize: V, dim: 16, seed: 4 });
      const ids = TEXTS.map((t) => Int32Array.from(tokenizer.encode(t).ids));
      if (c.specials) expect(ids[0][0]).toBe(tokenizer.encode('').ids[0]); // [CLS] is part of the student's input
      let want = await student.encode(ids, 'query');
      if (c.normalize) {
        want = want.slice();
        for (let r = 0; r < TEXTS.length; r++) {
          const row = want.subarray(r * 16, (r + 1) * 16);
          const n = Math.hypot(...row);
          row.forEach((v, i) => (row[i] = v / n));
        }
      }
      const dir = path.join(await tmp(), 'static');
      const res = await exportStatic(student, dir, { tokenizerDir: tokDir, normalize: c.normalize });
      expect(res.sentenceTransformers).toBe(true);
      expect(res.quantized).toBeNull(); // an embedding bag has no MatMul to quantise
      expect(report('static export via loadEncoder', await synthtune(dir), want)).toBeLessThanOrEqual(1e-5);
      if (noPython) return;
      const py = await python(dir, ['--st']);
      expect(py.st_modules).toEqual(c.normalize ? ['StaticEmbedding', 'Normalize'] : ['StaticEmbedding']);
      expect(report('static export via SentenceTransformer', flat(py.st), want)).toBeLessThanOrEqual(1e-5);
    });
  }
});

describe('static export, Unigram tokenizer (XLM-R style: Metaspace, <s> … </s>)', () => {
  /** A small Unigram tokenizer.json: the specials, ▁, every character, and ▁word for the texts' words. */
  function unigram(texts: string[]) {
    const words = new Set(texts.flatMap((t) => t.split(/\s+/).filter(Boolean)));
    const chars = new Set([...texts.join('')].filter((ch) => !/\s/.test(ch)));
    const vocab: [string, number][] = [['<s>', 0], ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ['\u2581', -2]];
    for (const ch of chars) vocab.push([ch, -5]);
    for (const w of words) vocab.push([`\u2581${w}`, -3 - w.length / 10]);
    const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    return {
      version: '1.0', truncation: null, padding: null,
      added_tokens: [special(0, '<s>'), special(1, '<pad>'), special(2, '</s>'), special(3, '<unk>')],
      normalizer: null,
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
        special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
      },
      decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
      model: { type: 'Unigram', unk_id: 3, vocab, byte_fallback: false },
    };
  }

  it('StaticEmbedding in sentence-transformers gives the student\'s embeddings', async () => {
    const tokDir = await tmp();
    const json = unigram(TEXTS.slice(0, 3));
    const cfg = { tokenizer_class: 'XLMRobertaTokenizer', bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>', model_max_length: 512 };
    fs.writeFileSync(path.join(tokDir, 'tokenizer.json'), JSON.stringify(json));
    fs.writeFileSync(path.join(tokDir, 'tokenizer_config.json'), JSON.stringify(cfg));
    const tokenizer = new TextTokenizer(json, cfg);
    const ids = TEXTS.map((t) => Int32Array.from(tokenizer.encode(t).ids));
    expect(ids[0][0]).toBe(0); // <s> is part of the student's input
    const student = new StaticStudent({ vocabSize: json.model.vocab.length, dim: 16, seed: 6 });
    const want = await student.encode(ids, 'query');
    const dir = path.join(await tmp(), 'static');
    const res = await exportStatic(student, dir, { tokenizerDir: tokDir });
    expect(res.sentenceTransformers).toBe(true);
    expect(report('static export (Unigram) via loadEncoder', await synthtune(dir), want)).toBeLessThanOrEqual(1e-5);
    if (noPython) return;
    const py = await python(dir, ['--st']);
    expect(report('static export (Unigram) via SentenceTransformer', flat(py.st), want)).toBeLessThanOrEqual(1e-5);
  });
});

