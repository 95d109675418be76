/**
 * What the BERT-family config.json files (bert, roberta / xlm-roberta, mpnet) have in common, read
 * and written in one place; ./bert.ts, ./roberta.ts and ./mpnet.ts add their own keys. Only type
 * imports from ./bert (it imports the others).
 */
import type { BertConfig } from './bert';
import { ModelError } from '../errors';

/** A reader of numeric config.json keys: the value, else the default, else an error naming the key. */
export function hfNumbers(json: Record<string, unknown>, where: string): (k: string, dflt?: number) => number {
  return (k, dflt) => {
    const v = json[k];
    if (typeof v === 'number') return v;
    if ((v === undefined || v === null) && dflt !== undefined) return dflt;
    throw new ModelError(v === undefined ? `${where}: missing numeric '${k}'` : `${where}: '${k}' must be a number, got ${JSON.stringify(v)}`);
  };
}

/** The encoder shape of a BERT-family config.json (maxPosition defaulting to the family's). */
export function hfShape(num: (k: string, dflt?: number) => number, maxPosition: number): Pick<BertConfig, 'vocabSize' | 'hidden' | 'layers' | 'heads' | 'intermediate' | 'maxPosition' | 'layerNormEps'> {
  return {
    vocabSize: num('vocab_size'),
    hidden: num('hidden_size'),
    layers: num('num_hidden_layers'),
    heads: num('num_attention_heads'),
    intermediate: num('intermediate_size'),
    maxPosition: num('max_position_embeddings', maxPosition),
    layerNormEps: num('layer_norm_eps', 1e-12),
  };
}

/** The shape as config.json keys (token types when the family has them). */
export function hfShapeKeys(c: BertConfig, withTypes: boolean): Record<string, unknown> {
  return {
    vocab_size: c.vocabSize,
    hidden_size: c.hidden,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    intermediate_size: c.intermediate,
    max_position_embeddings: c.maxPosition,
    ...(withTypes ? { type_vocab_size: c.typeVocabSize } : {}),
    layer_norm_eps: c.layerNormEps,
  };
}

/** The training-time keys transformers writes for these models (exact GELU, its dropouts and init). */
export const HF_TRAINING_KEYS = {
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  initializer_range: 0.02,
} as const;
