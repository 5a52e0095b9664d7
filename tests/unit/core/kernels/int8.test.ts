// 8-bit frozen weights with a per-row scale: packing keeps every value within half a step (max|row| / 254)
// of the f32 weight and each row's largest exactly, against a reference quantizer written here; decoding,
// the tiled matmul and the fused linear layer on int8 words all read what the decoded f32 copy holds (row
// gathers and whole models: f16.test.ts, for both formats). Runs on the cpu and on the webgpu backend.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { fusedLinear, packInt8, packWeight, unpackInt8, unpackWeight } from '../../../../src/core/kernels';
import { tiledMatMul } from '../../../../src/core/kernels/matmul';
import { relErr } from '../../../helpers';

let seed = 11;
const randn = (shape: number[], scale = 1) => tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed++), scale));

/** The format written out by hand: round half to even of v / (max|row| / 127), clamped to ±127. */
function reference(v: Float32Array, rows: number, cols: number): { q: Int8Array; scales: Float32Array } {
  const q = new Int8Array(v.length);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(v[r * cols + c]));
    const s = Math.fround(m / 127);
    scales[r] = s;
    for (let c = 0; c < cols; c++) {
      if (s === 0) continue;
      const x = Math.fround(v[r * cols + c] / s);
      const f = Math.floor(x);
      const rounded = x - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(x);
      q[r * cols + c] = Math.max(-127, Math.min(127, rounded));
    }
  }
  return { q, scales };
}

describe('int8 packing', () => {
  it('stores round(w / scale) per row with scale max|row| / 127, four to a word, the scales after (odd sizes, a zero row)', async () => {
    for (const [rows, cols] of [
      [7, 13],
      [33, 64],
      [5, 1],
    ]) {
      const v = (await randn([rows, cols]).data()) as Float32Array;
      v.fill(0, 2 * cols, 3 * cols); // row 2: all zeros (scale 0 decodes to zeros)
      if (cols > 2) v.set([1e-30, -3e4], 0); // a tiny and a large value in row 0
      const w = tf.tensor2d(v, [rows, cols]);
      const bits = packInt8(w);
      const words = Math.ceil((rows * cols) / 4);
      expect(bits.dtype).toBe('int32');
      expect(bits.shape).toEqual([words + rows]);
      const raw = Int32Array.from(await bits.data());
      const got = new Int8Array(raw.buffer, 0, rows * cols);
      const scales = new Float32Array(raw.buffer, 4 * words, rows);
      const want = reference(v, rows, cols);
      const tag = `${rows}×${cols}`;
      for (let r = 0; r < rows; r++)
        expect(Math.abs(scales[r] - want.scales[r]), `${tag} scale ${r}`).toBeLessThanOrEqual(1e-6 * want.scales[r]);
      // WGSL's division may differ from an exactly rounded one by an ulp: a tie may then round the other way.
      let off = 0;
      for (let i = 0; i < got.length; i++) {
        expect(Math.abs(got[i] - want.q[i]), `${tag} element ${i}`).toBeLessThanOrEqual(1);
        if (got[i] !== want.q[i]) off++;
      }
      expect(off, tag).toBeLessThanOrEqual(2);
      // Decoded: within half a step of the weight; each row's largest |w| decodes to ±127 · scale.
      const back = (await unpackInt8(bits, [rows, cols]).data()) as Float32Array;
      for (let r = 0; r < rows; r++) {
        let m = 0;
        let at = r * cols;
        for (let c = 0; c < cols; c++) {
          const e = r * cols + c;
          expect(Math.abs(back[e] - v[e]), `${tag} ${r},${c}`).toBeLessThanOrEqual(scales[r] * 0.5000001 + 1e-30);
          if (Math.abs(v[e]) > m) [m, at] = [Math.abs(v[e]), e];
        }
        expect(Math.abs(Math.abs(back[at]) - m), `${tag} row ${r} max`).toBeLessThanOrEqual(1e-6 * m);
        if (r === 2) expect(Array.from(back.subarray(r * cols, (r + 1) * cols))).toEqual(new Array(cols).fill(0));
      }
      tf.dispose([w, bits]);
    }
  });
});

describe('reading int8 weights', () => {
  it('the tiled matmul takes int8 words for B as it takes the decoded weight (≤ 1e-5; on webgpu read in the tile loads)', async () => {
    for (const transposeB of [true, false])
      for (const [m, n, k] of [
        [1, 1001, 577],
        [4, 37, 576],
        [70, 65, 33],
      ]) {
        const shape = transposeB ? [n, k] : [k, n];
        const w = randn(shape, 0.1);
        const packed = packWeight(w, 'int8');
        const decoded = unpackWeight(packed);
        const x = randn([m, k]);
        const got = tiledMatMul(x, packed.bits, { transposeB, packedShapeB: shape, packedFormatB: 'int8' });
        const want = tf.matMul(x, decoded as tf.Tensor2D, false, transposeB);
        expect(got.shape).toEqual([m, n]);
        expect(relErr(await got.data(), await want.data()), `${m}×${n}×${k}${transposeB ? 'ᵀ' : ''}`).toBeLessThanOrEqual(1e-5);
        tf.dispose([w, packed.bits, decoded, x, got, want]);
      }
    if (tf.getBackend() === 'webgpu') {
      // the programs that ran: a matmul decoding int8 in its loads (no f32 copy of B made for it)
      const keys = Object.keys((tf.backend() as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache);
      expect(keys.some((key) => key.startsWith('whet_mm_') && key.includes('_pint8')), keys.join(' ')).toBe(true);
    }
  });

  it('the fused linear layer (forward, dx, LoRA gradients) on int8 matches it on the decoded weight (≤ 1e-5), both layouts', async () => {
    for (const conv1d of [false, true])
      for (const [n, inF, outF] of [
        [5, 9, 13],
        [67, 64, 128],
      ]) {
        const x = randn([n, inF]);
        const w = randn(conv1d ? [inF, outF] : [outF, inF], 0.1);
        const packed = packWeight(w, 'int8');
        const decoded = tf.variable(unpackWeight(packed), false) as unknown as tf.Tensor2D;
        const A = tf.variable(randn([3, inF], 0.1));
        const B = tf.variable(randn([outF, 3], 0.1));
        const dy = randn([n, outF]);
        const run = (weight: tf.Tensor2D | typeof packed) => {
          const f = (xx: tf.Tensor) =>
            tf.mul(fusedLinear(xx as tf.Tensor2D, weight, conv1d, undefined, { A, B, scale: 2 }), dy).sum() as tf.Scalar;
          const y = tf.tidy(() => fusedLinear(x as tf.Tensor2D, weight, conv1d));
          const dx = tf.grad(f)(x);
          const { grads } = tf.variableGrads(() => f(x), [A, B]);
          return { y, dx, dA: grads[A.name], dB: grads[B.name] };
        };
        const got = run(packed);
        const want = run(decoded);
        const tag = `${conv1d ? 'Conv1D' : 'Linear'} ${n}×${inF}→${outF}`;
        for (const key of ['y', 'dx', 'dA', 'dB'] as const)
          expect(relErr(await got[key].data(), await want[key].data()), `${tag} ${key}`).toBeLessThanOrEqual(1e-5);
        // and within the quantization step of the f32 weight
        const y32 = tf.tidy(() => fusedLinear(x as tf.Tensor2D, w as tf.Tensor2D, conv1d));
        expect(relErr(await got.y.data(), await y32.data()), `${tag} vs f32`).toBeLessThanOrEqual(2e-2);
        tf.dispose([x, w, packed.bits, decoded, A, B, dy, y32, ...Object.values(got), ...Object.values(want)]);
      }
  });
});
