// Loss and gradients of a batch with respect to a named set of variables (the base parameters in full
// fine-tuning, the LoRA matrices under LoRA).
import * as tf from '@tensorflow/tfjs';
import type { CausalLM } from '../models/model';
import type { ForwardOptions } from '../models/layers';
import { causalLmLoss, headLossAndGrad, headLossInBlocks, rowTargets, tokenAccuracyCounts } from './loss';
import { freeBackwardAsItGoes } from '../tape';

export interface LossAndGrads {
  loss: tf.Scalar;
  grads: Map<string, tf.Tensor>;
  /** Correct and total predicted tokens [2], when asked for (computed from the same logits). */
  accuracy?: tf.Tensor1D;
}

/** Forward + loss + backward. The caller owns (and disposes) the returned tensors. */
export function lossAndGrads(
  model: CausalLM,
  inputIds: tf.Tensor2D,
  labels: tf.Tensor2D,
  vars: Map<string, tf.Variable>,
  opts: ForwardOptions = {},
  withAccuracy = false,
): LossAndGrads {
  let accuracy: tf.Tensor1D | undefined;
  const list = [...vars.values()];
  // Gradients may be asked for frozen variables too (e.g. the base under an adapter, for inspection).
  const frozen = list.filter((v) => !v.trainable);
  for (const v of frozen) v.trainable = true;
  let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
  const forwardLoss = (): tf.Scalar => {
    if (headLossInBlocks(model, inputIds.size, !!(opts.checkpoint && opts.training))) {
      // Logits larger than a row block, a vocabulary over the binding limit, or gradient checkpointing: the
      // LM head and the loss go one row block at a time, with the head's gradient formed as they go.
      const s = headLossAndGrad(model.hidden(inputIds, opts), model.headChunks(), rowTargets(labels));
      if (withAccuracy) accuracy = tf.keep(tf.stack([s.correct, s.count]) as tf.Tensor1D);
      tf.dispose([s.correct, s.count]);
      return s.loss;
    }
    const logits = model.forward(inputIds, opts);
    if (withAccuracy) {
      const { correct, total } = tokenAccuracyCounts(logits, labels);
      accuracy = tf.keep(tf.stack([correct, total]) as tf.Tensor1D);
    }
    return causalLmLoss(logits, labels);
  };
  try {
    result = tf.variableGrads(() => {
      const loss = forwardLoss();
      freeBackwardAsItGoes();
      return loss;
    }, list);
  } finally {
    for (const v of frozen) v.trainable = false;
  }
  const { value, grads } = result;
  const byName = new Map<string, tf.Tensor>();
  for (const [name, v] of vars) {
    const g = grads[v.name];
    byName.set(name, g ?? tf.zerosLike(v));
  }
  return { loss: value, grads: byName, accuracy };
}
