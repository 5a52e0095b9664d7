// Gradient checkpointing (src/core/models/recompute.ts, and the LM head's logits recomputed per row block in
// train/loss.ts): with each block recomputed in the backward, the three fixture models give the same loss,
// token accuracy and gradients of every trained tensor (the tied head's too) as without, for
// full fine-tuning and for LoRA, with dropout on (the slices and the recomputation draw the masks of the
// whole batch: the forward's seeds replayed, each slice its rows) and off,
// fused and plain paths; nothing is leaked; and a deeper model's measured peak is lower. CPU and WebGPU.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { loadModel, createRandomModel, type CausalLM } from '../../../../src/core/models/model';
import { createLora } from '../../../../src/core/lora';
import { lossAndGrads } from '../../../../src/core/train/gradients';
import { setFusedKernels } from '../../../../src/core/kernels';
import { setMaxBindingBytes } from '../../../../src/core/backend';
import { headLossAndGrad } from '../../../../src/core/train/loss';
import { setRecomputeSliceTokens } from '../../../../src/core/models/recompute';
import { configOf, resolveShape } from '../../../../bench/shapes';
import { fixtureSource, readReference, relErr } from '../../../helpers';

const seeds = () => {
  let s = 11;
  return () => s++;
};

async function step(model: CausalLM, vars: Map<string, tf.Variable>, ids: tf.Tensor2D, checkpoint: boolean) {
  const g = lossAndGrads(model, ids, ids, vars, { training: true, nextSeed: seeds(), checkpoint }, true);
  const out = { loss: (await g.loss.data())[0], acc: Array.from(await g.accuracy!.data()), grads: new Map<string, Float32Array>() };
  for (const [n, t] of g.grads) out.grads.set(n, (await t.data()) as Float32Array);
  tf.dispose([g.loss, g.accuracy!, ...g.grads.values()]);
  return out;
}

for (const name of ['model-gpt2', 'model-llama', 'model-qwen2']) {
  describe(`${name} with gradient checkpointing`, () => {
    for (const method of ['full', 'lora'] as const)
      for (const drop of [0, 0.1])
        for (const fused of [true, false])
          it(`${method}, dropout ${drop}, ${fused ? 'fused' : 'plain'}: the same loss and gradients, nothing leaked`, async () => {
            const model = await loadModel(fixtureSource(name));
            model.config.dropout = { embedding: drop, attention: drop, residual: drop };
            let vars = model.params;
            if (method === 'lora') {
              const adapter = createLora(model, { r: 4, alpha: 8, dropout: drop, targetModules: 'all-linear', useRslora: false, fanInFanOut: false }, 3);
              for (const l of adapter.layers.values()) l.B.assign(tf.randomNormal(l.B.shape, 0, 0.1, 'float32', 5));
              vars = adapter.namedVariables();
            } else model.setTrainable(true);
            const ref = await readReference(name);
            const ids = tf.tensor2d(ref.get('input_ids')!.i32!, ref.get('input_ids')!.shape as [number, number], 'int32');
            setFusedKernels(fused);
            // one sequence at a time: the forward and the recomputation go in two slices of the batch (with
            // dropout too: each slice draws its rows of the batch's masks)
            setRecomputeSliceTokens(ids.shape[1]);
            try {
              const plain = await step(model, vars, ids, false);
              const tensors = tf.memory().numTensors;
              const ckpt = await step(model, vars, ids, true);
              expect(tf.memory().numTensors).toBe(tensors);
              expect(Math.abs(ckpt.loss - plain.loss)).toBeLessThanOrEqual(1e-6 * Math.abs(plain.loss));
              expect(ckpt.acc).toEqual(plain.acc);
              expect([...ckpt.grads.keys()].sort()).toEqual([...plain.grads.keys()].sort());
              let nonzero = 0;
              for (const [n, g] of plain.grads) {
                expect(relErr(ckpt.grads.get(n)!, g), n).toBeLessThanOrEqual(1e-5);
                if (g.some((v) => v !== 0)) nonzero++;
              }
              expect(nonzero).toBeGreaterThan(plain.grads.size / 2);
            } finally {
              setFusedKernels(true);
              setRecomputeSliceTokens(null);
            }
            ids.dispose();
            model.dispose();
          });
  });
}

describe('gradient checkpointing memory', () => {
  it('lowers the measured peak of a 6-layer LoRA step (activations kept per block: its input only)', async () => {
    const dims = resolveShape('smollm2-135m-lora', { layers: 6, d: 64, heads: 4, kvHeads: 2, seq: 64, batch: 2, vocab: 128 });
    const model = createRandomModel(configOf(dims));
    const adapter = createLora(model, { r: 4, alpha: 8, dropout: 0, targetModules: 'all-linear', useRslora: false, fanInFanOut: false }, 1);
    const vars = adapter.namedVariables();
    const ids = tf.tensor2d(
      Array.from({ length: 128 }, (_, i) => (i * 31 + 7) % 128),
      [2, 64],
      'int32',
    );
    const peak = async (checkpoint: boolean) => {
      let loss = 0;
      const p = await tf.profile(async () => {
        const g = lossAndGrads(model, ids, ids, vars, { training: true, checkpoint });
        loss = (await g.loss.data())[0];
        tf.dispose([g.loss, ...g.grads.values()]);
      });
      return { peak: p.peakBytes, loss };
    };
    const plain = await peak(false);
    const ckpt = await peak(true);
    expect(ckpt.loss).toBeCloseTo(plain.loss, 5);
    // Without: ~39d + 6I + 7kv floats per token per layer; with: d per layer plus one block's worth.
    expect(ckpt.peak, `${ckpt.peak} vs ${plain.peak}`).toBeLessThan(0.6 * plain.peak);
    // Run and recomputed one sequence at a time instead of the whole batch: lower still, the same loss
    setRecomputeSliceTokens(64);
    try {
      const sliced = await peak(true);
      expect(sliced.loss).toBe(ckpt.loss);
      expect(sliced.peak, `${sliced.peak} vs ${ckpt.peak}`).toBeLessThan(0.95 * ckpt.peak);
    } finally {
      setRecomputeSliceTokens(null);
    }
    ids.dispose();
    model.dispose();
  });
});

describe('LM head in row blocks: memory', () => {
  it('holds one row block of logits at a time in the forward and the backward, not all [N, V] of them', async () => {
    // 256 rows against a 2048-token vocabulary in blocks of 8 rows (a 64 KiB binding limit): 32 blocks, whose
    // logits together (2 MiB) are several times what a few blocks and hidden-sized copies take (held to half)
    const [n, d, v] = [256, 32, 2048];
    const hidden = tf.randomNormal([n, d], 0, 1, 'float32', 1) as tf.Tensor2D;
    const init = tf.randomNormal([v, d], 0, 0.5, 'float32', 2);
    const w = tf.variable(init, false) as tf.Variable<tf.Rank.R2>; // a frozen head: no weight-sized gradient
    init.dispose();
    const targets = tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 37) % v), 'int32');
    const logitsBytes = n * v * 4;
    const inputs = (n * d + v * d + n) * 4;
    setMaxBindingBytes(64 * 1024);
    try {
      const want = tf.tidy(() => {
        const logits = tf.matMul(hidden, w, false, true);
        return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, tf.oneHot(targets, v)), 1)));
      });
      const before = tf.memory().numTensors;
      const fwd = await tf.profile(async () => {
        const { loss, correct, count } = headLossAndGrad(hidden, [w], targets);
        expect(Math.abs((await loss.data())[0] - (await want.data())[0]), `${(await loss.data())[0]} vs ${(await want.data())[0]}`).toBeLessThanOrEqual(1e-5);
        expect((await count.data())[0]).toBe(n);
        tf.dispose([loss, correct, count]);
      });
      expect(fwd.newTensors).toBe(0);
      expect(fwd.peakBytes - inputs, `forward peak ${fwd.peakBytes}`).toBeLessThan(logitsBytes / 2);
      const back = await tf.profile(() => {
        const dh = tf.grad((h: tf.Tensor) => {
          const r = headLossAndGrad(h as tf.Tensor2D, [w], targets);
          tf.dispose([r.correct, r.count]);
          return r.loss;
        })(hidden);
        dh.dispose();
      });
      expect(back.peakBytes - inputs, `backward peak ${back.peakBytes}`).toBeLessThan(logitsBytes / 2);
      expect(tf.memory().numTensors).toBe(before);
      want.dispose();
    } finally {
      setMaxBindingBytes(null);
      tf.dispose([hidden, w, targets]);
    }
  });
});
