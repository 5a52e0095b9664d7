// Dropout whose mask is a hash of the seed and each element's index: element i of x is kept, scaled by
// 1 / (1 − rate), when hash((offset + i) ^ hash(seed)) >> 8 ≥ ⌈rate · 2²⁴⌉ (hash: Chris Wellons' 32-bit
// "lowbias32" mixer; integer arithmetic only, so both backends draw the same masks). Nothing is stored for
// the backward: dropout is linear, its gradient is the same op on dy with the same seed. A slice of a
// batch-major tensor passed with the index of its first element as `offset` gets exactly those rows of the
// whole tensor's mask: checkpointed blocks run a slice of the batch at a time (models/recompute.ts) with the
// masks the whole batch would draw.
import * as tf from '@tensorflow/tfjs';
import { elementwise, f32, run, type Uniform } from './backend-util';
import { defineComposite, defineGradient, runKernel, type Backend, type BackendName } from './register';

export interface DropoutAttrs {
  rate: number;
  seed: number;
  /** Index (in the whole tensor) of this tensor's first element. */
  offset: number;
}

/** lowbias32 on an unsigned 32-bit integer. */
function mix(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * The factor (0, or 1 / (1 − rate) as f32) of element `i` of the whole tensor, i.e. at index i − offset of this
 * one; 1 everywhere without dropout. Its WGSL twin is DROP_WGSL's dropFactor.
 */
export function dropFactorJs(attrs: DropoutAttrs | undefined): (i: number) => number {
  if (!attrs) return () => 1;
  const { key, threshold, scale } = constants(attrs);
  return (i) => (mix((i ^ key) >>> 0) >>> 8 >= threshold ? scale : 0);
}

/** The hashed seed, the 24-bit keep threshold and the f32 scale of a dropout (none: keep all, scale 1). */
function constants(attrs: DropoutAttrs | undefined): { key: number; threshold: number; scale: number } {
  if (!attrs) return { key: 0, threshold: 0, scale: 1 };
  return { key: mix(attrs.seed), threshold: Math.ceil(attrs.rate * 2 ** 24), scale: Math.fround(1 / (1 - attrs.rate)) };
}

/** The uniforms DROP_WGSL reads, declared in a program's uniform struct. */
export const DROP_UNIFORMS = 'dropOffset : u32, dropKey : u32, dropThreshold : u32, dropScale : f32,';

/** DROP_UNIFORMS' values for `attrs` (none: a threshold of 0 keeps every element, scaled by 1). */
export function dropUniforms(attrs: DropoutAttrs | undefined): Uniform[] {
  const { key, threshold, scale } = constants(attrs);
  return [
    { type: 'uint32', data: [(attrs?.offset ?? 0) >>> 0] },
    { type: 'uint32', data: [key] },
    { type: 'uint32', data: [threshold] },
    { type: 'float32', data: [scale] },
  ];
}

/** WGSL: dropFactor(i) of the element at index i of this tensor (i + dropOffset of the whole), as dropFactorJs. */
export const DROP_WGSL = `
  fn mix(v : u32) -> u32 {
    var x = v;
    x = x ^ (x >> 16u);
    x = x * 0x7feb352du;
    x = x ^ (x >> 15u);
    x = x * 0x846ca68bu;
    x = x ^ (x >> 16u);
    return x;
  }
  fn dropFactor(i : u32) -> f32 {
    let h = mix((i + uniforms.dropOffset) ^ uniforms.dropKey);
    return select(0.0, uniforms.dropScale, (h >> 8u) >= uniforms.dropThreshold);
  }`;

/**
 * The dropout of x run directly on the backend (no engine bookkeeping), plus `addend` when given (a fused
 * kernel's backward adds it to a gradient it already has). x [...] → [...].
 */
export function dropoutInfo(
  name: BackendName,
  backend: Backend,
  x: tf.TensorInfo,
  attrs: DropoutAttrs,
  addend?: tf.TensorInfo,
): tf.TensorInfo {
  if (name === 'cpu') {
    const z = dropFactorJs(attrs);
    const xv = f32(backend, x);
    const out = addend ? Float32Array.from(f32(backend, addend)) : new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i++) {
      const f = z(attrs.offset + i);
      if (f !== 0) out[i] += xv[i] * f;
    }
    return backend.makeTensorInfo(x.shape, 'float32', out);
  }
  const program = elementwise(
    addend ? 'dropout_add' : 'dropout',
    addend ? ['x', 'addend'] : ['x'],
    x.shape,
    `let f = dropFactor(u32(index));
     result[index] = select(0.0, x[index] * f, f != 0.0)${addend ? ' + addend[index]' : ''};`,
    DROP_UNIFORMS,
    DROP_WGSL,
  );
  return run(backend, program, addend ? [x, addend] : [x], dropUniforms(attrs));
}

defineComposite<DropoutAttrs>('WhetDropout', ({ x }, backend, attrs, name) => dropoutInfo(name, backend, x, attrs));

defineGradient('WhetDropout', [], (dy, _saved, attrs) => ({
  x: () => runKernel<tf.Tensor>('WhetDropout', { x: dy as tf.Tensor }, attrs),
}));

/**
 * x with each element zeroed with probability `rate` (the others scaled by 1 / (1 − rate)), the mask a function
 * of `seed` and the element's index `offset + i` only. seed and offset: integers in [0, 2³²).
 */
export function hashDropout(x: tf.Tensor, rate: number, seed: number, offset = 0): tf.Tensor {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
  if (offset + x.size > 2 ** 32) throw new Error(`dropout over ${offset + x.size} elements: more than 2^32 indices`);
  return runKernel<tf.Tensor>('WhetDropout', { x }, { rate, seed: seed >>> 0, offset });
}
