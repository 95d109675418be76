/**
 * BM25 on a corpus small enough to score by hand, the English analyzer, the Porter stemmer on
 * examples from Porter's paper/vocabulary, and search == brute-force scoring on a random corpus.
 */
import { describe, expect, it } from 'vitest';
import { Bm25Builder, Bm25Index, ENGLISH_STOPWORDS, englishAnalyzer, porterStem, tokenize } from '../lib/evaluation/index';

describe('analyzer', () => {
  const analyze = englishAnalyzer();

  it('lowercases, drops possessives and stopwords, splits on non-alphanumerics, stems', () => {
    expect(tokenize("The Cat's e-mail: Foo_Bar! 3.5x")).toEqual(['the', 'cat', 'e', 'mail', 'foo', 'bar', '3', '5x']);
    expect(analyze("The cats' running is not ending with the Dog's jumps")).toEqual(['cat', 'run', 'end', 'dog', 'jump']);
    expect(analyze('Über Café naïve')).toEqual(['über', 'café', 'naïv']);
    expect(analyze('the of and')).toEqual([]);
    expect(ENGLISH_STOPWORDS.size).toBe(33);
  });

  it('can keep stopwords or skip stemming', () => {
    expect(englishAnalyzer({ stopwords: new Set(), stem: false })('The cats')).toEqual(['the', 'cats']);
  });

  it('Porter stems like the reference implementation', () => {
    const cases: Record<string, string> = {
      caresses: 'caress', ponies: 'poni', ties: 'ti', caress: 'caress', cats: 'cat', feed: 'feed', agreed: 'agre',
      plastered: 'plaster', bled: 'bled', motoring: 'motor', sing: 'sing', conflated: 'conflat', troubled: 'troubl',
      sized: 'size', hopping: 'hop', tanned: 'tan', falling: 'fall', hissing: 'hiss', fizzed: 'fizz', failing: 'fail',
      filing: 'file', happy: 'happi', sky: 'sky', relational: 'relat', conditional: 'condit', rational: 'ration',
      valenci: 'valenc', digitizer: 'digit', conformabli: 'conform', radicalli: 'radic', differentli: 'differ',
      vileli: 'vile', analogousli: 'analog', vietnamization: 'vietnam', predication: 'predic', operator: 'oper',
      feudalism: 'feudal', decisiveness: 'decis', hopefulness: 'hope', callousness: 'callous', formaliti: 'formal',
      sensitiviti: 'sensit', sensibiliti: 'sensibl', triplicate: 'triplic', formative: 'form', formalize: 'formal',
      electriciti: 'electr', electrical: 'electr', hopeful: 'hope', goodness: 'good', revival: 'reviv',
      allowance: 'allow', inference: 'infer', airliner: 'airlin', gyroscopic: 'gyroscop', adjustable: 'adjust',
      defensible: 'defens', irritant: 'irrit', replacement: 'replac', adjustment: 'adjust', dependent: 'depend',
      adoption: 'adopt', homologou: 'homolog', communism: 'commun', activate: 'activ', angulariti: 'angular',
      homologous: 'homolog', effective: 'effect', bowdlerize: 'bowdler', probate: 'probat', rate: 'rate',
      cease: 'ceas', controll: 'control', roll: 'roll', generalizations: 'gener', oscillators: 'oscil',
      is: 'is', a: 'a', analogi: 'analog', sensible: 'sensibl',
    };
    for (const [w, s] of Object.entries(cases)) expect(porterStem(w), w).toBe(s);
  });
});

describe('BM25 scores', () => {
  // Analyzed: d1 = [cat, sat, mat] (3), d2 = [cat, chase, dog] (3), d3 = [dog] (1), d4 = [bird, bird] (2)
  const docs = [
    { id: 'd1', text: 'The cat sat on the mat' },
    { id: 'd2', text: 'Cats chase dogs' },
    { id: 'd3', text: 'a dog' },
    { id: 'd4', text: 'bird, bird' },
  ];
  const N = 4;
  const avgdl = (3 + 3 + 1 + 2) / 4;
  const idf = (df: number) => Math.log(1 + (N - df + 0.5) / (df + 0.5));
  const term = (tf: number, dl: number, k1: number, b: number) => (tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * dl) / avgdl));

  it('default parameters are k1 = 0.9, b = 0.4', () => {
    const index = Bm25Index.build(docs);
    expect([index.k1, index.b]).toEqual([0.9, 0.4]);
    expect(index.avgdl).toBe(avgdl);
    expect(index.idf('cat')).toBeCloseTo(idf(2), 12);
  });

  it('score() equals the formula for every document', () => {
    const index = Bm25Index.build(docs, { k1: 1.2, b: 0.75 });
    const s = index.score('cat', ['d1', 'd2', 'd3', 'd4']);
    expect(s[0]).toBeCloseTo(idf(2) * term(1, 3, 1.2, 0.75), 10);
    expect(s[1]).toBeCloseTo(idf(2) * term(1, 3, 1.2, 0.75), 10);
    expect(s[2]).toBe(0);
    expect(s[3]).toBe(0);
    const bird = index.score('birds', ['d4'])[0];
    expect(bird).toBeCloseTo(idf(1) * term(2, 2, 1.2, 0.75), 10);
  });

  it('sums over query terms and counts repeated query terms', () => {
    const index = Bm25Index.build(docs);
    const [d2, d3] = index.score('dog dogs cat', ['d2', 'd3']);
    expect(d2).toBeCloseTo(2 * idf(2) * term(1, 3, 0.9, 0.4) + idf(2) * term(1, 3, 0.9, 0.4), 10);
    expect(d3).toBeCloseTo(2 * idf(2) * term(1, 1, 0.9, 0.4), 10);
  });

  it('search ranks by score, ties by insertion order, and only returns matching documents', () => {
    const index = Bm25Index.build(docs);
    const hits = index.search('dog cat', 10);
    expect(hits.map((h) => h.id)).toEqual(['d2', 'd3', 'd1']);
    expect(hits[0].score).toBeCloseTo(index.score('dog cat', ['d2'])[0], 12);
    expect(index.search('cat', 1).map((h) => h.id)).toEqual(['d1']); // d1 and d2 tie
    expect(index.search('unknownword', 5)).toEqual([]);
  });

  it('b = 0 ignores document length; k1 = 0 ignores tf', () => {
    const noLen = Bm25Index.build(docs, { b: 0 });
    const [s2, s3] = noLen.score('dog', ['d2', 'd3']);
    expect(s2).toBeCloseTo(s3, 12);
    const noTf = Bm25Index.build(docs, { k1: 0 });
    expect(noTf.score('bird', ['d4'])[0]).toBeCloseTo(idf(1), 12);
  });

  it('rejects unknown ids and bad parameters', () => {
    expect(() => Bm25Index.build(docs).score('cat', ['nope'])).toThrow(/unknown document id/);
    expect(() => new Bm25Builder({ b: 2 })).toThrow(RangeError);
    expect(() => Bm25Index.build(docs).search('cat', 0)).toThrow(RangeError);
  });
});

describe('search agrees with brute-force scoring', () => {
  it('top-k from the heap equals sorting score() over all documents', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const vocab = Array.from({ length: 60 }, (_, i) => `w${i}x`);
    const word = () => vocab[Math.floor(rand() ** 2 * vocab.length)];
    const docs = Array.from({ length: 400 }, (_, i) => ({ id: `doc${i}`, text: Array.from({ length: 3 + Math.floor(rand() * 20) }, word).join(' ') }));
    const index = Bm25Index.build(docs);
    for (let q = 0; q < 20; q++) {
      const query = Array.from({ length: 1 + Math.floor(rand() * 4) }, word).join(' ');
      const all = index.score(query, docs.map((d) => d.id));
      const expected = docs
        .map((d, i) => ({ i, s: all[i] }))
        .filter((x) => x.s > 0)
        .sort((a, b) => b.s - a.s || a.i - b.i)
        .slice(0, 15);
      const hits = index.search(query, 15);
      expect(hits.map((h) => h.index)).toEqual(expected.map((x) => x.i));
      hits.forEach((h, j) => expect(h.score).toBeCloseTo(expected[j].s, 9));
    }
  });
});
