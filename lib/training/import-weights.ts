/**
 * Importing a model folder into the native BERT encoder for `method: 'full'`, with the acceptance
 * check of issue 7: the import is accepted only when the native forward pass reproduces
 * onnxruntime's embeddings of the folder's original ONNX file (max abs difference ≤ 1e-4 on a few
 * sample texts tokenised with the model's own tokenizer). Otherwise a clear error says which
 * sample embeddings differed and, when the weights came from model.safetensors, which tensors
 * differ from the ONNX file's initializers (or, for an ONNX import, which were matched only by
 * graph position).
 *
 *   const { student, check } = await importFullStudent('models/minilm', { sampleTexts });
 *
 * Weight reading and name mapping: lib/models/import.ts; the folder's pooling and Normalize modules:
 * lib/models/st-folder.ts (one pooling mode, or several concatenated).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadEncoder } from '../models/encoder';
import { bertWeightsFromOnnx, folderOnnx, readFolderWeights, readOnnxFile, type FolderWeights } from '../models/import';
import { maxSequenceLength, type PoolingMode } from '../models/onnx/bert';
import { readModelFolder, type DenseSpec, type ModelFolder } from '../models/st-folder';
import { TextTokenizer } from '../models/tokenizer';
import { FullStudent, nativeConfigFrom, type FullDevice, type FullPrecision } from './students/full';
import { ModelError } from '../models/errors';
import { OptionsError } from '../util/errors';

export const DEFAULT_SAMPLE_TEXTS = [
  'The quick brown fox jumps over the lazy dog.',
  'what is the risk of infection after vaccination',
  'Embedding models map queries and documents to vectors; relevant pairs end up close together.',
  'a',
];

export interface ImportCheck {
  onnxPath: string;
  samples: number;
  maxAbsDiff: number;
  tolerance: number;
}

export class ImportCheckError extends ModelError {
  constructor(message: string, readonly check: ImportCheck) {
    super(message);
    this.name = 'ImportCheckError';
  }
}

export interface ImportOptions {
  /** Where the weights come from (default 'auto': model.safetensors when present, else the ONNX initializers). */
  source?: 'auto' | 'safetensors' | 'onnx';
  /** Texts for the acceptance check (default a built-in sample; at most 8 are used). */
  sampleTexts?: string[];
  /** Max abs difference accepted (default 1e-4). */
  tolerance?: number;
  /** false skips the acceptance check (no ONNX file to check against). Default true. */
  check?: boolean;
  /** Override the folder's pooling (a mode, or several concatenated) / normalisation. */
  pooling?: PoolingMode | PoolingMode[];
  normalize?: boolean;
  /** Native threads (default: the pool's) and onnxruntime threads for the check (default 1). */
  threads?: number;
  /** Longer inputs are truncated (default: the tokenizer's max length, clamped to the model's positions). */
  maxLength?: number;
  /** Only to run the model, not to train it (memory is checked for the weights alone). Default false. */
  inference?: boolean;
  /** Where the student trains (default 'cpu'; see FullOptions.device). */
  device?: FullDevice;
  /** Matmul arithmetic on cuda (default 'tf32'). The acceptance check always runs in fp32. */
  precision?: FullPrecision;
}

export interface ImportedFull {
  student: FullStudent;
  tokenizer: TextTokenizer;
  weights: FolderWeights;
  /** The folder's sentence-transformers description (pooling, Dense, Normalize, prompts). */
  folder: ModelFolder;
  /**
   * The folder's modules after pooling when it has Dense modules: the student is the transformer
   * and its pooling (normalised only when Normalize comes right after pooling); wrap it in a
   * DenseHeadStudent with these to train and export the whole model.
   */
  head: { dense: DenseSpec[]; normalize: boolean } | null;
  check: ImportCheck | null;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>, from: number, to: number): number {
  let m = 0;
  for (let i = from; i < to; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

function clip(t: string, n = 40): string {
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

/** Builds the native student from a folder and checks it against onnxruntime on the folder's ONNX file. */
export async function importFullStudent(dir: string, opts: ImportOptions = {}): Promise<ImportedFull> {
  // training keeps the weights, their gradients and two Adam moments: 16 bytes a parameter
  const w = readFolderWeights(dir, { source: opts.source, bytesPerParameter: opts.inference ? 4 : 16 });
  const folder = readModelFolder(dir);
  const tokenizer = TextTokenizer.fromFolder(dir, opts.maxLength ? { maxLength: opts.maxLength } : {});
  const pooling = opts.pooling ?? folder.pooling?.modes ?? 'mean';
  let head: ImportedFull['head'] = null;
  let folderNormalize = folder.normalize;
  if (folder.dense.length) {
    const at = folder.normalizeAt;
    if (folder.normalize && at !== 0 && at !== folder.dense.length) {
      throw new ModelError(`import: ${dir} has a Normalize module between its Dense modules; method 'full' supports Normalize right after pooling or after the last Dense`);
    }
    head = { dense: folder.dense.map(({ path: _p, ...d }) => d), normalize: folder.normalize && at === folder.dense.length };
    folderNormalize = folder.normalize && at === 0;
  }
  const normalize = opts.normalize ?? folderNormalize;
  const student = new FullStudent({
    config: nativeConfigFrom(w.config, { pooling, normalize, threads: opts.threads }),
    weights: w.weights,
    maxLength: Math.min(tokenizer.maxLength, maxSequenceLength(w.config)),
    padId: tokenizer.padId,
    device: opts.device,
    precision: opts.precision,
  });
  let check: ImportCheck | null = null;
  if (opts.check !== false) check = await verifyAgainstOnnx(student, tokenizer, dir, w, opts);
  return { student, tokenizer, weights: w, folder, head, check };
}

/**
 * The acceptance check: native embeddings of sample texts vs onnxruntime on the folder's ONNX
 * file with the same pooling; throws ImportCheckError naming what did not match.
 */
export async function verifyAgainstOnnx(student: FullStudent, tokenizer: TextTokenizer, dir: string, w: FolderWeights, opts: ImportOptions = {}): Promise<ImportCheck> {
  const onnxPath = folderOnnx(dir);
  if (!onnxPath) {
    throw new ModelError(`import: ${dir} has no onnx/model.onnx to check the imported weights against (pass check: false to skip the check)`);
  }
  const tolerance = opts.tolerance ?? 1e-4;
  const texts = (opts.sampleTexts?.length ? opts.sampleTexts : DEFAULT_SAMPLE_TEXTS).filter((t) => t.trim()).slice(0, 8);
  if (!texts.length) throw new OptionsError('import: no non-empty sample texts for the check (sampleTexts)');
  const cfg = student.config;
  let enc;
  try {
    // several modes: the folder's own list (an override of the list cannot be passed to the encoder)
    const pooling = typeof cfg.pooling === 'string' ? cfg.pooling : undefined;
    // the transformer and its pooling: the folder's Dense modules (trained by a DenseHeadStudent) are not part of the check
    // the graph itself (onnxruntime), never the weights under test on the native core
    enc = await loadEncoder(dir, { pooling, normalize: cfg.normalize, threads: opts.threads ?? 1, maxLength: student.maxLength, stopAfterPooling: true, backend: 'onnxruntime' });
  } catch (e) {
    // a graph with only a sentence_embedding output: compare with that
    enc = await loadEncoder(dir, { pooling: 'model', normalize: cfg.normalize, threads: opts.threads ?? 1, maxLength: student.maxLength, backend: 'onnxruntime' });
  }
  let ref: Float32Array;
  try {
    if (enc.dim !== student.dim) {
      throw new ImportCheckError(`import check failed for ${dir}: onnxruntime's embeddings of ${onnxPath} have ${enc.dim} dimensions, the native model's ${student.dim}`,
        { onnxPath, samples: texts.length, maxAbsDiff: Infinity, tolerance });
    }
    // the texts as they are: no prompt (the native student below gets none either)
    ref = enc.asymmetric ? await enc.encode(texts, { prompt: '', side: 'document' }) : await enc.encode(texts, { prompt: '' });
  } finally {
    await enc.release();
  }
  const ids = texts.map((t) => tokenizer.encode(t).ids);
  // The check verifies the imported weights, not the arithmetic: a tf32 device model is checked in
  // fp32 (tf32 matmuls alone differ from onnxruntime by more than the tolerance).
  const precision = student.precision;
  if (precision !== 'fp32') student.setPrecision('fp32');
  let got: Float32Array;
  try {
    got = await student.encode(ids, 'document');
  } finally {
    if (precision !== 'fp32') student.setPrecision(precision);
  }
  const D = student.dim;
  const diffs = texts.map((_, i) => maxAbs(got, ref, i * D, (i + 1) * D));
  const worst = Math.max(...diffs);
  const check: ImportCheck = { onnxPath, samples: texts.length, maxAbsDiff: worst, tolerance };
  if (worst <= tolerance) return check;

  const bad = diffs.map((d, i) => [d, i] as const).filter(([d]) => !(d <= tolerance));
  const lines = [
    `import check failed for ${dir}: the native forward pass does not reproduce onnxruntime's embeddings of ${onnxPath} ` +
      `(max abs diff ${worst.toExponential(2)} > ${tolerance}; weights from ${w.file}, ${[cfg.pooling].flat().join('+')} pooling${cfg.normalize ? ', normalised' : ''}).`,
    `  outputs that differ: ${bad.map(([d, i]) => `sample ${i} "${clip(texts[i])}" (${d.toExponential(2)})`).join(', ')}`,
  ];
  lines.push(...diagnoseTensors(w, onnxPath));
  throw new ImportCheckError(lines.join('\n'), check);
}

/** Which imported tensors are suspect: those that differ from the ONNX initializers, or were matched by position. */
function diagnoseTensors(w: FolderWeights, onnxPath: string): string[] {
  if (w.source === 'onnx') {
    return w.positional.length
      ? [`  tensors matched to the BERT layout only by graph position (check these first): ${w.positional.slice(0, 12).join(', ')}${w.positional.length > 12 ? ', …' : ''}`]
      : ['  every tensor was matched by name; the graph computes something other than a standard BERT encoder (a different activation, pooling or attention?)'];
  }
  let onnx;
  try {
    onnx = bertWeightsFromOnnx(readOnnxFile(onnxPath), w.config, onnxPath);
  } catch (e) {
    return [`  (could not map ${path.basename(onnxPath)}'s initializers to compare tensors: ${(e as Error).message.split('\n')[0]})`];
  }
  const differ: string[] = [];
  for (const [name, t] of w.weights) {
    const o = onnx.weights.get(name);
    if (!o) continue;
    const d = maxAbs(t.data, o.data, 0, t.data.length);
    if (!(d <= 1e-6 * Math.max(1, maxAbs(o.data, new Float32Array(o.data.length), 0, o.data.length)))) differ.push(`${name} (max abs diff ${d.toExponential(2)})`);
  }
  if (!differ.length) return [`  every tensor of ${path.basename(w.file)} equals its ONNX initializer; the graph computes something other than a standard BERT encoder`];
  return [`  tensors of ${path.basename(w.file)} that differ from ${onnxPath}'s initializers: ${differ.slice(0, 12).join(', ')}${differ.length > 12 ? `, … (${differ.length} in all)` : ''}`];
}
