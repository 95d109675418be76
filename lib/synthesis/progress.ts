/**
 * Progress on stderr: cli-progress bars on a terminal, plain throttled lines otherwise
 * (CI logs, files), or nothing. One Stage per pipeline step.
 */
import { SingleBar } from 'cli-progress';
import type { ProgressMode } from './types';

export interface Stage {
  update(done: number): void;
  stop(): void;
}

const NOOP: Stage = { update: () => undefined, stop: () => undefined };

export class Progress {
  private readonly mode: Exclude<ProgressMode, 'auto'>;

  constructor(mode: ProgressMode = 'none', private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.mode = mode === 'auto' ? (stream.isTTY ? 'bar' : 'lines') : mode;
  }

  /** A plain message (between bars). */
  message(text: string): void {
    if (this.mode !== 'none') this.stream.write(`synthesize: ${text}\n`);
  }

  stage(name: string, total: number, start = 0): Stage {
    if (this.mode === 'none' || total <= 0) return NOOP;
    return this.mode === 'bar' ? this.barStage(name, total, start) : this.lineStage(name, total, start);
  }

  private barStage(name: string, total: number, start: number): Stage {
    const bar = new SingleBar({
      format: `${name.padEnd(16)} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}`,
      stream: this.stream,
      hideCursor: true,
      clearOnComplete: false,
    });
    bar.start(total, start);
    return { update: (d) => bar.update(d), stop: () => bar.stop() };
  }

  private lineStage(name: string, total: number, start: number): Stage {
    let last = 0;
    const t0 = Date.now();
    const line = (d: number) => this.stream.write(`synthesize: ${name} ${d}/${total} (${((100 * d) / total).toFixed(1)}%, ${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    if (start > 0) line(start);
    return {
      update: (d) => {
        if (d >= total || Date.now() - last >= 2000) {
          last = Date.now();
          line(d);
        }
      },
      stop: () => undefined,
    };
  }
}
