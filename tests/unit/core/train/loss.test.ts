// The LM head and loss a row block at a time with the gradient formed in the forward (train/loss.ts's
// headLossAndGrad) against the whole-logits loss and tfjs's own gradients: uneven vocabulary chunks, trained
// and frozen, several row blocks, ignored rows; every row ignored; and when a training step takes that path.
// Evaluation's sums (headLossSums) against the same. Runs on CPU and on WebGPU.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { setMaxBindingBytes } from '../../../../src/core/backend';
import { HEAD_BLOCK_BYTES } from '../../../../src/core/memory';
import { createRandomModel } from '../../../../src/core/models/model';
import { headLossAndGrad, headLossInBlocks, headLossSums, IGNORE_INDEX } from '../../../../src/core/train/loss';
import { configOf, resolveShape } from '../../../../bench/shapes';
import { relErr } from '../../../helpers';

const [N, D] = [37, 24];
const ROWS = [50, 50, 17]; // V = 117

async function setup(ignoreAll: boolean) {
  const hidden = tf.randomNormal([N, D], 0, 1, 'float32', 3) as tf.Tensor2D;
  const chunks = ROWS.map((r, k) => {
    const init = tf.randomNormal([r, D], 0, 0.5, 'float32', 10 + k);
    const v = tf.variable(init, k !== 1) as tf.Variable<tf.Rank.R2>; // the middle chunk frozen
    init.dispose();
    return v;
  });
  const v = ROWS.reduce((a, b) => a + b, 0);
  // every third row's target is its argmax (so that some predictions are right), every fifth from 2 is ignored
  const argmax = tf.tidy(() => tf.argMax(tf.matMul(hidden, tf.concat(chunks), false, true), 1));
  const best = await argmax.data();
  argmax.dispose();
  const ids = Array.from({ length: N }, (_, i) => (ignoreAll || i % 5 === 2 ? IGNORE_INDEX : i % 3 === 0 ? best[i] : (i * 41 + 3) % v));
  return { hidden, chunks, targets: tf.tensor1d(ids, 'int32'), v };
}

/** The mean NLL from the whole logits [N, V], and its gradients by tfjs (hidden and the trained chunks). */
function reference(hidden: tf.Tensor2D, chunks: tf.Variable<tf.Rank.R2>[], targets: tf.Tensor1D, v: number) {
  const trained = chunks.filter((w) => w.trainable);
  const f = (h: tf.Tensor, ...ws: tf.Tensor[]) => {
    let t = 0;
    const w = tf.concat(chunks.map((c) => (c.trainable ? ws[t++] : c)));
    const logits = tf.matMul(h, w, false, true);
    const mask = tf.cast(tf.notEqual(targets, IGNORE_INDEX), 'float32');
    const nll = tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, tf.oneHot(targets, v)), 1));
    return tf.div(tf.sum(tf.mul(nll, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  };
  const { value, grads } = tf.valueAndGrads(f)([hidden, ...trained]);
  const logits = tf.matMul(hidden, tf.concat(chunks), false, true);
  const mask = tf.notEqual(targets, IGNORE_INDEX);
  const correct = tf.sum(tf.cast(tf.logicalAnd(tf.equal(tf.argMax(logits, 1), targets), mask), 'float32'));
  return { value, grads, correct, logits };
}

describe('headLossAndGrad', () => {
  for (const ignoreAll of [false, true])
    it(
      ignoreAll
        ? 'gives a loss and gradients of 0 when every row is ignored'
        : 'matches the whole-logits loss, accuracy and gradients over several row blocks and uneven chunks',
      async () => {
        const { hidden, chunks, targets, v } = await setup(ignoreAll);
        const ref = reference(hidden, chunks, targets, v);
        const trained = chunks.filter((w) => w.trainable);
        // 2 rows a block against the whole vocabulary: 19 blocks, the last of 1 row (more than a WebGPU shader's
        // storage bindings: their sums must not go through one kernel taking them all)
        setMaxBindingBytes(2 * v * 4);
        try {
          const before = tf.memory().numTensors;
          let kept: tf.Scalar[] = [];
          const { value, grads } = tf.valueAndGrads((h: tf.Tensor, ...ws: tf.Tensor[]) => {
            expect(ws.length).toBe(trained.length);
            const r = headLossAndGrad(h as tf.Tensor2D, chunks, targets);
            kept = [tf.keep(r.correct), tf.keep(r.count)];
            return r.loss;
          })([hidden, ...trained]);
          const counts = [(await kept[0].data())[0], (await kept[1].data())[0]];
          tf.dispose(kept);
          const loss = (await value.data())[0];
          const want = (await ref.value.data())[0];
          expect(counts).toEqual([(await ref.correct.data())[0], ignoreAll ? 0 : N - 7]);
          if (!ignoreAll) expect(counts[0]).toBeGreaterThanOrEqual(10);
          if (ignoreAll) expect(loss).toBe(0);
          else expect(Math.abs(loss - want)).toBeLessThanOrEqual(1e-5 * want);
          for (let i = 0; i < grads.length; i++) {
            const got = (await grads[i].data()) as Float32Array;
            if (ignoreAll) expect(got.every((x) => x === 0)).toBe(true);
            else expect(relErr(got, (await ref.grads[i].data()) as Float32Array), `gradient ${i}`).toBeLessThanOrEqual(1e-4);
          }
          tf.dispose([value, ...grads]);
          expect(tf.memory().numTensors).toBe(before);
        } finally {
          setMaxBindingBytes(null);
          tf.dispose([hidden, ...chunks, targets, ref.value, ...ref.grads, ref.correct, ref.logits]);
        }
      },
    );
});

describe('headLossSums', () => {
  it('sums the NLL, counts and hits of the whole logits over several row blocks and uneven chunks', async () => {
    const { hidden, chunks, targets, v } = await setup(false);
    const ref = reference(hidden, chunks, targets, v);
    // 2 rows a block against the widest chunk (one chunk's logits at a time): 19 blocks
    setMaxBindingBytes(2 * 50 * 4);
    try {
      const before = tf.memory().numTensors;
      const s = headLossSums(hidden, chunks, targets);
      const [nll, count, correct] = await Promise.all([s.nll.data(), s.count.data(), s.correct.data()]);
      tf.dispose([s.nll, s.count, s.correct]);
      expect(tf.memory().numTensors).toBe(before);
      expect(count[0]).toBe(N - 7);
      expect(correct[0]).toBe((await ref.correct.data())[0]);
      expect(correct[0]).toBeGreaterThanOrEqual(10);
      const want = (await ref.value.data())[0] * (N - 7);
      expect(Math.abs(nll[0] - want)).toBeLessThanOrEqual(1e-5 * want);
    } finally {
      setMaxBindingBytes(null);
      tf.dispose([hidden, ...chunks, targets, ref.value, ...ref.grads, ref.correct, ref.logits]);
    }
  });
});

describe('headLossInBlocks', () => {
  it('takes a training step through it when the logits exceed one row block, the head is chunked, or under checkpointing', () => {
    const model = createRandomModel(configOf(resolveShape('tiny', { vocab: 512 })));
    const rows = HEAD_BLOCK_BYTES / (4 * 512); // logits of exactly one block
    expect(headLossInBlocks(model, rows, false)).toBe(false);
    expect(headLossInBlocks(model, rows + 1, false)).toBe(true);
    expect(headLossInBlocks(model, 8, true)).toBe(true);
    setMaxBindingBytes(4 * 64 * 100); // the 512 × 64 embedding (the tied head) in chunks
    try {
      expect(headLossInBlocks(model, 8, false)).toBe(false); // loaded whole: chunks come from loading
    } finally {
      setMaxBindingBytes(null);
    }
    model.dispose();
  });
});
