/** Argument and result types shared by every kernel backend (native CPU, CUDA, pure TS). */

/**
 * Batched GEMM: for each b < batch, C_b = alpha·A_b·op(B_b) + beta·C_b.
 * A_b is (m, k); op(B_b) is (k, n): B_b stored (k, n), or (n, k) when transB is set; C_b is (m, n).
 * All row-major float32, batches packed one after another.
 */
export interface GemmArgs {
  m: number;
  n: number;
  k: number;
  /** Number of independent products (default 1). */
  batch?: number;
  /** Use Bᵀ: B is stored (n, k), as embeddings usually are. */
  transB?: boolean;
  /** Default 1. */
  alpha?: number;
  /** Default 0; when 0 the old contents of c are ignored. */
  beta?: number;
  /** Output buffer (batch·m·n); allocated when absent. Required when beta ≠ 0. */
  c?: Float32Array;
  /** Threads for the CPU kernels (default: all cores, or SYNTHTUNE_THREADS). */
  threads?: number;
}

/** Top-k inner-product search of Q query vectors against N corpus vectors of dimension dim. */
export interface TopKArgs {
  /** Vector dimension D; queries.length = Q·D and corpus.length = N·D. */
  dim: number;
  /** Results kept per query (≥ 1). k > N returns N results (plus -1 padding, see TopKResult). */
  k: number;
  /** Per query, corpus ids never to return for that query (e.g. the query's own id, known positives). */
  exclude?: ReadonlyArray<ArrayLike<number> | null | undefined>;
  threads?: number;
}

export interface TopKResult {
  /** Columns per query in indices/scores: min(k, N). */
  k: number;
  /** (Q, k) corpus indices, best first; -1 where fewer than k candidates remained after exclusion. */
  indices: Int32Array;
  /** (Q, k) scores matching indices; -Infinity in unfilled slots. */
  scores: Float32Array;
}
