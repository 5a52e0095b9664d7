// The attention mask (src/core/models/layers.ts attentionKeys): the models hand attention a key mask of
// [B|1, S] values, never a [B|1, 1, T, S] bias, so that long or padded batches do not need a T × S buffer
// (over the storage-binding limit at 8 × 2,048 padded tokens under the default 128 MiB). A padded Llama
// batch of 256 tokens trains under a simulated 128 KiB limit (a [2, 1, 256, 256] bias alone is 512 KiB) on
// the fused path, with the loss and gradients of the plain path (which materializes the bias). CPU and WebGPU.
import { describe, it, expect, afterEach } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { setMaxBindingBytes, maxBindingBytes } from '../../../../src/core/backend';
import { watchBindings } from '../../../../src/core/binding-watch';
import { createRandomModel } from '../../../../src/core/models/model';
import { lossAndGrads } from '../../../../src/core/train/gradients';
import { setFusedKernels } from '../../../../src/core/kernels';
import { configOf, resolveShape } from '../../../../bench/shapes';
import { relErr } from '../../../helpers';

afterEach(() => {
  setMaxBindingBytes(null);
  setFusedKernels(true);
});

describe('attention mask', () => {
  it('a padded 2 × 256-token batch trains under a 128 KiB binding limit (no T × S mask), as the plain path', async () => {
    const [b, t] = [2, 256];
    const model = createRandomModel(
      configOf(resolveShape('smollm2-135m-lora', { layers: 1, d: 32, heads: 4, kvHeads: 2, intermediate: 48, seq: t, batch: b, vocab: 64 })),
      3,
    );
    model.setTrainable(true);
    const ids = tf.tensor2d(
      Array.from({ length: b * t }, (_, i) => (i * 7) % 64),
      [b, t],
      'int32',
    );
    // Sequence 1 is right-padded after 200 tokens (its labels there are ignored).
    const m = new Int32Array(b * t).fill(1);
    m.fill(0, t + 200);
    const mask = tf.tensor2d(m, [b, t], 'int32');
    const labels = tf.tidy(() => tf.where(tf.cast(mask, 'bool'), ids, tf.fill([b, t], -100, 'int32')) as tf.Tensor2D);
    const run = async () => {
      const g = lossAndGrads(model, ids, labels, model.params, { training: true, attentionMask: mask });
      const out = { loss: (await g.loss.data())[0], grads: new Map<string, Float32Array>() };
      for (const [n, x] of g.grads) out.grads.set(n, (await x.data()) as Float32Array);
      tf.dispose([g.loss, ...g.grads.values()]);
      return out;
    };

    setMaxBindingBytes(128 * 1024);
    const watch = watchBindings(maxBindingBytes());
    let fused;
    try {
      fused = await run();
    } finally {
      watch.stop();
    }
    setMaxBindingBytes(null);
    expect(() => watch.check(), watch.largestWhat).not.toThrow();
    expect(watch.largest).toBeLessThan(t * t * 4);

    // The plain path materializes the [2, 1, 256, 256] bias and the scores: the same watch sees them.
    const plainWatch = watchBindings(128 * 1024);
    let plain;
    setFusedKernels(false);
    try {
      plain = await run();
    } finally {
      plainWatch.stop();
      setFusedKernels(true);
    }
    expect(plainWatch.largest).toBeGreaterThanOrEqual(b * t * t * 4);
    expect(() => plainWatch.check()).toThrow(/more than the storage-binding limit/);
    expect(Number.isFinite(fused.loss)).toBe(true);
    expect(Math.abs(fused.loss - plain.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(plain.loss));
    for (const [n, g] of plain.grads) expect(relErr(fused.grads.get(n)!, g), n).toBeLessThanOrEqual(1e-3);
    tf.dispose([ids, mask, labels]);
    model.dispose();
  });
});
