// The backward frees as it goes (src/core/tape.ts): a training step's gradients are bit-identical with and
// without it, nothing leaks, and the peak is lower (tfjs alone keeps every saved tensor and every
// intermediate gradient to the end of the backward). A gradient handed on unchanged (WhetBiasAdd's dx is dy
// itself) survives. CPU and WebGPU.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { freeBackwardAsItGoes } from '../../../src/core/tape';
import { createRandomModel } from '../../../src/core/models/model';
import { causalLmLoss } from '../../../src/core/train/loss';
import { fusedBiasAdd } from '../../../src/core/kernels/activations';
import { configOf, resolveShape } from '../../../bench/shapes';

async function step(model: ReturnType<typeof createRandomModel>, ids: tf.Tensor2D, free: boolean) {
  const vars = [...model.params.values()];
  const info = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => {
      const loss = causalLmLoss(model.forward(ids, { training: true }), ids);
      if (free) freeBackwardAsItGoes();
      return loss;
    }, vars);
    return [value, ...vars.map((v) => grads[v.name])];
  });
  const [loss, ...grads] = info.result as tf.Tensor[];
  const out = { peak: info.peakBytes, loss: (await loss.data())[0], grads: await Promise.all(grads.map((g) => g.data())) };
  tf.dispose([loss, ...grads]);
  return out;
}

describe('freeBackwardAsItGoes', () => {
  for (const family of ['llama', 'gpt2'] as const)
    it(`${family}: the same gradients, bit for bit, nothing leaked, a lower peak`, async () => {
      const shape = family === 'llama' ? 'smollm2-135m-lora' : 'tiny';
      // GPT-2's biases go through WhetBiasAdd, whose dx is its dy unchanged.
      const dims = resolveShape(shape, { layers: 4, d: 64, heads: 4, kvHeads: family === 'llama' ? 2 : 4, seq: 32, batch: 2, vocab: 96 });
      const model = createRandomModel(configOf(dims), 5);
      model.setTrainable(true);
      const ids = tf.tensor2d(Array.from({ length: 64 }, (_, i) => (i * 5) % 96), [2, 32], 'int32');
      const plain = await step(model, ids, false);
      const tensors = tf.memory().numTensors;
      const freed = await step(model, ids, true);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(freed.loss).toBe(plain.loss);
      expect(freed.grads.length).toBe(plain.grads.length);
      for (let i = 0; i < plain.grads.length; i++) expect(Array.from(freed.grads[i])).toEqual(Array.from(plain.grads[i]));
      expect(freed.peak).toBeLessThan(0.9 * plain.peak);
      ids.dispose();
      model.dispose();
    });

  it('a gradient handed on unchanged, twice in a row, stays alive', async () => {
    const x = tf.variable(tf.randomNormal([3, 4], 0, 1, 'float32', 1));
    const b = tf.variable(tf.randomNormal([4], 0, 1, 'float32', 2));
    const { value, grads } = tf.variableGrads(() => {
      const y = fusedBiasAdd(fusedBiasAdd(x, b), b); // dx of each is its dy itself
      const loss = tf.sum(tf.mul(y, y)) as tf.Scalar;
      freeBackwardAsItGoes();
      return loss;
    }, [x, b]);
    const y = tf.add(tf.add(x, b), b);
    const dx = tf.mul(y, 2);
    expect(Array.from(await grads[x.name].data())).toEqual(Array.from(await dx.data()));
    const db = tf.mul(tf.sum(dx, 0), 2);
    const diff = tf.max(tf.abs(tf.sub(grads[b.name], db)));
    expect((await diff.data())[0]).toBeLessThan(1e-5);
    tf.dispose([value, ...Object.values(grads), x, b, y, dx, db, diff]);
  });
});
