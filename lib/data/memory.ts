/**
 * In-memory inputs: arrays of strings or of document-like objects become Documents with the
 * same id rule as the file readers (content ids when absent, see ids.ts). Errors name the
 * source as `<memory>` and the 1-based position as the "line".
 */
import { InputTypeError } from '../util/errors';
import { DataError } from './errors';
import { IdAssigner } from './ids';
import type { Document } from './types';

export type DocumentLike = string | (Omit<Document, 'id'> & { id?: string | number });

const SOURCE = '<memory>';

function fromItem(item: DocumentLike, pos: number, ids: IdAssigner): Document {
  if (typeof item === 'string') return { id: ids.next(item), text: item };
  if (!item || typeof item.text !== 'string') throw new DataError(SOURCE, pos, "item needs a string 'text'");
  if (item.title !== undefined && typeof item.title !== 'string') throw new DataError(SOURCE, pos, "'title' must be a string");
  if (item.id !== undefined && !(typeof item.id === 'string' || (typeof item.id === 'number' && Number.isFinite(item.id)))) throw new DataError(SOURCE, pos, "'id' must be a string or a number");
  const { id, ...rest } = item;
  return { ...rest, id: id === undefined ? ids.next(item.text) : String(id) };
}

export function toDocuments(items: readonly DocumentLike[]): Document[] {
  if (!Array.isArray(items)) throw new InputTypeError(`expected an array of texts or documents, got ${items === null ? 'null' : typeof items}`);
  if (items.length === 0) throw new DataError(SOURCE, undefined, 'empty input (no item)');
  const ids = new IdAssigner();
  const seen = new Map<string, number>();
  return items.map((item, i) => {
    const doc = fromItem(item, i + 1, ids);
    const prev = seen.get(doc.id);
    if (prev !== undefined) throw new DataError(SOURCE, i + 1, `duplicate id '${doc.id}' (first seen at item ${prev})`);
    seen.set(doc.id, i + 1);
    return doc;
  });
}
