// The tokenize worker's session: dataset import (validated, stored in IndexedDB all-or-nothing),
// tokenization for a mode with progress (cached in IndexedDB for the training worker), and the per-example
// mask view. No tfjs here: it stays small and starts fast. tokenize.worker.ts exposes it.
import { blobSource } from '../src/core/files';
import { loadTokenizer, type WhetTokenizer } from '../src/core/tokenizer';
import { hashBlob } from '../src/core/hashes';
import { importDataset, detectFileType } from '../src/core/data/import';
import { jsonlRecords, jsonArrayRecords } from '../src/core/data/json';
import { csvRecords } from '../src/core/data/csv';
import { DataError, DataErrors } from '../src/core/data/errors';
import { IGNORE_INDEX, tokenizeChat, tokenizeCompletion, tokenizeExamples, type TokenizeStats } from '../src/core/data/tokenize';
import { trainValSplit } from '../src/core/data/split';
import type { ChatMessage } from '../src/core/chat-template';
import { WhetstoneError } from '../src/core/errors';
import * as db from '../src/store';
import { store } from './store-handle';
import { tokenizedKey } from '../src/bridge/cache-key';
import type {
  ColumnMapping,
  DataFormat,
  DatasetListItem,
  DatasetSummary,
  Example,
  ExplainResult,
  MaskPiece,
  Progress,
  TokenizeRequest,
  TokenizeResult,
} from '../src/bridge/protocol';

export interface ImportRequest {
  file: File;
  format: DataFormat | 'auto';
  columns?: ColumnMapping;
  /** Replace this stored dataset (a re-import with another mapping). */
  replaceId?: string;
}

export interface ImportErrorInfo {
  message: string;
  file: string | null;
  line: number | null;
  field: string | null;
}

export type ImportOutcome =
  | { ok: true; dataset: DatasetSummary }
  | {
      ok: false;
      /** The first error (or the only one). */
      error: ImportErrorInfo;
      /** Every record error found, in line order (up to MAX_IMPORT_ERRORS), the first included. */
      errors: ImportErrorInfo[];
      /** Reading stopped at MAX_IMPORT_ERRORS: the file has more. */
      moreErrors: boolean;
      columns: string[];
    };

/** How many record errors an import lists before it stops reading. */
const MAX_IMPORT_ERRORS = 100;

function errorInfo(e: DataError): ImportErrorInfo {
  return { message: e.message, file: e.file, line: e.line, field: e.field ?? null };
}

interface DatasetStats {
  sha256: string;
  columns: string[];
  columnMapping: ColumnMapping | null;
  lines: number[];
}

const PREVIEW = 20;
let tokReady: Promise<WhetTokenizer> | null = null;
let tokHash = '';


/** The first record's keys (JSON) or header (CSV), for the column mapping; [] when unreadable. */
async function firstColumns(file: File): Promise<string[]> {
  try {
    const type = await detectFileType(file, file.name);
    let first: unknown;
    if (type === 'jsonl') {
      for await (const r of jsonlRecords(file, file.name, {})) {
        first = r.value;
        break;
      }
    } else if (type === 'json') {
      for (const r of await jsonArrayRecords(file, file.name, {})) {
        first = r.value;
        break;
      }
    } else if (type === 'csv' || type === 'tsv') {
      for (const r of await csvRecords(file, file.name, { delimiter: type === 'tsv' ? '\t' : ',' })) {
        first = r.value;
        break;
      }
    } else return ['text'];
    return first && typeof first === 'object' && !Array.isArray(first) ? Object.keys(first) : [];
  } catch {
    return [];
  }
}

function summary(rec: db.DatasetRecord, examples: Example[]): DatasetSummary {
  const stats = (rec.stats ?? {}) as Partial<DatasetStats>;
  return {
    id: rec.id,
    name: rec.name,
    fileName: rec.fileName,
    format: rec.format as DataFormat,
    count: rec.exampleCount,
    preview: examples.slice(0, PREVIEW),
    previewLines: (stats.lines ?? []).slice(0, PREVIEW),
    columns: stats.columns ?? [],
    columnMapping: stats.columnMapping ?? null,
    sha256: stats.sha256 ?? '',
    size: rec.sourceSize ?? 0,
    createdAt: rec.createdAt,
  };
}

/** Validates the whole file, then stores it (record, examples and source in one transaction) or nothing. */
async function importFile(req: ImportRequest, onProgress?: (p: Progress) => void): Promise<ImportOutcome> {
  const { file } = req;
  const columns = await firstColumns(file);
  let imported;
  try {
    imported = await importDataset(file, file.name, {
      format: req.format,
      columns: req.columns,
      collectErrors: MAX_IMPORT_ERRORS,
      onProgress: (done, total) => void onProgress?.({ phase: 'reading', done, total }),
    });
  } catch (e) {
    if (e instanceof DataErrors) {
      return { ok: false, error: errorInfo(e), errors: e.errors.map(errorInfo), moreErrors: e.truncated, columns };
    }
    if (e instanceof DataError) return { ok: false, error: errorInfo(e), errors: [errorInfo(e)], moreErrors: false, columns };
    if (e instanceof WhetstoneError) {
      const info = { message: e.message, file: file.name, line: null, field: null };
      return { ok: false, error: info, errors: [info], moreErrors: false, columns };
    }
    throw e;
  }
  onProgress?.({ phase: 'hashing', done: 0, total: file.size });
  const stats: DatasetStats = { sha256: await hashBlob(file), columns, columnMapping: req.columns ?? null, lines: imported.lines };
  onProgress?.({ phase: 'storing', done: 0, total: file.size });
  const s = await store();
  const rec = await db.importDataset(s, { name: file.name, fileName: file.name, format: imported.format, examples: imported.examples, source: file, stats });
  if (req.replaceId && req.replaceId !== rec.id) await db.deleteDataset(s, req.replaceId).catch(() => undefined);
  return { ok: true, dataset: summary(rec, imported.examples) };
}

/** Re-reads a stored dataset's source file with another format or column mapping. */
async function remap(id: string, format: DataFormat | 'auto', columns: ColumnMapping | undefined, onProgress?: (p: Progress) => void): Promise<ImportOutcome> {
  const s = await store();
  const rec = await db.getDataset(s, id);
  if (!rec) throw new WhetstoneError('data', 'this dataset is no longer stored');
  const source = await db.readDatasetSource(s, id);
  if (!source) throw new WhetstoneError('data', 'the original file of this dataset was not kept: import it again');
  const file = new File([source], rec.fileName, { type: source.type });
  return importFile({ file, format, columns, replaceId: id }, onProgress);
}

async function listDatasets(): Promise<DatasetListItem[]> {
  const s = await store();
  return (await db.listDatasets(s)).map((d) => ({ id: d.id, name: d.name, fileName: d.fileName, format: d.format, count: d.exampleCount, createdAt: d.createdAt }));
}

async function openDataset(id: string): Promise<DatasetSummary> {
  const s = await store();
  const rec = await db.getDataset(s, id);
  if (!rec) throw new WhetstoneError('data', 'this dataset is no longer stored');
  return summary(rec, await db.getDatasetExamples<Example>(s, id));
}

async function examples(id: string, from: number, count: number): Promise<Example[]> {
  const all = await db.getDatasetExamples<Example>(await store(), id);
  return all.slice(from, from + count);
}

async function deleteDataset(id: string): Promise<void> {
  await db.deleteDataset(await store(), id);
}

async function setTokenizer(files: Record<string, Blob>, hash: string): Promise<void> {
  // Calls made meanwhile wait for this tokenizer rather than use the previous one.
  tokReady = loadTokenizer(blobSource('tokenizer', files));
  tokHash = hash;
  await tokReady;
}

async function requireTokenizer(): Promise<WhetTokenizer> {
  if (!tokReady) throw new WhetstoneError('tokenizer', 'no model is loaded: the tokenizer comes with the model (Model screen)');
  return tokReady;
}

async function tokenize(req: TokenizeRequest, onProgress?: (p: Progress) => void): Promise<TokenizeResult> {
  const t = await requireTokenizer();
  const s = await store();
  const key = tokenizedKey(req, tokHash);
  const cached = await db.getTokenized(s, key);
  if (cached?.labels && cached.stats) {
    const st = cached.stats as TokenizeStats & { chatTemplateFallback?: boolean };
    return { stats: st, lengths: cached.sequences.map((q) => q.length), chatTemplateFallback: st.chatTemplateFallback ?? false };
  }
  const examples = await db.getDatasetExamples<Example>(s, req.datasetId);
  const out = tokenizeExamples(examples, t, {
    mode: req.mode,
    maxLength: req.maxLength,
    trainOnPrompt: req.trainOnPrompt,
    onProgress: (done, total) => void onProgress?.({ phase: 'tokenizing', done, total }),
  });
  await db.putTokenized(s, key, {
    sequences: out.sequences.map((q) => Int32Array.from(q.inputIds)),
    labels: out.sequences.map((q) => Int32Array.from(q.labels)),
    stats: { ...out.stats, chatTemplateFallback: out.chatTemplateFallback },
  });
  return { stats: out.stats, lengths: out.sequences.map((q) => q.inputIds.length), chatTemplateFallback: out.chatTemplateFallback };
}

/** One example's tokens and which of them carry loss in this mode. */
async function explain(req: TokenizeRequest, index: number): Promise<ExplainResult> {
  const t = await requireTokenizer();
  const all = await db.getDatasetExamples<Example>(await store(), req.datasetId);
  const e = all[index];
  if (!e) throw new WhetstoneError('data', `there is no example ${index + 1} (the dataset has ${all.length})`);
  let ids: number[];
  let labels: number[];
  let note: string | undefined;
  if (req.mode === 'text') {
    const text = e.text ?? (e.messages ? t.applyChatTemplate(e.messages as ChatMessage[]) : `${e.prompt ?? ''}${e.completion ?? ''}`);
    ids = t.encode(text);
    if (t.eosTokenId !== null && ids[ids.length - 1] !== t.eosTokenId) ids.push(t.eosTokenId);
    labels = ids.slice();
    note = `continued pretraining packs documents into blocks of ${req.maxLength} tokens; every token is trained`;
  } else if (req.mode === 'completion') {
    if (typeof e.prompt !== 'string' || typeof e.completion !== 'string') throw new WhetstoneError('data', 'supervised (completion) mode needs prompt/completion examples');
    ({ inputIds: ids, labels } = tokenizeCompletion(t, e.prompt, e.completion, req.trainOnPrompt));
  } else {
    const messages: ChatMessage[] = e.messages
      ? (e.messages as ChatMessage[])
      : [
          { role: 'user', content: e.prompt ?? '' },
          { role: 'assistant', content: e.completion ?? '' },
        ];
    ({ inputIds: ids, labels } = tokenizeChat(t, messages, req.trainOnPrompt));
  }
  const truncated = req.mode !== 'text' && ids.length > req.maxLength;
  if (truncated) {
    ids = ids.slice(0, req.maxLength);
    labels = labels.slice(0, req.maxLength);
  }
  const special = new Set<number>(t.endOfTurnIds);
  for (const s of Object.values(t.specialTokens)) {
    const id = t.tokenToId(s);
    if (id !== undefined) special.add(id);
  }
  // Each token's text as it appears in the whole decode (a lone SentencePiece token loses its leading space).
  const pieces: MaskPiece[] = [];
  let prev = '';
  for (let k = 0; k < ids.length; k++) {
    const isSpecial = special.has(ids[k]);
    const cur = t.decode(ids.slice(0, k + 1));
    const text = isSpecial ? (t.idToToken(ids[k]) ?? '') : cur.startsWith(prev) ? cur.slice(prev.length) : t.decode([ids[k]]);
    prev = cur;
    pieces.push({ text, trained: k >= 1 && labels[k] !== IGNORE_INDEX, special: isSpecial });
  }
  return { pieces, truncated, tokens: ids.length, trained: pieces.filter((p) => p.trained).length, ...(note ? { note } : {}) };
}

/** The validation examples of a split with this seed and ratio (the same split the trainer makes when no
 *  example is dropped in tokenization): prompts the model did not train on, for Compare. */
async function heldOut(datasetId: string, valRatio: number, seed: number, count: number): Promise<Example[]> {
  const all = await db.getDatasetExamples<Example>(await store(), datasetId);
  if (all.length < 2 || valRatio <= 0) return all.slice(0, count);
  const { val } = trainValSplit(
    all.map((_, i) => i),
    { valRatio, seed },
  );
  return val.slice(0, count).map((i) => all[i]);
}

export const api = { importFile, remap, listDatasets, openDataset, examples, deleteDataset, setTokenizer, tokenize, explain, heldOut };
