/**
 * RoBERTa / XLM-RoBERTa / MPNet (and BERT) in the native core, the pure-TS reference, the ONNX
 * builder and weight import, checked against PyTorch on real-format models, plus every
 * sentence-transformers pooling mode:
 *   (a) config.json parsing per model_type (others: an error naming it); MPNet's relative buckets
 *       == transformers' relative_position_bucket (r in [-600, 600]);
 *   (b) native backward == central differences of a float64 reference, tensor by tensor
 *       (RoBERTa positions, MPNet relative bias incl. its table's gradient, every pooling mode);
 *   (c) with python3 + torch + transformers + sentence-transformers (test/python/make_arch_models.py,
 *       tiny random models saved by transformers, exported by torch.onnx — TorchScript and dynamo):
 *       weights read from model.safetensors == those from both ONNX files; the TS reference's last
 *       hidden states, the native model's embeddings (each pooling mode) and onnxruntime on our ONNX
 *       graph (each pooling mode) == PyTorch + sentence-transformers' Pooling, max abs ≤ 1e-4;
 *       importFullStudent accepts each folder; a trained student's export is that architecture's
 *       folder (config.json model_type, initializer names) and onnxruntime reproduces it.
 * (b) needs the native addon; (c) skips with the reason when python or its packages are missing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bertWeightsFromOnnx, folderBertConfig, readFolderWeights } from '../lib/models/import';
import { bertConfigFromHf, buildBertOnnx, POOLING_MODES, type BertConfig, type PoolingMode, type WeightMap } from '../lib/models/onnx/bert';
import { relativeBucket } from '../lib/models/onnx/mpnet';
import { readModelFolder } from '../lib/models/st-folder';
import { decodeModel } from '../lib/models/onnx/proto';
import { loadOrtModel } from '../lib/models/ort';
import { bertForwardRef } from '../lib/models/reference-forward';
import { randomBertWeights } from '../lib/models/tiny';
import { importFullStudent } from '../lib/training/import-weights';
import { mulberry32 } from '../lib/training/rng';
import {
  createNativeBert, FullStudent, loadNativeWeights, nativeBertAvailable, nativeConfigFrom, type NativeBertHandle,
} from '../lib/training/students/full';
import { archForward64, type Arch64Config } from './helpers/arch-ref64';
import type { Weights64 } from './helpers/bert-ref64';
import { batchOf, scratchDirs } from './helpers/models';
import { pythonMissing } from './helpers/python';

const avail = nativeBertAvailable();
if (!avail.ok) console.log(`arch native tests skipped: ${avail.reason}`);

const pythonWhy = pythonMissing(['torch', 'transformers', 'sentence_transformers']);
if (pythonWhy) console.log(`arch PyTorch comparisons skipped: ${pythonWhy}`);

const TOKENIZER = path.join(__dirname, '..', '..', 'shared', 'models', 'all-MiniLM-L6-v2');
const tmp = scratchDirs('synthtune-arch-');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The internal shapes of one architecture for the native-only checks (vocab 100, hidden 32). */
function shapeOf(arch: 'bert' | 'roberta' | 'xlm-roberta' | 'mpnet'): BertConfig {
  const base = { vocabSize: 100, hidden: 32, layers: 2, heads: 4, intermediate: 64, layerNormEps: 1e-5 };
  if (arch === 'bert') return { ...base, arch, maxPosition: 24, typeVocabSize: 2 };
  if (arch === 'mpnet') return { ...base, arch, maxPosition: 24, typeVocabSize: 0, paddingIdx: 1, relativeBuckets: 32 };
  return { ...base, arch, maxPosition: 24, typeVocabSize: 1, paddingIdx: 1 };
}

// ---- (a) config.json and buckets ----------------------------------------------------------------

describe('architectures: config.json', () => {
  const common = { vocab_size: 50, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 34 };
  it('parses roberta / xlm-roberta / mpnet and refuses any other model_type by name', () => {
    const r = bertConfigFromHf({ ...common, model_type: 'roberta', type_vocab_size: 1, pad_token_id: 1, layer_norm_eps: 1e-5 });
    expect(r).toMatchObject({ arch: 'roberta', paddingIdx: 1, typeVocabSize: 1, layerNormEps: 1e-5, maxPosition: 34 });
    expect(bertConfigFromHf({ ...common, model_type: 'xlm-roberta', type_vocab_size: 1, pad_token_id: 1 }).arch).toBe('xlm-roberta');
    const m = bertConfigFromHf({ ...common, model_type: 'mpnet', relative_attention_num_buckets: 32 });
    expect(m).toMatchObject({ arch: 'mpnet', paddingIdx: 1, typeVocabSize: 0, relativeBuckets: 32 });
    expect(() => bertConfigFromHf({ ...common, model_type: 'mpnet', relative_attention_num_buckets: 64 })).toThrow(/relative_attention_num_buckets 64/);
    expect(() => bertConfigFromHf({ ...common, model_type: 'electra' })).toThrow(/model_type 'electra' is not supported/);
    expect(() => bertConfigFromHf({ ...common, model_type: 'roberta', hidden_act: 'relu' })).toThrow(/hidden_act 'relu'/);
  });

  it('pooling: one mode or a list (concatenated); unknown modes are errors naming them', () => {
    expect(nativeConfigFrom(shapeOf('bert'), { pooling: ['max'] }).pooling).toBe('max');
    expect(nativeConfigFrom(shapeOf('bert')).pooling).toBe('mean');
    expect(nativeConfigFrom(shapeOf('bert'), { pooling: ['max', 'mean'] }).pooling).toEqual(['max', 'mean']);
    expect(() => nativeConfigFrom(shapeOf('bert'), { pooling: ['max', 'median' as never] })).toThrow(/pooling mode 'median' is not supported/);
  });

  it.runIf(avail.ok)('the native model refuses unknown pooling and too-long RoBERTa inputs', () => {
    const cfg = nativeConfigFrom(shapeOf('roberta'), { pooling: 'mean' });
    expect(() => createNativeBert({ ...cfg, pooling: 'median' as never })).toThrow(/pooling must be 'mean', 'cls', 'max'.*got 'median'/);
    expect(() => createNativeBert({ ...cfg, pooling: [] as never })).toThrow(/an array of 1 to 6 of them/);
    const mp = nativeConfigFrom(shapeOf('mpnet'));
    expect(() => createNativeBert({ ...mp, relativeBuckets: 2 })).toThrow(/relativeBuckets must be 0 or in \[4, 4096\]/);
    expect(() => createNativeBert({ ...mp, relativeMaxDistance: 8 } as never)).toThrow(/relativeMaxDistance must exceed relativeBuckets \/ 4/);
    expect(() => createNativeBert({ ...cfg, paddingIdx: 23 })).toThrow(/paddingIdx must be -1 \(BERT positions\) or in \[0, maxPosition - 2\]/);
    const h = createNativeBert(cfg);
    loadNativeWeights(h, randomBertWeights(shapeOf('roberta'), { seed: 1 }));
    // maxPosition 24, paddingIdx 1: at most 22 tokens
    expect(h.forwardSync(new Int32Array(22).fill(5), null, null, 1, 22).every(Number.isFinite)).toBe(true);
    expect(() => h.forwardSync(new Int32Array(23).fill(5), null, null, 1, 23)).toThrow(/seq \(23\) exceeds maxPosition \(24\) less paddingIdx \+ 1 \(2\)/);
    expect(() => new FullStudent({ config: cfg, weights: randomBertWeights(shapeOf('roberta'), { seed: 1 }), maxLength: 23 })).toThrow(/maxLength must be an integer in \[1, 22\]/);
  });
});

// ---- (b) backward vs finite differences ---------------------------------------------------------

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Worst relative error of the native gradient of L = <r, out> against central differences (float64). */
function gradientError(arch: 'bert' | 'roberta' | 'mpnet', pooling: PoolingMode | PoolingMode[], normalize: boolean, seed: number,
  at?: { hidden: number; heads: number; lengths: number[] }): { worst: number; name: string } {
  // MPNet: T = 12 so relative distances reach the logarithmic buckets (|j − i| ≥ 8)
  const lengths = at?.lengths ?? (arch === 'mpnet' ? [12, 9, 2] : [6, 4, 2]);
  const T = Math.max(...lengths);
  const base = shapeOf(arch);
  const shape: BertConfig = at ? { ...base, hidden: at.hidden, heads: at.heads, maxPosition: Math.max(base.maxPosition, T + 2) } : base;
  const weights = randomBertWeights(shape, { seed, std: 0.3 });
  const { ids, mask, types, B } = batchOf(lengths, T, seed + 1);
  const tv = shape.typeVocabSize > 1 ? types : null;
  const C = shape.hidden;
  const rnd = mulberry32(seed + 2);
  const D = C * (typeof pooling === 'string' ? 1 : pooling.length);
  const r = Float32Array.from({ length: B * D }, () => rnd() * 2 - 1);
  const h = createNativeBert(nativeConfigFrom(shape, { pooling, normalize, threads: 2 }));
  loadNativeWeights(h, weights);
  h.zeroGrad();
  h.forwardSync(ids, mask, tv, B, T);
  h.backwardSync(r);
  const grads = h.getGrads();
  const cfg: Arch64Config = { ...shape, pooling, normalize };
  const W: Weights64 = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v.data)]));
  const loss = () => dot(r, archForward64(cfg, W, ids, mask, tv, B, T));
  const eps = 1e-5;
  const fd = (name: string, u: Float64Array): number => {
    const x = W.get(name)!;
    const x0 = x.slice();
    for (let i = 0; i < x.length; i++) x[i] = x0[i] + eps * u[i];
    const lp = loss();
    for (let i = 0; i < x.length; i++) x[i] = x0[i] - eps * u[i];
    const lm = loss();
    x.set(x0);
    return (lp - lm) / (2 * eps);
  };
  let worst = 0;
  let worstName = '';
  const note = (name: string, err: number) => {
    if (err > worst) {
      worst = err;
      worstName = name;
    }
  };
  for (const t of h.layout()) {
    if (t.name.endsWith('attention.self.key.bias')) continue; // exactly 0 (softmax shift invariance): see native-bert.test.ts
    const g = grads.subarray(t.offset, t.offset + t.size);
    const gn = Math.sqrt(dot(g, g));
    expect(gn, `${t.name} has a zero gradient`).toBeGreaterThan(0);
    const ug = Float64Array.from(g, (v) => v / gn);
    note(t.name, Math.abs(fd(t.name, ug) - gn) / gn);
    const u = Float64Array.from({ length: t.size }, () => rnd() * 2 - 1);
    note(t.name, Math.abs(fd(t.name, u) - dot(g, u)) / (gn * Math.sqrt(dot(u, u))));
    const top = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, 2);
    for (const i of top) {
      const e = new Float64Array(t.size);
      e[i] = 1;
      const f = fd(t.name, e);
      note(`${t.name}[${i}]`, Math.abs(f - g[i]) / Math.max(Math.abs(f), Math.abs(g[i])));
    }
  }
  return { worst, name: worstName };
}

describe.runIf(avail.ok)('architectures: native backward vs central differences', () => {
  const cases: ['bert' | 'roberta' | 'mpnet', PoolingMode | PoolingMode[], boolean][] = [
    ['roberta', 'mean', true], ['roberta', 'cls', false], ['mpnet', 'mean', true], ['mpnet', 'lasttoken', false],
    ['bert', 'max', false], ['bert', 'mean_sqrt_len_tokens', true], ['roberta', 'weightedmean', false], ['mpnet', 'max', true],
    ['roberta', ['cls', 'max', 'weightedmean'], true], ['mpnet', ['lasttoken', 'mean_sqrt_len_tokens', 'mean'], false],
  ];
  cases.forEach(([arch, pooling, normalize], i) => {
    const label = [pooling].flat().join('+');
    it(`${arch}, ${label} pooling${normalize ? ', normalised' : ''}`, () => {
      const { worst, name } = gradientError(arch, pooling, normalize, 100 + 10 * i);
      console.log(`FD ${arch} ${label}${normalize ? '+norm' : ''}: worst relative error ${worst.toExponential(2)} (${name})`);
      expect(worst).toBeLessThanOrEqual(1e-3);
    });
  });

  // Head sizes 16..64 (multiples of 16) take the AVX-512 attention path where the CPU has it:
  // rows past a 14-row tile, keys past a 64-column group and a masked 16-column tail; hidden 40
  // the AVX-512 LayerNorm's masked tail.
  const fast: [string, 'bert' | 'roberta' | 'mpnet', number, number, number[]][] = [
    ['hs 16', 'mpnet', 32, 2, [20, 17, 3]], ['hs 32', 'bert', 32, 1, [70, 33, 5]],
    ['hs 48', 'roberta', 48, 1, [19, 16, 1]], ['hs 64', 'bert', 64, 1, [18, 2, 15]],
    ['hidden 40 (LayerNorm rows with a masked 8-wide tail)', 'bert', 40, 5, [9, 4, 2]],
  ];
  fast.forEach(([label, arch, hidden, heads, lengths], i) => {
    it(`${arch}, ${label} (T ${Math.max(...lengths)}, lengths ${lengths.join('/')}), mean pooling`, () => {
      const { worst, name } = gradientError(arch, 'mean', false, 300 + 10 * i, { hidden, heads, lengths });
      console.log(`FD ${arch} ${label}: worst relative error ${worst.toExponential(2)} (${name})`);
      expect(worst).toBeLessThanOrEqual(1e-3);
    });
  });

  it('RoBERTa positions: a padded sequence gives the sequence-alone embedding (positions count real tokens only)', () => {
    const shape = shapeOf('roberta');
    const h = createNativeBert(nativeConfigFrom(shape, { pooling: 'mean', threads: 2 }));
    loadNativeWeights(h, randomBertWeights(shape, { seed: 3, std: 0.2 }));
    const { ids, mask, B, T } = batchOf([8, 5], 8, 4);
    const out = h.forwardSync(ids, mask, null, B, T);
    const alone = h.forwardSync(ids.slice(T, T + 5), null, null, 1, 5, 3);
    expect(maxAbsDiff(alone, out.subarray(32, 64))).toBeLessThanOrEqual(1e-5);
    // and position rows paddingIdx + 1 … are the ones used: position row 0 and 1 get no gradient
    h.zeroGrad();
    h.forwardSync(ids, mask, null, B, T);
    h.backwardSync(new Float32Array(B * 32).fill(1));
    const pos = h.layout().find((t) => t.name === 'embeddings.position_embeddings.weight')!;
    const g = h.getGrads().subarray(pos.offset, pos.offset + pos.size);
    expect(g.subarray(0, 32).every((v) => v === 0)).toBe(true);
    expect(g.subarray(2 * 32, 3 * 32).some((v) => v !== 0)).toBe(true);
  });
});

// ---- (c) against PyTorch ------------------------------------------------------------------------

interface Reference {
  multi: { modes: PoolingMode[]; values: number[] };
  arch: string;
  B: number;
  T: number;
  pad: number;
  ids: number[];
  mask: number[];
  last_hidden_state: number[];
  pooled: Record<PoolingMode, number[]>;
  dynamo: string | null;
  dynamo_error?: string;
}

const ARCHS = ['bert', 'roberta', 'xlm-roberta', 'mpnet'] as const;

describe.runIf(!pythonWhy)('architectures vs PyTorch (transformers-saved tiny models)', () => {
  let root = '';
  const refs = new Map<string, Reference>();
  beforeAll(async () => {
    root = await tmp();
    const r = spawnSync('python3', [path.join(__dirname, 'python', 'make_arch_models.py'), root], {
      encoding: 'utf8', env: { ...process.env, ST_TOKENIZER_DIR: fs.existsSync(TOKENIZER) ? TOKENIZER : '', TOKENIZERS_PARALLELISM: 'false' },
    });
    if (r.status !== 0) throw new Error(`make_arch_models.py failed: ${r.stderr}`);
    for (const a of ARCHS) refs.set(a, JSON.parse(fs.readFileSync(path.join(root, a, 'reference.json'), 'utf8')) as Reference);
  }, 300_000);

  it('MPNet relative buckets == transformers relative_position_bucket', () => {
    const want = JSON.parse(fs.readFileSync(path.join(root, 'buckets.json'), 'utf8')) as number[];
    const got = want.map((_, i) => relativeBucket(i - 600));
    expect(got).toEqual(want);
  });

  it.runIf(avail.ok && fs.existsSync(TOKENIZER))("importFullStudent takes the folder's sentence-transformers pooling (one mode or several) and Normalize (st-folder)", async () => {
    const dir = path.join(root, 'roberta-st');
    fs.cpSync(path.join(root, 'roberta'), dir, { recursive: true });
    const modules = [
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
      { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
    ];
    fs.writeFileSync(path.join(dir, 'modules.json'), JSON.stringify(modules));
    fs.mkdirSync(path.join(dir, '1_Pooling'));
    fs.writeFileSync(path.join(dir, '1_Pooling', 'config.json'), JSON.stringify({ embedding_dimension: 32, pooling_mode: 'weightedmean', include_prompt: true }));
    const r = await importFullStudent(dir, { threads: 1 });
    expect(r.student.config).toMatchObject({ arch: 'roberta', pooling: 'weightedmean', normalize: true });
    expect(r.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    fs.writeFileSync(path.join(dir, '1_Pooling', 'config.json'), JSON.stringify({ embedding_dimension: 32, pooling_mode: ['cls', 'max'], include_prompt: true }));
    const m = await importFullStudent(dir, { threads: 1 });
    expect(m.student.config.pooling).toEqual(['cls', 'max']);
    expect(m.student.dim).toBe(64);
    expect(m.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    console.log(`roberta ST folder: weightedmean+Normalize check ${r.check!.maxAbsDiff.toExponential(2)}, cls+max+Normalize check ${m.check!.maxAbsDiff.toExponential(2)}`);
    // export of several modes: sentence-transformers' pooling_mode list, the concatenation in the graph
    const out = path.join(root, 'roberta-st-export');
    await m.student.exportArtifact(out, { tokenizerDir: dir });
    expect(readModelFolder(out).pooling?.modes).toEqual(['cls', 'max']);
    const back = await importFullStudent(out, { threads: 1 });
    expect(back.student.dim).toBe(64);
    expect(back.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
  }, 60_000);

  const rows = (a: number[], B: number, T: number) => Array.from({ length: B }, (_, b) => a.slice(b * T, (b + 1) * T));

  for (const arch of ARCHS) {
    describe(arch, () => {
      const folder = () => path.join(root, arch);
      const ref = () => refs.get(arch)!;

      it('config.json and model.safetensors read; both ONNX exports give the same weights', () => {
        const w = readFolderWeights(folder(), { source: 'safetensors' });
        expect(w.config.arch ?? 'bert').toBe(arch);
        for (const onnxFile of ['onnx/model.onnx', ref().dynamo].filter((f): f is string => Boolean(f))) {
          const o = bertWeightsFromOnnx(decodeModel(new Uint8Array(fs.readFileSync(path.join(folder(), onnxFile)))), w.config, onnxFile);
          let worst = 0;
          for (const [name, t] of w.weights) worst = Math.max(worst, maxAbsDiff(o.weights.get(name)!.data, t.data));
          console.log(`${arch} ${onnxFile}: ${o.weights.size} tensors, max diff vs safetensors ${worst}; by position: ${o.positional.length}`);
          expect(worst).toBe(0);
        }
        if (!ref().dynamo) console.log(`${arch}: dynamo export unavailable (${ref().dynamo_error})`);
      });

      it('TS reference forward == PyTorch last_hidden_state (≤ 1e-4)', () => {
        const w = readFolderWeights(folder(), { source: 'safetensors' });
        const { B, T } = ref();
        const out = bertForwardRef(w.config, w.weights, { inputIds: rows(ref().ids, B, T), attentionMask: rows(ref().mask, B, T) });
        const d = maxAbsDiff(out.lastHiddenState, ref().last_hidden_state);
        console.log(`${arch}: reference forward vs PyTorch max abs ${d.toExponential(2)}`);
        expect(d).toBeLessThanOrEqual(1e-4);
      });

      it.runIf(avail.ok)('native forward, every pooling mode == PyTorch + sentence-transformers Pooling (≤ 1e-4)', () => {
        const w = readFolderWeights(folder(), { source: 'safetensors' });
        const { B, T } = ref();
        const diffs: string[] = [];
        for (const pooling of POOLING_MODES) {
          const h: NativeBertHandle = createNativeBert(nativeConfigFrom(w.config, { pooling, threads: 2 }));
          loadNativeWeights(h, w.weights);
          const out = h.forwardSync(Int32Array.from(ref().ids), Int32Array.from(ref().mask), null, B, T);
          const d = maxAbsDiff(out, ref().pooled[pooling]);
          diffs.push(`${pooling} ${d.toExponential(2)}`);
          expect(d, pooling).toBeLessThanOrEqual(1e-4);
        }
        const h = createNativeBert(nativeConfigFrom(w.config, { pooling: ref().multi.modes, threads: 2 }));
        loadNativeWeights(h, w.weights);
        const d = maxAbsDiff(h.forwardSync(Int32Array.from(ref().ids), Int32Array.from(ref().mask), null, B, T), ref().multi.values);
        diffs.push(`${ref().multi.modes.join('+')} ${d.toExponential(2)}`);
        expect(d, 'several modes').toBeLessThanOrEqual(1e-4);
        console.log(`${arch}: native vs PyTorch max abs: ${diffs.join(', ')}`);
      });

      it('our ONNX graph, every pooling mode, through onnxruntime == PyTorch (≤ 1e-4)', async () => {
        const w = readFolderWeights(folder(), { source: 'safetensors' });
        const { B, T } = ref();
        const big = (a: number[]) => ({ data: BigInt64Array.from(a, (v) => BigInt(v)), dims: [B, T] });
        const diffs: string[] = [];
        for (const pooling of [...POOLING_MODES, ref().multi.modes]) {
          const label = [pooling].flat().join('+');
          const want = typeof pooling === 'string' ? ref().pooled[pooling] : ref().multi.values;
          const file = path.join(root, `${arch}-${label}.onnx`);
          fs.writeFileSync(file, buildBertOnnx({ ...w.config, pooling }, w.weights));
          const ort = await loadOrtModel(file, { requiredInputs: ['input_ids', 'attention_mask'], optionalInputs: ['token_type_ids'], anyOutput: ['sentence_embedding'] });
          const feeds: Record<string, { data: BigInt64Array; dims: number[] }> = { input_ids: big(ref().ids), attention_mask: big(ref().mask) };
          if (arch === 'bert') feeds.token_type_ids = big(new Array(B * T).fill(0));
          const got = await ort.run(feeds, ['sentence_embedding', 'last_hidden_state']);
          await ort.release();
          const d = maxAbsDiff(got.sentence_embedding.data, want);
          if (pooling === 'mean') expect(maxAbsDiff(got.last_hidden_state.data, ref().last_hidden_state)).toBeLessThanOrEqual(1e-4);
          diffs.push(`${label} ${d.toExponential(2)}`);
          expect(d, label).toBeLessThanOrEqual(1e-4);
        }
        console.log(`${arch}: ONNX graph (onnxruntime) vs PyTorch max abs: ${diffs.join(', ')}`);
      }, 60_000);

      it.runIf(avail.ok && fs.existsSync(TOKENIZER))('importFullStudent accepts the folder (safetensors and ONNX initializers); export writes the architecture', async () => {
        for (const source of ['safetensors', 'onnx'] as const) {
          const r = await importFullStudent(folder(), { source, threads: 1 });
          expect(r.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
          console.log(`${arch}: import (${source}) check max abs ${r.check!.maxAbsDiff.toExponential(2)}`);
        }
        const { student } = await importFullStudent(folder(), { check: false, pooling: 'max', normalize: true });
        const out = path.join(root, `${arch}-export`);
        await student.exportArtifact(out, { tokenizerDir: folder() });
        const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
        expect(cfg.model_type).toBe(arch);
        expect(folderBertConfig(out).arch ?? 'bert').toBe(arch);
        expect(readModelFolder(out).pooling?.modes).toEqual(['max']);
        expect(readModelFolder(out).normalize).toBe(true);
        const model = decodeModel(new Uint8Array(fs.readFileSync(path.join(out, 'onnx', 'model.onnx'))));
        const inits = new Set(model.graph.initializer.map((t) => t.name));
        expect(inits.has(arch === 'mpnet' ? 'encoder.layer.0.attention.attn.q.weight' : 'encoder.layer.0.attention.self.query.weight')).toBe(true);
        if (arch === 'mpnet') expect(inits.has('encoder.relative_attention_bias.weight')).toBe(true);
        // re-import of the export (its ONNX initializers) reproduces the student's weights
        const back = readFolderWeights(out, { source: 'onnx' });
        const mine: WeightMap = student.weightMap();
        for (const [name, t] of mine) expect(maxAbsDiff(back.weights.get(name)!.data, t.data), name).toBe(0);
        const texts = [[101, 2054, 2003, 102], [101, 7592, 102]];
        const want = await student.encode(texts, 'document');
        const ort = await loadOrtModel(path.join(out, 'onnx', 'model.onnx'), { requiredInputs: ['input_ids', 'attention_mask'], optionalInputs: ['token_type_ids'], anyOutput: ['sentence_embedding'] });
        const pad = student.padId;
        const big = (a: number[]) => ({ data: BigInt64Array.from(a, (v) => BigInt(v)), dims: [2, 4] });
        const feeds: Record<string, { data: BigInt64Array; dims: number[] }> = {
          input_ids: big([101, 2054, 2003, 102, 101, 7592, 102, pad]), attention_mask: big([1, 1, 1, 1, 1, 1, 1, 0]),
        };
        if (arch === 'bert') feeds.token_type_ids = big(new Array(8).fill(0));
        else expect(ort.inputNames ?? [], 'RoBERTa / MPNet graphs take no token_type_ids').not.toContain('token_type_ids');
        const got = await ort.run(feeds, ['sentence_embedding']);
        await ort.release();
        const d = maxAbsDiff(got.sentence_embedding.data, want);
        console.log(`${arch}: export (max pooling, normalised): onnxruntime vs native max abs ${d.toExponential(2)}`);
        expect(d).toBeLessThanOrEqual(1e-4);
      }, 120_000);
    });
  }
});
