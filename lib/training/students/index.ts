/**
 * Student registry: saving a student to a folder (student.json + weights.bin) and rebuilding
 * any kind from one. New kinds (the full transformer) register a factory here.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readTensorFile, writeJsonAtomic, writeTensorFile } from '../io';
import type { Student, StudentState } from '../student';
import { adapterFromState } from './adapter';
import { staticFromState } from './static';
import { fullFromState } from './full';
import { denseHeadFromState } from './dense-head';
import { InputRangeError } from '../../util/errors';

export { AdapterStudent, adapterFromState, type AdapterOptions, type MatmulFn } from './adapter';
export { StaticStudent, staticFromState, type StaticOptions, type TokenIds } from './static';
export { FullStudent, fullFromState } from './full';
export { DenseHeadStudent, denseHeadFromState } from './dense-head';

export type StudentFactory = (state: StudentState) => Student<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const FACTORIES = new Map<string, StudentFactory>([
  ['adapter', (s) => adapterFromState(s)],
  ['static', (s) => staticFromState(s)],
  ['full', (s) => fullFromState(s)],
  ['full+dense', (s) => denseHeadFromState(s)],
]);

export function registerStudent(kind: string, factory: StudentFactory): void {
  FACTORIES.set(kind, factory);
}

export function studentFromState(s: StudentState): Student<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const f = FACTORIES.get(s.kind);
  if (!f) throw new InputRangeError(`unknown student kind: ${s.kind}`);
  return f(s);
}

/** Writes dir/student.json ({kind, config}) and dir/weights.bin, each atomically. */
export async function saveStudentState(dir: string, s: StudentState): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  await writeTensorFile(path.join(dir, 'weights.bin'), { meta: { kind: s.kind, config: s.config }, tensors: s.tensors });
  await writeJsonAtomic(path.join(dir, 'student.json'), { kind: s.kind, config: s.config, weights: 'weights.bin' });
}

export async function saveStudent(dir: string, student: Student<unknown>): Promise<void> {
  await saveStudentState(dir, student.state());
}

export async function readStudentState(dir: string): Promise<StudentState> {
  const f = await readTensorFile<{ kind: string; config: Record<string, unknown> }>(path.join(dir, 'weights.bin'));
  return { kind: f.meta.kind, config: f.meta.config, tensors: f.tensors };
}

export async function loadStudent(dir: string): Promise<Student<any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return studentFromState(await readStudentState(dir));
}
