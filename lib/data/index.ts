/**
 * lib/data: everything that turns user files (text, CSV, JSONL, BEIR folders) or in-memory
 * arrays into Documents, Queries and Qrels, with errors that name file and line.
 */
export type { BeirDataset, CsvData, Document, Qrels, Query, ScoredPair, Tags } from './types';
export { DataError } from './errors';
export { contentId, IdAssigner } from './ids';
export { readLines, type Line, type LineOptions } from './lines';
export { iterateText, readText } from './text';
export { iterateJsonl, readJsonl, type JsonlOptions } from './jsonl';
export { beirText, readBeir, readQrels, type BeirOptions } from './beir';
export { csvRecords, readCsv, seededRandom, sniffDialect, type CsvDialect, type CsvDialectName, type CsvOptions, type CsvRecord } from './csv';
export { toDocuments, type DocumentLike } from './memory';
export { writeFileAtomic } from './atomic';
