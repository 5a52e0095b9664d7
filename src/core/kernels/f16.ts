// 16-bit storage for frozen weights: f32 values rounded to IEEE half (nearest even) and packed two to a 32-bit
// word (an int32 tensor holding the bits: element 2j in the low half, 2j + 1 in the high half), so a frozen
// base weight takes half the bytes. Kernels decode it where they use it (WGSL unpack2x16float; a table
// lookup on the CPU backend). Packing is flat over the whole tensor; the logical shape travels beside it.
// The entry points for packed weights of either storage (PackedWeight, packWeight, unpackWeight,
// gatherPacked) are here too; 8-bit storage with per-row scales is in int8.ts.
import * as tf from '@tensorflow/tfjs';
import { elementwise, f32, i32, intUniforms, run, sizeOf, type CpuBackendLike, type WebGpuBackendLike } from './backend-util';
import { defineKernel, runKernel, type BackendName } from './register';
import { f16ToF32, f32ToF16 } from '../safetensors';
import { gatherInt8, packInt8, unpackInt8, unpackInt8Info } from './int8';

/** How a packed frozen weight is stored: f16 bits (here), or int8 with per-row scales (int8.ts). */
export type PackedFormat = 'f16' | 'int8';

/**
 * A frozen weight of `shape` stored packed: `bits` is int32 [ceil(size / 2)] of f16 bits, or (format int8)
 * int32 [ceil(size / 4) + rows] of bytes and per-row scales.
 */
export interface PackedWeight {
  bits: tf.Tensor;
  shape: number[];
  format: PackedFormat;
}

export function isPacked(w: unknown): w is PackedWeight {
  return typeof w === 'object' && w !== null && 'bits' in w && 'shape' in w && !(w instanceof tf.Tensor);
}

/** WGSL: f32 → half bits with round-to-nearest-even, the same steps as safetensors' f32ToF16 (pack2x16float
 * leaves rounding and out-of-range values to the implementation, so it is not used for packing). */
const F32_TO_F16_WGSL = `
  fn f32ToF16Bits(v : f32) -> u32 {
    let b = bitcast<u32>(v);
    let sign = (b >> 16u) & 0x8000u;
    let ex = i32((b >> 23u) & 0xffu);
    let mant = b & 0x7fffffu;
    if (ex == 255) {
      return sign | 0x7c00u | select(0u, 0x200u | (mant >> 13u), mant != 0u);
    }
    let e = ex - 112;
    if (e >= 31) {
      return sign | 0x7c00u;
    }
    var m : u32;
    var rem : u32;
    var halfway : u32;
    if (e > 0) {
      m = (u32(e) << 10u) | (mant >> 13u);
      rem = mant & 0x1fffu;
      halfway = 0x1000u;
    } else {
      let shift = u32(14 - e);
      if (shift > 24u) {
        return sign;
      }
      let full = mant | 0x800000u;
      m = full >> shift;
      rem = full & ((1u << shift) - 1u);
      halfway = 1u << (shift - 1u);
    }
    if (rem > halfway || (rem == halfway && (m & 1u) == 1u)) {
      m = m + 1u;
    }
    return sign | m;
  }`;

function packCpu(backend: CpuBackendLike, x: tf.TensorInfo): tf.TensorInfo {
  const n = sizeOf(x.shape);
  const half = new Uint16Array(2 * Math.ceil(n / 2));
  half.set(f32ToF16(f32(backend, x)));
  return backend.makeTensorInfo([half.length / 2], 'int32', new Int32Array(half.buffer));
}

function packWebGpu(backend: WebGpuBackendLike, x: tf.TensorInfo): tf.TensorInfo {
  const n = sizeOf(x.shape);
  const program = elementwise(
    'pack_f16',
    ['x'],
    [Math.ceil(n / 2)],
    `
    let i = index * 2;
    let lo = f32ToF16Bits(x[i]);
    var hi = 0u;
    if (i + 1 < uniforms.n) {
      hi = f32ToF16Bits(x[i + 1]);
    }
    result[index] = bitcast<i32>(lo | (hi << 16u));`,
    'n : i32,',
    F32_TO_F16_WGSL,
  );
  return run(backend, program, [x], [{ type: 'int32', data: [n] }], 'int32');
}

function unpackCpu(backend: CpuBackendLike, bits: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  const words = i32(backend, bits);
  const half = new Uint16Array(words.buffer, words.byteOffset, words.length * 2).subarray(0, sizeOf(shape));
  return backend.makeTensorInfo(shape, 'float32', f16ToF32(half));
}

function unpackWebGpu(backend: WebGpuBackendLike, bits: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  const program = elementwise(
    'unpack_f16',
    ['bits'],
    shape,
    `
    let v = unpack2x16float(bitcast<u32>(bits[index / 2]));
    result[index] = select(v.x, v.y, (index & 1) == 1);`,
  );
  return run(backend, program, [bits]);
}

/** Decodes packed bits into a new f32 tensor of `shape`, on `backend` (for use inside composite kernels). */
export function unpackInfo(name: BackendName, backend: unknown, bits: tf.TensorInfo, shape: number[], format: PackedFormat = 'f16'): tf.TensorInfo {
  if (format === 'int8') return unpackInt8Info(name, backend, bits, shape);
  return name === 'webgpu' ? unpackWebGpu(backend as WebGpuBackendLike, bits, shape) : unpackCpu(backend as CpuBackendLike, bits, shape);
}

// No gradients: packed weights are frozen, so neither kernel is ever on a path from a trained variable.
defineKernel<object>({
  name: 'WhetPackF16',
  cpu: ({ x }, backend) => packCpu(backend, x),
  webgpu: ({ x }, backend) => packWebGpu(backend, x),
});
defineKernel<{ shape: number[] }>({
  name: 'WhetUnpackF16',
  cpu: ({ bits }, backend, { shape }) => unpackCpu(backend, bits, shape),
  webgpu: ({ bits }, backend, { shape }) => unpackWebGpu(backend, bits, shape),
});

interface GatherAttrs {
  /** The weight's row width. */
  d: number;
  /** The first vocabulary id this weight (a row chunk) holds, and how many rows it has. */
  offset: number;
  rows: number;
}

/** Row ids[i] − offset of a packed [rows, d] weight, or zeros when the id is not in it. ids [n] → [n, d]. */
function gatherCpu(backend: CpuBackendLike, bits: tf.TensorInfo, ids: tf.TensorInfo, { d, offset, rows }: GatherAttrs): tf.TensorInfo {
  const words = i32(backend, bits);
  const half = new Uint16Array(words.buffer, words.byteOffset, words.length * 2);
  const idv = i32(backend, ids);
  const out = new Float32Array(idv.length * d);
  for (let i = 0; i < idv.length; i++) {
    const r = idv[i] - offset;
    if (r >= 0 && r < rows) out.set(f16ToF32(half.subarray(r * d, (r + 1) * d)), i * d);
  }
  return backend.makeTensorInfo([idv.length, d], 'float32', out);
}

function gatherWebGpu(backend: WebGpuBackendLike, bits: tf.TensorInfo, ids: tf.TensorInfo, { d, offset, rows }: GatherAttrs): tf.TensorInfo {
  const n = sizeOf(ids.shape);
  const program = elementwise(
    'gather_f16',
    ['bits', 'ids'],
    [n, d],
    `
    let r = ids[index / uniforms.d] - uniforms.rowStart;
    var v = 0.0;
    if (r >= 0 && r < uniforms.rowCount) {
      let e = r * uniforms.d + index % uniforms.d;
      let w = unpack2x16float(bitcast<u32>(bits[e / 2]));
      v = select(w.x, w.y, (e & 1) == 1);
    }
    result[index] = v;`,
    'd : i32, rowStart : i32, rowCount : i32,',
  );
  return run(backend, program, [bits, ids], intUniforms(d, offset, rows));
}

// No gradient: a packed weight is frozen and ids are integers.
defineKernel<GatherAttrs>({
  name: 'WhetGatherF16',
  cpu: ({ bits, ids }, backend, attrs) => gatherCpu(backend, bits, ids, attrs),
  webgpu: ({ bits, ids }, backend, attrs) => gatherWebGpu(backend, bits, ids, attrs),
});

/**
 * Rows `ids` of a packed weight [rows, d] that holds vocabulary ids offset..offset+rows−1 (a row chunk, or
 * the whole with offset 0), decoded to f32; ids outside it give zero rows. ids [...] int32 → [..., d].
 */
export function gatherPacked(w: PackedWeight, ids: tf.Tensor, offset = 0): tf.Tensor {
  const [rows, d] = w.shape;
  const flat = ids.reshape([-1]);
  const out =
    w.format === 'int8' ? gatherInt8(w.bits, flat, w.shape, offset) : runKernel<tf.Tensor>('WhetGatherF16', { bits: w.bits, ids: flat }, { d, offset, rows });
  flat.dispose();
  const shaped = out.reshape([...ids.shape, d]);
  out.dispose();
  return shaped;
}

/** x (f32, any shape) → its values as f16 bits, int32 [ceil(size / 2)]. */
export function packF16(x: tf.Tensor): tf.Tensor1D {
  return runKernel<tf.Tensor1D>('WhetPackF16', { x });
}

/** Packed bits → a new f32 tensor of `shape` (the caller disposes it). */
export function unpackF16(bits: tf.Tensor, shape: number[]): tf.Tensor {
  return runKernel<tf.Tensor>('WhetUnpackF16', { bits }, { shape });
}

/** Packs a frozen weight into a non-trainable int32 variable (the caller disposes the f32 original). */
export function packWeight(w: tf.Tensor, format: PackedFormat = 'f16'): PackedWeight {
  const bits = format === 'int8' ? packInt8(w) : packF16(w);
  const v = tf.variable(bits, false);
  bits.dispose();
  return { bits: v, shape: [...w.shape], format };
}

/** A packed weight decoded into a new f32 tensor (the caller disposes it). */
export function unpackWeight(w: PackedWeight): tf.Tensor {
  return w.format === 'int8' ? unpackInt8(w.bits, w.shape) : unpackF16(w.bits, w.shape);
}
