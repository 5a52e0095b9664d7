// Dropout whose mask is a hash of the seed and each element's index: element i of x is kept, scaled by
// 1 / (1 − rate), when hash((offset + i) ^ hash(seed)) >> 8 ≥ ⌈rate · 2²⁴⌉ (hash: Chris Wellons' 32-bit
// "lowbias32" mixer; integer arithmetic only, so both backends draw the same masks). Indices past 2³² (the
// flash attention kernel's [B, H, T, S] probabilities, never stored, can have more) hash their low 32 bits
// with a key that also mixes in the high bits, so that masks do not repeat every 2³² elements. Nothing is
// stored for the backward: dropout is linear, its gradient is the same op on dy with the same seed. A slice of a
// batch-major tensor passed with the index of its first element as `offset` gets exactly those rows of the
// whole tensor's mask: checkpointed blocks run a slice of the batch at a time (models/recompute.ts) with the
// masks the whole batch would draw.
import * as tf from '@tensorflow/tfjs';
import { elementwise, f32, run, type Uniform } from './backend-util';
import { defineComposite, defineGradient, runKernel, type Backend, type BackendName } from './register';

export interface DropoutAttrs {
  rate: number;
  seed: number;
  /** Index (in the whole tensor) of this tensor's first element: an integer below 2⁵³. */
  offset: number;
}

const TWO_32 = 2 ** 32;

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

/** The key that element indices hi · 2³² + lo hash their low bits lo with (the seed's alone below 2³²). */
function keyOf(key: number, hi: number): number {
  return hi === 0 ? key : mix(key ^ mix(hi));
}

/**
 * The factor (0, or 1 / (1 − rate) as f32) of element `i` (an integer below 2⁵³) of the whole tensor, i.e. at
 * index i − offset of this one; 1 everywhere without dropout. Its WGSL twin is DROP_WGSL's dropFactor.
 */
export function dropFactorJs(attrs: DropoutAttrs | undefined): (i: number) => number {
  if (!attrs) return () => 1;
  const { key, threshold, scale } = constants(attrs);
  return (i) => (mix((i ^ keyOf(key, Math.floor(i / TWO_32))) >>> 0) >>> 8 >= threshold ? scale : 0);
}

/** The hashed seed, the 24-bit keep threshold and the f32 scale of a dropout (none: keep all, scale 1). */
function constants(attrs: DropoutAttrs | undefined): { key: number; threshold: number; scale: number } {
  if (!attrs) return { key: 0, threshold: 0, scale: 1 };
  return { key: mix(attrs.seed), threshold: Math.ceil(attrs.rate * 2 ** 24), scale: Math.fround(1 / (1 - attrs.rate)) };
}

/** The uniforms DROP_WGSL reads, declared in a program's uniform struct. */
export const DROP_UNIFORMS = 'dropOffset : u32, dropOffsetHi : u32, dropKey : u32, dropThreshold : u32, dropScale : f32,';

/** DROP_UNIFORMS' values for `attrs` (none: a threshold of 0 keeps every element, scaled by 1). */
export function dropUniforms(attrs: DropoutAttrs | undefined): Uniform[] {
  const { key, threshold, scale } = constants(attrs);
  const offset = attrs?.offset ?? 0;
  return [
    { type: 'uint32', data: [offset >>> 0] },
    { type: 'uint32', data: [Math.floor(offset / TWO_32)] },
    { type: 'uint32', data: [key] },
    { type: 'uint32', data: [threshold] },
    { type: 'float32', data: [scale] },
  ];
}

/**
 * WGSL: dropFactor(i) of the element at index i of this tensor (i + the offset in the whole), as dropFactorJs;
 * dropFactorAt(row, cols, j) that of element [row, j] of a [rows, cols] tensor, whose index row · cols + j
 * may pass 2³² (the 64-bit index is kept as two u32 words).
 */
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
  // The factor of whole-tensor index hi · 2³² + lo (keyOf in dropout.ts). A branch, not select(), which
  // would hash the high word for every element (the attention kernels call this per probability).
  fn dropFactorOf(hi : u32, lo : u32) -> f32 {
    var key = uniforms.dropKey;
    if (hi != 0u) { key = mix(key ^ mix(hi)); }
    let h = mix(lo ^ key);
    return select(0.0, uniforms.dropScale, (h >> 8u) >= uniforms.dropThreshold);
  }
  // Index hi · 2³² + lo of this tensor plus the offset, as a factor.
  fn dropFactorWide(hi : u32, lo : u32) -> f32 {
    let l = lo + uniforms.dropOffset;
    return dropFactorOf(hi + uniforms.dropOffsetHi + select(0u, 1u, l < lo), l);
  }
  fn dropFactor(i : u32) -> f32 {
    return dropFactorWide(0u, i);
  }
  fn dropFactorAt(row : u32, cols : u32, j : u32) -> f32 {
    // row · cols in 16-bit halves: lo and hi words of the 64-bit product, then + j.
    let a0 = row & 0xffffu;
    let a1 = row >> 16u;
    let b0 = cols & 0xffffu;
    let b1 = cols >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    let lo = (p00 & 0xffffu) | (mid << 16u);
    let hi = a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
    let l = lo + j;
    return dropFactorWide(hi + select(0u, 1u, l < lo), l);
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

/** A seed for a mask when the caller has no seeded stream (ForwardOptions.nextSeed): an integer in [0, 2³²). */
export function randomDropoutSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}

/**
 * x with each element zeroed with probability `rate` (the others scaled by 1 / (1 − rate)), the mask a function
 * of `seed` and the element's index `offset + i` only. seed: an integer in [0, 2³²); offset: an integer below 2⁵³.
 */
export function hashDropout(x: tf.Tensor, rate: number, seed: number, offset = 0): tf.Tensor {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
  if (!Number.isSafeInteger(offset + x.size)) throw new Error(`dropout over ${offset + x.size} elements: more than 2^53 indices`);
  return runKernel<tf.Tensor>('WhetDropout', { x }, { rate, seed: seed >>> 0, offset });
}
