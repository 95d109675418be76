/**
 * Weight import for `method: 'full'` (lib/models/import.ts, lib/training/import-weights.ts): a
 * tiny model folder (ONNX with HF names) and variants built from it — model.safetensors in
 * PyTorch [out, in] layout with a 'bert.' prefix (F32; F16/BF16 decoding), an ONNX file whose
 * MatMul weights are renamed `onnx::MatMul_N` (found by their biases), one where biases and
 * LayerNorm parameters are renamed too (graph position and data flow), one with optimum-style
 * node names. Each import must pass the acceptance check (native vs onnxruntime ≤ 1e-4); a
 * corrupted weight fails it with a message naming the tensor; a missing tensor is named.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bertWeightsFromOnnx, canonicalName, encodeSafetensors, readFolderWeights, readSafetensors, roleFromNodeName,
} from '../lib/models/import';
import type { WeightMap } from '../lib/models/onnx/bert';
import { decodeModel, encodeModel, type ModelProtoObj } from '../lib/models/onnx/proto';
import { writeTinyModel } from '../lib/models/tiny';
import { ImportCheckError, importFullStudent } from '../lib/training/import-weights';
import { nativeBertAvailable } from '../lib/training/students/full';

const avail = nativeBertAvailable();
if (!avail.ok) console.log(`import tests skipped: ${avail.reason}`);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-import-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const SHAPE = { hidden: 32, layers: 2, heads: 4, intermediate: 48, maxPosition: 64 };
const base = writeTinyModel(path.join(root, 'base'), { seed: 5, std: 0.2, shape: SHAPE });
const onnxFile = (dir: string) => path.join(dir, 'onnx', 'model.onnx');

/** A copy of the base folder (tokenizer, config, pooling, ONNX). */
function variant(name: string): string {
  const dir = path.join(root, name);
  fs.cpSync(base.dir, dir, { recursive: true });
  return dir;
}

function rewriteOnnx(dir: string, edit: (m: ModelProtoObj) => void): void {
  const m = decodeModel(new Uint8Array(fs.readFileSync(onnxFile(dir))));
  edit(m);
  fs.writeFileSync(onnxFile(dir), encodeModel(m));
}

/** Renames initializers (and every node input using them). */
function renameInits(m: ModelProtoObj, rename: (name: string, i: number) => string | null): Map<string, string> {
  const map = new Map<string, string>();
  m.graph.initializer.forEach((t, i) => {
    const n = rename(t.name, i);
    if (n) map.set(t.name, n);
  });
  for (const t of m.graph.initializer) t.name = map.get(t.name) ?? t.name;
  for (const node of m.graph.node) node.input = node.input.map((x) => map.get(x) ?? x);
  return map;
}

const isLinearW = (n: string) => /(query|key|value|dense)\.weight$/.test(n);

function safetensorsOf(weights: WeightMap, prefix: string, skip: string[] = [], corrupt?: string): Uint8Array {
  const m = new Map<string, { dims: number[]; data: Float32Array }>();
  for (const [name, t] of weights) {
    if (skip.includes(name)) continue;
    const data = t.data.slice();
    if (name === corrupt) for (let i = 0; i < data.length; i++) data[i] += 0.3 * Math.sin(i);
    m.set(prefix + name, { dims: t.dims, data }); // HF / PyTorch layout [out, in]
  }
  // a non-float buffer, as old checkpoints have
  return encodeSafetensors(m, { format: 'pt' });
}

describe('safetensors and names', () => {
  it('reads F32, F16 and BF16 tensors as float32', () => {
    const t = new Map([['a.weight', { dims: [2, 3], data: Float32Array.from([0.5, -1.25, 3, 1e-3, -65504, 0.1]) }]]);
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const f = readSafetensors(encodeSafetensors(t, undefined, dtype));
      const got = f.tensors.get('a.weight')!;
      expect(got.dims).toEqual([2, 3]);
      expect(got.dtype).toBe(dtype);
      const tol = dtype === 'F32' ? 0 : dtype === 'F16' ? 1e-3 : 1e-2;
      got.data.forEach((x, i) => expect(Math.abs(x - t.get('a.weight')!.data[i])).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(x))));
    }
  });

  it('rejects a truncated file with a clear error', () => {
    const bytes = encodeSafetensors(new Map([['x', { dims: [4], data: new Float32Array(4) }]]));
    expect(() => readSafetensors(bytes.subarray(0, bytes.length - 4))).toThrow(/'x' has data offsets/);
  });

  it('canonical names and exporter node names', () => {
    expect(canonicalName('bert.encoder.layer.0.output.LayerNorm.gamma')).toBe('encoder.layer.0.output.LayerNorm.weight');
    expect(canonicalName('0.auto_model.embeddings.word_embeddings.weight')).toBe('embeddings.word_embeddings.weight');
    expect(roleFromNodeName('/encoder/layer.3/attention/self/query/MatMul')).toBe('encoder.layer.3.attention.self.query');
    expect(roleFromNodeName('/0/auto_model/encoder/layer.11/attention/output/dense/MatMul')).toBe('encoder.layer.11.attention.output.dense');
    expect(roleFromNodeName('/bert/encoder/layer.1/output/dense/MatMul')).toBe('encoder.layer.1.output.dense');
    expect(roleFromNodeName('/encoder/layer.1/intermediate/dense/MatMul')).toBe('encoder.layer.1.intermediate.dense');
    expect(roleFromNodeName('MatMul_12')).toBeNull();
  });
});

describe.runIf(avail.ok)('importing into the native encoder (acceptance check ≤ 1e-4)', () => {
  const expectSameWeights = (got: WeightMap) => {
    for (const [name, t] of base.weights) {
      const g = got.get(name);
      expect(g, name).toBeDefined();
      expect(g!.dims, name).toEqual(t.dims);
      expect(g!.data, name).toEqual(t.data);
    }
  };

  it('ONNX with HF initializer names (stored [in, out])', async () => {
    const r = await importFullStudent(base.dir, { source: 'onnx', threads: 1 });
    console.log(`onnx (HF names): max abs diff ${r.check!.maxAbsDiff.toExponential(2)} on ${r.check!.samples} samples`);
    expect(r.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(r.weights.source).toBe('onnx');
    expectSameWeights(r.weights.weights);
  });

  it("model.safetensors, PyTorch [out, in] layout with a 'bert.' prefix", async () => {
    const dir = variant('st');
    fs.writeFileSync(path.join(dir, 'model.safetensors'), safetensorsOf(base.weights, 'bert.'));
    const r = await importFullStudent(dir, { threads: 1, sampleTexts: ['protein folding', 'the lazy dog sleeps'] });
    expect(r.weights.source).toBe('safetensors');
    expect(r.check!.samples).toBe(2);
    expect(r.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expectSameWeights(r.weights.weights);
  });

  it("ONNX whose MatMul weights are renamed 'onnx::MatMul_N' (found by their biases)", async () => {
    const dir = variant('anon');
    let k = 1000;
    rewriteOnnx(dir, (m) => renameInits(m, (n) => (isLinearW(n) ? `onnx::MatMul_${k++}` : null)));
    const r = await importFullStudent(dir, { source: 'onnx', threads: 1 });
    expect(r.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expectSameWeights(r.weights.weights);
    expect(r.weights.origin.get('encoder.layer.1.attention.self.key.weight')).toMatch(/onnx::MatMul_\d+ \(by its bias/);
  });

  it('ONNX with anonymous weights, biases and LayerNorm parameters (graph position and data flow)', async () => {
    const dir = variant('anon-all');
    rewriteOnnx(dir, (m) => renameInits(m, (n, i) => (n.startsWith('encoder.') ? `onnx::Param_${7000 - i}` : null)));
    const r = await importFullStudent(dir, { source: 'onnx', threads: 1 });
    expect(r.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expectSameWeights(r.weights.weights);
    expect(r.weights.positional).toContain('encoder.layer.0.attention.self.value.weight');
    expect(r.weights.origin.get('encoder.layer.1.attention.self.query.weight')).toMatch(/by graph position: layer 1, query/);
  });

  it('ONNX with optimum-style node names and anonymous weights and biases', async () => {
    const dir = variant('optimum');
    rewriteOnnx(dir, (m) => {
      // name each linear MatMul after its weight, then anonymise weights and biases
      for (const node of m.graph.node) {
        const w = node.input[1];
        if (node.op_type === 'MatMul' && w && isLinearW(w)) node.name = `/${w.replace(/\.weight$/, '').replace(/\./g, '/').replace(/layer\/(\d+)/, 'layer.$1')}/MatMul`;
      }
      let k = 1;
      renameInits(m, (n) => (/^encoder\..*(weight|bias)$/.test(n) && !n.includes('LayerNorm') ? `onnx::T_${k++}` : null));
    });
    const r = await importFullStudent(dir, { source: 'onnx', threads: 1 });
    expect(r.check!.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expectSameWeights(r.weights.weights);
    expect(r.weights.origin.get('encoder.layer.0.output.dense.weight')).toMatch(/by node name \/encoder\/layer\.0\/output\/dense\/MatMul/);
  });

  it('a corrupted weight fails the acceptance check, naming the outputs and the tensor', async () => {
    const dir = variant('corrupt');
    const bad = 'encoder.layer.1.intermediate.dense.weight';
    fs.writeFileSync(path.join(dir, 'model.safetensors'), safetensorsOf(base.weights, '', [], bad));
    const err = await importFullStudent(dir, { threads: 1 }).then(() => null, (e: unknown) => e as ImportCheckError);
    expect(err).toBeInstanceOf(ImportCheckError);
    console.log(err!.message);
    expect(err!.message).toMatch(/import check failed/);
    expect(err!.message).toMatch(/outputs that differ: sample 0/);
    expect(err!.message).toContain(`tensors of model.safetensors that differ from`);
    expect(err!.message).toContain(bad);
    expect(err!.message.match(/max abs diff/g)!.length).toBe(2); // the outputs line and exactly one tensor
    expect(err!.check.maxAbsDiff).toBeGreaterThan(1e-4);
  });

  it('a missing tensor is an error naming it', async () => {
    const dir = variant('missing');
    fs.writeFileSync(path.join(dir, 'model.safetensors'), safetensorsOf(base.weights, 'bert.', ['encoder.layer.1.output.dense.bias']));
    expect(() => readFolderWeights(dir)).toThrow(/model\.safetensors lacks 1 tensor\(s\).*'encoder\.layer\.1\.output\.dense\.bias' \[32\]/);
    await expect(importFullStudent(dir, { threads: 1 })).rejects.toThrow(/encoder\.layer\.1\.output\.dense\.bias/);
    // and from an ONNX file without that initializer (its Add reads a graph input instead)
    const m = decodeModel(new Uint8Array(fs.readFileSync(onnxFile(base.dir))));
    m.graph.initializer = m.graph.initializer.filter((t) => t.name !== 'encoder.layer.0.attention.self.value.bias');
    expect(() => bertWeightsFromOnnx(m, base.config)).toThrow(/lacks 1 tensor\(s\).*'encoder\.layer\.0\.attention\.self\.value\.bias'/);
  });
});
