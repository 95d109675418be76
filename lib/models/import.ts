/**
 * Reading BERT weights from a model folder, for training them (lib/training/import-weights.ts
 * loads them into the native encoder and checks the result against onnxruntime).
 *
 * Two sources, both mapped to the Hugging Face BertModel names and layout (linear weights
 * [out, in], as lib/models/onnx/bert.ts's WeightMap expects):
 *
 *   model.safetensors  8-byte little-endian header length N, N bytes of JSON
 *                      {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}, then the
 *                      raw little-endian tensors (offsets relative to the end of the header).
 *                      F32, F16, BF16 and F64 are read as float32; integer tensors (position_ids)
 *                      are skipped. Linear weights are PyTorch's [out, in]; a non-square one
 *                      stored [in, out] is recognised by its shape and transposed.
 *   onnx/model.onnx    the graph's initializers. Weights named by their HF names (optionally
 *                      prefixed) are taken by name; their layout follows from how the graph uses
 *                      them (MatMul's second input is [in, out]; Gemm transB=1 or a Transpose in
 *                      front means [out, in]). Anonymous linear weights (`onnx::MatMul_1234`, as
 *                      torch.onnx / optimum write them) are named by following the graph, in this
 *                      order: the node's name (/encoder/layer.3/attention/self/query/MatMul); the
 *                      bias added to its output, when that has an HF name; finally the position of
 *                      the MatMul in the graph (6 projections per layer, in topological order, the
 *                      role of each told apart by shape and data flow: the attention output reads
 *                      the Softmax's result, the query/key feed the score MatMul as its first/second
 *                      input, the value the context MatMul). Renamed biases follow their MatMul;
 *                      renamed LayerNorm parameters follow the LayerNormalization nodes in order.
 *
 * Names: a leading 'bert.', 'roberta.', 'distilbert.', 'mpnet.', 'model.', '0.auto_model.' or
 * 'auto_model.' is dropped; old checkpoints' LayerNorm 'gamma'/'beta' read as 'weight'/'bias'.
 * DistilBERT and MPNet folders (model_type 'distilbert' / 'mpnet') are read the same way: their names
 * map to the BERT names (lib/models/onnx/distilbert.ts, mpnet.ts), and exporter node names like
 * /transformer/layer.0/attention/q_lin/MatMul or /encoder/layer.0/attention/attn/q/MatMul are
 * understood. RoBERTa / XLM-RoBERTa use BERT's names. config.json's model_type must be one of
 * bert, distilbert, roberta, xlm-roberta, mpnet (others: an error naming it). pooler.* and classifier.* are
 * read when present but are not part of the encoder. A tensor the configuration needs and the
 * source lacks is an error naming it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bertConfigFromHf, bertWeightShapes, checkBertConfig, transpose2d, type BertConfig, type NamedTensor, type WeightMap } from './onnx/bert';
import { distilbertToBertName } from './onnx/distilbert';
import { mpnetToBertName } from './onnx/mpnet';
import { decodeModel, type ModelProtoObj, type NodeProtoObj, type TensorProtoObj } from './onnx/proto';
import { ModelError } from './errors';
import { readModelJson } from './json-file';
import { jsonSyntaxError } from '../data/json-error';

// ---------------------------------------------------------------------------------------------
// numbers

/** IEEE half → float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function decodeFloats(bytes: Uint8Array, dtype: 'F32' | 'F16' | 'BF16' | 'F64', count: number, what: string): Float32Array {
  const width = { F32: 4, F16: 2, BF16: 2, F64: 8 }[dtype];
  if (bytes.byteLength !== count * width) {
    throw new ModelError(`${what}: ${bytes.byteLength} bytes for ${count} ${dtype} values (expected ${count * width})`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  if (dtype === 'F32') for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
  else if (dtype === 'F64') for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, true);
  else if (dtype === 'F16') for (let i = 0; i < count; i++) out[i] = halfToFloat(dv.getUint16(2 * i, true));
  else {
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    for (let i = 0; i < count; i++) {
      u[0] = dv.getUint16(2 * i, true) << 16;
      out[i] = f[0];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// safetensors

export interface SafetensorsFile {
  tensors: Map<string, NamedTensor & { dtype: string }>;
  /** Integer / bool tensors that were not read (e.g. embeddings.position_ids). */
  skipped: string[];
  metadata: Record<string, string>;
}

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);

/** A ModelError when a weight holds NaN or ±Inf (a damaged file): they would spread to every output. */
export function checkFinite(data: Float32Array, what: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new ModelError(`${what} holds ${data[i]} at index ${i}: the file is damaged; re-download or re-export it`);
  }
}

/** Parses a .safetensors file (or its bytes); floating-point tensors come back as float32. */
export function readSafetensors(fileOrBytes: string | Uint8Array): SafetensorsFile {
  const what = typeof fileOrBytes === 'string' ? fileOrBytes : 'safetensors';
  const bytes = typeof fileOrBytes === 'string' ? new Uint8Array(fs.readFileSync(fileOrBytes)) : fileOrBytes;
  if (bytes.byteLength < 8) throw new ModelError(`${what}: too short for a safetensors file`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (!(n > 1 && 8 + n <= bytes.byteLength)) throw new ModelError(`${what}: bad header length ${n} (file has ${bytes.byteLength} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch (e) {
    throw new ModelError(`${what}: the header is not JSON (${jsonSyntaxError(e, '').message})`);
  }
  const body = bytes.subarray(8 + n);
  const tensors: SafetensorsFile['tensors'] = new Map();
  const skipped: string[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    const t = v as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (typeof t?.dtype !== 'string' || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets)) {
      throw new ModelError(`${what}: bad header entry for '${name}'`);
    }
    if (!FLOAT_DTYPES.has(t.dtype)) {
      skipped.push(name);
      continue;
    }
    if (!t.shape.every((x) => Number.isInteger(x) && x >= 0)) throw new ModelError(`${what}: '${name}' has shape [${t.shape.join(', ')}], not a list of sizes`);
    const [b, e] = t.data_offsets;
    if (!(b >= 0 && e >= b && e <= body.byteLength)) throw new ModelError(`${what}: '${name}' has data offsets [${b}, ${e}] outside the ${body.byteLength}-byte data`);
    const count = t.shape.reduce((a, x) => a * x, 1);
    const data = decodeFloats(body.subarray(b, e), t.dtype as 'F32', count, `${what}: '${name}'`);
    tensors.set(name, { dims: [...t.shape], data, dtype: t.dtype });
  }
  return { tensors, skipped, metadata };
}

/** Bytes of a safetensors file holding float32 tensors (tests and tools). */
export function encodeSafetensors(tensors: Map<string, NamedTensor> | Record<string, NamedTensor>, metadata?: Record<string, string>,
  dtype: 'F32' | 'F16' | 'BF16' = 'F32'): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const width = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, t] of entries) {
    header[name] = { dtype, shape: t.dims, data_offsets: [off, off + t.data.length * width] };
    off += t.data.length * width;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8) json += ' ';
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + off);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let p = 8 + hb.length;
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (const [, t] of entries) {
    for (let i = 0; i < t.data.length; i++) {
      if (dtype === 'F32') dv.setFloat32(p, t.data[i], true);
      else if (dtype === 'BF16') {
        f[0] = t.data[i];
        dv.setUint16(p, u[0] >>> 16, true);
      } else dv.setUint16(p, floatToHalf(t.data[i]), true);
      p += width;
    }
  }
  return out;
}

/** float → IEEE half (round to nearest; for tests). */
export function floatToHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const e = ((u >>> 23) & 0xff) - 127 + 15;
  const m = u & 0x7fffff;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) return sign | Math.round((m | 0x800000) / 2 ** (14 - e));
  const h = sign | (e << 10) | (m >> 13);
  return h + ((m >> 12) & 1); // round half up
}

// ---------------------------------------------------------------------------------------------
// names

const PREFIX = /^(bert\.|roberta\.|distilbert\.|mpnet\.|model\.|0\.auto_model\.|auto_model\.)/;

/** (BERT) HF name of a checkpoint name: prefixes dropped, LayerNorm gamma/beta → weight/bias, DistilBERT / MPNet names mapped. */
export function canonicalName(name: string): string {
  let n = name;
  while (PREFIX.test(n)) n = n.replace(PREFIX, '');
  return mpnetToBertName(distilbertToBertName(n.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias')));
}

/** Is this HF name a Linear weight (stored [out, in] by PyTorch)? */
export function isLinearWeight(name: string): boolean {
  return /(attention\.self\.(query|key|value)|dense)\.weight$/.test(name) || name === 'classifier.weight';
}

export interface ImportedWeights {
  weights: WeightMap;
  /** HF name → where it came from ('model.safetensors: bert.x' / 'onnx: onnx::MatMul_12 (by position)'). */
  origin: Map<string, string>;
  /** HF names found only by graph position (the least certain mapping). */
  positional: string[];
}

function missingError(source: string, missing: [string, number[]][], extra = ''): Error {
  const list = missing.slice(0, 8).map(([n, d]) => `'${n}' [${d.join(', ')}]`).join(', ');
  return new ModelError(`${source} lacks ${missing.length} tensor(s) this BERT configuration needs: ${list}${missing.length > 8 ? ', …' : ''}${extra}`);
}

function shapeEq(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** BERT weights (HF names and layout) from safetensors tensors. */
export function bertWeightsFromSafetensors(file: SafetensorsFile, config: BertConfig, source = 'model.safetensors'): ImportedWeights {
  const byName = new Map<string, { raw: string; t: NamedTensor }>();
  for (const [raw, t] of file.tensors) byName.set(canonicalName(raw), { raw, t });
  const inOut = file.metadata.linear_layout === 'in_out';
  const weights: WeightMap = new Map();
  const origin = new Map<string, string>();
  const missing: [string, number[]][] = [];
  for (const [name, dims] of bertWeightShapes(config)) {
    const e = byName.get(name);
    if (!e) {
      missing.push([name, dims]);
      continue;
    }
    let { dims: d, data } = e.t;
    if (isLinearWeight(name) && d.length === 2 && (inOut || (!shapeEq(d, dims) && shapeEq([d[1], d[0]], dims)))) {
      data = transpose2d(data, d[0], d[1]);
      d = [d[1], d[0]];
    }
    if (!shapeEq(d, dims)) throw new ModelError(`${source}: '${e.raw}' has shape [${e.t.dims.join(', ')}], expected [${dims.join(', ')}]`);
    checkFinite(data, `${source}: '${e.raw}'`);
    weights.set(name, { dims: [...dims], data });
    origin.set(name, `${source}: ${e.raw}`);
  }
  if (missing.length) throw missingError(source, missing);
  return { weights, origin, positional: [] };
}

// ---------------------------------------------------------------------------------------------
// ONNX initializers

const ONNX_FLOAT: Record<number, 'F32' | 'F16' | 'BF16' | 'F64'> = { 1: 'F32', 10: 'F16', 16: 'BF16', 11: 'F64' };

/** An initializer as float32 (null for non-float tensors). */
export function initializerFloats(t: TensorProtoObj): Float32Array | null {
  const dtype = ONNX_FLOAT[t.data_type];
  if (!dtype) return null;
  const count = (t.dims ?? []).reduce((a, x) => a * x, 1);
  if (t.raw_data && t.raw_data.byteLength) return decodeFloats(t.raw_data, dtype, count, `ONNX initializer '${t.name}'`);
  if (t.float_data && t.float_data.length === count) return Float32Array.from(t.float_data);
  if (count === 0) return new Float32Array(0);
  throw new ModelError(`ONNX initializer '${t.name}' holds no data (external data files are not supported; re-export the model with the weights inside the .onnx file)`);
}

type Role = 'query' | 'key' | 'value' | 'attnOut' | 'inter' | 'out';
const ROLE_NAME: Record<Role, string> = {
  query: 'attention.self.query', key: 'attention.self.key', value: 'attention.self.value',
  attnOut: 'attention.output.dense', inter: 'intermediate.dense', out: 'output.dense',
};

/** Layer and role from an exporter's node name, e.g. /0/auto_model/encoder/layer.3/attention/self/query/MatMul. */
export function roleFromNodeName(name: string): string | null {
  const mp = /layer[._/](\d+)[/._]attention[/._]attn[/._](q|k|v|o)[/._]/.exec(`${name}/`);
  if (mp) return mpnetToBertName(`encoder.layer.${mp[1]}.attention.attn.${mp[2]}.weight`).slice(0, -'.weight'.length);
  const d = /layer[._/](\d+)[/._](attention[/._](q_lin|k_lin|v_lin|out_lin)|ffn[/._](lin1|lin2))[/._]/.exec(`${name}/`);
  if (d) return distilbertToBertName(`transformer.layer.${d[1]}.${d[3] ? `attention.${d[3]}` : `ffn.${d[4]}`}.weight`).slice(0, -'.weight'.length);
  const m = /layer[._/](\d+)[/._](attention[/._]self[/._](query|key|value)|attention[/._]output[/._]dense|intermediate[/._]dense|output[/._]dense)[/._]/.exec(`${name}/`);
  if (!m) return null;
  const sub = m[2].replace(/[/_]/g, '.');
  return `encoder.layer.${m[1]}.${sub}`;
}

interface Linear {
  node: NodeProtoObj;
  index: number;
  /** The initializer holding the weight. */
  init: string;
  /** Stored [out, in] (Gemm transB, Transpose in front) rather than MatMul's [in, out]. */
  outIn: boolean;
  /** The 1-D initializer added to the output, if any. */
  bias: string | null;
  /** HF prefix ('encoder.layer.0.attention.self.query'), once known, and how. */
  prefix: string | null;
  how: string;
}

/** BERT weights (HF names and layout) from an ONNX model's initializers, following its graph. */
export function bertWeightsFromOnnx(model: ModelProtoObj, config: BertConfig, source = 'onnx/model.onnx'): ImportedWeights {
  const g = model.graph;
  if (!g) throw new ModelError(`${source}: holds no graph (not an ONNX model, or a damaged one)`);
  const inits = new Map<string, TensorProtoObj>();
  for (const t of g.initializer ?? []) inits.set(t.name, t);
  const producer = new Map<string, NodeProtoObj>();
  const consumers = new Map<string, { node: NodeProtoObj; index: number }[]>();
  g.node ??= [];
  g.node.forEach((node) => {
    for (const o of node.output ?? []) producer.set(o, node);
    (node.input ?? []).forEach((i, index) => {
      if (!consumers.has(i)) consumers.set(i, []);
      consumers.get(i)!.push({ node, index });
    });
  });
  // Constant nodes can hold weights too (some exporters): treat their value tensors as initializers.
  for (const node of g.node) {
    if (node.op_type === 'Constant') {
      const v = (node.attribute ?? []).find((a) => a.name === 'value')?.t;
      if (v && node.output?.[0]) inits.set(node.output[0], { ...v, name: node.output[0] });
    }
  }
  const floatsCache = new Map<string, Float32Array>();
  const floats = (name: string): Float32Array => {
    let f = floatsCache.get(name);
    if (!f) {
      const x = initializerFloats(inits.get(name)!);
      if (!x) throw new ModelError(`${source}: initializer '${name}' is not a floating-point tensor`);
      floatsCache.set(name, x);
      f = x;
    }
    return f;
  };
  const dimsOf = (name: string): number[] => [...(inits.get(name)?.dims ?? [])];
  const expected = bertWeightShapes(config);

  // --- linear projections: MatMul / Gemm whose weight is an initializer (possibly through Transpose) ---
  const linears: Linear[] = [];
  g.node.forEach((node, index) => {
    if (node.op_type !== 'MatMul' && node.op_type !== 'Gemm') return;
    let w = node.input?.[1];
    let outIn = false;
    if (!w) return;
    if (!inits.has(w)) {
      const p = producer.get(w);
      if (p?.op_type === 'Transpose' && inits.has(p.input[0]) && dimsOf(p.input[0]).length === 2) {
        w = p.input[0];
        outIn = true;
      } else return;
    }
    if (dimsOf(w).length !== 2) return;
    if (node.op_type === 'Gemm') {
      const tb = (node.attribute ?? []).find((a) => a.name === 'transB')?.i ?? 0;
      if (tb) outIn = !outIn;
    }
    let bias: string | null = null;
    if (node.op_type === 'Gemm' && node.input[2] && inits.has(node.input[2])) bias = node.input[2];
    for (const c of consumers.get(node.output[0]) ?? []) {
      if (c.node.op_type !== 'Add') continue;
      const other = c.node.input[1 - c.index];
      if (other && inits.has(other) && dimsOf(other).length === 1) bias = other;
    }
    linears.push({ node, index, init: w, outIn, bias, prefix: null, how: '' });
  });

  const weights: WeightMap = new Map();
  const origin = new Map<string, string>();
  const positional: string[] = [];
  const initOf = new Map<string, string>();
  const set = (name: string, init: string, data: Float32Array, dims: number[], how: string): void => {
    const want = expected.get(name);
    if (!want) return;
    if (weights.has(name)) {
      if (initOf.get(name) === init) return;
      throw new ModelError(`${source}: both initializers '${initOf.get(name)}' and '${init}' map to '${name}'`);
    }
    initOf.set(name, init);
    if (!shapeEq(dims, want)) throw new ModelError(`${source}: initializer '${init}' maps to '${name}' but has shape [${dims.join(', ')}], expected [${want.join(', ')}]`);
    checkFinite(data, `${source}: initializer '${init}'`);
    weights.set(name, { dims: want, data });
    origin.set(name, `${source}: ${init}${how ? ` (${how})` : ''}`);
  };
  const setLinear = (l: Linear): void => {
    const name = `${l.prefix}.weight`;
    const d = dimsOf(l.init);
    // HF layout [out, in]: a MatMul weight is [in, out] → transpose.
    const data = l.outIn ? floats(l.init) : transpose2d(floats(l.init), d[0], d[1]);
    set(name, l.init, data, l.outIn ? d : [d[1], d[0]], l.how);
  };

  // 1. by name (prefixes dropped)
  const linearByInit = new Map(linears.map((l) => [l.init, l]));
  for (const [raw, t] of inits) {
    const name = canonicalName(raw);
    if (!expected.has(name) || !ONNX_FLOAT[t.data_type]) continue;
    const l = linearByInit.get(raw);
    if (l && isLinearWeight(name)) {
      l.prefix = name.slice(0, -'.weight'.length);
      l.how = '';
      continue;
    }
    let dims = dimsOf(raw);
    let data = floats(raw);
    if (isLinearWeight(name) && dims.length === 2 && !shapeEq(dims, expected.get(name)!) && shapeEq([dims[1], dims[0]], expected.get(name)!)) {
      data = transpose2d(data, dims[0], dims[1]);
      dims = [dims[1], dims[0]];
    }
    set(name, raw, data, dims, '');
  }
  // 2. by node name, 3. by the HF name of the bias added to the output
  for (const l of linears) {
    if (l.prefix) continue;
    const byNode = roleFromNodeName(l.node.name ?? '');
    if (byNode) {
      l.prefix = byNode;
      l.how = `by node name ${l.node.name}`;
      continue;
    }
    const b = l.bias ? canonicalName(l.bias) : '';
    if (b.endsWith('.bias') && expected.has(b) && isLinearWeight(b.replace(/bias$/, 'weight'))) {
      l.prefix = b.slice(0, -'.bias'.length);
      l.how = `by its bias ${l.bias}`;
    }
  }
  // 4. by position in the graph and data flow
  const unresolved = linears.filter((l) => !l.prefix);
  if (unresolved.length) assignByPosition(linears, config, producer, consumers, inits, dimsOf, positional);
  const seen = new Set<string>();
  for (const l of linears) {
    if (!l.prefix || !expected.has(`${l.prefix}.weight`)) continue;
    if (seen.has(l.prefix)) throw new ModelError(`${source}: two MatMul weights map to '${l.prefix}.weight' (${l.init} and another)`);
    seen.add(l.prefix);
    setLinear(l);
    // renamed biases follow their MatMul
    if (!weights.has(`${l.prefix}.bias`) && l.bias) set(`${l.prefix}.bias`, l.bias, floats(l.bias), dimsOf(l.bias), `added to ${l.init}'s MatMul`);
  }

  // 5. renamed LayerNorm parameters: LayerNormalization nodes in order (embeddings, then 2 per layer)
  const lnNames = ['embeddings.LayerNorm'];
  for (let i = 0; i < config.layers; i++) lnNames.push(`encoder.layer.${i}.attention.output.LayerNorm`, `encoder.layer.${i}.output.LayerNorm`);
  const lns = g.node.filter((n) => n.op_type === 'LayerNormalization');
  lns.slice(0, lnNames.length).forEach((n, i) => {
    if (lns.length < lnNames.length) return;
    for (const [k, part] of [[1, 'weight'], [2, 'bias']] as const) {
      const name = `${lnNames[i]}.${part}`;
      const init = n.input[k];
      if (!weights.has(name) && init && inits.has(init)) {
        set(name, init, floats(init), dimsOf(init), `LayerNormalization #${i}`);
        positional.push(name);
      }
    }
  });

  // 6. renamed embedding tables: Gathers of 2-D initializers, by shape
  for (const [name, key] of [
    ['embeddings.word_embeddings.weight', 'vocabSize'], ['embeddings.position_embeddings.weight', 'maxPosition'], ['embeddings.token_type_embeddings.weight', 'typeVocabSize'],
  ] as const) {
    if (weights.has(name) || !expected.has(name)) continue;
    const cands = g.node.filter((n) => n.op_type === 'Gather' && inits.has(n.input[0]) && shapeEq(dimsOf(n.input[0]), [config[key], config.hidden]));
    const uniq = [...new Set(cands.map((n) => n.input[0]))];
    if (uniq.length === 1) {
      set(name, uniq[0], floats(uniq[0]), dimsOf(uniq[0]), 'Gather table by shape');
      positional.push(name);
    }
  }

  const missing = [...expected].filter(([n]) => !weights.has(n));
  if (missing.length) {
    const hint = unresolved.length ? ` (${unresolved.length} anonymous MatMul weight(s) were matched by graph position)` : '';
    throw missingError(source, missing, hint);
  }
  return { weights, origin, positional };
}

/**
 * Names the linear projections that neither their names nor their biases identify: 6 per layer
 * in topological order; within a layer, shapes tell the feed-forward pair apart, and data flow
 * the attention projections.
 */
function assignByPosition(
  linears: Linear[], config: BertConfig,
  producer: Map<string, NodeProtoObj>, consumers: Map<string, { node: NodeProtoObj; index: number }[]>,
  inits: Map<string, TensorProtoObj>, dimsOf: (n: string) => number[], positional: string[],
): void {
  const H = config.hidden;
  const isLinearNode = (n: NodeProtoObj): boolean => linears.some((l) => l.node === n);
  /** Does value v come from a Softmax, without crossing a linear projection? */
  const fromSoftmax = (v: string, depth = 0): boolean => {
    const p = producer.get(v);
    if (!p || depth > 24 || isLinearNode(p)) return false;
    if (p.op_type === 'Softmax') return true;
    return p.input.some((i) => i && !inits.has(i) && fromSoftmax(i, depth + 1));
  };
  /** The first activation×activation MatMul downstream of v, and the input slot v reaches. */
  const nextMatMul = (v: string, depth = 0): { node: NodeProtoObj; index: number } | null => {
    if (depth > 12) return null;
    for (const c of consumers.get(v) ?? []) {
      if (c.node.op_type === 'MatMul' && !isLinearNode(c.node)) return c;
      if (isLinearNode(c.node) || c.node.op_type === 'LayerNormalization') continue;
      for (const o of c.node.output) {
        const r = nextMatMul(o, depth + 1);
        if (r) return r;
      }
    }
    return null;
  };
  const encoderLinears = linears.filter((l) => {
    const d = dimsOf(l.init);
    return d.every((x) => x === H || x === config.intermediate);
  });
  for (let layer = 0; layer < config.layers; layer++) {
    const group = encoderLinears.slice(6 * layer, 6 * layer + 6);
    if (group.length < 6) return;
    const roles = new Map<Linear, Role>();
    const inW = (l: Linear): number => dimsOf(l.init)[l.outIn ? 1 : 0];
    const outW = (l: Linear): number => dimsOf(l.init)[l.outIn ? 0 : 1];
    const ffn = group.filter((l) => inW(l) !== outW(l) || config.intermediate === H);
    if (config.intermediate !== H) {
      for (const l of ffn) roles.set(l, outW(l) === config.intermediate ? 'inter' : 'out');
    } else {
      const [a, b] = group.slice(4);
      roles.set(a, 'inter');
      roles.set(b, 'out');
    }
    const attn = group.filter((l) => !roles.has(l));
    const ao = attn.find((l) => fromSoftmax(l.node.input[0]));
    if (ao) roles.set(ao, 'attnOut');
    const qkv = attn.filter((l) => l !== ao);
    const fallback: Role[] = ['query', 'key', 'value'];
    for (const l of qkv) {
      const out = l.bias ? (consumers.get(l.node.output[0]) ?? []).find((c) => c.node.op_type === 'Add')?.node.output[0] ?? l.node.output[0] : l.node.output[0];
      const mm = nextMatMul(out);
      let role: Role | null = null;
      if (mm) {
        if (fromSoftmax(mm.node.input[0])) role = mm.index === 1 ? 'value' : null;
        else role = mm.index === 0 ? 'query' : 'key';
      }
      if (role && ![...roles.values()].includes(role)) roles.set(l, role);
    }
    if (!ao && attn.length === 4) roles.set(attn[3], 'attnOut');
    for (const l of qkv) if (!roles.has(l)) roles.set(l, fallback.find((r) => ![...roles.values()].includes(r))!);
    for (const [l, role] of roles) {
      if (l.prefix) continue;
      l.prefix = `encoder.layer.${layer}.${ROLE_NAME[role]}`;
      l.how = `by graph position: layer ${layer}, ${role}`;
      positional.push(`${l.prefix}.weight`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// model folders

/** (The folder's sentence-transformers modules — pooling, Dense, Normalize — are read by ./st-folder.ts.) */
export interface FolderWeights extends ImportedWeights {
  source: 'safetensors' | 'onnx';
  file: string;
  config: BertConfig;
}

function readJson(file: string): Record<string, unknown> | undefined {
  return readModelJson(file, true);
}

/** The most layers a model may declare (the native core's limit). */
const MAX_LAYERS = 1024;

/**
 * The shape keys of a Hugging Face config.json, checked by name before anything is sized from them:
 * positive integers (max_position_embeddings ≥ 3: [CLS], a token, [SEP]), at most MAX_LAYERS layers,
 * heads dividing the hidden size, and weights that fit in this machine's memory
 * (`bytesPerParameter`: 4 for the weights, 16 to train them with Adam).
 */
export function checkHfShape(json: Record<string, unknown>, file: string, bytesPerParameter = 4): void {
  const int = (k: string, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = json[k];
    if (v === undefined || v === null) return undefined;
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)) {
      throw new ModelError(`${file}: ${k} must be an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '…' : max}], got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const V = int('vocab_size', 1) ?? int('n_words', 1);
  const H = int('hidden_size', 1) ?? int('dim', 1);
  const L = int('num_hidden_layers', 1, MAX_LAYERS) ?? int('n_layers', 1, MAX_LAYERS);
  const A = int('num_attention_heads', 1) ?? int('n_heads', 1);
  const I = int('intermediate_size', 1) ?? int('hidden_dim', 1);
  const P = int('max_position_embeddings', 3);
  int('type_vocab_size', 0);
  const eps = json.layer_norm_eps;
  if (eps !== undefined && !(typeof eps === 'number' && eps > 0 && eps < 1)) throw new ModelError(`${file}: layer_norm_eps must be a number in (0, 1), got ${JSON.stringify(eps)}`);
  if (H !== undefined && A !== undefined && H % A !== 0) throw new ModelError(`${file}: hidden_size ${H} is not divisible by num_attention_heads ${A}`);
  if (V !== undefined && H !== undefined) {
    const params = bertParameterCount({ vocabSize: V, hidden: H, layers: L ?? 1, intermediate: I ?? 4 * H, maxPosition: P ?? 512, typeVocabSize: 2 });
    checkModelMemory(params, bytesPerParameter, file);
  }
}

/** Parameters of a BERT encoder of this shape (embeddings, layers; close enough to size memory). */
export function bertParameterCount(c: { vocabSize: number; hidden: number; layers: number; intermediate: number; maxPosition: number; typeVocabSize: number }): number {
  const H = c.hidden;
  return (c.vocabSize + c.maxPosition + c.typeVocabSize) * H + 2 * H + c.layers * (4 * H * H + 2 * H * c.intermediate + 9 * H + c.intermediate);
}

/**
 * A ModelError naming `what` when `params` parameters at `bytesPerParameter` (4: the weights; 16:
 * weights, gradients and two Adam moments) need more than this machine's memory.
 */
export function checkModelMemory(params: number, bytesPerParameter: number, what: string): void {
  const need = params * bytesPerParameter;
  if (need > os.totalmem()) {
    const gb = (x: number) => `${(x / 2 ** 30).toFixed(1)} GB`;
    throw new ModelError(`${what}: this configuration has ${(params / 1e9).toFixed(2)} billion parameters and needs ${gb(need)}${bytesPerParameter > 4 ? ' to train' : ''}; this machine has ${gb(os.totalmem())}`);
  }
}

/**
 * The BertConfig of a model folder's config.json (model_type bert, distilbert, roberta, xlm-roberta,
 * mpnet; any other is refused with an error naming it). Errors name the file and the key.
 */
export function folderBertConfig(dir: string, bytesPerParameter = 4): BertConfig {
  const file = path.join(dir, 'config.json');
  const json = readJson(file);
  if (!json) throw new ModelError(`${dir}: no config.json`);
  checkHfShape(json, file, bytesPerParameter);
  try {
    const c = bertConfigFromHf(json);
    checkBertConfig(c);
    return c;
  } catch (e) {
    if (e instanceof ModelError) throw new ModelError(`${file}: ${e.message.replace(/^config\.json:\s*/, '')}`, { cause: e });
    throw e;
  }
}

/** Decodes an ONNX file; a ModelError naming it when it is not a readable ONNX model with a graph. */
export function readOnnxFile(file: string): ModelProtoObj {
  let model: ModelProtoObj;
  try {
    model = decodeModel(new Uint8Array(fs.readFileSync(file)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).syscall) throw e;
    throw new ModelError(`${file}: not a readable ONNX model (${(e as Error).message}); re-export or re-download it`, { cause: e });
  }
  if (!model.graph) throw new ModelError(`${file}: holds no graph (not an ONNX model, or a damaged one); re-export or re-download it`);
  return model;
}

export const ONNX_WEIGHT_FILES = ['onnx/model.onnx', 'model.onnx'];

/** The ONNX file of a folder (fp32 exports only; null when there is none). */
export function folderOnnx(dir: string): string | null {
  for (const f of ONNX_WEIGHT_FILES) if (fs.existsSync(path.join(dir, f))) return path.join(dir, f);
  return null;
}

/**
 * BERT weights of a model folder: model.safetensors when present (source 'auto' or 'safetensors'),
 * else the initializers of onnx/model.onnx.
 */
export function readFolderWeights(dir: string, opts: { source?: 'auto' | 'safetensors' | 'onnx'; bytesPerParameter?: number } = {}): FolderWeights {
  const config = folderBertConfig(dir, opts.bytesPerParameter);
  const source = opts.source ?? 'auto';
  const st = path.join(dir, 'model.safetensors');
  if (source === 'safetensors' || (source === 'auto' && fs.existsSync(st))) {
    if (!fs.existsSync(st)) throw new ModelError(`${dir}: no model.safetensors`);
    const w = bertWeightsFromSafetensors(readSafetensors(st), config, st);
    return { ...w, source: 'safetensors', file: st, config };
  }
  const onnx = folderOnnx(dir);
  if (!onnx) throw new ModelError(`${dir}: no model.safetensors and no onnx/model.onnx to import weights from`);
  const w = bertWeightsFromOnnx(readOnnxFile(onnx), config, onnx);
  return { ...w, source: 'onnx', file: onnx, config };
}
