/**
 * Tokenisation for the model layer, on @huggingface/tokenizers (the maintained pure-JS port of HF
 * `tokenizers`, the one transformers.js uses), so ids equal Hugging Face's.
 *
 * That library tokenises and adds special tokens but does not truncate or pad, so this wrapper does:
 *   - truncation to `maxLength` tokens including special tokens; text pairs use HF's
 *     'longest_first' rule (the shorter side is kept whole when it fits);
 *   - dynamic padding: a batch is padded to its own longest sequence, never to a fixed length.
 *     The `padding` and `truncation` blocks of tokenizer.json (all-MiniLM-L6-v2 pads to 128) are
 *     ignored on purpose.
 * maxLength comes from the option, else sentence_bert_config.json max_seq_length, else
 * min(tokenizer_config model_max_length, config max_position_embeddings), else 512.
 *
 * Shapes: B batch, S longest sequence in the batch. Batches are int64 row-major [B, S].
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { Tokenizer as HfTokenizer } from '@huggingface/tokenizers' with { 'resolution-mode': 'import' };
import { ModelError } from './errors';
import { readModelJson } from './json-file';
import { InputRangeError, InputTypeError } from '../util/errors';

// The package is ESM-typed but ships a CommonJS build ("require" export); load that one.
type TokenizersModule = typeof import('@huggingface/tokenizers', { with: { 'resolution-mode': 'import' } });
const { Tokenizer } = createRequire(__filename)('@huggingface/tokenizers') as TokenizersModule;

/** One tokenised text (or pair), special tokens included, not padded. */
export interface Encoded {
  ids: number[];
  typeIds: number[];
  /** True when tokens were dropped to fit maxLength. */
  truncated: boolean;
}

/**
 * A ModelError when the tokenizer produced an id the model has no embedding for (a tokenizer.json
 * that does not belong to the model's config.json vocab_size); the model would fail or read
 * out of its table otherwise.
 */
export function checkIdsInVocab(encoded: readonly Encoded[], vocabSize: unknown, dir: string): void {
  if (typeof vocabSize !== 'number' || !(vocabSize > 0)) return;
  for (let i = 0; i < encoded.length; i++) {
    for (const id of encoded[i].ids) {
      if (id >= vocabSize) {
        throw new ModelError(`${dir}: tokenizer.json gave token id ${id} (text ${i + 1}), but config.json's vocab_size is ${vocabSize}: the tokenizer does not belong to this model`);
      }
    }
  }
}

/** A padded batch ready for the model: int64 [B, S] tensors. */
export interface Batch {
  batch: number;
  seq: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds: BigInt64Array;
}

export interface TokenizerOptions {
  /** Max tokens per sequence, special tokens included (clamped to the model's positions). */
  maxLength?: number;
}

/** Files a tokenizer folder may hold that affect tokenisation limits. */
interface FolderConfigs {
  tokenizerConfig: Record<string, unknown>;
  modelConfig?: Record<string, unknown>;
  sentenceBertConfig?: Record<string, unknown>;
}

function readJsonIfExists(file: string): Record<string, unknown> | undefined {
  return readModelJson(file, true);
}

/** Resolves the effective max length (see the file header) and the model's hard limit. */
export function resolveMaxLength(cfg: FolderConfigs, option?: number): { maxLength: number; positions: number; from: string } {
  const posRaw = cfg.modelConfig?.max_position_embeddings;
  const modelType = String(cfg.modelConfig?.model_type ?? '');
  // RoBERTa-family position ids start after the padding index: 514 positions hold 512 tokens.
  const offset = /roberta|camembert/.test(modelType) ? 2 : 0;
  if (posRaw !== undefined && posRaw !== null && !(typeof posRaw === 'number' && Number.isInteger(posRaw) && posRaw > offset)) {
    throw new ModelError(`config.json: max_position_embeddings must be an integer > ${offset}, got ${JSON.stringify(posRaw)}`);
  }
  const positions = typeof posRaw === 'number' ? posRaw - offset : Infinity;
  const tokMax = cfg.tokenizerConfig.model_max_length;
  const stMax = cfg.sentenceBertConfig?.max_seq_length;
  let wanted: number;
  let from: string;
  if (option !== undefined) {
    if (!Number.isInteger(option) || option < 2) throw new InputTypeError(`maxLength must be an integer ≥ 2, got ${option}`);
    [wanted, from] = [option, 'the maxLength option'];
  } else if (typeof stMax === 'number' && stMax > 0) [wanted, from] = [stMax, `sentence_bert_config.json's max_seq_length ${stMax}`];
  else if (typeof tokMax === 'number' && tokMax > 0 && tokMax < 1e6) [wanted, from] = [tokMax, `tokenizer_config.json's model_max_length ${tokMax}`];
  else [wanted, from] = [512, 'the default'];
  if (positions < wanted) from = `config.json's max_position_embeddings ${posRaw}`;
  const maxLength = Math.min(wanted, positions);
  return { maxLength, positions: Number.isFinite(positions) ? positions : maxLength, from };
}

const TOKENIZER_MODELS = ['WordPiece', 'BPE', 'Unigram', 'WordLevel'];

/** tokenizer.json's model entry, checked before the tokenizer library guesses around what is missing. */
function checkTokenizerJson(j: unknown): void {
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new ModelError('tokenizer.json must be a JSON object with a "model" entry');
  const model = (j as { model?: unknown }).model;
  if (typeof model !== 'object' || model === null || Array.isArray(model)) throw new ModelError('tokenizer.json must have a "model" object (WordPiece, BPE, Unigram or WordLevel)');
  const { type, vocab } = model as { type?: unknown; vocab?: unknown };
  if (type !== undefined && !TOKENIZER_MODELS.includes(String(type))) {
    throw new ModelError(`tokenizer.json: model type '${String(type)}' is not supported (${TOKENIZER_MODELS.join(', ')})`);
  }
  const unigram = type === 'Unigram' || (type === undefined && Array.isArray(vocab));
  if (unigram ? !Array.isArray(vocab) : !(typeof vocab === 'object' && vocab !== null && !Array.isArray(vocab))) {
    throw new ModelError(`tokenizer.json: model.vocab must be ${unigram ? 'a list of [token, score] pairs' : 'an object of token → id'}`);
  }
  if (!unigram && !Object.values(vocab as Record<string, unknown>).every((id) => Number.isInteger(id) && (id as number) >= 0)) {
    throw new ModelError('tokenizer.json: model.vocab ids must be integers ≥ 0');
  }
}

/**
 * How many characters of a text are worth tokenising when at most `budget` tokens are kept: we cut
 * before a whitespace character (a token boundary for BERT, Metaspace and byte-level tokenisers)
 * far enough out that the prefix still yields more than `budget` tokens; otherwise the whole text.
 */
const CHARS_PER_TOKEN_CUT = 12;

export class TextTokenizer {
  readonly maxLength: number;
  readonly padId: number;
  private readonly tok: HfTokenizer;
  private readonly specialsSingle: number;
  private readonly specialsPair: number;
  private readonly specialIds: Set<number>;
  /** tokenizer.json has no decoder: decode joins the tokens with spaces (HF tokenizers' behaviour). */
  private readonly spaceJoinDecode: boolean;

  constructor(tokenizerJson: unknown, tokenizerConfig: Record<string, unknown> = {}, opts: TokenizerOptions & { modelConfig?: Record<string, unknown>; sentenceBertConfig?: Record<string, unknown> } = {}) {
    checkTokenizerJson(tokenizerJson);
    if (typeof tokenizerConfig !== 'object' || tokenizerConfig === null || Array.isArray(tokenizerConfig)) {
      throw new ModelError('tokenizer_config.json must be a JSON object');
    }
    // The library ignores padding/truncation anyway; drop them so nobody relies on them.
    const json: Record<string, unknown> = { ...(tokenizerJson as Record<string, unknown>), padding: null, truncation: null };
    // tokenizer.json may have no decoder (HF's Rust tokenizers then joins the tokens with spaces);
    // the JS library insists on one: give it a placeholder and decode as Rust does (decode() below)
    this.spaceJoinDecode = json.decoder === undefined || json.decoder === null;
    if (this.spaceJoinDecode) json.decoder = { type: 'Fuse' };
    try {
      this.tok = new Tokenizer(json, tokenizerConfig);
    } catch (e) {
      // the tokenizer library only parses the user's files here: what it refuses is theirs
      throw new ModelError(`tokenizer.json / tokenizer_config.json cannot be used: ${(e as Error).message}`, { cause: e });
    }
    this.maxLength = resolveMaxLength({ tokenizerConfig, modelConfig: opts.modelConfig, sentenceBertConfig: opts.sentenceBertConfig }, opts.maxLength).maxLength;
    const padToken = typeof tokenizerConfig.pad_token === 'string' ? tokenizerConfig.pad_token : undefined;
    const jsonPad = (tokenizerJson as { padding?: { pad_id?: number } | null }).padding?.pad_id;
    this.padId = (padToken !== undefined ? this.tok.token_to_id(padToken) : undefined) ?? jsonPad ?? this.tok.token_to_id('[PAD]') ?? this.tok.token_to_id('<pad>') ?? 0;
    const added = (tokenizerJson as { added_tokens?: { id?: number; special?: boolean }[] }).added_tokens ?? [];
    this.specialIds = new Set(added.filter((t) => t.special && typeof t.id === 'number').map((t) => t.id!));
    this.specialsSingle = this.postProcess([], null).ids.length;
    this.specialsPair = this.postProcess([], []).ids.length;
    if (this.maxLength <= this.specialsPair) {
      const limit = resolveMaxLength({ tokenizerConfig, modelConfig: opts.modelConfig, sentenceBertConfig: opts.sentenceBertConfig }, opts.maxLength).from;
      const why = `maxLength ${this.maxLength} (${limit}) leaves no room for text between the ${this.specialsPair} special tokens of a pair`;
      if (opts.maxLength !== undefined && limit === 'the maxLength option') throw new InputRangeError(`${why}; pass a larger maxLength`);
      throw new ModelError(`${why}; fix that value or pass a larger maxLength`);
    }
  }

  /** Loads tokenizer.json (+ tokenizer_config.json, config.json, sentence_bert_config.json) from a folder. */
  static fromFolder(dir: string, opts: TokenizerOptions = {}): TextTokenizer {
    const file = path.join(dir, 'tokenizer.json');
    const json = readJsonIfExists(file);
    if (!json) throw new ModelError(`tokenizer.json not found in ${dir}`);
    const tokenizerConfig = readJsonIfExists(path.join(dir, 'tokenizer_config.json')) ?? {};
    const modelConfig = readJsonIfExists(path.join(dir, 'config.json'));
    const sentenceBertConfig = readJsonIfExists(path.join(dir, 'sentence_bert_config.json'));
    try {
      return new TextTokenizer(json, tokenizerConfig, { ...opts, modelConfig, sentenceBertConfig });
    } catch (e) {
      if (e instanceof ModelError) throw new ModelError(`${dir}: ${e.message}`, { cause: e });
      throw e;
    }
  }

  /** Token strings of a text without special tokens (normaliser + pre-tokeniser + model). */
  private pieces(text: string, budget: number): string[] {
    if (text.length > budget * CHARS_PER_TOKEN_CUT) {
      let cut = budget * CHARS_PER_TOKEN_CUT;
      while (cut < text.length && !/\s/.test(text[cut])) cut++;
      if (cut < text.length) {
        const head = this.tok.tokenize(text.slice(0, cut), { add_special_tokens: false });
        if (head.length > budget) return head;
      }
    }
    return this.tok.tokenize(text, { add_special_tokens: false });
  }

  private postProcess(a: string[], b: string[] | null): { ids: number[]; typeIds: number[] } {
    const pp = this.tok.post_processor;
    const out = pp ? pp(a, b, true) : { tokens: b ? [...a, ...b] : a };
    const tokens = out.tokens;
    const unk = this.tok.model?.unk_token_id ?? this.padId;
    const ids = tokens.map((t: string) => this.tok.token_to_id(t) ?? unk);
    let typeIds = out.token_type_ids;
    if (!typeIds || typeIds.length !== ids.length) typeIds = new Array<number>(ids.length).fill(0);
    return { ids, typeIds };
  }

  /** Tokenises one text: [CLS] text [SEP] (or the model's template), truncated to maxLength. */
  encode(text: string): Encoded {
    if (typeof text !== 'string') throw new InputTypeError(`text must be a string, got ${text === null ? 'null' : typeof text}`);
    const budget = this.maxLength - this.specialsSingle;
    let a = this.pieces(text, budget);
    const truncated = a.length > budget;
    if (truncated) a = a.slice(0, budget);
    return { ...this.postProcess(a, null), truncated };
  }

  /** Tokenises a text pair: [CLS] a [SEP] b [SEP] with token types 0/1, 'longest_first' truncation. */
  encodePair(first: string, second: string): Encoded {
    if (typeof first !== 'string' || typeof second !== 'string') throw new InputTypeError('a text pair must be two strings');
    const budget = this.maxLength - this.specialsPair;
    let a = this.pieces(first, budget);
    let b = this.pieces(second, budget);
    const truncated = a.length + b.length > budget;
    if (truncated) {
      const [n1, n2] = longestFirst(a.length, b.length, budget);
      a = a.slice(0, n1);
      b = b.slice(0, n2);
    }
    return { ...this.postProcess(a, b), truncated };
  }

  /** Pads encoded sequences to the longest one (or to `padTo`, for fixed-length baselines). */
  pad(items: Encoded[], padTo?: number): Batch {
    const B = items.length;
    let S = 0;
    for (const e of items) S = Math.max(S, e.ids.length);
    if (padTo !== undefined) S = Math.max(S, padTo);
    const inputIds = new BigInt64Array(B * S).fill(BigInt(this.padId));
    const attentionMask = new BigInt64Array(B * S);
    const tokenTypeIds = new BigInt64Array(B * S);
    for (let b = 0; b < B; b++) {
      const { ids, typeIds } = items[b];
      const row = b * S;
      for (let s = 0; s < ids.length; s++) {
        inputIds[row + s] = BigInt(ids[s]);
        attentionMask[row + s] = 1n;
        tokenTypeIds[row + s] = BigInt(typeIds[s]);
      }
    }
    return { batch: B, seq: S, inputIds, attentionMask, tokenTypeIds };
  }

  /** Tokenises and pads a list of texts (texts[i] must be strings). */
  encodeBatch(texts: string[]): Batch {
    return this.pad(checkTexts(texts, 'texts', true).map((t) => this.encode(t)));
  }

  /** Tokenises and pads a list of (first, second) pairs. */
  encodePairBatch(pairs: [string, string][]): Batch {
    return this.pad(checkPairs(pairs, true).map(([a, b]) => this.encodePair(a, b)));
  }

  /** Is this id one of tokenizer.json's special added tokens ([CLS], </s>, ...)? */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  decode(ids: number[], skipSpecial = true): string {
    if (this.spaceJoinDecode) {
      return ids.filter((id) => !(skipSpecial && this.specialIds.has(id))).map((id) => this.tok.id_to_token(id) ?? '').join(' ');
    }
    return ids.length ? this.tok.decode(ids, { skip_special_tokens: skipSpecial }) : '';
  }

  /** Token strings (no special tokens), for inspection. */
  tokenize(text: string): string[] {
    return this.tok.tokenize(text, { add_special_tokens: false });
  }
}

/** HF tokenizers' LongestFirst for pairs: lengths to keep from (n1, n2) within `max` tokens. */
export function longestFirst(n1: number, n2: number, max: number): [number, number] {
  if (n1 + n2 <= max) return [n1, n2];
  const swap = n1 > n2;
  let [s, l] = swap ? [n2, n1] : [n1, n2];
  l = s > max ? s : Math.max(s, max - s);
  if (s + l > max) {
    s = Math.floor(max / 2);
    l = s + (max % 2);
  }
  return swap ? [l, s] : [s, l];
}

function describe(x: unknown): string {
  return x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x;
}

/** Checks an array of texts; errors name the first bad index. */
export function checkTexts(texts: unknown, what = 'texts', allowEmpty = false): string[] {
  if (!Array.isArray(texts)) throw new InputTypeError(`${what} must be an array of strings, got ${describe(texts)}`);
  for (let i = 0; i < texts.length; i++) {
    const t: unknown = texts[i];
    if (typeof t !== 'string') throw new InputTypeError(`${what}[${i}] must be a string, got ${describe(t)}`);
    if (!allowEmpty && t.trim() === '') throw new InputRangeError(`${what}[${i}] is empty (pass allowEmpty: true to encode empty texts)`);
  }
  return texts as string[];
}

/** Checks an array of [query, document] pairs; errors name the first bad index. */
export function checkPairs(pairs: unknown, allowEmpty = false): [string, string][] {
  if (!Array.isArray(pairs)) throw new InputTypeError(`pairs must be an array of [query, document] string pairs, got ${describe(pairs)}`);
  for (let i = 0; i < pairs.length; i++) {
    const p: unknown = pairs[i];
    if (!Array.isArray(p) || p.length !== 2) throw new InputTypeError(`pairs[${i}] must be a [query, document] pair, got ${describe(p)}`);
    for (const j of [0, 1]) {
      const t: unknown = p[j];
      if (typeof t !== 'string') throw new InputTypeError(`pairs[${i}][${j}] must be a string, got ${describe(t)}`);
      if (!allowEmpty && t.trim() === '') throw new InputRangeError(`pairs[${i}][${j}] is empty (pass allowEmpty: true to score empty texts)`);
    }
  }
  return pairs as [string, string][];
}
