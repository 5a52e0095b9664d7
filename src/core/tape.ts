// Frees the backward's memory as it goes. tfjs's backprop (tape.ts backpropagateGradients) keeps every
// tensor the forward saved for the backward and the gradient of every intermediate tensor until the whole
// backward has run, so a training step holds activations and their gradients for all layers at once. A
// node's saved tensors and the gradients of its outputs are read by that node's gradient alone, and the
// backward visits the nodes one after the other: once the next node starts, the last one's can go.
import * as tf from '@tensorflow/tfjs';

interface TapeNode {
  gradient?: (dys: tf.Tensor[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

/** The engine with its gradient tape in view (tfjs internals; recompute.ts swaps it around a nested backward). */
export type TapeEngine = ReturnType<typeof tf.engine> & { state: { activeTape: TapeNode[] | null } };

/**
 * Call at the end of the function whose gradients are being recorded (inside tf.variableGrads or
 * engine.gradients): wraps each node of the active tape so that, when the backward moves on to the next
 * node, the previous node's saved tensors and output gradients are disposed. A gradient a node hands on
 * unchanged (the same tensor as one of its output gradients) stays: it is now another tensor's gradient.
 * The gradients of the requested tensors are never outputs of a node, so they are not touched.
 */
export function freeBackwardAsItGoes(): void {
  const tape = (tf.engine() as TapeEngine).state.activeTape;
  if (!tape) return;
  let pending: tf.Tensor[] = [];
  let handedOn = new Set<tf.Tensor>();
  const release = () => {
    for (const t of pending) if (!handedOn.has(t)) t.dispose();
    pending = [];
    handedOn = new Set();
  };
  for (const node of tape) {
    const gradient = node.gradient;
    if (!gradient) continue;
    node.gradient = (dys) => {
      release();
      const thunks = gradient(dys);
      pending = [...(node.saved ?? []), ...dys.filter((d): d is tf.Tensor => d != null)];
      const wrapped: Record<string, () => tf.Tensor> = {};
      for (const [name, thunk] of Object.entries(thunks))
        wrapped[name] = () => {
          let g = thunk();
          if (handedOn.has(g)) g = g.clone(); // handed to two inputs: each gets its own reference
          handedOn.add(g);
          return g;
        };
      return wrapped;
    };
  }
}
