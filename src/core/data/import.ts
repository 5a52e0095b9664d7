// Import a dataset file (JSONL, JSON array, CSV/TSV, TXT) into normalised examples: all of them, or a
// DataError naming file, line and field (or, when asked, DataErrors listing every bad record) — never a
// partial import.

import { DataError, DataErrors } from './errors';
import {
  checkColumnMapping,
  detectFormat,
  normalizeRecord,
  unknownSchemaError,
  type ColumnMapping,
  type DataFormat,
  type Example,
} from './formats';
import { jsonArrayRecords, jsonlRecords, type RawRecord } from './json';
import { csvRecords } from './csv';
import { firstChar, readLines, DEFAULT_MAX_WHOLE_FILE_BYTES } from './read';

export type FileType = 'jsonl' | 'json' | 'csv' | 'tsv' | 'txt';

export interface ImportOptions {
  /** The format of every record; 'auto' (default) detects it from the first record. */
  format?: DataFormat | 'auto';
  /** Field → column/key renames, e.g. `{prompt: 'question', completion: 'answer'}`. */
  columns?: ColumnMapping;
  /** Overrides the file type the name's extension (and the first character) suggest. */
  fileType?: FileType;
  /** Longest line accepted in JSONL/TXT files, in bytes (default 8 MiB). */
  maxLineBytes?: number;
  /** Largest JSON-array or CSV file accepted (they are parsed whole), in bytes (default 256 MiB). */
  maxWholeFileBytes?: number;
  /** Largest TXT document (paragraph) accepted, in characters (default 64 Mi). */
  maxDocumentChars?: number;
  onProgress?: (bytesRead: number, total: number) => void;
  /** Collect up to this many record errors (bad JSON on a line, a missing or mistyped field, a mixed schema)
   *  and throw them together as DataErrors, instead of stopping at the first (default 0: stop at the first).
   *  Errors of the file as a whole (invalid UTF-8, a line over the cap, broken CSV quoting) still end the
   *  reading, after the record errors found before them. */
  collectErrors?: number;
}

export interface ImportedDataset {
  format: DataFormat;
  examples: Example[];
  /** The line each example starts on (same order as `examples`). */
  lines: number[];
  fileName: string;
}

const DEFAULT_MAX_DOCUMENT_CHARS = 64 * 1024 * 1024;

function extension(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  const dot = base.lastIndexOf('.');
  return dot < 0 ? '' : base.slice(dot + 1).toLowerCase();
}

/** The file type from the extension; .json/.jsonl are told apart by their first character ('[' = array). */
export async function detectFileType(blob: Blob, fileName: string): Promise<FileType> {
  const ext = extension(fileName);
  if (ext === 'csv') return 'csv';
  if (ext === 'tsv') return 'tsv';
  if (ext === 'txt' || ext === 'text' || ext === 'md') return 'txt';
  const c = await firstChar(blob);
  if (ext === 'json' || ext === 'jsonl' || ext === 'ndjson') return c === '[' ? 'json' : 'jsonl';
  if (c === '[') return 'json';
  if (c === '{') return 'jsonl';
  throw new DataError(fileName, 1, 'unknown file type (expected .jsonl, .json, .csv, .tsv or .txt)');
}

/** A .txt file: documents separated by one or more blank lines; a document's lines are joined with "\n". */
async function txtExamples(blob: Blob, fileName: string, opts: ImportOptions): Promise<{ examples: Example[]; lines: number[] }> {
  const maxChars = opts.maxDocumentChars ?? DEFAULT_MAX_DOCUMENT_CHARS;
  const examples: Example[] = [];
  const lines: number[] = [];
  let doc: string[] = [];
  let docChars = 0;
  let docLine = 0;
  const flush = () => {
    if (doc.length > 0) {
      examples.push({ text: doc.join('\n') });
      lines.push(docLine);
    }
    doc = [];
    docChars = 0;
  };
  for await (const { line, text } of readLines(blob, fileName, { maxLineBytes: opts.maxLineBytes, onProgress: opts.onProgress })) {
    if (text.trim() === '') {
      flush();
      continue;
    }
    if (doc.length === 0) docLine = line;
    docChars += text.length + 1;
    if (docChars > maxChars)
      throw new DataError(fileName, docLine, `document longer than ${maxChars} characters (separate documents with a blank line)`);
    doc.push(text);
  }
  flush();
  return { examples, lines };
}

/**
 * Reads and validates a whole dataset file. Record formats: `{"text"}`, `{"prompt","completion"}`,
 * `{"messages":[{role,content}]}` (roles system/user/assistant), ShareGPT `{"conversations":[{from,value}]}`
 * (human/gpt/system) and Alpaca `{"instruction","input"?,"output","system"?}`; CSV columns by the same names.
 * Every record must be in the format of the first (or of `opts.format`).
 */
export async function importDataset(blob: Blob, fileName: string, opts: ImportOptions = {}): Promise<ImportedDataset> {
  const columns = checkColumnMapping(opts.columns, fileName);
  const want = opts.format ?? 'auto';
  if (want !== 'auto' && !['text', 'prompt-completion', 'messages', 'sharegpt', 'alpaca'].includes(want)) {
    throw new DataError(fileName, 1, `unknown format "${String(want)}" (auto, text, prompt-completion, messages, sharegpt, alpaca)`);
  }
  if (blob.size === 0) throw new DataError(fileName, 1, 'empty file');
  const fileType = opts.fileType ?? (await detectFileType(blob, fileName));

  if (fileType === 'txt') {
    if (want !== 'auto' && want !== 'text') throw new DataError(fileName, 1, `a .txt file holds raw text; it cannot be read as ${want}`);
    const { examples, lines } = await txtExamples(blob, fileName, opts);
    if (examples.length === 0) throw new DataError(fileName, 1, 'empty file (no text)');
    return { format: 'text', examples, lines, fileName };
  }

  // Record errors go to `fail`: thrown at once, or collected up to the limit.
  const limit = Math.max(0, Math.floor(opts.collectErrors ?? 0));
  const errors: DataError[] = [];
  const fail = (e: DataError): void => {
    if (limit === 0) throw e;
    errors.push(e);
    if (errors.length >= limit) throw new DataErrors(errors, true);
  };

  const maxWhole = opts.maxWholeFileBytes ?? DEFAULT_MAX_WHOLE_FILE_BYTES;
  let format: DataFormat | null = want === 'auto' ? null : want;
  let firstLine = 0;
  const examples: Example[] = [];
  const lines: number[] = [];
  try {
    let records: AsyncIterable<RawRecord> | Iterable<RawRecord>;
    if (fileType === 'jsonl')
      records = jsonlRecords(blob, fileName, {
        maxLineBytes: opts.maxLineBytes,
        onProgress: opts.onProgress,
        ...(limit > 0 ? { onBadRecord: fail } : {}),
      });
    else if (fileType === 'json') records = await jsonArrayRecords(blob, fileName, { maxBytes: maxWhole, onProgress: opts.onProgress });
    else
      records = await csvRecords(blob, fileName, {
        delimiter: fileType === 'tsv' ? '\t' : ',',
        maxBytes: maxWhole,
        onProgress: opts.onProgress,
      });

    for await (const { line, value } of records) {
      const rec = value as object;
      const ctx = { file: fileName, line, columns };
      if (want === 'auto') {
        const f = detectFormat(rec, columns);
        if (f === null) {
          fail(unknownSchemaError(rec, ctx));
          continue;
        }
        if (format === null) {
          format = f;
          firstLine = line;
        } else if (f !== format) {
          fail(new DataError(fileName, line, `record is ${f} but the first record (line ${firstLine}) is ${format}: mixed schemas`));
          continue;
        }
      }
      let example: Example;
      try {
        example = normalizeRecord(rec, format as DataFormat, ctx);
      } catch (e) {
        if (!(e instanceof DataError)) throw e;
        fail(e);
        continue;
      }
      examples.push(example);
      lines.push(line);
    }
  } catch (e) {
    // A fatal error after collected ones: report them all, the fatal one last.
    if (e instanceof DataErrors || errors.length === 0 || !(e instanceof DataError)) throw e;
    throw new DataErrors([...errors, e], false);
  }
  if (errors.length > 0) throw new DataErrors(errors, false);
  if (examples.length === 0 || format === null) throw new DataError(fileName, 1, 'empty file (no records)');
  return { format, examples, lines, fileName };
}
