// Checkpoints of runs, written so that no interruption loses the last good one: the new bytes go to a
// new blob, are verified, and only then does one transaction move the run's head to them and delete the
// old blob. A crash at any point leaves the previous head intact and at worst an orphan to collect.

import { StoreError } from './errors';
import { commitBlob, deleteBlobInTx, readBlobBytes, withWriteLock, writeBlob } from './blobs';
import { assertOpen, inTransaction, type CheckpointMeta, type HeadRecord, type Store } from './db';
import { ensureQuota } from './quota';

/**
 * Stores `bytes` as the new head checkpoint of `runId` and deletes the previous one. Throws QuotaError
 * before writing when the estimate says it will not fit, or when the browser refuses the write (the
 * partial blob is removed; the previous head stays loadable).
 */
export async function saveCheckpoint(
  store: Store,
  runId: string,
  bytes: Uint8Array | Blob,
  meta: CheckpointMeta,
): Promise<HeadRecord> {
  assertOpen(store);
  if (typeof runId !== 'string' || runId === '')
    throw new StoreError('saveCheckpoint: runId must be a non-empty string');
  if (!Number.isFinite(meta.step)) throw new StoreError(`saveCheckpoint: meta.step must be a number, got ${meta.step}`);
  const label = `checkpoint of run "${runId}" (step ${meta.step})`;
  const size = bytes instanceof Blob ? bytes.size : bytes.byteLength;
  // The old head stays until the swap, so the new one needs its full size free.
  await ensureQuota(size, store.estimate, `the ${label}`);
  return withWriteLock(store, async (lock) => {
    const blob = await writeBlob(store, bytes, { lock, label });
    return inTransaction(store, ['blobs', 'chunks', 'heads'], 'readwrite', `saving the ${label}`, async (tx) => {
      await commitBlob(tx, blob);
      const heads = tx.objectStore('heads');
      const old = await heads.get(runId);
      const head: HeadRecord = {
        runId,
        checkpointBlobId: blob.id,
        step: meta.step,
        sha256: blob.sha256,
        size: blob.size,
        meta,
        savedAt: Date.now(),
      };
      await heads.put(head);
      if (old && old.checkpointBlobId !== blob.id) await deleteBlobInTx(tx, old.checkpointBlobId);
      return head;
    }).catch(async (err: unknown) => {
      // The swap did not happen: the new blob is unreferenced; drop it now rather than at the next sweep.
      await inTransaction(store, ['blobs', 'chunks'], 'readwrite', 'cleanup', (tx) =>
        deleteBlobInTx(tx, blob.id),
      ).catch(() => undefined);
      throw err;
    });
  });
}

/** The run's head record (no bytes), or undefined when it has no checkpoint. */
export async function getHead(store: Store, runId: string): Promise<HeadRecord | undefined> {
  assertOpen(store);
  return store.db.get('heads', runId);
}

/** The run's head checkpoint with its bytes, verified against the recorded SHA-256 (IntegrityError if
 *  they differ), or undefined when the run has no checkpoint. */
export async function loadHead(
  store: Store,
  runId: string,
): Promise<(HeadRecord & { bytes: Uint8Array<ArrayBuffer> }) | undefined> {
  const head = await getHead(store, runId);
  if (!head) return undefined;
  const bytes = await readBlobBytes(store, head.checkpointBlobId, `checkpoint of run "${runId}" (step ${head.step})`);
  return { ...head, bytes };
}

/** Removes the run's head and its checkpoint blob. Resolves false when there was none. */
export async function deleteCheckpoint(store: Store, runId: string): Promise<boolean> {
  return inTransaction(
    store,
    ['blobs', 'chunks', 'heads'],
    'readwrite',
    `deleting the checkpoint of run "${runId}"`,
    (tx) => deleteHeadInTx(tx, runId),
  );
}

export async function deleteHeadInTx(tx: Parameters<typeof deleteBlobInTx>[0], runId: string): Promise<boolean> {
  const heads = tx.objectStore('heads');
  const head = await heads.get(runId);
  if (!head) return false;
  await heads.delete(runId);
  await deleteBlobInTx(tx, head.checkpointBlobId);
  return true;
}
