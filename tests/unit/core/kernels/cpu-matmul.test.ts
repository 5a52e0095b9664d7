// The CPU backend's BatchMatMul and _FusedMatMul (src/core/kernels/cpu-matmul.ts) against a float64
// reference computed here: odd sizes, all four transpose combinations, batches with a broadcast operand,
// bias as a row vector and as a full matrix, 4-D broadcasting, and an activation (handed to tfjs).
// Always on the CPU backend, whichever project runs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '../../../../src/core/kernels';
import { relErr } from '../../../helpers';

let previous = '';
beforeAll(async () => {
  previous = tf.getBackend();
  await tf.setBackend('cpu');
});
afterAll(async () => {
  await tf.setBackend(previous);
});

let seed = 7;
function rand(shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    out[i] = seed / 2 ** 30 - 1;
  }
  return out;
}

/** Float64 A·B for [batch, rows, cols] views (batch 1 broadcasts), with optional transposes. */
function reference(
  a: Float32Array,
  as: number[],
  b: Float32Array,
  bs: number[],
  ta: boolean,
  tb: boolean,
): { values: Float64Array; m: number; n: number; batch: number } {
  const [ab, ar, ac] = as;
  const [bb, br, bc] = bs;
  const m = ta ? ac : ar;
  const k = ta ? ar : ac;
  const n = tb ? br : bc;
  const batch = Math.max(ab, bb);
  const out = new Float64Array(batch * m * n);
  for (let x = 0; x < batch; x++) {
    const ao = (ab === 1 ? 0 : x) * ar * ac;
    const bo = (bb === 1 ? 0 : x) * br * bc;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[ao + (ta ? p * ac + i : i * ac + p)] * b[bo + (tb ? j * bc + p : p * bc + j)];
        out[(x * m + i) * n + j] = s;
      }
  }
  return { values: out, m, n, batch };
}

const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [33, 65, 17],
  [130, 67, 129],
];

describe('CPU matmul', () => {
  it('is the kernel tfjs runs (not tfjs-backend-cpu’s own)', () => {
    expect((tf.getKernel('BatchMatMul', 'cpu') as { whetstone?: boolean }).whetstone).toBe(true);
    expect((tf.getKernel('_FusedMatMul', 'cpu') as { whetstone?: boolean }).whetstone).toBe(true);
  });

  for (const [m, k, n] of SIZES)
    for (const ta of [false, true])
      for (const tb of [false, true])
        it(`${m}×${k}·${k}×${n} transposeA=${ta} transposeB=${tb}`, () => {
          const as = ta ? [1, k, m] : [1, m, k];
          const bs = tb ? [1, n, k] : [1, k, n];
          const a = rand(as);
          const b = rand(bs);
          const want = reference(a, as, b, bs, ta, tb);
          const got = tf.tidy(() =>
            tf.matMul(tf.tensor2d(a, as.slice(1) as [number, number]), tf.tensor2d(b, bs.slice(1) as [number, number]), ta, tb).dataSync(),
          );
          expect(relErr(got, want.values)).toBeLessThan(1e-6);
        });

  it('batches, with either operand broadcast', () => {
    for (const [abatch, bbatch] of [
      [3, 3],
      [3, 1],
      [1, 4],
    ]) {
      const as = [abatch, 9, 11];
      const bs = [bbatch, 11, 6];
      const a = rand(as);
      const b = rand(bs);
      const want = reference(a, as, b, bs, false, false);
      const got = tf.tidy(() => tf.matMul(tf.tensor3d(a, as as [number, number, number]), tf.tensor3d(b, bs as [number, number, number])));
      expect(got.shape).toEqual([want.batch, 9, 6]);
      expect(relErr(got.dataSync(), want.values)).toBeLessThan(1e-6);
      got.dispose();
    }
  });

  it('4-D operands broadcast outer dims as numpy does ([2, 1] × [1, 3] → [2, 3]; tfjs-backend-cpu’s own kernel gets this wrong)', () => {
    const a = rand([2, 1, 5, 7]);
    const b = rand([1, 3, 7, 4]);
    const got = tf.tidy(() => tf.matMul(tf.tensor4d(a, [2, 1, 5, 7]), tf.tensor4d(b, [1, 3, 7, 4])));
    expect(got.shape).toEqual([2, 3, 5, 4]);
    const v = got.dataSync();
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++) {
        const want = reference(a.subarray(i * 35, (i + 1) * 35), [1, 5, 7], b.subarray(j * 28, (j + 1) * 28), [1, 7, 4], false, false);
        expect(relErr(v.subarray((i * 3 + j) * 20, (i * 3 + j + 1) * 20), want.values)).toBeLessThan(1e-6);
      }
    got.dispose();
  });

  it('_FusedMatMul adds a row-vector bias and a full-matrix bias, and keeps activations', () => {
    const a = rand([13, 8]);
    const w = rand([10, 8]);
    const row = rand([10]);
    const full = rand([13, 10]);
    const base = reference(a, [1, 13, 8], w, [1, 10, 8], false, true).values;
    tf.tidy(() => {
      const x = tf.tensor2d(a, [13, 8]);
      const wt = tf.tensor2d(w, [10, 8]);
      const y1 = tf.fused.matMul({ a: x, b: wt, transposeB: true, bias: tf.tensor1d(row) }).dataSync();
      expect(
        relErr(
          y1,
          base.map((v, i) => v + row[i % 10]),
        ),
      ).toBeLessThan(1e-6);
      const y2 = tf.fused.matMul({ a: x, b: wt, transposeB: true, bias: tf.tensor2d(full, [13, 10]) }).dataSync();
      expect(
        relErr(
          y2,
          base.map((v, i) => v + full[i]),
        ),
      ).toBeLessThan(1e-6);
      const y3 = tf.fused.matMul({ a: x, b: wt, transposeB: true, bias: tf.tensor1d(row), activation: 'relu' }).dataSync();
      expect(
        relErr(
          y3,
          base.map((v, i) => Math.max(0, v + row[i % 10])),
        ),
      ).toBeLessThan(1e-6);
    });
  });

  it('gradients through matMul match the reference products', () => {
    const a = rand([6, 5]);
    const b = rand([5, 4]);
    const dy = rand([6, 4]);
    const [ga, gb] = tf.tidy(() =>
      tf
        .grads((x: tf.Tensor, y: tf.Tensor) => tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D))(
          [tf.tensor2d(a, [6, 5]), tf.tensor2d(b, [5, 4])],
          tf.tensor2d(dy, [6, 4]),
        )
        .map((t) => t.dataSync()),
    );
    expect(relErr(ga, reference(dy, [1, 6, 4], b, [1, 5, 4], false, true).values)).toBeLessThan(1e-6);
    expect(relErr(gb, reference(a, [1, 6, 5], dy, [1, 6, 4], true, false).values)).toBeLessThan(1e-6);
  });
});
