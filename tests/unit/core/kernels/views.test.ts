// The reshape and residual add that save nothing for the backward (kernels/views.ts): the same values and
// gradients as tf.reshape and tf.add, also under tfjs's own backprop (no tape.ts), where an input's gradient
// is summed with others and disposed on its own; and a linear layer's output that only goes through them is
// freed once the forward is past it, where tf.reshape and tf.add keep its buffer for the backward. CPU and WebGPU.
import { describe, it, expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { fusedResidualAdd, fusedView } from '../../../../src/core/kernels';

const rand = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/**
 * x [2, 3, 4], w [4, 4]: the residual stream x plus (x W) viewed through [6, 4]. x is also read between the
 * view and the add, so the backprop sums into x's gradient (disposing the dy it got from the add) before it
 * reaches the view: the add's second input must own its own dy.
 */
function block(x: tf.Tensor, w: tf.Tensor, fused: boolean): tf.Scalar {
  const view = (t: tf.Tensor, shape: number[]) => (fused ? fusedView(t, shape) : tf.reshape(t, shape));
  const add = (a: tf.Tensor, b: tf.Tensor) => (fused ? fusedResidualAdd(a, b) : tf.add(a, b));
  const o = view(tf.matMul(view(x, [6, 4]), w), [2, 3, 4]);
  const m = tf.tanh(x);
  const y = add(x, o); // [2, 3, 4]
  const z = add(y, m);
  return tf.sum(tf.mul(z, add(y, z))) as tf.Scalar;
}

describe('fusedView and fusedResidualAdd', () => {
  it('give tf.reshape and tf.add values and gradients, under tfjs backprop alone', async () => {
    const x = rand([2, 3, 4], 1);
    const w = rand([4, 4], 2);
    const grads = (fused: boolean) => tf.grads((a, b) => block(a, b, fused))([x, w]);
    const [px, pw] = grads(false);
    const [fx, fw] = grads(true);
    expect(Array.from(await fx.data())).toEqual(Array.from(await px.data()));
    expect(Array.from(await fw.data())).toEqual(Array.from(await pw.data()));
    expect(await block(x, w, true).data()).toEqual(await block(x, w, false).data());
    expect(fusedView(x, [4, 6]).shape).toEqual([4, 6]);
    tf.dispose([x, w, px, pw, fx, fw]);
  });

  it('keep no buffer for the backward: the linear output goes once the forward is past it', () => {
    const x = tf.variable(rand([2, 3, 4], 3));
    const w = tf.variable(rand([4, 4], 4));
    const buffersAfterForward = (fused: boolean) => {
      let n = 0;
      const { value, grads } = tf.variableGrads(() => {
        const before = tf.memory().numDataBuffers;
        const y = tf.tidy(() => {
          const view = (t: tf.Tensor, s: number[]) => (fused ? fusedView(t, s) : tf.reshape(t, s));
          const o = tf.matMul(view(x, [6, 4]), w);
          return fused ? fusedResidualAdd(x, view(o, [2, 3, 4])) : tf.add(x, view(o, [2, 3, 4]));
        });
        n = tf.memory().numDataBuffers - before;
        return tf.sum(y) as tf.Scalar;
      }, [x, w]);
      tf.dispose([value, ...Object.values(grads)]);
      return n;
    };
    const plain = buffersAfterForward(false);
    const fused = buffersAfterForward(true);
    expect(fused).toBe(1); // y
    expect(plain).toBe(2); // y, and o kept by Reshape's and Add's saved inputs
    tf.dispose([x, w]);
  });

  it('refuse what they cannot do, naming the shapes', () => {
    const x = tf.zeros([2, 3]);
    expect(() => fusedView(x, [4, 2])).toThrow('cannot view [2,3] as [4,2]');
    expect(() => fusedResidualAdd(x, tf.zeros([3, 2]))).toThrow('residual add of [2,3] and [3,2]: shapes differ');
    expect(() => fusedResidualAdd(x, tf.zeros([3]))).toThrow('shapes differ');
    tf.dispose(x);
  });
});
