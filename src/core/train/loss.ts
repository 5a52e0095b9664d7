// Hugging Face's causal-LM loss: logits[:, :-1] predict labels[:, 1:]; labels -100 are ignored; the mean is
// over the remaining positions. The target logit is picked by a one-hot product (see tokenLosses). A training
// step's large logits and a vocabulary too large for one binding go through the LM head a row block and a
// vocabulary chunk at a time (headLossAndGrad); evaluation always does (headLossSums).
import * as tf from '@tensorflow/tfjs';
import { fusedCausalLmLoss, fusedHeadChunkLossGrad, fusedHeadChunkStats, fusedKernelsEnabled, isPacked } from '../kernels'; // [fused kernels]
import { tiledMatMul } from '../kernels/matmul';
import { maxBindingBytes } from '../backend';
import { HEAD_BLOCK_BYTES } from '../memory';
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
function headIsChunked(model: CausalLM, rows: number): boolean {
  if (model.headChunks().length > 1) return true;
  const limit = maxBindingBytes();
  return limit !== null && rows * model.config.vocabSize * 4 > limit;
}

/** Bytes of logits one row block of the LM head may make: HEAD_BLOCK_BYTES, or the binding limit when lower. */
function headBlockBytes(): number {
  const limit = maxBindingBytes();
  return limit === null ? HEAD_BLOCK_BYTES : Math.min(limit, HEAD_BLOCK_BYTES);
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
 * dloss/dlogits of one chunk's logits [n, r]: (softmax − one-hot(target − offset)) · scale, from each row's
 * log-sum-exp over the whole vocabulary lse [n] and its weight in the loss scale [n].
 */
function chunkLossGrad(logits: tf.Tensor2D, targets: tf.Tensor1D, offset: number, lse: tf.Tensor1D, scale: tf.Tensor1D): tf.Tensor2D {
  if (fusedKernelsEnabled()) return fusedHeadChunkLossGrad(logits, targets, offset, lse, scale); // [fused kernels] one pass
  // each block-sized temporary freed as soon as it is used
  const shifted = tf.sub(logits, tf.expandDims(lse, 1));
  const p = tf.exp(shifted);
  shifted.dispose();
  const onehot = tf.oneHot(tf.sub(targets, tf.scalar(offset, 'int32')) as tf.Tensor1D, logits.shape[1], 1, 0, 'float32'); // 0 off the chunk
  const diff = tf.sub(p, onehot);
  tf.dispose([p, onehot]);
  const g = tf.mul(diff, tf.expandDims(scale, 1));
  diff.dispose();
  return g as tf.Tensor2D;
}

/** Merges the stats [4, n] of a row block's chunks (in vocabulary order) into its rows' lse, target logit and argmax [n]. */
function mergeChunkStats(stats: tf.Tensor2D[]): { lse: tf.Tensor1D; picked: tf.Tensor1D; argmax: tf.Tensor1D } {
  if (stats.length === 1) {
    const [lse, picked, , argmax] = tf.unstack(stats[0]) as tf.Tensor1D[];
    return { lse, picked, argmax };
  }
  // log Σ_k exp(lse_k), Σ_k picked_k, and the argmax of the chunk with the largest max (the first one on ties,
  // as argMax over the whole row)
  const [lse, picked, max, arg] = tf.unstack(tf.stack(stats), 1) as tf.Tensor2D[]; // each [K, n]
  const best = tf.transpose(tf.oneHot(tf.argMax(max, 0), stats.length)); // [K, n]
  return { lse: tf.logSumExp(lse, 0), picked: tf.sum(picked, 0), argmax: tf.sum(tf.mul(best, arg), 0) };
}

/**
 * One row block hidden [n, d] against every head chunk [r_k, d] (in vocabulary order): each chunk's logits
 * [n, r_k] give their statistics, merged into each row's lse, target logit and argmax (an id, as f32) [n].
 * The logits are returned with `keepLogits`; otherwise each chunk's go as soon as their stats are taken (and
 * `logits` is empty).
 */
function blockHeadStats(
  h: tf.Tensor2D,
  chunks: RowChunk[],
  targets: tf.Tensor1D,
  keepLogits: boolean,
): { logits: tf.Tensor2D[]; lse: tf.Tensor1D; picked: tf.Tensor1D; argmax: tf.Tensor1D } {
  const logits: tf.Tensor2D[] = [];
  let offset = 0;
  const stats = chunks.map((w) => {
    const o = offset;
    offset += w.shape[0];
    if (!keepLogits) return tf.tidy(() => chunkStats(headMatMul(h, w), targets, o));
    const l = headMatMul(h, w);
    logits.push(l);
    return chunkStats(l, targets, o);
  });
  return { logits, ...mergeChunkStats(stats) };
}

/**
 * The LM head over vocabulary chunks [r_k, d] without ever making the [N, V] logits: rows go in blocks whose
 * logits against the widest chunk are at most headBlockBytes(), one chunk at a time (blockHeadStats).
 * hidden [N, d], targets [N] → lse, target logit, argmax (an id, as f32), each [N].
 */
function headRowStats(
  hidden: tf.Tensor2D,
  chunks: RowChunk[],
  targets: tf.Tensor1D,
): { lse: tf.Tensor1D; picked: tf.Tensor1D; argmax: tf.Tensor1D } {
  return tf.tidy(() => {
    const sizes = rowBlocks(hidden.shape[0], Math.max(...chunks.map((w) => w.shape[0])), headBlockBytes());
    const ts = splitRows(targets, sizes);
    // each block's stats only: this scope would otherwise hold every block's logits, all [N, V], to its end
    const parts = splitRows(hidden, sizes).map((h, i) => blockHeadStats(h, chunks, ts[i], false));
    const join = (k: 'lse' | 'picked' | 'argmax') => (parts.length === 1 ? parts[0][k] : tf.concat(parts.map((p) => p[k]))) as tf.Tensor1D;
    return { lse: join('lse'), picked: join('picked'), argmax: join('argmax') };
  });
}

/** Row counts of the blocks `n` rows go through the head in: each block's logits against `width` vocabulary entries fit `blockBytes`. */
function rowBlocks(n: number, width: number, blockBytes: number): number[] {
  const block = Math.max(1, Math.min(n, Math.floor(blockBytes / (4 * width))));
  const sizes: number[] = [];
  for (let s = 0; s < n; s += block) sizes.push(Math.min(block, n - s));
  return sizes;
}

function splitRows<T extends tf.Tensor>(t: T, sizes: number[]): T[] {
  return sizes.length === 1 ? [t] : (tf.split(t, sizes, 0) as T[]);
}

/**
 * Whether a training step's LM head and loss go through headLossAndGrad: under gradient checkpointing, with a
 * chunked head, or when the logits [rows, V] would be more than one of its row blocks (HEAD_BLOCK_BYTES).
 */
export function headLossInBlocks(model: CausalLM, rows: number, checkpoint: boolean): boolean {
  return checkpoint || headIsChunked(model, rows) || rows * model.config.vocabSize * 4 > HEAD_BLOCK_BYTES;
}

/**
 * The mean next-token NLL over the rows whose target is not IGNORE_INDEX, through the LM head chunks, with
 * its gradient formed in the forward one row block at a time (a fused linear cross-entropy): a block's
 * logits against every chunk (≤ HEAD_BLOCK_BYTES, or the binding limit when lower) give each row's
 * log-sum-exp, target logit and argmax, then (softmax − one-hot) / count, whose products with the head and
 * with the block's hidden rows are dhidden and a trained chunk's gradient; the logits go before the next
 * block. Only those gradients are kept, which the backward scales by the loss's own gradient: the [N, V]
 * logits never exist, and the head's matmuls are the plain path's (nothing is recomputed).
 * hidden [N, d], targets [N] int32 → the loss, the rows whose argmax is their target, the counted rows.
 */
export function headLossAndGrad(
  hidden: tf.Tensor2D,
  chunks: RowChunk[],
  targets: tf.Tensor1D,
): { loss: tf.Scalar; correct: tf.Scalar; count: tf.Scalar } {
  const trained = chunks.filter((w): w is tf.Tensor2D => !isPacked(w) && (!(w instanceof tf.Variable) || w.trainable));
  const vocab = chunks.reduce((n, w) => n + w.shape[0], 0);
  let counts: { correct: tf.Scalar; count: tf.Scalar } | null = null;
  const f = tf.customGrad((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const h = args[0] as tf.Tensor2D;
    const dW = trained.map(() => null as tf.Tensor | null);
    const out = tf.tidy(() => {
      const sizes = rowBlocks(h.shape[0], vocab, headBlockBytes());
      const mask = tf.cast(tf.notEqual(targets, IGNORE_INDEX), 'float32') as tf.Tensor1D; // [N]
      const count = tf.sum(mask) as tf.Scalar;
      const scale = tf.div(mask, tf.maximum(count, 1)) as tf.Tensor1D; // ∂loss/∂nll of each row
      const [hb, tb, mb, sb] = [splitRows(h, sizes), splitRows(targets, sizes), splitRows(mask, sizes), splitRows(scale, sizes)];
      const blocks = hb.map((hi, i) =>
        tf.tidy(() => {
          const { logits, lse, picked, argmax } = blockHeadStats(hi, chunks, tb[i], true); // logits [n_b, r_k] each, V in all
          const loss = tf.sum(tf.mul(tf.sub(lse, picked), sb[i]));
          const hits = tf.sum(tf.mul(tf.cast(tf.equal(argmax, tf.cast(tb[i], 'float32')), 'float32'), mb[i]));
          let dh: tf.Tensor | null = null;
          let offset = 0;
          chunks.forEach((w, k) => {
            const r = w.shape[0];
            const g = chunkLossGrad(logits[k], tb[i], offset, lse, sb[i]); // [n_b, r]
            logits[k].dispose();
            const part = isPacked(w) ? tiledMatMul(g, w.bits, { packedShapeB: w.shape, packedFormatB: w.format }) : tf.matMul(g, w); // [n_b, d]
            dh = dh ? tf.add(dh, part) : part;
            const t = trained.indexOf(w as tf.Tensor2D);
            if (t >= 0) {
              const gw = tf.matMul(g, hi, true, false); // [r, d]
              const prev = dW[t];
              dW[t] = tf.keep(prev ? tf.add(prev, gw) : gw);
              prev?.dispose();
            }
            g.dispose();
            offset += r;
          });
          return { dh: dh!, loss, hits };
        }),
      );
      // (not tf.addN: WebGPU's takes no more inputs than a shader has storage bindings)
      const total = (k: 'loss' | 'hits') => tf.sum(tf.stack(blocks.map((b) => b[k]))) as tf.Scalar;
      return {
        value: total('loss'),
        dh:
          blocks.length === 1
            ? blocks[0].dh
            : tf.concat(
                blocks.map((b) => b.dh),
                0,
              ),
        correct: total('hits'),
        count,
      };
    });
    save([out.dh, ...dW.map((g, t) => g ?? tf.zerosLike(trained[t]))]); // kept as clones (only while a tape records)
    tf.dispose(dW.filter((g): g is tf.Tensor => g !== null)); // kept across the blocks' scopes: not the forward's to free
    counts = { correct: tf.keep(out.correct), count: tf.keep(out.count) };
    return { value: out.value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => saved.map((g) => tf.mul(g, dy)) };
  });
  const loss = f(hidden, ...trained) as tf.Scalar;
  return { loss, ...counts! };
}

/**
 * Next-token NLL summed over the rows whose target is not IGNORE_INDEX, their count, and the correctly
 * predicted ones, through the LM head chunks in row blocks (headRowStats), for evaluation (no gradient;
 * training goes through headLossAndGrad or the whole logits).
 * hidden [N, d] (model.hidden), targets [N] int32 (rowTargets) → three scalars.
 */
export function headLossSums(
  hidden: tf.Tensor2D,
  chunks: RowChunk[],
  targets: tf.Tensor1D,
): { nll: tf.Scalar; count: tf.Scalar; correct: tf.Scalar } {
  return tf.tidy(() => {
    const mask = tf.cast(tf.notEqual(targets, IGNORE_INDEX), 'float32');
    const s = headRowStats(hidden, chunks, targets);
    const hit = tf.cast(tf.equal(s.argmax, tf.cast(targets, 'float32')), 'float32');
    return {
      nll: tf.sum(tf.mul(tf.sub(s.lse, s.picked), mask)) as tf.Scalar,
      count: tf.sum(mask) as tf.Scalar,
      correct: tf.sum(tf.mul(hit, mask)) as tf.Scalar,
    };
  });
}
