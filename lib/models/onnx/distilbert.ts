/**
 * DistilBERT as a naming of BERT. A DistilBertModel layer is the same post-LN block as a BERT layer
 * (attention → add → LayerNorm → FFN(GELU) → add → LayerNorm) and its embeddings are BERT's without
 * token types, so synthtune keeps one internal layout — the HF BertModel names, with
 * typeVocabSize = 0 — and maps names and config.json keys at the edges (ONNX builder, import,
 * export):
 *
 *   BERT (internal)                                   DistilBERT (HF)
 *   embeddings.{word,position}_embeddings, LayerNorm  the same (no token_type_embeddings)
 *   encoder.layer.i.attention.self.{query,key,value}  transformer.layer.i.attention.{q,k,v}_lin
 *   encoder.layer.i.attention.output.dense            transformer.layer.i.attention.out_lin
 *   encoder.layer.i.attention.output.LayerNorm        transformer.layer.i.sa_layer_norm
 *   encoder.layer.i.intermediate.dense                transformer.layer.i.ffn.lin1
 *   encoder.layer.i.output.dense                      transformer.layer.i.ffn.lin2
 *   encoder.layer.i.output.LayerNorm                  transformer.layer.i.output_layer_norm
 *
 * config.json: dim, n_layers, n_heads, hidden_dim, max_position_embeddings, activation 'gelu'
 * (LayerNorm eps is fixed at 1e-12 in HF's DistilBERT). Only type imports from ./bert (it imports us).
 */
import type { BertConfig } from './bert';
import { ModelError } from '../errors';

const TO_DISTIL: [string, string][] = [
  ['attention.self.query', 'attention.q_lin'],
  ['attention.self.key', 'attention.k_lin'],
  ['attention.self.value', 'attention.v_lin'],
  ['attention.output.dense', 'attention.out_lin'],
  ['attention.output.LayerNorm', 'sa_layer_norm'],
  ['intermediate.dense', 'ffn.lin1'],
  ['output.dense', 'ffn.lin2'],
  ['output.LayerNorm', 'output_layer_norm'],
];

/** Internal (BERT) name → DistilBERT name; names outside the encoder layers are unchanged. */
export function bertToDistilbertName(name: string): string {
  const m = /^encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) return name;
  const hit = TO_DISTIL.find(([b]) => b === m[2]);
  return hit ? `transformer.layer.${m[1]}.${hit[1]}.${m[3]}` : name;
}

/** DistilBERT name (without the 'distilbert.' prefix) → internal (BERT) name; others unchanged. */
export function distilbertToBertName(name: string): string {
  const m = /^transformer\.layer\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) return name;
  const hit = TO_DISTIL.find(([, d]) => d === m[2]);
  return hit ? `encoder.layer.${m[1]}.${hit[0]}.${m[3]}` : name;
}

/** DistilBERT's HF eps (hard-coded in modeling_distilbert). */
export const DISTILBERT_LAYER_NORM_EPS = 1e-12;

/** A BertConfig (arch 'distilbert', no token types) from a DistilBERT config.json object. */
export function distilbertConfigFromHf(json: Record<string, unknown>, extra: Partial<BertConfig> = {}): BertConfig {
  const num = (k: string, dflt?: number) => {
    const v = json[k];
    if (typeof v === 'number') return v;
    if (dflt !== undefined) return dflt;
    throw new ModelError(`config.json (distilbert): missing numeric '${k}'`);
  };
  const act = json.activation ?? 'gelu';
  if (act !== 'gelu') throw new ModelError(`config.json (distilbert): activation '${String(act)}' is not supported (gelu only)`);
  return {
    arch: 'distilbert',
    vocabSize: num('vocab_size'),
    hidden: num('dim'),
    layers: num('n_layers'),
    heads: num('n_heads'),
    intermediate: num('hidden_dim'),
    maxPosition: num('max_position_embeddings', 512),
    typeVocabSize: 0,
    layerNormEps: DISTILBERT_LAYER_NORM_EPS,
    ...extra,
  };
}

/** A DistilBERT config.json object for a BertConfig with arch 'distilbert'. */
export function distilbertConfigToHf(c: BertConfig): Record<string, unknown> {
  return {
    architectures: ['DistilBertModel'],
    model_type: 'distilbert',
    vocab_size: c.vocabSize,
    dim: c.hidden,
    n_layers: c.layers,
    n_heads: c.heads,
    hidden_dim: c.intermediate,
    max_position_embeddings: c.maxPosition,
    activation: 'gelu',
    dropout: 0.1,
    attention_dropout: 0.1,
    qa_dropout: 0.1,
    seq_classif_dropout: 0.2,
    initializer_range: 0.02,
    sinusoidal_pos_embds: false,
    tie_weights_: true,
    pad_token_id: 0,
  };
}
