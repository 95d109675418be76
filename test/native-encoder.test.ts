/**
 * Bi-encoders that ship only model.safetensors (no ONNX graph): loadEncoder runs them with the
 * native core and must give onnxruntime's embeddings of the same weights (≤ 1e-4), with the
 * folder's pooling, Dense and Normalize modules and prompts; the resolver accepts such folders only
 * for callers that can run weights (the bi-encoder), and says what is missing otherwise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCrossEncoder } from '../lib/models/cross-encoder';
import { loadEncoder } from '../lib/models/encoder';
import { encodeSafetensors } from '../lib/models/import';
import { resolveModel } from '../lib/models/resolve';
import { writeSentenceTransformersFilesSync, type PoolingMode } from '../lib/models/st-folder';
import { writeTinyModel } from '../lib/models/tiny';
import { nativeBertAvailable } from '../lib/training/students/full';
import { maxAbsDiff, scratchDirs } from './helpers/models';

const tmp = scratchDirs('synthtune-native-enc-');
const native = nativeBertAvailable();
if (!native.ok) console.log(`skipping the native-backend encoder tests: ${native.reason}`);

const TEXTS = ['Vaccines reduce the risk of infection.', 'Protein folding', 'A', 'Embedding models map queries and documents to vectors; relevant pairs end up close together.'];

/** A copy of the ONNX folder `src` with model.safetensors (HF names) instead of the graph. */
function weightsOnly(src: ReturnType<typeof writeTinyModel>, dir: string): string {
  fs.cpSync(src.dir, dir, { recursive: true });
  fs.rmSync(path.join(dir, 'onnx'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'model.safetensors'), encodeSafetensors(src.weights, { format: 'pt' }));
  return dir;
}

describe.skipIf(!native.ok)('native backend of the bi-encoder', () => {
  let tiny: ReturnType<typeof writeTinyModel>;
  beforeAll(async () => {
    tiny = writeTinyModel(await tmp(), { seed: 21, std: 0.2 });
  });

  for (const mode of ['mean', 'cls', 'max', 'weightedmean', ['lasttoken', 'mean_sqrt_len_tokens']] as (PoolingMode | PoolingMode[])[]) {
    it(`a model.safetensors-only folder (${[mode].flat().join('+')} pooling) gives onnxruntime's embeddings`, async () => {
      const width = tiny.config.hidden * [mode].flat().length;
      const dense = { inFeatures: width, outFeatures: 7, bias: true, activation: 'tanh' as const, weight: Float32Array.from({ length: 7 * width }, (_, i) => Math.sin(i) / 3), biasData: Float32Array.from({ length: 7 }, (_, i) => i / 10) };
      const onnxDir = await tmp();
      fs.cpSync(tiny.dir, onnxDir, { recursive: true });
      fs.rmSync(path.join(onnxDir, 'modules.json'));
      writeSentenceTransformersFilesSync(onnxDir, { hidden: tiny.config.hidden, pooling: mode, dense: [dense], normalize: true, prompts: { query: 'query: ' } });
      const wDir = weightsOnly({ ...tiny, dir: onnxDir }, await tmp());
      const a = await loadEncoder(onnxDir, { threads: 1, batchSize: 3 });
      const b = await loadEncoder(wDir, { threads: 1, batchSize: 3 });
      try {
        expect(a.backend).toBe('onnxruntime');
        expect(b.backend).toBe('native');
        expect(b.dim).toBe(7);
        const d = maxAbsDiff(await b.encode(TEXTS), await a.encode(TEXTS));
        console.log(`${[mode].flat().join("+")}: native vs onnxruntime max abs diff ${d.toExponential(2)}`);
        expect(d).toBeLessThan(1e-4);
        expect(maxAbsDiff(await b.encodeQueries(TEXTS), await a.encodeQueries(TEXTS))).toBeLessThan(1e-4);
      } finally {
        await a.release();
        await b.release();
      }
    });
  }

  it("beside an ONNX graph, 'native' and 'auto' run the folder's model.safetensors, 'onnxruntime' the graph", async () => {
    const both = await tmp();
    fs.cpSync(tiny.dir, both, { recursive: true });
    fs.writeFileSync(path.join(both, 'model.safetensors'), encodeSafetensors(tiny.weights, { format: 'pt' }));
    const auto = await loadEncoder(both, { threads: 1 });
    const ort = await loadEncoder(both, { threads: 1, backend: 'onnxruntime' });
    const nat = await loadEncoder(both, { threads: 1, backend: 'native' });
    try {
      expect([auto.backend, ort.backend, nat.backend]).toEqual(['native', 'onnxruntime', 'native']);
      expect(maxAbsDiff(await nat.encode(TEXTS), await ort.encode(TEXTS))).toBeLessThan(1e-5);
      // a batch of one long and several short texts: packed, so no row sees another's padding
      const mixed = [TEXTS[3].repeat(3), 'A', TEXTS[1], TEXTS[0]];
      expect(maxAbsDiff(await nat.encode(mixed, { batchSize: 4 }), await ort.encode(mixed, { batchSize: 1 }))).toBeLessThan(1e-5);
    } finally {
      await Promise.all([auto.release(), ort.release(), nat.release()]);
    }
  });

  it("'auto' runs the graph where the folder does not say how to pool, prompts stay out of pooling, or int8 is asked for", async () => {
    const both = await tmp();
    fs.cpSync(tiny.dir, both, { recursive: true });
    fs.writeFileSync(path.join(both, 'model.safetensors'), encodeSafetensors(tiny.weights, { format: 'pt' }));
    const open = async (o: Parameters<typeof loadEncoder>[1] = {}) => {
      const e = await loadEncoder(both, { threads: 1, ...o });
      await e.release();
      return e.backend;
    };
    expect(await open()).toBe('native');
    // the graph is asked for its sentence_embedding output (this one has none: the graph's own error)
    await expect(open({ pooling: 'model' })).rejects.toThrow(/pooling 'model' needs a sentence_embedding output; .*onnx\/model\.onnx has outputs \[last_hidden_state\]/);
    fs.writeFileSync(path.join(both, '1_Pooling', 'config.json'), JSON.stringify({ embedding_dimension: tiny.config.hidden, pooling_mode: 'mean', include_prompt: false }));
    expect(await open()).toBe('onnxruntime');
    fs.rmSync(path.join(both, 'modules.json'));
    fs.rmSync(path.join(both, '1_Pooling'), { recursive: true });
    expect(await open()).toBe('onnxruntime');
    expect(await open({ pooling: 'cls' })).toBe('native');
  });

  it("'auto' falls back to the graph when the native core cannot run the weights, and says why", async () => {
    const both = await tmp();
    fs.cpSync(tiny.dir, both, { recursive: true });
    // weights under names no architecture the core knows uses
    const renamed = new Map([...tiny.weights].map(([k, v]) => [`mystery.${k}`, v]));
    fs.writeFileSync(path.join(both, 'model.safetensors'), encodeSafetensors(renamed, { format: 'pt' }));
    const lines: string[] = [];
    const e = await loadEncoder(both, { threads: 1, log: (l) => lines.push(l) });
    try {
      expect(e.backend).toBe('onnxruntime');
      expect(lines.join('\n')).toMatch(/running its ONNX graph \(cannot run .*model\.safetensors natively: /);
    } finally {
      await e.release();
    }
    await expect(loadEncoder(both, { backend: 'native' })).rejects.toThrow(/cannot run .*model\.safetensors natively/);
  });

  it('a backend the folder cannot give is a clear error', async () => {
    const wDir = weightsOnly(tiny, await tmp());
    await expect(loadEncoder(tiny.dir, { backend: 'native' })).rejects.toThrow(/backend 'native' needs .*model\.safetensors; the folder has only onnx\/model\.onnx/);
    await expect(loadEncoder(wDir, { backend: 'onnxruntime' })).rejects.toThrow(/missing: onnx\/model\.onnx/);
    await expect(loadEncoder(wDir, { backend: 'native', quantized: true })).rejects.toThrow(/backend 'native' runs float32 weights/);
    await expect(loadEncoder(wDir, { backend: 'gpu' as never })).rejects.toThrow(/backend must be one of auto, onnxruntime, native, got 'gpu'/);
  });

  it('refuses prompt tokens left out of pooling, which the native core cannot do', async () => {
    const dir = weightsOnly(tiny, await tmp());
    fs.writeFileSync(path.join(dir, '1_Pooling', 'config.json'), JSON.stringify({ embedding_dimension: tiny.config.hidden, pooling_mode: 'mean', include_prompt: false }));
    const enc = await loadEncoder(dir);
    await expect(enc.encode(TEXTS, { prompt: 'query: ' })).rejects.toThrow(/include_prompt false .* not supported by the native backend/);
    expect((await enc.encode(TEXTS)).length).toBe(TEXTS.length * tiny.config.hidden);
  });
});

describe('resolving weights-only folders', () => {
  it('only callers that run weights accept a folder without a graph', async () => {
    const tiny = writeTinyModel(await tmp(), { seed: 5 });
    const dir = weightsOnly(tiny, await tmp());
    const r = await resolveModel(dir, { weightsOk: true });
    expect(r.onnxPath).toBeUndefined();
    expect(r.weightsPath).toBe(path.join(dir, 'model.safetensors'));
    await expect(resolveModel(dir)).rejects.toThrow(/is missing: onnx\/model\.onnx \(or onnx\/model_quantized\.onnx or model\.onnx\)$/);
    await expect(loadCrossEncoder(dir)).rejects.toThrow(/has no ONNX graph \(only model\.safetensors\): cross-encoders run on onnxruntime only/);
    fs.rmSync(path.join(dir, 'model.safetensors'));
    await expect(loadEncoder(dir)).rejects.toThrow(/is missing: onnx\/model\.onnx \(or onnx\/model_quantized\.onnx or model\.onnx or model\.safetensors\)/);
  });
});
