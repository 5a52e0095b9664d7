import { describe, expect, it, vi } from 'vitest';
import { SCHEMA_VERSION, StoreError, createRun, getRun, openStore } from '../../../src/store';
import { freshDb, withTimeout } from './helpers';

/** A plain connection with no versionchange handler: an old tab that never lets go. */
function rawOpen(factory: IDBFactory, name: string, version?: number): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = factory.open(name, version);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

describe('opening the database', () => {
  it('creates every store of the schema', async () => {
    const store = await freshDb().open();
    expect(store.version).toBe(SCHEMA_VERSION);
    expect([...store.db.objectStoreNames].sort()).toEqual(
      ['blobs', 'chunks', 'datasetExamples', 'datasets', 'heads', 'metrics', 'models', 'runs', 'tokenized'].sort(),
    );
  });

  it('refuses bad options and a missing IndexedDB with a StoreError', async () => {
    const db = freshDb();
    await expect(db.open({ chunkSize: 8 * 1024 * 1024 + 1 })).rejects.toThrow(/chunkSize must be an integer from 1/);
    await expect(db.open({ version: 0 })).rejects.toBeInstanceOf(StoreError);
    vi.stubGlobal('indexedDB', undefined);
    await expect(openStore()).rejects.toThrow(/IndexedDB is not available/);
    vi.unstubAllGlobals();
  });

  it("another tab's upgrade closes this connection, notifies it, and does not hang", async () => {
    const db = freshDb();
    const onVersionChange = vi.fn();
    const oldTab = await db.open({ onVersionChange });
    const run = await createRun(oldTab, { name: 'r', config: { lr: 1e-3 } });

    const newTab = await withTimeout(db.open({ version: SCHEMA_VERSION + 1 }), 2000, 'opening a newer version');
    expect(onVersionChange).toHaveBeenCalledWith({ oldVersion: SCHEMA_VERSION, newVersion: SCHEMA_VERSION + 1 });
    expect(oldTab.closed).toBe(true);
    expect(oldTab.closeReason).toBe('versionchange');
    const err = await getRun(oldTab, run.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/closed because another tab opened a newer version of Whetstone; reload/);
    // The data survived the upgrade.
    expect((await getRun(newTab, run.id))?.config).toEqual({ lr: 1e-3 });
    // A plain (non-Whetstone) upgrade is not blocked either.
    newTab.close();
    const third = await db.open({ version: SCHEMA_VERSION + 1 });
    await withTimeout(rawOpen(db.factory, db.name, SCHEMA_VERSION + 2), 2000, 'raw upgrade').then((c) => c.close());
    expect(third.closed).toBe(true);
  });

  it('an open blocked by a tab that never closes reports it and fails after the timeout instead of hanging', async () => {
    const db = freshDb();
    (await db.open()).close();
    const stubborn = await rawOpen(db.factory, db.name);
    const onBlocked = vi.fn();
    const err = await withTimeout(
      db.open({ version: SCHEMA_VERSION + 1, blockedTimeoutMs: 50, onBlocked }).catch((e: unknown) => e),
      2000,
      'blocked open',
    );
    expect(onBlocked).toHaveBeenCalledWith({ oldVersion: SCHEMA_VERSION, newVersion: SCHEMA_VERSION + 1 });
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/is blocked: another tab keeps an older version open. Close or reload/);
    // Once the old tab goes, opening works (and the abandoned request's connection closed itself).
    stubborn.close();
    const store = await withTimeout(db.open({ version: SCHEMA_VERSION + 1 }), 2000, 'open after unblock');
    expect(store.closed).toBe(false);
  });

  it('a blocked open resolves as soon as the other tab closes within the timeout', async () => {
    const db = freshDb();
    (await db.open()).close();
    const stubborn = await rawOpen(db.factory, db.name);
    const store = await withTimeout(
      db.open({ version: SCHEMA_VERSION + 1, blockedTimeoutMs: 5000, onBlocked: () => stubborn.close() }),
      2000,
      'open after the other tab closed',
    );
    expect(store.version).toBe(SCHEMA_VERSION + 1);
  });

  it('an older app opening a newer database gets a StoreError asking to reload', async () => {
    const db = freshDb();
    (await db.open({ version: SCHEMA_VERSION + 1 })).close();
    await expect(db.open()).rejects.toThrow(/written by a newer version of Whetstone .* reload the page/);
  });

  it('a closed store refuses further use with a StoreError', async () => {
    const store = await freshDb().open();
    store.close();
    expect(store.closeReason).toBe('closed');
    await expect(createRun(store, { name: 'x', config: {} })).rejects.toThrow(
      /database "whetstone-test-\d+" is closed/,
    );
  });
});
