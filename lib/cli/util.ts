/** Small helpers shared by the CLI subcommands: argument parsing on node:util.parseArgs, errors. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParsedFor<T extends OptionSpec> = ReturnType<typeof parseArgs<{ options: T & typeof HELP_OPTION; allowPositionals: boolean; strict: true }>>;

/** An error whose message is meant for the user as is (no stack trace). */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/** parseArgs with strict checking (unknown options are errors), turning its errors into CliError. */
export function parseCli<T extends OptionSpec>(argv: string[], options: T, allowPositionals = false): ParsedFor<T> {
  try {
    return parseArgs({ args: argv, options: { ...HELP_OPTION, ...options } as T & typeof HELP_OPTION, allowPositionals, strict: true });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

export function intOption(name: string, v: string | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CliError(`--${name} must be an integer ≥ ${min}, got '${v}'`);
  return n;
}

export function numberOption(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new CliError(`--${name} must be a number, got '${v}'`);
  return n;
}

/** "1,3,5,10" → [1, 3, 5, 10] */
export function intListOption(name: string, v: string | undefined, dflt: number[]): number[] {
  if (v === undefined) return dflt;
  const parts = v.split(',').map((s) => s.trim()).filter(Boolean);
  const out = parts.map((p) => Number(p));
  if (!out.length || out.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new CliError(`--${name} must be a comma-separated list of positive integers, got '${v}'`);
  }
  return out;
}
