/**
 * The conformance suite's fixtures (issue 12): the case table (cases.json, one row per model
 * folder), the Python check (python3 with torch, transformers, sentence-transformers, …), and the
 * folders make_models.py writes, generated once and shared by every test file of the suite.
 *
 * The folders live in one cache folder under os.tmpdir(), keyed by the hash of make_models.py,
 * cases.json and the Python packages' versions: the first test file to need them generates them
 * (a lock folder keeps the others waiting rather than generating twice on the same two cores), the
 * rest reuse them. Environment:
 *
 *   SYNTHTUNE_CONFORMANCE_PYTHON   the Python to run (default python3)
 *   SYNTHTUNE_CONFORMANCE_QUICK=1  only the rows marked quick
 *   SYNTHTUNE_CONFORMANCE_DIR      use this folder (made by make_models.py) instead of the cache
 *
 * Without python3 or without the packages every test of the suite is skipped with a message.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PythonServer } from '../helpers/python';

export const HERE = __dirname;
export const MAKE_MODELS = path.join(HERE, 'make_models.py');
export const ROUNDTRIP = path.join(HERE, 'roundtrip.py');
const CASES_FILE = path.join(HERE, 'cases.json');

/** Tolerances of issue 12 (max abs difference, fp32). */
export const TOL = { onnx: 1e-5, native: 1e-4, roundtrip: 1e-5 } as const;

export type Arch = 'bert' | 'distilbert' | 'xlm-roberta' | 'roberta' | 'mpnet';
export type PoolingMode = 'cls' | 'mean' | 'max' | 'mean_sqrt_len_tokens' | 'weightedmean' | 'lasttoken';

/** One row of cases.json. */
export interface CaseRow {
  name: string;
  kind: 'bi' | 'cross';
  arch: Arch;
  tokenizer: 'wordpiece' | 'unigram' | 'bpe';
  /** One mode, or several (concatenated). */
  pooling?: PoolingMode | PoolingMode[];
  dense?: 'tanh' | 'identity' | null;
  normalize?: boolean;
  format: 'st6' | 'legacy';
  exporter: 'torchscript' | 'dynamo' | 'none';
  prompts?: boolean;
  includePrompt?: boolean;
  defaultPromptName?: string;
  maxSeqLength: number;
  quick?: boolean;
  native?: boolean;
  roundtrip?: boolean;
  /** A reason disables the row in the tests. */
  skip?: string;
}

/** One case of manifest.json: the row plus what make_models.py recorded. */
export interface ManifestCase extends CaseRow {
  folder: string;
  dim?: number;
  numLabels?: number;
  hasTokenTypeIds: boolean;
  modules?: string[];
  prompts?: boolean;
  /** bi: default / query / document embeddings (rows of dim); cross: logits. */
  outputs: { default?: number[][]; query?: number[][]; document?: number[][]; noprompt?: number[][]; encode_query?: number[][]; encode_document?: number[][]; logits?: number[] };
}

export interface Manifest {
  versions: Record<string, string>;
  texts: string[];
  pairs: [string, string][];
  cases: (ManifestCase & { prompts: Record<string, string> | null })[];
}

export const QUICK = process.env.SYNTHTUNE_CONFORMANCE_QUICK === '1';
export const PYTHON = process.env.SYNTHTUNE_CONFORMANCE_PYTHON || 'python3';

/** The rows of cases.json that this run covers (all, or the quick ones). */
export function caseRows(filter?: (c: CaseRow) => boolean): CaseRow[] {
  const rows = (JSON.parse(fs.readFileSync(CASES_FILE, 'utf8')) as { cases: CaseRow[] }).cases;
  return rows.filter((c) => (!QUICK || c.quick) && (!filter || filter(c)));
}

const MODULES = ['torch', 'transformers', 'sentence_transformers', 'tokenizers', 'safetensors', 'onnx', 'onnxscript', 'onnxruntime'];

let pyCache: { ok: boolean; reason: string; versions: string } | null = null;

/** Whether the Python side can run: python3 and every package make_models.py imports. */
export function pythonStatus(): { ok: boolean; reason: string; versions: string } {
  if (pyCache) return pyCache;
  const code = `import importlib, json\nv = {}\nfor m in ${JSON.stringify(MODULES)}:\n    v[m] = getattr(importlib.import_module(m), '__version__', '?')\nprint(json.dumps(v))`;
  const r = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) {
    pyCache = { ok: false, reason: `${PYTHON} not found (${r.error.message})`, versions: '' };
  } else if (r.status !== 0) {
    const last = (r.stderr || '').trim().split('\n').pop() ?? '';
    pyCache = { ok: false, reason: `${PYTHON} cannot import the packages it needs (${MODULES.join(', ')}): ${last}`, versions: '' };
  } else {
    pyCache = { ok: true, reason: '', versions: r.stdout.trim() };
  }
  return pyCache;
}

/** Prints why the suite is skipped (once per file) and returns whether it runs. */
export function suiteEnabled(file: string): boolean {
  const py = pythonStatus();
  if (!py.ok) {
    console.log(`conformance (${file}) skipped: ${py.reason}. Install with: pip install torch transformers sentence-transformers safetensors onnx onnxruntime onnxscript (CI: PIP_INDEX_URL=file:///opt/pypi/simple)`);
  }
  return py.ok;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: '1' } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let fixtures: Promise<{ dir: string; manifest: Manifest }> | null = null;

/**
 * The generated folders and manifest: SYNTHTUNE_CONFORMANCE_DIR, or the shared cache folder
 * (generated here when missing).
 */
export function conformanceFixtures(): Promise<{ dir: string; manifest: Manifest }> {
  fixtures ??= (async () => {
    const given = process.env.SYNTHTUNE_CONFORMANCE_DIR;
    const dir = given || (await generateShared());
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
    console.log(`conformance fixtures: ${dir} (${manifest.cases.length} cases; ${Object.entries(manifest.versions).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    return { dir, manifest };
  })();
  return fixtures;
}

/** A lock left by a process that no longer runs (or, without a readable pid, older than 15 minutes). */
function lockIsStale(lock: string): boolean {
  let pid = NaN;
  try {
    pid = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8').trim());
  } catch {
    // not written yet (the owner is between mkdir and writeFile), or the lock is gone
  }
  if (Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
  return age > 15 * 60_000;
}

/** Cache folders of other script versions, untouched for a day, are removed (each is ~10 MB). */
function removeOldCaches(keep: string): void {
  const root = path.dirname(keep);
  for (const name of fs.readdirSync(root)) {
    if (!/^synthtune-conformance-[0-9a-f]{16}$/.test(name) || path.join(root, name) === keep) continue;
    const st = fs.statSync(path.join(root, name), { throwIfNoEntry: false });
    if (st && Date.now() - st.mtimeMs > 24 * 3600_000) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  }
}

async function generateShared(): Promise<string> {
  const h = createHash('sha256');
  for (const f of [MAKE_MODELS, CASES_FILE]) h.update(fs.readFileSync(f));
  h.update(pythonStatus().versions);
  h.update(QUICK ? 'quick' : 'all');
  const dir = path.join(os.tmpdir(), `synthtune-conformance-${h.digest('hex').slice(0, 16)}`);
  const done = path.join(dir, 'manifest.json');
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 15 * 60_000;
  while (!fs.existsSync(done)) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
    } catch {
      // someone else is generating: wait for them (a lock whose process is gone is stale)
      if (lockIsStale(lock)) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`conformance: timed out waiting for ${lock}`);
      await sleep(1000);
      continue;
    }
    try {
      if (fs.existsSync(done)) break;
      const tmp = `${dir}.tmp-${process.pid}`;
      fs.rmSync(tmp, { recursive: true, force: true });
      const t0 = performance.now();
      const r = await run(PYTHON, [MAKE_MODELS, tmp, ...(QUICK ? ['--quick'] : [])], 10 * 60_000);
      if (r.code !== 0) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw new Error(`conformance: ${PYTHON} ${MAKE_MODELS} failed (exit ${r.code}):\n${r.err.split('\n').slice(-30).join('\n')}`);
      }
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(tmp, dir);
      console.log(`conformance: generated the fixtures in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      removeOldCaches(dir);
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
  return dir;
}

/** Runs roundtrip.py on an exported folder: what sentence-transformers (and AutoModel) compute on it. */
export async function roundtrip(folder: string, texts: string[]): Promise<{
  sentence_transformers: number[][] | null;
  encode_error?: string;
  encode_query: number[][];
  encode_document: number[][];
  modules: string[];
  max_seq_length: number | null;
  prompts: Record<string, string>;
  prompt_embeddings: Record<string, number[][]>;
  prompt_errors?: Record<string, string>;
  automodel: { cls?: number[][]; mean?: number[][]; error?: string };
}> {
  const r = await roundtripServer.request<Awaited<ReturnType<typeof roundtrip>>>({ folder, texts });
  if (!r.ok) throw new Error(`roundtrip.py ${folder} failed:\n${r.error}`);
  return r.out;
}

/** One roundtrip.py --serve process per test file; stopRoundtripServer() ends it. */
const roundtripServer = new PythonServer(PYTHON, ROUNDTRIP, { OMP_NUM_THREADS: '1' });

export function stopRoundtripServer(): void {
  roundtripServer.stop();
}

/** Row-major Float32Array of a list of rows. */
export function flat(rows: number[][]): Float32Array {
  const d = rows[0]?.length ?? 0;
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(r, i * d));
  return out;
}

/** Max |a - b| (NaN and length mismatch count as Infinity), and the row where it is largest. */
export function diff(got: ArrayLike<number>, want: ArrayLike<number>, dim = 1): { max: number; row: number } {
  if (got.length !== want.length) return { max: Infinity, row: -1 };
  let max = 0;
  let row = -1;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= max)) {
      max = Number.isNaN(d) ? Infinity : d;
      row = Math.floor(i / dim);
    }
  }
  return { max, row };
}

/** One line per comparison, printed whether it passes or fails (the suite's report). */
export function report(what: string, got: ArrayLike<number>, want: ArrayLike<number>, dim: number, tol: number, texts?: string[]): number {
  const { max, row } = diff(got, want, dim);
  const head = (x: ArrayLike<number>, r: number) => Array.from({ length: Math.min(3, dim) }, (_, i) => Number(x[Math.max(r, 0) * dim + i]).toFixed(5)).join(', ');
  const where = row >= 0 && texts ? ` worst row ${row} "${texts[row].slice(0, 30)}"` : '';
  const len = got.length === want.length ? '' : ` (length ${got.length} vs ${want.length})`;
  console.log(`${max <= tol ? 'PASS' : 'FAIL'} ${what}: max abs diff ${max.toExponential(2)} (tol ${tol})${len}${where} got [${head(got, row)}] want [${head(want, row)}]`);
  if (!(max <= tol) && got.length === want.length && dim > 0) {
    const rows = Array.from({ length: got.length / dim }, (_, r) => diff(Array.from(got).slice(r * dim, (r + 1) * dim), Array.from(want).slice(r * dim, (r + 1) * dim)).max);
    console.log(`  per row: ${rows.map((d) => d.toExponential(1)).join(' ')}`);
  }
  return max;
}
