/**
 * synthtune's error classes. Every error a user or their machine can cause (bad data, a model that
 * cannot be used, a damaged or foreign run folder, a file-system refusal, a wrong option, a wrong
 * argument to the library) is a SynthtuneError of one kind, or an InputTypeError / InputRangeError
 * for argument checks; its message names the file / line / field and the way out. The CLI prints
 * those as one line with exit code 2 (isUserError); anything else is a bug: stack trace, exit 1.
 */

/** What a user-facing error is about. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type ErrorKind = 'data' | 'model' | 'run' | 'file-system' | 'options' | 'environment';

/** Base class of the errors whose message is meant for the user as is. */
export class SynthtuneError extends Error {
  /** Marks user-facing errors across module copies (dist/ and lib/ in one process). */
  readonly synthtuneUser = true;
  constructor(readonly kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SynthtuneError';
  }
}

/**
 * A run folder (synthesis or fit) that cannot be used as asked: damaged, foreign, written by another
 * version, a checkpoint of the wrong length, in use. `file` is the file at fault (or the folder);
 * the message says the way out (--restart, another --out).
 */
export class RunError extends SynthtuneError {
  constructor(readonly file: string, message: string, options?: { cause?: unknown }) {
    super('run', message, options);
    this.name = 'RunError';
  }
}

/** What the file system refused, in words: Node's errno codes. */
const FS_CODES: Record<string, string> = {
  EACCES: 'permission denied', EPERM: 'operation not permitted', EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device', EDQUOT: 'disk quota exceeded', EEXIST: 'it already exists',
  EISDIR: 'it is a folder, a file was expected', ENOTDIR: 'a part of the path is not a folder',
  ENOENT: 'no such file or folder', EMFILE: 'too many open files', ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'the name is too long', EIO: 'input/output error', EFBIG: 'the file is too large',
  ELOOP: 'too many symbolic links', EBUSY: 'the resource is busy', EXDEV: 'cross-device link',
};

/**
 * A recursive mkdir on a read-only or unwritable file system fails with ENOENT (libuv reports the
 * last error of its walk); the nearest existing folder above tells the real reason.
 */
function refinedCode(e: NodeJS.ErrnoException): string {
  const code = e.code ?? '';
  if (code !== 'ENOENT' || e.syscall !== 'mkdir' || !e.path) return code;
  let dir = path.dirname(e.path);
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    const probe = path.join(dir, `.synthtune-probe-${process.pid}`);
    fs.mkdirSync(probe);
    fs.rmdirSync(probe);
  } catch (x) {
    const c = (x as NodeJS.ErrnoException).code;
    if (c && c in FS_CODES && c !== 'ENOENT') return c;
  }
  return code;
}

/** A file-system operation the machine refused (errno code, syscall, path), as one line. */
export class FileSystemError extends SynthtuneError {
  readonly code: string;
  readonly syscall?: string;
  readonly path?: string;
  constructor(e: NodeJS.ErrnoException & { dest?: string }) {
    const code = refinedCode(e);
    const where = e.path ? `${e.path}${e.dest ? ` → ${e.dest}` : ''}` : 'a file';
    super('file-system', `cannot ${e.syscall ?? 'access'} ${where}: ${FS_CODES[code] ?? code} (${code})`, { cause: e });
    this.name = 'FileSystemError';
    this.code = code;
    this.syscall = e.syscall;
    this.path = e.path;
  }
}

/** Is this a Node file-system error the environment caused (errno code + syscall)? */
export function isFileSystemErrno(e: unknown): e is NodeJS.ErrnoException {
  const x = e as NodeJS.ErrnoException;
  return !!x && typeof x === 'object' && typeof x.code === 'string' && x.code in FS_CODES && typeof x.syscall === 'string';
}

/** An invalid option value or combination (CLI flags, library option objects). */
export class OptionsError extends SynthtuneError {
  constructor(message: string) {
    super('options', message);
    this.name = 'OptionsError';
  }
}

/** Is this error meant for the user (exit 2, one line), rather than a bug (stack trace, exit 1)? */
export function isUserError(e: unknown): boolean {
  return isInputError(e) || (typeof e === 'object' && e !== null && (e as { synthtuneUser?: unknown }).synthtuneUser === true);
}

/**
 * The error as the user should see it: a Node file-system error becomes a FileSystemError; user
 * errors pass unchanged; null for anything else (a bug).
 */
export function userError(e: unknown): Error | null {
  if (isUserError(e)) return e as Error;
  if (isFileSystemErrno(e)) return new FileSystemError(e);
  return null;
}

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
