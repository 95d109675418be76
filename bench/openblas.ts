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

export function openblasSgemm(s: { m: number; n: number; k: number; transB: boolean }, threads: number): OpenblasResult | null {
  const exe = build();
  if (!exe) return null;
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads) };
  const r = spawnSync(exe, [String(s.m), String(s.n), String(s.k), s.transB ? '1' : '0', String(threads)], {
    encoding: 'utf8',
    env,
    timeout: 120_000,
  });
  if (r.status !== 0) return null;
  const line = r.stdout.trim().split('\n').pop();
  try {
    const j = JSON.parse(line ?? '');
    return { median_ms: j.median_ms, gflops: j.gflops };
  } catch {
    return null;
  }
}
