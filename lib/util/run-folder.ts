/**
 * Run folders, the part synthesis (lib/synthesis) and fit (lib/training/fit.ts) share:
 *
 *   status.json   one schema: {format, kind: 'synthesis' | 'fit', state: CREATED | STARTED |
 *                 FINISHED | FAILED, stage?, progress?, pid, host, updatedAt, error?, ...kind's own}
 *   lock          one live process per folder; a dead owner's lock is taken over (folder-lock.ts)
 *   .*.tmp        temporary files of killed writers, removed when a run claims the folder
 *   checkpoints and outputs: checksummed safetensors (lib/util/safetensors.ts), read back with
 *                 readTensors / readTensor, which check the checksum, the dtype and the length
 *   fingerprint   what changes the result — the data's content hash, the base model's identity,
 *                 the options, the format version — compared on resume, the difference said in
 *                 words (fit: compareFingerprint on checkpoint.bin's; synthesis: config.json's
 *                 key and format, lib/synthesis/index.ts)
 *
 * Every problem with a folder is a RunError naming the file and the way out: `--restart`
 * (discard the folder's state and start over) or another `--out`. Nothing here guesses: a folder
 * of another kind, another format version or another run is refused, never reused silently.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fsp } from 'node:fs';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic';
import { RunError } from './errors';
import { lockFolder, pidAlive, removeStaleTemps } from './folder-lock';
import { decodeSafetensors, encodeSafetensors, SafetensorsFormatError, tensor1d, type Tensor, type TensorData } from './safetensors';

export { FolderInUseError, lockFolder, pidAlive } from './folder-lock';

/** Version of the run-folder layout and file formats; a folder of another version is refused. */
export const RUN_FORMAT = 2;

export type RunKind = 'synthesis' | 'fit';
export type RunState = 'CREATED' | 'STARTED' | 'FINISHED' | 'FAILED';
export const STATUS_FILE = 'status.json';

export interface RunStatusFile {
  format: number;
  kind: RunKind;
  state: RunState;
  stage?: string;
  progress?: number;
  pid: number;
  host: string;
  updatedAt: string;
  error?: string;
  [extra: string]: unknown;
}

/** The way out of a folder that cannot be used as asked. */
export const WAY_OUT = 'use --restart to discard it and start over, or another --out';

const CLI_NAME: Record<RunKind, string> = { synthesis: 'synthtune synthesize', fit: 'synthtune fit' };

/** A folder that belongs to something else (the other kind of run, an unknown program): never reused, not even with --restart. */
export class ForeignFolderError extends RunError {
  constructor(file: string, message: string) {
    super(file, message);
    this.name = 'ForeignFolderError';
  }
}

/** A RunError for a file of a run folder: "<file>: <problem>; <way out>". */
export function runFileError(file: string, problem: string, wayOut = WAY_OUT): RunError {
  return new RunError(file, `${file}: ${problem}; ${wayOut}`);
}

/** A status record of this process (pid, host, time), ready to write. */
export function statusRecord(kind: RunKind, state: RunState, extra: Partial<RunStatusFile> = {}): RunStatusFile {
  return { format: RUN_FORMAT, kind, ...extra, state, pid: process.pid, host: os.hostname(), updatedAt: new Date().toISOString() };
}

export async function writeStatus(folder: string, status: RunStatusFile): Promise<void> {
  await writeJsonAtomic(path.join(folder, STATUS_FILE), status);
}

/** Reads a JSON file of a run folder; damaged JSON is a RunError naming it and the way out. */
export async function readRunJson<T>(file: string): Promise<T> {
  const text = await fsp.readFile(file, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw runFileError(file, `damaged JSON (${(e as Error).message})`);
  }
}

/**
 * The folder's status.json as `kind` expects it, or null when there is none. A damaged file, a
 * folder of the other kind (a fit folder given to synthesize and the reverse), a file of an older
 * synthtune or a newer one: RunError naming status.json and the way out.
 */
export async function readStatus(folder: string, kind: RunKind, opts: { tolerateDamaged?: boolean } = {}): Promise<RunStatusFile | null> {
  const file = path.join(folder, STATUS_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let s: Partial<RunStatusFile> & { status?: unknown };
  try {
    s = JSON.parse(text);
  } catch (e) {
    if (opts.tolerateDamaged) return null;
    throw runFileError(file, `damaged JSON (${(e as Error).message})`);
  }
  if (!s || typeof s !== 'object' || Array.isArray(s)) {
    if (opts.tolerateDamaged) return null;
    throw runFileError(file, 'damaged: not a JSON object');
  }
  if (s.kind === 'fit' || s.kind === 'synthesis') {
    if (s.kind !== kind) throw foreign(file, kind, `this is a ${s.kind} run folder (written by ${CLI_NAME[s.kind]}), not a ${kind} run folder`);
  } else if (s.kind !== undefined) {
    throw runFileError(file, `damaged: unknown kind ${JSON.stringify(s.kind)}`);
  }
  if (s.format === undefined) {
    // synthesis status files before format 2 had `status`, fit's had a lowercase `state`
    // (a current file whose `format` key was damaged has `kind`, and synthesis's has `state` too)
    const legacyKind = s.kind !== undefined ? null : typeof s.status === 'string' && s.state === undefined ? 'synthesis' : typeof s.state === 'string' && /^[a-z_]+$/.test(s.state) ? 'fit' : null;
    if (legacyKind && legacyKind !== kind) throw foreign(file, kind, `this is a ${legacyKind} run folder (written by ${CLI_NAME[legacyKind]}), not a ${kind} run folder`);
    if (legacyKind) throw runFileError(file, `written by an older synthtune (run-folder format 1; this version reads format ${RUN_FORMAT})`);
    throw runFileError(file, s.kind !== undefined ? 'damaged: no format version' : 'not a synthtune status file (no format, no kind)');
  }
  if (s.format !== RUN_FORMAT) {
    const newer = typeof s.format === 'number' && s.format > RUN_FORMAT;
    throw runFileError(file, `written in run-folder format ${JSON.stringify(s.format)}, this synthtune reads format ${RUN_FORMAT}${newer ? ' (a newer synthtune wrote it: upgrade to resume it)' : ''}`);
  }
  if (s.kind === undefined || !['CREATED', 'STARTED', 'FINISHED', 'FAILED'].includes(s.state as string)) throw runFileError(file, `damaged: state ${JSON.stringify(s.state)}, kind ${JSON.stringify(s.kind)}`);
  return s as RunStatusFile;
}

/** The error for a folder of something else: the way out is another --out. */
export function foreign(file: string, kind: RunKind, problem: string): ForeignFolderError {
  return new ForeignFolderError(file, `${file}: ${problem}; choose another --out (${CLI_NAME[kind]} does not reuse or delete it, not even with --restart)`);
}

/** A status whose STARTED process is gone (killed, crashed) on this host reads as FAILED. */
export function liveState(s: RunStatusFile): RunStatusFile {
  if (s.state === 'STARTED' && s.pid && s.host === os.hostname() && s.pid !== process.pid && !pidAlive(s.pid)) {
    return { ...s, state: 'FAILED', error: `process ${s.pid} ended before the run finished; run it again with the same arguments to resume` };
  }
  return s;
}

/**
 * Claims a folder for this process: the lock (a live owner → FolderInUseError; a dead one's lock
 * is taken over), then the temporary files killed writers left (recursively). Returns the release.
 */
export async function claimFolder(folder: string): Promise<{ release: () => Promise<void>; removedTemps: string[] }> {
  const release = await lockFolder(folder, 'lock');
  try {
    return { release, removedTemps: await removeTempsRecursive(folder) };
  } catch (e) {
    await release();
    throw e;
  }
}

/** Removes `.<name>.<pid>.<hex>.tmp` files of dead writers in a folder and its subfolders. */
export async function removeTempsRecursive(folder: string): Promise<string[]> {
  const removed = (await removeStaleTemps(folder)).map((f) => path.join(folder, f));
  const entries = await fsp.readdir(folder, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) removed.push(...(await removeTempsRecursive(path.join(folder, e.name))));
  return removed;
}

/** Empties a folder of its run state (every entry but the lock), for --restart. */
export async function clearFolder(folder: string, keep: string[] = ['lock']): Promise<void> {
  const entries = await fsp.readdir(folder).catch(() => [] as string[]);
  for (const e of entries) if (!keep.includes(e)) await fsp.rm(path.join(folder, e), { recursive: true, force: true });
}

// ---- fingerprints ------------------------------------------------------------------------------

/** What changes a run's result: compared field by field on resume. */
export interface Fingerprint {
  format: number;
  /** Content hash of the data. */
  data: string;
  /** Identity of the base model(s) (content hash of the files, or of the initial weights). */
  model: string;
  /** Every option that changes the result. */
  options: Record<string, unknown>;
}

/** What differs between two fingerprints, in words ([] when they match). */
export function fingerprintDifferences(want: Fingerprint, got: Partial<Fingerprint>): string[] {
  const out: string[] = [];
  if (got.format !== want.format) out.push(`format version (${JSON.stringify(got.format)} there, ${want.format} now)`);
  if (got.data !== want.data) out.push('data');
  if (got.model !== want.model) out.push('model');
  const a = want.options;
  const b = (got.options ?? {}) as Record<string, unknown>;
  const opts = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  if (opts.length) out.push(`options (${opts.join(', ')})`);
  return out;
}

/** A RunError when the folder (file) holds another run than `want`. */
export function compareFingerprint(file: string, kind: RunKind, want: Fingerprint, got: Partial<Fingerprint>, wayOut = WAY_OUT): void {
  const diff = fingerprintDifferences(want, got);
  if (diff.length) throw runFileError(file, `holds another ${kind} run (differs in: ${diff.join('; ')})`, wayOut);
}

// ---- tensor files ------------------------------------------------------------------------------

/** Writes tensors (and string metadata) atomically as checksummed safetensors. */
export async function writeTensors(file: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/** Writes one typed array as a checksummed safetensors file (tensor 'values'). */
export function writeTensor(file: string, data: TensorData): Promise<void> {
  return writeTensors(file, { values: tensor1d(data) });
}

/** Reads and verifies a checksummed safetensors file of a run folder; problems are RunErrors. */
export async function readTensors(file: string, wayOut = WAY_OUT): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const buf = await fsp.readFile(file);
  try {
    return decodeSafetensors(buf);
  } catch (e) {
    if (!(e instanceof SafetensorsFormatError)) throw e;
    throw runFileError(file, e.legacy ? `${e.reason}; this version reads checksummed safetensors` : e.reason, wayOut);
  }
}

/**
 * Reads one typed array written by writeTensor, checking its dtype and (with `expected`) its
 * length: a checkpoint of another plan is a RunError, never values of the wrong run.
 */
export async function readTensor<T extends TensorData>(file: string, ctor: { new (n: number): T; name: string }, expected?: number, wayOut = WAY_OUT): Promise<T> {
  const { tensors } = await readTensors(file, wayOut);
  const t = tensors.values;
  if (!t) throw runFileError(file, `holds no 'values' tensor (${Object.keys(tensors).join(', ') || 'no tensors'})`, wayOut);
  if (!(t.data instanceof ctor)) throw runFileError(file, `holds ${t.dtype} values, expected ${ctor.name}`, wayOut);
  if (expected !== undefined && t.data.length !== expected) throw runFileError(file, `holds ${t.data.length} values, expected ${expected} (a checkpoint of another plan)`, wayOut);
  return t.data as T;
}
