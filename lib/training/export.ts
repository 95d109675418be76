/**
 * Exporting trained students as self-contained model folders that synthtune's loadEncoder,
 * onnxruntime, transformers.js and Python (sentence-transformers, transformers) all read and that
 * give the student's embeddings: tokenizer files, config.json, onnx/model.onnx,
 * onnx/model_quantized.onnx (dynamic int8, its agreement with float32 measured and recorded in
 * synthtune.json), the sentence-transformers modules (lib/models/st-folder.ts writes them), and
 * PyTorch weights where the student has a transformer.
 *
 * full (exportFullSafetensors, after FullStudent.exportArtifact wrote the graph): model.safetensors
 *   under the checkpoint names of the architecture's transformers class (HF_ARCHITECTURES: one
 *   entry per architecture), config.json over the source's, Transformer → Pooling (→ Normalize).
 * static: the graph is Gather(E, input_ids) → last_hidden_state (B,S,D) — the token vectors —
 *   plus sentence_embedding (B,D), the attention-masked mean, so it is the student's forward
 *   when the student was trained on the tokenizer's ids (special tokens included, as
 *   TextTokenizer.encode gives them). For Python, a StaticEmbedding module (0_StaticEmbedding)
 *   whose tokenizer puts the same special tokens' rows in the bag (staticEmbeddingModule).
 * adapter: y = W·x + b on the base encoder's sentence embedding x. Layout 'modules' (a base without
 *   Normalize): the base's transformer (ONNX graph, and its model.safetensors when it has one), then
 *   Pooling → the base's Dense modules → Dense(identity, W, b). Layout 'graph' (a base that
 *   L2-normalises, which is not linear before the adapter): the pooling, the normalisation and
 *   the adapter are written into the graph as sentence_embedding and the folder declares no
 *   pooling (loadEncoder then uses the graph's); Python cannot load it (see exportAdapter).
 *   A query-only adapter exports the query model; synthtune.json names the unchanged document model.
 *
 * Shapes: B batch, S sequence length, V vocabulary, D embedding dimension.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { loadEncoder } from '../models/encoder';
import { encodeSafetensors, readFolderWeights, readOnnxFile, readSafetensors } from '../models/import';
import { bertConfigToHf, buildBertOnnx, type BertConfig, type NamedTensor } from '../models/onnx/bert';
import { bertToDistilbertName, distilbertConfigToHf } from '../models/onnx/distilbert';
import { bertToMpnetName, mpnetConfigToHf } from '../models/onnx/mpnet';
import { robertaConfigToHf } from '../models/onnx/roberta';
import { GraphBuilder } from '../models/onnx/graph';
import { decodeModel, encodeModel, DataType, type ModelProtoObj, type NodeProtoObj, type TensorProtoObj } from '../models/onnx/proto';
import { agreement, quantizeDynamic, type Agreement, type QuantizeOptions } from '../models/onnx/quantize';
import { ONNX_CANDIDATES } from '../models/resolve';
import { readModelFolder, writeSentenceTransformersFiles, type DenseSpec } from '../models/st-folder';
import { TextTokenizer } from '../models/tokenizer';
import type { AdapterStudent } from './students/adapter';
import type { FullStudent } from './students/full';
import type { StaticStudent } from './students/static';
import { ModelError } from '../models/errors';
import { readModelJson } from '../models/json-file';

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt'];

async function exists(f: string): Promise<boolean> {
  return fsp.access(f).then(() => true, () => false);
}

async function readJson(f: string): Promise<Record<string, unknown> | null> {
  return readModelJson(f, true) ?? null;
}

async function writeJson(f: string, value: unknown): Promise<void> {
  await fsp.mkdir(path.dirname(f), { recursive: true });
  await fsp.writeFile(f, `${JSON.stringify(value, null, 2)}\n`);
}

async function copyTokenizer(from: string, to: string): Promise<void> {
  if (!(await exists(path.join(from, 'tokenizer.json')))) throw new ModelError(`export: no tokenizer.json in ${from}`);
  for (const f of TOKENIZER_FILES) if (await exists(path.join(from, f))) await fsp.copyFile(path.join(from, f), path.join(to, f));
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
  /** Quantisation of onnx/model_quantized.onnx; the static graph has no MatMul, so none is written today. */
  quantize?: QuantizeOptions | false;
}

export interface StaticExport {
  dir: string;
  /** 0_StaticEmbedding was written: SentenceTransformer(dir) loads the folder (see exportStatic). */
  sentenceTransformers: boolean;
  /** Why not, when not. */
  reason?: string;
  quantized: QuantizedExport | null;
}

interface TokenizerJson {
  normalizer?: Record<string, unknown> | null;
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string }[] } | null;
  post_processor?: Record<string, unknown> | null;
  model?: { type?: string; vocab?: Record<string, number> | [string, number][] };
  added_tokens?: { id: number; content: string }[];
  truncation?: unknown;
  padding?: unknown;
}

type Processor = Record<string, unknown> & { type?: string };

/** Special tokens (strings) the post-processor puts before and after a single text; null when it cannot tell. */
function singleSpecials(pp: Processor | null | undefined): { before: string[]; after: string[] } | null {
  if (!pp) return { before: [], after: [] };
  if (pp.type === 'Sequence') {
    const parts = ((pp.processors ?? []) as Processor[]).map(singleSpecials);
    if (parts.some((p) => p === null)) return null;
    return { before: parts.flatMap((p) => p!.before), after: parts.flatMap((p) => p!.after) };
  }
  if (pp.type === 'ByteLevel') return { before: [], after: [] };
  if (pp.type === 'BertProcessing' || pp.type === 'RobertaProcessing') {
    return { before: [(pp.cls as [string, number])[0]], after: [(pp.sep as [string, number])[0]] };
  }
  if (pp.type === 'TemplateProcessing') {
    const specials = (pp.special_tokens ?? {}) as Record<string, { tokens?: string[] }>;
    const out = { before: [] as string[], after: [] as string[] };
    let seen = false;
    for (const piece of (pp.single ?? []) as Record<string, { id: string }>[]) {
      if ('Sequence' in piece) seen = true;
      else if ('SpecialToken' in piece) (seen ? out.after : out.before).push(...(specials[piece.SpecialToken.id]?.tokens ?? [piece.SpecialToken.id]));
    }
    return out;
  }
  return null;
}

/**
 * The tokenizer.json and (V', D) table of a sentence-transformers StaticEmbedding module that
 * computes the student's embedding. StaticEmbedding tokenises with add_special_tokens=False and
 * does not truncate, while the student's ids include the special tokens the post-processor adds
 * ([CLS] … [SEP]) and stop at maxLength. For a WordPiece tokenizer that splits on whitespace, the
 * module's tokenizer gets one private-use marker word per special token, all put in front of the
 * text by its normaliser (Prepend; a mean does not depend on the order), each a new vocabulary id
 * whose table row is the special token's, and truncation at maxLength: the bag then holds the
 * same rows. A Unigram tokenizer whose Metaspace puts ▁ before every word (XLM-R) works the same way,
 * its markers being new pieces ▁m of score 0. Texts that normalise to nothing ('' exactly) are the one difference:
 * StaticEmbedding gives zeros, the student the mean of the special tokens' rows.
 */
export function staticEmbeddingModule(tok: TokenizerJson, table: Float32Array, V: number, D: number, maxLength: number):
  { tokenizer: TokenizerJson; table: Float32Array } | { reason: string } {
  const sp = singleSpecials(tok.post_processor as Processor | null);
  if (!sp) return { reason: `the tokenizer's post-processor (${String((tok.post_processor as Processor)?.type)}) is not one synthtune can mirror` };
  const specials = [...sp.before, ...sp.after];
  const truncation = { direction: 'Right', max_length: maxLength, strategy: 'LongestFirst', stride: 0 };
  if (!specials.length) return { tokenizer: { ...tok, truncation, padding: null }, table };
  // the marker words must reach the model as whole words: a whitespace split, or Metaspace prepending ▁ to every word
  const pres = tok.pre_tokenizer?.type === 'Sequence' ? tok.pre_tokenizer.pretokenizers ?? [] : tok.pre_tokenizer ? [tok.pre_tokenizer] : [];
  const meta = pres.find((p) => p.type === 'Metaspace') as { replacement?: string; prepend_scheme?: string; add_prefix_space?: boolean } | undefined;
  const splits = pres.some((p) => ['BertPreTokenizer', 'Whitespace', 'WhitespaceSplit'].includes(p.type ?? ''));
  const type = tok.model?.type;
  const wordPiece = type === 'WordPiece' && splits && !meta;
  const unigram = type === 'Unigram' && (splits || meta) && (!meta || (meta.prepend_scheme ?? (meta.add_prefix_space === false ? 'never' : 'always')) === 'always');
  if (!wordPiece || !tok.model?.vocab) {
    if (!unigram || !Array.isArray(tok.model?.vocab)) {
      return { reason: `the tokenizer adds special tokens and is neither a whitespace-split WordPiece nor a Unigram with ▁ on every word (${type}); StaticEmbedding tokenises without special tokens` };
    }
  }
  // WordPiece: vocab {token: id}; Unigram: vocab [[piece, score]] with ids by position
  const pieces = new Set(Array.isArray(tok.model!.vocab) ? (tok.model!.vocab as [string, number][]).map(([p]) => p) : Object.keys(tok.model!.vocab!));
  const vocabMap = Array.isArray(tok.model!.vocab) ? null : { ...(tok.model!.vocab as Record<string, number>) };
  const vocabList = Array.isArray(tok.model!.vocab) ? [...(tok.model!.vocab as [string, number][])] : null;
  if (vocabList) {
    if (vocabList.length > V) return { reason: `the tokenizer has ${vocabList.length} pieces, the student's table ${V} rows` };
    // ids V.. must be the markers': fill the gap (added tokens' ids) with pieces no text contains
    for (let i = vocabList.length; i < V; i++) vocabList.push([`\u{10FFFD}synthtune-unused-${i}`, -1e4]);
  }
  const idOf = (t: string) => tok.added_tokens?.find((a) => a.content === t)?.id ?? vocabMap?.[t] ?? vocabList?.findIndex(([p]) => p === t);
  const prefix = vocabList && meta ? meta.replacement ?? '\u2581' : '';
  const markers: string[] = [];
  const out = new Float32Array((V + specials.length) * D);
  out.set(table.subarray(0, V * D));
  let code = 0xe000;
  for (const [i, t] of specials.entries()) {
    const id = idOf(t);
    if (id === undefined || id < 0 || id >= V) return { reason: `special token '${t}' has no row in the student's table` };
    while ([...pieces].some((p) => p.includes(String.fromCharCode(code)))) code++;
    const m = String.fromCharCode(code++);
    if (vocabMap) vocabMap[m] = V + i;
    else vocabList!.push([`${prefix}${m}`, 0]); // score 0: the whole marker beats any split of it
    markers.push(m);
    out.copyWithin((V + i) * D, id * D, (id + 1) * D);
  }
  const vocab = (vocabMap ?? vocabList)!;
  const normalizers = [...(tok.normalizer ? [tok.normalizer] : []), { type: 'Prepend', prepend: `${markers.join(' ')} ` }];
  return {
    tokenizer: { ...tok, model: { ...tok.model, vocab }, normalizer: { type: 'Sequence', normalizers }, post_processor: null, truncation, padding: null },
    table: out,
  };
}

/**
 * Writes a static student as a model folder: the ONNX embedding bag (see the file header) with the
 * tokenizer at the top for synthtune and transformers.js, and a sentence-transformers
 * StaticEmbedding module in 0_StaticEmbedding (model.safetensors 'embedding.weight', its own
 * tokenizer.json: staticEmbeddingModule) followed by Normalize for a cosine-trained student, so
 * SentenceTransformer(dir) computes the same embeddings. Where the tokenizer cannot be mirrored
 * the folder declares Transformer + Pooling (synthtune reads it; Python refuses it, having no
 * transformer weights) and the result says why.
 */
export async function exportStatic(student: StaticStudent, dir: string, opts: StaticExportOptions): Promise<StaticExport> {
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
  const tokFile = path.join(opts.tokenizerDir, 'tokenizer.json');
  const tok = readModelJson(tokFile, true) as TokenizerJson | undefined;
  if (!tok) throw new ModelError(`export: no tokenizer.json in ${opts.tokenizerDir}`);
  // the student's ids stop at the tokenizer's maxLength (TextTokenizer.encode): so do the module's
  const maxLength = TextTokenizer.fromFolder(opts.tokenizerDir).maxLength;
  const mod = staticEmbeddingModule(tok, student.table, V, D, maxLength);
  const normalize = opts.normalize ?? false;
  if ('tokenizer' in mod) {
    const mdir = path.join(dir, '0_StaticEmbedding');
    await fsp.mkdir(mdir, { recursive: true });
    await fsp.writeFile(path.join(mdir, 'tokenizer.json'), JSON.stringify(mod.tokenizer));
    await fsp.writeFile(path.join(mdir, 'model.safetensors'),
      encodeSafetensors({ 'embedding.weight': { dims: [mod.table.length / D, D], data: mod.table } }, { format: 'pt' }));
    await writeSentenceTransformersFiles(dir, { hidden: D, pooling: 'mean', first: 'StaticEmbedding', transformerPath: '0_StaticEmbedding', normalize, similarity: normalize ? 'cosine' : 'dot' });
  } else {
    await writeSentenceTransformersFiles(dir, { hidden: D, pooling: 'mean', normalize, similarity: normalize ? 'cosine' : 'dot' });
  }
  // synthtune's loadEncoder truncates where the student's ids were truncated
  await mergeJson(path.join(dir, 'sentence_bert_config.json'), { max_seq_length: maxLength });
  const sentenceTransformers = 'tokenizer' in mod;
  await writeJson(path.join(dir, 'synthtune.json'), {
    kind: 'static', dim: D, vocabSize: V, normalize, sentenceTransformers, ...('reason' in mod ? { reason: mod.reason } : {}),
  });
  const quantized = opts.quantize === false ? null : await exportQuantized(dir, opts.quantize ?? {});
  return { dir, sentenceTransformers, ...('reason' in mod ? { reason: mod.reason } : {}), quantized };
}

export interface AdapterExportOptions {
  /** The frozen encoder's model folder the adapter was trained on. */
  baseModelDir: string;
  /** The score the adapter was trained with, declared as similarity_fn_name (default: the base's, else cosine). */
  similarity?: 'cosine' | 'dot';
  /** Quantisation of onnx/model_quantized.onnx (default int8 per tensor); false: none. */
  quantize?: QuantizeOptions | false;
}

export interface AdapterExport {
  /** The folder written: both sides (a query-only adapter routes queries through it and documents past it). */
  dir: string;
  /** Where documents are encoded: dir (the folder holds both sides). */
  documentModel: string;
  /**
   * 'modules': the adapter is a sentence-transformers Dense module after the base's pooling (and
   * Dense modules); the ONNX graph is the base's. 'graph': the adapter is inside the ONNX graph's
   * sentence_embedding (a base that L2-normalises, or one that only has its own sentence_embedding).
   */
  layout: 'modules' | 'graph';
  /** The base's transformer weights (model.safetensors, else pytorch_model.bin) and config.json were copied: SentenceTransformer / AutoModel can load the folder. */
  pytorch: boolean;
  quantized: QuantizedExport | null;
}

/** The base's ONNX graph; for a base with only model.safetensors, one built from its weights (last_hidden_state). */
async function baseGraph(dir: string): Promise<{ file: string; model: ModelProtoObj }> {
  for (const c of ONNX_CANDIDATES) {
    const f = path.join(dir, c);
    if (await exists(f)) return { file: f, model: readOnnxFile(f) };
  }
  if (!(await exists(path.join(dir, 'model.safetensors')))) throw new ModelError(`export: no ONNX graph in ${dir} (looked for ${ONNX_CANDIDATES.join(', ')}) and no model.safetensors to build one from`);
  const w = readFolderWeights(dir, { source: 'safetensors' });
  return { file: w.file, model: decodeModel(buildBertOnnx({ ...w.config, pooling: 'none', normalize: false }, w.weights)) };
}

function floatTensor(name: string, dims: number[], data: Float32Array): TensorProtoObj {
  return { name, dims, data_type: DataType.FLOAT, raw_data: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
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

/** Where the adapter's input comes from in the graph. */
type HeadInput =
  | { from: 'tokens'; hidden: string; pooling: 'mean' | 'cls'; normalize: boolean }
  | { from: 'sentence'; name: string };

/**
 * Appends sentence_embedding (B,D) = adapter(x) to the graph, x pooled from the token output
 * (masked mean or the first token, then L2-normalised when the base normalises) or the graph's
 * own sentence embedding (renamed before the call). Replaces any sentence_embedding output.
 */
function appendAdapterHead(model: ModelProtoObj, input: HeadInput, D: number, w: Float32Array, b: Float32Array, output = 'sentence_embedding'): void {
  const graph = model.graph;
  const g = new GraphBuilder('adapter_head');
  const x0 = input.from === 'tokens' ? input.hidden : input.name;
  const own = new Set([x0, 'attention_mask', output]);
  let x: string;
  if (input.from === 'tokens') {
    const h = g.input(input.hidden, 'FLOAT', ['batch', 'sequence', D]);
    const mask = g.input('attention_mask', 'INT64', ['batch', 'sequence']);
    x = input.pooling === 'cls'
      ? g.node('Squeeze', [g.node('Slice', [h, g.int64([0]), g.int64([1]), g.int64([1])]), g.int64([1])])
      : maskedMean(g, h, mask);
    if (input.normalize) {
      // ‖x‖ as Sqrt(ReduceSum(x²)): ReduceSum takes axes as an input in every opset ≥ 13
      const norm = g.node('Sqrt', [g.node('ReduceSum', [g.node('Mul', [x, x]), g.int64([1])], { attrs: { keepdims: 1 } })]);
      x = g.node('Div', [x, g.node('Max', [norm, g.float(1e-12)])]);
    }
  } else {
    x = g.input(input.name, 'FLOAT', ['batch', D]);
  }
  const wt = g.initializer('synthtune_adapter_wt', [D, D], transposed(w, D));
  const bias = g.initializer('synthtune_adapter_b', [D], b);
  g.node('Add', [g.node('MatMul', [x, wt]), bias], { name: output });
  // the head's names are local to its builder: prefix them
  const prefix = (v: string) => (own.has(v) || v.startsWith('synthtune_adapter_') ? v : `synthtune_head_${v}`);
  graph.initializer = [...(graph.initializer ?? []), ...g.initializers.map((t) => ({ ...t, name: prefix(t.name) }))];
  graph.node = [...(graph.node ?? []), ...g.nodes.map((n) => ({ ...n, name: `synthtune_head_${n.name}`, input: n.input.map(prefix), output: n.output.map(prefix) }))];
  graph.output = [...(graph.output ?? []).filter((o) => o.name !== 'sentence_embedding' && o.name !== output), {
    name: output,
    type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [{ dim_param: 'batch' }, { dim_value: D }] } } },
  }];
}

/**
 * Writes an adapter model folder. The adapter computes y = W·x + b on the base encoder's sentence
 * embedding x (after its pooling, Dense modules and Normalize, as loadEncoder gives it):
 *
 *   base with a Pooling module (layout 'modules'): the folder is the base's transformer (its ONNX
 *     graph, and its model.safetensors + config.json when the base has them) followed by the
 *     sentence-transformers modules Pooling → the base's Dense modules and Normalize, in the base's
 *     order → Dense(identity, W, b).
 *     sentence-transformers, transformers + the modules, and synthtune's loadEncoder compute the
 *     same. The graph also gets a sentence_embedding output with the whole pipeline (for callers of
 *     the graph itself, e.g. transformers.js's AutoModel; its feature-extraction pipeline pools
 *     last_hidden_state and so ignores Dense modules) when the base has no Dense module and
 *     pools by mean or CLS.
 *   base declaring no pooling but with its own sentence_embedding (layout 'graph'): the adapter
 *     is applied to the graph's sentence_embedding and the folder declares only the Transformer
 *     (loadEncoder then uses the graph's output); no model.safetensors is written, so Python
 *     refuses the folder rather than computing something else.
 *
 * A query-only adapter keeps the document side unchanged: its Dense module sits in the 'query' route
 * of a sentence-transformers Router after the shared modules (the 'document' route is empty), so
 * encode_query / encodeQueries apply it and encode_document / encodeDocuments do not; the
 * folder is self-contained. The ONNX graph then names the adapted output query_embedding, not
 * sentence_embedding (it is right for queries only). Every export declares the training score as
 * similarity_fn_name.
 */
export async function exportAdapter(student: AdapterStudent, dir: string, opts: AdapterExportOptions): Promise<AdapterExport> {
  const D = student.dim;
  const baseDir = opts.baseModelDir;
  const base = readModelFolder(baseDir);
  const { model } = await baseGraph(baseDir);
  const graph = model.graph;
  if (!graph) throw new ModelError('export: the base ONNX model has no graph');
  const outputs = graph.output ?? [];
  const hiddenName = ['last_hidden_state', 'token_embeddings'].find((n) => outputs.some((o) => o.name === n));
  const hasSentence = outputs.some((o) => o.name === 'sentence_embedding');
  const opset = (model.opset_import ?? []).find((o) => !o.domain)?.version ?? 0;
  if (Number(opset) < 13) throw new ModelError(`export: the base graph uses opset ${opset}; the adapter head needs opset ≥ 13`);
  const { w, b } = student.matrix();
  // what loadEncoder does with the base: its Pooling module, else the graph's sentence_embedding, else mean
  const modes = base.pooling?.modes ?? (hasSentence ? null : ['mean' as const]);
  const layout: AdapterExport['layout'] = modes ? 'modules' : 'graph';
  if (modes && !hiddenName) throw new ModelError('export: the base graph has no last_hidden_state / token_embeddings output to pool');
  const queryOnly = student.sides === 'query';
  if (queryOnly && !modes) {
    throw new ModelError(`export: a query-only adapter needs a base whose modules.json declares its Pooling (${baseDir} has only the graph's own sentence_embedding); train it on both sides (--both-sides)`);
  }
  if (base.routes) throw new ModelError(`export: ${baseDir} is already asymmetric (a Router module); an adapter on it is not supported`);
  const similarity = opts.similarity ?? (base.similarity === 'dot' || base.similarity === 'cosine' ? base.similarity : 'cosine');
  const simple = modes?.length === 1 && (modes[0] === 'mean' || modes[0] === 'cls') && base.dense.length === 0 ? (modes[0] as 'mean' | 'cls') : null;
  let pytorch = false;
  await fsp.mkdir(path.join(dir, 'onnx'), { recursive: true });
  await copyTokenizer(baseDir, dir);
  if (layout === 'modules') {
    // the graph's own output of the adapted embedding: sentence_embedding, or query_embedding for a query-only adapter
    if (simple) appendAdapterHead(model, { from: 'tokens', hidden: hiddenName!, pooling: simple, normalize: base.normalize }, D, w, b, queryOnly ? 'query_embedding' : 'sentence_embedding');
    else graph.output = outputs.filter((o) => o.name !== 'sentence_embedding'); // it would not be the adapted embedding
    const tdir = path.join(baseDir, base.transformerPath);
    // the base's transformer weights as they are (a pickle only when there is no safetensors file)
    const weightsFile = (await exists(path.join(tdir, 'model.safetensors'))) ? 'model.safetensors' : (await exists(path.join(tdir, 'pytorch_model.bin'))) ? 'pytorch_model.bin' : null;
    for (const f of ['config.json', ...(weightsFile ? [weightsFile] : [])]) if (await exists(path.join(tdir, f))) await fsp.copyFile(path.join(tdir, f), path.join(dir, f));
    pytorch = weightsFile !== null && (await exists(path.join(tdir, 'config.json')));
    const pooled = base.dense.length ? base.dense[0].inFeatures : D * modes!.length;
    const adapterDense = { inFeatures: D, outFeatures: D, bias: student.hasBias, activation: 'identity' as const, weight: w, biasData: student.hasBias ? b : null };
    const baseDense = base.dense.map(({ path: _p, ...d }) => d);
    await writeSentenceTransformersFiles(dir, {
      hidden: base.pooling?.dimension ?? pooled / modes!.length,
      pooling: modes!,
      includePrompt: base.pooling?.includePrompt ?? true,
      dense: queryOnly ? baseDense : [...baseDense, adapterDense],
      normalize: base.normalize,
      normalizeAt: base.normalizeAt,
      ...(queryOnly ? { router: { query: [adapterDense], document: [] } } : {}),
      maxSeqLength: base.maxSeqLength,
      doLowerCase: base.doLowerCase,
      prompts: base.prompts,
      defaultPromptName: base.defaultPromptName,
      similarity,
    });
  } else {
    renameValue(model, 'sentence_embedding', 'sentence_embedding_base');
    appendAdapterHead(model, { from: 'sentence', name: 'sentence_embedding_base' }, D, w, b);
    for (const f of ['config.json', 'sentence_bert_config.json', 'config_sentence_transformers.json']) {
      if (await exists(path.join(baseDir, f))) await fsp.copyFile(path.join(baseDir, f), path.join(dir, f));
    }
    await writeJson(path.join(dir, 'modules.json'), [{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' }]);
    await mergeJson(path.join(dir, 'config_sentence_transformers.json'), { similarity_fn_name: similarity });
  }
  await fsp.writeFile(path.join(dir, 'onnx', 'model.onnx'), encodeModel(model));
  const documentModel = path.resolve(dir);
  await writeJson(path.join(dir, 'synthtune.json'), {
    kind: 'adapter', sides: student.sides, rank: student.rank, dim: D, layout, pytorch, similarity,
    // a query-only adapter: queries through the Router's 'query' route (the adapter), documents through its empty 'document' route
    ...(queryOnly ? { asymmetric: true } : {}),
  });
  const quantized = opts.quantize === false ? null : await exportQuantized(dir, opts.quantize ?? {});
  return { dir, documentModel, layout, pytorch, quantized };
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
  // float32 = the same graph on onnxruntime (not the folder's weights on the native core)
  const [f32, q8] = [await loadEncoder(dir, { threads: 1, backend: 'onnxruntime' }), await loadEncoder(dir, { threads: 1, quantized: true })];
  let a: Agreement;
  try {
    // an asymmetric export: the query side, which holds the adapter
    const side = f32.asymmetric ? { side: 'query' as const } : {};
    a = agreement(await q8.encode(texts, side), await f32.encode(texts, side), f32.dim);
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
  /** Tensors the class has but the student does not train (the pooler): copied from the source checkpoint when it has them. */
  untrained?: RegExp;
  /** Prefix of the base model's tensors in task checkpoints (BertForMaskedLM's 'bert.'), stripped when reading the source. */
  prefix?: string;
}

const same = (n: string) => n;

export const HF_ARCHITECTURES: Record<string, HfArchitecture> = {
  bert: { modelType: 'bert', architecture: 'BertModel', tensorName: same, config: (c) => bertConfigToHf({ ...c, arch: undefined, head: undefined }), untrained: /^pooler\./, prefix: 'bert.' },
  distilbert: { modelType: 'distilbert', architecture: 'DistilBertModel', tensorName: bertToDistilbertName, config: distilbertConfigToHf },
  roberta: { modelType: 'roberta', architecture: 'RobertaModel', tensorName: same, config: robertaConfigToHf, untrained: /^pooler\./, prefix: 'roberta.' },
  'xlm-roberta': { modelType: 'xlm-roberta', architecture: 'XLMRobertaModel', tensorName: same, config: robertaConfigToHf, untrained: /^pooler\./, prefix: 'roberta.' },
  mpnet: { modelType: 'mpnet', architecture: 'MPNetModel', tensorName: bertToMpnetName, config: mpnetConfigToHf, untrained: /^pooler\./, prefix: 'mpnet.' },
};

/** config.json keys where the source model's value is kept (they do not change the forward; pad_token_id does, for RoBERTa's positions). */
const SOURCE_KEEPS = /dropout|^initializer_range$|^(bos|eos|sep|cls|unk|mask)_token_id$|^(id2label|label2id|_name_or_path|transformers_version|tokenizer_class)$/;
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
  /** The student's sentence-transformers modules after pooling (a full+dense student): trained Dense modules, Normalize last. */
  head?: { dense: DenseSpec[]; normalize: boolean };
  /** The score the student was trained with, declared as similarity_fn_name (default: the source's). */
  similarity?: 'cosine' | 'dot';
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
  if (!arch) throw new ModelError(`export: no Hugging Face naming for architecture '${c.arch}' (known: ${Object.keys(HF_ARCHITECTURES).join(', ')})`);
  const tensors = new Map<string, NamedTensor>();
  for (const [name, t] of student.weightMap()) tensors.set(arch.tensorName(name), t);
  const missing: string[] = [];
  // the source's transformer may sit in a module folder (older sentence-transformers saves)
  const src = readModelFolder(opts.sourceDir);
  const srcT = path.join(opts.sourceDir, src.transformerPath);
  const srcSt = path.join(srcT, 'model.safetensors');
  if (arch.untrained) {
    const src = (await exists(srcSt)) ? readSafetensors(srcSt).tensors : new Map<string, NamedTensor>();
    for (const [name, t] of src) {
      const n = arch.prefix && name.startsWith(arch.prefix) ? name.slice(arch.prefix.length) : name;
      if (arch.untrained.test(n) && !tensors.has(n)) tensors.set(n, { dims: t.dims, data: t.data });
    }
    if (![...tensors.keys()].some((n) => arch.untrained!.test(n))) missing.push(arch.untrained.source);
  }
  const sorted = new Map([...tensors.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'model.safetensors'), encodeSafetensors(sorted, { format: 'pt' }));
  await writeJson(path.join(dir, 'config.json'), hfConfigFor(arch, c, (await readJson(path.join(srcT, 'config.json'))) ?? (await readJson(path.join(opts.sourceDir, 'config.json')))));
  await copyTokenizer(opts.sourceDir, dir);
  const head = opts.head;
  const normalize = head ? head.normalize : c.normalize;
  await writeSentenceTransformersFiles(dir, {
    hidden: c.hidden, pooling: c.pooling, includePrompt: src.pooling?.includePrompt ?? true, normalize, dense: head?.dense,
    maxSeqLength: student.maxLength, doLowerCase: src.doLowerCase ?? false,
    prompts: src.prompts, defaultPromptName: src.defaultPromptName,
    ...(opts.similarity ? { similarity: opts.similarity } : src.similarity === 'dot' || src.similarity === 'cosine' ? { similarity: src.similarity } : {}),
  });
  await mergeJson(path.join(dir, 'synthtune.json'), {
    kind: head ? 'full+dense' : 'full', modelType: arch.modelType, dim: head ? head.dense[head.dense.length - 1].outFeatures : student.dim,
    pooling: c.pooling, normalize, dense: head?.dense.length ?? 0, maxLength: student.maxLength,
  });
  const quantized = opts.quantize === false ? null : await exportQuantized(dir, opts.quantize ?? {});
  return { dir, tensors: [...sorted.keys()], missing, quantized };
}
