/**
 * Model references → the Encoder / Scorer interfaces synthesis codes against.
 *
 * A string miner or scorer is a model folder or Hugging Face id loaded with lib/models (ONNX);
 * 'bm25' stays the built-in lexical miner/teacher. Finetuner-style presets
 * (`models: synthesisModelEn` or its name) fill miner and scorer. Each loaded model gets an
 * identity for config.json: its folder plus a SHA-256 of its .onnx graph(s), so resuming a run
 * with a different model of the same name is refused.
 */
import { ModelError } from '../models/errors';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Encoder, MinerSpec, Scorer, ScorerSpec } from './types';
import { InputRangeError } from '../util/errors';

export interface ModelPreset {
  relationMiner: string;
  crossEncoder: string;
}

export type MinerRef = MinerSpec | string;
export type ScorerRef = ScorerSpec | string;

export interface ModelLoadOptions {
  /** Passed to lib/models (threads, device, batchSize, ...). */
  modelOptions?: Record<string, unknown>;
  log?: (line: string) => void;
}

async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Folder + hash of the .onnx files directly in it or in onnx/ (or, with `native`, of the
 * model.safetensors the native backend runs instead).
 */
export async function modelIdentity(dir: string, opts: { native?: boolean } = {}): Promise<string> {
  const files: string[] = [];
  for (const sub of opts.native ? [] : ['.', 'onnx']) {
    const d = path.join(dir, sub);
    if (!fs.existsSync(d)) continue;
    for (const f of fs.readdirSync(d).sort()) if (f.endsWith('.onnx')) files.push(path.join(d, f));
  }
  // what else changes the embeddings: the weights when no graph runs (the native backend runs
  // them; beside a graph that runs they are not used, so not hashed), modules (pooling, Dense), prompts
  const weightsOnly = files.length === 0;
  for (const f of [...(weightsOnly ? ['model.safetensors'] : []), 'modules.json', 'config_sentence_transformers.json', 'sentence_bert_config.json']) {
    if (fs.existsSync(path.join(dir, f))) files.push(path.join(dir, f));
  }
  for (const d of fs.readdirSync(dir).sort()) {
    if (!/^\d+_/.test(d) || !fs.statSync(path.join(dir, d)).isDirectory()) continue;
    for (const f of fs.readdirSync(path.join(dir, d)).sort()) if (/\.(json|safetensors)$/.test(f)) files.push(path.join(dir, d, f));
  }
  const h = createHash('sha256');
  for (const f of files) h.update(path.relative(dir, f)).update(await hashFile(f));
  return `${path.resolve(dir)}#sha256:${h.digest('hex').slice(0, 16)}`;
}

/** With modelOptions.quantized the folder must have the int8 graph (never a silent float32 run). */
async function requireQuantized(dir: string, o: ModelLoadOptions, release: () => Promise<void>): Promise<void> {
  if (!o.modelOptions?.quantized || fs.existsSync(path.join(dir, 'onnx', 'model_quantized.onnx'))) return;
  await release();
  throw new ModelError(`--quantized: ${dir} has no onnx/model_quantized.onnx (synthtune's exports write one; or drop --quantized)`);
}

export async function loadMiner(ref: MinerRef, o: ModelLoadOptions = {}): Promise<{ miner: MinerSpec; release?: () => Promise<void> }> {
  if (typeof ref !== 'string' || ref === 'bm25') return { miner: ref as MinerSpec };
  const { loadEncoder } = await import('../models/encoder.js');
  const enc = await loadEncoder(ref, { ...o.modelOptions, log: o.log });
  await requireQuantized(enc.modelDir, o, () => enc.release());
  // the identity hashes every graph in the folder: which one runs is part of it
  const native = enc.backend === 'native';
  // the identity hashes what runs: the graphs, or the weights on the native backend
  const id = `${await modelIdentity(enc.modelDir, { native })}${o.modelOptions?.quantized ? '#quantized' : ''}`;
  const miner: Encoder = {
    dim: enc.dim, id, encode: (texts) => enc.encode(texts),
    ...(enc.similarity === 'cosine' || enc.similarity === 'dot' ? { similarity: enc.similarity } : {}),
    encodeQueries: (texts) => enc.encodeQueries(texts), encodeDocuments: (texts) => enc.encodeDocuments(texts),
  };
  const qp = enc.promptNameFor('query');
  const dp = enc.promptNameFor('document');
  o.log?.(`miner ${ref}: queries: ${enc.describeSide('query')}; documents: ${enc.describeSide('document')}; similarity ${enc.similarity}`);
  if (qp || dp) o.log?.(`miner ${ref}: queries encoded with prompt ${qp ? JSON.stringify(enc.prompts[qp]) : '(none)'}, documents with ${dp ? JSON.stringify(enc.prompts[dp]) : '(none)'}`);
  return { miner, release: () => enc.release() };
}

export async function loadScorer(ref: ScorerRef, o: ModelLoadOptions = {}): Promise<{ scorer: ScorerSpec; release?: () => Promise<void> }> {
  if (typeof ref !== 'string' || ref === 'bm25') return { scorer: ref as ScorerSpec };
  const { loadCrossEncoder } = await import('../models/cross-encoder.js');
  const ce = await loadCrossEncoder(ref, { ...o.modelOptions, log: o.log });
  if (ce.numLabels !== 1) await ce.release().then(() => Promise.reject(new ModelError(`cross-encoder ${ref} has ${ce.numLabels} labels; synthesis needs a single relevance logit`)));
  await requireQuantized(ce.modelDir, o, () => ce.release());
  const id = `${await modelIdentity(ce.modelDir)}${o.modelOptions?.quantized ? '#quantized' : ''}`;
  const scorer: Scorer = { id, score: (pairs) => ce.score(pairs) };
  return { scorer, release: () => ce.release() };
}

/** A preset object or its name in lib/models (synthesisModelEn, synthesisModelMulti). */
export async function resolvePreset(models: ModelPreset | string): Promise<ModelPreset> {
  if (typeof models !== 'string') return models;
  const { synthesisModels } = await import('../models/resolve.js');
  const p = synthesisModels[models];
  if (!p) throw new InputRangeError(`unknown model preset '${models}' (known: ${Object.keys(synthesisModels).join(', ')})`);
  return p;
}
