/**
 * Reading one JSON file of a model folder (config.json, tokenizer.json, modules.json, ...): absent
 * is undefined; a folder in its place, bad JSON or (with `object`) anything but a JSON object is a
 * ModelError naming the file. File-system refusals (EACCES, ...) pass through with their path.
 */
import * as fs from 'node:fs';
import { jsonSyntaxError } from '../data/json-error';
import { ModelError } from './errors';

export function readModelJson(file: string): unknown;
export function readModelJson(file: string, object: true): Record<string, unknown> | undefined;
export function readModelJson(file: string, object = false): unknown {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) return undefined;
  if (st.isDirectory()) throw new ModelError(`${file} is a folder; a JSON file was expected`);
  const text = fs.readFileSync(file, 'utf8');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    const { line, message } = jsonSyntaxError(e, text);
    throw new ModelError(`could not parse ${file}${line !== undefined ? `:${line}` : ''}: ${message}`, { cause: e });
  }
  if (object && (typeof v !== 'object' || v === null || Array.isArray(v))) throw new ModelError(`${file}: expected a JSON object`);
  return v;
}
