/**
 * Training callbacks, as in Finetuner: EvaluationCallback (retrieval metrics before training and
 * after each epoch), EarlyStopping, BestModelCheckpoint and WiSE-FT.
 *
 * A callback sees the run through FitContext and may keep state; state() / restore() carry that
 * state through checkpoints so a resumed fit behaves as an uninterrupted one. Hook order per
 * epoch: callbacks with `evaluates` first (they set ctx.metrics), then the others. At the end:
 * every transformWeights (WiSE-FT) first, then every onTrainEnd.
 */
import * as path from 'node:path';
import { readStudentState, saveStudent } from './students';
import { wiseFt, type Student, type StudentState } from './student';
import { OptionsError } from '../util/errors';

/** Metric name `<metric>@<k>` (e.g. `ndcg@10`) → value. */
export type Metrics = Record<string, number>;

export interface EpochSummary {
  /** 0-based epoch that just ended. */
  epoch: number;
  /** Mean training loss over the epoch's steps. */
  loss: number;
}

export interface FitContext {
  student: Student<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  outDir: string | null;
  epochs: number;
  /** Global steps done so far. */
  step: number;
  /** Metrics of the latest evaluation (set by evaluating callbacks), plus `loss` of the epoch. */
  metrics: Metrics;
  /** The student's weights when training began (WiSE-FT's anchor). */
  initialState: StudentState | null;
  /** True when this fit resumed from a checkpoint. */
  resumed: boolean;
  /** Asks the loop to stop after the current epoch. */
  stop(reason: string): void;
  /** A progress line for the terminal (also recorded in logs.jsonl). */
  log(line: string): void;
  /** Appends a record to logs.jsonl. */
  record(entry: Record<string, unknown>): void;
}

export interface Callback {
  readonly name: string;
  /** Runs before the others at epoch end and sets ctx.metrics. */
  readonly evaluates?: boolean;
  /** Needs ctx.initialState (kept in checkpoints). */
  readonly needsInitialState?: boolean;
  onTrainBegin?(ctx: FitContext): Promise<void> | void;
  /** After every optimizer step (keep it cheap). */
  onStepEnd?(ctx: FitContext, s: { epoch: number; step: number; loss: number; lr: number }): Promise<void> | void;
  onEpochEnd?(ctx: FitContext, e: EpochSummary): Promise<void> | void;
  /** May change the student's weights once training is over (before any onTrainEnd). */
  transformWeights?(ctx: FitContext): Promise<boolean> | boolean;
  onTrainEnd?(ctx: FitContext, weightsChanged: boolean): Promise<void> | void;
  state?(): unknown;
  restore?(state: unknown): void;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(4) : String(x);
}

// ---------------------------------------------------------------------------------------------

export interface EvaluationOptions {
  /** Returns `<metric>@<k>` → value for the student as it is now. */
  evaluate: (student: Student<any>) => Promise<Metrics> | Metrics; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Evaluate after every epoch (default true); before and after training it always runs. */
  everyEpoch?: boolean;
}

/** Metrics before fine-tuning, after each epoch, and after training (incl. WiSE-FT). */
export class EvaluationCallback implements Callback {
  readonly name = 'EvaluationCallback';
  readonly evaluates = true;
  before: Metrics | null = null;
  after: Metrics | null = null;
  private readonly opts: EvaluationOptions;

  constructor(opts: EvaluationOptions) {
    this.opts = opts;
  }

  private async run(ctx: FitContext, when: string, epoch: number | null): Promise<Metrics> {
    const m = { ...(await this.opts.evaluate(ctx.student)) };
    ctx.record({ type: 'eval', when, epoch, metrics: m });
    Object.assign(ctx.metrics, m);
    return m;
  }

  async onTrainBegin(ctx: FitContext): Promise<void> {
    if (this.before) return; // restored from a checkpoint
    this.before = await this.run(ctx, 'before', null);
    ctx.log(`before fine-tuning: ${Object.entries(this.before).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
  }

  async onEpochEnd(ctx: FitContext, e: EpochSummary): Promise<void> {
    if (this.opts.everyEpoch === false) return;
    this.after = await this.run(ctx, 'epoch', e.epoch);
    ctx.log(`epoch ${e.epoch + 1}: ${Object.entries(this.after).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
  }

  async onTrainEnd(ctx: FitContext, weightsChanged: boolean): Promise<void> {
    if (!this.after || weightsChanged || this.opts.everyEpoch === false) this.after = await this.run(ctx, 'after', null);
    for (const line of this.report()) ctx.log(line);
  }

  /** One line per metric: "<metric>: before fine-tuning: X after fine-tuning: Y". */
  report(): string[] {
    const before = this.before ?? {};
    const after = this.after ?? {};
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.map((k) => `${k}: before fine-tuning: ${fmt(before[k])} after fine-tuning: ${fmt(after[k])}`);
  }

  state(): unknown {
    return { before: this.before, after: this.after };
  }

  restore(s: unknown): void {
    const x = s as { before: Metrics | null; after: Metrics | null };
    this.before = x.before;
    this.after = x.after;
  }
}

// ---------------------------------------------------------------------------------------------

export interface MonitorOptions {
  /** A metric key (`ndcg@10`) or `loss` (the epoch's mean training loss). Default `loss`. */
  monitor?: string;
  /** 'max' for metrics, 'min' for loss (default: by the monitor's name). */
  mode?: 'min' | 'max';
  /** An improvement must exceed this (default 0). */
  minDelta?: number;
}

class Monitor {
  readonly key: string;
  readonly mode: 'min' | 'max';
  readonly minDelta: number;
  best: number | null = null;

  constructor(o: MonitorOptions) {
    this.key = o.monitor ?? 'loss';
    this.mode = o.mode ?? (this.key === 'loss' ? 'min' : 'max');
    this.minDelta = o.minDelta ?? 0;
  }

  value(ctx: FitContext): number {
    const v = ctx.metrics[this.key];
    if (v === undefined) throw new OptionsError(`monitored value ${this.key} is not available (is an EvaluationCallback computing it?)`);
    return v;
  }

  /** Records value; true when it beats the best so far by more than minDelta. */
  improves(v: number): boolean {
    const better = this.best === null || (this.mode === 'max' ? v > this.best + this.minDelta : v < this.best - this.minDelta);
    if (better) this.best = v;
    return better;
  }
}

export interface EarlyStoppingOptions extends MonitorOptions {
  /** Epochs without improvement before stopping (default 2). */
  patience?: number;
}

/** Stops training once the monitored value has not improved for `patience` epochs. */
export class EarlyStopping implements Callback {
  readonly name = 'EarlyStopping';
  readonly patience: number;
  private readonly monitor: Monitor;
  wait = 0;
  stoppedEpoch: number | null = null;

  constructor(opts: EarlyStoppingOptions = {}) {
    this.monitor = new Monitor(opts);
    this.patience = opts.patience ?? 2;
  }

  onEpochEnd(ctx: FitContext, e: EpochSummary): void {
    if (this.monitor.improves(this.monitor.value(ctx))) {
      this.wait = 0;
      return;
    }
    this.wait++;
    if (this.wait >= this.patience) {
      this.stoppedEpoch = e.epoch;
      ctx.stop(`early stopping: ${this.monitor.key} did not improve for ${this.wait} epoch(s)`);
    }
  }

  state(): unknown {
    return { best: this.monitor.best, wait: this.wait, stoppedEpoch: this.stoppedEpoch };
  }

  restore(s: unknown): void {
    const x = s as { best: number | null; wait: number; stoppedEpoch: number | null };
    this.monitor.best = x.best;
    this.wait = x.wait;
    this.stoppedEpoch = x.stoppedEpoch;
  }
}

export interface BestModelOptions extends MonitorOptions {
  /** Folder for the best model (default <outDir>/best-model). */
  dir?: string;
  /** Load the best weights back into the student when training ends (default false). */
  restoreBest?: boolean;
}

/** Saves the student whenever the monitored value improves (student.json + weights.bin). */
export class BestModelCheckpoint implements Callback {
  readonly name = 'BestModelCheckpoint';
  private readonly monitor: Monitor;
  private readonly opts: BestModelOptions;
  bestEpoch: number | null = null;
  private bestState: StudentState | null = null;

  constructor(opts: BestModelOptions = {}) {
    this.opts = opts;
    this.monitor = new Monitor(opts);
  }

  private dir(ctx: FitContext): string | null {
    return this.opts.dir ?? (ctx.outDir ? path.join(ctx.outDir, 'best-model') : null);
  }

  async onEpochEnd(ctx: FitContext, e: EpochSummary): Promise<void> {
    const v = this.monitor.value(ctx);
    if (!this.monitor.improves(v)) return;
    this.bestEpoch = e.epoch;
    const dir = this.dir(ctx);
    if (dir) await saveStudent(dir, ctx.student);
    if (this.opts.restoreBest) this.bestState = ctx.student.state();
    ctx.record({ type: 'best-model', epoch: e.epoch, monitor: this.monitor.key, value: v, dir });
  }

  async transformWeights(ctx: FitContext): Promise<boolean> {
    if (!this.opts.restoreBest || this.bestEpoch === null) return false;
    if (!this.bestState) {
      // Resumed run: the best weights are on disk only.
      const dir = this.dir(ctx);
      if (!dir) return false;
      this.bestState = await readStudentState(dir);
    }
    ctx.student.load(this.bestState);
    ctx.log(`restored the best model (epoch ${this.bestEpoch + 1}, ${this.monitor.key} ${fmt(this.monitor.best ?? NaN)})`);
    return true;
  }

  state(): unknown {
    return { best: this.monitor.best, bestEpoch: this.bestEpoch };
  }

  restore(s: unknown): void {
    const x = s as { best: number | null; bestEpoch: number | null };
    this.monitor.best = x.best;
    this.bestEpoch = x.bestEpoch;
  }
}

/**
 * WiSE-FT (Wortsman et al. 2022): once training ends, weights ← alpha·trained + (1 − alpha)·initial,
 * trading some in-domain gain for robustness. alpha = 1 keeps the trained weights.
 */
export class WiSEFTCallback implements Callback {
  readonly name = 'WiSEFTCallback';
  readonly needsInitialState = true;
  readonly alpha: number;

  constructor(opts: { alpha?: number } = {}) {
    this.alpha = opts.alpha ?? 0.5;
    if (!(this.alpha >= 0 && this.alpha <= 1)) throw new OptionsError(`WiSE-FT alpha must be in [0, 1], got ${this.alpha}`);
  }

  transformWeights(ctx: FitContext): boolean {
    if (!ctx.initialState) throw new Error('WiSE-FT: the initial weights are not available');
    wiseFt(ctx.student, ctx.initialState, this.alpha);
    ctx.log(`WiSE-FT: interpolated trained and initial weights with alpha ${this.alpha}`);
    return true;
  }
}

// ---------------------------------------------------------------------------------------------

export interface HeldOutOptions {
  /** The held-out measure of the student as it is now (higher is better) and its standard error. */
  measure: (student: Student<any>) => Promise<{ value: number; se: number }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** What is measured, for the log (default 'held-out agreement'). */
  label?: string;
  /** Folder for the best weights (default <outDir>/best-model), so a resumed run can restore them. */
  dir?: string;
  /** The final weights stay unless below the best by more than this many standard errors (default 2). */
  tolerance?: number;
}

/**
 * A guard on the final weights by a held-out measure (higher is better) taken before training
 * and after every epoch: the final weights are kept unless they are clearly worse (by more than
 * `tolerance` standard errors) than the best measured, the untrained weights included; then the
 * best weights are restored. Records `held_out` in ctx.metrics and logs.jsonl.
 */
export class KeepBestHeldOut implements Callback {
  readonly name = 'KeepBestHeldOut';
  readonly needsInitialState = true;
  private readonly opts: HeldOutOptions;
  best: number | null = null;
  bestSe = 0;
  /** -1: the initial weights. */
  bestEpoch: number | null = null;
  last: number | null = null;
  lastEpoch = -1;
  initial: number | null = null;
  private bestState: StudentState | null = null;

  constructor(opts: HeldOutOptions) {
    this.opts = opts;
  }

  private get label(): string {
    return this.opts.label ?? 'held-out agreement';
  }

  private dir(ctx: FitContext): string | null {
    return this.opts.dir ?? (ctx.outDir ? path.join(ctx.outDir, 'best-model') : null);
  }

  async onTrainBegin(ctx: FitContext): Promise<void> {
    if (this.best !== null) return; // restored
    const { value, se } = await this.opts.measure(ctx.student);
    this.best = value;
    this.bestSe = se;
    this.initial = value;
    this.last = value;
    this.bestEpoch = -1;
    ctx.record({ type: 'held-out', epoch: null, value, se });
    ctx.log(`${this.label} before training: ${value.toFixed(4)} (± ${se.toFixed(4)})`);
  }

  async onEpochEnd(ctx: FitContext, e: EpochSummary): Promise<void> {
    const { value, se } = await this.opts.measure(ctx.student);
    ctx.metrics.held_out = value;
    this.last = value;
    this.lastEpoch = e.epoch;
    ctx.record({ type: 'held-out', epoch: e.epoch, value, se });
    const better = this.best === null || value > this.best;
    ctx.log(`epoch ${e.epoch + 1}: ${this.label} ${value.toFixed(4)}${better ? ' (best so far)' : ''}`);
    if (!better) return;
    this.best = value;
    this.bestSe = se;
    this.bestEpoch = e.epoch;
    this.bestState = ctx.student.state();
    const dir = this.dir(ctx);
    if (dir) await saveStudent(dir, ctx.student);
  }

  async transformWeights(ctx: FitContext): Promise<boolean> {
    if (this.bestEpoch === null || this.best === null || this.last === null || this.bestEpoch === this.lastEpoch) return false;
    const margin = (this.opts.tolerance ?? 2) * this.bestSe;
    if (this.last >= this.best - margin) {
      ctx.log(`kept the final weights: ${this.label} ${this.last.toFixed(4)} is within ${margin.toFixed(4)} (${this.opts.tolerance ?? 2} standard errors) of the best, ${this.best.toFixed(4)}`);
      return false;
    }
    if (this.bestEpoch === -1) {
      if (!ctx.initialState) throw new Error('KeepBestHeldOut: the initial weights are not available');
      ctx.student.load(ctx.initialState);
      ctx.log(`restored the untrained weights: the final ${this.label} ${this.last.toFixed(4)} fell clearly below the untrained ${this.best.toFixed(4)}`);
      return true;
    }
    if (!this.bestState) {
      const dir = this.dir(ctx);
      if (!dir) return false;
      this.bestState = await readStudentState(dir);
    }
    ctx.student.load(this.bestState);
    ctx.log(`restored the weights of epoch ${this.bestEpoch + 1}: ${this.label} ${this.best.toFixed(4)}, the final ${this.last.toFixed(4)} fell clearly below it (untrained ${this.initial?.toFixed(4)})`);
    return true;
  }

  state(): unknown {
    return { best: this.best, bestSe: this.bestSe, bestEpoch: this.bestEpoch, last: this.last, lastEpoch: this.lastEpoch, initial: this.initial };
  }

  restore(s: unknown): void {
    const x = s as { best: number | null; bestSe: number; bestEpoch: number | null; last: number | null; lastEpoch: number; initial: number | null };
    this.best = x.best;
    this.bestSe = x.bestSe;
    this.bestEpoch = x.bestEpoch;
    this.last = x.last;
    this.lastEpoch = x.lastEpoch;
    this.initial = x.initial;
  }
}
