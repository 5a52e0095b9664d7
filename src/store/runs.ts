// Training runs: settings, status and metric history. Metrics are appended as small chunks keyed
// [runId, n], so logging a step costs one short transaction however long the history already is.

import { StoreError } from './errors';
import { deleteHeadInTx } from './checkpoints';
import { assertOpen, inTransaction, rangeOf, type MetricRow, type RunRecord, type RunStatus, type Store } from './db';

export interface RunInput<C = unknown> {
  /** Default: a random UUID. */
  id?: string;
  name: string;
  config: C;
  status?: RunStatus;
}

export async function createRun<C>(store: Store, input: RunInput<C>): Promise<RunRecord> {
  const now = Date.now();
  const run: RunRecord = {
    id: input.id ?? crypto.randomUUID(),
    name: input.name,
    config: input.config,
    status: input.status ?? 'created',
    createdAt: now,
    updatedAt: now,
    metricChunks: 0,
    metricRows: 0,
  };
  return inTransaction(store, ['runs'], 'readwrite', `creating run "${input.name}"`, async (tx) => {
    if (await tx.objectStore('runs').get(run.id)) throw new StoreError(`a run with id "${run.id}" already exists`);
    await tx.objectStore('runs').put(run);
    return run;
  });
}

export async function getRun(store: Store, id: string): Promise<RunRecord | undefined> {
  assertOpen(store);
  return store.db.get('runs', id);
}

/** All runs, newest first. */
export async function listRuns(store: Store): Promise<RunRecord[]> {
  assertOpen(store);
  return (await store.db.getAll('runs')).sort((a, b) => b.createdAt - a.createdAt);
}

export async function updateRun(
  store: Store,
  id: string,
  patch: Partial<Pick<RunRecord, 'name' | 'status' | 'config'>>,
): Promise<RunRecord> {
  return inTransaction(store, ['runs'], 'readwrite', `updating run "${id}"`, async (tx) => {
    const run = await tx.objectStore('runs').get(id);
    if (!run) throw new StoreError(`no run with id "${id}"`);
    const next: RunRecord = { ...run, ...patch, updatedAt: Date.now() };
    await tx.objectStore('runs').put(next);
    return next;
  });
}

/** Appends rows to the run's metric history as one new chunk; earlier chunks are not touched. */
export async function appendMetrics(store: Store, runId: string, rows: MetricRow[]): Promise<void> {
  if (rows.length === 0) return;
  await inTransaction(store, ['runs', 'metrics'], 'readwrite', `logging metrics of run "${runId}"`, async (tx) => {
    const runs = tx.objectStore('runs');
    const run = await runs.get(runId);
    if (!run) throw new StoreError(`no run with id "${runId}" to log metrics to`);
    await tx.objectStore('metrics').put(rows, [runId, run.metricChunks]);
    await runs.put({
      ...run,
      metricChunks: run.metricChunks + 1,
      metricRows: run.metricRows + rows.length,
      updatedAt: Date.now(),
    });
  });
}

/** The run's metric rows in the order they were appended; `fromChunk` skips chunks already read. */
export async function readMetrics(store: Store, runId: string, fromChunk = 0): Promise<MetricRow[]> {
  assertOpen(store);
  const chunks = await store.db.getAll('metrics', IDBKeyRange.bound([runId, fromChunk], [runId, Infinity]));
  return chunks.flat();
}

/** Deletes the run, its metric history, and its checkpoint. Resolves false when there was no such run. */
export async function deleteRun(store: Store, id: string): Promise<boolean> {
  return inTransaction(
    store,
    ['runs', 'metrics', 'heads', 'blobs', 'chunks'],
    'readwrite',
    `deleting run "${id}"`,
    async (tx) => {
      const existed = (await tx.objectStore('runs').get(id)) !== undefined;
      await tx.objectStore('runs').delete(id);
      await tx.objectStore('metrics').delete(rangeOf(id));
      const hadHead = await deleteHeadInTx(tx, id);
      return existed || hadHead;
    },
  );
}
