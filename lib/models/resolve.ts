/**
 * Model references → a folder on disk with tokenizer.json, config.json and an ONNX graph.
 *
 * A reference is either a local folder, or a Hugging Face id ("org/name", optionally "@revision").
 * Ids are looked up, in order:
 *   1. our own cache: <cacheDir>/<org>/<name>/ — a plain folder users can fill by hand
 *      (cacheDir = $SYNTHTUNE_CACHE or ~/.cache/synthtune/models);
 *   2. the Hugging Face hub cache ($HF_HUB_CACHE, or $HF_HOME/hub, or ~/.cache/huggingface/hub),
 *      layout models--org--name/{refs,snapshots}, as filled by huggingface_hub / transformers;
 *   3. the hub itself, through @huggingface/hub (into the HF cache), unless offline
 *      ($SYNTHTUNE_OFFLINE / $HF_HUB_OFFLINE / option) or unreachable.
 * With nothing found, the error lists the files needed and the folder to put them in.
 * The ONNX graph is onnx/model.onnx, else onnx/model_quantized.onnx, else model.onnx. Callers that
 * can run the weights themselves (the bi-encoder, through the native forward pass) pass
 * `weightsOk`: then a folder with model.safetensors and no graph resolves too (onnxPath undefined).
 * Callers with other graphs (the seq2seq query generator: onnx/encoder_model.onnx + decoders) pass
 * `graphFiles` (the candidates instead of the ones above) and `extraFiles` (fetched when present).
 * Downloads follow modules.json into the module folders (1_Pooling/config.json, 2_Dense/...).
 *
 * Named presets (as in Finetuner) pair a relation miner (bi-encoder) with a cross-encoder teacher.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelError } from './errors';
import { InputTypeError } from '../util/errors';

export interface SynthesisModel {
  /** Bi-encoder that mines candidate (query, document) relations. */
  relationMiner: string;
  /** Cross-encoder teacher that scores pairs for Margin-MSE. */
  crossEncoder: string;
}

export const synthesisModelEn: SynthesisModel = {
  relationMiner: 'sentence-transformers/msmarco-distilbert-base-v3',
  crossEncoder: 'cross-encoder/ms-marco-MiniLM-L-6-v2',
};

export const synthesisModelMulti: SynthesisModel = {
  relationMiner: 'sentence-transformers/distiluse-base-multilingual-cased-v1',
  crossEncoder: 'cross-encoder/mmarco-mMiniLMv2-L12-H384-v1',
};

export const synthesisModels: Record<string, SynthesisModel> = { synthesisModelEn, synthesisModelMulti };

/** Graph files, in order of preference. */
export const ONNX_CANDIDATES = ['onnx/model.onnx', 'onnx/model_quantized.onnx', 'model.onnx'];
/** Files a model folder must have besides the ONNX graph. */
export const REQUIRED_FILES = ['tokenizer.json', 'config.json'];
/** Files used when present (pooling, max length, special tokens). */
export const OPTIONAL_FILES = ['tokenizer_config.json', 'special_tokens_map.json', 'sentence_bert_config.json', 'modules.json', 'config_sentence_transformers.json', '1_Pooling/config.json'];
/** Weights a folder may have instead of a graph (see weightsOk). */
export const WEIGHTS_FILE = 'model.safetensors';

export interface ResolvedModel {
  /** Folder holding the files. */
  dir: string;
  /** The ONNX graph to load; undefined for a weights-only folder (only with weightsOk). */
  onnxPath?: string;
  /** model.safetensors, when the folder has it. */
  weightsPath?: string;
  source: 'local' | 'cache' | 'hf-cache' | 'hub';
  /** The hub id, for ids. */
  id?: string;
}

/** Downloads `files` of a hub repo (trying ONNX candidates in order) and returns the snapshot folder. */
export type HubDownloader = (args: { repo: string; revision: string; hfCacheDir: string; required: string[]; onnxCandidates: string[]; optional: string[]; weightsOk?: boolean }) => Promise<string>;

export interface ResolveOptions {
  /** Our cache root. Default $SYNTHTUNE_CACHE or ~/.cache/synthtune/models. */
  cacheDir?: string;
  /** The Hugging Face hub cache. Default as @huggingface/hub (HF_HUB_CACHE / HF_HOME / ~/.cache/huggingface/hub). */
  hfCacheDir?: string;
  /** Never contact the hub. Default: $SYNTHTUNE_OFFLINE or $HF_HUB_OFFLINE set to 1/true. */
  offline?: boolean;
  /** Prefer onnx/model_quantized.onnx over onnx/model.onnx. */
  quantized?: boolean;
  /** Accept a folder with model.safetensors and no ONNX graph (the caller runs the weights natively). */
  weightsOk?: boolean;
  /** Graph files to look for instead of onnx/model.onnx & co., in order; the first found is onnxPath. */
  graphFiles?: string[];
  /** Further files a download fetches when the repo has them (e.g. the decoder graphs of a seq2seq export). */
  extraFiles?: string[];
  /** Replaces the hub download (tests; custom mirrors). */
  download?: HubDownloader;
  log?: (line: string) => void;
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);

export function defaultCacheDir(): string {
  return process.env.SYNTHTUNE_CACHE ?? path.join(os.homedir(), '.cache', 'synthtune', 'models');
}

export function defaultHfCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  const home = process.env.HF_HOME ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
  return path.join(home, 'hub');
}

function onnxCandidates(quantized?: boolean, graphFiles?: string[]): string[] {
  if (graphFiles?.length) return graphFiles;
  return quantized ? ['onnx/model_quantized.onnx', 'onnx/model.onnx', 'model.onnx'] : ONNX_CANDIDATES;
}

/** Which required files a folder lacks (the ONNX graph counts as one, with its alternatives). */
export function missingFiles(dir: string, quantized?: boolean, weightsOk?: boolean, graphFiles?: string[]): string[] {
  const missing = REQUIRED_FILES.filter((f) => !fs.existsSync(path.join(dir, f)));
  const onnx = onnxCandidates(quantized, graphFiles);
  const hasWeights = weightsOk && fs.existsSync(path.join(dir, WEIGHTS_FILE));
  if (!hasWeights && !onnx.some((f) => fs.existsSync(path.join(dir, f)))) {
    const alternatives = [...onnx.slice(1), ...(weightsOk ? [WEIGHTS_FILE] : [])];
    missing.push(alternatives.length ? `${onnx[0]} (or ${alternatives.join(' or ')})` : onnx[0]);
  }
  return missing;
}

function folderModel(dir: string, source: ResolvedModel['source'], quantized?: boolean, id?: string, weightsOk?: boolean, graphFiles?: string[]): ResolvedModel | undefined {
  if (missingFiles(dir, quantized, weightsOk, graphFiles).length) return undefined;
  const onnx = onnxCandidates(quantized, graphFiles).find((f) => fs.existsSync(path.join(dir, f)));
  const weights = fs.existsSync(path.join(dir, WEIGHTS_FILE)) ? path.join(dir, WEIGHTS_FILE) : undefined;
  return { dir, onnxPath: onnx ? path.join(dir, onnx) : undefined, weightsPath: weights, source, id };
}

const HUB_ID = /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?(@[\w./-]+)?$/;

/** "org/name@rev" → { repo, revision }. */
export function parseHubId(ref: string): { repo: string; revision: string } | undefined {
  if (!HUB_ID.test(ref) || ref.includes('..')) return undefined;
  const [repo, revision] = ref.split('@');
  return { repo, revision: revision ?? 'main' };
}

/** A snapshot folder of the HF cache holding a complete model, or undefined. */
export function findInHfCache(hfCacheDir: string, repo: string, revision: string, quantized?: boolean, weightsOk?: boolean, graphFiles?: string[]): string | undefined {
  const root = path.join(hfCacheDir, `models--${repo.replace(/\//g, '--')}`);
  const snapshots = path.join(root, 'snapshots');
  if (!fs.existsSync(snapshots)) return undefined;
  const refFile = path.join(root, 'refs', revision);
  const commit = fs.existsSync(refFile) ? fs.readFileSync(refFile, 'utf8').trim() : /^[0-9a-f]{40}$/.test(revision) ? revision : undefined;
  if (commit) {
    const dir = path.join(snapshots, commit);
    return fs.existsSync(dir) && !missingFiles(dir, quantized, weightsOk, graphFiles).length ? dir : undefined;
  }
  // No ref for this revision name: take the newest complete snapshot.
  const dirs = fs
    .readdirSync(snapshots)
    .map((d) => path.join(snapshots, d))
    .filter((d) => fs.statSync(d).isDirectory() && !missingFiles(d, quantized, weightsOk, graphFiles).length)
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return dirs[0];
}

/** True for errors that mean "the hub cannot be reached" rather than "the file is not there". */
export function isNetworkError(e: unknown): boolean {
  const msg = `${(e as Error)?.message ?? ''} ${String((e as { cause?: unknown })?.cause ?? '')}`;
  return /fetch failed|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|abort|timed? ?out|network/i.test(msg);
}

/** fetch whose connection phase (until response headers) times out; the body is not limited. */
function fetchWithConnectTimeout(ms: number): typeof fetch {
  return async (input, init) => {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(new Error(`hub request timed out after ${ms} ms`)), ms);
    try {
      return await fetch(input, { ...init, signal: ctrl.signal });
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The default downloader: @huggingface/hub into the HF cache, pinned to one commit. */
export const hubDownload: HubDownloader = async ({ repo, revision, hfCacheDir, required, onnxCandidates: candidates, optional, weightsOk }) => {
  const hub = await import('@huggingface/hub');
  const credentials = process.env.HF_TOKEN ? { accessToken: process.env.HF_TOKEN } : {};
  const f = fetchWithConnectTimeout(15_000);
  // Pin the revision to a commit so every file lands in the same snapshot folder.
  const info = await hub.modelInfo({ name: repo, revision, additionalFields: ['sha'], fetch: f, ...credentials });
  const sha = info.sha;
  const exists = (p: string) => hub.fileExists({ repo, path: p, revision: sha, fetch: f, ...credentials });
  const get = (p: string) => hub.downloadFileToCacheDir({ repo, path: p, revision: sha, cacheDir: hfCacheDir, fetch: f, ...credentials });
  // Check before downloading anything, so a repo we cannot use leaves nothing half-downloaded.
  const missing: string[] = [];
  for (const p of required) if (!(await exists(p))) missing.push(p);
  let onnx: string | undefined;
  for (const p of candidates) {
    if (await exists(p)) {
      onnx = p;
      break;
    }
  }
  if (!onnx && weightsOk && (await exists(WEIGHTS_FILE))) onnx = WEIGHTS_FILE;
  if (!onnx) missing.push(`an ONNX export (${candidates.join(' / ')})${weightsOk ? ` nor ${WEIGHTS_FILE}` : ''}`);
  if (missing.length) throw new ModelError(`hub repo ${repo}@${revision} has no ${missing.join(', no ')}`);
  for (const p of [...required, onnx!]) await get(p);
  const got = new Set<string>();
  for (const p of optional) if (await exists(p)) got.add(await get(p));
  // follow modules.json into the module folders (Pooling, Dense weights, ...)
  const modulesFile = [...got].find((f) => path.basename(f) === 'modules.json');
  if (modulesFile) {
    let modules: { path?: unknown }[] = [];
    try {
      modules = JSON.parse(fs.readFileSync(modulesFile, 'utf8'));
    } catch {
      modules = [];
    }
    for (const m of Array.isArray(modules) ? modules : []) {
      if (typeof m?.path !== 'string' || !m.path || m.path.includes('..')) continue;
      for (const f of ['config.json', 'model.safetensors']) {
        const p = `${m.path}/${f}`;
        if (!optional.includes(p) && (await exists(p))) await get(p);
      }
    }
  }
  const refs = path.join(hfCacheDir, `models--${repo.replace(/\//g, '--')}`, 'refs');
  fs.mkdirSync(refs, { recursive: true });
  fs.writeFileSync(path.join(refs, revision), sha);
  return path.join(hfCacheDir, `models--${repo.replace(/\//g, '--')}`, 'snapshots', sha);
};

function offlineError(ref: string, repo: string, ownDir: string, hfCacheDir: string, why: string): Error {
  return new ModelError(
    [
      `Model '${ref}' is not available locally and ${why}.`,
      `Put these files from https://huggingface.co/${repo} into ${ownDir}:`,
      ...REQUIRED_FILES.map((f) => `  - ${f}`),
      `  - onnx/model.onnx (or onnx/model_quantized.onnx)`,
      `  - tokenizer_config.json, sentence_bert_config.json, modules.json, 1_Pooling/config.json (optional, when the repo has them)`,
      `or fill the Hugging Face cache at ${hfCacheDir} (e.g. huggingface-cli download ${repo}), or pass a local folder path.`,
    ].join('\n'),
  );
}

/** Resolves a model reference (folder path or hub id) to files on disk. */
export async function resolveModel(ref: string, opts: ResolveOptions = {}): Promise<ResolvedModel> {
  if (typeof ref !== 'string' || ref.trim() === '') throw new InputTypeError(`model reference must be a non-empty string (a folder or a hub id), got ${JSON.stringify(ref)}`);
  const expanded = ref.startsWith('~') ? path.join(os.homedir(), ref.slice(1)) : ref;

  // 1. a local folder
  if (fs.existsSync(expanded)) {
    if (!fs.statSync(expanded).isDirectory()) throw new ModelError(`model reference ${ref} is a file; pass the model folder (with tokenizer.json, config.json, onnx/model.onnx)`);
    const m = folderModel(path.resolve(expanded), 'local', opts.quantized, undefined, opts.weightsOk, opts.graphFiles);
    if (!m) throw new ModelError(`model folder ${path.resolve(expanded)} is missing: ${missingFiles(expanded, opts.quantized, opts.weightsOk, opts.graphFiles).join(', ')}`);
    return m;
  }
  const hubId = parseHubId(ref);
  if (!hubId || /^[./~]/.test(ref) || path.isAbsolute(ref)) throw new ModelError(`model folder not found: ${path.resolve(expanded)}`);
  const { repo, revision } = hubId;

  // 2. our cache, 3. the HF cache
  const ownDir = path.join(opts.cacheDir ?? defaultCacheDir(), ...repo.split('/'));
  const own = fs.existsSync(ownDir) ? folderModel(ownDir, 'cache', opts.quantized, repo, opts.weightsOk, opts.graphFiles) : undefined;
  if (own) return own;
  const hfCacheDir = opts.hfCacheDir ?? defaultHfCacheDir();
  const cached = findInHfCache(hfCacheDir, repo, revision, opts.quantized, opts.weightsOk, opts.graphFiles);
  if (cached) return folderModel(cached, 'hf-cache', opts.quantized, repo, opts.weightsOk, opts.graphFiles)!;

  // 4. the hub
  const offline = opts.offline ?? (truthy(process.env.SYNTHTUNE_OFFLINE) || truthy(process.env.HF_HUB_OFFLINE));
  if (offline) throw offlineError(ref, repo, ownDir, hfCacheDir, 'offline mode is on (SYNTHTUNE_OFFLINE / HF_HUB_OFFLINE)');
  const download = opts.download ?? hubDownload;
  opts.log?.(`downloading ${repo}@${revision} from the Hugging Face hub into ${hfCacheDir}`);
  let dir: string;
  try {
    dir = await download({ repo, revision, hfCacheDir, required: REQUIRED_FILES, onnxCandidates: onnxCandidates(opts.quantized, opts.graphFiles), optional: [...OPTIONAL_FILES, ...(opts.extraFiles ?? [])], weightsOk: opts.weightsOk });
  } catch (e) {
    if (isNetworkError(e)) throw offlineError(ref, repo, ownDir, hfCacheDir, `the Hugging Face hub cannot be reached (${(e as Error).message})`);
    throw new ModelError(`could not download model '${ref}' from the Hugging Face hub: ${(e as Error).message}`);
  }
  const m = folderModel(dir, 'hub', opts.quantized, repo, opts.weightsOk, opts.graphFiles);
  if (!m) throw new ModelError(`downloaded model '${ref}' into ${dir} but it is missing: ${missingFiles(dir, opts.quantized, opts.weightsOk, opts.graphFiles).join(', ')}`);
  return m;
}
