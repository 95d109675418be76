/**
 * lib/evaluation: retrieval metrics (trec/BEIR and Finetuner-docarray conventions), the dense
 * evaluator on the top-k kernel, and the BM25 baseline/teacher with its English analyzer.
 */
export * from './metrics';
export { evaluate, evaluateRankings, encodeAll, l2Normalize, type EmbeddingInput, type Encoder, type EncoderInput, type Evaluation, type Ranked } from './evaluator';
export { Bm25Builder, Bm25Index, type Bm25Hit, type Bm25Params } from './bm25';
export { englishAnalyzer, tokenize, ENGLISH_STOPWORDS, type Analyzer } from './analyzer';
export { porterStem } from './porter';
