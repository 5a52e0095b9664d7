import { describe, expect, it } from 'vitest';
import {
  IntegrityError,
  collectOrphans,
  deleteCheckpoint,
  getHead,
  loadHead,
  saveCheckpoint,
  sha256Hex,
  type WriteStep,
} from '../../../src/store';
import { bytesOf, counts, dieAt, fakeLocks, freshDb } from './helpers';

const CHUNK = 16;
const A = bytesOf(40, 11); // 3 chunks
const B = bytesOf(CHUNK * 5 + 7, 12); // 6 chunks

// Every point of B's write where a worker can die: after its meta record, after each chunk, after verify.
const STEPS: string[] = ['meta', ...Array.from({ length: 6 }, (_, i) => `chunk ${i}`), 'verified'];
const stepName = (s: WriteStep): string => (s.kind === 'chunk' ? `chunk ${s.index}` : s.kind);

describe('checkpoints', () => {
  it('round-trips bytes and meta, and a new save replaces the head and deletes the old blob', async () => {
    const store = await freshDb({ chunkSize: CHUNK }).open();
    expect(await loadHead(store, 'run1')).toBeUndefined();
    const head = await saveCheckpoint(store, 'run1', A, { step: 10, loss: 2.5 });
    expect(head).toMatchObject({ runId: 'run1', step: 10, size: 40, sha256: await sha256Hex(A) });
    const loaded = await loadHead(store, 'run1');
    expect(loaded?.bytes).toEqual(A);
    expect(loaded?.meta).toEqual({ step: 10, loss: 2.5 });
    expect(await counts(store)).toEqual({ blobs: 1, chunks: 3, heads: 1 });

    await saveCheckpoint(store, 'run1', new Blob([B]), { step: 20 });
    expect((await loadHead(store, 'run1'))?.bytes).toEqual(B);
    expect((await getHead(store, 'run1'))?.step).toBe(20);
    expect(await counts(store)).toEqual({ blobs: 1, chunks: 6, heads: 1 });
    expect(await collectOrphans(store)).toBe(0);

    expect(await deleteCheckpoint(store, 'run1')).toBe(true);
    expect(await counts(store)).toEqual({ blobs: 0, chunks: 0, heads: 0 });
  });

  it('keeps heads of different runs apart', async () => {
    const store = await freshDb({ chunkSize: CHUNK }).open();
    await saveCheckpoint(store, 'r1', A, { step: 1 });
    await saveCheckpoint(store, 'r2', B, { step: 2 });
    expect((await loadHead(store, 'r1'))?.bytes).toEqual(A);
    expect((await loadHead(store, 'r2'))?.bytes).toEqual(B);
  });

  it.each(STEPS)('a worker killed at %s of a new checkpoint leaves the previous head loadable', async (at) => {
    const db = freshDb({ chunkSize: CHUNK });
    const first = await db.open();
    await saveCheckpoint(first, 'run', A, { step: 100 });
    first.close();

    // The "worker": starts writing B and never gets past `at`; then its connection goes away.
    const crash = dieAt((s) => stepName(s) === at);
    const worker = await db.open({ faults: crash });
    void saveCheckpoint(worker, 'run', B, { step: 200 });
    expect(stepName(await crash.reached)).toBe(at);
    worker.close();

    // Restart: the old head loads and verifies; the partial blob is the one orphan.
    const restarted = await db.open();
    const partial = await counts(restarted);
    expect(partial.blobs).toBe(2);
    expect(partial.chunks).toBe(3 + Math.min(STEPS.indexOf(at), 6)); // A's + B's chunks written before dying
    const head = await loadHead(restarted, 'run');
    expect(head?.step).toBe(100);
    expect(head?.bytes).toEqual(A);
    expect(head?.sha256).toBe(await sha256Hex(A));
    expect(await collectOrphans(restarted)).toBe(1);
    expect(await counts(restarted)).toEqual({ blobs: 1, chunks: 3, heads: 1 });

    // And the store keeps working.
    await saveCheckpoint(restarted, 'run', B, { step: 200 });
    expect((await loadHead(restarted, 'run'))?.bytes).toEqual(B);
    expect(await counts(restarted)).toEqual({ blobs: 1, chunks: 6, heads: 1 });
  });

  it.each(STEPS)('an error thrown at %s of a write removes the partial blob at once', async (at) => {
    const boom = new Error('worker task failed');
    const store = await freshDb({ chunkSize: CHUNK }).open({
      faults: {
        onWriteStep: (s) => {
          if (stepName(s) === at && armed) throw boom;
        },
      },
    });
    let armed = false;
    await saveCheckpoint(store, 'run', A, { step: 1 });
    armed = true;
    await expect(saveCheckpoint(store, 'run', B, { step: 2 })).rejects.toBe(boom);
    expect(await counts(store)).toEqual({ blobs: 1, chunks: 3, heads: 1 });
    expect((await loadHead(store, 'run'))?.bytes).toEqual(A);
  });

  it('a corrupted stored checkpoint is refused with an IntegrityError naming the run', async () => {
    const store = await freshDb({ chunkSize: CHUNK }).open();
    const head = await saveCheckpoint(store, 'run7', A, { step: 3 });
    const chunk = new Uint8Array((await store.db.get('chunks', [head.checkpointBlobId, 2]))!);
    chunk[0] ^= 1;
    await store.db.put('chunks', chunk.buffer, [head.checkpointBlobId, 2]);
    const err = await loadHead(store, 'run7').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/checkpoint of run "run7" \(step 3\): chunk 2 of 3 fails its SHA-256 check/);
  });

  it("another tab's collectOrphans leaves a write in progress alone (Web Locks), and it completes", async () => {
    const db = freshDb({ chunkSize: CHUNK });
    const locks = fakeLocks();
    let resume!: () => void;
    const paused = new Promise<void>((r) => (resume = r));
    let reached!: () => void;
    const atChunk2 = new Promise<void>((r) => (reached = r));
    const writer = await db.open({
      locks,
      faults: {
        onWriteStep: (s) => {
          if (s.kind === 'chunk' && s.index === 2) {
            reached();
            return paused;
          }
        },
      },
    });
    const other = await db.open({ locks });
    await saveCheckpoint(other, 'run', A, { step: 1 });
    const saving = saveCheckpoint(writer, 'run', B, { step: 2 });
    await atChunk2;
    expect(await collectOrphans(other)).toBe(0);
    resume();
    await saving;
    expect((await loadHead(other, 'run'))?.bytes).toEqual(B);
    expect(await counts(other)).toEqual({ blobs: 1, chunks: 6, heads: 1 });
  });

  it('rejects a missing run id or step', async () => {
    const store = await freshDb().open();
    await expect(saveCheckpoint(store, '', A, { step: 1 })).rejects.toThrow(/runId/);
    await expect(saveCheckpoint(store, 'r', A, { step: NaN })).rejects.toThrow(/meta.step/);
  });
});
