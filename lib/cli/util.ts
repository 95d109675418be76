/** Small helpers shared by the CLI subcommands: argument parsing on node:util.parseArgs, errors. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParsedFor<T extends OptionSpec> = ReturnType<typeof parseArgs<{ options: T & typeof HELP_OPTION; allowPositionals: boolean; strict: true }>>;

/** A wrong command-line option: an OptionsError (one line, exit 2). */
import { OptionsError } from '../util/errors';

export { OptionsError as CliError };
const CliError = OptionsError;

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * parseArgs with strict checking (unknown options are errors), turning its errors into CliError.
 * No automatic `--no-` forms (parseArgs' allowNegative would turn an option declared as
 * `no-hold-out` into `hold-out: false`): a negative flag is declared as an option of its own.
 */
export function parseCli<T extends OptionSpec>(argv: string[], options: T, allowPositionals = false): ParsedFor<T> {
  try {
    return parseArgs({ args: argv, options: { ...HELP_OPTION, ...options } as T & typeof HELP_OPTION, allowPositionals, strict: true });
  } catch (e) {
    // parseArgs' messages can span lines ("argument is ambiguous. Did you forget ... use '--k=-XYZ'"):
    // one line, saying how to pass a value that starts with a dash
    const m = /^Option '(--[\w-]+)[^']*' argument is ambiguous/.exec((e as Error).message);
    if (m) throw new CliError(`${m[1]} needs a value; a value starting with '-' is written ${m[1]}=<value> (e.g. ${m[1]}=-1)`);
    throw new CliError((e as Error).message.replace(/\s*\n\s*/g, ' '));
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

// ------------------------------------------------------------------ data-reading options

/** Finetuner's CSVOptions as CLI options, shared by the commands that read data files. */
export const CSV_OPTIONS = {
  dialect: { type: 'string' },
  'is-labeled': { type: 'boolean' },
  'no-is-labeled': { type: 'boolean' },
  size: { type: 'string' },
  'sampling-rate': { type: 'string' },
} as const;

/** Help lines for CSV_OPTIONS, descriptions starting at column `width` (to match each command's help). */
export function csvUsage(width: number): string {
  const rows: [string, string[]][] = [
    ['--dialect <d>', ['CSV dialect: auto (default: delimiter, quote and spaces after', 'delimiters sniffed), excel, excel-tab or unix']],
    ['--is-labeled', ['a 2-column CSV is (text, label); --no-is-labeled: (query, document)', '(default: from the header, else pairs unless the file is ambiguous)']],
    ['--size <n>', ['read at most n rows of each data file']],
    ['--sampling-rate <x>', ['keep each row with probability x in (0, 1] (seeded)']],
  ];
  return rows.map(([flag, lines]) => lines.map((l, i) => (i === 0 ? `  ${flag}`.padEnd(width) : ' '.repeat(width)) + l).join('\n')).join('\n');
}

const DIALECT_NAMES = ['auto', 'excel', 'excel-tab', 'unix'] as const;

/** The reader options (lib/data/forms.ts ReadDataOptions) from parsed CSV_OPTIONS values. */
export function csvOptions(values: Record<string, unknown>): { dialect?: (typeof DIALECT_NAMES)[number]; isLabeled?: boolean; size?: number; samplingRate?: number } {
  const out: ReturnType<typeof csvOptions> = {};
  const dialect = values.dialect as string | undefined;
  if (dialect !== undefined) {
    if (!(DIALECT_NAMES as readonly string[]).includes(dialect)) throw new CliError(`--dialect must be one of ${DIALECT_NAMES.join(', ')}, got '${dialect}'`);
    out.dialect = dialect as (typeof DIALECT_NAMES)[number];
  }
  if (values['is-labeled'] && values['no-is-labeled']) throw new CliError('give --is-labeled or --no-is-labeled, not both');
  if (values['is-labeled']) out.isLabeled = true;
  if (values['no-is-labeled']) out.isLabeled = false;
  const size = values.size as string | undefined;
  if (size !== undefined) out.size = intOption('size', size, 0);
  const rate = values['sampling-rate'] as string | undefined;
  if (rate !== undefined) {
    const r = Number(rate);
    if (!(r > 0 && r <= 1)) throw new CliError(`--sampling-rate must be a number in (0, 1], got '${rate}'`);
    out.samplingRate = r;
  }
  return out;
}
