/**
 * DataError: the one error type for bad input data. Its message always starts with
 * `<file>:<line>:` (or `<file>:` when no line applies) so users can jump straight to the problem;
 * the CLI prints it without a stack trace.
 */
import { SynthtuneError } from '../util/errors';

export class DataError extends SynthtuneError {
  readonly file: string;
  readonly line?: number;

  constructor(file: string, line: number | undefined, message: string) {
    super('data', `${file}${line !== undefined ? `:${line}` : ''}: ${message}`);
    this.name = 'DataError';
    this.file = file;
    this.line = line;
  }
}
