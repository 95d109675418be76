/**
 * The model-folder module (lib/models/st-folder.ts): reading both sentence-transformers config
 * formats and module type paths, errors that name the module and file, pooling modes on small
 * hand-worked tensors, and the bi-encoder applying Pooling → Dense → Normalize and prompts
 * (checked against the independent pure-TS forward pass). PyTorch itself is the oracle in
 * test/conformance.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadEncoder } from '../lib/models/encoder';
import { encodeSafetensors } from '../lib/models/import';
import { bertForwardRef } from '../lib/models/reference-forward';
import { applyDense, poolTokens, readModelFolder, stModuleFiles, writeSentenceTransformersFiles, writeSentenceTransformersFilesSync, type PoolingMode } from '../lib/models/st-folder';
import { writeTinyModel } from '../lib/models/tiny';
import { TextTokenizer } from '../lib/models/tokenizer';
import { maxAbsDiff, scratchDirs } from './helpers/models';

const tmp = scratchDirs('synthtune-stfolder-');

function writeJson(file: string, v: unknown) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(v));
}

describe('poolTokens', () => {
  // B=2, S=3, H=2; row 0 has 3 valid tokens, row 1 has 2 (one padded).
  const h = new Float32Array([
    1, 10, 2, 20, 4, -40, //
    3, 30, 5, -50, 100, 100,
  ]);
  const mask = [1, 1, 1, 1, 1, 0];
  const pool = (modes: PoolingMode[], promptLength = 0) => {
    const out = new Float32Array(2 * 2 * modes.length);
    poolTokens(h, mask, 2, 3, 2, modes, out, [0, 1], 2 * modes.length, promptLength);
    return [...out];
  };

  it('computes every mode as sentence-transformers defines it', () => {
    expect(pool(['cls'])).toEqual([1, 10, 3, 30]);
    expect(pool(['mean']).map((x) => +x.toFixed(5))).toEqual([7 / 3, -10 / 3, 4, -10].map((x) => +x.toFixed(5)));
    expect(pool(['max'])).toEqual([4, 20, 5, 30]);
    expect(pool(['mean_sqrt_len_tokens']).map((x) => +x.toFixed(5))).toEqual([7 / Math.sqrt(3), -10 / Math.sqrt(3), 8 / Math.SQRT2, -20 / Math.SQRT2].map((x) => +x.toFixed(5)));
    // weights are 1-based positions: row 0 (1·1 + 2·2 + 3·4)/6, row 1 (1·3 + 2·5)/3
    expect(pool(['weightedmean']).map((x) => +x.toFixed(5))).toEqual([17 / 6, (10 + 40 - 120) / 6, 13 / 3, (30 - 100) / 3].map((x) => +x.toFixed(5)));
    expect(pool(['lasttoken'])).toEqual([4, -40, 5, -50]);
  });

  it('concatenates several modes in order', () => {
    expect(pool(['cls', 'max'])).toEqual([1, 10, 4, 20, 3, 30, 5, 30]);
  });

  it('leaves prompt tokens out of pooling when asked (include_prompt false)', () => {
    expect(pool(['mean'], 1)).toEqual([3, -10, 5, -50]);
    expect(pool(['cls'], 1)).toEqual([2, 20, 5, -50]);
    expect(pool(['weightedmean'], 1).map((x) => +x.toFixed(5))).toEqual([(4 + 12) / 5, (40 - 120) / 5, 5, -50]);
  });
});

describe('readModelFolder', () => {
  it('reads the older format (pooling_mode_* flags, sentence_transformers.models.X, sentence_bert_config)', async () => {
    const dir = await tmp();
    writeJson(path.join(dir, 'config.json'), { model_type: 'bert', hidden_size: 8 });
    writeJson(path.join(dir, 'modules.json'), [
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
      { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
    ]);
    writeJson(path.join(dir, '1_Pooling', 'config.json'), { word_embedding_dimension: 8, pooling_mode_cls_token: true, pooling_mode_mean_tokens: false, pooling_mode_max_tokens: false, pooling_mode_mean_sqrt_len_tokens: false });
    writeJson(path.join(dir, 'sentence_bert_config.json'), { max_seq_length: 128, do_lower_case: true });
    const f = readModelFolder(dir);
    expect(f.pooling).toEqual({ modes: ['cls'], includePrompt: true, dimension: 8, path: '1_Pooling' });
    expect(f.normalize).toBe(true);
    expect(f.maxSeqLength).toBe(128);
    expect(f.doLowerCase).toBe(true);
    expect(f.modelType).toBe('bert');
    expect(f.moduleTypes).toEqual(['Transformer', 'Pooling', 'Normalize']);
  });

  it('reads what it writes (sentence-transformers 6 format), Dense weights included', async () => {
    const dir = await tmp();
    const weight = Float32Array.from({ length: 6 * 4 }, (_, i) => (i - 12) / 10);
    const biasData = Float32Array.from({ length: 4 }, (_, i) => i / 3);
    await writeSentenceTransformersFiles(dir, {
      hidden: 3, pooling: ['mean', 'max'], includePrompt: false,
      dense: [{ inFeatures: 6, outFeatures: 4, bias: true, activation: 'tanh', weight, biasData }],
      normalize: true, prompts: { query: 'query: ', document: 'passage: ' }, defaultPromptName: null, similarity: 'dot',
    });
    const modules = JSON.parse(fs.readFileSync(path.join(dir, 'modules.json'), 'utf8'));
    expect(modules.map((m: { type: string }) => m.type.split('.').pop())).toEqual(['Transformer', 'Pooling', 'Dense', 'Normalize']);
    expect(JSON.parse(fs.readFileSync(path.join(dir, '1_Pooling', 'config.json'), 'utf8'))).toEqual({ embedding_dimension: 3, pooling_mode: ['mean', 'max'], include_prompt: false });
    const f = readModelFolder(dir);
    expect(f.pooling?.modes).toEqual(['mean', 'max']);
    expect(f.pooling?.includePrompt).toBe(false);
    expect(f.dense).toHaveLength(1);
    expect(f.dense[0].activation).toBe('tanh');
    expect([...f.dense[0].weight]).toEqual([...weight]);
    expect([...f.dense[0].biasData!]).toEqual([...biasData]);
    expect(f.normalize).toBe(true);
    expect(f.prompts).toEqual({ query: 'query: ', document: 'passage: ' });
    expect(f.similarity).toBe('dot');
  });

  it('names the module and file it cannot honour', async () => {
    const dir = await tmp();
    writeSentenceTransformersFilesSync(dir, { hidden: 4, pooling: 'mean' });
    const modulesFile = path.join(dir, 'modules.json');
    const modules = JSON.parse(fs.readFileSync(modulesFile, 'utf8'));
    writeJson(modulesFile, [...modules, { idx: 2, name: '2', path: '2_LayerNorm', type: 'sentence_transformers.models.LayerNorm' }]);
    expect(() => readModelFolder(dir)).toThrow(/module 2 \(sentence_transformers\.models\.LayerNorm\) in .*modules\.json: module type 'LayerNorm' is not supported/);
    writeJson(modulesFile, modules);
    writeJson(path.join(dir, '1_Pooling', 'config.json'), { embedding_dimension: 4, pooling_mode: 'median' });
    expect(() => readModelFolder(dir)).toThrow(/1_Pooling\/config\.json: pooling mode "median" is not one of/);
  });

  it('rejects a Dense module it cannot compute, naming the file', async () => {
    const dir = await tmp();
    const dense = { inFeatures: 4, outFeatures: 2, bias: false, activation: 'identity' as const, weight: new Float32Array(8), biasData: null };
    writeSentenceTransformersFilesSync(dir, { hidden: 4, pooling: 'mean', dense: [dense] });
    const cfgFile = path.join(dir, '2_Dense', 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    writeJson(cfgFile, { ...cfg, activation_function: 'my_pkg.Swish' });
    expect(() => readModelFolder(dir)).toThrow(/2_Dense\/config\.json: activation_function 'my_pkg\.Swish' is not supported/);
    writeJson(cfgFile, cfg);
    fs.renameSync(path.join(dir, '2_Dense', 'model.safetensors'), path.join(dir, '2_Dense', 'pytorch_model.bin'));
    expect(() => readModelFolder(dir)).toThrow(/pytorch_model\.bin is a PyTorch pickle/);
    fs.writeFileSync(path.join(dir, '2_Dense', 'model.safetensors'), encodeSafetensors({ 'linear.weight': { dims: [2, 3], data: new Float32Array(6) } }));
    expect(() => readModelFolder(dir)).toThrow(/'linear\.weight' has shape \[2, 3\], expected \[2, 4\]/);
  });

  it('checks prompts and similarity', async () => {
    const dir = await tmp();
    writeJson(path.join(dir, 'config_sentence_transformers.json'), { prompts: { query: 'q: ' }, default_prompt_name: 'document' });
    expect(() => readModelFolder(dir)).toThrow(/default_prompt_name "document" is not one of the prompts \(query\)/);
    writeJson(path.join(dir, 'config_sentence_transformers.json'), { prompts: {}, similarity_fn_name: 'jaccard' });
    expect(() => readModelFolder(dir)).toThrow(/similarity_fn_name 'jaccard'/);
  });

  it('a plain transformers folder declares no pooling', async () => {
    const dir = await tmp();
    writeJson(path.join(dir, 'config.json'), { model_type: 'xlm-roberta' });
    const f = readModelFolder(dir);
    expect(f.isSentenceTransformers).toBe(false);
    expect(f.pooling).toBeNull();
    expect(stModuleFiles({ hidden: 4, pooling: 'cls' })['modules.json']).toHaveLength(2);
  });
});

describe('bi-encoder with the folder\'s modules', () => {
  const TEXTS = ['Vaccines reduce the risk of infection.', 'Protein folding', 'A', 'The quick brown fox jumps over the lazy dog, twice over.'];
  let tiny: ReturnType<typeof writeTinyModel>;
  let tok: TextTokenizer;
  beforeAll(async () => {
    tiny = writeTinyModel(await tmp(), { seed: 11, std: 0.2 });
    tok = TextTokenizer.fromFolder(tiny.dir);
  });

  /** Independent reference: each text's own hidden states (no padding), pooled by a direct restatement of each mode. */
  function reference(text: string, mode: PoolingMode, skip = 0): number[] {
    const ids = tok.encode(text).ids;
    const H = tiny.config.hidden;
    const hs = bertForwardRef({ ...tiny.config, pooling: 'none' }, tiny.weights, { inputIds: [ids] }).lastHiddenState;
    const rows = ids.map((_, s) => [...hs.subarray(s * H, (s + 1) * H)]).map((r, s) => ({ r, s })).filter(({ s }) => s >= skip);
    const col = (d: number) => rows.map(({ r }) => r[d]);
    return Array.from({ length: H }, (_, d) => {
      const c = col(d);
      switch (mode) {
        case 'cls': return c[0];
        case 'lasttoken': return c[c.length - 1];
        case 'max': return Math.max(...c);
        case 'mean': return c.reduce((a, b) => a + b, 0) / c.length;
        case 'mean_sqrt_len_tokens': return c.reduce((a, b) => a + b, 0) / Math.sqrt(c.length);
        case 'weightedmean': {
          const w = rows.map(({ s }) => s + 1);
          return c.reduce((a, b, i) => a + b * w[i], 0) / w.reduce((a, b) => a + b, 0);
        }
      }
    });
  }

  for (const mode of ['cls', 'max', 'mean_sqrt_len_tokens', 'weightedmean', 'lasttoken'] as PoolingMode[]) {
    it(`pooling '${mode}' from 1_Pooling/config.json matches the reference, batched and padded`, async () => {
      const dir = await tmp();
      fs.cpSync(tiny.dir, dir, { recursive: true });
      writeJson(path.join(dir, '1_Pooling', 'config.json'), { embedding_dimension: tiny.config.hidden, pooling_mode: mode, include_prompt: true });
      const enc = await loadEncoder(dir, { threads: 1, batchSize: 3 });
      try {
        expect(enc.pooling).toBe(mode);
        const got = await enc.encode(TEXTS);
        const want = Float32Array.from(TEXTS.flatMap((t) => reference(t, mode)));
        expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
      } finally {
        await enc.release();
      }
    });
  }

  it('applies Dense modules (tanh, identity) then Normalize, with the Dense width as dim', async () => {
    const dir = await tmp();
    fs.cpSync(tiny.dir, dir, { recursive: true });
    for (const f of ['modules.json', '1_Pooling', '2_Normalize']) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
    const H = tiny.config.hidden;
    const d1 = { inFeatures: 2 * H, outFeatures: 12, bias: true, activation: 'tanh' as const, weight: Float32Array.from({ length: 24 * H }, (_, i) => Math.sin(i) / 4), biasData: Float32Array.from({ length: 12 }, (_, i) => i / 20 - 0.3) };
    const d2 = { inFeatures: 12, outFeatures: 5, bias: false, activation: 'identity' as const, weight: Float32Array.from({ length: 60 }, (_, i) => Math.cos(i) / 2), biasData: null };
    writeSentenceTransformersFilesSync(dir, { hidden: H, pooling: ['cls', 'mean'], dense: [d1, d2], normalize: true });
    const enc = await loadEncoder(dir, { threads: 1, batchSize: 2 });
    try {
      expect(enc.dim).toBe(5);
      const got = await enc.encode(TEXTS);
      for (let i = 0; i < TEXTS.length; i++) {
        const x = [...reference(TEXTS[i], 'cls'), ...reference(TEXTS[i], 'mean')];
        const y1 = Array.from({ length: 12 }, (_, o) => Math.tanh(d1.biasData[o] + x.reduce((a, v, k) => a + v * d1.weight[o * 2 * H + k], 0)));
        const y2 = Array.from({ length: 5 }, (_, o) => y1.reduce((a, v, k) => a + v * d2.weight[o * 12 + k], 0));
        const n = Math.hypot(...y2);
        expect(maxAbsDiff(got.subarray(i * 5, i * 5 + 5), Float32Array.from(y2.map((v) => v / n)))).toBeLessThan(1e-5);
      }
      // applyDense on its own agrees with the encoder's intermediate arithmetic
      expect(applyDense(new Float32Array(12), 1, d2)).toEqual(new Float32Array(5));
    } finally {
      await enc.release();
    }
    // stopAfterPooling: the pooled embeddings the Dense modules read (weight-import checks)
    const pooled = await loadEncoder(dir, { threads: 1, stopAfterPooling: true, normalize: false });
    try {
      expect(pooled.dim).toBe(2 * H);
      const got = await pooled.encode(TEXTS.slice(0, 1));
      expect(maxAbsDiff(got, Float32Array.from([...reference(TEXTS[0], 'cls'), ...reference(TEXTS[0], 'mean')]))).toBeLessThan(1e-5);
    } finally {
      await pooled.release();
    }
  });

  it('applies Normalize where modules.json puts it (Pooling → Normalize → Dense)', async () => {
    const dir = await tmp();
    fs.cpSync(tiny.dir, dir, { recursive: true });
    for (const f of ['modules.json', '1_Pooling', '2_Normalize']) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
    const H = tiny.config.hidden;
    const d = { inFeatures: H, outFeatures: 4, bias: true, activation: 'identity' as const, weight: Float32Array.from({ length: 4 * H }, (_, i) => Math.cos(i)), biasData: Float32Array.from([1, 2, 3, 4]) };
    writeSentenceTransformersFilesSync(dir, { hidden: H, pooling: 'mean', dense: [d], normalize: true, normalizeAt: 0 });
    const modules = JSON.parse(fs.readFileSync(path.join(dir, 'modules.json'), 'utf8'));
    expect(modules.map((m: { type: string }) => m.type.split('.').pop())).toEqual(['Transformer', 'Pooling', 'Normalize', 'Dense']);
    expect(readModelFolder(dir).normalizeAt).toBe(0);
    const enc = await loadEncoder(dir, { threads: 1 });
    try {
      const got = await enc.encode(TEXTS);
      for (let i = 0; i < TEXTS.length; i++) {
        const x = reference(TEXTS[i], 'mean');
        const n = Math.hypot(...x);
        const y = Array.from({ length: 4 }, (_, o) => d.biasData[o] + x.reduce((a, v, k) => a + (v / n) * d.weight[o * H + k], 0));
        expect(maxAbsDiff(got.subarray(i * 4, i * 4 + 4), Float32Array.from(y))).toBeLessThan(1e-5);
      }
    } finally {
      await enc.release();
    }
  });

  it('prompts: by text, by name, by default, and excluded from pooling when include_prompt is false', async () => {
    const dir = await tmp();
    fs.cpSync(tiny.dir, dir, { recursive: true });
    writeJson(path.join(dir, 'config_sentence_transformers.json'), { prompts: { query: 'query: ', passage: 'passage: ' }, default_prompt_name: null });
    let enc = await loadEncoder(dir, { threads: 1 });
    try {
      expect(enc.promptNameFor('query')).toBe('query');
      expect(enc.promptNameFor('document')).toBe('passage');
      const plain = await enc.encode(TEXTS.map((t) => `query: ${t}`));
      expect(maxAbsDiff(await enc.encode(TEXTS, { prompt: 'query: ' }), plain)).toBe(0);
      expect(maxAbsDiff(await enc.encode(TEXTS, { promptName: 'query' }), plain)).toBe(0);
      await expect(enc.encode(TEXTS, { promptName: 'doc' })).rejects.toThrow(/prompt 'doc' is not defined by .*config_sentence_transformers\.json \(it has 'query', 'passage'\)/);
    } finally {
      await enc.release();
    }
    writeJson(path.join(dir, 'config_sentence_transformers.json'), { prompts: { query: 'query: ' }, default_prompt_name: 'query' });
    writeJson(path.join(dir, '1_Pooling', 'config.json'), { embedding_dimension: tiny.config.hidden, pooling_mode: 'mean', include_prompt: false });
    enc = await loadEncoder(dir, { threads: 1 });
    try {
      // the prompt "query:" is [CLS] query : [SEP] → 3 tokens before the text (its [SEP] not counted)
      const skip = tok.encode('query: ').ids.length - 1;
      const got = await enc.encode(TEXTS);
      const want = Float32Array.from(TEXTS.flatMap((t) => reference(`query: ${t}`, 'mean', skip)));
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    } finally {
      await enc.release();
    }
  });

  it('a folder whose modules it cannot honour fails to load, naming the module', async () => {
    const dir = await tmp();
    fs.cpSync(tiny.dir, dir, { recursive: true });
    const modules = JSON.parse(fs.readFileSync(path.join(dir, 'modules.json'), 'utf8'));
    writeJson(path.join(dir, 'modules.json'), [...modules, { idx: 9, name: '9', path: '9_CNN', type: 'sentence_transformers.models.CNN' }]);
    await expect(loadEncoder(dir)).rejects.toThrow(/module type 'CNN' is not supported/);
  });
});

