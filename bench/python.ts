/**
 * The Python interpreter that runs the benches' outside references (bench/pytorch/: PyTorch +
 * sentence-transformers, faiss): SYNTHTUNE_BENCH_PYTHON, else .bench-venv/ (`npm run
 * bench:pytorch-env`), else python3, when it can import the modules asked for. Not in --quick
 * unless SYNTHTUNE_BENCH_PYTHON is set. Bench-only; never a runtime dependency.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const probes = new Map<string, { python: string | null; why: string }>();

/** The Python that can import `modules` (e.g. ['torch', 'sentence_transformers']), or why there is none. */
export function referencePython(modules: string[], quick: boolean): { python: string | null; why: string } {
  // (from dist/bench when built, from bench/ when run from the sources)
  const venv = [path.resolve(__dirname, '..', '..', '.bench-venv', 'bin', 'python'), path.resolve(__dirname, '..', '.bench-venv', 'bin', 'python')].find((f) => fs.existsSync(f));
  const explicit = process.env.SYNTHTUNE_BENCH_PYTHON;
  if (!explicit && quick) return { python: null, why: 'not in --quick (set SYNTHTUNE_BENCH_PYTHON to run it)' };
  const python = explicit || venv || 'python3';
  const key = `${python}|${modules.join(',')}`;
  const known = probes.get(key);
  if (known) return known;
  const probe = spawnSync(python, ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8', timeout: 120_000 });
  let r: { python: string | null; why: string };
  if (probe.error) r = { python: null, why: `${python} cannot run (${probe.error.message})` };
  else if (probe.status !== 0) {
    const last = (probe.stderr || '').trim().split('\n').pop() ?? '';
    r = { python: null, why: `${python} cannot import ${modules.join(' and ')} (${last})` };
  } else r = { python, why: '' };
  probes.set(key, r);
  return r;
}

/**
 * Runs a script of bench/pytorch/ that prints one JSON object on a line of its own; that object,
 * or why there is none (the exit status and the last line of stderr).
 */
export function runReferenceScript<T>(python: string, script: string, args: string[], timeoutMs: number): { json: T | null; why: string } {
  const r = spawnSync(python, [referenceScript(script), ...args], { encoding: 'utf8', timeout: timeoutMs });
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) return { json: null, why: `${script} failed (exit ${r.status}): ${(r.stderr || '').trim().split('\n').pop()}` };
  return { json: JSON.parse(line) as T, why: '' };
}

/** A file of bench/pytorch/ (from dist/bench when built, from bench/ when run from the sources). */
export function referenceScript(name: string): string {
  const built = path.resolve(__dirname, '..', '..', 'bench', 'pytorch', name);
  return fs.existsSync(built) ? built : path.resolve(__dirname, 'pytorch', name);
}
