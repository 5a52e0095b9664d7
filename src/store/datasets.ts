// Imported datasets and their tokenized caches. An import is all-or-nothing: the optional source file is
// written as an uncommitted blob first, then one transaction stores the record, the examples and the
// blob's commit, so a failure or a full disk leaves nothing half-stored.

import { StoreError } from './errors';
import { commitBlob, deleteBlobInTx, readBlobAsBlob, withWriteLock, writeBlob } from './blobs';
import {
  assertOpen,
  inTransaction,
  translateError,
  type DatasetRecord,
  type Store,
  type TokenizedKey,
  type TokenizedRecord,
} from './db';
import { ensureQuota } from './quota';

export interface DatasetInput<E = unknown> {
  /** Default: a random UUID. */
  id?: string;
  name: string;
  fileName: string;
  format: string;
  /** The parsed examples; must be JSON-serialisable. */
  examples: E[];
  stats?: unknown;
  /** The original file, kept so the column mapping can be changed later. */
  source?: Blob | Uint8Array;
}

export async function importDataset<E>(store: Store, input: DatasetInput<E>): Promise<DatasetRecord> {
  assertOpen(store);
  const label = `dataset "${input.name}" (${input.fileName})`;
  if (!Array.isArray(input.examples)) throw new StoreError(`${label}: examples must be an array`);
  let json: string;
  try {
    json = JSON.stringify(input.examples);
  } catch (err) {
    throw new StoreError(`${label}: examples are not JSON-serialisable: ${(err as Error).message}`);
  }
  const source = input.source;
  const sourceSize = source === undefined ? 0 : source instanceof Blob ? source.size : source.byteLength;
  await ensureQuota(json.length + sourceSize, store.estimate, `the ${label}`);

  return withWriteLock(store, async (lock) => {
    const blob =
      source === undefined ? undefined : await writeBlob(store, source, { lock, label: `source file of ${label}` });
    const record: DatasetRecord = {
      id: input.id ?? crypto.randomUUID(),
      name: input.name,
      fileName: input.fileName,
      format: input.format,
      createdAt: Date.now(),
      exampleCount: input.examples.length,
      stats: input.stats ?? null,
      ...(blob
        ? { sourceBlobId: blob.id, sourceSize: blob.size, sourceType: source instanceof Blob ? source.type : '' }
        : {}),
    };
    try {
      return await inTransaction(
        store,
        ['datasets', 'datasetExamples', 'blobs'],
        'readwrite',
        `importing the ${label}`,
        async (tx) => {
          if (await tx.objectStore('datasets').get(record.id))
            throw new StoreError(`a dataset with id "${record.id}" already exists`);
          if (blob) await commitBlob(tx, blob);
          await tx.objectStore('datasets').put(record);
          await tx.objectStore('datasetExamples').put({ datasetId: record.id, examples: input.examples });
          return record;
        },
      );
    } catch (err) {
      if (blob)
        await inTransaction(store, ['blobs', 'chunks'], 'readwrite', 'cleanup', (tx) =>
          deleteBlobInTx(tx, blob.id),
        ).catch(() => undefined);
      throw translateError(store, err, `importing the ${label}`);
    }
  });
}

export async function getDataset(store: Store, id: string): Promise<DatasetRecord | undefined> {
  assertOpen(store);
  return store.db.get('datasets', id);
}

/** All datasets (records only, not their examples), newest first. */
export async function listDatasets(store: Store): Promise<DatasetRecord[]> {
  assertOpen(store);
  return (await store.db.getAll('datasets')).sort((a, b) => b.createdAt - a.createdAt);
}

export async function getDatasetExamples<E = unknown>(store: Store, id: string): Promise<E[]> {
  assertOpen(store);
  const rec = await store.db.get('datasetExamples', id);
  if (!rec) throw new StoreError(`no dataset with id "${id}"`);
  return rec.examples as E[];
}

/** The dataset's original file (verified), or undefined when it was not kept. */
export async function readDatasetSource(store: Store, id: string): Promise<Blob | undefined> {
  const rec = await getDataset(store, id);
  if (!rec) throw new StoreError(`no dataset with id "${id}"`);
  if (!rec.sourceBlobId) return undefined;
  return readBlobAsBlob(store, rec.sourceBlobId, rec.sourceType ?? '', `source file of dataset "${rec.name}"`);
}

/** Deletes the dataset, its examples, its source file and its tokenized caches. */
export async function deleteDataset(store: Store, id: string): Promise<boolean> {
  return inTransaction(
    store,
    ['datasets', 'datasetExamples', 'tokenized', 'blobs', 'chunks'],
    'readwrite',
    `deleting dataset "${id}"`,
    async (tx) => {
      const rec = await tx.objectStore('datasets').get(id);
      await tx.objectStore('datasets').delete(id);
      await tx.objectStore('datasetExamples').delete(id);
      const tokenized = tx.objectStore('tokenized');
      for (const key of await tokenized.index('byDataset').getAllKeys(id)) await tokenized.delete(key);
      if (rec?.sourceBlobId) await deleteBlobInTx(tx, rec.sourceBlobId);
      return rec !== undefined;
    },
  );
}

// ---- tokenized caches ----

/** Tokenized examples: one Int32Array of ids per sequence, optional labels of the same lengths. */
export interface TokenizedData {
  sequences: Int32Array[];
  labels?: Int32Array[];
  stats?: unknown;
}

function checkKey(key: TokenizedKey): [string, string, string, number, string] {
  const { datasetId, tokenizerHash, mode, maxLength, optionsHash } = key;
  for (const [field, v] of Object.entries({ datasetId, tokenizerHash, mode, optionsHash }))
    if (typeof v !== 'string' || v === '')
      throw new StoreError(`tokenized cache key: ${field} must be a non-empty string`);
  if (!Number.isInteger(maxLength) || maxLength <= 0)
    throw new StoreError(`tokenized cache key: maxLength must be a positive integer, got ${maxLength}`);
  return [datasetId, tokenizerHash, mode, maxLength, optionsHash];
}

function flatten(seqs: Int32Array[], offsets: Uint32Array): Int32Array {
  const flat = new Int32Array(offsets[seqs.length]);
  seqs.forEach((s, i) => flat.set(s, offsets[i]));
  return flat;
}

/** Stores (or replaces) the tokenized cache for `key`; the dataset must exist. */
export async function putTokenized(store: Store, key: TokenizedKey, data: TokenizedData): Promise<void> {
  const k = checkKey(key);
  const { sequences, labels } = data;
  if (labels && labels.length !== sequences.length)
    throw new StoreError(`tokenized cache: ${labels.length} label rows for ${sequences.length} sequences`);
  const offsets = new Uint32Array(sequences.length + 1);
  sequences.forEach((s, i) => {
    if (labels && labels[i].length !== s.length)
      throw new StoreError(`tokenized cache: sequence ${i} has ${s.length} ids but ${labels[i].length} labels`);
    offsets[i + 1] = offsets[i] + s.length;
  });
  const record: TokenizedRecord = {
    datasetId: k[0],
    tokenizerHash: k[1],
    mode: k[2],
    maxLength: k[3],
    optionsHash: k[4],
    count: sequences.length,
    offsets,
    ids: flatten(sequences, offsets),
    ...(labels ? { labels: flatten(labels, offsets) } : {}),
    ...(data.stats !== undefined ? { stats: data.stats } : {}),
    createdAt: Date.now(),
  };
  await ensureQuota(
    record.ids.byteLength * (labels ? 2 : 1) + offsets.byteLength,
    store.estimate,
    'the tokenized cache',
  );
  await inTransaction(
    store,
    ['datasets', 'tokenized'],
    'readwrite',
    `caching tokenized dataset "${key.datasetId}"`,
    async (tx) => {
      if (!(await tx.objectStore('datasets').get(key.datasetId)))
        throw new StoreError(`no dataset with id "${key.datasetId}" to cache tokens for`);
      await tx.objectStore('tokenized').put(record);
    },
  );
}

/** The tokenized cache for `key`, or undefined. Sequences are views into one shared buffer. */
export async function getTokenized(store: Store, key: TokenizedKey): Promise<TokenizedData | undefined> {
  assertOpen(store);
  const rec = await store.db.get('tokenized', checkKey(key));
  if (!rec) return undefined;
  const rows = (flat: Int32Array): Int32Array[] =>
    Array.from({ length: rec.count }, (_, i) => flat.subarray(rec.offsets[i], rec.offsets[i + 1]));
  return {
    sequences: rows(rec.ids),
    ...(rec.labels ? { labels: rows(rec.labels) } : {}),
    ...(rec.stats !== undefined ? { stats: rec.stats } : {}),
  };
}

/** Deletes every tokenized cache of a dataset; resolves with how many there were. */
export async function deleteTokenized(store: Store, datasetId: string): Promise<number> {
  return inTransaction(store, ['tokenized'], 'readwrite', `deleting tokenized caches of "${datasetId}"`, async (tx) => {
    const keys = await tx.objectStore('tokenized').index('byDataset').getAllKeys(datasetId);
    for (const key of keys) await tx.objectStore('tokenized').delete(key);
    return keys.length;
  });
}
