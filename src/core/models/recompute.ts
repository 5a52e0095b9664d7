// Gradient checkpointing per transformer block (HF's gradient_checkpointing): the forward runs a block
// without recording anything for the backward but its input, and the backward runs it again on that input,
// with a tape, to get the gradients of the input and of the block's trained parameters. Activation memory
// then holds one [B, T, d] tensor per block plus one block's intermediates at a time, for about one extra
// forward pass of compute. Dropout draws the same masks both times: the seeds drawn in the forward are
// replayed in the recomputation.
import * as tf from '@tensorflow/tfjs';
import type { ForwardOptions } from './layers';
import { freeBackwardAsItGoes, type TapeEngine } from '../tape';

/**
 * y = block(x, consts, opts) with the block's activations recomputed in the backward. `consts` are the
 * other tensors it reads that are no parameters (RoPE tables, the attention key mask): the forward's scope frees
 * them, so they are kept for the recomputation alongside x; they must not depend on trained tensors.
 * `params` are the trained tensors the block reads (by closure); each gets its gradient.
 */
export function recomputed(
  block: (x: tf.Tensor, consts: tf.Tensor[], opts: ForwardOptions) => tf.Tensor,
  x: tf.Tensor,
  consts: tf.Tensor[],
  params: tf.Tensor[],
  opts: ForwardOptions,
): tf.Tensor {
  const seeds: number[] = [];
  const recording: ForwardOptions = opts.nextSeed
    ? {
        ...opts,
        nextSeed: () => {
          const s = opts.nextSeed!();
          seeds.push(s);
          return s;
        },
      }
    : opts;
  const replaying = (): ForwardOptions => {
    let i = 0;
    return opts.nextSeed ? { ...opts, nextSeed: () => seeds[i++] } : opts;
  };
  const f = tf.customGrad((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const input = args[0] as tf.Tensor;
    // Inside a custom op nothing is taped: the block's intermediates are freed as soon as they are used.
    const value = block(input, consts, recording);
    save([input, ...consts]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const engine = tf.engine() as TapeEngine;
        // The outer backward owns the active tape (it disposes its saved tensors at the end): the nested
        // gradient records a tape of its own and frees it, then the outer one is put back.
        const outer = engine.state.activeTape;
        try {
          const [xs, ...cs] = saved;
          const replay = () => {
            const y = block(xs, cs, replaying());
            freeBackwardAsItGoes();
            return y;
          };
          const { value: y, grads } = engine.gradients(replay, [xs, ...params], dy, true);
          y.dispose();
          return grads.map((g, i) => g ?? tf.zerosLike(i === 0 ? xs : params[i - 1]));
        } finally {
          engine.state.activeTape = outer;
        }
      },
    };
  });
  return f(x, ...params);
}
