import { describe, expect, it } from 'vitest';
import {
  SafetensorsError,
  encodeSafetensors,
  f16ToF32,
  f32ToF16,
  openModelWeights,
  openSafetensors,
  readAllF32,
} from '../../../src/core/safetensors';
import { blobSource } from '../../../src/core/files';
import { dirSource, fileBlob } from '../../../cli/node-files';

const FIX = 'tests/fixtures/hf';
const BAD = 'bad.safetensors';

/** 8-byte LE length + header bytes + `dataLen` data bytes; `len` overrides the declared header length. */
function craft(header: string | Uint8Array, dataLen = 0, len?: bigint): Uint8Array {
  const h = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + h.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, len ?? BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

/** Header JSON text for tensors given as [name, dtype, shape, begin, end] (numbers written verbatim). */
function hdr(...ts: Array<[string, string, Array<number | string>, number | string, number | string]>): string {
  return `{${ts.map(([n, d, s, b, e]) => `"${n}":{"dtype":"${d}","shape":[${s.join(',')}],"data_offsets":[${b},${e}]}`).join(',')}}`;
}

async function expectRule(p: Promise<unknown>, rule: string, mentions?: string, file = BAD): Promise<SafetensorsError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SafetensorsError);
  const se = err as SafetensorsError;
  expect(se.kind).toBe('safetensors');
  expect(se.rule).toBe(rule);
  expect(se.file).toBe(file);
  expect(se.message.startsWith(`${file}: `)).toBe(true);
  expect(se.message.endsWith(`(rule: ${rule})`)).toBe(true);
  if (mentions) expect(se.message).toContain(mentions);
  return se;
}

const open = (bytes: Uint8Array) => openSafetensors(bytes, BAD);

describe('safetensors reader rejects', () => {
  it('a file shorter than 8 bytes', async () => {
    await expectRule(open(new Uint8Array(5)), 'too-small');
  });

  it('a header length over 100,000,000', async () => {
    await expectRule(open(craft('{}', 0, 100_000_001n)), 'header-too-large', '100000001');
  });

  it('a header length of 2^63 (no precision loss)', async () => {
    await expectRule(open(craft('{}', 0, 2n ** 63n)), 'header-too-large', '9223372036854775808');
  });

  it('a header length of 2^32 + 2 (low half alone looks fine)', async () => {
    await expectRule(open(craft('{}', 0, 2n ** 32n + 2n)), 'header-too-large', '4294967298');
  });

  it('a header that runs past the end of the file', async () => {
    await expectRule(open(craft('{}', 0, 50n)), 'header-past-eof', '50');
  });

  it('a header that is not UTF-8', async () => {
    await expectRule(open(craft(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))), 'invalid-utf8');
  });

  it('a header that is not JSON', async () => {
    await expectRule(open(craft('{"a":')), 'invalid-json');
  });

  it('a header padded with NULs instead of spaces', async () => {
    await expectRule(open(craft('{}\0\0\0\0\0\0')), 'invalid-json');
  });

  it('a header that is JSON but not an object', async () => {
    await expectRule(open(craft('[1, 2]  ')), 'not-object');
  });

  it("a header that does not start with '{'", async () => {
    await expectRule(open(craft('  {}    ')), 'header-start');
  });

  it('a duplicate top-level key (JSON.parse would keep the last)', async () => {
    const t = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
    await expectRule(open(craft(`{"w":${t},"w":${t}}`, 4)), 'duplicate-key', '"w"');
  });

  it('a duplicate key inside a tensor entry', async () => {
    const h = '{"w":{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}}';
    await expectRule(open(craft(h, 4)), 'duplicate-key', '"shape"');
  });

  it('a duplicate key inside __metadata__', async () => {
    await expectRule(open(craft('{"__metadata__":{"format":"pt","format":"tf"}}')), 'duplicate-key', '"format"');
  });

  it('a __proto__ key at the top level', async () => {
    await expectRule(open(craft('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)), 'proto-key');
  });

  it('a __proto__ key nested in __metadata__ (also spelled with an escape)', async () => {
    await expectRule(open(craft('{"__metadata__":{"\\u005f_proto__":"x"}}')), 'proto-key', '__metadata__');
  });

  it('an unknown dtype', async () => {
    await expectRule(open(craft(hdr(['w', 'F64', [1], 0, 8]), 8)), 'bad-dtype', 'tensor "w"');
    await expectRule(open(craft(hdr(['w', 'f32', [1], 0, 4]), 4)), 'bad-dtype', '"f32"');
  });

  it('an entry without data_offsets or with three offsets', async () => {
    await expectRule(open(craft('{"w":{"dtype":"F32","shape":[1]}}', 4)), 'bad-entry', 'tensor "w"');
    await expectRule(open(craft('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}', 4)), 'bad-entry');
  });

  it('a shape dim or offset that is a float, an exponent or a string', async () => {
    await expectRule(open(craft(hdr(['w', 'F32', ['1.0'], 0, 4]), 4)), 'not-integer', 'tensor "w" shape[0]');
    await expectRule(open(craft(hdr(['w', 'F32', [1], 0, '4e0']), 4)), 'not-integer', 'END');
    await expectRule(open(craft(hdr(['w', 'F32', ['"1"'], 0, 4]), 4)), 'not-integer');
  });

  it('a negative shape dim', async () => {
    await expectRule(open(craft(hdr(['w', 'F32', [2, -1], 0, 0]))), 'negative-dim', 'tensor "w" shape[1]');
  });

  it('a negative offset', async () => {
    await expectRule(open(craft(hdr(['w', 'U8', [0], -1, -1]))), 'negative-offset', 'BEGIN');
  });

  it('a dim or offset beyond 2^53-1', async () => {
    await expectRule(open(craft(hdr(['w', 'U8', ['9007199254740993'], 0, 4]), 4)), 'unsafe-integer', 'shape[0]');
    await expectRule(open(craft(hdr(['w', 'U8', [4], 0, '9007199254740992']), 4)), 'unsafe-integer', 'END');
  });

  it('a shape whose element count overflows', async () => {
    const big = 2 ** 26;
    await expectRule(open(craft(hdr(['w', 'F32', [big, big, 4], 0, 4]), 4)), 'numel-overflow', 'tensor "w"');
  });

  it('END before BEGIN', async () => {
    await expectRule(open(craft(hdr(['w', 'U8', [0], 4, 0]), 4)), 'end-before-begin', 'tensor "w"');
  });

  it('END - BEGIN not equal to numel × dtype size', async () => {
    await expectRule(open(craft(hdr(['w', 'F32', [2, 3], 0, 20]), 20)), 'shape-mismatch', 'tensor "w"');
  });

  it('a gap between tensors', async () => {
    await expectRule(open(craft(hdr(['a', 'F32', [1], 0, 4], ['b', 'F32', [1], 8, 12]), 12)), 'not-tiled', '"b"');
  });

  it('overlapping tensors', async () => {
    await expectRule(open(craft(hdr(['a', 'F32', [2], 0, 8], ['b', 'F32', [1], 4, 8]), 8)), 'not-tiled', 'overlap');
  });

  it('a first tensor that does not start at 0', async () => {
    await expectRule(open(craft(hdr(['a', 'F32', [1], 4, 8]), 8)), 'not-tiled', 'start at 0');
  });

  it('bytes after the last tensor', async () => {
    await expectRule(open(craft(hdr(['a', 'F32', [1], 0, 4]), 6)), 'trailing-bytes', '2 bytes');
  });

  it('data shorter than the header says', async () => {
    await expectRule(open(craft(hdr(['a', 'F32', [2], 0, 8]), 5)), 'truncated', '3 missing');
  });

  it('__metadata__ that is not an object of strings', async () => {
    await expectRule(open(craft('{"__metadata__":["pt"]}')), 'bad-metadata');
    await expectRule(open(craft('{"__metadata__":{"format":"pt","step":3}}')), 'bad-metadata', '"step"');
  });

  it('reading a tensor that does not exist', async () => {
    const r = await open(craft(hdr(['a', 'F32', [1], 0, 4]), 4));
    await expectRule(r.readF32('b'), 'missing-tensor', '"b"');
  });

  it('readF32 of an integer tensor and readI32 of a float tensor', async () => {
    const r = await open(craft(hdr(['f', 'F32', [1], 0, 4], ['i', 'I32', [1], 4, 8]), 8));
    await expectRule(r.readF32('i'), 'wrong-dtype', 'tensor "i" is I32');
    await expectRule(r.readI32('f'), 'wrong-dtype', 'tensor "f" is F32');
  });

  it('I64 values outside int32 in readI32', async () => {
    const bytes = encodeSafetensors([{ name: 'ids', dtype: 'I64', shape: [3], data: new BigInt64Array([1n, -5n, 2n ** 31n]) }]);
    const r = await openSafetensors(bytes, BAD);
    await expectRule(r.readI32('ids'), 'int32-range', 'element 2 (2147483648)');
  });
});

describe('safetensors reader accepts', () => {
  it('zero-size tensors, at the start, sharing a BEGIN, and at the end', async () => {
    const h = hdr(['z0', 'F32', [0], 0, 0], ['a', 'F32', [1], 0, 4], ['z1', 'F16', [2, 0], 4, 4], ['b', 'U8', [1], 4, 5], ['z2', 'I64', [0, 3], 5, 5]);
    const r = await open(craft(h, 5));
    expect(r.entries.map((e) => e.name)).toEqual(['a', 'b', 'z0', 'z1', 'z2']);
    expect(await r.readF32('z1')).toEqual(new Float32Array(0));
    expect((await r.readI32('z2')).length).toBe(0);
    expect(r.get('z1')?.shape).toEqual([2, 0]);
  });

  it('an unpadded header and an empty tensor list', async () => {
    const h = hdr(['a', 'F32', [1], 0, 4]);
    expect(new TextEncoder().encode(h).length % 8).not.toBe(0);
    const bytes = craft(h, 4);
    new DataView(bytes.buffer).setFloat32(8 + h.length, 1.5, true);
    expect(await (await open(bytes)).readF32('a')).toEqual(new Float32Array([1.5]));
    const empty = await open(craft('{}'));
    expect(empty.entries).toEqual([]);
    expect(Object.keys(empty.metadata)).toEqual([]);
  });

  it('a header padded with spaces, extra entry fields and escaped names', async () => {
    const h = '{"caf\\u00e9":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"extra":{"x":[1.5]}}}     ';
    const bytes = craft(h, 2);
    bytes.set([7, 255], bytes.length - 2);
    const r = await open(bytes);
    expect(r.entries[0]!.name).toBe('café');
    expect(await r.readI32('café')).toEqual(new Int32Array([7, 255]));
  });

  it('F16 and BF16 values exactly (subnormals, inf, NaN, -0)', async () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x8000, 0x3555, 0x7e00]);
    const bf16 = new Uint16Array([0x3f80, 0xc040, 0x4049, 0x0001, 0x7f80, 0x8000, 0x7fc0]);
    const bytes = encodeSafetensors([
      { name: 'h', dtype: 'F16', shape: [f16.length], data: f16 },
      { name: 'b', dtype: 'BF16', shape: [bf16.length], data: bf16 },
    ]);
    const r = await openSafetensors(bytes, 'x');
    const h = Array.from(await r.readF32('h'));
    expect(h.slice(0, 10)).toEqual([1, -2, 65504, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, Infinity, -Infinity, -0, 0.333251953125]);
    expect(Object.is(h[8], -0)).toBe(true);
    expect(h[10]).toBeNaN();
    const b = Array.from(await r.readF32('b'));
    expect(b.slice(0, 6)).toEqual([1, -3, 3.140625, 2 ** -133, Infinity, -0]);
    expect(Object.is(b[5], -0)).toBe(true);
    expect(b[6]).toBeNaN();
  });

  it('BOOL and U8 as int32', async () => {
    const h = hdr(['flag', 'BOOL', [3], 0, 3], ['u', 'U8', [2], 3, 5]);
    const bytes = craft(h, 5);
    bytes.set([1, 0, 1, 200, 3], bytes.length - 5);
    const r = await open(bytes);
    expect(await r.readI32('flag')).toEqual(new Int32Array([1, 0, 1]));
    expect(await r.readI32('u')).toEqual(new Int32Array([200, 3]));
  });
});

describe('half-precision conversion', () => {
  it('f32ToF16 rounds to nearest even, overflows to inf, flushes below 2^-25', () => {
    const x = new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519, 65520, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -25, 1e-8, -1e9, -0]);
    expect(Array.from(f32ToF16(x))).toEqual([0x3c00, 0x3c02, 0x7bff, 0x7c00, 0, 1, 2, 0, 0xfc00, 0x8000]);
    expect(f16ToF32(f32ToF16(new Float32Array([NaN])))[0]).toBeNaN();
  });

  it('every non-NaN half survives f16 → f32 → f16', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16(f16ToF32(all));
    for (let i = 0; i < 65536; i++) {
      const nan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (!nan && back[i] !== i) throw new Error(`half 0x${i.toString(16)} came back as 0x${back[i]!.toString(16)}`);
    }
  });
});

describe('encodeSafetensors', () => {
  it('round-trips F32, F16, BF16, I32 and I64', async () => {
    const f32 = new Float32Array([0.1, -2.5, 3e30, 1e-40]);
    const asF16 = new Float32Array([0.5, -1.25, 1024, 2 ** -20]); // all exact in f16
    const asBf16 = new Float32Array([1, -3, 2 ** 100, 2 ** -100]); // all exact in bf16
    const bytes = encodeSafetensors([
      { name: 'f32', dtype: 'F32', shape: [2, 2], data: f32 },
      { name: 'f16', dtype: 'F16', shape: [4], data: asF16 },
      { name: 'bf16', dtype: 'BF16', shape: [1, 4], data: asBf16 },
      { name: 'i32', dtype: 'I32', shape: [3], data: new Int32Array([-2147483648, 0, 2147483647]) },
      { name: 'i64', dtype: 'I64', shape: [2], data: new BigInt64Array([-7n, 123456789n]) },
      { name: 'i64b', dtype: 'I64', shape: [2], data: new Int32Array([-1, 5]) },
    ]);
    const r = await openSafetensors(bytes, 'rt');
    expect(await r.readF32('f32')).toEqual(f32);
    expect(await r.readF32('f16')).toEqual(asF16);
    expect(await r.readF32('bf16')).toEqual(asBf16);
    expect(await r.readI32('i32')).toEqual(new Int32Array([-2147483648, 0, 2147483647]));
    expect(await r.readI32('i64')).toEqual(new Int32Array([-7, 123456789]));
    expect(await r.readI32('i64b')).toEqual(new Int32Array([-1, 5]));
    const raw = await r.readRaw('i64');
    expect(new BigInt64Array(raw.slice().buffer)).toEqual(new BigInt64Array([-7n, 123456789n]));
    expect(r.get('bf16')).toMatchObject({ dtype: 'BF16', shape: [1, 4] });
    const all = await readAllF32(r);
    expect([...all.keys()]).toEqual(['bf16', 'f16', 'f32']);
    expect(all.get('f32')!.shape).toEqual([2, 2]);
  });

  it('pads the header to 8 with spaces, sorts names (integer-like too) and writes format pt', () => {
    const t = (name: string) => ({ name, dtype: 'F32' as const, shape: [1], data: new Float32Array([1]) });
    const bytes = encodeSafetensors([t('b'), t('10'), t('a'), t('2')]);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd().length).toBeLessThanOrEqual(n);
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    const keys = [...text.matchAll(/"([^"]+)":\{"(?:dtype|format)"/g)].map((m) => m[1]);
    expect(keys).toEqual(['__metadata__', '10', '2', 'a', 'b']);
    const header = JSON.parse(text);
    expect(header.__metadata__).toEqual({ format: 'pt' });
    expect(header['10'].data_offsets).toEqual([0, 4]);
    expect(header.b.data_offsets).toEqual([12, 16]);
    expect(bytes.length).toBe(8 + n + 16);
  });

  it('keeps format pt beside caller metadata unless the caller overrides it', async () => {
    const a = await openSafetensors(encodeSafetensors([], { step: '7' }), 'a');
    expect({ ...a.metadata }).toEqual({ format: 'pt', step: '7' });
    const b = await openSafetensors(encodeSafetensors([], { format: 'mlx' }), 'b');
    expect({ ...b.metadata }).toEqual({ format: 'mlx' });
  });

  it('rejects a shape that does not match the data, a wrong array type and a duplicate name', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as SafetensorsError;
      }
      throw new Error('did not throw');
    };
    expect(err(() => encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }])).rule).toBe(
      'shape-mismatch',
    );
    expect(err(() => encodeSafetensors([{ name: 'w', dtype: 'I32', shape: [1], data: new Float32Array(1) }])).rule).toBe('bad-dtype');
    const w = { name: 'w', dtype: 'F32' as const, shape: [1], data: new Float32Array(1) };
    expect(err(() => encodeSafetensors([w, w])).rule).toBe('duplicate-key');
  });
});

describe('sources', () => {
  const bytes = encodeSafetensors([
    { name: 'h', dtype: 'F16', shape: [3], data: new Float32Array([1, 2, 3]) },
    { name: 'w', dtype: 'F32', shape: [2], data: new Float32Array([0.25, -8]) },
    { name: 'i', dtype: 'I32', shape: [2], data: new Int32Array([9, -9]) },
  ]);

  async function check(src: Blob | ArrayBuffer | Uint8Array) {
    const r = await openSafetensors(src, 'src');
    expect(await r.readF32('w')).toEqual(new Float32Array([0.25, -8]));
    expect(await r.readF32('h')).toEqual(new Float32Array([1, 2, 3]));
    expect(await r.readI32('i')).toEqual(new Int32Array([9, -9]));
  }

  it('a Blob, read by header then tensor slices only', async () => {
    const slices: Array<[number, number]> = [];
    class CountingBlob extends Blob {
      override slice(start?: number, end?: number, type?: string): Blob {
        slices.push([start ?? 0, end ?? this.size]);
        return super.slice(start, end, type);
      }
    }
    const blob = new CountingBlob([bytes]);
    await check(blob);
    const r = await openSafetensors(blob, 'src');
    slices.length = 0;
    await r.readF32('w');
    const e = r.get('w')!;
    expect(slices).toEqual([[r.dataStart + e.begin, r.dataStart + e.end]]);
    slices.length = 0;
    await openSafetensors(blob, 'src');
    expect(slices).toEqual([
      [0, 8],
      [8, r.dataStart],
    ]);
  });

  it('an ArrayBuffer', async () => {
    await check(bytes.slice().buffer);
  });

  it('a Uint8Array at an odd byteOffset (misaligned tensors are copied)', async () => {
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    await check(big.subarray(3));
  });
});

describe('Hugging Face fixtures', () => {
  it('reads model-gpt2/model.safetensors lazily from disk', async () => {
    const r = await openSafetensors(await fileBlob(`${FIX}/model-gpt2/model.safetensors`), 'model.safetensors');
    expect(r.metadata.format).toBe('pt');
    expect(r.entries.length).toBe(28);
    expect(r.entries[0]!.name).toBe('transformer.h.0.attn.c_attn.bias');
    expect(r.get('transformer.wte.weight')).toMatchObject({ dtype: 'F32', shape: [512, 64], begin: 433152, end: 564224 });
    expect(r.get('transformer.wpe.weight')?.shape).toEqual([128, 64]);
    expect(r.get('transformer.h.1.attn.c_attn.weight')?.shape).toEqual([64, 192]);
    expect(r.get('transformer.h.0.mlp.c_proj.weight')?.shape).toEqual([256, 64]);
    const bias = await r.readF32('transformer.ln_f.bias');
    // values read with Python's struct from the same file
    expect(Array.from(bias.subarray(0, 4))).toEqual(
      [-0.07180460542440414, 0.02123476378619671, -0.013957780785858631, -0.09679725766181946].map(Math.fround),
    );
  });

  it('reads reference.safetensors input_ids as I32 [2,24]', async () => {
    const r = await openSafetensors(await fileBlob(`${FIX}/model-gpt2/reference.safetensors`), 'reference.safetensors');
    expect(r.get('input_ids')).toMatchObject({ dtype: 'I32', shape: [2, 24] });
    const ids = await r.readI32('input_ids');
    expect(ids.length).toBe(48);
    expect(Array.from(ids.subarray(0, 6))).toEqual([175, 196, 25, 502, 67, 211]);
    expect(Array.from(ids.subarray(44))).toEqual([312, 201, 462, 38]);
    const labels = await r.readI32('labels');
    expect(Array.from(labels.subarray(8, 12))).toEqual([-100, -100, 398, 23]);
    expect((await r.readF32('loss'))[0]).toBe(Math.fround(6.221405982971191));
  });

  it('opens a PEFT adapter folder with openModelWeights(dirSource, "adapter_model")', async () => {
    const w = await openModelWeights(dirSource(`${FIX}/lora-gpt2`), 'adapter_model');
    expect(w.names().length).toBe(12);
    expect(w.get('base_model.model.transformer.h.0.attn.c_attn.lora_B.weight')).toMatchObject({
      shape: [192, 4],
      file: 'adapter_model.safetensors',
    });
  });
});

describe('openModelWeights (sharded)', () => {
  const shard1 = encodeSafetensors([
    { name: 'a.weight', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
    { name: 'b.weight', dtype: 'F32', shape: [1], data: new Float32Array([3]) },
  ]);
  const shard2 = encodeSafetensors([
    { name: 'c.weight', dtype: 'BF16', shape: [2], data: new Float32Array([4, 5]) },
    { name: 'ids', dtype: 'I32', shape: [1], data: new Int32Array([42]) },
  ]);
  const S1 = 'model-00001-of-00002.safetensors';
  const S2 = 'model-00002-of-00002.safetensors';
  const index = (map: Record<string, string>) =>
    new Blob([JSON.stringify({ metadata: { total_size: 24 }, weight_map: map })]);
  const goodMap = { 'a.weight': S1, 'b.weight': S1, 'c.weight': S2, ids: S2 };
  const INDEX = 'model.safetensors.index.json';

  it('reads tensors from both shards', async () => {
    const src = blobSource('mem', { [INDEX]: index(goodMap), [S1]: new Blob([shard1]), [S2]: new Blob([shard2]) });
    const w = await openModelWeights(src);
    expect(w.names()).toEqual(['a.weight', 'b.weight', 'c.weight', 'ids']);
    expect(w.get('a.weight')).toMatchObject({ file: S1, shape: [2], dtype: 'F32' });
    expect(w.get('c.weight')?.file).toBe(S2);
    expect(w.get('nope')).toBeUndefined();
    expect(await w.readF32('a.weight')).toEqual(new Float32Array([1, 2]));
    expect(await w.readF32('c.weight')).toEqual(new Float32Array([4, 5]));
    expect(await w.readI32('ids')).toEqual(new Int32Array([42]));
  });

  it('rejects a shard missing from the folder', async () => {
    const src = blobSource('mem', { [INDEX]: index(goodMap), [S1]: new Blob([shard1]) });
    await expectRule(openModelWeights(src), 'missing-shard', S2, `mem/${INDEX}`);
  });

  it('rejects a mapped tensor that is not in its shard', async () => {
    const src = blobSource('mem', {
      [INDEX]: index({ ...goodMap, 'd.weight': S1 }),
      [S1]: new Blob([shard1]),
      [S2]: new Blob([shard2]),
    });
    await expectRule(openModelWeights(src), 'not-in-shard', '"d.weight"', `mem/${INDEX}`);
  });

  it('rejects a tensor present in two shards', async () => {
    const dup = encodeSafetensors([
      { name: 'a.weight', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
      { name: 'c.weight', dtype: 'F32', shape: [1], data: new Float32Array([3]) },
    ]);
    const src = blobSource('mem', { [INDEX]: index(goodMap), [S1]: new Blob([dup]), [S2]: new Blob([shard2]) });
    await expectRule(openModelWeights(src), 'duplicate-tensor', '"c.weight"', `mem/${INDEX}`);
  });

  it('names the folder when there are no weights', async () => {
    await expectRule(
      openModelWeights(blobSource('my-folder', { 'config.json': new Blob(['{}']) })),
      'no-weights',
      'no model.safetensors or model.safetensors.index.json in my-folder',
      'my-folder',
    );
  });
});
