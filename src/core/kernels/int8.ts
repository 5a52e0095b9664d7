// 8-bit storage for frozen weights, a step below f16.ts: each row of a 2D weight [rows, cols] gets one f32
// scale, max|w| / 127 over the row (per output channel of an HF Linear [out, in], per input channel of a
// GPT-2 Conv1D [in, out], per token of an embedding), and every value is stored as round(w / scale) in
// [-127, 127], four to a 32-bit word. One int32 tensor holds it all: words 0 .. ceil(n / 4) − 1 the bytes
// (element 4j + b in byte b, two's complement), then `rows` words with the scales' f32 bits. On webgpu the
// matmul's loads (through int8At) and the row gather read it in place; the CPU backend decodes a scratch
// f32 copy where it is used.
import * as tf from '@tensorflow/tfjs';
import { elementwise, f32, i32, intUniforms, run, sizeOf, type CpuBackendLike, type WebGpuBackendLike } from './backend-util';
import { defineKernel, runKernel, type BackendName } from './register';

/** Rows and columns of the scale layout: a 1D tensor is one row. */
export function int8Layout(shape: number[]): { rows: number; cols: number; n: number; words: number } {
  const n = sizeOf(shape);
  const rows = shape.length > 1 ? shape[0] : 1;
  return { rows, cols: rows === 0 ? 0 : n / rows, n, words: Math.ceil(n / 4) };
}

/** Round half to even, as WGSL's round(). */
function roundEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function quantize(x: number, s: number): number {
  return s > 0 ? Math.min(127, Math.max(-127, roundEven(Math.fround(x / s)))) : 0;
}

function packCpu(backend: CpuBackendLike, x: tf.TensorInfo, scales: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  const { cols, n, words, rows } = int8Layout(shape);
  const v = f32(backend, x);
  const s = f32(backend, scales);
  const out = new Int32Array(words + rows);
  const bytes = new Int8Array(out.buffer, 0, 4 * words);
  for (let e = 0; e < n; e++) bytes[e] = quantize(v[e], s[Math.floor(e / cols)]);
  new Float32Array(out.buffer, 4 * words, rows).set(s);
  return backend.makeTensorInfo([out.length], 'int32', out);
}

function packWebGpu(backend: WebGpuBackendLike, x: tf.TensorInfo, scales: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  const { cols, n, words, rows } = int8Layout(shape);
  const program = elementwise(
    'pack_int8',
    ['x', 'scales'],
    [words + rows],
    `
    if (index < uniforms.words) {
      var word = 0u;
      for (var b = 0; b < 4; b++) {
        let e = index * 4 + b;
        if (e < uniforms.n) {
          let s = scales[e / uniforms.cols];
          var q = 0;
          if (s > 0.0) {
            q = i32(clamp(round(x[e] / s), -127.0, 127.0));
          }
          word = word | ((bitcast<u32>(q) & 0xffu) << (8u * u32(b)));
        }
      }
      result[index] = bitcast<i32>(word);
    } else {
      result[index] = bitcast<i32>(scales[index - uniforms.words]);
    }`,
    'n : i32, cols : i32, words : i32,',
  );
  return run(backend, program, [x, scales], intUniforms(n, cols, words), 'int32');
}

/**
 * WGSL `int8At(e, words, cols)`: element `e` of the int8 words in the i32 array `buffer` (`words` and `cols`
 * from int8Layout), decoded. The unpack and gather kernels here and the matmul's loads (matmul.ts) call it.
 */
export function int8DecodeWgsl(buffer: string): string {
  return `
  fn int8At(e : i32, words : i32, cols : i32) -> f32 {
    let w = bitcast<u32>(${buffer}[e / 4]);
    let q = bitcast<i32>(w << (24u - 8u * u32(e % 4))) >> 24u;
    return f32(q) * bitcast<f32>(${buffer}[words + e / cols]);
  }`;
}
const DECODE_WGSL = int8DecodeWgsl('bits');

/** The CPU backend's view of int8 words: the bytes and the per-row scales. */
function int8Views(backend: CpuBackendLike, bits: tf.TensorInfo, shape: number[]): { bytes: Int8Array; s: Float32Array } {
  const { words, rows } = int8Layout(shape);
  const w = i32(backend, bits);
  return { bytes: new Int8Array(w.buffer, w.byteOffset, 4 * words), s: new Float32Array(w.buffer, w.byteOffset + 4 * words, rows) };
}

function unpackCpu(backend: CpuBackendLike, bits: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  const { cols, n, rows } = int8Layout(shape);
  const { bytes, s } = int8Views(backend, bits, shape);
  const out = new Float32Array(n);
  for (let r = 0; r < rows; r++) for (let c = 0, e = r * cols; c < cols; c++, e++) out[e] = bytes[e] * s[r];
  return backend.makeTensorInfo(shape, 'float32', out);
}

function unpackWebGpu(backend: WebGpuBackendLike, bits: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  const { cols, words } = int8Layout(shape);
  const program = elementwise(
    'unpack_int8',
    ['bits'],
    shape,
    'result[index] = int8At(index, uniforms.words, uniforms.cols);',
    'words : i32, cols : i32,',
    DECODE_WGSL,
  );
  return run(backend, program, [bits], intUniforms(words, cols));
}

/** Decodes int8 words into a new f32 tensor of `shape`, on `backend` (for use inside composite kernels). */
export function unpackInt8Info(name: BackendName, backend: unknown, bits: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return name === 'webgpu' ? unpackWebGpu(backend as WebGpuBackendLike, bits, shape) : unpackCpu(backend as CpuBackendLike, bits, shape);
}

interface GatherAttrs {
  d: number;
  offset: number;
  rows: number;
}

/** Row ids[i] − offset of an int8 [rows, d] weight, or zeros when the id is not in it. ids [n] → [n, d]. */
function gatherCpu(backend: CpuBackendLike, bits: tf.TensorInfo, ids: tf.TensorInfo, { d, offset, rows }: GatherAttrs): tf.TensorInfo {
  const { bytes, s } = int8Views(backend, bits, [rows, d]);
  const idv = i32(backend, ids);
  const out = new Float32Array(idv.length * d);
  for (let i = 0; i < idv.length; i++) {
    const r = idv[i] - offset;
    if (r >= 0 && r < rows) for (let c = 0; c < d; c++) out[i * d + c] = bytes[r * d + c] * s[r];
  }
  return backend.makeTensorInfo([idv.length, d], 'float32', out);
}

function gatherWebGpu(
  backend: WebGpuBackendLike,
  bits: tf.TensorInfo,
  ids: tf.TensorInfo,
  { d, offset, rows }: GatherAttrs,
): tf.TensorInfo {
  const { words } = int8Layout([rows, d]);
  const program = elementwise(
    'gather_int8',
    ['bits', 'ids'],
    [sizeOf(ids.shape), d],
    `
    let r = ids[index / uniforms.d] - uniforms.rowStart;
    var v = 0.0;
    if (r >= 0 && r < uniforms.rowCount) {
      v = int8At(r * uniforms.d + index % uniforms.d, uniforms.words, uniforms.d);
    }
    result[index] = v;`,
    'd : i32, rowStart : i32, rowCount : i32, words : i32,',
    DECODE_WGSL,
  );
  return run(backend, program, [bits, ids], intUniforms(d, offset, rows, words));
}

// No gradients: int8 weights are frozen and ids are integers.
defineKernel<{ shape: number[] }>({
  name: 'WhetPackInt8',
  cpu: ({ x, scales }, backend, { shape }) => packCpu(backend, x, scales, shape),
  webgpu: ({ x, scales }, backend, { shape }) => packWebGpu(backend, x, scales, shape),
});
defineKernel<{ shape: number[] }>({
  name: 'WhetUnpackInt8',
  cpu: ({ bits }, backend, { shape }) => unpackCpu(backend, bits, shape),
  webgpu: ({ bits }, backend, { shape }) => unpackWebGpu(backend, bits, shape),
});
defineKernel<GatherAttrs>({
  name: 'WhetGatherInt8',
  cpu: ({ bits, ids }, backend, attrs) => gatherCpu(backend, bits, ids, attrs),
  webgpu: ({ bits, ids }, backend, attrs) => gatherWebGpu(backend, bits, ids, attrs),
});

/** x (f32, 1D or 2D) → int8 words and per-row scales, int32 [ceil(size / 4) + rows]. */
export function packInt8(x: tf.Tensor): tf.Tensor1D {
  const { rows, cols } = int8Layout(x.shape);
  const scales = tf.tidy(() => tf.div(tf.max(tf.abs(tf.reshape(x, [rows, cols])), 1), 127));
  const out = runKernel<tf.Tensor1D>('WhetPackInt8', { x, scales }, { shape: [...x.shape] });
  scales.dispose();
  return out;
}

/** Int8 words → a new f32 tensor of `shape` (the caller disposes it). */
export function unpackInt8(bits: tf.Tensor, shape: number[]): tf.Tensor {
  return runKernel<tf.Tensor>('WhetUnpackInt8', { bits }, { shape });
}

/** Rows `ids` (flat, int32) of an int8 [rows, d] weight holding ids offset..offset+rows−1, decoded: [n, d]. */
export function gatherInt8(bits: tf.Tensor, ids: tf.Tensor, shape: number[], offset: number): tf.Tensor {
  const [rows, d] = shape;
  return runKernel<tf.Tensor>('WhetGatherInt8', { bits, ids }, { d, offset, rows });
}
