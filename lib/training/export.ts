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
import { GraphBuilder } from '../models/onnx/graph';
import { decodeModel, encodeModel, DataType, type ModelProtoObj, type NodeProtoObj, type TensorProtoObj } from '../models/onnx/proto';
import { ONNX_CANDIDATES } from '../models/resolve';
import { sentenceTransformersModules } from '../models/tiny';
import type { AdapterStudent } from './students/adapter';
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
