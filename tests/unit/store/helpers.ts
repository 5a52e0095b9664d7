// Shared set-up for the store tests: a fresh fake IndexedDB per test, deterministic bytes, and fakes for
// the Web Locks API and for a worker that dies in the middle of a write.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { openStore, type LockManagerLike, type OpenStoreOptions, type Store, type WriteStep } from '../../../src/store';

let counter = 0;

/** A fresh factory and database name; `open` reopens the same database (as a restarted worker would). */
export function freshDb(defaults: OpenStoreOptions = {}): {
  factory: IDBFactory;
  name: string;
  open(options?: OpenStoreOptions): Promise<Store>;
} {
  const factory = new IDBFactory();
  const name = `whetstone-test-${++counter}`;
  return {
    factory,
    name,
    open: (options = {}) =>
      openStore({ indexedDB: factory, name, estimate: null, locks: null, ...defaults, ...options }),
  };
}

/** n bytes from a seeded LCG, so each test's data is fixed and distinct per seed. */
export function bytesOf(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 + 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** A stream delivering `bytes` in pieces of `piece` bytes. */
export function streamOf(bytes: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + piece));
      at += piece;
    },
  });
}

/** Web Locks stand-in shared by the "tabs" of a test; a lock is held while its callback runs. */
export function fakeLocks(): LockManagerLike & { held: Set<string> } {
  const held = new Set<string>();
  return {
    held,
    async request<T>(name: string, callback: () => Promise<T>): Promise<T> {
      held.add(name);
      try {
        return await callback();
      } finally {
        held.delete(name);
      }
    },
    async query() {
      return { held: [...held].map((name) => ({ name })) };
    },
  };
}

/** A write hook that stops forever at the first step matching `at` (a worker killed there). */
export function dieAt(at: (step: WriteStep) => boolean): {
  reached: Promise<WriteStep>;
  onWriteStep(step: WriteStep): void | Promise<void>;
} {
  let signal!: (step: WriteStep) => void;
  const reached = new Promise<WriteStep>((resolve) => (signal = resolve));
  return {
    reached,
    onWriteStep(step) {
      if (!at(step)) return;
      signal(step);
      return new Promise<void>(() => undefined);
    },
  };
}

/** Counts of records per store, read through the raw connection. */
export async function counts(store: Store): Promise<{ blobs: number; chunks: number; heads: number }> {
  return {
    blobs: await store.db.count('blobs'),
    chunks: await store.db.count('chunks'),
    heads: await store.db.count('heads'),
  };
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} hung for ${ms} ms`)), ms)),
  ]);
}
