/**
 * faiss IndexFlatIP as an outside reference for the top-k bench (like OpenBLAS for GEMM): run by
 * bench/pytorch/faiss_topk.py on the bench's own data when a Python that imports faiss is present
 * (bench/python.ts); otherwise the row is absent and the log says why. Bench-only.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { referencePython, runReferenceScript } from './python';

export interface FaissResult {
  median_ms: number;
  queries_per_s: number;
  version: string;
}

/** Times faiss IndexFlatIP.search(queries, k) with `threads` threads; null (and why) when faiss is missing. */
export function faissTopk(queries: Float32Array, corpus: Float32Array, dim: number, k: number, threads: number, quick: boolean): { result: FaissResult | null; why: string } {
  const py = referencePython(['faiss', 'numpy'], quick);
  if (!py.python) return { result: null, why: py.why };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synthtune-faiss-'));
  try {
    const qf = path.join(dir, 'queries.f32');
    const cf = path.join(dir, 'corpus.f32');
    fs.writeFileSync(qf, Buffer.from(queries.buffer, queries.byteOffset, queries.byteLength));
    fs.writeFileSync(cf, Buffer.from(corpus.buffer, corpus.byteOffset, corpus.byteLength));
    const args = ['--queries', qf, '--corpus', cf, '--dim', String(dim), '--k', String(k), '--threads', String(threads)];
    const { json: j, why } = runReferenceScript<{ median_ms: number; queries_per_s: number; faiss: string }>(py.python, 'faiss_topk.py', args, 600_000);
    if (!j) return { result: null, why };
    return { result: { median_ms: j.median_ms, queries_per_s: j.queries_per_s, version: j.faiss }, why: '' };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
