// Dropout with hashed masks (src/core/kernels/dropout.ts): the kept fraction, the scale, the same mask for the
// same seed on both backends (a golden mask: a run resumed on another device draws what it would have), a
// slice with its offset drawing those rows of the whole mask, the gradient (the same mask on dy), and a
// tensor over 65,535 workgroups of 128 (tfjs spreads the dispatch over y: the flat index must hold); the fused
// linear layer's LoRA dropout against plain ops on the dropped-out input. Runs on CPU and on WebGPU.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { fusedLinear, hashDropout } from '../../../../src/core/kernels';
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

describe('fusedLinear with LoRA dropout', () => {
  it('equals the plain ops on the dropped-out input, gradients included, keeping only x for the backward', async () => {
    const [n, inF, outF, r] = [37, 24, 19, 4];
    const x = tf.randomNormal([n, inF], 0, 1, 'float32', 1) as tf.Tensor2D;
    const w = tf.randomNormal([outF, inF], 0, 0.3, 'float32', 2) as tf.Tensor2D;
    const b = tf.randomNormal([outF], 0, 0.3, 'float32', 3);
    const A = tf.randomNormal([r, inF], 0, 0.3, 'float32', 4);
    const B = tf.randomNormal([outF, r], 0, 0.3, 'float32', 5);
    const dropout = { rate: 0.3, seed: 99, offset: 5 * inF };
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
    expect(Math.abs(gv - wv)).toBeLessThanOrEqual(1e-5 * wv);
    for (let i = 0; i < 3; i++)
      expect(relErr((await got.grads[i].data()) as Float32Array, (await want.grads[i].data()) as Float32Array)).toBeLessThanOrEqual(1e-5);
    // no dropout: a different function (the mask matters)
    const none = tf.sum(tf.square(fusedLinear(x, w, false, b, { A, B, scale: 2 })));
    expect(Math.abs((await none.data())[0] - wv)).toBeGreaterThan(1e-3 * wv);
    // the tape keeps x alone (no mask, no dropped-out copy) when the weights are variables, as in a model
    const [wVar, av, bv] = [tf.variable(w, false), tf.variable(A), tf.variable(B)];
    const before = tf.memory().numTensors;
    let kept = -1;
    const g = tf.grads((xi: tf.Tensor) => {
      const y = fusedLinear(xi as tf.Tensor2D, wVar, false, b, { A: av, B: bv, scale: 2, dropout });
      kept = tf.memory().numTensors - before;
      return tf.sum(y);
    })([x]);
    expect(kept).toBe(2); // y and the saved x
    tf.dispose([...g, wVar, av, bv]);
    tf.dispose([x, w, b, A, B, got.value, ...got.grads, want.value, ...want.grads, none]);
  });
});
