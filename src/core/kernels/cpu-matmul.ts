// The CPU backend's matrix products (BatchMatMul, _FusedMatMul) replaced by a register-blocked loop: four
// rows of C at a time, the inner loop running along contiguous rows of B (C[i, :] += A[i, k] · B[k, :]),
// which V8 compiles to tight code. About 3× tfjs-backend-cpu's own kernel on the shapes the models use; it
// matters where there is no WebGPU (the CPU fallback, CI, the default model's pretraining recipe).
// Transposed operands are first copied into row-major order (O(M·K + K·N) next to O(M·K·N) multiply-adds).
// Outer (batch) dims broadcast as numpy does — tfjs-backend-cpu 4.22 gets [2, 1, …] × [1, 3, …] wrong (it
// indexes each operand by the flat batch index modulo its own batch size). Activations other than linear,
// and a bias that is neither a row vector nor a full matrix, go to tfjs's own kernel.
import * as tf from '@tensorflow/tfjs';
import type { CpuBackendLike } from './backend-util';

type Info = tf.TensorInfo;

/** Row-major [rows, cols] copy of a [cols, rows] matrix at `offset` of `src`. */
function transposed(src: Float32Array, offset: number, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let c = 0; c < cols; c++) {
    const o = offset + c * rows;
    for (let r = 0; r < rows; r++) out[r * cols + c] = src[o + r];
  }
  return out;
}

/** C[m, n] += A[m, k] · B[k, n] for row-major A (at aOff), B (at bOff), C (at cOff). */
export function matmulInto(
  a: Float32Array,
  aOff: number,
  b: Float32Array,
  bOff: number,
  c: Float32Array,
  cOff: number,
  m: number,
  k: number,
  n: number,
): void {
  let i = 0;
  for (; i + 4 <= m; i += 4) {
    const c0 = cOff + i * n;
    const c1 = c0 + n;
    const c2 = c1 + n;
    const c3 = c2 + n;
    const a0 = aOff + i * k;
    for (let p = 0; p < k; p++) {
      const x0 = a[a0 + p];
      const x1 = a[a0 + k + p];
      const x2 = a[a0 + 2 * k + p];
      const x3 = a[a0 + 3 * k + p];
      const bo = bOff + p * n;
      for (let j = 0; j < n; j++) {
        const y = b[bo + j];
        c[c0 + j] += x0 * y;
        c[c1 + j] += x1 * y;
        c[c2 + j] += x2 * y;
        c[c3 + j] += x3 * y;
      }
    }
  }
  for (; i < m; i++) {
    const co = cOff + i * n;
    const ao = aOff + i * k;
    for (let p = 0; p < k; p++) {
      const x = a[ao + p];
      const bo = bOff + p * n;
      for (let j = 0; j < n; j++) c[co + j] += x * b[bo + j];
    }
  }
}

interface Operand {
  values: Float32Array;
  /** Matrices in the operand (1 broadcasts). */
  batch: number;
  rows: number;
  cols: number;
}

/** The operand as `batch` row-major matrices of the product's orientation, or null when its shape is not [..., r, c]. */
function operand(backend: CpuBackendLike, x: Info, transpose: boolean): Operand | null {
  if (x.dtype !== 'float32' || x.shape.length < 2) return null;
  const r = x.shape[x.shape.length - 2];
  const c = x.shape[x.shape.length - 1];
  const batch = x.shape.slice(0, -2).reduce((p, q) => p * q, 1);
  const raw = backend.readSync(x.dataId) as Float32Array;
  if (!transpose) return { values: raw, batch, rows: r, cols: c };
  const values = new Float32Array(raw.length);
  for (let b = 0; b < batch; b++) values.set(transposed(raw, b * r * c, c, r), b * r * c);
  return { values, batch, rows: c, cols: r };
}

/** Offsets of the matrices of an operand with outer dims `dims` for each output matrix (outer dims `out`, broadcast). */
function batchOffsets(dims: number[], out: number[], matrixSize: number): number[] {
  const padded = [...new Array(out.length - dims.length).fill(1), ...dims];
  const count = out.reduce((p, q) => p * q, 1);
  const offsets = new Array<number>(count);
  for (let flat = 0; flat < count; flat++) {
    let rest = flat;
    let index = 0;
    let stride = 1;
    for (let d = out.length - 1; d >= 0; d--) {
      const pos = rest % out[d];
      rest = Math.floor(rest / out[d]);
      index += (padded[d] === 1 ? 0 : pos) * stride;
      stride *= padded[d];
    }
    offsets[flat] = index * matrixSize;
  }
  return offsets;
}

/** A · B (+ bias) with numpy broadcasting of the outer dims, or null where this does not apply. */
function product(backend: CpuBackendLike, a: Info, b: Info, transposeA: boolean, transposeB: boolean, bias?: Info): Info | null {
  const A = operand(backend, a, transposeA);
  const B = operand(backend, b, transposeB);
  if (!A || !B || A.cols !== B.rows) return null;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const rank = Math.max(outerA.length, outerB.length);
  const outer: number[] = [];
  for (let d = 0; d < rank; d++) {
    const x = outerA[d - (rank - outerA.length)] ?? 1;
    const y = outerB[d - (rank - outerB.length)] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    outer.push(Math.max(x, y));
  }
  const m = A.rows;
  const k = A.cols;
  const n = B.cols;
  const batch = outer.reduce((p, q) => p * q, 1);
  const out = new Float32Array(batch * m * n);
  if (bias) {
    if (bias.dtype !== 'float32' || bias.shape[bias.shape.length - 1] !== n) return null;
    const bv = backend.readSync(bias.dataId) as Float32Array;
    if (bv.length === n) for (let r = 0; r < batch * m; r++) out.set(bv, r * n);
    else if (bv.length === out.length) out.set(bv);
    else if (bv.length === m * n) for (let i = 0; i < batch; i++) out.set(bv, i * m * n);
    else return null;
  }
  const aOffsets = batchOffsets(outerA, outer, m * k);
  const bOffsets = batchOffsets(outerB, outer, k * n);
  for (let i = 0; i < batch; i++) matmulInto(A.values, aOffsets[i], B.values, bOffsets[i], out, i * m * n, m, k, n);
  return backend.makeTensorInfo([...outer, m, n], 'float32', out);
}

type KernelFunc = tf.KernelConfig['kernelFunc'];

function replace(kernelName: string, impl: (args: Parameters<KernelFunc>[0], original: KernelFunc) => Info | Info[]): void {
  const original = tf.getKernel(kernelName, 'cpu');
  if (!original || (original as { whetstone?: boolean }).whetstone) return;
  tf.unregisterKernel(kernelName, 'cpu');
  const kernelFunc: KernelFunc = (args) => impl(args, original.kernelFunc);
  tf.registerKernel({ kernelName, backendName: 'cpu', kernelFunc, whetstone: true } as tf.KernelConfig);
}

replace('BatchMatMul', (args, original) => {
  const { a, b } = args.inputs as { a: Info; b: Info };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  return product(args.backend as unknown as CpuBackendLike, a, b, transposeA, transposeB) ?? (original(args) as Info);
});

replace('_FusedMatMul', (args, original) => {
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, Info | undefined>;
  const { transposeA, transposeB, activation } = args.attrs as { transposeA: boolean; transposeB: boolean; activation?: string };
  if (preluActivationWeights || (activation !== undefined && activation !== 'linear')) return original(args) as Info;
  return product(args.backend as unknown as CpuBackendLike, a!, b!, transposeA, transposeB, bias) ?? (original(args) as Info);
});
