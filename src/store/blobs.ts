// Chunked blob storage: large byte strings split into ≤ 8 MiB chunks, each chunk written in its own
// transaction (so a killed worker leaves an incomplete blob, never a half-updated record), verified by
// re-reading and hashing, and committed only inside the transaction that references the blob.

import { IntegrityError } from './errors';
import { assertOpen, inTransaction, rangeOf, translateError, type BlobMeta, type Store, type StoreTx } from './db';
import { Sha256, sha256Hex } from '../core/sha256';

/** Bytes to store: in memory, a Blob/File (read slice by slice), or a stream (a download). */
export type BlobData = Uint8Array | Blob | ReadableStream<Uint8Array>;

export interface WriteBlobOptions {
  /** Web Lock of the write session (withWriteLock); marks the blob as in progress for other tabs. */
  lock?: string;
  /** Fail unless exactly this many bytes arrive (downloads). */
  expectedSize?: number;
  /** Fail unless the content has this SHA-256 (hex). */
  expectedSha256?: string;
  /** What is being written, for messages, e.g. 'checkpoint of run "r1" (step 20)'. */
  label?: string;
}

/** Byte size of `data` when known without reading it. */
export function sizeOf(data: BlobData): number | undefined {
  if (data instanceof Uint8Array) return data.byteLength;
  if (data instanceof Blob) return data.size;
  return undefined;
}

/**
 * Runs `body` holding a fresh Web Lock; blobs written with `{ lock }` inside it are left alone by
 * collectOrphans in any tab until the lock is released (the write committed, failed, or its worker died).
 */
export async function withWriteLock<T>(store: Store, body: (lock: string) => Promise<T>): Promise<T> {
  const lock = `whetstone-write:${store.name}:${crypto.randomUUID()}`;
  if (!store.locks) return body(lock);
  return store.locks.request(lock, () => body(lock));
}

async function* chunksOf(data: BlobData, chunkSize: number): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  if (data instanceof Uint8Array) {
    // slice, not subarray: a stored view would clone its whole underlying buffer.
    for (let a = 0; a < data.byteLength; a += chunkSize) yield data.slice(a, Math.min(a + chunkSize, data.byteLength));
    return;
  }
  if (data instanceof Blob) {
    for (let a = 0; a < data.size; a += chunkSize)
      yield new Uint8Array(await data.slice(a, Math.min(a + chunkSize, data.size)).arrayBuffer());
    return;
  }
  const reader = data.getReader();
  let finished = false;
  try {
    let buf = new Uint8Array(chunkSize);
    let fill = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (let off = 0; off < value.byteLength;) {
        const n = Math.min(chunkSize - fill, value.byteLength - off);
        buf.set(value.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === chunkSize) {
          yield buf;
          buf = new Uint8Array(chunkSize);
          fill = 0;
        }
      }
    }
    finished = true;
    if (fill > 0) yield buf.slice(0, fill);
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/**
 * Writes `data` as a new blob and verifies it: an incomplete meta record, then each chunk in its own
 * transaction, then every chunk re-read and hashed. Resolves with the meta (still `complete: false`):
 * the caller commits it with commitBlob in the transaction that references it. On failure what was
 * written is removed; if the worker dies instead, collectOrphans removes it at the next start.
 */
export async function writeBlob(store: Store, data: BlobData, options: WriteBlobOptions = {}): Promise<BlobMeta> {
  assertOpen(store);
  const label = options.label ?? 'blob';
  const id = crypto.randomUUID();
  const known = sizeOf(data);
  const { expectedSize, expectedSha256 } = options;
  if (known !== undefined && expectedSize !== undefined && known !== expectedSize)
    throw new IntegrityError(`${label}: expected ${expectedSize} bytes, got ${known}`);
  const size = known ?? expectedSize ?? 0;
  const chunkSize = store.chunkSize;
  const meta: BlobMeta = {
    id,
    size,
    sha256: '',
    chunkCount: Math.ceil(size / chunkSize),
    chunkSize,
    chunkHashes: [],
    complete: false,
    createdAt: Date.now(),
    ...(options.lock ? { lock: options.lock } : {}),
  };
  await inTransaction(store, ['blobs'], 'readwrite', `writing ${label}`, async (tx) => {
    await tx.objectStore('blobs').put(meta);
  });
  try {
    await store.faults.onWriteStep?.({ kind: 'meta', blobId: id });
    // Bytes in memory hash fastest in one subtle.digest; other sources are hashed as they stream by.
    const hasher = data instanceof Uint8Array ? null : new Sha256();
    const hashes: string[] = [];
    let written = 0;
    for await (const chunk of chunksOf(data, chunkSize)) {
      if (expectedSize !== undefined && written + chunk.byteLength > expectedSize)
        throw new IntegrityError(`${label}: expected ${expectedSize} bytes, got more`);
      hasher?.update(chunk);
      const hash = await sha256Hex(chunk);
      const index = hashes.length;
      await inTransaction(store, ['chunks'], 'readwrite', `writing ${label}`, async (tx) => {
        await tx.objectStore('chunks').put(chunk.buffer, [id, index]);
      });
      hashes.push(hash);
      written += chunk.byteLength;
      await store.faults.onWriteStep?.({ kind: 'chunk', blobId: id, index });
    }
    if (expectedSize !== undefined && written !== expectedSize)
      throw new IntegrityError(`${label}: expected ${expectedSize} bytes, got ${written}`);
    const sha256 = hasher ? hasher.digestHex() : await sha256Hex(data as Uint8Array);
    if (expectedSha256 !== undefined && sha256 !== expectedSha256.toLowerCase())
      throw new IntegrityError(`${label}: SHA-256 is ${sha256}, expected ${expectedSha256}`);
    // Verify: what reads back must hash as what was written.
    for (let index = 0; index < hashes.length; index++) {
      const stored = await store.db.get('chunks', [id, index]);
      if (!stored || (await sha256Hex(new Uint8Array(stored))) !== hashes[index])
        throw new IntegrityError(`${label}: chunk ${index} of blob ${id} did not read back as written`);
    }
    await store.faults.onWriteStep?.({ kind: 'verified', blobId: id });
    return { ...meta, size: written, sha256, chunkCount: hashes.length, chunkHashes: hashes };
  } catch (err) {
    await deleteBlob(store, id).catch(() => undefined); // else the next collectOrphans removes it
    throw translateError(store, err, `writing ${label}`);
  }
}

/** Marks a written blob complete, inside the caller's transaction (which must include 'blobs'). */
export async function commitBlob(tx: StoreTx<'readwrite'>, meta: BlobMeta): Promise<void> {
  const blobs = tx.objectStore('blobs');
  const current = await blobs.get(meta.id);
  if (!current)
    throw new IntegrityError(`blob ${meta.id} vanished before it was committed (removed as an orphan by another tab?)`);
  const { lock: _lock, ...rest } = meta;
  await blobs.put({ ...rest, complete: true });
}

/** Deletes a blob's meta record and chunks inside the caller's transaction ('blobs' and 'chunks'). */
export async function deleteBlobInTx(tx: StoreTx<'readwrite'>, id: string): Promise<void> {
  await tx.objectStore('blobs').delete(id);
  await tx.objectStore('chunks').delete(rangeOf(id));
}

export async function deleteBlob(store: Store, id: string): Promise<void> {
  await inTransaction(store, ['blobs', 'chunks'], 'readwrite', `deleting blob ${id}`, (tx) => deleteBlobInTx(tx, id));
}

export async function getBlobMeta(store: Store, id: string): Promise<BlobMeta | undefined> {
  assertOpen(store);
  return store.db.get('blobs', id);
}

async function completeMeta(store: Store, id: string, label: string): Promise<BlobMeta> {
  const meta = await getBlobMeta(store, id);
  if (!meta) throw new IntegrityError(`${label}: blob ${id} is missing`);
  if (!meta.complete) throw new IntegrityError(`${label}: blob ${id} was never completely written`);
  return meta;
}

/** Reads chunk `index`, checking it against the hash recorded when it was written. */
async function readChunk(store: Store, meta: BlobMeta, index: number, label: string): Promise<Uint8Array<ArrayBuffer>> {
  const stored = await store.db.get('chunks', [meta.id, index]);
  if (!stored) throw new IntegrityError(`${label}: chunk ${index} of ${meta.chunkCount} is missing (blob ${meta.id})`);
  const bytes = new Uint8Array(stored);
  if ((await sha256Hex(bytes)) !== meta.chunkHashes[index])
    throw new IntegrityError(
      `${label}: chunk ${index} of ${meta.chunkCount} fails its SHA-256 check (blob ${meta.id})`,
    );
  return bytes;
}

/** The blob's bytes, every chunk and the whole verified against their SHA-256; IntegrityError if not. */
export async function readBlobBytes(store: Store, id: string, label = 'blob'): Promise<Uint8Array<ArrayBuffer>> {
  const meta = await completeMeta(store, id, label);
  const out = new Uint8Array(meta.size);
  let offset = 0;
  for (let i = 0; i < meta.chunkCount; i++) {
    const bytes = await readChunk(store, meta, i, label);
    if (offset + bytes.byteLength > meta.size)
      throw new IntegrityError(`${label}: stored chunks hold more than the recorded ${meta.size} bytes (blob ${id})`);
    out.set(bytes, offset);
    offset += bytes.byteLength;
  }
  if (offset !== meta.size)
    throw new IntegrityError(`${label}: stored chunks hold ${offset} bytes, expected ${meta.size} (blob ${id})`);
  const sha256 = await sha256Hex(out);
  if (sha256 !== meta.sha256)
    throw new IntegrityError(`${label}: SHA-256 mismatch: stored ${meta.sha256}, read back ${sha256} (blob ${id})`);
  return out;
}

/** The blob as a Blob, each chunk verified against the hash recorded when it was written. */
export async function readBlobAsBlob(store: Store, id: string, type = '', label = 'blob'): Promise<Blob> {
  const meta = await completeMeta(store, id, label);
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  for (let i = 0; i < meta.chunkCount; i++) {
    const bytes = await readChunk(store, meta, i, label);
    parts.push(bytes);
    size += bytes.byteLength;
  }
  if (size !== meta.size)
    throw new IntegrityError(`${label}: stored chunks hold ${size} bytes, expected ${meta.size} (blob ${id})`);
  return new Blob(parts, { type });
}

async function heldLocks(store: Store): Promise<Set<string>> {
  if (!store.locks) return new Set();
  try {
    const { held = [] } = await store.locks.query();
    return new Set(held.map((l) => l.name).filter((n): n is string => typeof n === 'string'));
  } catch {
    return new Set();
  }
}

/**
 * Deletes blobs nobody references (no head, model or dataset) and incomplete ones whose writer is gone
 * (a worker killed mid-write), and chunks without a blob. Call at start. Resolves with the number of
 * blobs removed. An incomplete blob whose writer still holds its Web Lock (another tab) is kept.
 */
export async function collectOrphans(store: Store): Promise<number> {
  assertOpen(store);
  // Incomplete blobs seen before asking for the locks: a writer takes its lock before its first record,
  // so any of these whose lock is not held now has lost its writer.
  const pending = (await store.db.getAll('blobs')).filter((m) => !m.complete);
  const held = await heldLocks(store);
  const abandoned = new Set(pending.filter((m) => !(m.lock && held.has(m.lock))).map((m) => m.id));
  return inTransaction(
    store,
    ['blobs', 'chunks', 'heads', 'models', 'datasets'],
    'readwrite',
    'collecting orphaned blobs',
    async (tx) => {
      const referenced = new Set<string>();
      for (const head of await tx.objectStore('heads').getAll()) referenced.add(head.checkpointBlobId);
      for (const model of await tx.objectStore('models').getAll())
        for (const file of model.files) referenced.add(file.blobId);
      for (const dataset of await tx.objectStore('datasets').getAll())
        if (dataset.sourceBlobId) referenced.add(dataset.sourceBlobId);
      const metas = await tx.objectStore('blobs').getAll();
      const known = new Set(metas.map((m) => m.id));
      const doomed = new Set<string>();
      for (const m of metas) if (m.complete ? !referenced.has(m.id) : abandoned.has(m.id)) doomed.add(m.id);
      for (const [blobId] of await tx.objectStore('chunks').getAllKeys()) if (!known.has(blobId)) doomed.add(blobId);
      for (const id of doomed) await deleteBlobInTx(tx, id);
      return doomed.size;
    },
  );
}
