// Strict safetensors reader and writer (single files and sharded `*.safetensors.index.json` sets). Reads
// the header first and each tensor on demand by slicing, so a multi-GB model is never held twice.
import { WhetstoneError } from './errors';
import type { FileSource } from './files';

/** A malformed or unusable safetensors file; `rule` is a short id of the check that failed. */
export class SafetensorsError extends WhetstoneError {
  readonly file: string;
  readonly rule: string;
  constructor(file: string, rule: string, sentence: string) {
    super('safetensors', `${file}: ${sentence} (rule: ${rule})`);
    this.name = 'SafetensorsError';
    this.file = file;
    this.rule = rule;
  }
}

export type Dtype = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64' | 'U8' | 'BOOL';

const DTYPE_SIZE: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1, BOOL: 1 };

export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Byte offsets relative to the start of the data buffer (END exclusive), as in the header. */
  begin: number;
  end: number;
}

export interface SafetensorsReader {
  readonly fileName: string;
  /** `__metadata__` (null-prototype object; empty when absent). */
  readonly metadata: Record<string, string>;
  /** Every tensor, sorted by name. */
  readonly entries: TensorEntry[];
  /** Absolute byte offset of the data buffer (8 + header length). */
  readonly dataStart: number;
  get(name: string): TensorEntry | undefined;
  /** The tensor's bytes. For an in-memory source this is a view that shares the caller's memory. */
  readRaw(name: string): Promise<Uint8Array>;
  /** F32, F16 or BF16 as float32. May share memory with an in-memory source when already aligned F32. */
  readF32(name: string): Promise<Float32Array>;
  /** I32, I64 (must fit int32), U8 or BOOL as int32. */
  readI32(name: string): Promise<Int32Array>;
}

/** The reference implementation's limit: a larger header is treated as an attack, not a model. */
const MAX_HEADER_BYTES = 100_000_000;
/** serde_json's recursion limit; also keeps a hostile header from overflowing our stack. */
const MAX_JSON_DEPTH = 128;

// Typed-array views are host-endian; safetensors is little-endian. Every real browser/Node host is LE, but a
// BE host gets byte-swapped copies instead of wrong numbers.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

// ---------------------------------------------------------------------------------------------------------
// Strict JSON: JSON.parse silently keeps the last of duplicate keys and turns `__proto__` into a prototype,
// and it loses the difference between 1 and 1.0, so the header gets its own small parser.

class JsonNumber {
  constructor(readonly raw: string) {}
}
type Json = null | boolean | string | JsonNumber | Json[] | JsonObject;
type JsonObject = Map<string, Json>;

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

function parseStrictJson(text: string, file: string, what: string): Json {
  let i = 0;
  const n = text.length;
  const bad = (why: string): never => {
    throw new SafetensorsError(file, 'invalid-json', `${what} is not valid JSON: ${why} at character ${i}`);
  };
  const skipWs = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
  };
  const hex4 = (): number => {
    const h = text.slice(i, i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) bad('bad \\u escape');
    i += 4;
    return parseInt(h, 16);
  };
  const parseString = (): string => {
    i++; // opening quote
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) bad('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text[i + 1];
        i += 2;
        if (e === 'u') {
          const u = hex4();
          // Rust strings are UTF-8, so the reference rejects unpaired surrogates; so do we.
          if (u >= 0xd800 && u <= 0xdbff) {
            if (text.slice(i, i + 2) !== '\\u') bad('unpaired surrogate escape');
            i += 2;
            const lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) bad('unpaired surrogate escape');
            out += String.fromCharCode(u, lo);
          } else if (u >= 0xdc00 && u <= 0xdfff) {
            bad('unpaired surrogate escape');
          } else out += String.fromCharCode(u);
        } else {
          const r = e === undefined ? undefined : ESCAPES[e];
          if (r === undefined) bad('bad escape');
          out += r;
        }
        start = i;
        continue;
      }
      if (c < 0x20) bad('control character in string');
      i++;
    }
  };
  const parseValue = (depth: number, path: string): Json => {
    if (depth > MAX_JSON_DEPTH) bad(`nesting deeper than ${MAX_JSON_DEPTH}`);
    skipWs();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: JsonObject = new Map();
      skipWs();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        skipWs();
        if (text[i] !== '"') bad('expected a string key');
        const key = parseString();
        if (key === '__proto__') throw new SafetensorsError(file, 'proto-key', `${what} has a "__proto__" key in ${path}`);
        if (obj.has(key)) throw new SafetensorsError(file, 'duplicate-key', `${what} has key "${key}" twice in ${path}`);
        skipWs();
        if (text[i] !== ':') bad("expected ':'");
        i++;
        obj.set(key, parseValue(depth + 1, `"${key}"`));
        skipWs();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return obj;
        } else bad("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr: Json[] = [];
      skipWs();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1, path));
        skipWs();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return arr;
        } else bad("expected ',' or ']'");
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith('true', i)) return (i += 4), true;
    if (text.startsWith('false', i)) return (i += 5), false;
    if (text.startsWith('null', i)) return (i += 4), null;
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (!m) return bad(i >= n ? 'unexpected end' : `unexpected character ${JSON.stringify(text[i])}`);
    i += m[0].length;
    return new JsonNumber(m[0]);
  };
  const v = parseValue(0, 'the top-level object');
  skipWs();
  if (i !== n) bad('trailing characters');
  return v;
}

function isObject(v: Json | undefined): v is JsonObject {
  return v instanceof Map;
}

// ---------------------------------------------------------------------------------------------------------
// Header validation

/** A JSON value that must be a safe non-negative integer (shape dims, offsets): 1.0, 1e3, -1, 2^53 are not. */
function safeUint(v: Json | undefined, file: string, where: string, negativeRule: string): number {
  if (!(v instanceof JsonNumber)) throw new SafetensorsError(file, 'not-integer', `${where} is not an integer`);
  const raw = v.raw;
  if (raw.startsWith('-')) throw new SafetensorsError(file, negativeRule, `${where} is negative (${raw})`);
  if (!/^[0-9]+$/.test(raw)) throw new SafetensorsError(file, 'not-integer', `${where} is not an integer (${raw})`);
  const x = Number(raw);
  // Anything above 2^53-1 parses to >= 2^53, so rounding cannot hide it.
  if (x > Number.MAX_SAFE_INTEGER) {
    throw new SafetensorsError(file, 'unsafe-integer', `${where} (${raw}) is beyond 2^53-1`);
  }
  return x;
}

function parseEntry(name: string, v: Json, file: string): TensorEntry {
  const t = `tensor "${name}"`;
  if (!isObject(v)) throw new SafetensorsError(file, 'bad-entry', `${t} is not an object`);
  // Extra fields are ignored, as the reference (serde without deny_unknown_fields) does.
  const dtype = v.get('dtype');
  const shape = v.get('shape');
  const offsets = v.get('data_offsets');
  if (typeof dtype !== 'string') throw new SafetensorsError(file, 'bad-dtype', `${t} has no string "dtype"`);
  if (!Object.hasOwn(DTYPE_SIZE, dtype)) {
    throw new SafetensorsError(file, 'bad-dtype', `${t} has unsupported dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape)) throw new SafetensorsError(file, 'bad-entry', `${t} has no "shape" array`);
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw new SafetensorsError(file, 'bad-entry', `${t} has no "data_offsets" [BEGIN, END] pair`);
  }
  const dims = shape.map((d, k) => safeUint(d, file, `${t} shape[${k}]`, 'negative-dim'));
  const begin = safeUint(offsets[0], file, `${t} data_offsets BEGIN`, 'negative-offset');
  const end = safeUint(offsets[1], file, `${t} data_offsets END`, 'negative-offset');
  if (end < begin) throw new SafetensorsError(file, 'end-before-begin', `${t} has END ${end} < BEGIN ${begin}`);
  const size = DTYPE_SIZE[dtype as Dtype];
  let numel = 1;
  if (!dims.includes(0)) {
    for (const d of dims) {
      numel *= d;
      if (numel * size > Number.MAX_SAFE_INTEGER) {
        throw new SafetensorsError(file, 'numel-overflow', `${t} shape [${dims.join(', ')}] has too many elements`);
      }
    }
  } else numel = 0;
  if (end - begin !== numel * size) {
    throw new SafetensorsError(
      file,
      'shape-mismatch',
      `${t} takes ${end - begin} bytes but ${dtype} [${dims.join(', ')}] needs ${numel * size}`,
    );
  }
  return { name, dtype: dtype as Dtype, shape: dims, begin, end };
}

function parseMetadata(v: Json, file: string): Record<string, string> {
  if (!isObject(v)) throw new SafetensorsError(file, 'bad-metadata', '"__metadata__" is not an object');
  const out: Record<string, string> = Object.create(null);
  for (const [k, s] of v) {
    if (typeof s !== 'string') {
      throw new SafetensorsError(file, 'bad-metadata', `"__metadata__" value of "${k}" is not a string`);
    }
    out[k] = s;
  }
  return out;
}

/** Validates a decoded header against the file size; returns metadata and entries sorted by name. */
function parseHeader(
  bytes: Uint8Array,
  fileSize: number,
  file: string,
): { metadata: Record<string, string>; entries: TensorEntry[] } {
  let text: string;
  try {
    // ignoreBOM keeps a BOM in the text, so it fails the '{' check below instead of being skipped silently.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new SafetensorsError(file, 'invalid-utf8', 'header is not valid UTF-8');
  }
  const json = parseStrictJson(text, file, 'header');
  if (!isObject(json)) throw new SafetensorsError(file, 'not-object', 'header is not a JSON object');
  // The reference also rejects a header that does not begin with '{' (leading whitespace or a BOM).
  if (!text.startsWith('{')) throw new SafetensorsError(file, 'header-start', "header does not start with '{'");

  let metadata: Record<string, string> = Object.create(null);
  const entries: TensorEntry[] = [];
  for (const [name, v] of json) {
    if (name === '__metadata__') metadata = parseMetadata(v, file);
    else entries.push(parseEntry(name, v, file));
  }

  // Sorted by BEGIN (END breaks ties so zero-size tensors sit before the tensor that shares their BEGIN),
  // the tensors must tile the data buffer: no gaps (hidden data), no overlaps (aliasing).
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of byOffset) {
    if (e.begin !== expected) {
      const why = expected === 0 ? 'the first tensor must start at 0' : `the previous tensor ends at ${expected}`;
      throw new SafetensorsError(
        file,
        'not-tiled',
        `tensor "${e.name}" starts at data byte ${e.begin} but ${why} (${e.begin > expected ? 'gap' : 'overlap'})`,
      );
    }
    expected = e.end;
  }
  const wantSize = 8 + bytes.length + expected;
  if (wantSize < fileSize) {
    throw new SafetensorsError(file, 'trailing-bytes', `${fileSize - wantSize} bytes follow the last tensor's data`);
  }
  if (wantSize > fileSize) {
    throw new SafetensorsError(
      file,
      'truncated',
      `tensor data needs ${wantSize} bytes but the file has ${fileSize} (${wantSize - fileSize} missing)`,
    );
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { metadata, entries };
}

// ---------------------------------------------------------------------------------------------------------
// Reading

/** Random access to bytes: Blob slices are read lazily; in-memory buffers are viewed, not copied. */
interface ByteSource {
  size: number;
  read(begin: number, end: number): Promise<Uint8Array>;
}

function byteSource(source: Blob | ArrayBuffer | Uint8Array): ByteSource {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
    const u8 = source instanceof Uint8Array ? source : new Uint8Array(source);
    return { size: u8.length, read: async (b, e) => u8.subarray(b, e) };
  }
  return { size: source.size, read: async (b, e) => new Uint8Array(await source.slice(b, e).arrayBuffer()) };
}

/** A typed view of `bytes` when aligned and host-LE; otherwise an aligned (and, on BE hosts, swapped) copy. */
function typedView<T>(bytes: Uint8Array, width: number, make: (buf: ArrayBuffer, off: number, len: number) => T): T {
  if (LITTLE_ENDIAN_HOST && bytes.byteOffset % width === 0) {
    return make(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.length / width);
  }
  const copy = bytes.slice();
  if (!LITTLE_ENDIAN_HOST) swapBytes(copy, width);
  return make(copy.buffer, 0, copy.length / width);
}

const u16View = (b: Uint8Array) => typedView(b, 2, (buf, o, n) => new Uint16Array(buf, o, n));

let halfTable: Float32Array | null = null;
/** All 65536 half floats as f32 (256 KiB, built once): a table lookup beats bit math per element. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const bits = new Uint32Array(65536);
  const f = new Float32Array(bits.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      f[h] = mant * 2 ** -24; // zero or subnormal: exact in f32
      bits[h] |= sign;
    } else if (exp === 0x1f) bits[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf, or NaN keeping payload
    else bits[h] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  }
  return (halfTable = f);
}

/** IEEE half bits → float32. */
export function f16ToF32(x: Uint16Array): Float32Array {
  const table = halfToFloatTable();
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = table[x[i]!]!;
  return out;
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float32 → IEEE half bits, rounding to nearest even; overflow → ±inf, NaN stays NaN. */
export function f32ToF16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    scratchF32[0] = x[i]!;
    const b = scratchU32[0]!;
    const sign = (b >>> 16) & 0x8000;
    const exp = (b >>> 23) & 0xff;
    const mant = b & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
      continue;
    }
    const e = exp - 112; // rebias 127 → 15
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
      continue;
    }
    let m: number;
    let rem: number;
    let halfway: number;
    if (e > 0) {
      // normal: keep 10 of 23 mantissa bits; a carry out of the mantissa correctly bumps the exponent (to inf)
      m = (e << 10) | (mant >>> 13);
      rem = mant & 0x1fff;
      halfway = 0x1000;
    } else {
      // subnormal half (unit 2^-24): shift the full significand; below 2^-25 rounds to zero
      const shift = 14 - e;
      if (shift > 24) {
        out[i] = sign;
        continue;
      }
      const full = mant | 0x800000;
      m = full >>> shift;
      rem = full & ((1 << shift) - 1);
      halfway = 1 << (shift - 1);
    }
    if (rem > halfway || (rem === halfway && m & 1)) m++;
    out[i] = sign | m;
  }
  return out;
}

/** float32 → bfloat16 bits, rounding to nearest even; NaN stays NaN. */
export function f32ToBf16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    scratchF32[0] = x[i]!;
    const b = scratchU32[0]!;
    if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) out[i] = (b >>> 16) | 0x40;
    else out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}

function bf16ToF32(x: Uint16Array): Float32Array {
  const out = new Uint32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! << 16;
  return new Float32Array(out.buffer);
}

export async function openSafetensors(
  source: Blob | ArrayBuffer | Uint8Array,
  fileName: string,
): Promise<SafetensorsReader> {
  const file = fileName;
  const src = byteSource(source);
  if (src.size < 8) throw new SafetensorsError(file, 'too-small', `file is ${src.size} bytes, less than the 8-byte header length`);
  // u64 LE read as two u32 halves: a Number cannot hold 2^63 exactly, but "high half non-zero" is exact.
  const lenBytes = await src.read(0, 8);
  const dv = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  if (hi !== 0 || lo > MAX_HEADER_BYTES) {
    const n = (BigInt(hi) << 32n) | BigInt(lo);
    throw new SafetensorsError(file, 'header-too-large', `header length ${n} is over the ${MAX_HEADER_BYTES} byte limit`);
  }
  if (8 + lo > src.size) {
    throw new SafetensorsError(file, 'header-past-eof', `header length ${lo} runs past the end of the ${src.size}-byte file`);
  }
  const { metadata, entries } = parseHeader(await src.read(8, 8 + lo), src.size, file);
  const dataStart = 8 + lo;
  const byName = new Map(entries.map((e) => [e.name, e]));

  const entry = (name: string): TensorEntry => {
    const e = byName.get(name);
    if (!e) throw new SafetensorsError(file, 'missing-tensor', `no tensor "${name}"`);
    return e;
  };
  const readRaw = (name: string) => {
    const e = entry(name);
    return src.read(dataStart + e.begin, dataStart + e.end);
  };

  return {
    fileName,
    metadata,
    entries,
    dataStart,
    get: (name) => byName.get(name),
    readRaw: async (name) => readRaw(name),
    async readF32(name) {
      const e = entry(name);
      const bytes = await readRaw(name);
      switch (e.dtype) {
        case 'F32':
          return typedView(bytes, 4, (buf, o, n) => new Float32Array(buf, o, n));
        case 'F16':
          return f16ToF32(u16View(bytes));
        case 'BF16':
          return bf16ToF32(u16View(bytes));
        default:
          throw new SafetensorsError(file, 'wrong-dtype', `tensor "${name}" is ${e.dtype}, not a float (F32/F16/BF16)`);
      }
    },
    async readI32(name) {
      const e = entry(name);
      const bytes = await readRaw(name);
      switch (e.dtype) {
        case 'I32':
          return typedView(bytes, 4, (buf, o, n) => new Int32Array(buf, o, n));
        case 'I64': {
          const out = new Int32Array(bytes.length / 8);
          const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
          for (let i = 0; i < out.length; i++) {
            const lo32 = v.getInt32(8 * i, true);
            const hi32 = v.getInt32(8 * i + 4, true);
            // fits int32 iff the high word is the sign extension of the low word
            if (hi32 !== lo32 >> 31) {
              throw new SafetensorsError(
                file,
                'int32-range',
                `tensor "${name}" element ${i} (${v.getBigInt64(8 * i, true)}) does not fit in int32`,
              );
            }
            out[i] = lo32;
          }
          return out;
        }
        case 'U8':
          return Int32Array.from(bytes);
        case 'BOOL':
          return Int32Array.from(bytes, (b) => (b !== 0 ? 1 : 0));
        default:
          throw new SafetensorsError(file, 'wrong-dtype', `tensor "${name}" is ${e.dtype}, not an integer type`);
      }
    },
  };
}

/** Every float tensor (F32/F16/BF16) of a file as f32; integer tensors are skipped (use readI32). */
export async function readAllF32(
  reader: SafetensorsReader,
): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const e of reader.entries) {
    if (e.dtype === 'F32' || e.dtype === 'F16' || e.dtype === 'BF16') {
      out.set(e.name, { shape: e.shape, data: await reader.readF32(e.name) });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Writing

export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';
  shape: number[];
  /** F32: Float32Array. F16/BF16: Uint16Array of raw bits, or Float32Array (rounded to nearest even).
   *  I32: Int32Array. I64: BigInt64Array, or Int32Array (sign-extended). */
  data: Float32Array | Int32Array | Uint16Array | BigInt64Array;
}

const ENCODE = 'encodeSafetensors';

function encodeData(t: TensorToWrite): Uint8Array {
  const { dtype, data, name } = t;
  const wrong = (): never => {
    throw new SafetensorsError(ENCODE, 'bad-dtype', `tensor "${name}" is ${dtype} but its data is a ${data.constructor.name}`);
  };
  let typed: Float32Array | Int32Array | Uint16Array | BigInt64Array;
  if (dtype === 'F32') typed = data instanceof Float32Array ? data : wrong();
  else if (dtype === 'F16' || dtype === 'BF16') {
    if (data instanceof Uint16Array) typed = data;
    else if (data instanceof Float32Array) typed = dtype === 'F16' ? f32ToF16(data) : f32ToBf16(data);
    else typed = wrong();
  } else if (dtype === 'I32') typed = data instanceof Int32Array ? data : wrong();
  else if (dtype === 'I64') {
    if (data instanceof BigInt64Array) typed = data;
    else if (data instanceof Int32Array) typed = BigInt64Array.from(data, (v) => BigInt(v));
    else typed = wrong();
  } else {
    throw new SafetensorsError(ENCODE, 'bad-dtype', `tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)}`);
  }
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const copy = bytes.slice();
  swapBytes(copy, typed.BYTES_PER_ELEMENT);
  return copy;
}

/**
 * Serialises tensors as one safetensors file: names sorted, header padded with spaces to a multiple of 8
 * (so the data buffer starts 8-aligned), `format: "pt"` in the metadata unless the caller sets another.
 * Returned over a plain ArrayBuffer so it can go straight into a Blob or a file write.
 */
export function encodeSafetensors(
  tensors: TensorToWrite[],
  metadata: Record<string, string> = { format: 'pt' },
): Uint8Array<ArrayBuffer> {
  const meta: Record<string, string> = { format: 'pt', ...metadata };
  for (const [k, v] of Object.entries(meta)) {
    if (k === '__proto__') throw new SafetensorsError(ENCODE, 'proto-key', 'metadata has a "__proto__" key');
    if (typeof v !== 'string') throw new SafetensorsError(ENCODE, 'bad-metadata', `metadata value of "${k}" is not a string`);
  }
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const parts: string[] = [`"__metadata__":${JSON.stringify(meta)}`];
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (let k = 0; k < sorted.length; k++) {
    const t = sorted[k]!;
    if (k > 0 && sorted[k - 1]!.name === t.name) {
      throw new SafetensorsError(ENCODE, 'duplicate-key', `tensor "${t.name}" is given twice`);
    }
    if (t.name === '__metadata__' || t.name === '__proto__') {
      throw new SafetensorsError(ENCODE, 'reserved-name', `"${t.name}" cannot be a tensor name`);
    }
    let numel = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) {
        throw new SafetensorsError(ENCODE, 'negative-dim', `tensor "${t.name}" has bad shape [${t.shape.join(', ')}]`);
      }
      numel *= d;
    }
    if (numel !== t.data.length) {
      throw new SafetensorsError(
        ENCODE,
        'shape-mismatch',
        `tensor "${t.name}" has shape [${t.shape.join(', ')}] (${numel} elements) but ${t.data.length} values`,
      );
    }
    const bytes = encodeData(t);
    // Keys are written by hand: a JS object would move integer-like names ("0") ahead of the others.
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + bytes.length}]}`,
    );
    blobs.push(bytes);
    offset += bytes.length;
  }
  let header = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(header.length / 8) * 8;
  if (padded !== header.length) {
    const h = new Uint8Array(padded).fill(0x20);
    h.set(header);
    header = h;
  }
  const out = new Uint8Array(8 + header.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  let pos = 8 + header.length;
  for (const b of blobs) {
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Model weights: one file or a sharded set

export interface WeightSet {
  /** Every tensor name, sorted. */
  names(): string[];
  /** The entry and the file (relative to the source) that holds it. */
  get(name: string): (TensorEntry & { file: string }) | undefined;
  readF32(name: string): Promise<Float32Array>;
  readI32(name: string): Promise<Int32Array>;
  readRaw(name: string): Promise<Uint8Array>;
}

/**
 * Opens `${baseName}.safetensors`, or else the shards listed by `${baseName}.safetensors.index.json`, and
 * checks that the index and the shards agree (each shard present, each mapped tensor in its shard, no tensor
 * in two shards, no shard tensor missing from the index).
 */
export async function openModelWeights(source: FileSource, baseName = 'model'): Promise<WeightSet> {
  const single = `${baseName}.safetensors`;
  const indexPath = `${single}.index.json`;
  const label = (p: string) => `${source.label}/${p}`;
  const readers = new Map<string, SafetensorsReader>(); // shard path → reader
  const owner = new Map<string, string>(); // tensor name → shard path

  if (source.has(single)) {
    const r = await openSafetensors(await source.blob(single), label(single));
    readers.set(single, r);
    for (const e of r.entries) owner.set(e.name, single);
  } else if (source.has(indexPath)) {
    const file = label(indexPath);
    const json = parseStrictJson(await (await source.blob(indexPath)).text(), file, 'index');
    const map = isObject(json) ? json.get('weight_map') : undefined;
    if (!isObject(map)) throw new SafetensorsError(file, 'bad-index', 'index has no "weight_map" object');
    // Shard names are relative to the index's folder.
    const dir = indexPath.includes('/') ? indexPath.slice(0, indexPath.lastIndexOf('/') + 1) : '';
    const shards = new Set<string>();
    for (const [name, shard] of map) {
      if (typeof shard !== 'string') {
        throw new SafetensorsError(file, 'bad-index', `weight_map entry of "${name}" is not a file name`);
      }
      if (!source.has(dir + shard)) {
        throw new SafetensorsError(file, 'missing-shard', `shard "${shard}" (for tensor "${name}") is not in ${source.label}`);
      }
      shards.add(dir + shard);
      owner.set(name, dir + shard);
    }
    if (owner.size === 0) throw new SafetensorsError(file, 'bad-index', 'weight_map is empty');
    const opened = await Promise.all(
      [...shards].map(async (p) => [p, await openSafetensors(await source.blob(p), label(p))] as const),
    );
    const seen = new Map<string, string>(); // tensor → first shard that holds it
    for (const [p, r] of opened) {
      readers.set(p, r);
      for (const e of r.entries) {
        const first = seen.get(e.name);
        if (first !== undefined) {
          throw new SafetensorsError(file, 'duplicate-tensor', `tensor "${e.name}" is in both "${first}" and "${p}"`);
        }
        seen.set(e.name, p);
        if (!owner.has(e.name)) {
          throw new SafetensorsError(file, 'not-in-index', `tensor "${e.name}" of "${p}" is not in the weight_map`);
        }
      }
    }
    for (const [name, p] of owner) {
      if (!readers.get(p)!.get(name)) {
        throw new SafetensorsError(file, 'not-in-shard', `tensor "${name}" is mapped to "${p}" but that shard lacks it`);
      }
    }
  } else {
    throw new SafetensorsError(source.label, 'no-weights', `no ${single} or ${indexPath} in ${source.label}`);
  }

  const names = [...owner.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const readerOf = (name: string): SafetensorsReader => {
    const p = owner.get(name);
    if (p === undefined) throw new SafetensorsError(source.label, 'missing-tensor', `no tensor "${name}" in the model weights`);
    return readers.get(p)!;
  };
  return {
    names: () => [...names],
    get(name) {
      const p = owner.get(name);
      const e = p === undefined ? undefined : readers.get(p)!.get(name);
      return e && { ...e, file: p! };
    },
    readF32: (name) => readerOf(name).readF32(name),
    readI32: (name) => readerOf(name).readI32(name),
    readRaw: (name) => readerOf(name).readRaw(name),
  };
}
