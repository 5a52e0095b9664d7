import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  QuotaError,
  collectOrphans,
  ensureQuota,
  formatMB,
  getDataset,
  importDataset,
  importModel,
  isQuotaExceeded,
  listDatasets,
  listModels,
  loadHead,
  requestPersistence,
  saveCheckpoint,
  storageEstimate,
  type EstimateFn,
} from '../../../src/store';
import { bytesOf, counts, freshDb } from './helpers';

const quotaError = (): DOMException => new DOMException('The quota has been exceeded.', 'QuotaExceededError');

/** Makes IDBObjectStore.put throw QuotaExceededError for `storeName` once `allowed` puts there went through. */
function failPutsInto(storeName: string, allowed: number) {
  const realPut = IDBObjectStore.prototype.put;
  let n = 0;
  return vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (
    this: IDBObjectStore,
    value: unknown,
    key?: IDBValidKey,
  ) {
    if (this.name === storeName && ++n > allowed) throw quotaError();
    return realPut.call(this, value, key);
  });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('quota', () => {
  it('ensureQuota refuses before writing, saying needed vs available in MB', async () => {
    const estimate: EstimateFn = async () => ({ usage: 95_500_000, quota: 100_000_000 });
    const err = await ensureQuota(12_300_000, estimate, 'the checkpoint').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaError);
    expect((err as QuotaError).kind).toBe('quota');
    expect((err as QuotaError).neededBytes).toBe(12_300_000);
    expect((err as QuotaError).availableBytes).toBe(4_500_000);
    expect((err as Error).message).toBe(
      'not enough storage for the checkpoint: it needs 12.3 MB but only 4.5 MB is available ' +
        '(95.5 MB of 100 MB used). Delete old runs, checkpoints, models or datasets to free space, then try again.',
    );
    await expect(ensureQuota(4_500_000, estimate)).resolves.toBeUndefined();
    // No estimate (or a failing one): nothing to check against, the write itself will tell.
    await expect(ensureQuota(1e12, null)).resolves.toBeUndefined();
    await expect(ensureQuota(1e12, () => Promise.reject(new Error('no')))).resolves.toBeUndefined();
  });

  it('formats small and large sizes readably', () => {
    expect(formatMB(1234)).toBe('0.001 MB');
    expect(formatMB(250_000)).toBe('0.3 MB');
    expect(formatMB(2_345_678_901)).toBe('2346 MB');
  });

  it('storageEstimate and requestPersistence degrade without navigator.storage', async () => {
    expect(await storageEstimate(null)).toBeUndefined();
    expect(await storageEstimate(async () => ({ usage: 10, quota: 100 }))).toEqual({
      usage: 10,
      quota: 100,
      available: 90,
    });
    expect(await requestPersistence()).toBe(false);
    vi.stubGlobal('navigator', { storage: { persisted: async () => false, persist: async () => true } });
    expect(await requestPersistence()).toBe(true);
    vi.unstubAllGlobals();
  });

  it('recognises QuotaExceededError in its usual shapes', () => {
    expect(isQuotaExceeded(quotaError())).toBe(true);
    expect(isQuotaExceeded({ name: 'AbortError', error: quotaError() })).toBe(true);
    expect(isQuotaExceeded(new DOMException('x', 'AbortError'))).toBe(false);
    expect(isQuotaExceeded(null)).toBe(false);
  });

  it('a checkpoint over the estimate fails before writing; the head stays; a later write succeeds', async () => {
    let free = 100;
    const store = await freshDb({ chunkSize: 64 }).open({ estimate: async () => ({ usage: 1e6 - free, quota: 1e6 }) });
    await saveCheckpoint(store, 'run', bytesOf(80, 1), { step: 1 });
    const err = await saveCheckpoint(store, 'run', bytesOf(300, 2), { step: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaError);
    expect((err as Error).message).toMatch(/checkpoint of run "run" \(step 2\): it needs 0\.000 MB but only 0\.000 MB/);
    expect((err as QuotaError).neededBytes).toBe(300);
    expect(await counts(store)).toEqual({ blobs: 1, chunks: 2, heads: 1 });
    expect((await loadHead(store, 'run'))?.step).toBe(1);
    free = 10_000;
    await saveCheckpoint(store, 'run', bytesOf(300, 2), { step: 2 });
    expect((await loadHead(store, 'run'))?.bytes).toEqual(bytesOf(300, 2));
  });

  it.each([0, 1, 3])(
    'the disk filling up at chunk %i of a checkpoint gives QuotaError, cleans up, keeps the head, and recovers',
    async (allowed) => {
      const store = await freshDb({ chunkSize: 16 }).open();
      await saveCheckpoint(store, 'run', bytesOf(40, 3), { step: 5 });
      const spy = failPutsInto('chunks', allowed);
      const err = await saveCheckpoint(store, 'run', bytesOf(100, 4), { step: 6 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QuotaError);
      expect((err as Error).message).toMatch(
        /^writing checkpoint of run "run" \(step 6\): the browser's storage is full \(QuotaExceededError\)/,
      );
      spy.mockRestore();
      expect(await counts(store)).toEqual({ blobs: 1, chunks: 3, heads: 1 }); // the partial blob is gone
      const head = await loadHead(store, 'run');
      expect(head?.step).toBe(5);
      expect(head?.bytes).toEqual(bytesOf(40, 3));
      expect(await collectOrphans(store)).toBe(0);
      await saveCheckpoint(store, 'run', bytesOf(100, 4), { step: 6 });
      expect((await loadHead(store, 'run'))?.bytes).toEqual(bytesOf(100, 4));
    },
  );

  it('the disk filling up during the head swap keeps the old head and removes the new blob', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    await saveCheckpoint(store, 'run', bytesOf(40, 5), { step: 1 });
    const spy = failPutsInto('heads', 0);
    await expect(saveCheckpoint(store, 'run', bytesOf(50, 6), { step: 2 })).rejects.toBeInstanceOf(QuotaError);
    spy.mockRestore();
    expect(await counts(store)).toEqual({ blobs: 1, chunks: 3, heads: 1 });
    expect((await loadHead(store, 'run'))?.bytes).toEqual(bytesOf(40, 5));
  });

  it('a dataset import that hits the quota stores nothing (not even its source file) and can be retried', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    const input = {
      name: 'support',
      fileName: 'support.jsonl',
      format: 'messages',
      examples: [{ messages: [{ role: 'user', content: 'hi' }] }],
      source: bytesOf(40, 7),
    };
    const spy = failPutsInto('datasetExamples', 0);
    await expect(importDataset(store, input)).rejects.toBeInstanceOf(QuotaError);
    spy.mockRestore();
    expect(await listDatasets(store)).toEqual([]);
    expect(await counts(store)).toMatchObject({ blobs: 0, chunks: 0 });
    const rec = await importDataset(store, input);
    expect(await getDataset(store, rec.id)).toEqual(rec);

    const tight = await freshDb().open({ estimate: async () => ({ usage: 0, quota: 10 }) });
    await expect(importDataset(tight, input)).rejects.toThrow(/not enough storage for the dataset "support"/);
  });

  it('a model import that hits the quota in its second file stores nothing', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    const spy = failPutsInto('chunks', 3);
    const files = [
      { name: 'config.json', data: new TextEncoder().encode('{"model_type":"gpt2"}') },
      { name: 'model.safetensors', data: bytesOf(100, 8) },
    ];
    await expect(importModel(store, { name: 'm', files })).rejects.toBeInstanceOf(QuotaError);
    spy.mockRestore();
    expect(await listModels(store)).toEqual([]);
    expect(await counts(store)).toMatchObject({ blobs: 0, chunks: 0 });
    expect((await importModel(store, { name: 'm', files })).files).toHaveLength(2);
  });
});
