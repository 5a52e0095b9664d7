// Gradient checkpointing per transformer block (HF's gradient_checkpointing): the forward runs a block
// without recording anything for the backward but its input, and the backward runs it again on that input,
// with a tape, to get the gradients of the input and of the block's trained parameters. Both go a slice of
// the batch's sequences at a time (RECOMPUTE_SLICE_TOKENS): activation memory holds one [B, T, d] tensor per
// block plus one slice's intermediates of one block, for about one extra forward pass of compute. Dropout
// draws the same masks every time: the seeds drawn by the forward's first slice are replayed in the other
// slices and in the recomputation, and a slice's masks are its rows of the whole batch's (layers.ts's
// dropout, told the slice through opts.slice), as without checkpointing.
import * as tf from '@tensorflow/tfjs';
import type { ForwardOptions } from './layers';
import { freeBackwardAsItGoes, type TapeEngine } from '../tape';
import { RECOMPUTE_SLICE_TOKENS } from '../memory';
import { randomDropoutSeed } from '../kernels';

let sliceTokens = RECOMPUTE_SLICE_TOKENS;

/** Tokens a block runs and is recomputed over at a time (whole sequences, at least one); tests lower it. */
export function setRecomputeSliceTokens(tokens: number | null): void {
  sliceTokens = tokens ?? RECOMPUTE_SLICE_TOKENS;
}

/**
 * The slices [first sequence, sequences] a batch x [b, t, ...] goes through a block in: whole sequences of at most
 * sliceTokens tokens together, or the whole batch when `whole`.
 */
function rowSlices(x: tf.Tensor, whole: boolean): [number, number][] {
  const b = x.shape[0];
  const rows = whole ? b : Math.max(1, Math.min(b, Math.floor(sliceTokens / (x.shape[1] ?? 1))));
  const slices: [number, number][] = [];
  for (let s = 0; s < b; s += rows) slices.push([s, Math.min(rows, b - s)]);
  return slices;
}

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
  // The seeds the block's dropout draws, replayed on every later run (slice or recomputation); the masks of
  // sequences [start, start + rows) are those rows of the whole batch's.
  // (Without opts.nextSeed, random seeds, still replayed.)
  const seeds: number[] = [];
  const draw = opts.nextSeed ?? randomDropoutSeed;
  const sliceOpts = (start: number, rows: number): ForwardOptions => {
    let i = 0;
    const nextSeed = () => {
      if (i === seeds.length) seeds.push(draw());
      return seeds[i++];
    };
    return { ...opts, nextSeed, slice: { start, rows } };
  };
  // Sequences go through the block a slice at a time unless a const with a row per sequence ties them.
  const tiedConsts = (b: number) => b > 1 && consts.some((c) => c.rank > 0 && c.shape[0] === b);
  const f = tf.customGrad((...args: unknown[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const input = args[0] as tf.Tensor;
    const slices = rowSlices(input, tiedConsts(input.shape[0]));
    // Inside a custom op nothing is taped; each slice's intermediates go when its output is made.
    let value: tf.Tensor;
    if (slices.length === 1) value = block(input, consts, sliceOpts(0, input.shape[0]));
    else {
      const parts = slices.map(([start, n]) => tf.tidy(() => block(tf.slice(input, start, n), consts, sliceOpts(start, n))));
      value = tf.concat(parts, 0);
      tf.dispose(parts);
    }
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
          const slices = rowSlices(xs, tiedConsts(xs.shape[0]));
          const dxs: tf.Tensor[] = [];
          let dps: tf.Tensor[] | null = null;
          for (const [start, n] of slices) {
            const xi = slices.length === 1 ? xs : tf.slice(xs, start, n);
            const di = slices.length === 1 ? dy : tf.slice(dy, start, n);
            const replay = () => {
              const y = block(xi, cs, sliceOpts(start, n));
              freeBackwardAsItGoes();
              return y;
            };
            const { value: y, grads } = engine.gradients(replay, [xi, ...params], di, true);
            y.dispose();
            dxs.push(grads[0] ?? tf.zerosLike(xi));
            if (xi !== xs) tf.dispose([xi, di]);
            const gp = params.map((p, k) => grads[k + 1] ?? tf.zerosLike(p));
            if (!dps) dps = gp;
            else {
              const sum: tf.Tensor[] = dps.map((a, k) => tf.add(a, gp[k]));
              tf.dispose([...dps, ...gp]);
              dps = sum;
            }
          }
          const dx = dxs.length === 1 ? dxs[0] : tf.concat(dxs, 0);
          if (dxs.length > 1) tf.dispose(dxs);
          return [dx, ...dps!];
        } finally {
          engine.state.activeTape = outer;
        }
      },
    };
  });
  return f(x, ...params);
}
