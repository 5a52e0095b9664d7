// Batches of training sequences: a deterministic order per epoch from the seed, padded only to the longest
// sequence of each batch (labels -100 and attention mask 0 on padding).
import * as tf from '@tensorflow/tfjs';
import { shuffle } from '../data/split';
import type { Sequence } from '../data/tokenize';
import { IGNORE_INDEX } from './loss';

export interface Batch {
  /** [B, T] int32 */
  inputIds: tf.Tensor2D;
  /** [B, T] int32, -100 where no loss */
  labels: tf.Tensor2D;
  /** [B, T] 1 real / 0 padding */
  attentionMask: tf.Tensor2D;
  /** Real tokens in the batch. */
  tokens: number;
  dispose(): void;
}

/** The order of the training set in `epoch`: a permutation drawn from (seed, epoch), so a resumed run redraws it. */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  return shuffle(
    Array.from({ length: n }, (_, i) => i),
    seed * 1009 + epoch,
  );
}

export function makeBatch(seqs: readonly Sequence[], padId: number): Batch {
  const t = Math.max(...seqs.map((s) => s.inputIds.length));
  const b = seqs.length;
  const ids = new Int32Array(b * t).fill(padId);
  const labels = new Int32Array(b * t).fill(IGNORE_INDEX);
  const mask = new Int32Array(b * t);
  let tokens = 0;
  seqs.forEach((s, i) => {
    ids.set(s.inputIds, i * t);
    labels.set(s.labels, i * t);
    mask.fill(1, i * t, i * t + s.inputIds.length);
    tokens += s.inputIds.length;
  });
  const inputIds = tf.tensor2d(ids, [b, t], 'int32');
  const labelT = tf.tensor2d(labels, [b, t], 'int32');
  const attentionMask = tf.tensor2d(mask, [b, t], 'int32');
  return { inputIds, labels: labelT, attentionMask, tokens, dispose: () => tf.dispose([inputIds, labelT, attentionMask]) };
}

/** The micro-batches of one pass over `seqs` (in the given order), `size` at a time; the last may be smaller. */
export function* batchesOf(seqs: readonly Sequence[], size: number): Generator<Sequence[]> {
  for (let i = 0; i < seqs.length; i += size) yield seqs.slice(i, i + size);
}
