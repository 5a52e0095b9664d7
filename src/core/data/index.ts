// The data pipeline: import and validate a dataset file, tokenize it for a training mode, split it.

export { DataError, DataErrors } from './errors';
export { DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_WHOLE_FILE_BYTES, readLines, type Line, type ReadOptions } from './read';
export {
  CHAT_ROLES,
  DATA_FORMATS,
  FIELDS,
  detectFormat,
  normalizeRecord,
  type ColumnMapping,
  type DataFormat,
  type Example,
  type Field,
} from './formats';
export { jsonArrayRecords, jsonlRecords, type RawRecord } from './json';
export { csvRecords } from './csv';
export { importDataset, detectFileType, type FileType, type ImportOptions, type ImportedDataset } from './import';
export {
  IGNORE_INDEX,
  TRAIN_MODES,
  encodeWithSpans,
  modeAcceptsFormat,
  tokenizeChat,
  tokenizeCompletion,
  tokenizeExamples,
  type Sequence,
  type TokenizeOptions,
  type TokenizeStats,
  type TokenizedDataset,
  type TrainMode,
} from './tokenize';
export { kFolds, shuffle, trainValSplit, type Split } from './split';
