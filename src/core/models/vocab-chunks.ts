// Vocabulary-sized weights (the token embedding, an untied LM head) kept as row chunks when the whole would
// not fit one storage-buffer binding (a 151,936 × 896 f32 embedding is 544 MB; many adapters bind 128 MiB).
// Chunk k of parameter `name` is the parameter `name#k`; its rows follow those of chunk k − 1. Everything
// that leaves the engine (exports, checkpoints) sees the joined tensor under its own name.
import * as tf from '@tensorflow/tfjs';
import { fusedKernelsEnabled, fusedLinear, gatherPacked, isPacked, unpackWeight, type PackedWeight } from '../kernels';

const SEP = '#';

export function chunkName(name: string, k: number): string {
  return `${name}${SEP}${k}`;
}

/** `name#k` → { base: name, index: k }; null for a parameter that is not a chunk. */
export function parseChunkName(name: string): { base: string; index: number } | null {
  const m = /^(.+)#(\d+)$/.exec(name);
  return m ? { base: m[1], index: Number(m[2]) } : null;
}

/** The name a parameter is exported under: its own, or the whole tensor's for a chunk. */
export function wholeName(name: string): string {
  return parseChunkName(name)?.base ?? name;
}

/**
 * Row counts of the chunks of a tensor of `rows` rows of `rowBytes` bytes under a binding limit of `limit`
 * bytes: as many full chunks as needed, then the rest ([rows] when it fits, or when there is no limit).
 */
export function chunkRowCounts(rows: number, rowBytes: number, limit: number | null): number[] {
  if (limit === null || rows * rowBytes <= limit) return [rows];
  const per = Math.floor(limit / rowBytes);
  if (per < 1) throw new RangeError(`one row of ${rowBytes} bytes does not fit the binding limit of ${limit} bytes`);
  const counts: number[] = [];
  for (let start = 0; start < rows; start += per) counts.push(Math.min(per, rows - start));
  return counts;
}

/**
 * Adds the parameter `name` of `shape` to `params`, as one variable or (when `chunkable` and it exceeds
 * `limit`) as row chunks `name#0`, `name#1`, …; `make(start, rows)` gives the values of rows start..start+rows.
 */
export function addParam(
  params: Map<string, tf.Variable>,
  name: string,
  shape: number[],
  chunkable: boolean,
  limit: number | null,
  make: (start: number, rows: number) => tf.Tensor,
): void {
  const rowBytes = 4 * shape.slice(1).reduce((a, b) => a * b, 1);
  const counts = chunkable && shape.length >= 2 ? chunkRowCounts(shape[0], rowBytes, limit) : [shape[0]];
  let start = 0;
  counts.forEach((rows, k) => {
    const init = make(start, rows);
    params.set(counts.length === 1 ? name : chunkName(name, k), tf.variable(init, true));
    init.dispose();
    start += rows;
  });
}

/** One row chunk of a vocabulary weight [r, d]: an f32 variable, or (frozen, f16) packed bits. */
export type RowChunk = tf.Tensor2D | PackedWeight;

/**
 * The parameter `name` as its row chunks in order ([the whole] when it is not split), from `params` or,
 * for a frozen weight stored in 16 bits, from `packed`.
 */
export function rowChunks(params: Map<string, tf.Variable>, name: string, packed?: Map<string, PackedWeight>): RowChunk[] {
  const whole = params.get(name) ?? packed?.get(name);
  if (whole) return [whole as RowChunk];
  const out: RowChunk[] = [];
  for (let k = 0; ; k++) {
    const c = params.get(chunkName(name, k)) ?? packed?.get(chunkName(name, k));
    if (!c) break;
    out.push(c as RowChunk);
  }
  if (out.length === 0) throw new Error(`missing parameter ${name}`);
  return out;
}

/**
 * tf.gather(w, ids): rows of w [V, d] for ids [...] int32 → [..., d], whose gradient is a scatter-add of the
 * output gradient's rows into [V, d]. tfjs's own (an unsorted segment sum) runs a few ops per row of w on the
 * CPU backend, 86 s for V = 40,000 and 256 ids, where its scatter takes milliseconds; on WebGPU the segment
 * sum transposes to [d, V] and back (two more [V, d] buffers) where the scatter adds into [V, d] in place
 * (SwiftShader, V 5,000, 512 ids: 8 ms against 224–297 ms). Only ids are kept for the backward, no
 * reference to w.
 */
export function embeddingRows(w: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const [v, d] = w.shape;
  const f = tf.customGrad((...args: unknown[]) => {
    const save = args[1] as tf.GradSaveFunc;
    save([ids]);
    return {
      value: tf.gather(args[0] as tf.Tensor, ids),
      gradFunc: (dy: tf.Tensor, [i]: tf.Tensor[]) => tf.scatterND(tf.reshape(i, [-1, 1]), tf.reshape(dy, [-1, d]), [v, d]),
    };
  });
  return f(w);
}

/**
 * embeddingRows(weight, ids) for a weight [V, d] kept as row chunks: each chunk gathers the ids in its rows
 * (the others read its row 0 and are zeroed; a packed chunk's kernel writes zeros itself), and the chunks'
 * results are summed. ids [...] → [..., d].
 */
export function gatherRows(chunks: RowChunk[], ids: tf.Tensor): tf.Tensor {
  if (chunks.length === 1) return isPacked(chunks[0]) ? gatherPacked(chunks[0], ids) : embeddingRows(chunks[0], ids);
  return tf.tidy(() => {
    let out: tf.Tensor | null = null;
    let start = 0;
    for (const w of chunks) {
      const rows = w.shape[0];
      let part: tf.Tensor;
      if (isPacked(w)) part = gatherPacked(w, ids, start);
      else {
        const local = tf.sub(ids, tf.scalar(start, 'int32'));
        const inside = tf.logicalAnd(tf.greaterEqual(local, 0), tf.less(local, rows));
        const picked = embeddingRows(w, tf.where(inside, local, tf.zerosLike(local)));
        part = tf.mul(picked, tf.expandDims(tf.cast(inside, 'float32'), -1));
      }
      out = out ? tf.add(out, part) : part;
      start += rows;
    }
    return out!;
  });
}

/**
 * hidden [N, d] · chunkᵀ → logits [N, r] of one head chunk [r, d]. A packed chunk goes through the linear
 * kernel, which reads the packed bits in its tile loads (webgpu; on cpu it decodes a scratch copy) and saves only
 * `hidden` for the backward; on the plain path it is decoded first.
 */
export function headMatMul(hidden: tf.Tensor2D, w: RowChunk): tf.Tensor2D {
  if (!isPacked(w)) return tf.matMul(hidden, w, false, true);
  if (fusedKernelsEnabled()) return fusedLinear(hidden, w, false);
  return tf.tidy(() => tf.matMul(hidden, unpackWeight(w) as tf.Tensor2D, false, true));
}

/** Row offsets of each member of a chunk group, from the members' shapes. */
function rowOffset(shapes: Map<string, readonly number[]>, name: string): number {
  const c = parseChunkName(name);
  if (!c) return 0;
  let offset = 0;
  for (let k = 0; k < c.index; k++) offset += shapes.get(chunkName(c.base, k))![0];
  return offset;
}

/** Names grouped by the whole tensor they belong to, members in row order: { whole → [names] }. */
export function groupByWhole(names: Iterable<string>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const n of names) {
    const w = wholeName(n);
    groups.set(w, [...(groups.get(w) ?? []), n]);
  }
  for (const members of groups.values()) members.sort((a, b) => (parseChunkName(a)?.index ?? 0) - (parseChunkName(b)?.index ?? 0));
  return groups;
}

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Reads tensors named by parameter (chunks joined under the whole tensor's name), in `map`'s order. */
export async function readJoined(map: Map<string, tf.Tensor>): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [whole, members] of groupByWhole(map.keys())) {
    const parts: Float32Array[] = [];
    for (const n of members) {
      const d = await map.get(n)!.data();
      parts.push(d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>));
    }
    const first = map.get(members[0])!.shape;
    const rows = members.reduce((a, n) => a + map.get(n)!.shape[0], 0);
    out.set(whole, { shape: members.length === 1 ? [...first] : [rows, ...first.slice(1)], data: joinRows(parts) });
  }
  return out;
}

export function joinRows(parts: Float32Array[]): Float32Array {
  if (parts.length === 1) return parts[0];
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The part of whole tensors (by whole name) that each of `names` holds: a chunk gets its rows, other names
 * the tensor itself. `shapes` gives every name's shape (the chunks' row counts). Missing wholes are skipped.
 */
export function splitToNames(wholes: Map<string, HostTensor>, shapes: Map<string, readonly number[]>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, shape] of shapes) {
    const whole = wholes.get(wholeName(name));
    if (!whole) continue;
    if (!parseChunkName(name)) {
      out.set(name, whole);
      continue;
    }
    const rowLen = shape.slice(1).reduce((a, b) => a * b, 1);
    if (whole.shape.slice(1).join() !== shape.slice(1).join() || whole.data.length < (rowOffset(shapes, name) + shape[0]) * rowLen) {
      out.set(name, whole); // the wrong shape: the caller's shape check names it
      continue;
    }
    const start = rowOffset(shapes, name) * rowLen;
    out.set(name, { shape: [...shape], data: whole.data.subarray(start, start + shape[0] * rowLen) });
  }
  return out;
}
