/**
 * Whether python3 can import the modules a test needs: null when it can, else why not (for the
 * skip message). Tests that compare with PyTorch / sentence-transformers / onnxruntime skip on it.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

export function pythonMissing(modules: string[]): string | null {
  const r = spawnSync('python3', ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' });
  if (r.error) return `python3 not runnable (${r.error.message})`;
  return r.status === 0 ? null : `python3 lacks ${modules.join(' / ').replace(/_/g, '-')} (${(r.stderr || '').trim().split('\n').pop()})`;
}

/**
 * A Python script run once in `--serve` mode for many requests (torch and the libraries it imports
 * load once, not per request): one JSON request per line on its stdin, one JSON answer per line on
 * its stdout, {"ok": true, "out": ...} or {"ok": false, "error": "..."}. Requests are answered one
 * at a time, in order; the process starts on the first request and ends on stop() (its stdin
 * closes). A request gets no answer when the process dies (or runs past timeoutMs, then killed): the
 * promise rejects with the end of its stderr.
 */
export class PythonServer {
  private proc: ChildProcessWithoutNullStreams | null = null;
  private lines: AsyncIterator<string> | null = null;
  private stderr = '';
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly python: string, private readonly script: string, private readonly env: NodeJS.ProcessEnv = {}) {}

  request<T>(payload: unknown, timeoutMs = 5 * 60_000): Promise<{ ok: true; out: T } | { ok: false; error: string }> {
    const run = this.queue.then(async () => {
      if (!this.proc) this.start();
      const proc = this.proc!;
      proc.stdin.write(JSON.stringify(payload) + '\n');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const next = await this.lines!.next().finally(() => clearTimeout(timer));
      if (next.done) throw new Error(`${path.basename(this.script)} --serve ended without answering:\n${this.stderr.split('\n').slice(-15).join('\n')}`);
      return JSON.parse(next.value) as { ok: true; out: T } | { ok: false; error: string };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  stop(): void {
    this.proc?.stdin.end();
    this.proc = null;
    this.lines = null;
  }

  private start(): void {
    const proc = spawn(this.python, [this.script, '--serve'], { env: { ...process.env, ...this.env } });
    this.stderr = '';
    proc.stderr.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString('utf8')).slice(-20000); });
    proc.on('exit', () => {
      if (this.proc === proc) this.proc = this.lines = null;
    });
    this.proc = proc;
    this.lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  }
}
