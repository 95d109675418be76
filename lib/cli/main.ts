#!/usr/bin/env node
/**
 * synthtune command-line entry. Each subcommand lives in its own module under lib/cli/ and
 * exports `run(argv): Promise<number>` (the exit code); this file only dispatches.
 */
import { isInputError } from '../util/errors';
import { CliError } from './util';

/** Errors whose message is written for the user: printed without a stack trace, exit code 2. */
const USER_ERRORS = new Set(['DataError', 'ModelError', 'ImportCheckError', 'FolderInUseError', 'NativeRequiredError', 'HnswUnavailableError']);

/** What the machine's file system refused, in words (the environment's errors, not bugs). */
const FS_ERRORS: Record<string, string> = {
  EACCES: 'permission denied', EPERM: 'operation not permitted', EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device', EDQUOT: 'disk quota exceeded', EEXIST: 'it already exists',
  EISDIR: 'it is a folder, a file was expected', ENOTDIR: 'a part of the path is not a folder',
  ENOENT: 'no such file or folder', EMFILE: 'too many open files', ENAMETOOLONG: 'the name is too long',
};

/** One line for a Node file-system error (code + path), or null for anything else. */
export function fileSystemMessage(e: unknown): string | null {
  const x = e as NodeJS.ErrnoException & { dest?: string };
  if (!x || typeof x.code !== 'string' || !(x.code in FS_ERRORS) || typeof x.syscall !== 'string') return null;
  const where = x.path ? `${x.path}${x.dest ? ` → ${x.dest}` : ''}` : 'a file';
  return `cannot ${x.syscall} ${where}: ${FS_ERRORS[x.code]} (${x.code})`;
}

type Command = { load: () => Promise<{ run(argv: string[]): Promise<number> }>; summary: string };

// One line per subcommand; modules load lazily so `synthtune bench` never pays for onnxruntime.
const COMMANDS: Record<string, Command> = {
  synthesize: { load: () => import('./synthesize.js'), summary: 'mine, pseudo-label and write Margin-MSE training data into a resumable run folder' },
  fit: { load: () => import('./fit.js'), summary: 'train an adapter, static or full student with Margin-MSE on synthesized data, before/after metrics' },
  evaluate: { load: () => import('./evaluate.js'), summary: 'retrieval metrics (nDCG, MAP, MRR, recall...) of BM25 or a model on a BEIR folder, labeled or pair data' },
  inspect: { load: () => import('./inspect.js'), summary: 'what a data file or folder holds: kind and why, counts, labels, text lengths, duplicates, what fit would do' },
  bench: { load: () => import('./bench.js'), summary: 'benchmark suites: kernels, encode, mining, train (native vs pure-TS and outside references)' },
  demo: { load: () => import('./demo.js'), summary: 'synthesize → fit → evaluate on the bundled sample dataset (BM25 teacher, static student)' },
  info: { load: () => import('./info.js'), summary: 'the kernel backend (and why not a better one), the addon file, HNSW and the onnxruntime-node build' },
};

function usage(): string {
  const lines = ['usage: synthtune <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  lines.push('', 'Run `synthtune <command> --help` for the options of a command.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage() + '\n');
    return cmd ? 0 : 1;
  }
  if (cmd === '--version' || cmd === '-v') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    process.stdout.write(require('../../package.json').version + '\n');
    return 0;
  }
  const entry = COMMANDS[cmd];
  if (!entry) {
    process.stderr.write(`synthtune: unknown command '${cmd}'\n\n${usage()}\n`);
    return 2;
  }
  const mod = await entry.load();
  try {
    return await mod.run(rest);
  } catch (e) {
    // synthtune's own argument errors (InputTypeError / InputRangeError) are bad input; a TypeError or
    // RangeError from the runtime ("Cannot read properties of undefined") is a bug: stack trace, exit 1
    if (e instanceof CliError || isInputError(e) || USER_ERRORS.has((e as Error)?.name)) {
      process.stderr.write(`synthtune ${cmd}: ${(e as Error).message}\n`);
      return 2;
    }
    const fsMessage = fileSystemMessage(e);
    if (fsMessage) {
      process.stderr.write(`synthtune ${cmd}: ${fsMessage}\n`);
      return 2;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`synthtune: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
