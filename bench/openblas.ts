/**
 * OpenBLAS sgemm as an outside reference for the GEMM bench. Bench-only: when Debian's
 * libopenblas-dev is installed, bench/openblas/sgemm_ref.c is compiled once into .bench-cache/
 * and run for one shape at a time; otherwise the reference is simply absent from the table.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../lib/kernels/loader';

export interface OpenblasResult {
  median_ms: number;
  gflops: number;
}

let binary: string | null | undefined;

function build(): string | null {
  if (binary !== undefined) return binary;
  binary = null;
  const root = packageRoot();
  const src = path.join(root, 'bench', 'openblas', 'sgemm_ref.c');
  if (!fs.existsSync(src)) return null;
  const out = path.join(root, '.bench-cache', 'sgemm_ref');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const r = spawnSync('cc', ['-O2', src, '-o', out, '-lopenblas', '-lm', '-lpthread'], { encoding: 'utf8' });
  if (r.status === 0) binary = out;
  return binary;
}

const results = new Map<string, OpenblasResult[]>();

/** Times cblas_sgemm for (m, k, n) with both trans_b settings (once per shape), returns the one asked for. */
export function openblasSgemm(s: { m: number; n: number; k: number; transB: boolean }, threads: number): OpenblasResult | null {
  const exe = build();
  if (!exe) return null;
  const key = `${s.m}x${s.k}x${s.n}/${threads}`;
  if (!results.has(key)) {
    const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
    const r = spawnSync(exe, [String(s.m), String(s.k), String(s.n)], { encoding: 'utf8', env, timeout: 300_000 });
    const rows: OpenblasResult[] = [];
    if (r.status === 0) {
      for (const line of r.stdout.trim().split('\n')) {
        try {
          const j = JSON.parse(line);
          rows[j.trans_b ? 1 : 0] = { median_ms: j.median_ms, gflops: j.gflops };
        } catch {
          /* not a result line */
        }
      }
    }
    results.set(key, rows);
  }
  return results.get(key)![s.transB ? 1 : 0] ?? null;
}
