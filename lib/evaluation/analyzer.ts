/**
 * English analyzer for BM25, modelled on Lucene's EnglishAnalyzer (Elasticsearch `english`, the
 * analyzer BEIR's BM25 numbers use): lowercase → drop possessive 's → split on anything that is
 * not a letter, digit or combining mark → drop Lucene's 33 English stopwords → Porter stem.
 * Differences from Lucene: tokens are split on every non-alphanumeric character (Lucene's UAX#29
 * tokenizer keeps "3.5", "don't" or "e-mail"-like forms in some cases), which changes a few tokens.
 */
import { porterStem } from './porter';

/** Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (also Elasticsearch's `_english_`). */
export const ENGLISH_STOPWORDS: ReadonlySet<string> = new Set([
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'if', 'in', 'into', 'is', 'it', 'no', 'not', 'of',
  'on', 'or', 'such', 'that', 'the', 'their', 'then', 'there', 'these', 'they', 'this', 'to', 'was', 'will', 'with',
]);

/**
 * Text → index terms. An analyzer may also expose its two stages — `tokenize` (text → raw tokens)
 * and `term` (raw token → index term, or null to drop it) — which lets the BM25 builder memoise
 * raw token → term id in one hash lookup per token instead of three.
 */
export interface Analyzer {
  (text: string): string[];
  tokenize?: (text: string) => string[];
  term?: (token: string) => string | null;
}

const SPLIT = /[^\p{L}\p{N}\p{M}]+/u;
const POSSESSIVE = /['’]s\b/g;
const MAX_TOKEN = 255;
const STEM_CACHE_LIMIT = 500_000;

/** Lowercased tokens with possessives removed, before stopwords and stemming. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().replace(POSSESSIVE, '').split(SPLIT).filter((t) => t.length > 0 && t.length <= MAX_TOKEN);
}

/** Builds an English analyzer; stems are memoised (a bounded cache, cleared when full). */
export function englishAnalyzer(opts: { stopwords?: ReadonlySet<string>; stem?: boolean } = {}): Analyzer {
  const stop = opts.stopwords ?? ENGLISH_STOPWORDS;
  const stem = opts.stem ?? true;
  const cache = new Map<string, string>();
  const term = (t: string): string | null => {
    if (stop.has(t)) return null;
    if (!stem) return t;
    let s = cache.get(t);
    if (s === undefined) {
      if (cache.size >= STEM_CACHE_LIMIT) cache.clear();
      s = porterStem(t);
      cache.set(t, s);
    }
    return s;
  };
  const analyze: Analyzer = (text) => {
    const out: string[] = [];
    for (const t of tokenize(text)) {
      const s = term(t);
      if (s !== null) out.push(s);
    }
    return out;
  };
  analyze.tokenize = tokenize;
  analyze.term = term;
  return analyze;
}
