/**
 * Dynamic int8 quantisation (lib/models/onnx/quantize.ts): the TypeScript transformation gives the
 * same quantised weights, scales and zero points as onnxruntime's Python quantize_dynamic
 * (op_types_to_quantize=['MatMul']) on the same graph — bit for bit — and the same outputs in
 * onnxruntime; its outputs follow the float32 graph within a stated bound. The Python comparison
 * is skipped (with the reason printed) where python3 or onnxruntime's Python package is missing.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { writeTinyModel } from '../lib/models/tiny';
import { agreement, quantizeDynamic, quantizeWeight, type WeightQuantType } from '../lib/models/onnx/quantize';
import { decodeModel, encodeModel, DataType, type TensorProtoObj } from '../lib/models/onnx/proto';
import { maxAbsDiff, scratchDirs, seededInts } from './helpers/models';
import { pythonMissing } from './helpers/python';

const tmp = scratchDirs('synthtune-quant-');
const SCRIPT = path.join(__dirname, 'python', 'quant_dynamic.py');

const noPython = pythonMissing(['onnxruntime.quantization', 'onnx']);
if (noPython) console.warn(`quantize.test: skipping the comparison with onnxruntime's quantize_dynamic: ${noPython}`);

/** A padded batch of B sequences of lengths 3..S within vocabulary V. */
function batch(B: number, S: number, V: number, seed: number) {
  const rnd = seededInts(seed);
  const ids = new BigInt64Array(B * S);
  const mask = new BigInt64Array(B * S);
  for (let b = 0; b < B; b++) {
    const L = b === 0 ? S : rnd(3, S + 1);
    for (let s = 0; s < L; s++) {
      ids[b * S + s] = BigInt(s === 0 ? 2 : rnd(5, V));
      mask[b * S + s] = 1n;
    }
  }
  return { input_ids: new ort.Tensor('int64', ids, [B, S]), attention_mask: new ort.Tensor('int64', mask, [B, S]) };
}

async function run(file: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  try {
    const inputs = Object.fromEntries(Object.entries(feeds).filter(([k]) => s.inputNames.includes(k)));
    if (s.inputNames.includes('token_type_ids')) {
      const m = feeds.attention_mask;
      inputs.token_type_ids = new ort.Tensor('int64', new BigInt64Array(m.data.length), m.dims as number[]);
    }
    const out = await s.run(inputs);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await s.release();
  }
}

function tensorBytes(t: TensorProtoObj): Uint8Array {
  if (t.raw_data && t.raw_data.byteLength) return t.raw_data;
  // onnx.helper.make_tensor writes small scalars into typed fields
  if (t.data_type === DataType.FLOAT) return new Uint8Array(Float32Array.from(t.float_data ?? []).buffer);
  const ints = t.int32_data ?? [];
  return t.data_type === DataType.INT8 ? new Uint8Array(Int8Array.from(ints).buffer) : Uint8Array.from(ints);
}

describe('quantizeWeight', () => {
  it('int8 is symmetric in [-127, 127] with zero point 0; uint8 spans [0, 255] with a zero point', () => {
    const w = Float32Array.from([-0.5, 0.25, 0.1, 0.0, 0.3, -0.05]);
    const s8 = quantizeWeight(w, [2, 3], 'int8');
    expect(s8.scale[0]).toBe(Math.fround(1 / 254));
    expect(s8.zp[0]).toBe(0);
    expect(Array.from(s8.q)).toEqual([-127, 64, 25, 0, 76, -13]);
    const u8 = quantizeWeight(w, [2, 3], 'uint8');
    expect(u8.scale[0]).toBe(Math.fround(0.8 / 255));
    expect(u8.zp[0]).toBe(159);
    for (let i = 0; i < w.length; i++) expect(Math.abs((u8.q[i] - u8.zp[0]) * u8.scale[0] - w[i])).toBeLessThanOrEqual(u8.scale[0] / 2 + 1e-7);
    const pc = quantizeWeight(w, [2, 3], 'int8', true);
    expect(pc.scale.length).toBe(3);
    expect(pc.q[0]).toBe(-127); // column 0's max |w| maps to -127
  });

  it('an all-zero weight gets scale 1 (as onnxruntime)', () => {
    const z = quantizeWeight(new Float32Array(6), [2, 3], 'int8');
    expect(z.scale[0]).toBe(1);
    expect(Array.from(z.q)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('quantizeDynamic on a BERT graph', () => {
  for (const weightType of ['int8', 'uint8'] as WeightQuantType[]) {
    it(`${weightType}: MatMuls become MatMulInteger; outputs follow float32; identical to onnxruntime's quantize_dynamic`, async () => {
      const dir = await tmp();
      const { config } = writeTinyModel(path.join(dir, 'm'), { seed: 11, std: 0.2, shape: { pooling: 'mean' } });
      const fp32 = path.join(dir, 'm', 'onnx', 'model.onnx');
      const model = decodeModel(fs.readFileSync(fp32));
      const matmuls = model.graph.node.filter((n) => n.op_type === 'MatMul').length;
      const rep = quantizeDynamic(model, { weightType });
      // 6 weight MatMuls per layer; the 2 attention MatMuls per layer (activation × activation) stay float
      expect(rep.quantized).toBe(6 * config.layers);
      expect(rep.skipped).toBe(matmuls - 6 * config.layers);
      expect(model.graph.node.filter((n) => n.op_type === 'MatMulInteger').length).toBe(6 * config.layers);
      expect(model.graph.node.filter((n) => n.op_type === 'DynamicQuantizeLinear').length).toBe(4 * config.layers); // q/k/v share one
      const ours = path.join(dir, 'ours.onnx');
      fs.writeFileSync(ours, encodeModel(model));

      const feeds = batch(5, 12, config.vocabSize, 3);
      const want = await run(fp32, feeds);
      const got = await run(ours, feeds);
      const a = agreement(got.sentence_embedding, want.sentence_embedding, config.hidden);
      console.log(`${weightType} quantised vs float32 (tiny BERT, std 0.2): min cosine ${a.minCosine.toFixed(5)}, max abs ${a.maxAbsDiff.toExponential(2)}`);
      expect(a.minCosine).toBeGreaterThan(0.99);

      if (noPython) return;
      const theirs = path.join(dir, 'theirs.onnx');
      const r = spawnSync('python3', [SCRIPT, fp32, theirs, weightType], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const ref = decodeModel(fs.readFileSync(theirs));
      const refInits = new Map(ref.graph.initializer.map((t) => [t.name, t]));
      const quantNames = model.graph.initializer.map((t) => t.name).filter((n) => /_(quantized|scale|zero_point)$/.test(n));
      expect(quantNames.length).toBe(3 * 6 * config.layers);
      for (const name of quantNames) {
        const mine = model.graph.initializer.find((t) => t.name === name)!;
        const theirsT = refInits.get(name);
        expect(theirsT, `onnxruntime has no initializer ${name}`).toBeDefined();
        expect(theirsT!.data_type, name).toBe(mine.data_type);
        expect((theirsT!.dims ?? []).map(Number), name).toEqual(mine.dims);
        expect(Buffer.from(tensorBytes(theirsT!)).equals(Buffer.from(tensorBytes(mine))), `${name} differs from onnxruntime's`).toBe(true);
      }
      // the same op pattern: every MatMulInteger and DynamicQuantizeLinear of theirs exists in ours
      const sig = (n: { op_type: string; input: string[]; output: string[] }) => `${n.op_type}(${n.input.join(',')})->${n.output.join(',')}`;
      const mineSigs = new Set(model.graph.node.map(sig));
      for (const n of ref.graph.node.filter((x) => ['MatMulInteger', 'DynamicQuantizeLinear', 'Cast', 'Mul'].includes(x.op_type))) {
        expect(mineSigs.has(sig(n)), `missing ${sig(n)}`).toBe(true);
      }
      const refOut = await run(theirs, feeds);
      const d = maxAbsDiff(got.sentence_embedding, refOut.sentence_embedding);
      console.log(`${weightType}: synthtune vs onnxruntime quantize_dynamic graph outputs: max abs diff ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-6);
    });
  }

  it.skipIf(Boolean(noPython))('per-channel int8 weights match onnxruntime per_channel=True', async () => {
    const dir = await tmp();
    writeTinyModel(path.join(dir, 'm'), { seed: 12, std: 0.2, shape: { layers: 1 } });
    const fp32 = path.join(dir, 'm', 'onnx', 'model.onnx');
    const model = decodeModel(fs.readFileSync(fp32));
    quantizeDynamic(model, { weightType: 'int8', perChannel: true });
    const theirs = path.join(dir, 'theirs.onnx');
    const r = spawnSync('python3', [SCRIPT, fp32, theirs, 'int8', 'per_channel'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const ref = new Map(decodeModel(fs.readFileSync(theirs)).graph.initializer.map((t) => [t.name, t]));
    for (const t of model.graph.initializer.filter((x) => /_(quantized|scale|zero_point)$/.test(x.name))) {
      const o = ref.get(t.name);
      expect(o, t.name).toBeDefined();
      expect((o!.dims ?? []).map(Number), t.name).toEqual(t.dims);
      expect(Buffer.from(tensorBytes(o!)).equals(Buffer.from(tensorBytes(t))), `${t.name} differs`).toBe(true);
    }
  });

  it('refuses an opset below 11', () => {
    const m = decodeModel(encodeModel({ ir_version: 6, opset_import: [{ domain: '', version: 10 }], producer_name: 'x', producer_version: '1',
      graph: { name: 'g', node: [], initializer: [], input: [], output: [] } }));
    expect(() => quantizeDynamic(m)).toThrow(/opset ≥ 11/);
  });
});
