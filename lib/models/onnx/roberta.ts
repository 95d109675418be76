/**
 * RoBERTa and XLM-RoBERTa as a configuration of BERT. The encoder math and every weight name inside
 * the model are BERT's (checkpoints prefix them 'roberta.'); two things differ, both carried by
 * BertConfig:
 *
 *   positions    paddingIdx (config.json pad_token_id, usually 1): HF's
 *                create_position_ids_from_input_ids gives real tokens padding_idx + 1 … padding_idx + n
 *                and padded ones padding_idx. synthtune derives them from the attention mask (the same
 *                ids for right-padded batches whose padding is the pad token), so at most
 *                max_position_embeddings − padding_idx − 1 tokens fit.
 *   token types  type_vocab_size is 1 (every token type 0); LayerNorm eps usually 1e-5.
 *
 * config.json: model_type 'roberta' or 'xlm-roberta' with BERT's keys. Only type imports from ./bert.
 */
import type { BertConfig } from './bert';
import { hfNumbers, hfShape, hfShapeKeys, HF_TRAINING_KEYS } from './hf-config';
import { ModelError } from '../errors';

export const ROBERTA_ARCHS = ['roberta', 'xlm-roberta'] as const;
export type RobertaArch = (typeof ROBERTA_ARCHS)[number];

export function isRobertaArch(a: unknown): a is RobertaArch {
  return a === 'roberta' || a === 'xlm-roberta';
}

/** A BertConfig (arch 'roberta' / 'xlm-roberta', paddingIdx set) from a RoBERTa config.json object. */
export function robertaConfigFromHf(json: Record<string, unknown>, extra: Partial<BertConfig> = {}): BertConfig {
  const type = String(json.model_type);
  if (!isRobertaArch(type)) throw new ModelError(`config.json: model_type '${type}' is not RoBERTa`);
  const num = hfNumbers(json, `config.json (${type})`);
  const act = json.hidden_act ?? 'gelu';
  if (act !== 'gelu') throw new ModelError(`config.json (${type}): hidden_act '${String(act)}' is not supported (gelu only)`);
  const pet = json.position_embedding_type ?? 'absolute';
  if (pet !== 'absolute') throw new ModelError(`config.json (${type}): position_embedding_type '${String(pet)}' is not supported (absolute only)`);
  return {
    arch: type,
    ...hfShape(num, 514),
    typeVocabSize: num('type_vocab_size', 1),
    paddingIdx: num('pad_token_id', 1),
    ...extra,
  };
}

/** A RoBERTa / XLM-RoBERTa config.json object for a BertConfig with a RoBERTa arch. */
export function robertaConfigToHf(c: BertConfig): Record<string, unknown> {
  const arch = c.arch === 'xlm-roberta' ? 'xlm-roberta' : 'roberta';
  return {
    architectures: [arch === 'xlm-roberta' ? 'XLMRobertaModel' : 'RobertaModel'],
    model_type: arch,
    ...hfShapeKeys(c, true),
    ...HF_TRAINING_KEYS,
    pad_token_id: c.paddingIdx ?? 1,
    bos_token_id: 0,
    eos_token_id: 2,
    position_embedding_type: 'absolute',
  };
}
