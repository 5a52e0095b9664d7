// The Whetstone IndexedDB database: record types, the schema (one upgrade step per version), and opening
// it so that another tab's upgrade closes this connection instead of being blocked by it, and an open
// blocked by an old tab fails with a clear error instead of waiting forever.

import { wrap, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import { WhetstoneError } from '../core/errors';
import { QuotaError, StoreError } from './errors';
import { defaultEstimate, isQuotaExceeded, type EstimateFn } from './quota';

export const DEFAULT_DB_NAME = 'whetstone';
export const SCHEMA_VERSION = 1;
/** Blob chunks are at most this large: big enough to keep the record count low, small enough that one
 *  chunk write is a short transaction that a killed worker interrupts cleanly. */
export const MAX_CHUNK_SIZE = 8 * 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = MAX_CHUNK_SIZE;

// ---- records ----

/** Metadata of a chunked blob; its bytes are in `chunks` under [id, 0..chunkCount-1]. */
export interface BlobMeta {
  id: string;
  size: number;
  /** SHA-256 of the whole content, hex ('' until known for streamed data). */
  sha256: string;
  chunkCount: number;
  chunkSize: number;
  /** SHA-256 of each chunk as written, hex; lets reads verify chunk by chunk. */
  chunkHashes: string[];
  /** False while being written; only a complete blob is ever referenced. */
  complete: boolean;
  createdAt: number;
  /** Web Lock held by the writer while incomplete; the orphan sweep leaves blobs of held locks alone. */
  lock?: string;
}

/** What a checkpoint says about itself besides its bytes (step at least). */
export interface CheckpointMeta {
  step: number;
  [key: string]: unknown;
}

/** A run's current checkpoint. */
export interface HeadRecord {
  runId: string;
  checkpointBlobId: string;
  step: number;
  sha256: string;
  size: number;
  meta: CheckpointMeta;
  savedAt: number;
}

export interface DatasetRecord {
  id: string;
  name: string;
  fileName: string;
  /** Detected or chosen format, e.g. 'messages', 'alpaca', 'csv'. */
  format: string;
  createdAt: number;
  exampleCount: number;
  stats: unknown;
  /** The original file, when it was kept (to re-map columns later). */
  sourceBlobId?: string;
  sourceSize?: number;
  sourceType?: string;
}

export interface DatasetExamplesRecord {
  datasetId: string;
  examples: unknown[];
}

/** Identity of a tokenized cache: the same dataset tokenized the same way. */
export interface TokenizedKey {
  datasetId: string;
  tokenizerHash: string;
  mode: string;
  maxLength: number;
  optionsHash: string;
}

/** Tokenized sequences stored flat: sequence i is ids[offsets[i] .. offsets[i+1]). */
export interface TokenizedRecord extends TokenizedKey {
  count: number;
  offsets: Uint32Array;
  ids: Int32Array;
  labels?: Int32Array;
  stats?: unknown;
  createdAt: number;
}

export type RunStatus = 'created' | 'running' | 'paused' | 'stopped' | 'completed' | 'failed';

export interface RunRecord {
  id: string;
  name: string;
  config: unknown;
  status: RunStatus;
  createdAt: number;
  updatedAt: number;
  /** Number of metric chunks appended (the next chunk's sequence number). */
  metricChunks: number;
  /** Number of metric rows over all chunks. */
  metricRows: number;
}

/** One logged row: step, loss, lr, an event name … */
export type MetricRow = Record<string, number | string | boolean | null>;

export interface ModelFileRecord {
  /** Relative path inside the model folder, e.g. 'config.json', 'model-00001-of-00002.safetensors'. */
  name: string;
  blobId: string;
  size: number;
  sha256: string;
  type: string;
}

export interface ModelRecord {
  id: string;
  name: string;
  /** Where it came from: a hub repo id, a URL, 'local files'. */
  source?: string;
  createdAt: number;
  totalSize: number;
  files: ModelFileRecord[];
}

export interface WhetstoneSchema extends DBSchema {
  blobs: { key: string; value: BlobMeta };
  chunks: { key: [string, number]; value: ArrayBuffer };
  heads: { key: string; value: HeadRecord };
  datasets: { key: string; value: DatasetRecord };
  datasetExamples: { key: string; value: DatasetExamplesRecord };
  tokenized: {
    key: [string, string, string, number, string];
    value: TokenizedRecord;
    indexes: { byDataset: string };
  };
  runs: { key: string; value: RunRecord };
  metrics: { key: [string, number]; value: MetricRow[] };
  models: { key: string; value: ModelRecord };
}

export type StoreName = StoreNames<WhetstoneSchema>;

function upgrade(db: IDBDatabase, oldVersion: number): void {
  if (oldVersion < 1) {
    db.createObjectStore('blobs', { keyPath: 'id' });
    db.createObjectStore('chunks'); // key [blobId, index], value ArrayBuffer
    db.createObjectStore('heads', { keyPath: 'runId' });
    db.createObjectStore('datasets', { keyPath: 'id' });
    db.createObjectStore('datasetExamples', { keyPath: 'datasetId' });
    const tokenized = db.createObjectStore('tokenized', {
      keyPath: ['datasetId', 'tokenizerHash', 'mode', 'maxLength', 'optionsHash'],
    });
    tokenized.createIndex('byDataset', 'datasetId');
    db.createObjectStore('runs', { keyPath: 'id' });
    db.createObjectStore('metrics'); // key [runId, chunk index], value MetricRow[]
    db.createObjectStore('models', { keyPath: 'id' });
  }
  // Next version: `if (oldVersion < 2) { … }`, never editing the steps above.
}

// ---- the connection ----

/** The part of the Web Locks API the store uses (navigator.locks, or a fake in tests). */
export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
  query(): Promise<{ held?: { name?: string }[] }>;
}

/** Where a blob write can be interrupted; tests pass a hook that throws or never resolves there. */
export type WriteStep =
  | { kind: 'meta'; blobId: string }
  | { kind: 'chunk'; blobId: string; index: number }
  | { kind: 'verified'; blobId: string };

export interface StoreFaults {
  /** Called after each durable step of a blob write (meta record, each chunk, verification). */
  onWriteStep?(step: WriteStep): void | Promise<void>;
}

export interface OpenStoreOptions {
  /** Database name (default 'whetstone'). */
  name?: string;
  /** The IndexedDB factory (default globalThis.indexedDB); tests pass a fresh fake one. */
  indexedDB?: IDBFactory;
  /** Schema version to open (default SCHEMA_VERSION); tests open a higher one to act as a newer app. */
  version?: number;
  /** Blob chunk size in bytes, 1 .. 8 MiB (default 8 MiB); tests use small chunks. */
  chunkSize?: number;
  /** Storage estimate for the pre-write quota check (default navigator.storage.estimate; null: none). */
  estimate?: EstimateFn | null;
  /** Web Locks (default navigator.locks; null: none). */
  locks?: LockManagerLike | null;
  /** Another tab wants a newer schema (or to delete the database): this connection is already closed
   *  when this is called; tell the user to reload. */
  onVersionChange?(event: { oldVersion: number; newVersion: number | null }): void;
  /** This open waits for other tabs to close an older connection. */
  onBlocked?(event: { oldVersion: number; newVersion: number | null }): void;
  /** How long a blocked open waits before failing with StoreError (default 10 s). */
  blockedTimeoutMs?: number;
  /** Fault injection for tests. */
  faults?: StoreFaults;
}

/** An open Whetstone database with the settings its writes use. */
export interface Store {
  readonly db: IDBPDatabase<WhetstoneSchema>;
  readonly name: string;
  readonly version: number;
  readonly chunkSize: number;
  readonly estimate: EstimateFn | null;
  readonly locks: LockManagerLike | null;
  readonly faults: StoreFaults;
  /** True once closed (by close(), by another tab's upgrade, or by the browser). */
  readonly closed: boolean;
  /** Why it closed: 'closed', 'versionchange' or 'terminated'; null while open. */
  readonly closeReason: 'closed' | 'versionchange' | 'terminated' | null;
  close(): void;
}

function defaultLocks(): LockManagerLike | null {
  const nav = (globalThis as { navigator?: { locks?: unknown } }).navigator;
  const locks = nav?.locks as LockManagerLike | undefined;
  return locks && typeof locks.request === 'function' && typeof locks.query === 'function' ? locks : null;
}

function checkChunkSize(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_CHUNK_SIZE)
    throw new StoreError(`chunkSize must be an integer from 1 to ${MAX_CHUNK_SIZE} bytes, got ${n}`);
  return n;
}

/** Opens (creating or upgrading) the Whetstone database. */
export function openStore(options: OpenStoreOptions = {}): Promise<Store> {
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  const name = options.name ?? DEFAULT_DB_NAME;
  const version = options.version ?? SCHEMA_VERSION;
  const blockedTimeoutMs = options.blockedTimeoutMs ?? 10_000;
  if (!factory)
    return Promise.reject(new StoreError('IndexedDB is not available here (a private window or an old browser?)'));
  if (!Number.isInteger(version) || version < SCHEMA_VERSION)
    return Promise.reject(new StoreError(`schema version must be an integer ≥ ${SCHEMA_VERSION}, got ${version}`));
  let chunkSize: number;
  try {
    chunkSize = checkChunkSize(options.chunkSize ?? DEFAULT_CHUNK_SIZE);
  } catch (err) {
    return Promise.reject(err);
  }

  return new Promise<Store>((resolve, reject) => {
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const fail = (err: unknown): void => {
      if (timer !== undefined) clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(err);
    };
    let request: IDBOpenDBRequest;
    try {
      request = factory.open(name, version);
    } catch (err) {
      fail(err);
      return;
    }
    request.onupgradeneeded = (event) => upgrade(request.result, event.oldVersion);
    request.onblocked = (event) => {
      options.onBlocked?.({ oldVersion: event.oldVersion, newVersion: event.newVersion });
      timer ??= setTimeout(
        () =>
          fail(
            new StoreError(
              `opening the Whetstone database "${name}" (version ${version}) is blocked: another tab keeps an ` +
                `older version open. Close or reload the other Whetstone tabs, then try again.`,
            ),
          ),
        blockedTimeoutMs,
      );
    };
    request.onerror = (event) => {
      event.preventDefault();
      const err = request.error;
      fail(
        err?.name === 'VersionError'
          ? new StoreError(
              `the Whetstone database "${name}" was written by a newer version of Whetstone than this tab ` +
                `(asked for schema ${version}); reload the page to update.`,
            )
          : (err ?? new StoreError(`opening the Whetstone database "${name}" failed`)),
      );
    };
    request.onsuccess = () => {
      if (timer !== undefined) clearTimeout(timer);
      const raw = request.result;
      if (settled) {
        // Blocked, gave up, then unblocked: nobody is waiting for this connection.
        raw.close();
        return;
      }
      settled = true;
      resolve(makeStore(raw, name, version, chunkSize, options));
    };
  });
}

function makeStore(
  raw: IDBDatabase,
  name: string,
  version: number,
  chunkSize: number,
  options: OpenStoreOptions,
): Store {
  let closeReason: Store['closeReason'] = null;
  raw.addEventListener('versionchange', (event) => {
    // Close at once so the other tab's upgrade (or delete) proceeds instead of being blocked by us.
    closeReason ??= 'versionchange';
    raw.close();
    options.onVersionChange?.({ oldVersion: event.oldVersion, newVersion: event.newVersion });
  });
  raw.addEventListener('close', () => {
    closeReason ??= 'terminated';
  });
  return {
    db: wrap(raw) as unknown as IDBPDatabase<WhetstoneSchema>,
    name,
    version,
    chunkSize,
    estimate: options.estimate === undefined ? defaultEstimate() : options.estimate,
    locks: options.locks === undefined ? defaultLocks() : options.locks,
    faults: options.faults ?? {},
    get closed() {
      return closeReason !== null;
    },
    get closeReason() {
      return closeReason;
    },
    close() {
      closeReason ??= 'closed';
      raw.close();
    },
  };
}

// ---- helpers for the store modules ----

function closedError(store: Store): StoreError {
  const why =
    store.closeReason === 'versionchange'
      ? ' because another tab opened a newer version of Whetstone; reload this tab'
      : store.closeReason === 'terminated'
        ? ' by the browser (storage cleared or disk error); reload this tab'
        : '';
  return new StoreError(`the Whetstone database "${store.name}" is closed${why}`);
}

export function assertOpen(store: Store): void {
  if (store.closed) throw closedError(store);
}

/** Turns an IndexedDB failure into the store's typed errors; `what` names the operation for the message. */
export function translateError(store: Store, err: unknown, what: string): unknown {
  if (err instanceof WhetstoneError) return err;
  if (isQuotaExceeded(err))
    return new QuotaError(
      `${what}: the browser's storage is full (QuotaExceededError); nothing of it was kept. ` +
        'Delete old runs, checkpoints, models or datasets to free space, then try again.',
    );
  if (store.closed) return closedError(store);
  return err;
}

export type StoreTx<M extends IDBTransactionMode> = IDBPTransaction<WhetstoneSchema, StoreName[], M>;

/**
 * Runs `body` in one transaction and resolves once it has committed. Bodies await each request in turn
 * (no stray request promises), so a throw aborts the transaction and nothing of it is kept.
 */
export async function inTransaction<T, M extends IDBTransactionMode>(
  store: Store,
  names: StoreName[],
  mode: M,
  what: string,
  body: (tx: StoreTx<M>) => Promise<T>,
): Promise<T> {
  assertOpen(store);
  let tx: StoreTx<M>;
  try {
    tx = store.db.transaction(names, mode) as unknown as StoreTx<M>;
  } catch (err) {
    throw translateError(store, err, what);
  }
  const done = tx.done;
  done.catch(() => undefined); // observed below; avoid an unhandled rejection when the body fails first
  try {
    const result = await body(tx);
    await done;
    return result;
  } catch (err) {
    try {
      tx.abort();
    } catch {
      // already committed or aborted
    }
    throw translateError(store, err, what);
  }
}

/** Key range of all chunks of a blob, or all metric chunks of a run. */
export function rangeOf(id: string): IDBKeyRange {
  return IDBKeyRange.bound([id, 0], [id, Infinity]);
}
