/**
 * Argument errors that synthtune raises on purpose (a wrong type, a value out of range): subclasses
 * of TypeError and RangeError, so callers' `instanceof` checks keep working, marked so the CLI can
 * tell them from a bug. A TypeError thrown by the runtime itself ("Cannot read properties of
 * undefined") is a bug: the CLI prints its stack trace and exits 1 instead of calling it bad input.
 */
export class InputTypeError extends TypeError {
  readonly synthtuneInput = true;
  constructor(message: string) {
    super(message);
    this.name = 'TypeError';
  }
}

export class InputRangeError extends RangeError {
  readonly synthtuneInput = true;
  constructor(message: string) {
    super(message);
    this.name = 'RangeError';
  }
}

/** Was this error raised by synthtune's own argument checks? */
export function isInputError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { synthtuneInput?: unknown }).synthtuneInput === true;
}

/**
 * The native addon throws TypeError / RangeError only for its arguments and memory checks (C++
 * failures come as plain Errors): rethrown as synthtune's input errors so the CLI reports them as
 * such. Anything else passes through unchanged.
 */
export function nativeArgumentError(e: unknown): unknown {
  if (isInputError(e)) return e;
  if (e instanceof RangeError) return Object.assign(new InputRangeError(e.message), { cause: e });
  if (e instanceof TypeError) return Object.assign(new InputTypeError(e.message), { cause: e });
  return e;
}

/** Runs a native call, its argument errors as input errors. */
export function callNative<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw nativeArgumentError(e);
  }
}

/** Awaits a native async call, its argument errors as input errors. */
export async function awaitNative<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw nativeArgumentError(e);
  }
}
