import { describe, expect, it } from 'vitest';
import {
  IntegrityError,
  StoreError,
  collectOrphans,
  deleteModel,
  getModel,
  importModel,
  listModels,
  modelSource,
  readModelFile,
  sha256Hex,
} from '../../../src/store';
import { bytesOf, counts, freshDb, streamOf } from './helpers';

const config = new TextEncoder().encode('{"model_type":"llama","hidden_size":64}');
const weights = bytesOf(16 * 9 + 3, 1);
const tokenizer = bytesOf(33, 2);

describe('models', () => {
  it('stores a set of named files (large ones chunked) and reads each back verified', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    const model = await importModel(store, {
      name: 'tiny-llama',
      source: 'hf:org/tiny-llama',
      files: [
        { name: 'config.json', data: new Blob([config], { type: 'application/json' }) },
        { name: 'model.safetensors', data: weights },
        { name: 'tokenizer.json', data: streamOf(tokenizer, 5), size: tokenizer.byteLength },
      ],
    });
    expect(model).toMatchObject({
      name: 'tiny-llama',
      source: 'hf:org/tiny-llama',
      totalSize: config.byteLength + 147 + 33,
    });
    expect(model.files.map((f) => [f.name, f.size, f.type])).toEqual([
      ['config.json', config.byteLength, 'application/json'],
      ['model.safetensors', 147, ''],
      ['tokenizer.json', 33, ''],
    ]);
    expect(model.files[1].sha256).toBe(await sha256Hex(weights));
    expect(await counts(store)).toMatchObject({ blobs: 3, chunks: 3 + 10 + 3 });
    expect(await getModel(store, model.id)).toEqual(model);
    expect(await listModels(store)).toEqual([model]);

    const file = await readModelFile(store, model.id, 'model.safetensors');
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(weights);
    const src = await modelSource(store, model.id);
    expect(src.list()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    expect(src.has('tokenizer.json')).toBe(true);
    expect(await (await src.blob('config.json')).text()).toBe('{"model_type":"llama","hidden_size":64}');
    await expect(readModelFile(store, model.id, 'missing.bin')).rejects.toThrow(/has no file "missing.bin"/);
    expect(await collectOrphans(store)).toBe(0);

    expect(await deleteModel(store, model.id)).toBe(true);
    expect(await counts(store)).toMatchObject({ blobs: 0, chunks: 0 });
    expect(await deleteModel(store, model.id)).toBe(false);
  });

  it('an interrupted or wrong download never becomes a stored model', async () => {
    const store = await freshDb({ chunkSize: 16 }).open();
    const files = (w: ReadableStream<Uint8Array>, size: number, sha256?: string) => [
      { name: 'config.json', data: config },
      { name: 'model.safetensors', data: w, size, ...(sha256 ? { sha256 } : {}) },
    ];
    // Connection dropped: fewer bytes than announced.
    await expect(
      importModel(store, { name: 'm', files: files(streamOf(weights.slice(0, 100), 7), weights.byteLength) }),
    ).rejects.toThrow(/file model.safetensors: expected 147 bytes, got 100/);
    // Right size, wrong content.
    await expect(
      importModel(store, { name: 'm', files: files(streamOf(weights, 7), weights.byteLength, '0'.repeat(64)) }),
    ).rejects.toBeInstanceOf(IntegrityError);
    // A stream that errors half way.
    let sent = 0;
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 3) c.enqueue(bytesOf(10, sent));
        else c.error(new TypeError('network error'));
      },
    });
    await expect(importModel(store, { name: 'm', files: files(broken, weights.byteLength) })).rejects.toThrow(
      /network error/,
    );
    expect(await listModels(store)).toEqual([]);
    expect(await counts(store)).toMatchObject({ blobs: 0, chunks: 0 });
    // The right download goes through.
    const ok = await importModel(store, {
      name: 'm',
      files: files(streamOf(weights, 7), weights.byteLength, await sha256Hex(weights)),
    });
    expect(new Uint8Array(await (await readModelFile(store, ok.id, 'model.safetensors')).arrayBuffer())).toEqual(
      weights,
    );
  });

  it('refuses file names that are not plain relative paths, and duplicates', async () => {
    const store = await freshDb().open();
    for (const name of ['', '/etc/passwd', '../x', 'a/../b', 'a//b', 'a\\b'])
      await expect(importModel(store, { name: 'm', files: [{ name, data: config }] })).rejects.toBeInstanceOf(
        StoreError,
      );
    await expect(
      importModel(store, {
        name: 'm',
        files: [
          { name: 'config.json', data: config },
          { name: 'config.json', data: config },
        ],
      }),
    ).rejects.toThrow(/given twice/);
    await expect(importModel(store, { name: 'm', files: [] })).rejects.toThrow(/no files/);
    expect(await counts(store)).toMatchObject({ blobs: 0, chunks: 0 });
    // Subfolders are fine.
    const m = await importModel(store, { name: 'm', files: [{ name: 'onnx/config.json', data: config }] });
    expect(m.files[0].name).toBe('onnx/config.json');
  });
});
