import { describe, expect, it } from 'vitest';
import {
  IntegrityError,
  collectOrphans,
  getBlobMeta,
  readBlobAsBlob,
  readBlobBytes,
  sha256Hex,
  writeBlob,
  type BlobMeta,
  type Store,
} from '../../../src/store';
import { commitBlob } from '../../../src/store/blobs';
import { inTransaction } from '../../../src/store/db';
import { bytesOf, counts, freshDb, streamOf } from './helpers';

async function commit(store: Store, meta: BlobMeta): Promise<void> {
  await inTransaction(store, ['blobs'], 'readwrite', 'test commit', (tx) => commitBlob(tx, meta));
}

describe('chunked blobs', () => {
  it('splits into chunkSize pieces, records hashes, and reads back exactly', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    const data = bytesOf(16 * 4 + 5, 1);
    const meta = await writeBlob(store, data);
    expect(meta).toMatchObject({ size: 69, chunkCount: 5, chunkSize: 16, complete: false });
    expect(meta.sha256).toBe(await sha256Hex(data));
    expect(meta.chunkHashes).toEqual(
      await Promise.all([0, 1, 2, 3, 4].map((i) => sha256Hex(data.slice(i * 16, i * 16 + 16)))),
    );
    const sizes = (await store.db.getAll('chunks')).map((b) => b.byteLength);
    expect(sizes).toEqual([16, 16, 16, 16, 5]);
    await commit(store, meta);
    expect((await getBlobMeta(store, meta.id))?.complete).toBe(true);
    expect(await readBlobBytes(store, meta.id)).toEqual(data);
    expect(new Uint8Array(await (await readBlobAsBlob(store, meta.id)).arrayBuffer())).toEqual(data);
  });

  it('stores only the chunk, not the whole buffer a view points into', async () => {
    const store = await freshDb({ chunkSize: 8 }).open();
    const big = bytesOf(1000, 2);
    const meta = await writeBlob(store, big.subarray(100, 120));
    const stored = await store.db.getAll('chunks');
    expect(stored.map((b) => b.byteLength)).toEqual([8, 8, 4]);
    await commit(store, meta);
    expect(await readBlobBytes(store, meta.id)).toEqual(big.slice(100, 120));
  });

  it('writes Blobs and streams (re-chunked) with the same hash as bytes', async () => {
    const store = await freshDb({ chunkSize: 32 }).open();
    const data = bytesOf(200, 3);
    const fromBlob = await writeBlob(store, new Blob([data]));
    const fromStream = await writeBlob(store, streamOf(data, 7), { expectedSize: 200 });
    const expected = await sha256Hex(data);
    for (const meta of [fromBlob, fromStream]) {
      expect(meta).toMatchObject({ size: 200, chunkCount: 7, sha256: expected });
      await commit(store, meta);
      expect(await readBlobBytes(store, meta.id)).toEqual(data);
    }
  });

  it('handles an empty blob', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    const meta = await writeBlob(store, new Uint8Array(0));
    expect(meta).toMatchObject({ size: 0, chunkCount: 0, sha256: await sha256Hex(new Uint8Array(0)) });
    await commit(store, meta);
    expect(await readBlobBytes(store, meta.id)).toEqual(new Uint8Array(0));
  });

  it('a stream of the wrong size or hash is refused and leaves nothing stored', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    const data = bytesOf(50, 4);
    await expect(writeBlob(store, streamOf(data, 9), { expectedSize: 60, label: 'download x' })).rejects.toThrow(
      /download x: expected 60 bytes, got 50/,
    );
    await expect(writeBlob(store, streamOf(data, 9), { expectedSize: 40 })).rejects.toThrow(
      /expected 40 bytes, got more/,
    );
    await expect(writeBlob(store, data, { expectedSha256: '00'.repeat(32) })).rejects.toBeInstanceOf(IntegrityError);
    expect(await counts(store)).toMatchObject({ blobs: 0, chunks: 0 });
  });

  it('detects a corrupted chunk, a missing chunk, and a blob never completed', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    const meta = await writeBlob(store, bytesOf(40, 5));
    await expect(readBlobBytes(store, meta.id, 'thing')).rejects.toThrow(/thing: blob .* was never completely written/);
    await commit(store, meta);

    const chunk = new Uint8Array((await store.db.get('chunks', [meta.id, 1]))!);
    chunk[3] ^= 0xff;
    await store.db.put('chunks', chunk.buffer, [meta.id, 1]);
    const err = await readBlobBytes(store, meta.id, 'thing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as IntegrityError).kind).toBe('integrity');
    expect((err as Error).message).toMatch(/thing: chunk 1 of 3 fails its SHA-256 check/);
    await expect(readBlobAsBlob(store, meta.id)).rejects.toBeInstanceOf(IntegrityError);

    await store.db.delete('chunks', [meta.id, 2]);
    await expect(readBlobBytes(store, meta.id)).rejects.toThrow(/chunk 1 of 3 fails|chunk 2 of 3 is missing/);
  });

  it('detects a chunk replaced together with its length (whole-content hash)', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    const meta = await writeBlob(store, bytesOf(40, 6));
    await commit(store, meta);
    // Forge the recorded chunk hash as well: only the whole-content SHA-256 can catch it now.
    const forged = bytesOf(16, 99);
    await store.db.put('chunks', forged.slice().buffer, [meta.id, 0]);
    await store.db.put('blobs', {
      ...(await getBlobMeta(store, meta.id))!,
      chunkHashes: [await sha256Hex(forged), ...meta.chunkHashes.slice(1)],
    });
    await expect(readBlobBytes(store, meta.id)).rejects.toThrow(/SHA-256 mismatch/);
  });

  it('collectOrphans removes incomplete blobs, unreferenced complete ones, and chunks without a blob', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    await writeBlob(store, bytesOf(40, 7)); // incomplete: never committed
    const unreferenced = await writeBlob(store, bytesOf(20, 8));
    await commit(store, unreferenced); // complete, but nothing points at it
    await store.db.put('chunks', new ArrayBuffer(4), ['ghost', 0]);
    expect(await counts(store)).toMatchObject({ blobs: 2, chunks: 6 });
    expect(await collectOrphans(store)).toBe(3);
    expect(await counts(store)).toMatchObject({ blobs: 0, chunks: 0 });
    expect(await collectOrphans(store)).toBe(0);
  });
});
