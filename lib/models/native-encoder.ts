/**
 * The native backend of the bi-encoder: a folder that ships model.safetensors and no ONNX graph
 * (most sentence-transformers repos) is run by the native transformer core that full fine-tuning
 * trains (native/cpu/bert.h; BERT, DistilBERT, RoBERTa / XLM-R, MPNet). Weights are read and named
 * by lib/models/import.ts; pooling (one mode or several, concatenated) runs in the native core; Dense, Normalize, prompts
 * and lowercasing are applied by lib/models/encoder.ts as for the ONNX backend.
 *
 * Texts are ordered by token length and batched like the ONNX path, so each batch is padded only to
 * its own longest text.
 */
import type { CallStats, EncodeCallOptions, EncoderOptions } from './encoder';
import { lengthSortedBatches } from './encoder';
import * as path from 'node:path';
import { ModelError } from './errors';
import { isUserError } from '../util/errors';
import type { ResolvedModel } from './resolve';
import type { ModelFolder, PoolingMode } from './st-folder';
import type { Encoded, TextTokenizer } from './tokenizer';

export interface NativeBackend {
  kind: 'native';
  pooledWidth: number;
  session?: undefined;
  tokenizer: TextTokenizer;
  pool(encoded: Encoded[], out: Float32Array, bs: number, call: EncodeCallOptions, stats: CallStats, promptLength: number): Promise<void>;
  release(): Promise<void>;
}

export async function nativeBackend(resolved: ResolvedModel, folder: ModelFolder, modes: PoolingMode[], opts: EncoderOptions): Promise<NativeBackend> {
  const where = resolved.weightsPath ?? `${resolved.dir}/model.safetensors`;
  const { importFullStudent } = await import('../training/import-weights.js');
  let imported;
  try {
    imported = await importFullStudent(resolved.dir, {
      source: 'safetensors', check: false, inference: true, pooling: modes, normalize: false,
      threads: opts.threads, maxLength: opts.maxLength, device: 'cpu',
    });
  } catch (e) {
    // what the folder's files caused is the user's to fix; anything else is a bug and keeps its stack
    if (!isUserError(e)) throw e;
    throw new ModelError(`cannot run ${where} natively: ${(e as Error).message}`, { cause: e });
  }
  const { student, tokenizer } = imported;
  const hidden = imported.weights.config.hidden;
  if (folder.pooling?.dimension !== undefined && folder.pooling.dimension !== hidden) {
    throw new ModelError(`${path.join(resolved.dir, folder.pooling.path, 'config.json')}: embedding_dimension ${folder.pooling.dimension} does not match the model's ${hidden}-wide token embeddings`);
  }
  opts.log?.(`${resolved.dir}: no ONNX graph; running ${where} with the native core (${student.config.arch ?? 'bert'}, ${student.config.layers} layers, hidden ${student.config.hidden}, ${modes.join('+')} pooling)`);
  return {
    kind: 'native',
    pooledWidth: student.dim,
    tokenizer,
    async pool(encoded, out, bs, call, stats, promptLength) {
      if (promptLength > 0) {
        throw new ModelError(`${resolved.dir}: include_prompt false (prompt tokens left out of pooling) is not supported by the native backend; export the model to ONNX (onnx/model.onnx) to use it`);
      }
      for (const rows of lengthSortedBatches(encoded.map((e) => e.ids.length), bs, call.sortByLength ?? true)) {
        const t = performance.now();
        const ids = rows.map((i) => encoded[i].ids);
        const emb = await student.encode(ids, 'document');
        stats.runMs += performance.now() - t;
        stats.batches++;
        let T = 0; // a loop, not Math.max(...): a batch may hold more texts than a call's arguments
        for (const x of ids) T = Math.max(T, x.length);
        stats.paddedTokens += rows.length * T;
        rows.forEach((r, b) => {
          out.set(emb.subarray(b * student.dim, (b + 1) * student.dim), r * student.dim);
          stats.realTokens += encoded[r].ids.length;
          if (encoded[r].truncated) stats.truncated++;
        });
      }
    },
    // the native model's buffers are freed with the handle (garbage-collected)
    release: async () => undefined,
  };
}
