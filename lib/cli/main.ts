#!/usr/bin/env node
/**
 * synthtune command-line entry. Each subcommand lives in its own module under lib/cli/ and
 * exports `run(argv): Promise<number>` (the exit code); this file only dispatches.
 */
import { userError } from '../util/errors';

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
    // synthtune's errors for the user (SynthtuneError and its kinds, InputTypeError / InputRangeError)
    // and the file system's refusals: one line, exit 2. Anything else, a TypeError from the runtime
    // ("Cannot read properties of undefined") included, is a bug: stack trace, exit 1.
    const user = userError(e);
    if (user) {
      process.stderr.write(`synthtune ${cmd}: ${user.message}\n`);
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
