/**
 * Run folders: the on-disk face of a synthesis, readable from any process.
 *
 *   config.json   every parameter, model identities and input fingerprints (resume checks it)
 *   status.json   lib/util/run-folder.ts's schema (kind 'synthesis'): CREATED / STARTED / FINISHED /
 *                 FAILED, stage, progress, pid; `status` repeats `state` for older readers
 *   logs.jsonl    one JSON object per line
 *   train.jsonl   the examples (run.trainData); train.csv on request
 *   generated-queries.jsonl   pseudo-queries made from the corpus {id, text, method, sourceDocId}, when asked for
 *   checkpoints/  embeddings, indexes, mined candidates and scores of finished batches
 *                 (checksummed safetensors; the HNSW graph with its .sha256)
 *   lock          the live process that writes the folder (lib/util/folder-lock.ts)
 *
 * Every file is replaced atomically (fsutil.writeAtomic), logs included: the whole log is
 * rewritten on each entry, so a reader never sees a torn line. `Run` is the read side
 * (Finetuner's run.status() / logs() / stream_logs()); `RunWriter` is used by the pipeline.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readLines } from '../data/lines';
import { exists, readJson, writeAtomic } from './fsutil';
import type { Example, LogEntry, RunState, RunStatus } from './types';
import { RunError } from '../util/errors';
import { lockFolder, pidAlive } from '../util/folder-lock';
import { liveState, readStatus, statusRecord, writeStatus, type RunStatusFile } from '../util/run-folder';

const fsp = fs.promises;

export const RUN_FILES = {
  config: 'config.json',
  status: 'status.json',
  logs: 'logs.jsonl',
  train: 'train.jsonl',
  csv: 'train.csv',
  generatedQueries: 'generated-queries.jsonl',
  lock: 'lock',
  checkpoints: 'checkpoints',
} as const;

/** Where named runs live: $SYNTHTUNE_RUNS_DIR, else ./synthtune-runs. */
export function runsDir(): string {
  return process.env.SYNTHTUNE_RUNS_DIR ?? path.resolve('synthtune-runs');
}

/** A folder path for a name or folder: an existing folder, a path, or <runsDir>/<name>. */
export function resolveRunFolder(nameOrFolder: string): string {
  const looksLikePath = nameOrFolder.includes('/') || nameOrFolder.includes(path.sep) || nameOrFolder.startsWith('.');
  if (looksLikePath || fs.existsSync(path.join(nameOrFolder, RUN_FILES.config))) return path.resolve(nameOrFolder);
  return path.join(runsDir(), nameOrFolder);
}

export { pidAlive };

/** status.json's record as the RunStatus of the API (`status` = `state`). */
export function asRunStatus(s: RunStatusFile): RunStatus {
  return { ...(s as unknown as RunStatus), status: s.state };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** logs.jsonl's entries; a damaged line is a RunError naming the file and the line. */
function parseLogLines(text: string, file: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as LogEntry);
    } catch (e) {
      throw new RunError(file, `${file}:${i + 1}: damaged log line (${(e as Error).message}); delete or repair the line (the log is not needed to resume)`);
    }
  }
  return out;
}

/** A synthesis run, live in this process or reconnected to with getRun(). */
export class Run {
  readonly folder: string;
  readonly name: string;
  /** Set for runs started in this process: settles when the run ends. */
  private readonly completion?: Promise<void>;

  constructor(folder: string, name?: string, completion?: Promise<void>) {
    this.folder = path.resolve(folder);
    this.name = name ?? path.basename(this.folder);
    this.completion = completion;
    // A failure is reported through status()/wait(); never as an unhandled rejection.
    completion?.catch(() => undefined);
  }

  /** Path of the output examples (JSON lines). */
  get trainData(): string {
    return path.join(this.folder, RUN_FILES.train);
  }

  /** Path of the optional Finetuner scored-pair CSV. */
  get csvData(): string {
    return path.join(this.folder, RUN_FILES.csv);
  }

  async config(): Promise<Record<string, unknown>> {
    return readJson(path.join(this.folder, RUN_FILES.config));
  }

  /** The stored status; a STARTED run whose process died on this host reads as FAILED. */
  async status(): Promise<RunStatus> {
    const s = await readStatus(this.folder, 'synthesis');
    if (!s) throw new RunError(path.join(this.folder, RUN_FILES.status), `no synthesis run at ${this.folder} (no ${RUN_FILES.status})`);
    return asRunStatus(liveState(s));
  }

  async logs(): Promise<LogEntry[]> {
    const file = path.join(this.folder, RUN_FILES.logs);
    if (!(await exists(file))) return [];
    return parseLogLines(await fsp.readFile(file, 'utf8'), file);
  }

  /** Yields every log entry, then follows the log until the run is FINISHED or FAILED. */
  async *streamLogs(opts: { pollMs?: number } = {}): AsyncGenerator<LogEntry> {
    const pollMs = opts.pollMs ?? 200;
    let seen = 0;
    for (;;) {
      const ended = await this.ended();
      const entries = await this.logs();
      for (; seen < entries.length; seen++) yield entries[seen];
      if (ended) return;
      await sleep(pollMs);
    }
  }

  private async ended(): Promise<boolean> {
    try {
      const s = await this.status();
      return s.status === 'FINISHED' || s.status === 'FAILED';
    } catch {
      return false;
    }
  }

  /** Resolves with the final status once the run ended (rejects with the error if it FAILED). */
  async wait(opts: { pollMs?: number } = {}): Promise<RunStatus> {
    if (this.completion) await this.completion;
    else while (!(await this.ended())) await sleep(opts.pollMs ?? 200);
    const s = await this.status();
    if (s.status === 'FAILED') throw new RunError(path.join(this.folder, RUN_FILES.status), `synthesis run ${this.name} failed: ${s.error ?? 'unknown error'} (${path.join(this.folder, RUN_FILES.status)}); run the same synthesis again to resume, or use --restart to start over`);
    return s;
  }

  /** Reads the examples back from train.jsonl. */
  async *examples(): AsyncGenerator<Example> {
    for await (const { text } of readLines(this.trainData)) if (text) yield JSON.parse(text);
  }
}

/** Reconnects to a run by folder or name (see resolveRunFolder). */
export async function getRun(nameOrFolder: string): Promise<Run> {
  const folder = resolveRunFolder(nameOrFolder);
  if (!(await exists(path.join(folder, RUN_FILES.status)))) throw new RunError(folder, `no synthesis run at ${folder} (no ${RUN_FILES.status})`);
  return new Run(folder);
}

/** The writing side: status, logs and the lock of one run folder, used by the pipeline. */
export class RunWriter {
  readonly folder: string;
  private readonly entries: string[] = [];
  private chain: Promise<void> = Promise.resolve();
  private state: RunStatusFile = statusRecord('synthesis', 'CREATED', { progress: 0 });
  private onLine?: (e: LogEntry) => void;

  constructor(folder: string, onLine?: (e: LogEntry) => void) {
    this.folder = folder;
    this.onLine = onLine;
  }

  file(name: string): string {
    return path.join(this.folder, name);
  }

  /** Takes over the existing log (a resumed run appends to it); returns how many damaged lines were dropped. */
  async loadLogs(): Promise<number> {
    const f = this.file(RUN_FILES.logs);
    if (!(await exists(f))) return 0;
    let dropped = 0;
    for (const line of (await fsp.readFile(f, 'utf8')).split('\n')) {
      if (!line.trim()) continue;
      try {
        JSON.parse(line);
        this.entries.push(line);
      } catch {
        dropped++; // a torn or damaged line: the log stays readable (the resumed run says so)
      }
    }
    return dropped;
  }

  /** Appends an entry; writes are serialised so the file always holds a prefix of the log. */
  log(level: LogEntry['level'], message: string, data: Record<string, unknown> = {}): Promise<void> {
    const entry: LogEntry = { time: new Date().toISOString(), level, message, ...data };
    this.entries.push(JSON.stringify(entry));
    this.onLine?.(entry);
    const snapshot = this.entries.join('\n') + '\n';
    this.chain = this.chain.then(() => writeAtomic(this.file(RUN_FILES.logs), snapshot));
    return this.chain;
  }

  async setStatus(update: Partial<Omit<RunStatus, 'state'>> & { status?: RunState }): Promise<void> {
    const { status, ...rest } = update;
    const state = status ?? this.state.state;
    this.state = statusRecord('synthesis', state, { ...this.state, ...rest, status: state } as Partial<RunStatusFile>);
    const snapshot = this.state;
    this.chain = this.chain.then(() => writeStatus(this.folder, snapshot));
    return this.chain;
  }

  get current(): RunStatus {
    return asRunStatus(this.state);
  }

  /** Flushes pending writes. */
  flush(): Promise<void> {
    return this.chain;
  }

  private release: (() => Promise<void>) | null = null;

  /** Exclusive use of the folder: a second live process on the same run is refused (FolderInUseError). */
  async lock(): Promise<void> {
    this.release = await lockFolder(this.folder, RUN_FILES.lock);
  }

  async unlock(): Promise<void> {
    const release = this.release;
    this.release = null;
    if (release) await release();
  }
}
