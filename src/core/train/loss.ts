// Hugging Face's causal-LM loss: logits[:, :-1] predict labels[:, 1:]; labels -100 are ignored; the mean is
// over the remaining positions. The target logit is picked by a one-hot product (see tokenLosses).
import * as tf from '@tensorflow/tfjs';
import { fusedCausalLmLoss, fusedKernelsEnabled } from '../kernels'; // [fused kernels]

export const IGNORE_INDEX = -100;

/** Shifted targets and their weights: [B·(T-1)] int32 targets (ignored → 0) and a float 0/1 mask. */
export function shiftLabels(labels: tf.Tensor2D): { targets: tf.Tensor1D; mask: tf.Tensor1D } {
  return tf.tidy(() => {
    const [b, t] = labels.shape;
    const shifted = tf.slice(labels, [0, 1], [b, t - 1]).reshape([-1]) as tf.Tensor1D;
    const keep = tf.notEqual(shifted, IGNORE_INDEX);
    return { targets: tf.where(keep, shifted, tf.zerosLike(shifted)) as tf.Tensor1D, mask: tf.cast(keep, 'float32') as tf.Tensor1D };
  });
}

/** Per-position negative log-likelihood [B·(T-1)] of the shifted targets (0 where ignored). */
export function tokenLosses(logits: tf.Tensor3D, targets: tf.Tensor1D, mask: tf.Tensor1D): tf.Tensor1D {
  const [b, t, v] = logits.shape;
  const flat = tf.slice(logits, [0, 0, 0], [b, t - 1, v]).reshape([b * (t - 1), v]) as tf.Tensor2D; // [N, V]
  const logZ = tf.logSumExp(flat, 1); // [N]
  // The target logit through a one-hot product: its gradient is one multiply, where a gather's would be
  // an unsorted segment sum over N·V segments (very slow on the CPU backend).
  const picked = tf.sum(tf.mul(flat, tf.oneHot(tf.cast(targets, 'int32'), v)), 1); // [N]
  return tf.mul(tf.sub(logZ, picked), mask) as tf.Tensor1D;
}

/** Mean NLL over non-ignored positions (a scalar; 0 when every label is ignored, as a sum over nothing). */
export function causalLmLoss(logits: tf.Tensor3D, labels: tf.Tensor2D): tf.Scalar {
  if (fusedKernelsEnabled()) return fusedCausalLmLoss(logits, labels); // [fused kernels] one kernel, vocabulary streamed
  return tf.tidy(() => {
    const { targets, mask } = shiftLabels(labels);
    const total = tf.sum(tokenLosses(logits, targets, mask));
    return tf.div(total, tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}

/** Counts for token accuracy: argmax of the shifted logits equal to the label, over non-ignored positions. */
export function tokenAccuracyCounts(logits: tf.Tensor3D, labels: tf.Tensor2D): { correct: tf.Scalar; total: tf.Scalar } {
  return tf.tidy(() => {
    const [b, t, v] = logits.shape;
    const { targets, mask } = shiftLabels(labels);
    const pred = tf.argMax(tf.slice(logits, [0, 0, 0], [b, t - 1, v]).reshape([b * (t - 1), v]), 1);
    const hit = tf.mul(tf.cast(tf.equal(pred, targets), 'float32'), mask);
    return { correct: tf.sum(hit) as tf.Scalar, total: tf.sum(mask) as tf.Scalar };
  });
}
