/**
 * Exporting trained students as self-contained model folders (tokenizer, config.json,
 * onnx/model.onnx, sentence-transformers pooling files) that synthtune's loadEncoder and
 * onnxruntime read directly, in the Hugging Face / transformers.js layout.
 *
 * static: the graph is Gather(E, input_ids) → last_hidden_state (B,S,D) — the token vectors —
 *   plus sentence_embedding (B,D), the attention-masked mean, so it is the student's forward
 *   when the student was trained on the tokenizer's ids (special tokens included, as
 *   TextTokenizer.encode gives them).
 * adapter: the base encoder's graph with y = h·Wᵀ + b appended to its last_hidden_state. Mean and
 *   CLS pooling are averages with weights summing to 1, so adapting every token vector and then
 *   pooling equals pooling and then adapting: the folded graph reproduces adapter(encoder(x))
 *   exactly. A base that L2-normalises its embeddings (a Normalize module) is not linear before
 *   the adapter; for it the pooling, the normalisation and the adapter are written into the graph
 *   as sentence_embedding and the folder declares no pooling (loadEncoder then uses the graph's).
 *   A query-only adapter exports the query model; synthtune.json names the unchanged document model.
 *
 * Shapes: B batch, S sequence length, V vocabulary, D embedding dimension.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { loadEncoder } from '../models/encoder';
import { encodeSafetensors, readSafetensors } from '../models/import';
import { bertConfigToHf, type BertConfig, type NamedTensor } from '../models/onnx/bert';
import { bertToDistilbertName, distilbertConfigToHf } from '../models/onnx/distilbert';
import { GraphBuilder } from '../models/onnx/graph';
import { decodeModel, encodeModel, DataType, type ModelProtoObj, type NodeProtoObj, type TensorProtoObj } from '../models/onnx/proto';
import { agreement, quantizeDynamic, type Agreement, type QuantizeOptions } from '../models/onnx/quantize';
import { ONNX_CANDIDATES } from '../models/resolve';
import { readModelFolder, writeSentenceTransformersFiles, type StWriteSpec } from '../models/st-folder';
import { sentenceTransformersModules } from '../models/tiny';
import type { AdapterStudent } from './students/adapter';
import type { FullStudent } from './students/full';
import type { StaticStudent } from './students/static';

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt'];

async function exists(f: string): Promise<boolean> {
  return fsp.access(f).then(() => true, () => false);
}

async function readJson(f: string): Promise<Record<string, unknown> | null> {
  return (await exists(f)) ? (JSON.parse(await fsp.readFile(f, 'utf8')) as Record<string, unknown>) : null;
}

async function writeJson(f: string, value: unknown): Promise<void> {
  await fsp.mkdir(path.dirname(f), { recursive: true });
  await fsp.writeFile(f, `${JSON.stringify(value, null, 2)}\n`);
}

async function copyTokenizer(from: string, to: string): Promise<void> {
  if (!(await exists(path.join(from, 'tokenizer.json')))) throw new Error(`export: no tokenizer.json in ${from}`);
  for (const f of TOKENIZER_FILES) if (await exists(path.join(from, f))) await fsp.copyFile(path.join(from, f), path.join(to, f));
}

async function writePooling(dir: string, dim: number, pooling: 'mean' | 'cls', normalize = false): Promise<void> {
  for (const [file, value] of Object.entries(sentenceTransformersModules(dim, pooling, normalize))) {
    await writeJson(path.join(dir, file), value);
  }
}

/** sentence = Σ_s h[b,s]·mask[b,s] / max(Σ_s mask[b,s], 1e-9): (B,S,D), (B,S) int64 → (B,D). */
function maskedMean(g: GraphBuilder, h: string, mask: string, name?: string): string {
  const m = g.node('Unsqueeze', [g.node('Cast', [mask], { attrs: { to: DataType.FLOAT } }), g.int64([-1])]); // (B,S,1)
  const sum = g.node('ReduceSum', [g.node('Mul', [h, m]), g.int64([1])], { attrs: { keepdims: 0 } }); // (B,D)
  const cnt = g.node('ReduceSum', [m, g.int64([1])], { attrs: { keepdims: 0 } }); // (B,1)
  return g.node('Div', [sum, g.node('Max', [cnt, g.float(1e-9)])], name ? { name } : {});
}

export interface StaticExportOptions {
  /** Folder holding the tokenizer the student's ids come from (tokenizer.json, ...). */
  tokenizerDir: string;
  /** Declare a Normalize module (a student trained with the cosine score). Default false. */
  normalize?: boolean;
}

/** Writes a static student as a model folder (see the file header). */
export async function exportStatic(student: StaticStudent, dir: string, opts: StaticExportOptions): Promise<string> {
  const { vocabSize: V, dim: D } = student;
  await fsp.mkdir(path.join(dir, 'onnx'), { recursive: true });
  await copyTokenizer(opts.tokenizerDir, dir);
  const g = new GraphBuilder('static_embedding');
  const ids = g.input('input_ids', 'INT64', ['batch', 'sequence']);
  const mask = g.input('attention_mask', 'INT64', ['batch', 'sequence']);
  const E = g.initializer('embeddings', [V, D], student.table);
  const h = g.node('Gather', [E, ids], { name: 'last_hidden_state', attrs: { axis: 0 } });
  g.output(h, 'FLOAT', ['batch', 'sequence', D]);
  g.output(maskedMean(g, h, mask, 'sentence_embedding'), 'FLOAT', ['batch', D]);
  await fsp.writeFile(path.join(dir, 'onnx', 'model.onnx'), g.toBytes({ docString: 'synthtune static embedding student' }));
  const srcConfig = (await readJson(path.join(opts.tokenizerDir, 'config.json'))) ?? {};
  await writeJson(path.join(dir, 'config.json'), {
    model_type: 'bert',
    architectures: ['SynthtuneStaticEmbedding'],
    hidden_size: D,
    vocab_size: V,
    max_position_embeddings: srcConfig.max_position_embeddings ?? 512,
    pad_token_id: srcConfig.pad_token_id ?? 0,
  });
  await writePooling(dir, D, 'mean', opts.normalize);
  await writeJson(path.join(dir, 'synthtune.json'), { kind: 'static', dim: D, vocabSize: V, normalize: opts.normalize ?? false });
  return dir;
}

export interface AdapterExportOptions {
  /** The frozen encoder's model folder the adapter was trained on. */
  baseModelDir: string;
}

export interface AdapterExport {
  /** The folder written: the query model (query-only adapter) or the model for both sides. */
  dir: string;
  /** Where documents are encoded: the base folder for a query-only adapter, else dir. */
  documentModel: string;
}

async function baseGraph(dir: string): Promise<{ file: string; model: ModelProtoObj }> {
  for (const c of ONNX_CANDIDATES) {
    const f = path.join(dir, c);
    if (await exists(f)) return { file: f, model: decodeModel(await fsp.readFile(f)) };
  }
  throw new Error(`export: no ONNX graph in ${dir} (looked for ${ONNX_CANDIDATES.join(', ')})`);
}

interface StDecl {
  pooling: 'mean' | 'cls';
  normalize: boolean;
}

async function stDeclaration(dir: string): Promise<StDecl> {
  const modules = ((await readJson(path.join(dir, 'modules.json'))) as unknown as { type?: string; path?: string }[] | null) ?? [];
  const list = Array.isArray(modules) ? modules : [];
  const poolDir = list.find((m) => /Pooling$/.test(m.type ?? ''))?.path ?? '1_Pooling';
  const pc = await readJson(path.join(dir, poolDir, 'config.json'));
  return { pooling: pc?.pooling_mode_cls_token ? 'cls' : 'mean', normalize: list.some((m) => /Normalize$/.test(m.type ?? '')) };
}

function floatTensor(name: string, dims: number[], data: Float32Array): TensorProtoObj {
  return { name, dims, data_type: DataType.FLOAT, raw_data: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

function node(op: string, inputs: string[], outputs: string[], attribute: NodeProtoObj['attribute'] = []): NodeProtoObj {
  return { name: `synthtune_adapter_${op}_${outputs[0]}`, op_type: op, input: inputs, output: outputs, attribute };
}

/** (D,D) y = W·x → Wᵀ row-major, for MatMul(h (…,D), Wᵀ (D,D)). */
function transposed(w: Float32Array, D: number): Float32Array {
  const t = new Float32Array(D * D);
  for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) t[j * D + i] = w[i * D + j];
  return t;
}

/** Renames value `from` to `to` wherever a node produces or consumes it. */
function renameValue(model: ModelProtoObj, from: string, to: string): void {
  for (const n of model.graph?.node ?? []) {
    n.input = (n.input ?? []).map((x) => (x === from ? to : x));
    n.output = (n.output ?? []).map((x) => (x === from ? to : x));
  }
}

/** Writes the adapter folded into its base encoder's graph (see the file header). */
export async function exportAdapter(student: AdapterStudent, dir: string, opts: AdapterExportOptions): Promise<AdapterExport> {
  const D = student.dim;
  const { model } = await baseGraph(opts.baseModelDir);
  const graph = model.graph;
  if (!graph) throw new Error('export: the base ONNX model has no graph');
  const outputs = graph.output ?? [];
  const hiddenName = ['last_hidden_state', 'token_embeddings'].find((n) => outputs.some((o) => o.name === n));
  if (!hiddenName) throw new Error(`export: the base graph has no last_hidden_state / token_embeddings output`);
  const opset = (model.opset_import ?? []).find((o) => !o.domain)?.version ?? 0;
  if (Number(opset) < 13) throw new Error(`export: the base graph uses opset ${opset}; adapter folding needs opset ≥ 13`);
  const st = await stDeclaration(opts.baseModelDir);
  const { w, b } = student.matrix();
  const base = `${hiddenName}_base`;
  renameValue(model, hiddenName, base);
  graph.initializer = [...(graph.initializer ?? []), floatTensor('synthtune_adapter_wt', [D, D], transposed(w, D)), floatTensor('synthtune_adapter_b', [D], b)];
  const nodes: NodeProtoObj[] = [];
  let declarePooling = true;
  if (!st.normalize) {
    // per token: h' = h·Wᵀ + b, keeps the output's name; pooling is left to the loader
    nodes.push(node('MatMul', [base, 'synthtune_adapter_wt'], ['synthtune_adapter_hw']));
    nodes.push(node('Add', ['synthtune_adapter_hw', 'synthtune_adapter_b'], [hiddenName]));
  } else {
    // pool → L2-normalise → adapt, as sentence_embedding; the token output stays the base's
    nodes.push(node('Identity', [base], [hiddenName]));
    const g = new GraphBuilder('adapter_head');
    const h = g.input(base, 'FLOAT', ['batch', 'sequence', D]);
    const mask = g.input('attention_mask', 'INT64', ['batch', 'sequence']);
    const wt = g.input('synthtune_adapter_wt_ref', 'FLOAT', [D, D]);
    const bias = g.input('synthtune_adapter_b_ref', 'FLOAT', [D]);
    const pooled = st.pooling === 'cls'
      ? g.node('Squeeze', [g.node('Slice', [h, g.int64([0]), g.int64([1]), g.int64([1])]), g.int64([1])])
      : maskedMean(g, h, mask);
    // ‖x‖ as Sqrt(ReduceSum(x²)): ReduceSum takes axes as an input in every opset ≥ 13
    const norm = g.node('Sqrt', [g.node('ReduceSum', [g.node('Mul', [pooled, pooled]), g.int64([1])], { attrs: { keepdims: 1 } })]);
    const unit = g.node('Div', [pooled, g.node('Max', [norm, g.float(1e-12)])]);
    g.node('Add', [g.node('MatMul', [unit, wt]), bias], { name: 'sentence_embedding' });
    // the head's names are local to its builder: prefix them, and point the weight refs at ours
    const prefix = (x: string) => (x === base || x === 'attention_mask' || x === 'sentence_embedding' ? x
      : x === 'synthtune_adapter_wt_ref' ? 'synthtune_adapter_wt' : x === 'synthtune_adapter_b_ref' ? 'synthtune_adapter_b' : `synthtune_head_${x}`);
    for (const t of g.initializers) graph.initializer.push({ ...t, name: prefix(t.name as string) });
    for (const n of g.nodes) nodes.push({ ...n, name: `synthtune_head_${n.name}`, input: (n.input ?? []).map(prefix), output: (n.output ?? []).map(prefix) });
    graph.output = [...outputs.filter((o) => o.name !== 'sentence_embedding'), {
      name: 'sentence_embedding',
      type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [{ dim_param: 'batch' }, { dim_value: D }] } } },
    }];
    declarePooling = false;
  }
  graph.node = [...(graph.node ?? []), ...nodes];
  await fsp.mkdir(path.join(dir, 'onnx'), { recursive: true });
  await fsp.writeFile(path.join(dir, 'onnx', 'model.onnx'), encodeModel(model));
  await copyTokenizer(opts.baseModelDir, dir);
  for (const f of ['config.json', 'sentence_bert_config.json']) {
    if (await exists(path.join(opts.baseModelDir, f))) await fsp.copyFile(path.join(opts.baseModelDir, f), path.join(dir, f));
  }
  if (declarePooling) await writePooling(dir, D, st.pooling);
  else await writeJson(path.join(dir, 'modules.json'), [{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' }]);
  const documentModel = student.sides === 'query' ? path.resolve(opts.baseModelDir) : path.resolve(dir);
  await writeJson(path.join(dir, 'synthtune.json'), {
    kind: 'adapter', sides: student.sides, rank: student.rank, dim: D,
    role: student.sides === 'query' ? 'query-model' : 'model', documentModel,
  });
  return { dir, documentModel };
}

// ---------------------------------------------------------------------------------------------
// int8 quantised graph (onnx/model_quantized.onnx), for every export

/** Texts the quantised graph's agreement with float32 is measured on (and recorded in synthtune.json). */
export const AGREEMENT_TEXTS = [
  'The quick brown fox jumps over the lazy dog.',
  'what is the risk of infection after vaccination',
  'Embedding models map queries and documents to vectors; relevant pairs end up close together.',
  'Protein folding, gene expression and cell signalling are studied in molecular biology.',
  'Numbers like 3.14, 42 and 2024 appear in text, as do e-mail addresses and URLs.',
  'a',
  'Domain adaptation with synthetic data: generate queries, mine negatives, label with a teacher.',
  'Ünïcödé àccents and 中文 characters',
];

export interface QuantizedExport {
  /** onnx/model_quantized.onnx, relative to the folder. */
  file: string;
  weightType: 'int8' | 'uint8';
  perChannel: boolean;
  /** MatMuls with a constant weight that became MatMulInteger. */
  matmuls: number;
  /** Embeddings through the quantised graph vs the float32 graph (the folder's own pooling and modules), on AGREEMENT_TEXTS. */
  agreement: Agreement;
}

async function mergeJson(f: string, value: Record<string, unknown>): Promise<void> {
  await writeJson(f, { ...((await readJson(f)) ?? {}), ...value });
}

/**
 * Writes onnx/model_quantized.onnx next to a folder's onnx/model.onnx (dynamic int8, see
 * lib/models/onnx/quantize.ts), measures its agreement with the float32 graph through
 * loadEncoder on sample texts and records both in synthtune.json under `quantized`. Returns null
 * (and removes a stale quantised file) when the graph has no MatMul with a constant weight.
 */
export async function exportQuantized(dir: string, opts: QuantizeOptions & { sampleTexts?: string[] } = {}): Promise<QuantizedExport | null> {
  const fp32 = path.join(dir, 'onnx', 'model.onnx');
  const file = path.join(dir, 'onnx', 'model_quantized.onnx');
  const model = decodeModel(await fsp.readFile(fp32));
  const rep = quantizeDynamic(model, opts);
  if (rep.quantized === 0) {
    await fsp.rm(file, { force: true });
    await mergeJson(path.join(dir, 'synthtune.json'), { quantized: null });
    return null;
  }
  await fsp.writeFile(file, encodeModel(model));
  const texts = opts.sampleTexts ?? AGREEMENT_TEXTS;
  const [f32, q8] = [await loadEncoder(dir, { threads: 1 }), await loadEncoder(dir, { threads: 1, quantized: true })];
  let a: Agreement;
  try {
    a = agreement(await q8.encode(texts), await f32.encode(texts), f32.dim);
  } finally {
    await f32.release();
    await q8.release();
  }
  const res: QuantizedExport = {
    file: 'onnx/model_quantized.onnx', weightType: opts.weightType ?? 'int8', perChannel: opts.perChannel ?? false, matmuls: rep.quantized, agreement: a,
  };
  await mergeJson(path.join(dir, 'synthtune.json'), { quantized: res });
  return res;
}

// ---------------------------------------------------------------------------------------------
// full student: model.safetensors + config.json as transformers writes them

/**
 * How one architecture's tensors and config.json are named in a Hugging Face checkpoint of its
 * base model class (what `<Class>.save_pretrained` writes and `AutoModel.from_pretrained` reads).
 * Adding an architecture is one entry.
 */
export interface HfArchitecture {
  modelType: string;
  /** The transformers class of the saved model (config.json `architectures`). */
  architecture: string;
  /** Internal (native layout) tensor name → checkpoint name. */
  tensorName(name: string): string;
  /** config.json keys the student's shape fixes (they win over the source model's config.json). */
  config(c: BertConfig): Record<string, unknown>;
  /** Tensors the class has but the student does not train (BERT's pooler): copied from the source checkpoint when it has them. */
  untrained?: RegExp;
}

export const HF_ARCHITECTURES: Record<string, HfArchitecture> = {
  bert: { modelType: 'bert', architecture: 'BertModel', tensorName: (n) => n, config: (c) => bertConfigToHf({ ...c, arch: undefined, head: undefined }), untrained: /^pooler\./ },
  distilbert: { modelType: 'distilbert', architecture: 'DistilBertModel', tensorName: bertToDistilbertName, config: distilbertConfigToHf },
};

/** config.json keys where the source model's value is kept (they do not change the forward). */
const SOURCE_KEEPS = /dropout|^initializer_range$|_token_id$|^(id2label|label2id|_name_or_path|transformers_version|tokenizer_class)$/;
/** Source keys that would mislead a loader of the exported base model. */
const SOURCE_DROPS = new Set(['torch_dtype', 'dtype', 'auto_map', 'architectures', 'num_labels', 'problem_type', 'finetuning_task']);

/**
 * config.json for an exported checkpoint: the architecture's keys for the student's shape, over the
 * source model's config.json (what it says about dropout, token ids, ... is kept; shape,
 * activation and position-embedding keys are the student's), dtype float32.
 */
export function hfConfigFor(arch: HfArchitecture, c: BertConfig, source: Record<string, unknown> | null): Record<string, unknown> {
  const mine = arch.config(c);
  const kept = Object.fromEntries(Object.entries(source ?? {}).filter(([k]) => !SOURCE_DROPS.has(k)));
  const fixed = Object.fromEntries(Object.entries(mine).filter(([k]) => !SOURCE_KEEPS.test(k) || !(k in kept)));
  return { ...mine, ...kept, ...fixed, architectures: [arch.architecture], model_type: arch.modelType, dtype: 'float32' };
}

export interface FullExportOptions {
  /** The folder the student was imported from: its config.json, tokenizer files, prompts and (for untrained heads) model.safetensors. */
  sourceDir: string;
  /** Quantisation of onnx/model_quantized.onnx (default int8 per tensor); false: none. */
  quantize?: QuantizeOptions | false;
}

export interface FullExport {
  dir: string;
  /** Tensors written to model.safetensors, by checkpoint name. */
  tensors: string[];
  /** Tensors of the class that were not written (not trained, not in the source checkpoint): transformers initialises them and warns. */
  missing: string[];
  quantized: QuantizedExport | null;
}

/**
 * Makes a full student's model folder (onnx/model.onnx, as FullStudent.exportArtifact writes it)
 * loadable by transformers and sentence-transformers: model.safetensors under the checkpoint names
 * of the architecture (HF_ARCHITECTURES), a complete config.json, the source's tokenizer files,
 * the sentence-transformers modules (Transformer, Pooling, Normalize when the student normalises;
 * the source's prompts), and onnx/model_quantized.onnx with its measured agreement.
 */
export async function exportFullSafetensors(student: FullStudent, dir: string, opts: FullExportOptions): Promise<FullExport> {
  const c = student.config;
  const arch = HF_ARCHITECTURES[c.arch ?? 'bert'];
  if (!arch) throw new Error(`export: no Hugging Face naming for architecture '${c.arch}' (known: ${Object.keys(HF_ARCHITECTURES).join(', ')})`);
  const tensors = new Map<string, NamedTensor>();
  for (const [name, t] of student.weightMap()) tensors.set(arch.tensorName(name), t);
  const missing: string[] = [];
  const srcSt = path.join(opts.sourceDir, 'model.safetensors');
  if (arch.untrained) {
    const src = (await exists(srcSt)) ? readSafetensors(srcSt).tensors : new Map<string, NamedTensor>();
    const prefix = new RegExp(`^${arch.modelType}\\.`);
    for (const [name, t] of src) {
      const n = name.replace(prefix, '');
      if (arch.untrained.test(n) && !tensors.has(n)) tensors.set(n, { dims: t.dims, data: t.data });
    }
    if (![...tensors.keys()].some((n) => arch.untrained!.test(n))) missing.push(arch.untrained.source);
  }
  const sorted = new Map([...tensors.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'model.safetensors'), encodeSafetensors(sorted, { format: 'pt' }));
  await writeJson(path.join(dir, 'config.json'), hfConfigFor(arch, c, await readJson(path.join(opts.sourceDir, 'config.json'))));
  await copyTokenizer(opts.sourceDir, dir);
  const src = readModelFolder(opts.sourceDir);
  await writeSentenceTransformersFiles(dir, {
    hidden: c.hidden, pooling: c.pooling, normalize: c.normalize, maxSeqLength: student.maxLength, doLowerCase: false,
    prompts: src.prompts, defaultPromptName: src.defaultPromptName, ...(src.similarity === 'dot' || src.similarity === 'cosine' ? { similarity: src.similarity } : {}),
  });
  await mergeJson(path.join(dir, 'synthtune.json'), {
    kind: 'full', modelType: arch.modelType, dim: c.hidden, pooling: c.pooling, normalize: c.normalize, maxLength: student.maxLength,
  });
  const quantized = opts.quantize === false ? null : await exportQuantized(dir, opts.quantize ?? {});
  return { dir, tensors: [...sorted.keys()], missing, quantized };
}
