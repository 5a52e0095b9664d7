// Attention as single kernels: heads split [B, T, n·D] → [B, n, T, D] (and merged back), RoPE (rotate-half)
// and scaled dot-product attention with an additive bias. Attention runs tfjs's batched matmuls and a fused
// scale + bias + softmax program inside one kernel; its backward reuses the saved probabilities and returns
// dq, dk, dv at once.
import * as tf from '@tensorflow/tfjs';
import { elementwise, f32, perRow, run, rowWorkgroup, sizeOf, type WebGpuBackendLike } from './backend-util';
import {
  callKernel,
  defineComposite,
  defineGradient,
  defineKernel,
  disposeInfos,
  reshaped,
  runKernel,
  type Backend,
  type BackendName,
} from './register';

type Info = tf.TensorInfo;

// ---------------------------------------------------------------- heads

/** [B, T, n·D] → [B, n, T, D] (split) or back (merge), through the backend's Transpose. */
function swapHeads(backendName: BackendName, backend: unknown, x: Info, heads: number, split: boolean): Info {
  if (split) {
    const [b, t, nd] = x.shape;
    return callKernel(backendName, backend, 'Transpose', { x: reshaped(x, [b, t, heads, nd / heads]) }, { perm: [0, 2, 1, 3] });
  }
  const [b, n, t, d] = x.shape;
  return reshaped(callKernel(backendName, backend, 'Transpose', { x }, { perm: [0, 2, 1, 3] }), [b, t, n * d]);
}

/** b, t, heads; `shape`: the shape of the un-split side ([B, T, n·D] or [B·T, n·D]). */
type HeadAttrs = { b: number; t: number; heads: number; shape: number[] };
defineComposite<HeadAttrs>('WhetSplitHeads', ({ x }, backend, { b, t, heads }, name) =>
  swapHeads(name, backend, reshaped(x, [b, t, sizeOf(x.shape) / (b * t)]), heads, true),
);
defineComposite<HeadAttrs>('WhetMergeHeads', ({ x }, backend, { heads, shape }, name) =>
  reshaped(swapHeads(name, backend, x, heads, false), shape),
);
defineGradient('WhetSplitHeads', [], (dy, _s, attrs) => ({
  x: () => runKernel<tf.Tensor>('WhetMergeHeads', { x: dy as tf.Tensor }, attrs),
}));
defineGradient('WhetMergeHeads', [], (dy, _s, attrs) => ({
  x: () => runKernel<tf.Tensor>('WhetSplitHeads', { x: dy as tf.Tensor }, attrs),
}));

/** x [B, T, n·D] or [B·T, n·D] → [B, n, T, D]. */
export function fusedSplitHeads(x: tf.Tensor, b: number, t: number, heads: number): tf.Tensor4D {
  return runKernel<tf.Tensor4D>('WhetSplitHeads', { x }, { b, t, heads, shape: x.shape });
}

/** [B, n, T, D] → [B, T, n·D]. */
export function fusedMergeHeads(x: tf.Tensor4D): tf.Tensor3D {
  const [b, n, t, d] = x.shape;
  return runKernel<tf.Tensor3D>('WhetMergeHeads', { x }, { b, t, heads: n, shape: [b, t, n * d] });
}

// ---------------------------------------------------------------- RoPE

const ROPE_WGSL = `
  fn rotated(i : i32) -> vec2<i32> {
    // (source index, sign) of rotate_half at position i of a row of D: [-x2, x1].
    let D = uniforms.d;
    let hd = D / 2;
    let c = i % D;
    if (c < hd) { return vec2<i32>(i + hd, -1); }
    return vec2<i32>(i - hd, 1);
  }`;

defineKernel({
  name: 'WhetRope',
  cpu({ x, cos, sin }, backend) {
    const xv = f32(backend, x);
    const cv = f32(backend, cos);
    const sv = f32(backend, sin);
    const d = x.shape[3];
    const td = x.shape[2] * d;
    const half = d / 2;
    const out = new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i++) {
      const c = i % d;
      const k = i % td;
      const rot = c < half ? -xv[i + half] : xv[i - half];
      out[i] = xv[i] * cv[k] + rot * sv[k];
    }
    return backend.makeTensorInfo(x.shape, 'float32', out);
  },
  webgpu({ x, cos, sin }, backend) {
    const [, , t, d] = x.shape;
    const program = elementwise(
      'rope',
      ['x', 'cos', 'sin'],
      x.shape,
      `
      let k = index % (uniforms.t * uniforms.d);
      let r = rotated(index);
      result[index] = x[index] * cos[k] + f32(r.y) * x[r.x] * sin[k];`,
      't : i32, d : i32,',
      ROPE_WGSL,
    );
    return run(
      backend,
      program,
      [x, cos, sin],
      [
        { type: 'int32', data: [t] },
        { type: 'int32', data: [d] },
      ],
    );
  },
});

defineKernel({
  name: 'WhetRopeGrad',
  cpu({ dy, cos, sin }, backend) {
    const g = f32(backend, dy);
    const cv = f32(backend, cos);
    const sv = f32(backend, sin);
    const d = dy.shape[3];
    const td = dy.shape[2] * d;
    const half = d / 2;
    const out = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) {
      const c = i % d;
      const k = i % td;
      // Transpose of rotate_half: position i receives +dy·sin from i+half (c < half) or −dy·sin from i−half.
      const back = c < half ? g[i + half] * sv[k + half] : -g[i - half] * sv[k - half];
      out[i] = g[i] * cv[k] + back;
    }
    return backend.makeTensorInfo(dy.shape, 'float32', out);
  },
  webgpu({ dy, cos, sin }, backend) {
    const [, , t, d] = dy.shape;
    const program = elementwise(
      'rope_grad',
      ['dy', 'cos', 'sin'],
      dy.shape,
      `
      let k = index % (uniforms.t * uniforms.d);
      let r = rotated(index);
      let kk = k + (r.x - index);
      result[index] = dy[index] * cos[k] - f32(r.y) * dy[r.x] * sin[kk];`,
      't : i32, d : i32,',
      ROPE_WGSL,
    );
    return run(
      backend,
      program,
      [dy, cos, sin],
      [
        { type: 'int32', data: [t] },
        { type: 'int32', data: [d] },
      ],
    );
  },
});

defineGradient('WhetRope', ['cos', 'sin'], (dy, [cos, sin]) => ({
  x: () => runKernel<tf.Tensor>('WhetRopeGrad', { dy: dy as tf.Tensor, cos, sin }),
}));

/** x · cos + rotate_half(x) · sin for x [B, H, T, D], cos/sin [T, D]. */
export function fusedRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  return runKernel<tf.Tensor4D>('WhetRope', { x, cos, sin });
}

// ---------------------------------------------------------------- attention

interface SoftmaxDims {
  rows: number;
  s: number;
  t: number;
  h: number;
  biasBatched: boolean;
}

/** softmax(scores · scale + bias) over the last axis; scores [B, H, T, S], bias [B|1, 1, T, S]. */
function softmaxWebGpu(backend: WebGpuBackendLike, scores: Info, bias: Info, scale: number, dims: SoftmaxDims): Info {
  const program = perRow(
    'attn_softmax',
    ['scores', 'bias'],
    scores.shape,
    dims.rows,
    `
    let S = uniforms.s;
    let base = row * S;
    let t = row % uniforms.t;
    let b = row / (uniforms.t * uniforms.h);
    let biasBase = (select(b, 0, uniforms.biasBatched == 0) * uniforms.t + t) * S;
    var m = -3.402823e+38;
    for (var c = tid; c < S; c = c + WG) { m = max(m, scores[base + c] * uniforms.scale + bias[biasBase + c]); }
    let rowMax = reduceMax(m, tid);
    var s = 0.0;
    for (var c = tid; c < S; c = c + WG) { s = s + exp(scores[base + c] * uniforms.scale + bias[biasBase + c] - rowMax); }
    let total = reduceSum(s, tid);
    for (var c = tid; c < S; c = c + WG) {
      result[base + c] = exp(scores[base + c] * uniforms.scale + bias[biasBase + c] - rowMax) / total;
    }`,
    'scale : f32, s : i32, t : i32, h : i32, biasBatched : i32,',
    rowWorkgroup(dims.s),
  );
  return run(
    backend,
    program,
    [scores, bias],
    [
      { type: 'float32', data: [scale] },
      { type: 'int32', data: [dims.s] },
      { type: 'int32', data: [dims.t] },
      { type: 'int32', data: [dims.h] },
      { type: 'int32', data: [dims.biasBatched ? 1 : 0] },
    ],
  );
}

function softmaxCpu(backend: Backend, scores: Info, bias: Info, scale: number, dims: SoftmaxDims): Info {
  const sv = backend.readSync(scores.dataId) as Float32Array;
  const bv = backend.readSync(bias.dataId) as Float32Array;
  const { rows, s: S, t: T, h: H, biasBatched } = dims;
  const out = new Float32Array(rows * S);
  const z = new Float32Array(S);
  for (let r = 0; r < rows; r++) {
    const base = r * S;
    const biasBase = ((biasBatched ? Math.floor(r / (T * H)) : 0) * T + (r % T)) * S;
    let m = -Infinity;
    for (let c = 0; c < S; c++) {
      z[c] = Math.fround(Math.fround(sv[base + c] * scale) + bv[biasBase + c]);
      if (z[c] > m) m = z[c];
    }
    let sum = 0;
    for (let c = 0; c < S; c++) {
      z[c] = Math.exp(z[c] - m);
      sum += z[c];
    }
    for (let c = 0; c < S; c++) out[base + c] = z[c] / sum;
  }
  return backend.makeTensorInfo(scores.shape, 'float32', out);
}

/** dscores = scale · p · (dp − Σ dp·p) per row. */
function softmaxGradWebGpu(backend: WebGpuBackendLike, p: Info, dp: Info, scale: number, rows: number, s: number): Info {
  const program = perRow(
    'attn_softmax_grad',
    ['p', 'dp'],
    p.shape,
    rows,
    `
    let S = uniforms.s;
    let base = row * S;
    var acc = 0.0;
    for (var c = tid; c < S; c = c + WG) { acc = acc + dp[base + c] * p[base + c]; }
    let total = reduceSum(acc, tid);
    for (var c = tid; c < S; c = c + WG) { result[base + c] = uniforms.scale * p[base + c] * (dp[base + c] - total); }`,
    'scale : f32, s : i32,',
    rowWorkgroup(s),
  );
  return run(
    backend,
    program,
    [p, dp],
    [
      { type: 'float32', data: [scale] },
      { type: 'int32', data: [s] },
    ],
  );
}

function softmaxGradCpu(backend: Backend, p: Info, dp: Info, scale: number, rows: number, s: number): Info {
  const pv = backend.readSync(p.dataId) as Float32Array;
  const dv = backend.readSync(dp.dataId) as Float32Array;
  const out = new Float32Array(rows * s);
  for (let r = 0; r < rows; r++) {
    const base = r * s;
    let acc = 0;
    for (let c = 0; c < s; c++) acc += dv[base + c] * pv[base + c];
    for (let c = 0; c < s; c++) out[base + c] = scale * pv[base + c] * (dv[base + c] - acc);
  }
  return backend.makeTensorInfo(p.shape, 'float32', out);
}

type AttnAttrs = { scale: number };

function dimsOf(q: Info, k: Info, bias: Info): SoftmaxDims {
  const [b, h, t] = q.shape;
  return { rows: b * h * t, s: k.shape[2], t, h, biasBatched: bias.shape[0] !== 1 };
}

/** probabilities [B, H, T, S] of q against k. */
function probabilities(name: BackendName, backend: Backend, q: Info, k: Info, bias: Info, scale: number): Info {
  const scores = callKernel(name, backend, 'BatchMatMul', { a: grouped(q, k), b: k }, { transposeA: false, transposeB: true });
  const dims = dimsOf(q, k, bias);
  const p = name === 'webgpu' ? softmaxWebGpu(backend, scores, bias, scale, dims) : softmaxCpu(backend, scores, bias, scale, dims);
  disposeInfos(backend, scores);
  return p;
}

/**
 * Grouped-query attention without repeating keys and values: query heads j·rep … (j+1)·rep − 1 share
 * key/value head j, and [B, H, T, D] read as [B, K, rep·T, D] lines exactly those rows up against head j, so
 * every matmul runs per key/value head (and dk, dv sum over the group by themselves).
 */
function grouped(x: Info, k: Info): Info {
  const [b, h, t, d] = x.shape;
  const kv = k.shape[1];
  return kv === h ? x : reshaped(x, [b, kv, (h / kv) * t, d]);
}

// Outputs: the attention output and the probabilities, which the backward reuses (saved on the tape).
defineComposite<AttnAttrs>('WhetAttention', ({ q, k, v, bias }, backend, { scale }, name) => {
  const p = probabilities(name, backend, q, k, bias, scale); // [B, K, rep·T, S]
  const out = callKernel(name, backend, 'BatchMatMul', { a: p, b: v }, { transposeA: false, transposeB: false }); // [B, K, rep·T, D]
  const merged = swapHeads(name, backend, reshaped(out, q.shape), q.shape[1], false); // [B, T, H·D]
  disposeInfos(backend, out);
  return [merged, p];
});

defineComposite<AttnAttrs>('WhetAttentionGrad', ({ dy, q, k, v, p }, backend, { scale }, name) => {
  const dout = swapHeads(name, backend, dy, q.shape[1], true); // [B, H, T, D]
  const doutG = grouped(dout, k); // [B, K, rep·T, D]
  const dp = callKernel(name, backend, 'BatchMatMul', { a: doutG, b: v }, { transposeA: false, transposeB: true }); // [B, K, rep·T, S]
  const dv = callKernel(name, backend, 'BatchMatMul', { a: p, b: doutG }, { transposeA: true, transposeB: false }); // [B, K, S, D]
  const [b, h, t] = q.shape;
  const rows = b * h * t;
  const s = k.shape[2];
  const ds = name === 'webgpu' ? softmaxGradWebGpu(backend, p, dp, scale, rows, s) : softmaxGradCpu(backend, p, dp, scale, rows, s);
  const dq = callKernel(name, backend, 'BatchMatMul', { a: ds, b: k }, { transposeA: false, transposeB: false }); // [B, K, rep·T, D]
  const dk = callKernel(name, backend, 'BatchMatMul', { a: ds, b: grouped(q, k) }, { transposeA: true, transposeB: false }); // [B, K, S, D]
  disposeInfos(backend, dout, dp, ds);
  return [reshaped(dq, q.shape), dk, dv];
});

defineGradient(
  'WhetAttention',
  ['q', 'k', 'v'],
  (dys, [q, k, v, p], attrs) => {
    const [dq, dk, dv] = runKernel<tf.Tensor[]>('WhetAttentionGrad', { dy: (dys as tf.Tensor[])[0], q, k, v, p }, attrs);
    return { q: () => dq, k: () => dk, v: () => dv };
  },
  [false, true],
);

/**
 * softmax(q kᵀ · scale + bias) v with heads merged: q [B, H, T, D], k/v [B, K, S, D] with K dividing H
 * (grouped-query attention: query head i uses key/value head ⌊i / (H/K)⌋, as repeat_interleave), bias
 * [B|1, 1, T, S] → [B, T, H·D]. No dropout on the probabilities.
 */
export function fusedAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, bias: tf.Tensor4D, scale: number): tf.Tensor3D {
  const [out, probs] = runKernel<tf.Tensor[]>('WhetAttention', { q, k, v, bias }, { scale });
  probs.dispose(); // the tape keeps its own reference when gradients are recorded
  return out as tf.Tensor3D;
}
