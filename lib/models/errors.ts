/**
 * ModelError: a model that cannot be used as given (not found, not downloadable offline, missing
 * files, a graph without the expected inputs/outputs, an unparsable tokenizer or config). Its
 * message is meant for the user as is; the CLI prints it without a stack trace.
 */
import { SynthtuneError } from '../util/errors';

export class ModelError extends SynthtuneError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('model', message, options);
    this.name = 'ModelError';
  }
}
