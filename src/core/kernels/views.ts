// A reshape and a same-shape add whose gradients keep nothing alive. tfjs's Reshape saves its input on the
// tape only to read its shape in the backward, and its Add saves both inputs for a broadcast that a residual
// add never needs: around each linear layer's output (reshaped, then added to the residual stream) they
// keep that output alive until the backward reaches it, though no gradient reads its values.
import * as tf from '@tensorflow/tfjs';
import { callKernel, defineComposite, defineGradient, runKernel } from './register';

type ViewAttrs = { shape: number[]; inShape: number[] };
defineComposite<ViewAttrs>('WhetView', ({ x }, backend, { shape }, name) => callKernel(name, backend, 'Reshape', { x }, { shape }));
defineGradient('WhetView', [], (dy, _s, attrs) => ({
  x: () => runKernel<tf.Tensor>('WhetView', { x: dy as tf.Tensor }, { shape: attrs.inShape, inShape: attrs.shape }),
}));

defineComposite('WhetResidualAdd', ({ a, b }, backend, _attrs, name) => callKernel(name, backend, 'Add', { a, b }));
// Both inputs get dy; the second as its own tensor (same buffer), since the backprop disposes each input's
// gradient on its own once it sums it with another.
defineGradient('WhetResidualAdd', [], (dy) => ({
  a: () => dy as tf.Tensor,
  b: () => (dy as tf.Tensor).clone(),
}));

/** x as `shape` (same data, no copy): one element count, -1 not allowed. */
export function fusedView<T extends tf.Tensor>(x: tf.Tensor, shape: number[]): T {
  if (shape.reduce((a, b) => a * b, 1) !== x.size) throw new Error(`cannot view [${x.shape}] as [${shape}]`);
  return runKernel<T>('WhetView', { x }, { shape, inShape: x.shape });
}

/** a + b of the same shape (the residual stream plus a block's output). */
export function fusedResidualAdd<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  if (a.shape.length !== b.shape.length || a.shape.some((s, i) => s !== b.shape[i]))
    throw new Error(`residual add of [${a.shape}] and [${b.shape}]: shapes differ`);
  return runKernel<T>('WhetResidualAdd', { a, b });
}
