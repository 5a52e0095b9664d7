// Hugging Face's causal-LM loss as one kernel: logits[:, :-1] against labels[:, 1:], labels −100 ignored,
// mean over the rest. Each row's log-sum-exp is computed in one streaming pass over the vocabulary (a
// running max and rescaled sum per thread, merged across the workgroup), so no log-softmax [N, V] is ever
// materialised; the backward writes softmax − one-hot straight into the logits' gradient.
import * as tf from '@tensorflow/tfjs';
import { elementwise, f32, i32, perRow, run, rowWorkgroup, type WebGpuBackendLike } from './backend-util';
import { defineGradient, defineKernel, runKernel } from './register';

type CeAttrs = { ignoreIndex: number };

/** Target of row r = b·T + t: labels[b, t + 1], or none for the last position. */
function targetOf(labels: Int32Array, r: number, t: number, ignore: number): number {
  return r % t < t - 1 ? labels[r + 1] : ignore;
}

function lseRowsCpu(lv: Float32Array, rows: number, v: number): Float64Array {
  const lse = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * v;
    let m = -Infinity;
    for (let c = 0; c < v; c++) if (lv[o + c] > m) m = lv[o + c];
    let s = 0;
    for (let c = 0; c < v; c++) s += Math.exp(lv[o + c] - m);
    lse[r] = m + Math.log(s);
  }
  return lse;
}

function countValid(labels: Int32Array, rows: number, t: number, ignore: number): number {
  let n = 0;
  for (let r = 0; r < rows; r++) if (targetOf(labels, r, t, ignore) !== ignore) n++;
  return n;
}

/** The WebGPU loss programs' uniforms (vocabulary, positions, rows, ignore index) for logits [B, T, V]. */
function lossUniforms([b, t, v]: number[], ignoreIndex: number) {
  const rows = b * t;
  const u = [v, t, rows, ignoreIndex].map((x) => ({ type: 'int32' as const, data: [x] }));
  return { v, rows, u, uniforms: 'v : i32, t : i32, n : i32, ignore : i32,' };
}

const TARGET_WGSL = `
  fn targetOf(r : i32) -> i32 {
    if (r % uniforms.t < uniforms.t - 1) { return labels[r + 1]; }
    return uniforms.ignore;
  }`;

defineKernel<CeAttrs>({
  name: 'WhetCrossEntropy',
  cpu({ logits, labels }, backend, { ignoreIndex }) {
    const lv = f32(backend, logits);
    const lab = i32(backend, labels);
    const [b, t, v] = logits.shape;
    const rows = b * t;
    const lse = lseRowsCpu(lv, rows, v);
    const out = new Float32Array(2 * rows);
    let sum = 0;
    let n = 0;
    for (let r = 0; r < rows; r++) {
      out[r] = lse[r];
      const target = targetOf(lab, r, t, ignoreIndex);
      if (target === ignoreIndex) continue;
      const picked = target >= 0 && target < v ? lv[r * v + target] : 0;
      out[rows + r] = lse[r] - picked;
      sum += lse[r] - picked;
      n++;
    }
    return [
      backend.makeTensorInfo([], 'float32', new Float32Array([sum / Math.max(n, 1)])),
      backend.makeTensorInfo([2 * rows], 'float32', out),
    ];
  },
  webgpu({ logits, labels }, backend, { ignoreIndex }) {
    const { v, rows, u, uniforms } = lossUniforms(logits.shape, ignoreIndex);
    const rowProgram = perRow(
      'ce_rows',
      ['logits', 'labels'],
      [2 * rows],
      rows,
      `
      let V = uniforms.v;
      let base = row * V;
      var m = -3.402823e+38;
      var s = 0.0;
      for (var c = tid; c < V; c = c + WG) {
        let z = logits[base + c];
        if (z > m) { s = s * exp(m - z) + 1.0; m = z; } else { s = s + exp(z - m); }
      }
      let rowMax = reduceMax(m, tid);
      let total = reduceSum(s * exp(m - rowMax), tid);
      let lse = rowMax + log(total);
      if (tid == 0) {
        let tgt = targetOf(row);
        var loss = 0.0;
        if (tgt != uniforms.ignore) {
          var picked = 0.0;
          if (tgt >= 0 && tgt < V) { picked = logits[base + tgt]; }
          loss = lse - picked;
        }
        result[row] = lse;
        result[uniforms.n + row] = loss;
      }`,
      uniforms,
      rowWorkgroup(v),
      TARGET_WGSL,
    );
    const rowsOut = run(backend, rowProgram, [logits, labels], u);
    const meanProgram = perRow(
      'ce_mean',
      ['rows', 'labels'],
      [1],
      1,
      `
      var s = 0.0;
      var n = 0.0;
      for (var i = tid; i < uniforms.n; i = i + WG) {
        s = s + rows[uniforms.n + i];
        if (targetOf(i) != uniforms.ignore) { n = n + 1.0; }
      }
      let total = reduceSum(s, tid);
      let count = reduceSum(n, tid);
      if (tid == 0) { result[0] = total / max(count, 1.0); }`,
      uniforms,
      256,
      TARGET_WGSL,
    );
    const loss = run(backend, meanProgram, [rowsOut, labels], u);
    return [{ ...loss, shape: [] }, rowsOut];
  },
});

defineKernel<CeAttrs>({
  name: 'WhetCrossEntropyGrad',
  cpu({ dy, logits, labels, rows: rowStats }, backend, { ignoreIndex }) {
    const lv = f32(backend, logits);
    const lab = i32(backend, labels);
    const stats = f32(backend, rowStats);
    const [b, t, v] = logits.shape;
    const rows = b * t;
    const scale = f32(backend, dy)[0] / Math.max(countValid(lab, rows, t, ignoreIndex), 1);
    const out = new Float32Array(lv.length);
    for (let r = 0; r < rows; r++) {
      const target = targetOf(lab, r, t, ignoreIndex);
      if (target === ignoreIndex) continue;
      const o = r * v;
      for (let c = 0; c < v; c++) out[o + c] = (Math.exp(lv[o + c] - stats[r]) - (c === target ? 1 : 0)) * scale;
    }
    return backend.makeTensorInfo(logits.shape, 'float32', out);
  },
  webgpu({ dy, logits, labels, rows: rowStats }, backend, { ignoreIndex }) {
    const { v, rows, u, uniforms } = lossUniforms(logits.shape, ignoreIndex);
    const scaleProgram = perRow(
      'ce_scale',
      ['dy', 'labels'],
      [1],
      1,
      `
      var n = 0.0;
      for (var i = tid; i < uniforms.n; i = i + WG) { if (targetOf(i) != uniforms.ignore) { n = n + 1.0; } }
      let count = reduceSum(n, tid);
      if (tid == 0) { result[0] = dy[0] / max(count, 1.0); }`,
      uniforms,
      256,
      TARGET_WGSL,
    );
    const scale = run(backend as WebGpuBackendLike, scaleProgram, [dy, labels], u);
    const gradProgram = elementwise(
      'ce_grad',
      ['logits', 'labels', 'rows', 'scale'],
      logits.shape,
      `
      let r = index / uniforms.v;
      let c = index % uniforms.v;
      let tgt = targetOf(r);
      var g = 0.0;
      if (tgt != uniforms.ignore) {
        g = (exp(logits[index] - rows[r]) - select(0.0, 1.0, c == tgt)) * scale[0];
      }
      result[index] = g;`,
      uniforms,
      TARGET_WGSL,
    );
    const out = run(backend, gradProgram, [logits, labels, rowStats, scale], u);
    backend.disposeData(scale.dataId);
    return out;
  },
});

defineGradient(
  'WhetCrossEntropy',
  ['logits', 'labels'],
  (dys, [logits, labels, rows], attrs) => {
    const dy = (dys as tf.Tensor[])[0];
    return { logits: () => runKernel<tf.Tensor>('WhetCrossEntropyGrad', { dy, logits, labels, rows }, attrs) };
  },
  [false, true],
);

/**
 * Mean next-token cross-entropy of logits [B, T, V] against labels [B, T] (shifted inside; −100 ignored; 0
 * when every label is ignored). One kernel forward, one backward.
 */
export function fusedCausalLmLoss(logits: tf.Tensor3D, labels: tf.Tensor2D, ignoreIndex = -100): tf.Scalar {
  return tf.tidy(() => {
    const lab = labels.dtype === 'int32' ? labels : tf.cast(labels, 'int32');
    const [loss] = runKernel<tf.Tensor[]>('WhetCrossEntropy', { logits, labels: lab }, { ignoreIndex });
    return loss as tf.Scalar;
  });
}

// The LM head over a vocabulary kept in row chunks (vocab-chunks.ts): each chunk's logits [n, r] (rows
// offset … offset + r − 1 of the vocabulary) reduce to per-row statistics that the loss combines across
// chunks, so the [N, V] logits never exist as one tensor. The statistics are [4, n]: the chunk's log-sum-exp,
// the target's logit when the target falls in the chunk (else 0), the chunk's max logit and its argmax
// (a vocabulary id, as f32). The gradient is exact: d/dlogits = exp(logits − lse_k)·dlse_k + onehot·dpicked.
type ChunkAttrs = { offset: number };

defineKernel<ChunkAttrs>({
  name: 'WhetHeadChunkStats',
  cpu({ logits, targets }, backend, { offset }) {
    const lv = f32(backend, logits);
    const tg = i32(backend, targets);
    const [n, r] = logits.shape;
    const out = new Float32Array(4 * n);
    for (let i = 0; i < n; i++) {
      const o = i * r;
      let m = -Infinity;
      let arg = 0;
      for (let c = 0; c < r; c++) {
        if (lv[o + c] > m) {
          m = lv[o + c];
          arg = c;
        }
      }
      let s = 0;
      for (let c = 0; c < r; c++) s += Math.exp(lv[o + c] - m);
      const local = tg[i] - offset;
      out[i] = m + Math.log(s);
      out[n + i] = local >= 0 && local < r ? lv[o + local] : 0;
      out[2 * n + i] = m;
      out[3 * n + i] = offset + arg;
    }
    return backend.makeTensorInfo([4, n], 'float32', out);
  },
  webgpu({ logits, targets }, backend, { offset }) {
    const [n, r] = logits.shape;
    const program = perRow(
      'head_chunk_stats',
      ['logits', 'targets'],
      [4, n],
      n,
      `
      let R = uniforms.r;
      let base = row * R;
      var m = -3.402823e+38;
      var s = 0.0;
      var arg = R;
      for (var c = tid; c < R; c = c + WG) {
        let z = logits[base + c];
        if (z > m) { s = s * exp(m - z) + 1.0; m = z; arg = c; } else { s = s + exp(z - m); }
      }
      let rowMax = reduceMax(m, tid);
      let total = reduceSum(s * exp(m - rowMax), tid);
      // The first column holding the max: the smallest candidate over the threads that saw it.
      var cand = f32(R);
      if (m == rowMax) { cand = f32(arg); }
      let first = -reduceMax(-cand, tid);
      if (tid == 0) {
        let local = targets[row] - uniforms.offset;
        var picked = 0.0;
        if (local >= 0 && local < R) { picked = logits[base + local]; }
        result[row] = rowMax + log(total);
        result[uniforms.n + row] = picked;
        result[2 * uniforms.n + row] = rowMax;
        result[3 * uniforms.n + row] = f32(uniforms.offset) + first;
      }`,
      'r : i32, n : i32, offset : i32,',
      rowWorkgroup(r),
    );
    return run(
      backend,
      program,
      [logits, targets],
      [
        { type: 'int32', data: [r] },
        { type: 'int32', data: [n] },
        { type: 'int32', data: [offset] },
      ],
    );
  },
});

defineKernel<ChunkAttrs>({
  name: 'WhetHeadChunkStatsGrad',
  cpu({ dy, logits, targets, stats }, backend, { offset }) {
    const lv = f32(backend, logits);
    const tg = i32(backend, targets);
    const st = f32(backend, stats);
    const g = f32(backend, dy);
    const [n, r] = logits.shape;
    const out = new Float32Array(n * r);
    for (let i = 0; i < n; i++) {
      const o = i * r;
      for (let c = 0; c < r; c++) out[o + c] = Math.exp(lv[o + c] - st[i]) * g[i];
      const local = tg[i] - offset;
      if (local >= 0 && local < r) out[o + local] += g[n + i];
    }
    return backend.makeTensorInfo([n, r], 'float32', out);
  },
  webgpu({ dy, logits, targets, stats }, backend, { offset }) {
    const [n, r] = logits.shape;
    const program = elementwise(
      'head_chunk_stats_grad',
      ['dy', 'logits', 'targets', 'stats'],
      [n, r],
      `
      let i = index / uniforms.r;
      let c = index % uniforms.r;
      var g = exp(logits[index] - stats[i]) * dy[i];
      if (targets[i] - uniforms.offset == c) { g = g + dy[uniforms.n + i]; }
      result[index] = g;`,
      'r : i32, n : i32, offset : i32,',
    );
    return run(
      backend,
      program,
      [dy, logits, targets, stats],
      [
        { type: 'int32', data: [r] },
        { type: 'int32', data: [n] },
        { type: 'int32', data: [offset] },
      ],
    );
  },
});

defineGradient(
  'WhetHeadChunkStats',
  ['logits', 'targets'],
  (dy, [logits, targets, stats], attrs) => ({
    logits: () => runKernel<tf.Tensor>('WhetHeadChunkStatsGrad', { dy: dy as tf.Tensor, logits, targets, stats }, attrs),
  }),
  [true],
);

/**
 * Per-row statistics [4, n] of one vocabulary chunk's logits [n, r] (vocabulary rows offset … offset + r − 1)
 * against targets [n] int32: log-sum-exp, target logit (0 when the target is elsewhere), max, argmax.
 */
export function fusedHeadChunkStats(logits: tf.Tensor2D, targets: tf.Tensor1D, offset: number): tf.Tensor2D {
  return runKernel<tf.Tensor2D>('WhetHeadChunkStats', { logits, targets }, { offset });
}

/**
 * The gradient of a mean cross-entropy with respect to one vocabulary chunk's logits [n, r], given each row's
 * log-sum-exp over the whole vocabulary lse [n] and its weight in the loss scale [n] (0 for an ignored row):
 * (softmax − one-hot(target − offset)) · scale, in one pass (WhetHeadChunkStatsGrad with dlse = scale and
 * dpicked = −scale).
 */
export function fusedHeadChunkLossGrad(
  logits: tf.Tensor2D,
  targets: tf.Tensor1D,
  offset: number,
  lse: tf.Tensor1D,
  scale: tf.Tensor1D,
): tf.Tensor2D {
  return tf.tidy(() =>
    runKernel<tf.Tensor2D>('WhetHeadChunkStatsGrad', { dy: tf.stack([scale, tf.neg(scale)]), logits, targets, stats: lse }, { offset }),
  );
}
