/** Runs `synthtune <command> ...args` in-process and captures what it writes to stdout and stderr. */
import { vi } from 'vitest';
import { main } from '../../lib/cli/main';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export async function runCli(command: string, args: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await main([command, ...args]), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}
