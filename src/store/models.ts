// Imported base models: a named set of files (config.json, *.safetensors, tokenizer files) stored as
// chunked blobs. The model record and the commit of all its blobs are one transaction, so an interrupted
// or wrong-size import never becomes a cached model.

import type { FileSource } from '../core/files';
import { StoreError } from './errors';
import { commitBlob, deleteBlobInTx, readBlobAsBlob, sizeOf, withWriteLock, writeBlob, type BlobData } from './blobs';
import { assertOpen, inTransaction, translateError, type BlobMeta, type ModelRecord, type Store } from './db';
import { ensureQuota } from './quota';

export interface ModelFileInput {
  /** Relative path inside the model folder, e.g. 'config.json'. */
  name: string;
  data: BlobData;
  /** MIME type for the Blob read back (default: the Blob's own, else ''). */
  type?: string;
  /** Expected byte size (a download's Content-Length); a mismatch fails the import. */
  size?: number;
  /** Expected SHA-256, hex (e.g. a Hub LFS oid); a mismatch fails the import. */
  sha256?: string;
}

export interface ModelInput {
  /** Default: a random UUID. */
  id?: string;
  name: string;
  source?: string;
  files: ModelFileInput[];
}

function checkFileName(name: string, seen: Set<string>): void {
  if (typeof name !== 'string' || name === '' || name.startsWith('/') || name.includes('\\') || name.includes('\0'))
    throw new StoreError(`model file name ${JSON.stringify(name)} is not a relative path`);
  if (name.split('/').some((part) => part === '' || part === '.' || part === '..'))
    throw new StoreError(`model file name ${JSON.stringify(name)} is not a plain relative path`);
  if (seen.has(name)) throw new StoreError(`model file ${JSON.stringify(name)} is given twice`);
  seen.add(name);
}

/** Stores a model's files; all of them or none (QuotaError / IntegrityError leave nothing behind). */
export async function importModel(store: Store, input: ModelInput): Promise<ModelRecord> {
  assertOpen(store);
  const label = `model "${input.name}"`;
  if (input.files.length === 0) throw new StoreError(`${label}: no files to import`);
  const seen = new Set<string>();
  for (const f of input.files) checkFileName(f.name, seen);
  const total = input.files.reduce((n, f) => n + (sizeOf(f.data) ?? f.size ?? 0), 0);
  await ensureQuota(total, store.estimate, `the ${label}`);

  return withWriteLock(store, async (lock) => {
    const written: BlobMeta[] = [];
    try {
      for (const f of input.files)
        written.push(
          await writeBlob(store, f.data, {
            lock,
            label: `${label}, file ${f.name}`,
            ...(f.size !== undefined ? { expectedSize: f.size } : {}),
            ...(f.sha256 !== undefined ? { expectedSha256: f.sha256 } : {}),
          }),
        );
      const record: ModelRecord = {
        id: input.id ?? crypto.randomUUID(),
        name: input.name,
        ...(input.source !== undefined ? { source: input.source } : {}),
        createdAt: Date.now(),
        totalSize: written.reduce((n, b) => n + b.size, 0),
        files: input.files.map((f, i) => ({
          name: f.name,
          blobId: written[i].id,
          size: written[i].size,
          sha256: written[i].sha256,
          type: f.type ?? (f.data instanceof Blob ? f.data.type : ''),
        })),
      };
      return await inTransaction(store, ['models', 'blobs'], 'readwrite', `importing the ${label}`, async (tx) => {
        if (await tx.objectStore('models').get(record.id))
          throw new StoreError(`a model with id "${record.id}" already exists`);
        for (const b of written) await commitBlob(tx, b);
        await tx.objectStore('models').put(record);
        return record;
      });
    } catch (err) {
      await inTransaction(store, ['blobs', 'chunks'], 'readwrite', 'cleanup', async (tx) => {
        for (const b of written) await deleteBlobInTx(tx, b.id);
      }).catch(() => undefined);
      throw translateError(store, err, `importing the ${label}`);
    }
  });
}

export async function getModel(store: Store, id: string): Promise<ModelRecord | undefined> {
  assertOpen(store);
  return store.db.get('models', id);
}

/** All imported models, newest first. */
export async function listModels(store: Store): Promise<ModelRecord[]> {
  assertOpen(store);
  return (await store.db.getAll('models')).sort((a, b) => b.createdAt - a.createdAt);
}

async function requireModel(store: Store, id: string): Promise<ModelRecord> {
  const model = await getModel(store, id);
  if (!model) throw new StoreError(`no model with id "${id}"`);
  return model;
}

/** One file of a model as a Blob, each chunk verified against its hash. */
export async function readModelFile(store: Store, modelId: string, fileName: string): Promise<Blob> {
  const model = await requireModel(store, modelId);
  const file = model.files.find((f) => f.name === fileName);
  if (!file) throw new StoreError(`model "${model.name}" has no file ${JSON.stringify(fileName)}`);
  return readBlobAsBlob(store, file.blobId, file.type, `model "${model.name}", file ${fileName}`);
}

/** The model's files as a FileSource for the engine's loaders; each file is read when asked for. */
export async function modelSource(store: Store, modelId: string): Promise<FileSource> {
  const model = await requireModel(store, modelId);
  const names = model.files.map((f) => f.name);
  return {
    label: `model "${model.name}" (stored)`,
    list: () => [...names],
    has: (path) => names.includes(path),
    blob: (path) => readModelFile(store, modelId, path),
  };
}

/** Deletes the model and its files. Resolves false when there was no such model. */
export async function deleteModel(store: Store, id: string): Promise<boolean> {
  return inTransaction(store, ['models', 'blobs', 'chunks'], 'readwrite', `deleting model "${id}"`, async (tx) => {
    const model = await tx.objectStore('models').get(id);
    if (!model) return false;
    await tx.objectStore('models').delete(id);
    for (const f of model.files) await deleteBlobInTx(tx, f.blobId);
    return true;
  });
}
