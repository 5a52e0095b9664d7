// Evaluation (train/evaluate.ts) against the whole logits of model.forward: mean loss over every counted token
// of padded batches with ignored labels, perplexity, token accuracy (f32, f16 and int8 frozen weights); the
// head a few rows at a time, so that the evaluation's peak stays below the [N, V] logits it never makes, with
// or without a binding limit. Runs on CPU and on WebGPU.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { setMaxBindingBytes } from '../../../../src/core/backend';
import { createRandomModel } from '../../../../src/core/models/model';
import { evaluateSequences } from '../../../../src/core/train/evaluate';
import { IGNORE_INDEX } from '../../../../src/core/train/loss';
import { HEAD_BLOCK_BYTES } from '../../../../src/core/memory';
import type { Sequence } from '../../../../src/core/data/tokenize';
import { configOf, resolveShape } from '../../../../bench/shapes';

const V = 512;

/** Log-probabilities [T, V] of each of three sequences of different lengths, alone through the whole logits. */
async function logProbs(model: ReturnType<typeof createRandomModel>): Promise<{ ids: number[]; rows: number[][] }[]> {
  const out = [];
  for (const [s, n] of [40, 33, 25].entries()) {
    const ids = Array.from({ length: n }, (_, i) => (i * 31 + s * 7 + 3) % V);
    const logits = tf.tidy(() => tf.logSoftmax(model.forward(tf.tensor2d(ids, [1, n], 'int32')).reshape([-1, V])));
    out.push({ ids, rows: (await logits.array()) as number[][] });
    logits.dispose();
  }
  return out;
}

describe('evaluateSequences', () => {
  for (const frozen of ['f32', 'f16', 'int8'] as const)
    it(`gives the mean loss, perplexity and accuracy of the whole logits, a few head rows at a time (${frozen} base weights)`, async () => {
      const model = createRandomModel(configOf(resolveShape('tiny', { vocab: V })));
      if (frozen !== 'f32') {
        // a LoRA run's frozen base: linear and vocabulary weights packed, the head read through its kernels
        for (const p of model.params.values()) p.trainable = false;
        model.packFrozenWeights(frozen);
      }
      // labels: the first tokens ignored (a prompt), every third target the model's own argmax (some hits), the
      // others the next input id
      const seqs: Sequence[] = [];
      let [nll, count, hits] = [0, 0, 0];
      for (const [s, { ids, rows }] of (await logProbs(model)).entries()) {
        const labels = ids.map((id, i) => (i < 4 + s ? IGNORE_INDEX : i % 3 === 0 ? rows[i - 1].indexOf(Math.max(...rows[i - 1])) : id));
        seqs.push({ inputIds: ids, labels });
        for (let t = 0; t + 1 < ids.length; t++) {
          const target = labels[t + 1];
          if (target === IGNORE_INDEX) continue;
          nll -= rows[t][target];
          count++;
          if (rows[t].indexOf(Math.max(...rows[t])) === target) hits++;
        }
      }
      const want = { loss: nll / count, count, hits };
      expect(hits).toBeGreaterThanOrEqual(20);
      // 16 KiB bindings: 8 rows of logits at a time (set after creating the model, whose head stays whole)
      setMaxBindingBytes(16 * 1024);
      try {
        const before = tf.memory().numTensors;
        let got: Awaited<ReturnType<typeof evaluateSequences>> | undefined;
        const profile = await tf.profile(async () => {
          got = await evaluateSequences(model, seqs, 2, 0);
        });
        expect(tf.memory().numTensors).toBe(before);
        expect(got!.tokens).toBe(want.count);
        expect(Math.abs(got!.loss - want.loss)).toBeLessThanOrEqual(1e-5 * want.loss);
        expect(Math.abs(got!.perplexity - Math.exp(want.loss))).toBeLessThanOrEqual(1e-4 * Math.exp(want.loss));
        expect(got!.accuracy).toBe(want.hits / want.count);
        // 8 rows of the first batch's 80 through the head at a time: 16 KiB of logits, not 160 KiB
        expect(profile.kernels.filter((k) => k.outputShapes[0]?.join() === `8,${V}`).length).toBeGreaterThanOrEqual(10);
        expect(profile.kernels.some((k) => (k.outputShapes[0]?.[1] ?? 0) === V && (k.outputShapes[0]?.[0] ?? 0) > 8)).toBe(false);
      } finally {
        setMaxBindingBytes(null);
        model.dispose();
      }
    });

  it('peaks below the whole logits when they are more than one row block (HEAD_BLOCK_BYTES), with no binding limit', async () => {
    // one narrow layer, 2 × 128 tokens, V 40,000: logits 41 MB, an eval block ≤ 32 MiB, everything else < 1 MB
    const big = 40_000;
    const model = createRandomModel(configOf(resolveShape('tiny', { vocab: big, layers: 1, d: 16, heads: 2, kvHeads: 2, seq: 128 })));
    const seqs = [0, 1].map((s) => {
      const inputIds = Array.from({ length: 128 }, (_, i) => (i * 7919 + s * 104_729) % big);
      return { inputIds, labels: inputIds };
    });
    try {
      const start = tf.memory().numBytes;
      let got: Awaited<ReturnType<typeof evaluateSequences>> | undefined;
      const profile = await tf.profile(async () => {
        got = await evaluateSequences(model, seqs, 2, 0);
      });
      const logitsBytes = 2 * 128 * big * 4;
      expect(HEAD_BLOCK_BYTES).toBeLessThan(logitsBytes);
      expect(profile.peakBytes - start).toBeLessThan(logitsBytes);
      // the same mean loss as the whole logits
      const ref = tf.tidy(() => {
        const ids = tf.tensor2d(
          seqs.flatMap((s) => s.inputIds),
          [2, 128],
          'int32',
        );
        const logp = tf.logSoftmax(tf.slice(model.forward(ids), [0, 0, 0], [2, 127, big]).reshape([-1, big]));
        const targets = tf.slice(ids, [0, 1], [2, 127]).reshape([-1]) as tf.Tensor1D;
        return tf.neg(tf.mean(tf.sum(tf.mul(logp, tf.oneHot(targets, big)), 1)));
      });
      const want = (await ref.data())[0];
      ref.dispose();
      expect(got!.tokens).toBe(2 * 127);
      expect(Math.abs(got!.loss - want)).toBeLessThanOrEqual(1e-5 * want);
    } finally {
      model.dispose();
    }
  });
});
