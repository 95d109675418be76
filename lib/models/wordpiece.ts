/**
 * Generates a WordPiece tokenizer.json (Hugging Face `tokenizers` format) with a vocabulary learnt
 * from a text sample, so tests and benches need no downloaded tokenizer. The file loads in
 * @huggingface/tokenizers, transformers.js and the Rust/Python `tokenizers` alike.
 *
 * Vocabulary order: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, then every character seen (and
 * its ##continuation), then the most frequent whole words, then frequent ##suffix pieces, until
 * `vocabSize` (or, when `fillTo` is set, padded with [unusedN] entries to exactly that size).
 * Text goes through the same normalisation as BERT uncased: lower case, accents stripped, split on
 * whitespace and punctuation, CJK characters isolated.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelError } from './errors';

export interface WordPieceOptions {
  /** Target vocabulary size (including special tokens). Default 8000. */
  vocabSize?: number;
  /** Pad with [unusedN] tokens to exactly vocabSize when the sample has too few words. Default false. */
  fillTo?: boolean;
  lowercase?: boolean;
  /** Longest ##suffix piece length considered. Default 6. */
  maxSuffix?: number;
  /** model_max_length written to tokenizer_config.json. Default 512. */
  modelMaxLength?: number;
}

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

function isPunct(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return /\p{P}/u.test(ch);
}

function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** BERT basic tokenisation (what BertNormalizer + BertPreTokenizer do), for counting words. */
export function basicTokenize(text: string, lowercase = true): string[] {
  let t = text;
  if (lowercase) t = t.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
  const words: string[] = [];
  let cur = '';
  const flush = () => {
    if (cur) words.push(cur);
    cur = '';
  };
  for (const ch of t) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || /\p{Cc}/u.test(ch) && !/\s/.test(ch)) continue;
    if (/\s/u.test(ch)) flush();
    else if (isPunct(ch) || isCjk(cp)) {
      flush();
      words.push(ch);
    } else cur += ch;
  }
  flush();
  return words;
}

/** Learns the vocabulary: token → id. */
export function learnWordPieceVocab(texts: Iterable<string>, opts: WordPieceOptions = {}): string[] {
  const size = opts.vocabSize ?? 8000;
  const maxSuffix = opts.maxSuffix ?? 6;
  const lower = opts.lowercase ?? true;
  const wordCounts = new Map<string, number>();
  for (const text of texts) for (const w of basicTokenize(text, lower)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);

  const vocab: string[] = [...SPECIAL_TOKENS];
  const seen = new Set<string>(vocab);
  const add = (tok: string) => {
    if (vocab.length < size && !seen.has(tok)) {
      seen.add(tok);
      vocab.push(tok);
    }
  };
  // characters (so every word is representable), then their continuations
  const chars = new Map<string, number>();
  for (const [w, n] of wordCounts) for (const ch of w) chars.set(ch, (chars.get(ch) ?? 0) + n);
  const charList = [...chars.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([c]) => c);
  for (const c of charList) add(c);
  for (const c of charList) add(`##${c}`);

  // frequent whole words and frequent suffixes, interleaved by count
  const suffixCounts = new Map<string, number>();
  for (const [w, n] of wordCounts) {
    const cps = [...w];
    for (let start = 1; start < cps.length; start++) {
      for (let len = 2; len <= maxSuffix && start + len <= cps.length; len++) {
        const piece = '##' + cps.slice(start, start + len).join('');
        suffixCounts.set(piece, (suffixCounts.get(piece) ?? 0) + n);
      }
    }
  }
  const candidates: [string, number][] = [
    ...[...wordCounts.entries()].filter(([w]) => [...w].length > 1 && [...w].length <= 100),
    ...[...suffixCounts.entries()].map(([p, n]) => [p, n * 0.5] as [string, number]),
  ];
  candidates.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [tok] of candidates) {
    if (vocab.length >= size) break;
    add(tok);
  }
  if (opts.fillTo) for (let i = 0; vocab.length < size; i++) add(`[unused${i}]`);
  return vocab;
}

/** The tokenizer.json object for a vocabulary (index = id). */
export function wordPieceTokenizerJson(vocab: string[], opts: { lowercase?: boolean } = {}): Record<string, unknown> {
  const lower = opts.lowercase ?? true;
  const id = (t: string) => {
    const i = vocab.indexOf(t);
    if (i < 0) throw new ModelError(`WordPiece vocabulary lacks the special token ${t}`);
    return i;
  };
  const cls = id('[CLS]');
  const sep = id('[SEP]');
  const vocabObj: Record<string, number> = {};
  vocab.forEach((t, i) => (vocabObj[t] = i));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((t) => ({
      id: id(t),
      content: t,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: lower },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [cls], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [sep], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: vocabObj,
    },
  };
}

/** tokenizer_config.json matching a generated tokenizer. */
export function wordPieceTokenizerConfig(opts: { lowercase?: boolean; modelMaxLength?: number } = {}): Record<string, unknown> {
  return {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: opts.lowercase ?? true,
    model_max_length: opts.modelMaxLength ?? 512,
    clean_up_tokenization_spaces: true,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
    strip_accents: null,
    tokenize_chinese_chars: true,
  };
}

/** Learns a vocabulary from texts and returns { tokenizerJson, tokenizerConfig, vocab }. */
export function buildWordPieceTokenizer(texts: Iterable<string>, opts: WordPieceOptions = {}) {
  const vocab = learnWordPieceVocab(texts, opts);
  return {
    vocab,
    tokenizerJson: wordPieceTokenizerJson(vocab, opts),
    tokenizerConfig: wordPieceTokenizerConfig(opts),
  };
}

/** buildWordPieceTokenizer, written as a tokenizer folder (tokenizer.json, tokenizer_config.json); returns the build. */
export function writeWordPieceTokenizer(dir: string, texts: Iterable<string>, opts: WordPieceOptions = {}): ReturnType<typeof buildWordPieceTokenizer> {
  const tok = buildWordPieceTokenizer(texts, opts);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJson));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig, null, 2));
  return tok;
}
