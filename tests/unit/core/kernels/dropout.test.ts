// Dropout with hashed masks (src/core/kernels/dropout.ts): the kept fraction, the scale, the same mask for the
// same seed on both backends (a golden mask: a run resumed on another device draws what it would have), a
// slice with its offset drawing those rows of the whole mask, the gradient (the same mask on dy), and a
// tensor over 65,535 workgroups of 128 (tfjs spreads the dispatch over y: the flat index must hold); the fused
// linear layer's LoRA dropout against plain ops on the dropped-out input; indices past 2³² (golden masks across
// the boundary, and the WGSL's 64-bit row · cols + j, which the flash attention kernel indexes its [B, H, T, S]
// probabilities with, against the hash written out here with BigInt). Runs on CPU and on WebGPU.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { fusedLinear, hashDropout } from '../../../../src/core/kernels';
import { elementwise, run, type WebGpuBackendLike } from '../../../../src/core/kernels/backend-util';
import { DROP_UNIFORMS, DROP_WGSL, dropFactorJs, dropUniforms, type DropoutAttrs } from '../../../../src/core/kernels/dropout';
import { relErr } from '../../../helpers';

/** 1 where kept, 0 where dropped. */
async function maskOf(t: tf.Tensor): Promise<string> {
  return Array.from(await t.data())
    .map((v) => (v !== 0 ? 1 : 0))
    .join('');
}

describe('hashDropout', () => {
  it('draws the golden mask for seed 7 at rate 0.5 (the same on every backend)', async () => {
    const y = hashDropout(tf.ones([64]), 0.5, 7);
    expect(await maskOf(y)).toBe('0110000010001010101000010010011100010000010111001011111011100110');
    tf.dispose(y);
  });

  it('keeps about 1 − rate, scales the kept values by 1 / (1 − rate), and the mask follows the seed', async () => {
    const x = tf.randomNormal([300, 333], 0, 1, 'float32', 5);
    const xv = await x.data();
    for (const rate of [0.05, 0.3]) {
      const [a, b, c] = [hashDropout(x, rate, 11), hashDropout(x, rate, 11), hashDropout(x, rate, 12)];
      const [av, bv, cv] = await Promise.all([a.data(), b.data(), c.data()]);
      let kept = 0;
      let differ = 0;
      const scale = Math.fround(1 / (1 - rate));
      for (let i = 0; i < xv.length; i++) {
        if (av[i] !== 0) {
          kept++;
          expect(av[i]).toBe(Math.fround(xv[i] * scale));
        }
        if ((av[i] !== 0) !== (cv[i] !== 0)) differ++;
      }
      expect(Math.abs(kept / xv.length - (1 - rate))).toBeLessThan(0.005);
      expect(Array.from(bv)).toEqual(Array.from(av));
      expect(differ / xv.length).toBeGreaterThan(rate); // an independent mask: 2·rate·(1 − rate) differ
      tf.dispose([a, b, c]);
    }
    expect(await maskOf(hashDropout(tf.ones([1000]), 0, 3))).toBe('1'.repeat(1000));
    expect(() => hashDropout(x, 1, 3)).toThrow(/rate must be in \[0, 1\)/);
    x.dispose();
  });

  it('a slice with the index of its first element as offset draws those rows of the whole mask', async () => {
    const x = tf.randomNormal([6, 17, 24], 0, 1, 'float32', 9); // [B, T, d]
    const whole = hashDropout(x, 0.2, 42);
    const rows = 17 * 24;
    const parts = [
      [0, 2],
      [2, 3],
      [5, 1],
    ].map(([start, n]) => hashDropout(tf.slice(x, start, n), 0.2, 42, start * rows));
    expect(Array.from(await tf.concat(parts, 0).data())).toEqual(Array.from(await whole.data()));
    tf.dispose([x, whole, ...parts]);
  });

  it('passes the gradient through the same mask, scaled', async () => {
    const x = tf.randomNormal([40, 50], 0, 1, 'float32', 1);
    const w = tf.randomNormal([40, 50], 0, 1, 'float32', 2);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(hashDropout(v, 0.25, 77), w)))(x);
    expect(Array.from(await g.data())).toEqual(Array.from(await hashDropout(w, 0.25, 77).data()));
    tf.dispose([x, w, g]);
  });

  it('covers every element of a tensor over 65,535 workgroups of 128 (8.5 M), as its slices do', async () => {
    const n = 8_500_000;
    const x = tf.ones([n]);
    const y = hashDropout(x, 0.1, 3);
    const yv = await y.data();
    let kept = 0;
    for (const v of yv) if (v !== 0) kept++;
    expect(Math.abs(kept / n - 0.9)).toBeLessThan(0.001);
    const tail = hashDropout(tf.ones([1000]), 0.1, 3, n - 1000);
    expect(Array.from(await tail.data())).toEqual(Array.from(yv.slice(n - 1000)));
    tf.dispose([x, y, tail]);
  });
});

/** The hash as dropout.ts documents it, on BigInt: lowbias32, and a key mixing in an index's high 32 bits. */
function specFactor(attrs: DropoutAttrs, index: bigint): number {
  const M = 0xffffffffn;
  const mix = (v: bigint) => {
    let x = v & M;
    x ^= x >> 16n;
    x = (x * 0x7feb352dn) & M;
    x ^= x >> 15n;
    x = (x * 0x846ca68bn) & M;
    return x ^ (x >> 16n);
  };
  const [hi, lo] = [index >> 32n, index & M];
  const key = hi === 0n ? mix(BigInt(attrs.seed)) : mix(mix(BigInt(attrs.seed)) ^ mix(hi));
  return mix(lo ^ key) >> 8n >= BigInt(Math.ceil(attrs.rate * 2 ** 24)) ? Math.fround(1 / (1 - attrs.rate)) : 0;
}

describe('dropout indices past 2^32', () => {
  it('draws golden masks across 2^32 and at 2^40 (the same on every backend), not those of index − 2^32', async () => {
    const at = (offset: number) => maskOf(hashDropout(tf.ones([64]), 0.5, 7, offset));
    const across = await at(2 ** 32 - 32);
    expect(across).toBe('1001001001001111111010110110001011001000111000010111111110001100');
    expect(await at(2 ** 40 - 32)).toBe('1000000101011100011001000111010000101101000000100111111010110111');
    // index 2^32 + i is not index i again: the golden mask at 0 is the first test's
    expect(across.slice(32)).not.toBe('0110000010001010101000010010011100010000010111001011111011100110'.slice(0, 32));
    expect(() => hashDropout(tf.ones([4]), 0.5, 7, 2 ** 53 - 2)).toThrow(/more than 2\^53 indices/);
  });

  it('element [row, j] of a [rows, cols] tensor hashes its 64-bit index row · cols + j + offset', async () => {
    const attrs: DropoutAttrs = { rate: 0.5, seed: 2024, offset: 3 * 2 ** 32 + 0xfffffff0 };
    // rows and cols around 2^16 and 2^31 (every 16-bit half of the product), j carrying into the high word
    const cases: [number, number, number][] = [];
    for (const row of [0, 1, 65535, 65536, 70001, 2 ** 31 - 1])
      for (const cols of [1, 17, 65535, 65537, 2 ** 21 - 3]) for (const j of [0, 5, 16, cols - 1]) cases.push([row, cols, j]);
    const want = cases.map(([row, cols, j]) => specFactor(attrs, BigInt(row) * BigInt(cols) + BigInt(j) + BigInt(attrs.offset)));
    expect(new Set(want).size).toBe(2); // both kept and dropped occur
    let got: number[];
    if (tf.getBackend() === 'webgpu') {
      // DROP_WGSL's dropFactorAt, as the attention kernel calls it
      const ints = (k: number) =>
        tf.tensor1d(
          cases.map((c) => c[k]),
          'int32',
        );
      const inputs = [ints(0), ints(1), ints(2)];
      const program = elementwise(
        'drop_factor_at_test',
        ['rows', 'cols', 'js'],
        [cases.length],
        'result[index] = dropFactorAt(u32(rows[index]), u32(cols[index]), u32(js[index]));',
        DROP_UNIFORMS,
        DROP_WGSL,
      );
      const info = run(tf.backend() as unknown as WebGpuBackendLike, program, inputs, dropUniforms(attrs));
      const out = tf.engine().makeTensorFromTensorInfo(info);
      got = Array.from(await out.data());
      tf.dispose([...inputs, out]);
    } else {
      // the cpu kernels' dropFactorJs on the same index (exact below 2^53)
      const z = dropFactorJs(attrs);
      got = cases.map(([row, cols, j]) => z(row * cols + j + attrs.offset));
    }
    expect(got).toEqual(want);
  });
});

describe('fusedLinear with LoRA dropout', () => {
  /** x [n, in], W [out, in], b, A [r, in], B [out, r] and a mask at an offset, all seeded. */
  const layer = (n: number, inF: number, outF: number, r: number) => ({
    x: tf.randomNormal([n, inF], 0, 1, 'float32', 1) as tf.Tensor2D,
    w: tf.randomNormal([outF, inF], 0, 0.3, 'float32', 2) as tf.Tensor2D,
    b: tf.randomNormal([outF], 0, 0.3, 'float32', 3),
    A: tf.randomNormal([r, inF], 0, 0.3, 'float32', 4),
    B: tf.randomNormal([outF, r], 0, 0.3, 'float32', 5),
    dropout: { rate: 0.3, seed: 99, offset: 5 * inF },
  });

  it('equals the plain ops on the dropped-out input, gradients included (vec4 and scalar loads of x)', async () => {
    for (const [n, inF, outF, r] of [
      [37, 24, 19, 4],
      [29, 23, 17, 3],
    ]) {
      const { x, w, b, A, B, dropout } = layer(n, inF, outF, r);
      const fused = (xi: tf.Tensor, a: tf.Tensor, bb: tf.Tensor) =>
        fusedLinear(xi as tf.Tensor2D, w, false, b, { A: a, B: bb, scale: 2, dropout });
      const plain = (xi: tf.Tensor, a: tf.Tensor, bb: tf.Tensor) => {
        const down = tf.mul(tf.matMul(hashDropout(xi, dropout.rate, dropout.seed, dropout.offset), a, false, true), 2);
        return tf.add(tf.add(tf.matMul(xi, w, false, true), b), tf.matMul(down, bb, false, true));
      };
      const loss = (f: typeof plain) => (xi: tf.Tensor, a: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.square(f(xi, a, bb)));
      const got = tf.valueAndGrads(loss(fused))([x, A, B]);
      const want = tf.valueAndGrads(loss(plain))([x, A, B]);
      const [gv, wv] = [(await got.value.data())[0], (await want.value.data())[0]];
      expect(Math.abs(gv - wv), `${n}×${inF}`).toBeLessThanOrEqual(1e-5 * wv);
      for (let i = 0; i < 3; i++)
        expect(
          relErr((await got.grads[i].data()) as Float32Array, (await want.grads[i].data()) as Float32Array),
          `${n}×${inF} d${i}`,
        ).toBeLessThanOrEqual(1e-5);
      // no dropout: a different function (the mask matters)
      const none = tf.sum(tf.square(fusedLinear(x, w, false, b, { A, B, scale: 2 })));
      expect(Math.abs((await none.data())[0] - wv)).toBeGreaterThan(1e-3 * wv);
      tf.dispose([x, w, b, A, B, got.value, ...got.grads, want.value, ...want.grads, none]);
    }
  });

  it('keeps only x for the backward (no mask, no dropped-out copy) when the weights are variables, as in a model', () => {
    const { x, w, b, A, B, dropout } = layer(37, 24, 19, 4);
    const [wVar, av, bv] = [tf.variable(w, false), tf.variable(A), tf.variable(B)];
    const before = tf.memory().numTensors;
    let kept = -1;
    const g = tf.grads((xi: tf.Tensor) => {
      const y = fusedLinear(xi as tf.Tensor2D, wVar, false, b, { A: av, B: bv, scale: 2, dropout });
      kept = tf.memory().numTensors - before;
      return tf.sum(y);
    })([x]);
    expect(kept).toBe(2); // y and the saved x
    tf.dispose([...g, wVar, av, bv, x, w, b, A, B]);
  });
});
