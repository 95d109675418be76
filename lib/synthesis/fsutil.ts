/**
 * File helpers for run folders: every file a synthesis writes goes through here.
 *
 * writeAtomic (lib/data/atomic.ts) puts bytes in a temporary file next to the target, fsyncs it,
 * renames it over the target and fsyncs the folder, so a reader (or a process restarted after SIGKILL) sees either the
 * old file or the new one, never a half-written one. Temporary files left by a killed process
 * start with '.' and end in '.tmp'; lib/util/run-folder.ts removes them when a run resumes.
 */
import * as fs from 'node:fs';
import { writeFileAtomic, writeJsonAtomic } from '../data/atomic';
import { readRunJson } from '../util/run-folder';

const fsp = fs.promises;

/** Writes data (bytes, a string, or a sequence of string chunks) to file atomically. */
export const writeAtomic = writeFileAtomic;
export { writeJsonAtomic };

/**
 * Checkpoints are checksummed safetensors files (lib/util/run-folder.ts): writeTensor writes one
 * typed array atomically; readTensor checks the checksum, the dtype and the expected length, and
 * names the file and the way out (--restart) when it is damaged, truncated or of another plan.
 */
export { readTensor, writeTensor } from '../util/run-folder';

export async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}

/** A run folder's JSON file; damaged JSON is a RunError naming the file and the way out. */
export const readJson = readRunJson;
