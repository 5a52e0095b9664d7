// Evaluation: mean loss (over every trained token, not a mean of batch means), perplexity and token
// accuracy of a model on tokenized sequences, dropout off. The LM head goes a row block at a time
// (headLossSums): an evaluation batch never makes its [B·T, V] logits, and peaks below a training step.
import * as tf from '@tensorflow/tfjs';
import type { CausalLM } from '../models/model';
import type { Sequence } from '../data/tokenize';
import { batchesOf, makeBatch } from './batching';
import { headLossSums, rowTargets } from './loss';

export interface EvalResult {
  loss: number;
  perplexity: number;
  accuracy: number;
  /** Tokens that carried loss. */
  tokens: number;
}

export async function evaluateSequences(model: CausalLM, seqs: readonly Sequence[], batchSize: number, padId: number): Promise<EvalResult> {
  let nll = 0;
  let count = 0;
  let correct = 0;
  for (const group of batchesOf(seqs, batchSize)) {
    const batch = makeBatch(group, padId);
    const sums = tf.tidy(() => {
      const s = headLossSums(model.hidden(batch.inputIds), model.headChunks(), rowTargets(batch.labels));
      return tf.stack([s.nll, s.count, s.correct]);
    });
    const [a, b, c] = await sums.data();
    sums.dispose();
    batch.dispose();
    nll += a;
    count += b;
    correct += c;
  }
  const loss = count > 0 ? nll / count : NaN;
  return { loss, perplexity: Math.exp(loss), accuracy: count > 0 ? correct / count : NaN, tokens: count };
}
