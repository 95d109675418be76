/**
 * Dynamic int8 quantisation of an ONNX graph, the transformation onnxruntime's
 * `quantize_dynamic(model, out, op_types_to_quantize=['MatMul'])` applies (IntegerOps mode,
 * MatMulConstBOnly, per-tensor weights), written in TypeScript so exports need no Python.
 * transformers.js loads the result as dtype 'q8' (onnx/model_quantized.onnx).
 *
 * Every MatMul whose B input is a float initializer W (K,N) becomes
 *
 *   x_q, x_scale, x_zp = DynamicQuantizeLinear(x)          uint8 activations, per tensor, per call
 *   y_i32 = MatMulInteger(x_q, W_q, x_zp, W_zp)             W_q int8 (or uint8), stored
 *   y     = Cast<float>(y_i32) · (x_scale · W_scale)
 *
 * with the names onnxruntime gives (`x_quantized`, `x_scale`, `x_zero_point`, `W_quantized`,
 * `W_scale`, `W_zero_point`, `<node>_quant`, ...), one DynamicQuantizeLinear per activation and
 * one quantised copy per weight however many MatMuls share them. Other ops (attention's
 * activation×activation MatMuls, Gather of embeddings, LayerNorm) stay float32.
 *
 * Weight parameters, exactly as onnxruntime.quantization.quant_utils computes them (float32
 * arithmetic where numpy's is float32, round half to even):
 *   rmin = min(min W, 0), rmax = max(max W, 0)
 *   int8 (symmetric, [-127, 127]): a = max(|rmin|, rmax), scale = f32(f32(2a) / 254), zp = 0
 *   uint8 (asymmetric, [0, 255]):  scale = f32(f32(rmax − rmin) / 255), zp = round(0 − rmin / scale)
 *   W_q = clip(round(f32(W / scale)) + zp, qmin, qmax)   (full type range for the clip)
 *   perChannel: the same per column n of W (K,N), scale and zp of shape (N).
 */
import { initializerFloats } from '../import';
import { DataType, type ModelProtoObj, type NodeProtoObj, type TensorProtoObj } from './proto';
import { OptionsError } from '../../util/errors';
import { ModelError } from '../errors';

export type WeightQuantType = 'int8' | 'uint8';

export interface QuantizeOptions {
  /** Weight type: 'int8' (default, symmetric; onnxruntime's QInt8 default) or 'uint8' (QUInt8, asymmetric). */
  weightType?: WeightQuantType;
  /** One scale / zero point per output column of each weight (onnxruntime per_channel=True). Default false. */
  perChannel?: boolean;
  /** Names of MatMul nodes to leave in float32. */
  exclude?: string[];
}

export interface QuantizeReport {
  /** MatMul nodes replaced, and those left float (activation × activation, excluded). */
  quantized: number;
  skipped: number;
  /** Bytes of float weights replaced by 1-byte integers. */
  weightBytesBefore: number;
  weightBytesAfter: number;
}

/** Round half to even (numpy.round). */
function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const F32_TINY = 1.1754943508222875e-38;

/** Scale and zero point of one range, as onnxruntime's compute_scale_zp. */
function scaleZp(lo: number, hi: number, type: WeightQuantType): { scale: number; zp: number } {
  const rmin = Math.min(lo, 0);
  const rmax = Math.max(hi, 0);
  if (type === 'int8') {
    const a = Math.max(Math.abs(rmin), Math.abs(rmax));
    const scale = Math.fround(a * 2) / 254;
    return scale < F32_TINY ? { scale: 1, zp: 0 } : { scale: Math.fround(scale), zp: 0 };
  }
  const scale64 = Math.fround(rmax - rmin) / 255;
  if (scale64 < F32_TINY) return { scale: 1, zp: 0 };
  return { scale: Math.fround(scale64), zp: Math.min(255, Math.max(0, roundEven(0 - rmin / scale64))) };
}

/** Quantised weight (K,N) with per-tensor (1) or per-column (N) scales / zero points. */
export function quantizeWeight(w: Float32Array, dims: number[], type: WeightQuantType, perChannel = false):
  { q: Int8Array | Uint8Array; scale: Float32Array; zp: Int8Array | Uint8Array } {
  const N = perChannel ? dims[dims.length - 1] : 1;
  const [qmin, qmax] = type === 'int8' ? [-128, 127] : [0, 255];
  const q = type === 'int8' ? new Int8Array(w.length) : new Uint8Array(w.length);
  const scale = new Float32Array(N);
  const zp = type === 'int8' ? new Int8Array(N) : new Uint8Array(N);
  for (let n = 0; n < N; n++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = n; i < w.length; i += N) {
      if (w[i] < lo) lo = w[i];
      if (w[i] > hi) hi = w[i];
    }
    if (w.length === 0) lo = hi = 0;
    const p = scaleZp(lo, hi, type);
    scale[n] = p.scale;
    zp[n] = p.zp;
    const s = scale[n];
    for (let i = n; i < w.length; i += N) q[i] = Math.min(qmax, Math.max(qmin, roundEven(Math.fround(w[i] / s)) + p.zp));
  }
  return { q, scale, zp };
}

export interface Agreement {
  /** Rows compared. */
  rows: number;
  /** Cosine similarity of each quantised row with its float32 row: the smallest and the mean. */
  minCosine: number;
  meanCosine: number;
  /** max |quantised − float32| over all values. */
  maxAbsDiff: number;
}

/** How closely (N, D) embeddings `got` follow `want` (row by row). */
export function agreement(got: Float32Array, want: Float32Array, dim: number): Agreement {
  if (got.length !== want.length || want.length % dim !== 0) throw new Error(`agreement: ${got.length} vs ${want.length} values for dim ${dim}`);
  const rows = want.length / dim;
  let minCosine = Infinity;
  let sumCosine = 0;
  let maxAbs = 0;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    let ng = 0;
    let nw = 0;
    for (let d = r * dim; d < (r + 1) * dim; d++) {
      dot += got[d] * want[d];
      ng += got[d] * got[d];
      nw += want[d] * want[d];
      maxAbs = Math.max(maxAbs, Math.abs(got[d] - want[d]));
    }
    const cos = ng === 0 && nw === 0 ? 1 : dot / Math.sqrt(Math.max(ng * nw, 1e-300));
    minCosine = Math.min(minCosine, cos);
    sumCosine += cos;
  }
  return { rows, minCosine: rows ? minCosine : 1, meanCosine: rows ? sumCosine / rows : 1, maxAbsDiff: maxAbs };
}

function bytes(a: Float32Array | Int8Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function node(op: string, name: string, input: string[], output: string[], attribute: NodeProtoObj['attribute'] = []): NodeProtoObj {
  return { name, op_type: op, input, output, attribute };
}

/**
 * Quantises a decoded model in place (see the file header) and returns what it did. The model's
 * default-domain opset must be ≥ 11 (DynamicQuantizeLinear).
 */
export function quantizeDynamic(model: ModelProtoObj, opts: QuantizeOptions = {}): QuantizeReport {
  const type = opts.weightType ?? 'int8';
  if (type !== 'int8' && type !== 'uint8') throw new OptionsError(`quantize: weightType must be 'int8' or 'uint8', got '${String(type)}'`);
  const graph = model.graph;
  if (!graph) throw new ModelError('quantize: the model has no graph');
  const opset = Number((model.opset_import ?? []).find((o) => !o.domain)?.version ?? 0);
  if (opset < 11) throw new ModelError(`quantize: the graph uses opset ${opset}; DynamicQuantizeLinear needs opset ≥ 11`);
  const exclude = new Set(opts.exclude ?? []);
  const inits = new Map<string, TensorProtoObj>();
  for (const t of graph.initializer ?? []) inits.set(t.name, t);
  const qType = type === 'int8' ? DataType.INT8 : DataType.UINT8;

  const activations = new Set<string>(); // inputs that already have a DynamicQuantizeLinear
  const weights = new Set<string>(); // initializers already quantised
  const newInits: TensorProtoObj[] = [];
  const out: NodeProtoObj[] = [];
  const report: QuantizeReport = { quantized: 0, skipped: 0, weightBytesBefore: 0, weightBytesAfter: 0 };
  for (const n of graph.node ?? []) {
    if (n.op_type !== 'MatMul' || (n.domain ?? '') !== '') {
      out.push(n);
      continue;
    }
    const [x, w] = n.input;
    const wt = inits.get(w);
    if (!wt || wt.data_type !== DataType.FLOAT || inits.has(x) || exclude.has(n.name)) {
      report.skipped++;
      out.push(n);
      continue;
    }
    if (!activations.has(x)) {
      activations.add(x);
      out.push(node('DynamicQuantizeLinear', `${x}_QuantizeLinear`, [x], [`${x}_quantized`, `${x}_scale`, `${x}_zero_point`]));
    }
    if (!weights.has(w)) {
      weights.add(w);
      const data = initializerFloats(wt) as Float32Array;
      const dims = (wt.dims ?? []).map(Number);
      const { q, scale, zp } = quantizeWeight(data, dims, type, opts.perChannel);
      const pdims = opts.perChannel ? [scale.length] : [];
      newInits.push({ name: `${w}_quantized`, dims, data_type: qType, raw_data: bytes(q) });
      newInits.push({ name: `${w}_scale`, dims: pdims, data_type: DataType.FLOAT, raw_data: bytes(scale) });
      newInits.push({ name: `${w}_zero_point`, dims: pdims, data_type: qType, raw_data: bytes(zp) });
      report.weightBytesBefore += 4 * data.length;
      report.weightBytesAfter += data.length;
    }
    const y = n.output[0];
    const base = n.name ? `${n.name}_quant` : '';
    const yi = `${y}_output_quantized`;
    const scalesMul = base ? `${base}_scales_mul` : `${x}_scale_${w}_scale_mul`;
    out.push(node('MatMulInteger', base, [`${x}_quantized`, `${w}_quantized`, `${x}_zero_point`, `${w}_zero_point`], [yi]));
    out.push(node('Cast', `${yi}_cast`, [yi], [`${yi}_cast_output`], [{ name: 'to', type: 2, i: DataType.FLOAT }]));
    if (!out.some((m) => m.name === scalesMul && m.op_type === 'Mul')) {
      out.push(node('Mul', scalesMul, [`${x}_scale`, `${w}_scale`], [`${scalesMul}:0`]));
    }
    out.push(node('Mul', base ? `${base}_output_scale_mul` : '', [`${yi}_cast_output`, `${scalesMul}:0`], [y]));
    report.quantized++;
  }
  // drop float weights nothing reads any more
  const used = new Set(out.flatMap((n) => n.input));
  for (const o of graph.output ?? []) used.add(o.name);
  graph.initializer = [...(graph.initializer ?? []).filter((t) => !weights.has(t.name) || used.has(t.name)), ...newInits];
  graph.node = out;
  return report;
}
