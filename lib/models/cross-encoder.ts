/**
 * Cross-encoder inference: (query, document) pairs → relevance logits, reading as
 * tokenize pair → model → pick logits. This is the teacher whose score margins become Margin-MSE
 * targets, so raw logits are the default; sigmoid is applied only on request.
 *
 *   const ce = await loadCrossEncoder('cross-encoder/ms-marco-MiniLM-L-6-v2');
 *   const scores = await ce.score([[query, doc], ...]);   // Float32Array [N] (one label)
 *
 * Pairs are tokenised as [CLS] query [SEP] document [SEP] with token types 0/1 and 'longest_first'
 * truncation, ordered by length and batched like the bi-encoder; results come back in input order.
 * Shapes: N pairs, L labels (usually 1). With L > 1 the result is [N * L] unless `label` picks one.
 */
import * as path from 'node:path';
import { ModelError } from './errors';
import type { IoSpec } from './ort';
import { resolveModel } from './resolve';
import { readModelFolder } from './st-folder';
import { checkIdsInVocab, checkPairs, type Encoded } from './tokenizer';
import {
  checkBatchSize,
  emptyStats,
  feedsOf,
  runBatches,
  openModel,
  type CallStats,
  type EncodeCallOptions,
  type LoadOptions,
} from './encoder';
import type { OrtModel } from './ort';
import type { TextTokenizer } from './tokenizer';
import { InputRangeError } from '../util/errors';

export interface ScoreOptions extends Omit<EncodeCallOptions, 'normalize'> {
  /** Apply the logistic sigmoid to the logits. Default false (raw logits). */
  sigmoid?: boolean;
  /** With several labels, return only this column. */
  label?: number;
}

export interface CrossEncoder {
  readonly numLabels: number;
  readonly maxLength: number;
  readonly batchSize: number;
  readonly modelDir: string;
  readonly tokenizer: TextTokenizer;
  readonly session: OrtModel;
  readonly lastStats: CallStats;
  score(pairs: [string, string][], opts?: ScoreOptions): Promise<Float32Array>;
  release(): Promise<void>;
}

const CROSS_IO: IoSpec = { requiredInputs: ['input_ids', 'attention_mask'], optionalInputs: ['token_type_ids'], anyOutput: ['logits'] };

export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Loads a cross-encoder (a sequence-classification graph with a `logits` output). */
export async function loadCrossEncoder(ref: string, opts: LoadOptions = {}): Promise<CrossEncoder> {
  const batchSize = checkBatchSize(opts.batchSize);
  const resolved = await resolveModel(ref, { ...opts, weightsOk: true });
  if (!resolved.onnxPath) {
    throw new ModelError(`${resolved.dir} has no ONNX graph (only ${path.basename(resolved.weightsPath ?? 'model.safetensors')}): cross-encoders run on onnxruntime only; export it to onnx/model.onnx first (e.g. optimum-cli export onnx, or torch.onnx.export of the sequence-classification model with a logits output)`);
  }
  const m = await openModel(resolved, CROSS_IO, opts);
  const { tokenizer, session } = m;
  let modelConfig: Record<string, unknown> = {};
  try {
    const folder = readModelFolder(m.resolved.dir);
    modelConfig = folder.config;
    if (folder.pooling) throw new ModelError(`${m.resolved.dir} is a bi-encoder (its modules.json has a Pooling module); load it with loadEncoder / as a miner, not as a cross-encoder`);
    if (folder.defaultPromptName) throw new ModelError(`${path.join(m.resolved.dir, 'config_sentence_transformers.json')}: a default prompt ('${folder.defaultPromptName}') on a cross-encoder is not supported by synthtune`);
  } catch (e) {
    await session.release();
    throw e;
  }
  let lastStats = emptyStats();

  const probe = await session.run(feedsOf(tokenizer.pad([tokenizer.encodePair('', '')])), ['logits']);
  const L = probe.logits.dims[probe.logits.dims.length - 1] ?? 1;

  async function score(pairs: [string, string][], call: ScoreOptions = {}): Promise<Float32Array> {
    const t0 = performance.now();
    checkPairs(pairs, opts.allowEmpty);
    const bs = checkBatchSize(call.batchSize, batchSize);
    if (call.label !== undefined && !(Number.isInteger(call.label) && call.label >= 0 && call.label < L)) {
      throw new InputRangeError(`label must be an integer in [0, ${L}), got ${call.label}`);
    }
    const width = call.label !== undefined ? 1 : L;
    const stats = emptyStats();
    // tokenize
    const encoded: Encoded[] = pairs.map(([q, d]) => tokenizer.encodePair(q, d));
    checkIdsInVocab(encoded, modelConfig.vocab_size, m.resolved.dir);
    stats.tokenizeMs = performance.now() - t0;
    const out = new Float32Array(pairs.length * width);
    await runBatches(tokenizer, session, encoded, bs, call, 'logits', stats, (rows, _batch, res) => {
      // post-process: logits [B, L] into the rows of the input order
      const logits = res.data;
      for (let b = 0; b < rows.length; b++) {
        for (let l = 0; l < width; l++) {
          const v = logits[b * L + (call.label ?? l)];
          out[rows[b] * width + l] = call.sigmoid ? sigmoid(v) : v;
        }
      }
    });
    const bad = out.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new ModelError(`${m.resolved.dir}: the model gave a non-finite score for pair ${Math.floor(bad / width) + 1} of ${pairs.length}; its weights (${path.basename(m.resolved.onnxPath ?? 'model.onnx')}) are damaged or overflow`);
    }
    stats.totalMs = performance.now() - t0;
    lastStats = stats;
    return out;
  }

  return {
    numLabels: L,
    maxLength: tokenizer.maxLength,
    batchSize,
    modelDir: m.resolved.dir,
    tokenizer,
    session,
    get lastStats() {
      return lastStats;
    },
    score,
    release: () => session.release(),
  };
}
