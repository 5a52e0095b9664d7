// The fused optimizer kernels against train/adamw.ts's plain path: the global gradient norm, clipped
// gradients, and three AdamW steps (decay on some parameters, clipping folded in) over more gradients than
// one WebGPU program binds, with odd sizes. Runs on the cpu and on the webgpu backend.
import { describe, it, expect, afterEach } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { setFusedKernels } from '../../../../src/core/kernels';
import { AdamW, byteGroups, clipByGlobalNorm, globalNorm } from '../../../../src/core/train/adamw';
import { ADAMW_GROUP_BYTES } from '../../../../src/core/memory';
import { setMaxBindingBytes } from '../../../../src/core/backend';
import { relErr } from '../../../helpers';

const SHAPES = [[97, 131], [37], [5, 3], [1], [64, 9], [129], [7, 7, 3], [300], [2, 11], [13]];
let seed = 100;
const randn = (shape: number[], scale = 1) => tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed++), scale));

function withFused<T>(on: boolean, f: () => T): T {
  setFusedKernels(on);
  try {
    return f();
  } finally {
    setFusedKernels(true);
  }
}

afterEach(() => {
  setFusedKernels(true);
  setMaxBindingBytes(null);
});

async function expectClose(a: tf.Tensor, b: tf.Tensor, tol: number, what: string) {
  expect(a.shape, what).toEqual(b.shape);
  expect(relErr(await a.data(), await b.data()), what).toBeLessThanOrEqual(tol);
}

describe('fused optimizer kernels match the plain path', () => {
  it('global norm and clipped gradients', async () => {
    const grads = SHAPES.map((s) => randn(s));
    const nf = withFused(true, () => globalNorm(grads));
    const np = withFused(false, () => globalNorm(grads));
    await expectClose(nf, np, 1e-5, 'norm');
    for (const maxNorm of [0.5, 1e6]) {
      const cf = withFused(true, () => clipByGlobalNorm(grads, maxNorm));
      const cp = withFused(false, () => clipByGlobalNorm(grads, maxNorm));
      for (let i = 0; i < grads.length; i++) await expectClose(cf.grads[i], cp.grads[i], 1e-5, `clipped ${i} at ${maxNorm}`);
      tf.dispose([...cf.grads, cf.norm, ...cp.grads, cp.norm]);
    }
    tf.dispose([...grads, nf, np]);
  });

  // With two 2.2 MB tensors the fused update runs in three groups of ≤ 4 MiB (ADAMW_GROUP_BYTES), clipping
  // by the one global norm in each.
  // Under a 64 KiB binding limit, a parameter whose moments stacked would not fit one binding keeps them apart.
  for (const [clip, shapes, limit] of [
    [0, SHAPES],
    [0.3, SHAPES],
    [0.3, [...SHAPES.slice(0, 3), [700, 800], ...SHAPES.slice(3), [800, 700]]],
    [0.3, SHAPES, 64 * 1024],
  ] as [number, number[][], number?][]) {
    it(`three AdamW steps (weight decay, clip ${clip || 'off'}${shapes.length > SHAPES.length ? ', in groups' : ''}${limit ? ', under a 64 KiB binding limit' : ''})`, async () => {
      const SHAPES = shapes;
      setMaxBindingBytes(limit ?? null);
      const init = SHAPES.map((s) => randn(s));
      const make = () => new Map(init.map((t, i) => [`p${i}`, tf.variable(t.clone(), true)]));
      const pf = make();
      const pp = make();
      const opts = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, noDecay: (n: string) => n === 'p1' || n === 'p5' };
      const of = new AdamW(opts);
      const op = new AdamW(opts);
      for (let step = 0; step < 3; step++) {
        const grads = new Map(SHAPES.map((s, i) => [`p${i}`, randn(s, 0.1 + step)]));
        const lr = 1e-2 * (step + 1);
        if (clip > 0) {
          const nf = withFused(true, () => of.clipAndApply(pf, grads, lr, clip));
          const np = withFused(false, () => op.clipAndApply(pp, grads, lr, clip));
          await expectClose(nf, np, 1e-5, `norm step ${step}`);
          tf.dispose([nf, np]);
        } else {
          withFused(true, () => of.apply(pf, grads, lr));
          withFused(false, () => op.apply(pp, grads, lr));
        }
        tf.dispose([...grads.values()]);
        const [momentsF, momentsP] = [of.split(), op.split()];
        for (const [i, name] of [...pf.keys()].entries()) {
          await expectClose(pf.get(name)!, pp.get(name)!, 1e-5, `${name} step ${step}`);
          // The update itself (not hidden by the size of the weights).
          const [df, dp] = [tf.sub(pf.get(name)!, init[i]), tf.sub(pp.get(name)!, init[i])];
          await expectClose(df, dp, 1e-4, `${name} update, step ${step}`);
          tf.dispose([df, dp]);
          await expectClose(momentsF.m.get(name)!, momentsP.m.get(name)!, 1e-5, `m ${name} step ${step}`);
          await expectClose(momentsF.v.get(name)!, momentsP.v.get(name)!, 1e-5, `v ${name} step ${step}`);
        }
        tf.dispose([momentsF, momentsP].flatMap((x) => [...x.m.values(), ...x.v.values()]));
      }
      if (limit) {
        // the [97, 131] parameter's stacked moments (101,656 bytes) would not fit a 64 KiB binding: kept apart
        expect([of, op].map((o) => o.moments.get('p0')!.length)).toEqual([2, 2]);
        expect(of.moments.get('p1')!.length).toBe(1);
      }
      expect(of.step).toBe(3);
      of.dispose();
      op.dispose();
      tf.dispose([...init, ...pf.values(), ...pp.values()]);
    });
  }

  it('the fused update holds new parameters and moments for one group at a time', async () => {
    const shapes = [
      [600, 1000],
      [600, 1000],
      [600, 1000],
      [600, 1000],
    ]; // 2.4 MB each: a group each
    const params = new Map(shapes.map((s, i) => [`p${i}`, tf.variable(randn(s), true)]));
    const grads = new Map(shapes.map((s, i) => [`p${i}`, randn(s, 0.1)]));
    expect(byteGroups([...params.keys()], (n) => 4 * params.get(n)!.size, ADAMW_GROUP_BYTES)).toHaveLength(4);
    const opt = new AdamW({ weightDecay: 0.1 });
    opt.apply(params, grads, 1e-3); // creates the moments
    const before = tf.memory().numBytes;
    const info = await tf.profile(() => opt.apply(params, grads, 1e-3));
    const one = 4 * 600 * 1000;
    expect(tf.memory().numBytes).toBe(before);
    // One group's new p, m and v (3 × 2.4 MB) on top, not all four groups' (28.8 MB).
    expect(info.peakBytes - before).toBeLessThanOrEqual(3 * one + 1024);
    expect(info.peakBytes - before).toBeGreaterThanOrEqual(3 * one);
    opt.dispose();
    tf.dispose([...params.values(), ...grads.values()]);
  });
});
