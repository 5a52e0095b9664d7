import { describe, expect, it } from 'vitest';
import {
  StoreError,
  appendMetrics,
  createRun,
  deleteRun,
  getRun,
  listRuns,
  loadHead,
  readMetrics,
  saveCheckpoint,
  updateRun,
  type MetricRow,
} from '../../../src/store';
import { bytesOf, counts, freshDb } from './helpers';

describe('runs', () => {
  it('create, read, update, list (newest first)', async () => {
    const store = await freshDb().open();
    const config = { method: 'lora', r: 8, targets: ['q_proj', 'v_proj'], lr: 2e-4 };
    const a = await createRun(store, { id: 'a', name: 'first', config });
    expect(a).toMatchObject({ id: 'a', name: 'first', status: 'created', config, metricChunks: 0, metricRows: 0 });
    await new Promise((r) => setTimeout(r, 2));
    const b = await createRun(store, { name: 'second', config: {}, status: 'running' });
    expect(b.id).toMatch(/^[0-9a-f-]{36}$/);
    await expect(createRun(store, { id: 'a', name: 'dup', config: {} })).rejects.toBeInstanceOf(StoreError);

    const updated = await updateRun(store, 'a', { status: 'completed', name: 'first!' });
    expect(updated).toMatchObject({ status: 'completed', name: 'first!', config });
    expect(updated.updatedAt).toBeGreaterThanOrEqual(a.updatedAt);
    expect(await getRun(store, 'a')).toEqual(updated);
    expect((await listRuns(store)).map((r) => r.id)).toEqual([b.id, 'a']);
    await expect(updateRun(store, 'nope', { status: 'failed' })).rejects.toThrow(/no run with id "nope"/);
  });

  it('appendMetrics adds one chunk per call and readMetrics returns every row in order', async () => {
    const store = await freshDb().open();
    await createRun(store, { id: 'r', name: 'r', config: {} });
    const expected: MetricRow[] = [];
    for (let call = 0; call < 25; call++) {
      const rows: MetricRow[] = Array.from({ length: (call % 3) + 1 }, (_, j) => ({
        step: expected.length + j + 1,
        loss: 3 - call * 0.01,
        event: j === 0 && call === 7 ? 'skip' : null,
      }));
      await appendMetrics(store, 'r', rows);
      expected.push(...rows);
    }
    await appendMetrics(store, 'r', []); // no-op
    expect(await readMetrics(store, 'r')).toEqual(expected);
    const run = await getRun(store, 'r');
    expect(run).toMatchObject({ metricChunks: 25, metricRows: expected.length });
    // Appending did not rewrite history: one record per call, the first one as first written.
    expect(await store.db.count('metrics')).toBe(25);
    expect(await store.db.get('metrics', ['r', 0])).toEqual(expected.slice(0, 1));
    // Incremental reads for a live chart.
    expect(await readMetrics(store, 'r', 24)).toEqual(expected.slice(-1));
    await expect(appendMetrics(store, 'ghost', [{ step: 1 }])).rejects.toThrow(/no run with id "ghost"/);
  });

  it("interleaved appends from two callers keep every row, and runs' histories stay apart", async () => {
    const store = await freshDb().open();
    await createRun(store, { id: 'x', name: 'x', config: {} });
    await createRun(store, { id: 'x2', name: 'x2', config: {} });
    await Promise.all(Array.from({ length: 10 }, (_, i) => appendMetrics(store, i % 2 ? 'x' : 'x2', [{ step: i }])));
    expect((await readMetrics(store, 'x')).map((r) => r.step)).toEqual([1, 3, 5, 7, 9]);
    expect((await readMetrics(store, 'x2')).map((r) => r.step)).toEqual([0, 2, 4, 6, 8]);
  });

  it('deleteRun removes the run, its metrics, and its checkpoint', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    await createRun(store, { id: 'r', name: 'r', config: {} });
    await createRun(store, { id: 'keep', name: 'keep', config: {} });
    await appendMetrics(store, 'r', [{ step: 1 }]);
    await appendMetrics(store, 'keep', [{ step: 1 }]);
    await saveCheckpoint(store, 'r', bytesOf(50, 1), { step: 1 });
    expect(await deleteRun(store, 'r')).toBe(true);
    expect(await getRun(store, 'r')).toBeUndefined();
    expect(await readMetrics(store, 'r')).toEqual([]);
    expect(await loadHead(store, 'r')).toBeUndefined();
    expect(await counts(store)).toEqual({ blobs: 0, chunks: 0, heads: 0 });
    expect(await readMetrics(store, 'keep')).toEqual([{ step: 1 }]);
    expect(await deleteRun(store, 'r')).toBe(false);
  });
});
