/**
 * The sentence-transformers / Hugging Face model-folder layout, read and written in one place.
 * Every consumer (bi-encoder, cross-encoder, weight import, the adapter's base, every export) asks
 * this module what a folder declares instead of parsing its JSON files itself.
 *
 *   folder/
 *     config.json                      transformers config (model_type, sizes)
 *     tokenizer.json, tokenizer_config.json, special_tokens_map.json
 *     model.safetensors | onnx/model.onnx
 *     modules.json                     [{idx, name, path, type}]: the module pipeline, in order
 *     sentence_bert_config.json        Transformer module: max_seq_length, do_lower_case (old saves)
 *     config_sentence_transformers.json  prompts, default_prompt_name, similarity_fn_name
 *     1_Pooling/config.json            pooling_mode ('cls' | ... or a list) + include_prompt (ST ≥ 5),
 *                                      or pooling_mode_cls_token / _mean_tokens / ... booleans (older)
 *     2_Dense/config.json + model.safetensors   in_features, out_features, bias, activation_function;
 *                                      tensors linear.weight (out, in), linear.bias (out)
 *     3_Normalize/                     L2 normalisation (no files needed)
 *     4_Router/router_config.json      asymmetric models (sentence-transformers' Router.for_query_document):
 *                                      {types, structure: {query: [ids], document: [ids]}, parameters:
 *                                      {default_route}}; each id is a module folder inside (Dense,
 *                                      Normalize). Supported as the last module, after the shared ones.
 *
 * Module types are matched by their last dotted segment, so old paths
 * (`sentence_transformers.models.Pooling`) and new ones
 * (`sentence_transformers.sentence_transformer.modules.pooling.Pooling`) read the same. A module or
 * setting synthtune cannot honour is a ModelError naming it and its file, never a warning.
 *
 * Pooling (poolTokens) follows sentence-transformers' Pooling._forward_padded exactly, for right-
 * padded batches: with include_prompt false, the first `promptLength` positions are masked out of
 * the pooling only (not the attention).
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ModelError } from './errors';
import { readModelJson } from './json-file';
import { checkFinite, encodeSafetensors, readSafetensors } from './import';
import { POOLING_MODES, type PoolingMode } from './onnx/bert';
import { erf } from './reference-forward';
import { OptionsError } from '../util/errors';

export { POOLING_MODES, type PoolingMode };

export interface PoolingConfig {
  /** Modes in order; several modes concatenate their outputs (width hidden × modes). */
  modes: PoolingMode[];
  /** false: prompt tokens are excluded from pooling (INSTRUCTOR-style). */
  includePrompt: boolean;
  /** The token embedding width the module was saved for, when it says. */
  dimension?: number;
  /** Module folder, relative to the model folder. */
  path: string;
}

export const DENSE_ACTIVATIONS = ['tanh', 'identity', 'relu', 'sigmoid', 'gelu'] as const;
export type DenseActivation = (typeof DENSE_ACTIVATIONS)[number];

/** A Dense layer: y = act(W·x + b), W (out, in) row-major. */
export interface DenseSpec {
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
  activation: DenseActivation;
  /** (out, in) row-major. */
  weight: Float32Array;
  biasData: Float32Array | null;
}

/** A Dense module read from a folder. */
export interface DenseModule extends DenseSpec {
  /** Module folder, relative to the model folder. */
  path: string;
}

export type Similarity = 'cosine' | 'dot' | 'euclidean' | 'manhattan';

/** A module of one route of a Router: a Dense layer or L2 normalisation. */
export type RouteModule = { kind: 'dense'; dense: DenseModule } | { kind: 'normalize' };

/** The two sides of an asymmetric model: modules applied after the shared ones, per side. */
export interface Routes {
  /** Router module folder, relative. */
  path: string;
  query: RouteModule[];
  document: RouteModule[];
  /** The route sentence-transformers' plain encode() takes (null: it needs a task). */
  defaultRoute: 'query' | 'document' | null;
}

export interface ModelFolder {
  dir: string;
  /** config.json ({} when absent). */
  config: Record<string, unknown>;
  modelType: string | undefined;
  /** modules.json present. */
  isSentenceTransformers: boolean;
  /** Module types in order, by their short name ('Transformer', 'Pooling', ...). */
  moduleTypes: string[];
  /** Folder of the transformer (relative; '' = the model folder). */
  transformerPath: string;
  /** null: the folder declares no Pooling module (a plain transformers folder). */
  pooling: PoolingConfig | null;
  dense: DenseModule[];
  normalize: boolean;
  /** How many Dense modules come before the Normalize module (= dense.length when it is last). */
  normalizeAt: number;
  /** A Router after the shared modules: queries and documents are encoded differently (null: one model for both). */
  routes: Routes | null;
  maxSeqLength?: number;
  doLowerCase?: boolean;
  prompts: Record<string, string>;
  defaultPromptName: string | null;
  /** similarity_fn_name, when declared. */
  similarity?: Similarity;
  /** config_sentence_transformers.json's model_type ('SentenceTransformer', 'CrossEncoder'), when declared. */
  stModelType?: string;
  /** sentence_bert_config.json's transformer_task ('feature-extraction', 'sequence-classification'), when declared. */
  task?: string;
}

// ---------------------------------------------------------------------------------------------
// reading

function readJsonFile(file: string): unknown {
  return readModelJson(file);
}

function readObject(file: string): Record<string, unknown> | undefined {
  const v = readJsonFile(file);
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ModelError(`${file}: expected a JSON object`);
  return v as Record<string, unknown>;
}

const LEGACY_POOLING_KEYS: [string, PoolingMode][] = [
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_max_tokens', 'max'],
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_mean_sqrt_len_tokens', 'mean_sqrt_len_tokens'],
  ['pooling_mode_weightedmean_tokens', 'weightedmean'],
  ['pooling_mode_lasttoken', 'lasttoken'],
];

/** Pooling modes of a 1_Pooling/config.json object in either format (as sentence-transformers reads it). */
export function poolingFromConfig(pc: Record<string, unknown>, file: string, modulePath = '1_Pooling'): PoolingConfig {
  let modes: PoolingMode[];
  const check = (m: unknown): PoolingMode => {
    if (typeof m !== 'string' || !(POOLING_MODES as readonly string[]).includes(m)) {
      throw new ModelError(`${file}: pooling mode ${JSON.stringify(m)} is not one of ${POOLING_MODES.join(', ')}`);
    }
    return m as PoolingMode;
  };
  if (pc.pooling_mode !== undefined) {
    modes = Array.isArray(pc.pooling_mode) ? pc.pooling_mode.map(check) : [check(pc.pooling_mode)];
    if (!modes.length) throw new ModelError(`${file}: pooling_mode is an empty list`);
  } else {
    modes = LEGACY_POOLING_KEYS.filter(([k]) => pc[k] === true).map(([, m]) => m);
    if (!modes.length) modes = ['mean']; // sentence-transformers' default when no flag is set
  }
  for (const k of Object.keys(pc)) {
    if (k.startsWith('pooling_mode_') && !LEGACY_POOLING_KEYS.some(([l]) => l === k) && pc[k]) {
      throw new ModelError(`${file}: pooling setting '${k}' is not supported by synthtune`);
    }
  }
  const dimRaw = pc.embedding_dimension ?? pc.word_embedding_dimension;
  if (dimRaw !== undefined && !(typeof dimRaw === 'number' && Number.isInteger(dimRaw) && dimRaw > 0)) {
    throw new ModelError(`${file}: ${pc.embedding_dimension !== undefined ? 'embedding_dimension' : 'word_embedding_dimension'} must be a positive integer, got ${JSON.stringify(dimRaw)}`);
  }
  const dimension = dimRaw as number | undefined;
  const includePrompt = pc.include_prompt === undefined ? true : pc.include_prompt !== false;
  return { modes, includePrompt, dimension, path: modulePath };
}

const ACTIVATION_PATHS: Record<string, DenseActivation> = {
  'torch.nn.modules.activation.Tanh': 'tanh',
  'torch.nn.modules.linear.Identity': 'identity',
  'torch.nn.modules.activation.ReLU': 'relu',
  'torch.nn.modules.activation.Sigmoid': 'sigmoid',
  'torch.nn.modules.activation.GELU': 'gelu',
};
const ACTIVATION_NAMES: Record<DenseActivation, string> = Object.fromEntries(Object.entries(ACTIVATION_PATHS).map(([k, v]) => [v, k])) as Record<DenseActivation, string>;

function readDense(dir: string, modulePath: string): DenseModule {
  const mdir = path.join(dir, modulePath);
  const cfgFile = path.join(mdir, 'config.json');
  const cfg = readObject(cfgFile);
  if (!cfg) throw new ModelError(`Dense module ${modulePath}: ${cfgFile} is missing`);
  const inFeatures = cfg.in_features;
  const outFeatures = cfg.out_features;
  if (!Number.isInteger(inFeatures) || !Number.isInteger(outFeatures) || (inFeatures as number) < 1 || (outFeatures as number) < 1) {
    throw new ModelError(`${cfgFile}: in_features and out_features must be positive integers, got ${JSON.stringify(inFeatures)} and ${JSON.stringify(outFeatures)}`);
  }
  const actPath = cfg.activation_function === undefined ? 'torch.nn.modules.activation.Tanh' : cfg.activation_function;
  const activation = ACTIVATION_PATHS[String(actPath)];
  if (!activation) {
    throw new ModelError(`${cfgFile}: activation_function '${String(actPath)}' is not supported (synthtune supports ${Object.keys(ACTIVATION_PATHS).join(', ')})`);
  }
  if (cfg.use_residual === true) throw new ModelError(`${cfgFile}: use_residual is not supported by synthtune`);
  for (const k of ['module_input_name', 'module_output_name']) {
    if (cfg[k] !== undefined && cfg[k] !== 'sentence_embedding') {
      throw new ModelError(`${cfgFile}: ${k} '${String(cfg[k])}' is not supported (only a Dense on sentence_embedding)`);
    }
  }
  const bias = cfg.bias !== false;
  const st = path.join(mdir, 'model.safetensors');
  if (!fs.existsSync(st)) {
    const bin = path.join(mdir, 'pytorch_model.bin');
    if (fs.existsSync(bin)) throw new ModelError(`Dense module ${modulePath}: ${bin} is a PyTorch pickle, which synthtune does not read; re-save the model with sentence-transformers (safe_serialization, the default) to get ${st}`);
    throw new ModelError(`Dense module ${modulePath}: ${st} is missing`);
  }
  let file;
  try {
    file = readSafetensors(st);
  } catch (e) {
    if (!(e instanceof ModelError)) throw e;
    throw new ModelError(`Dense module ${modulePath}: ${e.message}`, { cause: e });
  }
  const w = file.tensors.get('linear.weight');
  const I = inFeatures as number;
  const O = outFeatures as number;
  if (!w) throw new ModelError(`${st}: no tensor 'linear.weight' (has ${[...file.tensors.keys()].join(', ') || 'none'})`);
  if (w.dims.length !== 2 || w.dims[0] !== O || w.dims[1] !== I) {
    throw new ModelError(`${st}: 'linear.weight' has shape [${w.dims.join(', ')}], expected [${O}, ${I}] (out_features, in_features)`);
  }
  checkFinite(w.data, `${st}: 'linear.weight'`);
  let biasData: Float32Array | null = null;
  if (bias) {
    const b = file.tensors.get('linear.bias');
    if (!b) throw new ModelError(`${st}: no tensor 'linear.bias' but ${cfgFile} says bias is true`);
    if (b.dims.length !== 1 || b.dims[0] !== O) throw new ModelError(`${st}: 'linear.bias' has shape [${b.dims.join(', ')}], expected [${O}]`);
    checkFinite(b.data, `${st}: 'linear.bias'`);
    biasData = b.data;
  }
  return { path: modulePath, inFeatures: I, outFeatures: O, bias, activation, weight: w.data, biasData };
}

/** A Router module folder: its routes' Dense / Normalize modules (see the file header). */
function readRouter(dir: string, modulePath: string): Routes {
  const rdir = path.join(dir, modulePath);
  let file = path.join(rdir, 'router_config.json');
  let cfg = readObject(file);
  if (!cfg) {
    file = path.join(rdir, 'config.json');
    cfg = readObject(file);
  }
  if (!cfg) throw new ModelError(`Router module ${modulePath}: ${path.join(rdir, 'router_config.json')} is missing`);
  const types = (cfg.types ?? {}) as Record<string, unknown>;
  const structure = (cfg.structure ?? {}) as Record<string, unknown>;
  const params = (cfg.parameters ?? {}) as Record<string, unknown>;
  const mappings = params.route_mappings as Record<string, unknown> | undefined;
  if (mappings && Object.keys(mappings).length) throw new ModelError(`${file}: route_mappings are not supported (only the query / document routes of Router.for_query_document)`);
  const keys = Object.keys(structure);
  const unknown = keys.filter((k) => k !== 'query' && k !== 'document');
  if (unknown.length || !keys.length) {
    throw new ModelError(`${file}: routes ${keys.map((k) => `'${k}'`).join(', ') || '(none)'}; synthtune supports the 'query' and 'document' routes of Router.for_query_document`);
  }
  const route = (name: 'query' | 'document'): RouteModule[] => {
    const ids = structure[name] ?? [];
    if (!Array.isArray(ids)) throw new ModelError(`${file}: structure.${name} must be a list of module ids`);
    let normalized = false;
    return ids.map((id) => {
      const type = types[String(id)];
      const short = typeof type === 'string' ? type.split('.').pop() : undefined;
      if (short === 'Dense') {
        if (normalized) throw new ModelError(`${file}: a Dense module after Normalize in the '${name}' route is not supported`);
        return { kind: 'dense', dense: readDense(dir, path.join(modulePath, String(id))) };
      }
      if (short === 'Normalize') {
        normalized = true;
        return { kind: 'normalize' };
      }
      throw new ModelError(`${file}: module '${String(id)}' (${String(type)}) of the '${name}' route is not supported (Dense and Normalize are)`);
    });
  };
  const dr = params.default_route;
  return {
    path: modulePath,
    query: route('query'),
    document: route('document'),
    defaultRoute: dr === 'query' || dr === 'document' ? dr : null,
  };
}

const SIMILARITIES: Similarity[] = ['cosine', 'dot', 'euclidean', 'manhattan'];

/** Reads what a model folder declares (see the file header). Throws ModelError on anything it cannot honour. */
export function readModelFolder(dir: string): ModelFolder {
  const config = readObject(path.join(dir, 'config.json')) ?? {};
  const modelType = typeof config.model_type === 'string' ? config.model_type : undefined;
  const modulesFile = path.join(dir, 'modules.json');
  const rawModules = readJsonFile(modulesFile);
  const folder: ModelFolder = {
    dir, config, modelType, isSentenceTransformers: rawModules !== undefined, moduleTypes: [], transformerPath: '',
    pooling: null, dense: [], normalize: false, normalizeAt: 0, routes: null, prompts: {}, defaultPromptName: null,
  };
  if (rawModules !== undefined) {
    if (!Array.isArray(rawModules)) throw new ModelError(`${modulesFile}: expected a JSON list of modules`);
    const modules = [...rawModules].sort((a, b) => Number(a?.idx ?? 0) - Number(b?.idx ?? 0));
    modules.forEach((m: { type?: unknown; path?: unknown }, i) => {
      if (typeof m?.type !== 'string') throw new ModelError(`${modulesFile}: module ${i} has no 'type'`);
      const short = m.type.split('.').pop()!;
      const p = typeof m.path === 'string' ? m.path : '';
      folder.moduleTypes.push(short);
      const at = `module ${i} (${m.type}) in ${modulesFile}`;
      if (folder.routes) throw new ModelError(`${at}: a module after the Router is not supported (the Router must be last)`);
      if (short === 'Router') {
        if (!folder.pooling) throw new ModelError(`${at}: a Router before pooling is not supported (only one after the shared Transformer and Pooling)`);
        folder.routes = readRouter(dir, p);
      } else if (short === 'Transformer') {
        if (i !== 0) throw new ModelError(`${at}: a Transformer module must come first`);
        folder.transformerPath = p;
      } else if (short === 'StaticEmbedding') {
        if (i !== 0) throw new ModelError(`${at}: a StaticEmbedding module must come first`);
        folder.transformerPath = p;
      } else if (short === 'Pooling') {
        if (folder.pooling) throw new ModelError(`${at}: a second Pooling module is not supported`);
        if (folder.dense.length || folder.normalize) throw new ModelError(`${at}: Pooling after Dense/Normalize is not supported`);
        const file = path.join(dir, p, 'config.json');
        const pc = readObject(file);
        folder.pooling = pc ? poolingFromConfig(pc, file, p) : { modes: ['mean'], includePrompt: true, path: p };
      } else if (short === 'Dense') {
        if (!folder.pooling) throw new ModelError(`${at}: a Dense module before pooling is not supported`);
        folder.dense.push(readDense(dir, p));
      } else if (short === 'Normalize') {
        if (folder.normalize) throw new ModelError(`${at}: a second Normalize module is not supported`);
        folder.normalize = true;
        folder.normalizeAt = folder.dense.length;
      } else {
        throw new ModelError(`${at}: module type '${short}' is not supported by synthtune (supported: Transformer, Pooling, Dense, Normalize)`);
      }
    });
    if (folder.moduleTypes[0] === 'StaticEmbedding' && !folder.pooling) {
      // StaticEmbedding pools by itself (an EmbeddingBag mean).
      folder.pooling = { modes: ['mean'], includePrompt: true, path: folder.transformerPath };
    }
    // widths must chain: pooling (hidden × modes) → Dense in → Dense out → ...
    let width = folder.pooling?.dimension !== undefined ? folder.pooling.dimension * folder.pooling.modes.length : undefined;
    for (const d of folder.dense) {
      if (width !== undefined && d.inFeatures !== width) {
        throw new ModelError(`Dense module ${d.path} in ${dir}: in_features ${d.inFeatures} does not match the ${width}-wide input from the module before it`);
      }
      width = d.outFeatures;
    }
  }
  const sbFile = path.join(dir, folder.transformerPath, 'sentence_bert_config.json');
  const sb = readObject(sbFile) ?? (folder.transformerPath ? readObject(path.join(dir, 'sentence_bert_config.json')) : undefined);
  if (sb) {
    if (sb.max_seq_length !== undefined && sb.max_seq_length !== null) {
      if (!Number.isInteger(sb.max_seq_length) || (sb.max_seq_length as number) < 2) throw new ModelError(`${sbFile}: max_seq_length must be an integer ≥ 2, got ${JSON.stringify(sb.max_seq_length)}`);
      folder.maxSeqLength = sb.max_seq_length as number;
    }
    if (sb.do_lower_case !== undefined) folder.doLowerCase = sb.do_lower_case === true;
    if (typeof sb.transformer_task === 'string') folder.task = sb.transformer_task;
    const out = sb.module_output_name;
    if (out !== undefined && out !== 'token_embeddings' && out !== 'scores') {
      throw new ModelError(`${sbFile}: module_output_name '${String(out)}' is not supported (synthtune reads token_embeddings or, for cross-encoders, scores)`);
    }
  }
  const csFile = path.join(dir, 'config_sentence_transformers.json');
  const cs = readObject(csFile);
  if (cs) {
    const prompts = cs.prompts ?? {};
    if (typeof prompts !== 'object' || prompts === null || Array.isArray(prompts)) throw new ModelError(`${csFile}: prompts must be an object of name → text`);
    for (const [k, v] of Object.entries(prompts)) {
      if (v === null || v === undefined) continue;
      if (typeof v !== 'string') throw new ModelError(`${csFile}: prompt '${k}' must be a string`);
      folder.prompts[k] = v;
    }
    const dp = cs.default_prompt_name;
    if (dp !== undefined && dp !== null) {
      if (typeof dp !== 'string' || !(dp in folder.prompts)) throw new ModelError(`${csFile}: default_prompt_name ${JSON.stringify(dp)} is not one of the prompts (${Object.keys(folder.prompts).join(', ') || 'none'})`);
      folder.defaultPromptName = dp;
    }
    if (typeof cs.model_type === 'string') folder.stModelType = cs.model_type;
    const sim = cs.similarity_fn_name;
    if (sim !== undefined && sim !== null) {
      if (!SIMILARITIES.includes(sim as Similarity)) throw new ModelError(`${csFile}: similarity_fn_name '${String(sim)}' is not one of ${SIMILARITIES.join(', ')}`);
      folder.similarity = sim as Similarity;
    }
  }
  return folder;
}

/** Is this folder a cross-encoder by its sentence-transformers files (not by its graph)? */
export function isCrossEncoderFolder(f: ModelFolder): boolean {
  return f.stModelType === 'CrossEncoder' || f.task === 'sequence-classification';
}

/** The prompt name sentence-transformers uses for a side when none is given (encode_query / encode_document). */
export function sidePromptName(folder: Pick<ModelFolder, 'prompts'>, side: 'query' | 'document'): string | undefined {
  const candidates = side === 'query' ? ['query'] : ['document', 'passage', 'corpus'];
  return candidates.find((c) => c in folder.prompts);
}

/** Width of the pooled output, Dense modules applied (undefined when it depends on the transformer). */
export function outputWidth(folder: ModelFolder, hidden: number): number {
  const modes = folder.pooling?.modes.length ?? 1;
  return folder.dense.length ? folder.dense[folder.dense.length - 1].outFeatures : hidden * modes;
}

// ---------------------------------------------------------------------------------------------
// computing: pooling and Dense in TypeScript (the ONNX path; the native core has its own)

/**
 * Pools token embeddings h (B, S, H) with the 0/1 mask (B, S) into out rows `rows[b]` of width
 * `width` (= H × modes), at column offset 0, mode after mode, as sentence-transformers does.
 * promptLength > 0 masks the first positions out of pooling (include_prompt false).
 */
export function poolTokens(h: Float32Array, mask: ArrayLike<number | bigint>, B: number, S: number, H: number,
  modes: PoolingMode[], out: Float32Array, rows: number[], width: number, promptLength = 0): void {
  const m = new Float64Array(S);
  const acc = new Float64Array(H);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) m[s] = Number(mask[b * S + s]) !== 0 && s >= promptLength ? 1 : 0;
    let n = 0;
    for (let s = 0; s < S; s++) n += m[s];
    const base = b * S * H;
    let col = rows[b] * width;
    for (const mode of modes) {
      const o = out.subarray(col, col + H);
      col += H;
      if (mode === 'cls' || mode === 'lasttoken') {
        // cls: the first position whose mask is 1 (argmax; 0 when none). lasttoken: the last one
        // (S-1 when none), times its mask.
        let at = mode === 'cls' ? 0 : S - 1;
        if (mode === 'cls') { for (let s = 0; s < S; s++) if (m[s]) { at = s; break; } }
        else { for (let s = S - 1; s >= 0; s--) if (m[s]) { at = s; break; } }
        const scale = mode === 'lasttoken' ? m[at] : 1;
        for (let d = 0; d < H; d++) o[d] = h[base + at * H + d] * scale;
      } else if (mode === 'max') {
        for (let d = 0; d < H; d++) {
          let best = -Infinity;
          for (let s = 0; s < S; s++) if (m[s] && h[base + s * H + d] > best) best = h[base + s * H + d];
          o[d] = best;
        }
      } else {
        acc.fill(0);
        let wsum = 0;
        for (let s = 0; s < S; s++) {
          if (!m[s]) continue;
          const w = mode === 'weightedmean' ? s + 1 : 1;
          wsum += w;
          for (let d = 0; d < H; d++) acc[d] += w * h[base + s * H + d];
        }
        const denom = mode === 'mean_sqrt_len_tokens' ? Math.sqrt(Math.max(n, 1e-9)) : Math.max(wsum, 1e-9);
        for (let d = 0; d < H; d++) o[d] = acc[d] / denom;
      }
    }
  }
}

/** A Dense module's activation of one value (the Dense head of the full student uses it too). */
export function activate(x: number, a: DenseActivation): number {
  switch (a) {
    case 'tanh': return Math.tanh(x);
    case 'relu': return x > 0 ? x : 0;
    case 'sigmoid': return 1 / (1 + Math.exp(-x));
    case 'gelu': return 0.5 * x * (1 + erf(x / Math.SQRT2));
    default: return x;
  }
}

/** Applies a Dense module to N rows x (N, in) → (N, out): y = act(W·x + b), in float64 accumulation. */
export function applyDense(x: Float32Array, N: number, d: DenseModule): Float32Array {
  const { inFeatures: I, outFeatures: O, weight: W, biasData } = d;
  if (x.length !== N * I) throw new Error(`Dense ${d.path}: input has ${x.length} values, expected ${N} × ${I}`);
  const y = new Float32Array(N * O);
  for (let n = 0; n < N; n++) {
    const xo = n * I;
    for (let o = 0; o < O; o++) {
      let s = biasData ? biasData[o] : 0;
      const wo = o * I;
      for (let i = 0; i < I; i++) s += W[wo + i] * x[xo + i];
      y[n * O + o] = activate(s, d.activation);
    }
  }
  return y;
}

// ---------------------------------------------------------------------------------------------
// writing

export interface StWriteSpec {
  /** Width of the transformer's token embeddings. */
  hidden: number;
  pooling: PoolingMode | PoolingMode[];
  includePrompt?: boolean;
  dense?: DenseSpec[];
  normalize?: boolean;
  /** How many of the Dense modules come before Normalize (default: all of them; 0: Normalize right after pooling). */
  normalizeAt?: number;
  /** An asymmetric model: a Router after the shared modules with these Dense modules per side (either may be empty). */
  router?: { query: DenseSpec[]; document: DenseSpec[] };
  /** Written to sentence_bert_config.json (older sentence-transformers read it there). */
  maxSeqLength?: number;
  doLowerCase?: boolean;
  prompts?: Record<string, string>;
  defaultPromptName?: string | null;
  similarity?: 'cosine' | 'dot';
  /** The first module: a Transformer (default) or a StaticEmbedding. */
  first?: 'Transformer' | 'StaticEmbedding';
  /** Folder of the first module, relative ('' default). */
  transformerPath?: string;
}

const TYPE_PATHS = {
  Transformer: 'sentence_transformers.base.modules.transformer.Transformer',
  StaticEmbedding: 'sentence_transformers.sentence_transformer.modules.static_embedding.StaticEmbedding',
  Pooling: 'sentence_transformers.sentence_transformer.modules.pooling.Pooling',
  Dense: 'sentence_transformers.base.modules.dense.Dense',
  Normalize: 'sentence_transformers.base.modules.normalize.Normalize',
  Router: 'sentence_transformers.base.modules.router.Router',
};

/** config.json + model.safetensors of a Dense module, by file name. */
function denseFiles(d: DenseSpec, width: number): Record<string, unknown> {
  if (d.inFeatures !== width) throw new ModelError(`Dense: in_features ${d.inFeatures} does not match the ${width}-wide input`);
  if (d.weight.length !== d.inFeatures * d.outFeatures) throw new ModelError(`Dense: weight has ${d.weight.length} values, expected ${d.outFeatures} × ${d.inFeatures}`);
  if (d.bias !== (d.biasData !== null) || (d.biasData && d.biasData.length !== d.outFeatures)) throw new ModelError('Dense: bias data does not match the bias flag / out_features');
  const tensors: Record<string, { dims: number[]; data: Float32Array }> = { 'linear.weight': { dims: [d.outFeatures, d.inFeatures], data: d.weight } };
  if (d.biasData) tensors['linear.bias'] = { dims: [d.outFeatures], data: d.biasData };
  return {
    'config.json': {
      in_features: d.inFeatures, out_features: d.outFeatures, bias: d.bias, activation_function: ACTIVATION_NAMES[d.activation],
      module_input_name: 'sentence_embedding', module_output_name: 'sentence_embedding',
    },
    'model.safetensors': encodeSafetensors(tensors, { format: 'pt' }),
  };
}

/**
 * The files of the sentence-transformers modules, by relative path: JSON values, or bytes for
 * tensors. Written in sentence-transformers 6's format (pooling_mode key, new type paths, which
 * sentence-transformers ≥ 5 loads); readModelFolder reads it back.
 */
export function stModuleFiles(spec: StWriteSpec): Record<string, unknown> {
  const modes = Array.isArray(spec.pooling) ? spec.pooling : [spec.pooling];
  for (const m of modes) if (!(POOLING_MODES as readonly string[]).includes(m)) throw new OptionsError(`pooling mode '${m}' is not one of ${POOLING_MODES.join(', ')}`);
  const first = spec.first ?? 'Transformer';
  const files: Record<string, unknown> = {};
  const modules: { idx: number; name: string; path: string; type: string }[] = [
    { idx: 0, name: '0', path: spec.transformerPath ?? '', type: TYPE_PATHS[first] },
  ];
  const add = (kind: keyof typeof TYPE_PATHS, dirName: string) => {
    const idx = modules.length;
    const p = `${idx}_${dirName}`;
    modules.push({ idx, name: String(idx), path: p, type: TYPE_PATHS[kind] });
    return p;
  };
  if (first === 'Transformer') {
    const p = add('Pooling', 'Pooling');
    files[`${p}/config.json`] = { embedding_dimension: spec.hidden, pooling_mode: modes.length === 1 ? modes[0] : modes, include_prompt: spec.includePrompt ?? true };
  }
  let width = spec.hidden * modes.length;
  const dense = spec.dense ?? [];
  const normalizeAt = spec.normalizeAt ?? dense.length;
  if (!(Number.isInteger(normalizeAt) && normalizeAt >= 0 && normalizeAt <= dense.length)) throw new OptionsError(`normalizeAt must be an integer in [0, ${dense.length}], got ${spec.normalizeAt}`);
  const addNormalize = () => {
    const p = add('Normalize', 'Normalize');
    files[`${p}/config.json`] = {};
  };
  for (const [l, d] of dense.entries()) {
    if (spec.normalize && l === normalizeAt) addNormalize();
    const p = add('Dense', 'Dense');
    for (const [f, v] of Object.entries(denseFiles(d, width))) files[`${p}/${f}`] = v;
    width = d.outFeatures;
  }
  if (spec.normalize && normalizeAt === dense.length) addNormalize();
  if (spec.router) {
    const p = add('Router', 'Router');
    const types: Record<string, string> = {};
    const structure: Record<string, string[]> = { query: [], document: [] };
    for (const side of ['query', 'document'] as const) {
      let w = width;
      spec.router[side].forEach((d, i) => {
        const id = `${side}_${i}_Dense`;
        types[id] = TYPE_PATHS.Dense;
        structure[side].push(id);
        for (const [f, v] of Object.entries(denseFiles(d, w))) files[`${p}/${id}/${f}`] = v;
        w = d.outFeatures;
      });
    }
    files[`${p}/router_config.json`] = { types, structure, parameters: { default_route: 'document', allow_empty_key: true, route_mappings: {} } };
  }
  files['modules.json'] = modules;
  if (first === 'Transformer') {
    const sb: Record<string, unknown> = {};
    if (spec.maxSeqLength !== undefined) sb.max_seq_length = spec.maxSeqLength;
    sb.do_lower_case = spec.doLowerCase ?? false;
    files[path.posix.join(spec.transformerPath ?? '', 'sentence_bert_config.json')] = sb;
  }
  const prompts = spec.prompts ?? {};
  if (spec.defaultPromptName && !(spec.defaultPromptName in prompts)) throw new OptionsError(`default prompt '${spec.defaultPromptName}' is not one of the prompts`);
  files['config_sentence_transformers.json'] = {
    model_type: 'SentenceTransformer',
    prompts,
    default_prompt_name: spec.defaultPromptName ?? null,
    similarity_fn_name: spec.similarity ?? 'cosine',
  };
  return files;
}

/** Writes stModuleFiles(spec) into dir (folders created; JSON pretty-printed). */
export async function writeSentenceTransformersFiles(dir: string, spec: StWriteSpec): Promise<void> {
  for (const [rel, value] of Object.entries(stModuleFiles(spec))) {
    const file = path.join(dir, rel);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, value instanceof Uint8Array ? value : `${JSON.stringify(value, null, 2)}\n`);
  }
}

/** Synchronous twin of writeSentenceTransformersFiles (generated test models). */
export function writeSentenceTransformersFilesSync(dir: string, spec: StWriteSpec): void {
  for (const [rel, value] of Object.entries(stModuleFiles(spec))) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, value instanceof Uint8Array ? value : `${JSON.stringify(value, null, 2)}\n`);
  }
}
