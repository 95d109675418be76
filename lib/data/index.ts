/**
 * lib/data: everything that turns user files (text, CSV, JSONL, DocumentArray JSON, BEIR folders,
 * synthesis runs) or in-memory arrays into Documents, Queries, Qrels and typed training data
 * (readTrainingData), with errors that name file and line.
 */
export type { BeirDataset, CsvData, DataKind, Document, MarginExample, Qrels, Query, ScoredPair, Tags, TrainingData } from './types';
export { DataError } from './errors';
export { contentId, IdAssigner } from './ids';
export { readLines, type Line, type LineOptions } from './lines';
export { iterateText, readText } from './text';
export { iterateJsonl, readJsonl, type JsonlOptions } from './jsonl';
export { beirText, readBeir, readQrels, type BeirOptions } from './beir';
export {
  COLUMN_ROLES, csvRecords, readCsv, readCsvDetailed, seededRandom, sniffDialect,
  type ColumnRole, type CsvDialect, type CsvDialectName, type CsvLayout, type CsvOptions, type CsvReading, type CsvRecord,
} from './csv';
export { FINETUNER_LABEL, FINETUNER_SCORE, jsonlRecords, jsonRecords, recordKind, recordsToData, type RawRecord } from './docarray';
export { readTexts, readTrainingData, subsample, textsFor, type DataFormat, type DataReading, type ReadDataOptions } from './forms';
export { toDocuments, type DocumentLike } from './memory';
export { writeFileAtomic } from './atomic';
export { evaluationSet, labeledQrels, type EvaluationSet, type EvaluationSetOptions } from './relevance';
export { distribution, KIND_USE, lengthStats, percentile, summarize, summarizeBeir, type DataSummary, type Distribution, type GroupStats, type LengthStats, type SummaryOptions } from './summary';
