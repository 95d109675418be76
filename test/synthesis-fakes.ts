/**
 * Deterministic stand-ins for the synthesis tests (no pretrained weights exist here): a hashed
 * bag-of-words bi-encoder and a token-overlap "cross-encoder". Both are pure functions of each
 * text / pair, so batching never changes a result, and they expose call counts for the tests.
 */
import type { Encoder, Scorer } from '../lib/synthesis/types';

function hash(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function tokens(s: string): string[] {
  return s.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
}

export class FakeEncoder implements Encoder {
  calls = 0;
  constructor(readonly dim = 16, readonly id = `fake-encoder-${dim}`, private readonly salt = 0) {}

  async encode(texts: string[]): Promise<Float32Array> {
    this.calls++;
    const out = new Float32Array(texts.length * this.dim);
    texts.forEach((t, r) => {
      for (const tok of tokens(t)) {
        const h = hash(tok, 0x811c9dc5 ^ this.salt);
        for (let j = 0; j < 4; j++) out[r * this.dim + ((h >>> (j * 8)) % this.dim)] += j % 2 ? -0.5 : 1;
      }
      out[r * this.dim + (hash(t) % this.dim)] += 0.01; // breaks exact ties between texts
    });
    return out;
  }
}

/** score = shared tokens + a small pair-specific offset (so no two pairs tie). */
export function fakePairScore(q: string, d: string): number {
  const qt = new Set(tokens(q));
  let s = 0;
  for (const t of new Set(tokens(d))) if (qt.has(t)) s++;
  return Math.fround(s + (hash(q + '\u0001' + d) % 1000) / 10000);
}

export class FakeScorer implements Scorer {
  calls = 0;
  readonly id = 'fake-scorer';
  async score(pairs: [string, string][]): Promise<Float32Array> {
    this.calls++;
    return Float32Array.from(pairs.map(([q, d]) => fakePairScore(q, d)));
  }
}

const WORDS = 'apple banana cherry delta echo fox golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu'.split(' ');

/** Seeded synthetic corpus and queries: documents of 8 words, queries of 3 words. */
export function syntheticData(nq: number, nd: number, seed = 1): { queries: { id: string; text: string }[]; corpus: { id: string; text: string }[] } {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const words = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
  return {
    corpus: Array.from({ length: nd }, (_, i) => ({ id: `d${i}`, text: `${words(8)} ${i}` })),
    queries: Array.from({ length: nq }, (_, i) => ({ id: `q${i}`, text: words(3) })),
  };
}

/** Brute-force cosine ranking of the corpus for one query (the independent reference). */
export async function referenceRanking(enc: Encoder, query: string, corpus: string[]): Promise<number[]> {
  const qv = await enc.encode([query]);
  const dv = await enc.encode(corpus);
  const norm = (v: Float32Array, o: number) => Math.sqrt(Array.from(v.subarray(o, o + enc.dim)).reduce((s, x) => s + x * x, 0)) || 1;
  const qn = norm(qv, 0);
  const sims = corpus.map((_, i) => {
    let s = 0;
    for (let j = 0; j < enc.dim; j++) s += qv[j] * dv[i * enc.dim + j];
    return s / (qn * norm(dv, i * enc.dim));
  });
  return sims.map((s, i) => [s, i]).sort((x, y) => y[0] - x[0] || x[1] - y[1]).map((p) => p[1]);
}
