/**
 * fit(): the training loop (Finetuner's `fit(loss=...)`), Margin-MSE by default; every loss of
 * ./losses/index.ts (MultipleNegativesRankingLoss, CoSENTLoss, CosineSimilarityLoss, SupConLoss)
 * plugs in through the TrainingLoss interface.
 *
 * TypeScript orchestrates; the student does the heavy math (native GEMM for the adapter). One
 * step: the loss assembles a batch (groups of inputs, each on the query or document side; for
 * Margin-MSE B queries, then their B positives and T ≥ B negatives) → student forward of every
 * group → loss forward/backward → student backward of every trained group → optimizer step with
 * the scheduled learning rate.
 *
 * Determinism: the order of examples in epoch e is a permutation that depends only on
 * (seed, e); every other operation is sequential. A checkpoint (student weights, optimizer
 * moments, callback state, position) is written atomically to <outDir>/checkpoint.bin at every
 * epoch end (and every `checkpointEvery` steps, and when `signal` aborts); fit() on the same
 * outDir resumes from it and ends with the same weights and logs as an uninterrupted run.
 *
 * Run folder (outDir, lib/util/run-folder.ts): logs.jsonl (one record per step, epoch,
 * evaluation), status.json (kind 'fit': state CREATED/STARTED/FINISHED/FAILED, stage, outcome),
 * metrics.json ({before, after} keyed `<metric>@<k>`, with an EvaluationCallback), checkpoint.bin,
 * student/ (student.json + weights.bin: the trained weights, before any export), best-model/
 * (BestModelCheckpoint); tensor files are checksummed safetensors (./io.ts), and a checkpoint
 * resumes only a run of the same fingerprint (data, starting model, options, format version).
 */
import { createHash, type Hash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Callback, EpochSummary, FitContext, Metrics } from './callbacks';
import { EvaluationCallback } from './callbacks';
import { readTensorFile, writeJsonAtomic, writeTensorFile } from './io';
import { assembleMargins, lossByName, marginLossBatch, marginMseLoss, type LossBatch, type LossName, type LossSettings, type MarginBatch, type TrainingLoss, type TrainItem } from './losses';
import type { Score } from './losses/margin-mse';
import { Adam, learningRate, type OptimizerName, type SchedulerSpec } from './optim';
import { isInputError, OptionsError } from '../util/errors';
import { claimFolder, compareFingerprint, foreign, ForeignFolderError, readStatus, RUN_FORMAT, runFileError, statusRecord, writeStatus, type Fingerprint, type RunState } from '../util/run-folder';
import { epochPermutation } from './rng';
import { normalizeExample, type Example, type NormalExample, type Student, type StudentState } from './student';
import { saveStudent } from './students';

export interface FitOptions<I> {
  student: Student<I>;
  /**
   * Items whose inputs are the student's input type (vectors for the adapter, token ids for
   * static): Margin-MSE examples, or the loss's items (PairItem, ScoredItem, LabeledItem).
   */
  trainData: Iterable<TrainItem<I>> | AsyncIterable<TrainItem<I>>;
  /** A loss name or object (default 'MarginMSELoss'). */
  loss?: LossName | TrainingLoss<I, unknown>;
  /** Settings of a loss given by name (scale, perLabel). */
  lossSettings?: LossSettings;
  /** Similarity used by the loss (default 'dot'). */
  score?: Score;
  optimizer?: OptimizerName;
  /** Default 1e-3. */
  learningRate?: number;
  /** Default 0.01 for AdamW, 0 for Adam. */
  weightDecay?: number;
  /** Default 1. */
  epochs?: number;
  /** Default 32. */
  batchSize?: number;
  /** Default 'linear' (no warmup). */
  scheduler?: SchedulerSpec;
  /** Default 0. */
  seed?: number;
  /** Shuffle every epoch (default true). */
  shuffle?: boolean;
  callbacks?: Callback[];
  /** Run folder; without it nothing is written and nothing resumes. */
  outDir?: string;
  /** Continue from <outDir>/checkpoint.bin when present (default true); false starts over. */
  resume?: boolean;
  /** Also checkpoint every this many steps (default 0: at epoch ends only). */
  checkpointEvery?: number;
  /** Aborting checkpoints at the next step boundary and returns status 'interrupted'. */
  signal?: AbortSignal;
  /** Progress lines (default: stderr); null silences them. */
  log?: ((line: string) => void) | null;
  /** Steps between progress lines (default: about 10 per epoch). */
  progressEvery?: number;
}

export type FitStatus = 'finished' | 'stopped_early' | 'interrupted';

export interface FitResult {
  status: FitStatus;
  /** Epochs completed. */
  epochs: number;
  steps: number;
  /** Mean training loss of each completed epoch. */
  epochLosses: number[];
  /** Loss of every step run in this call (not the resumed part). */
  stepLosses: number[];
  before: Metrics | null;
  after: Metrics | null;
  stopReason: string | null;
  resumedFrom: { epoch: number; step: number } | null;
}

interface Position {
  epoch: number;
  batch: number;
  step: number;
  epochLossSum: number;
  epochSteps: number;
  epochLosses: number[];
  stopped: string | null;
}

interface CheckpointMeta {
  version: 2;
  fingerprint: Fingerprint;
  position: Position;
  optimizer: { name: OptimizerName; t: number };
  callbacks: Record<string, unknown>;
  student: { kind: string; config: Record<string, unknown> };
  logBytes: number;
  /** SHA-256 of logs.jsonl's first logBytes bytes (the log the resumed run continues). */
  logSha256: string;
  startedAt: string;
}

interface Settings {
  lr: number;
  weightDecay: number;
  optimizer: OptimizerName;
  epochs: number;
  batchSize: number;
  scheduler: SchedulerSpec;
  seed: number;
  shuffle: boolean;
  score: Score;
  checkpointEvery: number;
}

function settings<I>(o: FitOptions<I>): Settings {
  const optimizer = o.optimizer ?? 'AdamW';
  const s: Settings = {
    lr: o.learningRate ?? 1e-3,
    weightDecay: o.weightDecay ?? (optimizer === 'AdamW' ? 0.01 : 0),
    optimizer,
    epochs: o.epochs ?? 1,
    batchSize: o.batchSize ?? 32,
    scheduler: o.scheduler ?? 'linear',
    seed: o.seed ?? 0,
    shuffle: o.shuffle ?? true,
    score: o.score ?? 'dot',
    checkpointEvery: o.checkpointEvery ?? 0,
  };
  if (!(s.lr > 0)) throw new OptionsError('learningRate must be > 0');
  if (!(s.weightDecay >= 0)) throw new OptionsError('weightDecay must be ≥ 0');
  if (!(Number.isInteger(s.epochs) && s.epochs >= 1)) throw new OptionsError('epochs must be an integer ≥ 1');
  if (!(Number.isInteger(s.batchSize) && s.batchSize >= 1)) throw new OptionsError('batchSize must be an integer ≥ 1');
  if (s.score !== 'dot' && s.score !== 'cosine') throw new OptionsError(`unknown score: ${String(s.score)}`);
  return s;
}

/** Reads the training data once (an async iterable too) and normalises every example. */
export async function collectExamples<I>(data: Iterable<Example<I>> | AsyncIterable<Example<I>>): Promise<NormalExample<I>[]> {
  const out: NormalExample<I>[] = [];
  for await (const e of data as AsyncIterable<Example<I>>) out.push(normalizeExample(e, out.length));
  if (out.length === 0) throw new OptionsError('fit: no training examples');
  return out;
}

/** Feeds an input (token ids, an embedding, a string...) to a hash, with its type and length. */
function hashInput(h: Hash, x: unknown): void {
  if (ArrayBuffer.isView(x)) {
    h.update(`${x.constructor.name}:${x.byteLength}:`);
    h.update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  } else if (Array.isArray(x)) {
    h.update(`array:${x.length}:`);
    for (const v of x) hashInput(h, v);
  } else {
    h.update(`${typeof x}:${JSON.stringify(x)}:`);
  }
}

/**
 * Identifies a run: a checkpoint only resumes a fit with the same settings, the same training
 * data (every input and margin, hashed) and the same starting student (kind, configuration and
 * initial weights, hashed) — so new texts or another base model start a new run instead of
 * returning the old one.
 */
function fingerprint<I>(s: Settings, data: unknown[], student: Student<I>, loss: TrainingLoss<I, unknown>): Fingerprint {
  const d = createHash('sha256');
  const add = (x: unknown): void => hashInput(d, x);
  for (const e of data) loss.hash(e, add);
  const st = student.state();
  const w = createHash('sha256');
  w.update(JSON.stringify({ kind: st.kind, config: st.config }));
  for (const name of Object.keys(st.tensors).sort()) {
    w.update(name);
    hashInput(w, st.tensors[name]);
  }
  return {
    format: RUN_FORMAT,
    data: `${data.length}:${d.digest('hex').slice(0, 32)}`,
    model: `${student.kind}:${w.digest('hex').slice(0, 32)}`,
    options: { ...s, scheduler: JSON.stringify(s.scheduler), loss: loss.name, lossSettings: JSON.stringify(loss.settings()) },
  };
}

/** The loss of the options (a name, an object, or Margin-MSE). */
export function resolveLoss<I>(o: Pick<FitOptions<I>, 'loss' | 'lossSettings'>): TrainingLoss<I, unknown> {
  if (o.loss === undefined) return marginMseLoss<I>() as TrainingLoss<I, unknown>;
  if (typeof o.loss === 'string') return lossByName<I>(o.loss, o.lossSettings);
  return o.loss;
}

/** Reads the items once (an async iterable too) and validates each with the loss. */
async function collectItems<I>(data: Iterable<TrainItem<I>> | AsyncIterable<TrainItem<I>>, loss: TrainingLoss<I, unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const e of data as AsyncIterable<TrainItem<I>>) out.push(loss.normalize(e, out.length));
  if (out.length === 0) throw new OptionsError('fit: no training examples (the training data is empty)');
  return out;
}

/** One Margin-MSE batch: B queries, B positives then T negatives, the owner and margin of each negative. */
export type Batch<I> = MarginBatch<I>;

/** Examples order[start..end) as a Margin-MSE batch. */
export function assemble<I>(data: NormalExample<I>[], order: Int32Array, start: number, end: number): Batch<I> {
  return assembleMargins(data, order, start, end);
}

/** One optimisation step on a Margin-MSE batch; returns the batch loss. */
export async function trainStep<I>(student: Student<I>, batch: Batch<I>, optimizer: Adam, lr: number, score: Score): Promise<number> {
  return lossStep(student, marginLossBatch(batch), optimizer, lr, score);
}

/**
 * One optimisation step on a batch of any loss: every group forwarded on its side, the loss's
 * gradients backpropagated for each group the student trains (not the documents of a student
 * whose documents are frozen), then the optimizer step. Returns the batch loss.
 */
export async function lossStep<I>(student: Student<I>, batch: LossBatch<I>, optimizer: Adam, lr: number, score: Score): Promise<number> {
  student.zeroGrad();
  const forwards = [];
  for (const g of batch.groups) forwards.push(await student.forward(g.inputs, g.side));
  const frozenDocs = student.documentsFrozen === true;
  const trainable = batch.groups.map((g) => !(frozenDocs && g.side === 'document'));
  const { loss, grads } = batch.compute(forwards.map((f) => f.out), student.dim, score, trainable);
  for (let k = 0; k < forwards.length; k++) {
    const g = grads[k];
    if (!trainable[k] || !g) continue;
    await student.backward(forwards[k], g instanceof Float32Array ? g : Float32Array.from(g));
  }
  if (student.step) student.step(optimizer, lr);
  else optimizer.step(student.params(), lr);
  return loss;
}

// ---------------------------------------------------------------------------------------------
// Run folder: logs.jsonl (buffered appends), status.json, checkpoint.bin

class RunFolder {
  readonly dir: string | null;
  private pending: string[] = [];

  constructor(dir: string | null) {
    this.dir = dir;
  }

  file(name: string): string {
    return path.join(this.dir as string, name);
  }

  record(entry: Record<string, unknown>): void {
    if (this.dir) this.pending.push(`${JSON.stringify(entry)}\n`);
  }

  async flush(): Promise<number> {
    if (!this.dir) return 0;
    if (this.pending.length) {
      await fsp.appendFile(this.file('logs.jsonl'), this.pending.join(''));
      this.pending = [];
    }
    return (await fsp.stat(this.file('logs.jsonl')).catch(() => ({ size: 0 }))).size;
  }

  /** Fresh run: empty logs. Resumed run: drop what was logged after the checkpoint. */
  async prepare(logBytes: number | null): Promise<void> {
    if (!this.dir) return;
    await fsp.mkdir(this.dir, { recursive: true });
    const logs = this.file('logs.jsonl');
    if (logBytes === null) await fsp.writeFile(logs, '');
    else await fsp.truncate(logs, logBytes).catch(async () => fsp.writeFile(logs, ''));
  }

  async status(state: RunState, s: Record<string, unknown>): Promise<void> {
    if (this.dir) await writeStatus(this.dir, statusRecord('fit', state, s));
  }

  /** SHA-256 of the log's first `bytes` bytes (null when the log is shorter or missing). */
  async logDigest(bytes: number): Promise<string | null> {
    const buf = await fsp.readFile(this.file('logs.jsonl')).catch(() => null);
    if (!buf || buf.length < bytes) return null;
    return createHash('sha256').update(buf.subarray(0, bytes)).digest('hex');
  }

  /** The log a checkpoint continues must be there as it was (not truncated, replaced or edited). */
  async checkLog(logBytes: number, sha256: string): Promise<void> {
    if (!this.dir) return;
    const got = await this.logDigest(logBytes);
    if (got !== sha256) {
      throw runFileError(this.file('logs.jsonl'), `is not the log ${this.file('checkpoint.bin')} continues (${logBytes} bytes${got === null ? ', it is shorter or missing' : ', other content'}): it was truncated, replaced or edited`, FIT_WAY_OUT);
    }
  }

  async readCheckpoint(): Promise<{ meta: CheckpointMeta; tensors: Record<string, Float32Array> } | null> {
    if (!this.dir) return null;
    try {
      await fsp.access(this.file('checkpoint.bin'));
    } catch {
      return null;
    }
    const ck = await readTensorFile<CheckpointMeta>(this.file('checkpoint.bin'), FIT_WAY_OUT);
    if (ck.meta?.version !== 2 || !ck.meta.position || !ck.meta.fingerprint) throw runFileError(this.file('checkpoint.bin'), `not a fit checkpoint of this synthtune (version ${JSON.stringify(ck.meta?.version)})`, FIT_WAY_OUT);
    return ck;
  }
}

function prefixed(prefix: string, t: Record<string, Float32Array>): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(t)) out[prefix + k] = v;
  return out;
}

function unprefixed(prefix: string, t: Record<string, Float32Array>): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(t)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

function callbackKey(cb: Callback, i: number): string {
  return `${i}:${cb.name}`;
}

/** The way out of a fit folder that holds another run: the CLI's flags and the library's options. */
const FIT_WAY_OUT = 'use --restart (resume: false) to discard it and start over, or another --out';

function defaultLog(line: string): void {
  process.stderr.write(`${line}\n`);
}

// ---------------------------------------------------------------------------------------------

export async function fit<I>(opts: FitOptions<I>): Promise<FitResult> {
  if (!opts.outDir) return fitInFolder(opts);
  // one process per run folder (a second fit on it is refused while the first lives); temporary
  // files of killed writers are removed
  await fsp.mkdir(opts.outDir, { recursive: true });
  await checkFitFolder(opts.outDir, { restart: opts.resume === false });
  const { release, removedTemps } = await claimFolder(opts.outDir);
  try {
    await markFitFolder(opts.outDir);
    if (removedTemps.length && opts.log !== null) (opts.log ?? defaultLog)(`removed ${removedTemps.length} temporary file(s) an interrupted run left in ${opts.outDir}`);
    return await fitInFolder(opts);
  } finally {
    await release();
  }
}

/**
 * Refuses a folder that is not fit's to write: another kind's run folder (a synthesis run: its
 * status.json or config.json), a folder of other files (no status.json, no checkpoint.bin), or a
 * status.json of another format version (unless restarting). A damaged status.json is only the
 * state of this run and is rewritten.
 */
export async function checkFitFolder(dir: string, o: { restart?: boolean } = {}): Promise<void> {
  // with restart (resume: false) only another kind's folder is refused: this run's state is rewritten
  await readStatus(dir, 'fit', { tolerateDamaged: true }).catch((e) => {
    if (!o.restart || e instanceof ForeignFolderError) throw e;
  });
  const cfg = path.join(dir, 'config.json');
  const text = await fsp.readFile(cfg, 'utf8').catch(() => null);
  let c: Record<string, unknown> | null = null;
  try {
    c = text === null ? null : JSON.parse(text);
  } catch {
    // fit's own config.json is a record, written again by fitRun
  }
  if (c && typeof c === 'object' && (c.kind === 'synthesis' || (typeof c.key === 'string' && 'parameters' in c))) {
    throw foreign(cfg, 'fit', 'is the config.json of a synthesis run, not of a fit run');
  }
  // a folder of other files (a model folder, a data folder) is not written into
  const ours = ['status.json', 'checkpoint.bin'];
  const entries = await fsp.readdir(dir).catch(() => [] as string[]);
  if (!entries.some((e) => ours.includes(e)) && entries.some((e) => e !== 'lock' && !(e.startsWith('.') && e.endsWith('.tmp')))) {
    throw foreign(dir, 'fit', `is not empty and is not a fit run folder (no ${ours.join(', no ')})`);
  }
}

/** Marks a folder as a fit run folder (status.json CREATED) before anything else is written there. */
export async function markFitFolder(dir: string): Promise<void> {
  if (!(await fsp.stat(path.join(dir, 'status.json')).catch(() => null))) await writeStatus(dir, statusRecord('fit', 'CREATED', { progress: 0 }));
}

async function fitInFolder<I>(opts: FitOptions<I>): Promise<FitResult> {
  const s = settings(opts);
  const { student } = opts;
  const callbacks = opts.callbacks ?? [];
  const loss = resolveLoss(opts);
  const data = await collectItems(opts.trainData, loss);
  const n = data.length;
  const perEpoch = Math.ceil(n / s.batchSize);
  const totalSteps = s.epochs * perEpoch;
  const run = new RunFolder(opts.outDir ?? null);
  const optimizer = new Adam({ name: s.optimizer, weightDecay: s.weightDecay });
  const sink = opts.log === undefined ? defaultLog : opts.log;
  const print = (line: string): void => {
    if (sink) sink(line);
  };
  const fp = fingerprint(s, data, student, loss);
  const needsInitial = callbacks.some((c) => c.needsInitialState);

  let pos: Position = { epoch: 0, batch: 0, step: 0, epochLossSum: 0, epochSteps: 0, epochLosses: [], stopped: null };
  let initialState: StudentState | null = needsInitial ? student.state() : null;
  let startedAt = new Date().toISOString();
  let resumedFrom: FitResult['resumedFrom'] = null;

  const ckpt = opts.resume === false ? null : await run.readCheckpoint();
  if (ckpt) {
    const m = ckpt.meta;
    compareFingerprint(run.file('checkpoint.bin'), 'fit', fp, m.fingerprint, FIT_WAY_OUT);
    const p = m.position;
    if (!(p.epoch >= 0 && p.epoch <= s.epochs && p.batch >= 0 && p.batch <= perEpoch && p.step === p.epoch * perEpoch + p.batch)) {
      throw runFileError(run.file('checkpoint.bin'), `position epoch ${p.epoch}, batch ${p.batch}, step ${p.step} does not fit the plan (${s.epochs} epoch(s) × ${perEpoch} steps)`, FIT_WAY_OUT);
    }
    await run.checkLog(m.logBytes, m.logSha256);
    try {
      student.load({ kind: m.student.kind, config: m.student.config, tensors: unprefixed('student.', ckpt.tensors) });
      optimizer.load({ name: m.optimizer.name, t: m.optimizer.t, tensors: unprefixed('opt.', ckpt.tensors) });
    } catch (e) {
      // a checkpoint whose checksum holds but whose tensors do not fit this student / optimizer
      if (!isInputError(e)) throw e;
      throw runFileError(run.file('checkpoint.bin'), `does not fit this run: ${(e as Error).message}`, FIT_WAY_OUT);
    }
    callbacks.forEach((cb, i) => {
      const st = m.callbacks[callbackKey(cb, i)];
      if (st !== undefined && cb.restore) cb.restore(st);
    });
    if (needsInitial) {
      const init = unprefixed('initial.', ckpt.tensors);
      initialState = Object.keys(init).length ? { kind: m.student.kind, config: m.student.config, tensors: init } : null;
    }
    pos = m.position;
    startedAt = m.startedAt;
    resumedFrom = { epoch: pos.epoch, step: pos.step };
    await run.prepare(m.logBytes);
  } else {
    await run.prepare(null);
  }

  const ctx: FitContext = {
    student,
    outDir: run.dir,
    epochs: s.epochs,
    step: pos.step,
    metrics: {},
    initialState,
    resumed: ckpt !== null,
    stop: (reason) => {
      pos.stopped = reason;
    },
    log: (line) => {
      print(line);
      run.record({ type: 'message', text: line });
    },
    record: (entry) => run.record(entry),
  };

  /** status.json: running → STARTED; finished / stopped_early → FINISHED; interrupted / failed → FAILED (outcome says which). */
  const status = async (outcome: FitStatus | 'running' | 'failed', extra: Record<string, unknown> = {}): Promise<void> => {
    const state: RunState = outcome === 'running' ? 'STARTED' : outcome === 'finished' || outcome === 'stopped_early' ? 'FINISHED' : 'FAILED';
    await run.status(state, {
      stage: outcome === 'running' ? 'train' : 'done', outcome, progress: totalSteps ? pos.step / totalSteps : 0,
      epoch: pos.epoch, epochs: s.epochs, step: pos.step, totalSteps,
      lastEpochLoss: pos.epochLosses.at(-1) ?? null, startedAt,
      ...(outcome === 'interrupted' ? { error: 'interrupted; run the same fit again to resume' } : {}), ...extra,
    });
  };

  const checkpoint = async (): Promise<void> => {
    if (!run.dir) return;
    const logBytes = await run.flush();
    const logSha256 = (await run.logDigest(logBytes)) ?? '';
    const cbState: Record<string, unknown> = {};
    callbacks.forEach((cb, i) => {
      if (cb.state) cbState[callbackKey(cb, i)] = cb.state();
    });
    const st = student.state();
    const opt = optimizer.state();
    const meta: CheckpointMeta = {
      version: 2, fingerprint: fp, position: { ...pos, epochLosses: [...pos.epochLosses] },
      optimizer: { name: opt.name, t: opt.t }, callbacks: cbState,
      student: { kind: st.kind, config: st.config }, logBytes, logSha256, startedAt,
    };
    const tensors = { ...prefixed('student.', st.tensors), ...prefixed('opt.', opt.tensors) };
    if (needsInitial && initialState) Object.assign(tensors, prefixed('initial.', initialState.tensors));
    await writeTensorFile(run.file('checkpoint.bin'), { meta, tensors });
  };

  if (resumedFrom) ctx.log(`resuming from epoch ${pos.epoch + 1}, step ${pos.step}`);
  ctx.log(`training ${student.kind} student with ${loss.name}: ${n} examples, ${s.epochs} epoch(s) × ${perEpoch} steps, batch ${s.batchSize}, ${s.optimizer} lr ${s.lr}`);
  await status('running');
  const stepLosses: number[] = [];
  try {
    for (const cb of callbacks) await cb.onTrainBegin?.(ctx);
    const progressEvery = opts.progressEvery ?? Math.max(1, Math.ceil(perEpoch / 10));
    while (pos.epoch < s.epochs && !pos.stopped) {
      const order = loss.order ? loss.order(data, s.seed, pos.epoch, s.shuffle) : epochPermutation(n, s.seed, pos.epoch, s.shuffle);
      while (pos.batch < perEpoch) {
        if (opts.signal?.aborted) {
          await checkpoint();
          ctx.log(`interrupted at epoch ${pos.epoch + 1}, step ${pos.step}; run fit again to resume`);
          await run.flush();
          await status('interrupted');
          return result('interrupted');
        }
        const start = pos.batch * s.batchSize;
        const batch = loss.batch(data, order, start, Math.min(n, start + s.batchSize));
        const lr = learningRate(s.lr, pos.step, totalSteps, s.scheduler);
        const value = await lossStep(student, batch, optimizer, lr, s.score);
        if (!Number.isFinite(value)) throw new OptionsError(`fit: loss became ${value} at step ${pos.step} (lower the learning rate?)`);
        stepLosses.push(value);
        pos.step++;
        pos.batch++;
        pos.epochLossSum += value;
        pos.epochSteps++;
        ctx.step = pos.step;
        run.record({ type: 'step', epoch: pos.epoch, step: pos.step, loss: value, lr });
        for (const cb of callbacks) await cb.onStepEnd?.(ctx, { epoch: pos.epoch, step: pos.step, loss: value, lr });
        if (pos.batch % progressEvery === 0 || pos.batch === perEpoch) {
          print(`epoch ${pos.epoch + 1}/${s.epochs} step ${pos.batch}/${perEpoch} loss ${(pos.epochLossSum / pos.epochSteps).toFixed(5)} lr ${lr.toExponential(2)}`);
        }
        if (s.checkpointEvery > 0 && pos.step % s.checkpointEvery === 0 && pos.batch < perEpoch) await checkpoint();
      }
      await endEpoch();
    }
    return await finish();
  } catch (e) {
    await run.flush().catch(() => undefined);
    await status('failed', { error: e instanceof Error ? e.message : String(e) }).catch(() => undefined);
    throw e;
  }

  async function endEpoch(): Promise<void> {
    const summary: EpochSummary = { epoch: pos.epoch, loss: pos.epochLossSum / Math.max(1, pos.epochSteps) };
    pos.epochLosses.push(summary.loss);
    ctx.metrics = { loss: summary.loss };
    run.record({ type: 'epoch', epoch: pos.epoch, step: pos.step, loss: summary.loss });
    for (const cb of callbacks) if (cb.evaluates) await cb.onEpochEnd?.(ctx, summary);
    for (const cb of callbacks) if (!cb.evaluates) await cb.onEpochEnd?.(ctx, summary);
    pos.epoch++;
    pos.batch = 0;
    pos.epochLossSum = 0;
    pos.epochSteps = 0;
    await checkpoint();
    await status('running');
  }

  async function finish(): Promise<FitResult> {
    if (pos.stopped) ctx.log(pos.stopped);
    let changed = false;
    for (const cb of callbacks) if (cb.transformWeights) changed = (await cb.transformWeights(ctx)) || changed;
    for (const cb of callbacks) await cb.onTrainEnd?.(ctx, changed);
    const r = result(pos.stopped ? 'stopped_early' : 'finished');
    if (run.dir) {
      await saveStudent(run.file('student'), student);
      if (r.before || r.after) await writeJsonAtomic(run.file('metrics.json'), { before: r.before ?? {}, after: r.after ?? {} });
      await run.flush();
    }
    await status(r.status, { stopReason: pos.stopped });
    return r;
  }

  function result(st: FitStatus): FitResult {
    const ev = callbacks.find((c): c is EvaluationCallback => c instanceof EvaluationCallback);
    return {
      status: st, epochs: pos.epochLosses.length, steps: pos.step, epochLosses: [...pos.epochLosses], stepLosses,
      before: ev?.before ?? null, after: ev?.after ?? null, stopReason: pos.stopped, resumedFrom,
    };
  }
}
