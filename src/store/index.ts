// Whetstone's persistent storage in IndexedDB (through idb), used from the training worker and the page:
// datasets, tokenized caches, runs with their metrics, checkpoints with atomic head swaps, base models.

export { QuotaError, IntegrityError, StoreError } from './errors';
export {
  openStore,
  DEFAULT_DB_NAME,
  SCHEMA_VERSION,
  MAX_CHUNK_SIZE,
  DEFAULT_CHUNK_SIZE,
  type Store,
  type OpenStoreOptions,
  type StoreFaults,
  type WriteStep,
  type LockManagerLike,
  type WhetstoneSchema,
  type BlobMeta,
  type CheckpointMeta,
  type HeadRecord,
  type DatasetRecord,
  type TokenizedKey,
  type RunRecord,
  type RunStatus,
  type MetricRow,
  type ModelRecord,
  type ModelFileRecord,
} from './db';
export {
  ensureQuota,
  storageEstimate,
  requestPersistence,
  isQuotaExceeded,
  formatMB,
  defaultEstimate,
  type EstimateFn,
  type StorageEstimateLike,
} from './quota';
export {
  writeBlob,
  readBlobBytes,
  readBlobAsBlob,
  getBlobMeta,
  deleteBlob,
  collectOrphans,
  withWriteLock,
  type BlobData,
  type WriteBlobOptions,
} from './blobs';
export { saveCheckpoint, loadHead, getHead, deleteCheckpoint } from './checkpoints';
export {
  importDataset,
  getDataset,
  listDatasets,
  getDatasetExamples,
  readDatasetSource,
  deleteDataset,
  putTokenized,
  getTokenized,
  deleteTokenized,
  type DatasetInput,
  type TokenizedData,
} from './datasets';
export { createRun, getRun, listRuns, updateRun, appendMetrics, readMetrics, deleteRun, type RunInput } from './runs';
export {
  importModel,
  getModel,
  listModels,
  readModelFile,
  modelSource,
  deleteModel,
  type ModelInput,
  type ModelFileInput,
} from './models';
export { sha256Hex } from '../core/sha256';
