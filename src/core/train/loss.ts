// Hugging Face's causal-LM loss: logits[:, :-1] predict labels[:, 1:]; labels -100 are ignored; the mean is
// over the remaining positions. The target logit is picked by a one-hot product (see tokenLosses). A
// vocabulary too large for one binding goes through the LM head chunk by chunk (headLossSums).
import * as tf from '@tensorflow/tfjs';
import { fusedCausalLmLoss, fusedHeadChunkStats, fusedKernelsEnabled, isPacked } from '../kernels'; // [fused kernels]
import { tiledMatMul } from '../kernels/matmul';
import { maxBindingBytes } from '../backend';
import { RECOMPUTE_BLOCK_BYTES } from '../memory';
import type { CausalLM } from '../models/model';
import { headMatMul, type RowChunk } from '../models/vocab-chunks';

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

/** Target of each LM-head row r = b·T + t: labels[b, t + 1], IGNORE_INDEX at the last position. [B·T] int32. */
export function rowTargets(labels: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const [b, t] = labels.shape;
    const lab = labels.dtype === 'int32' ? labels : tf.cast(labels, 'int32');
    const next = tf.concat([tf.slice(lab, [0, 1], [b, t - 1]), tf.fill([b, 1], IGNORE_INDEX, 'int32')], 1);
    return next.reshape([-1]) as tf.Tensor1D;
  });
}

/**
 * Whether the LM head must run chunk by chunk for `rows` rows: its weight is split into vocabulary chunks,
 * or the logits [rows, V] would exceed one storage binding.
 */
export function headIsChunked(model: CausalLM, rows: number): boolean {
  if (model.headChunks().length > 1) return true;
  const limit = maxBindingBytes();
  return limit !== null && rows * model.config.vocabSize * 4 > limit;
}

/** One chunk's statistics [4, n] (log-sum-exp, target logit or 0, max, argmax id) from its logits [n, r]. */
function chunkStats(logits: tf.Tensor2D, targets: tf.Tensor1D, offset: number): tf.Tensor2D {
  if (fusedKernelsEnabled()) return fusedHeadChunkStats(logits, targets, offset); // [fused kernels] one kernel each way
  const r = logits.shape[1];
  const picked = tf.sum(tf.mul(logits, tf.oneHot(tf.sub(targets, tf.scalar(offset, 'int32')) as tf.Tensor1D, r)), 1); // 0 off the chunk
  const arg = tf.add(tf.cast(tf.argMax(logits, 1), 'float32'), offset);
  return tf.stack([tf.logSumExp(logits, 1), picked, tf.max(logits, 1), arg]) as tf.Tensor2D;
}

/**
 * The LM head over vocabulary chunks [r_k, d] (in vocabulary order) without ever making the [N, V] logits:
 * rows go in blocks small enough that a block's logits against the widest chunk fit one binding; each chunk
 * gives its log-sum-exp, target logit and argmax, merged as log Σ_k exp(lse_k), Σ_k picked_k and the
 * argmax of the chunk with the largest max (the first one on ties, as argMax over the whole row).
 * hidden [N, d], targets [N] → lse, target logit, argmax (an id, as f32), each [N].
 */
export function headRowStats(
  hidden: tf.Tensor2D,
  chunks: RowChunk[],
  targets: tf.Tensor1D,
  blockBytes: number | null = maxBindingBytes(),
): { lse: tf.Tensor1D; picked: tf.Tensor1D; argmax: tf.Tensor1D } {
  return tf.tidy(() => {
    const n = hidden.shape[0];
    const sizes = rowBlocks(n, chunks, blockBytes);
    const hs = sizes.length === 1 ? [hidden] : tf.split(hidden, sizes, 0);
    const ts = sizes.length === 1 ? [targets] : tf.split(targets, sizes, 0);
    const parts = hs.map((h, i) => {
      let offset = 0;
      const stats = chunks.map((w) => {
        // logits [n_b, r_k], freed as soon as their stats are taken: under the recomputing head's custom op
        // nothing is taped, and this scope would otherwise hold every block's logits (all [N, V]) to its end
        const o = offset;
        const s = tf.tidy(() => chunkStats(headMatMul(h as tf.Tensor2D, w), ts[i] as tf.Tensor1D, o));
        offset += w.shape[0];
        return s;
      });
      if (stats.length === 1) {
        const [lse, picked, , arg] = tf.unstack(stats[0]) as tf.Tensor1D[];
        return { lse, picked, argmax: arg };
      }
      const [lse, picked, max, arg] = tf.unstack(tf.stack(stats), 1) as tf.Tensor2D[]; // each [K, n_b]
      const best = tf.transpose(tf.oneHot(tf.argMax(max, 0), chunks.length)); // [K, n_b]
      return { lse: tf.logSumExp(lse, 0), picked: tf.sum(picked, 0), argmax: tf.sum(tf.mul(best, arg), 0) };
    });
    const join = (k: 'lse' | 'picked' | 'argmax') => (parts.length === 1 ? parts[0][k] : tf.concat(parts.map((p) => p[k]))) as tf.Tensor1D;
    return { lse: join('lse'), picked: join('picked'), argmax: join('argmax') };
  });
}

/** Row counts of the blocks `n` rows go through the head in: each block's logits against the widest chunk fit `blockBytes`. */
function rowBlocks(n: number, chunks: RowChunk[], blockBytes: number | null): number[] {
  const widest = Math.max(...chunks.map((w) => w.shape[0]));
  const block = blockBytes === null ? n : Math.max(1, Math.min(n, Math.floor(blockBytes / (4 * widest))));
  const sizes: number[] = [];
  for (let s = 0; s < n; s += block) sizes.push(Math.min(block, n - s));
  return sizes;
}

/**
 * Per-row NLL (log-sum-exp − target logit) [N] and argmax [N] through the LM head chunks, with nothing of
 * the logits kept for the backward: it saves hidden and the log-sum-exps, and recomputes each row block's
 * logits to form (softmax − one-hot) · dnll, whose product with the head gives dhidden (and, for a trained
 * head chunk, its gradient). Logits memory is one row block's instead of [N, V] several times over.
 */
export function recomputedHeadNll(
  hidden: tf.Tensor2D,
  chunks: RowChunk[],
  targets: tf.Tensor1D,
): { nll: tf.Tensor1D; argmax: tf.Tensor1D } {
  const limit = maxBindingBytes();
  const blockBytes = limit === null ? RECOMPUTE_BLOCK_BYTES : Math.min(limit, RECOMPUTE_BLOCK_BYTES);
  const trained = chunks.filter((w): w is tf.Tensor2D => !isPacked(w) && (!(w instanceof tf.Variable) || w.trainable));
  let argmax: tf.Tensor1D | null = null;
  const f = tf.customGrad((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const h = args[0] as tf.Tensor2D;
    const s = headRowStats(h, chunks, targets, blockBytes);
    argmax = tf.keep(s.argmax);
    save([h, s.lse, targets]);
    return {
      value: tf.sub(s.lse, s.picked),
      gradFunc: (dnll: tf.Tensor, [hs, lse, tg]: tf.Tensor[]) => {
        const sizes = rowBlocks(hs.shape[0], chunks, blockBytes);
        const split = <T extends tf.Tensor>(t: T) => (sizes.length === 1 ? [t] : tf.split(t, sizes, 0));
        const [hb, lb, tb, db] = [split(hs), split(lse), split(tg), split(dnll)];
        const dW = trained.map(() => null as tf.Tensor | null);
        const dh = hb.map((h, i) =>
          tf.tidy(() => {
            let offset = 0;
            let acc: tf.Tensor | null = null;
            for (const w of chunks) {
              const r = w.shape[0];
              // dlogits = (softmax − one-hot) · dnll, each block-sized temporary freed as soon as it is used
              const logits = headMatMul(h as tf.Tensor2D, w); // [n_b, r]
              const shifted = tf.sub(logits, tf.expandDims(lb[i], 1));
              logits.dispose();
              const p = tf.exp(shifted);
              shifted.dispose();
              const onehot = tf.oneHot(tf.sub(tb[i], tf.scalar(offset, 'int32')) as tf.Tensor1D, r, 1, 0, 'float32'); // 0 off the chunk
              const diff = tf.sub(p, onehot);
              tf.dispose([p, onehot]);
              const g = tf.mul(diff, tf.expandDims(db[i], 1)); // [n_b, r]
              diff.dispose();
              const part = isPacked(w) ? tiledMatMul(g, w.bits, { packedShapeB: w.shape, packedFormatB: w.format }) : tf.matMul(g, w); // [n_b, d]
              acc = acc ? tf.add(acc, part) : part;
              const k = trained.indexOf(w as tf.Tensor2D);
              if (k >= 0) {
                const gw = tf.matMul(g, h, true, false); // [r, d]
                const prev = dW[k];
                dW[k] = tf.keep(prev ? tf.add(prev, gw) : gw);
                prev?.dispose();
              }
              g.dispose();
              offset += r;
            }
            return acc!;
          }),
        );
        const dhAll = dh.length === 1 ? dh[0] : tf.concat(dh, 0);
        return [dhAll, ...dW.map((g, k) => g ?? tf.zerosLike(trained[k]))];
      },
    };
  });
  const nll = f(hidden, ...trained) as tf.Tensor1D;
  return { nll, argmax: argmax! };
}

/**
 * Next-token NLL summed over non-ignored positions, their count, and the correctly predicted ones, through
 * the model's chunked LM head. hidden [B·T, d] (model.hidden), labels [B, T]. `recompute`: the head's
 * logits are recomputed in the backward (recomputedHeadNll) instead of kept.
 */
export function headLossSums(
  model: CausalLM,
  hidden: tf.Tensor2D,
  labels: tf.Tensor2D,
  recompute = false,
): { nll: tf.Scalar; count: tf.Scalar; correct: tf.Scalar } {
  return tf.tidy(() => {
    const targets = rowTargets(labels);
    const mask = tf.cast(tf.notEqual(targets, IGNORE_INDEX), 'float32');
    let rowNll: tf.Tensor1D;
    let argmax: tf.Tensor1D;
    if (recompute) ({ nll: rowNll, argmax } = recomputedHeadNll(hidden, model.headChunks(), targets));
    else {
      const s = headRowStats(hidden, model.headChunks(), targets);
      rowNll = tf.sub(s.lse, s.picked) as tf.Tensor1D;
      argmax = s.argmax;
    }
    const hit = tf.cast(tf.equal(argmax, tf.cast(targets, 'float32')), 'float32');
    if (recompute) argmax.dispose(); // kept by the custom op, so not this scope's to free
    return {
      nll: tf.sum(tf.mul(rowNll, mask)) as tf.Scalar,
      count: tf.sum(mask) as tf.Scalar,
      correct: tf.sum(tf.mul(hit, mask)) as tf.Scalar,
    };
  });
}
