/**
 * MPNet (all-mpnet-base-v2) as a naming of BERT plus a relative attention bias. An MPNetModel layer
 * is BERT's post-LN block; its embeddings have no token types and RoBERTa's position ids (padding_idx
 * 1, see ./roberta.ts); and every layer's attention scores get the same relative-position bias:
 *
 *   scores[b,h,i,j] += relative_attention_bias.weight[bucket(j − i)][h]      table (NB = 32, NH)
 *
 * with transformers' MPNetEncoder.relative_position_bucket (bidirectional, max_distance 128), which
 * relativeBucket() reproduces in float32. synthtune keeps the BERT names internally and maps at the
 * edges (ONNX builder, import, export):
 *
 *   BERT (internal)                                   MPNet (HF, prefix 'mpnet.' in checkpoints)
 *   embeddings.{word,position}_embeddings, LayerNorm  the same (no token_type_embeddings)
 *   encoder.layer.i.attention.self.{query,key,value}  encoder.layer.i.attention.attn.{q,k,v}
 *   encoder.layer.i.attention.output.dense            encoder.layer.i.attention.attn.o
 *   encoder.layer.i.attention.output.LayerNorm        encoder.layer.i.attention.LayerNorm
 *   encoder.layer.i.{intermediate.dense, output.*}    the same
 *   encoder.relative_attention_bias.weight            the same
 *
 * config.json: model_type 'mpnet', BERT's keys, relative_attention_num_buckets (32; HF computes the
 * buckets with 32 whatever the config says, so other values are refused). Only type imports from ./bert.
 */
import type { BertConfig } from './bert';
import { hfNumbers, hfShape, hfShapeKeys, HF_TRAINING_KEYS } from './hf-config';
import { ModelError } from '../errors';

const TO_MPNET: [string, string][] = [
  ['attention.self.query', 'attention.attn.q'],
  ['attention.self.key', 'attention.attn.k'],
  ['attention.self.value', 'attention.attn.v'],
  ['attention.output.dense', 'attention.attn.o'],
  ['attention.output.LayerNorm', 'attention.LayerNorm'],
];

export const MPNET_PADDING_IDX = 1;
export const MPNET_BUCKETS = 32;
export const MPNET_MAX_DISTANCE = 128;
export const RELATIVE_BIAS_NAME = 'encoder.relative_attention_bias.weight';

/** Internal (BERT) name → MPNet name; names outside the attention blocks are unchanged. */
export function bertToMpnetName(name: string): string {
  const m = /^encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) return name;
  const hit = TO_MPNET.find(([b]) => b === m[2]);
  return hit ? `encoder.layer.${m[1]}.${hit[1]}.${m[3]}` : name;
}

/** MPNet name (without the 'mpnet.' prefix) → internal (BERT) name; others unchanged. */
export function mpnetToBertName(name: string): string {
  const m = /^encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) return name;
  const hit = TO_MPNET.find(([, d]) => d === m[2]);
  return hit ? `encoder.layer.${m[1]}.${hit[0]}.${m[3]}` : name;
}

/**
 * transformers' relative_position_bucket(rel, num_buckets, max_distance) for rel = key − query, in
 * its float32 arithmetic (the same as native/cpu/bert.cc's relative_bucket).
 */
export function relativeBucket(rel: number, numBuckets = MPNET_BUCKETS, maxDistance = MPNET_MAX_DISTANCE): number {
  const f = Math.fround;
  const half = Math.floor(numBuckets / 2);
  let n = -rel;
  const ret = n < 0 ? half : 0;
  n = Math.abs(n);
  const maxExact = Math.floor(half / 2);
  if (n < maxExact) return ret + n;
  const num = f(Math.log(f(f(n) / f(maxExact))));
  const den = f(Math.log(maxDistance / maxExact));
  const v = f(f(num / den) * f(half - maxExact));
  return ret + Math.min(maxExact + Math.trunc(v), half - 1);
}

/** A BertConfig (arch 'mpnet') from an MPNet config.json object. */
export function mpnetConfigFromHf(json: Record<string, unknown>, extra: Partial<BertConfig> = {}): BertConfig {
  const num = hfNumbers(json, 'config.json (mpnet)');
  const act = json.hidden_act ?? 'gelu';
  if (act !== 'gelu') throw new ModelError(`config.json (mpnet): hidden_act '${String(act)}' is not supported (gelu only)`);
  const nb = num('relative_attention_num_buckets', MPNET_BUCKETS);
  if (nb !== MPNET_BUCKETS) throw new ModelError(`config.json (mpnet): relative_attention_num_buckets ${nb} is not supported (transformers uses ${MPNET_BUCKETS})`);
  return {
    arch: 'mpnet',
    ...hfShape(num, 514),
    typeVocabSize: 0,
    paddingIdx: MPNET_PADDING_IDX,
    relativeBuckets: MPNET_BUCKETS,
    ...extra,
  };
}

/** An MPNet config.json object for a BertConfig with arch 'mpnet'. */
export function mpnetConfigToHf(c: BertConfig): Record<string, unknown> {
  return {
    architectures: ['MPNetModel'],
    model_type: 'mpnet',
    ...hfShapeKeys(c, false),
    relative_attention_num_buckets: c.relativeBuckets ?? MPNET_BUCKETS,
    ...HF_TRAINING_KEYS,
    pad_token_id: 1,
    bos_token_id: 0,
    eos_token_id: 2,
  };
}
