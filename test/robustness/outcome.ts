/**
 * The robustness suite's outcome of one bad input or fault, and its tally.
 *
 *   correct        the right result (checked against what the input should give)
 *   clear-error    exit 2 (or a user error from the library) with one line naming the problem
 *   unclear        a user error whose message does not name what it should (file, line, field, way out)
 *   stack-trace    a user or environment mistake reported as a bug: exit 1 / a stack trace
 *   silent-wrong   success (exit 0) with a wrong result
 *   crash          killed by a signal, an exit code other than 0/1/2, a hang
 *
 * Each case asserts that its outcome is `correct` or `clear-error`. With
 * SYNTHTUNE_ROBUSTNESS_REPORT=<file> every case also appends one JSON line {area, name, outcome,
 * detail} there; `npm run test:robustness` (scripts/robustness-report.mjs) runs the suite that way
 * and prints the counts by outcome and by area.
 */
import * as fs from 'node:fs';
import { expect } from 'vitest';
import { isUserError } from '../../lib/util/errors';

export type Outcome = 'correct' | 'clear-error' | 'unclear' | 'stack-trace' | 'silent-wrong' | 'crash';

export interface ProcessResult {
  /** Exit code (null when killed by a signal). */
  code: number | null;
  signal?: string | null;
  out?: string;
  err: string;
  timedOut?: boolean;
}

export interface Expectation {
  /** Texts or patterns the error message must contain (the file, the line, the field...). */
  mentions?: (string | RegExp)[];
  /** For a success: whether the result is right (called only when the run succeeded). */
  correct?: () => boolean | Promise<boolean>;
}

function mentionsAll(message: string, mentions: (string | RegExp)[] = []): string[] {
  return mentions.filter((m) => (typeof m === 'string' ? !message.includes(m) : !m.test(message))).map(String);
}

/** The outcome of a CLI run (in-process runCli or a child process). */
export async function classifyRun(r: ProcessResult, want: Expectation = {}): Promise<{ outcome: Outcome; detail: string }> {
  const err = r.err.trim();
  if (r.timedOut) return { outcome: 'crash', detail: 'timed out' };
  if (r.signal || r.code === null) return { outcome: 'crash', detail: `signal ${r.signal}` };
  if (r.code === 0) {
    if (!want.correct) return { outcome: 'silent-wrong', detail: 'exit 0 where an error was expected' };
    return (await want.correct()) ? { outcome: 'correct', detail: '' } : { outcome: 'silent-wrong', detail: 'exit 0, wrong result' };
  }
  if (r.code === 1 || /\n\s+at .*:\d+:\d+\)?$/m.test(err)) return { outcome: 'stack-trace', detail: err.split('\n').slice(0, 3).join(' | ') };
  if (r.code !== 2) return { outcome: 'crash', detail: `exit ${r.code}: ${err.slice(0, 200)}` };
  // a clear error is one line (a usage block after a blank line is allowed) naming what it should
  const first = err.split('\n\n')[0];
  if (first.includes('\n')) return { outcome: 'unclear', detail: `more than one line: ${first.slice(0, 200)}` };
  const missing = mentionsAll(first, want.mentions);
  if (missing.length) return { outcome: 'unclear', detail: `does not mention ${missing.join(', ')}: ${first}` };
  return { outcome: 'clear-error', detail: first };
}

/** The outcome of a library call: a user error (one line) naming what it should, a bug, or a success. */
export async function classifyCall(f: () => unknown, want: Expectation = {}): Promise<{ outcome: Outcome; detail: string }> {
  try {
    await f();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (!isUserError(e)) return { outcome: 'stack-trace', detail: `${(e as Error)?.name}: ${message.slice(0, 200)}` };
    // the CLI prints a user error's message as its one line
    if (message.trim().includes('\n')) return { outcome: 'unclear', detail: `more than one line: ${message}` };
    const missing = mentionsAll(message, want.mentions);
    if (missing.length) return { outcome: 'unclear', detail: `does not mention ${missing.join(', ')}: ${message}` };
    return { outcome: 'clear-error', detail: message };
  }
  if (!want.correct) return { outcome: 'silent-wrong', detail: 'returned where an error was expected' };
  return (await want.correct()) ? { outcome: 'correct', detail: '' } : { outcome: 'silent-wrong', detail: 'wrong result' };
}

/** Records one case (when SYNTHTUNE_ROBUSTNESS_REPORT is set) and asserts it ended well. */
export function record(area: string, name: string, r: { outcome: Outcome; detail: string }): void {
  const file = process.env.SYNTHTUNE_ROBUSTNESS_REPORT;
  if (file) fs.appendFileSync(file, JSON.stringify({ area, name, outcome: r.outcome, detail: r.detail }) + '\n');
  expect(['correct', 'clear-error'], `${area} / ${name}: ${r.outcome} (${r.detail})`).toContain(r.outcome);
}

/**
 * For test files whose cases assert the right result or a clear refusal themselves (the native
 * boundary tests): records each finished test under `area`, as 'clear-error' when its title says
 * the input is refused / rejected, else 'correct'; a failed test is recorded as 'silent-wrong'
 * (its own assertion failure is what CI reports). Use as afterEach(({ task }) => recordTask(area, task)).
 */
export function recordTask(area: string, task: { name: string; result?: { state?: string } }): void {
  const file = process.env.SYNTHTUNE_ROBUSTNESS_REPORT;
  if (!file) return;
  const passed = task.result?.state !== 'fail';
  const refused = /refus|reject|TypeError|RangeError|caught|fails with|is an error/i.test(task.name);
  const outcome: Outcome = !passed ? 'silent-wrong' : refused ? 'clear-error' : 'correct';
  fs.appendFileSync(file, JSON.stringify({ area, name: task.name, outcome, detail: passed ? '' : 'test failed' }) + '\n');
}
