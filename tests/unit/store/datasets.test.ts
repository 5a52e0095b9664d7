import { describe, expect, it } from 'vitest';
import {
  StoreError,
  collectOrphans,
  deleteDataset,
  deleteTokenized,
  getDataset,
  getDatasetExamples,
  getTokenized,
  importDataset,
  listDatasets,
  putTokenized,
  readDatasetSource,
  type TokenizedKey,
} from '../../../src/store';
import { counts, freshDb } from './helpers';

const examples = [
  { prompt: 'Classify: my card was stolen', completion: ' lost_card' },
  { prompt: 'Classify: how do I reset my PIN?', completion: ' pin_reset' },
];
const source = new TextEncoder().encode(examples.map((e) => JSON.stringify(e)).join('\n') + '\n');

describe('datasets', () => {
  it('round-trips the record, the examples and the source file', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    const rec = await importDataset(store, {
      name: 'intent',
      fileName: 'intent.jsonl',
      format: 'prompt-completion',
      examples,
      stats: { examples: 2, chars: 80 },
      source: new Blob([source], { type: 'application/jsonl' }),
    });
    expect(rec).toMatchObject({
      name: 'intent',
      fileName: 'intent.jsonl',
      format: 'prompt-completion',
      exampleCount: 2,
      stats: { examples: 2, chars: 80 },
      sourceSize: source.byteLength,
      sourceType: 'application/jsonl',
    });
    expect(await getDataset(store, rec.id)).toEqual(rec);
    expect(await getDatasetExamples(store, rec.id)).toEqual(examples);
    const file = await readDatasetSource(store, rec.id);
    expect(file?.type).toBe('application/jsonl');
    expect(new Uint8Array(await file!.arrayBuffer())).toEqual(source);
    expect(await collectOrphans(store)).toBe(0); // the source blob is referenced

    const bare = await importDataset(store, { name: 'b', fileName: 'b.txt', format: 'text', examples: ['x'] });
    expect(await readDatasetSource(store, bare.id)).toBeUndefined();
    expect(bare.stats).toBeNull();
    expect((await listDatasets(store)).map((d) => d.id).sort()).toEqual([rec.id, bare.id].sort());
  });

  it('an import that fails stores nothing: duplicate id, non-JSON examples', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    await importDataset(store, { id: 'd', name: 'd', fileName: 'd.json', format: 'alpaca', examples });
    await expect(
      importDataset(store, { id: 'd', name: 'again', fileName: 'd2.json', format: 'alpaca', examples: [], source }),
    ).rejects.toThrow(/a dataset with id "d" already exists/);
    expect((await getDataset(store, 'd'))?.name).toBe('d');
    expect(await getDatasetExamples(store, 'd')).toEqual(examples);
    expect(await counts(store)).toMatchObject({ blobs: 0, chunks: 0 }); // the second source blob was removed

    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(
      importDataset(store, { name: 'c', fileName: 'c.json', format: 'text', examples: [cyclic] }),
    ).rejects.toThrow(/examples are not JSON-serialisable/);
    await expect(getDatasetExamples(store, 'nope')).rejects.toBeInstanceOf(StoreError);
    expect(await listDatasets(store)).toHaveLength(1);
  });

  it('tokenized caches round-trip and are keyed by every part of their key', async () => {
    const store = await freshDb().open();
    const ds = await importDataset(store, { name: 'd', fileName: 'd.jsonl', format: 'messages', examples });
    const key: TokenizedKey = {
      datasetId: ds.id,
      tokenizerHash: 'tok1',
      mode: 'chat',
      maxLength: 512,
      optionsHash: 'o1',
    };
    const sequences = [Int32Array.from([1, 2, 3]), Int32Array.from([]), Int32Array.from([7, -100, 2 ** 31 - 1])];
    const labels = [Int32Array.from([-100, 2, 3]), Int32Array.from([]), Int32Array.from([-100, -100, 5])];
    await putTokenized(store, key, { sequences, labels, stats: { truncated: 1 } });
    const got = await getTokenized(store, key);
    expect(got?.sequences).toEqual(sequences);
    expect(got?.labels).toEqual(labels);
    expect(got?.stats).toEqual({ truncated: 1 });
    expect(got?.sequences[0]).toBeInstanceOf(Int32Array);

    for (const change of [
      { tokenizerHash: 'tok2' },
      { mode: 'completion' },
      { maxLength: 256 },
      { optionsHash: 'o2' },
    ] as Partial<TokenizedKey>[])
      expect(await getTokenized(store, { ...key, ...change })).toBeUndefined();

    // Replacing works; no labels is fine.
    await putTokenized(store, key, { sequences: [Int32Array.from([9])] });
    expect(await getTokenized(store, key)).toEqual({ sequences: [Int32Array.from([9])] });

    await expect(putTokenized(store, { ...key, datasetId: 'ghost' }, { sequences })).rejects.toThrow(
      /no dataset with id "ghost"/,
    );
    await expect(putTokenized(store, key, { sequences, labels: labels.slice(1) })).rejects.toThrow(/2 label rows/);
    await expect(putTokenized(store, { ...key, maxLength: 0 }, { sequences })).rejects.toThrow(/maxLength/);

    await putTokenized(store, { ...key, mode: 'text' }, { sequences });
    expect(await deleteTokenized(store, ds.id)).toBe(2);
    expect(await getTokenized(store, key)).toBeUndefined();
  });

  it('deleteDataset removes the examples, the source file and the tokenized caches', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    const ds = await importDataset(store, { name: 'd', fileName: 'd.jsonl', format: 'text', examples, source });
    const key: TokenizedKey = { datasetId: ds.id, tokenizerHash: 't', mode: 'text', maxLength: 8, optionsHash: 'o' };
    await putTokenized(store, key, { sequences: [Int32Array.from([1])] });
    expect(await deleteDataset(store, ds.id)).toBe(true);
    expect(await getDataset(store, ds.id)).toBeUndefined();
    await expect(getDatasetExamples(store, ds.id)).rejects.toThrow(/no dataset/);
    expect(await getTokenized(store, key)).toBeUndefined();
    expect(await counts(store)).toMatchObject({ blobs: 0, chunks: 0 });
    expect(await deleteDataset(store, ds.id)).toBe(false);
  });
});
