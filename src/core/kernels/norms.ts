// LayerNorm and RMSNorm over the last axis, forward and backward, one kernel each way. The backward kernels
// recompute the row statistics instead of saving them, and return every gradient at once (dx, dγ[, dβ]).
import * as tf from '@tensorflow/tfjs';
import { elementwise, f32, perRow, run, rowWorkgroup, sizeOf } from './backend-util';
import { columnSumWebGpu } from './activations';
import { allVariables, defineAlias, defineGradient, defineKernel, runKernel } from './register';

type NormAttrs = { eps: number };

function rowsCols(shape: number[]): [number, number] {
  const cols = shape[shape.length - 1];
  return [sizeOf(shape) / cols, cols];
}

// ---------------------------------------------------------------- LayerNorm

/** mean and 1/sqrt(var + eps) of each row, as [rows, 2]. */
function layerNormStatsProgram(rows: number, cols: number) {
  const wg = rowWorkgroup(cols);
  return perRow(
    'ln_stats',
    ['x'],
    [rows, 2],
    rows,
    `
    let C = uniforms.cols;
    let base = row * C;
    var s = 0.0;
    for (var c = tid; c < C; c = c + WG) { s = s + x[base + c]; }
    let mean = reduceSum(s, tid) / f32(C);
    var q = 0.0;
    for (var c = tid; c < C; c = c + WG) { let d = x[base + c] - mean; q = q + d * d; }
    let variance = reduceSum(q, tid) / f32(C);
    if (tid == 0) {
      result[row * 2] = mean;
      result[row * 2 + 1] = inverseSqrt(variance + uniforms.eps);
    }`,
    'eps : f32, cols : i32,',
    wg,
  );
}

defineKernel<NormAttrs>({
  name: 'WhetLayerNorm',
  cpu({ x, gamma, beta }, backend, { eps }) {
    const xv = f32(backend, x);
    const g = f32(backend, gamma);
    const b = f32(backend, beta);
    const [rows, cols] = rowsCols(x.shape);
    const out = new Float32Array(xv.length);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let c = 0; c < cols; c++) s += xv[o + c];
      const mean = Math.fround(s / cols);
      let q = 0;
      for (let c = 0; c < cols; c++) q += (xv[o + c] - mean) ** 2;
      const rstd = 1 / Math.sqrt(q / cols + eps);
      for (let c = 0; c < cols; c++) out[o + c] = (xv[o + c] - mean) * rstd * g[c] + b[c];
    }
    return backend.makeTensorInfo(x.shape, 'float32', out);
  },
  webgpu({ x, gamma, beta }, backend, { eps }) {
    const [rows, cols] = rowsCols(x.shape);
    const wg = rowWorkgroup(cols);
    const program = perRow(
      'ln_fwd',
      ['x', 'gamma', 'beta'],
      x.shape,
      rows,
      `
      let C = uniforms.cols;
      let base = row * C;
      var s = 0.0;
      for (var c = tid; c < C; c = c + WG) { s = s + x[base + c]; }
      let mean = reduceSum(s, tid) / f32(C);
      var q = 0.0;
      for (var c = tid; c < C; c = c + WG) { let d = x[base + c] - mean; q = q + d * d; }
      let rstd = inverseSqrt(reduceSum(q, tid) / f32(C) + uniforms.eps);
      for (var c = tid; c < C; c = c + WG) {
        result[base + c] = (x[base + c] - mean) * rstd * gamma[c] + beta[c];
      }`,
      'eps : f32, cols : i32,',
      wg,
    );
    return run(
      backend,
      program,
      [x, gamma, beta],
      [
        { type: 'float32', data: [eps] },
        { type: 'int32', data: [cols] },
      ],
    );
  },
});

defineKernel<NormAttrs>({
  name: 'WhetLayerNormGrad',
  cpu({ dy, x, gamma }, backend, { eps }) {
    const dyv = f32(backend, dy);
    const xv = f32(backend, x);
    const g = f32(backend, gamma);
    const [rows, cols] = rowsCols(x.shape);
    const dx = new Float32Array(xv.length);
    const dg = new Float64Array(cols);
    const db = new Float64Array(cols);
    const xhat = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let c = 0; c < cols; c++) s += xv[o + c];
      const mean = s / cols;
      let q = 0;
      for (let c = 0; c < cols; c++) q += (xv[o + c] - mean) ** 2;
      const rstd = 1 / Math.sqrt(q / cols + eps);
      let a = 0;
      let b = 0;
      for (let c = 0; c < cols; c++) {
        xhat[c] = (xv[o + c] - mean) * rstd;
        const gc = dyv[o + c] * g[c];
        a += gc;
        b += gc * xhat[c];
        dg[c] += dyv[o + c] * xhat[c];
        db[c] += dyv[o + c];
      }
      a /= cols;
      b /= cols;
      for (let c = 0; c < cols; c++) dx[o + c] = rstd * (dyv[o + c] * g[c] - a - xhat[c] * b);
    }
    return [
      backend.makeTensorInfo(x.shape, 'float32', dx),
      backend.makeTensorInfo([cols], 'float32', Float32Array.from(dg)),
      backend.makeTensorInfo([cols], 'float32', Float32Array.from(db)),
    ];
  },
  webgpu({ dy, x, gamma }, backend, { eps }) {
    const [rows, cols] = rowsCols(x.shape);
    const u = [
      { type: 'float32' as const, data: [eps] },
      { type: 'int32' as const, data: [cols] },
    ];
    const stats = run(backend, layerNormStatsProgram(rows, cols), [x], u);
    const wg = rowWorkgroup(cols);
    const dxProgram = perRow(
      'ln_dx',
      ['dy', 'x', 'gamma', 'stats'],
      x.shape,
      rows,
      `
      let C = uniforms.cols;
      let base = row * C;
      let mean = stats[row * 2];
      let rstd = stats[row * 2 + 1];
      var a = 0.0;
      var b = 0.0;
      for (var c = tid; c < C; c = c + WG) {
        let gc = dy[base + c] * gamma[c];
        a = a + gc;
        b = b + gc * (x[base + c] - mean) * rstd;
      }
      let ma = reduceSum(a, tid) / f32(C);
      let mb = reduceSum(b, tid) / f32(C);
      for (var c = tid; c < C; c = c + WG) {
        let xhat = (x[base + c] - mean) * rstd;
        result[base + c] = rstd * (dy[base + c] * gamma[c] - ma - xhat * mb);
      }`,
      'eps : f32, cols : i32,',
      wg,
    );
    const dx = run(backend, dxProgram, [dy, x, gamma, stats], u);
    // dγ and dβ: one thread per column walking the rows (neighbouring threads read neighbouring addresses).
    const ru = [
      { type: 'int32' as const, data: [rows] },
      { type: 'int32' as const, data: [cols] },
    ];
    const dgProgram = elementwise(
      'ln_dgamma',
      ['dy', 'x', 'stats'],
      [cols],
      `
      let C = uniforms.cols;
      var s = 0.0;
      for (var r = 0; r < uniforms.rows; r = r + 1) {
        s = s + dy[r * C + index] * (x[r * C + index] - stats[r * 2]) * stats[r * 2 + 1];
      }
      result[index] = s;`,
      'rows : i32, cols : i32,',
    );
    const dg = run(backend, dgProgram, [dy, x, stats], ru);
    const db = columnSumWebGpu(backend, dy, cols);
    backend.disposeData(stats.dataId);
    return [dx, dg, db];
  },
});

function layerNormGrad(dy: tf.Tensor, x: tf.Tensor, gamma: tf.Tensor, eps: number) {
  const [dx, dg, db] = runKernel<tf.Tensor[]>('WhetLayerNormGrad', { dy, x, gamma }, { eps });
  return { x: () => dx, gamma: () => dg, beta: () => db };
}
defineGradient('WhetLayerNorm', ['x', 'gamma'], (dy, [x, gamma], a) => layerNormGrad(dy as tf.Tensor, x, gamma, a.eps as number));
// γ a tf.Variable: passed by reference (see allVariables), only x saved.
defineAlias('WhetLayerNormP', 'WhetLayerNorm');
defineGradient('WhetLayerNormP', ['x'], (dy, [x], a) => layerNormGrad(dy as tf.Tensor, x, a.gamma as tf.Tensor, a.eps as number));

/** LayerNorm over the last axis: (x − mean) / √(var + eps) · γ + β (biased variance, as torch). */
export function fusedLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  if (allVariables(gamma)) return runKernel<tf.Tensor>('WhetLayerNormP', { x, gamma, beta }, { eps, gamma });
  return runKernel<tf.Tensor>('WhetLayerNorm', { x, gamma, beta }, { eps });
}

// ---------------------------------------------------------------- RMSNorm

defineKernel<NormAttrs>({
  name: 'WhetRmsNorm',
  cpu({ x, gamma }, backend, { eps }) {
    const xv = f32(backend, x);
    const g = f32(backend, gamma);
    const [rows, cols] = rowsCols(x.shape);
    const out = new Float32Array(xv.length);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let q = 0;
      for (let c = 0; c < cols; c++) q += xv[o + c] * xv[o + c];
      const rr = 1 / Math.sqrt(q / cols + eps);
      for (let c = 0; c < cols; c++) out[o + c] = xv[o + c] * rr * g[c];
    }
    return backend.makeTensorInfo(x.shape, 'float32', out);
  },
  webgpu({ x, gamma }, backend, { eps }) {
    const [rows, cols] = rowsCols(x.shape);
    const program = perRow(
      'rms_fwd',
      ['x', 'gamma'],
      x.shape,
      rows,
      `
      let C = uniforms.cols;
      let base = row * C;
      var q = 0.0;
      for (var c = tid; c < C; c = c + WG) { let v = x[base + c]; q = q + v * v; }
      let rr = inverseSqrt(reduceSum(q, tid) / f32(C) + uniforms.eps);
      for (var c = tid; c < C; c = c + WG) { result[base + c] = x[base + c] * rr * gamma[c]; }`,
      'eps : f32, cols : i32,',
      rowWorkgroup(cols),
    );
    return run(
      backend,
      program,
      [x, gamma],
      [
        { type: 'float32', data: [eps] },
        { type: 'int32', data: [cols] },
      ],
    );
  },
});

defineKernel<NormAttrs>({
  name: 'WhetRmsNormGrad',
  cpu({ dy, x, gamma }, backend, { eps }) {
    const dyv = f32(backend, dy);
    const xv = f32(backend, x);
    const g = f32(backend, gamma);
    const [rows, cols] = rowsCols(x.shape);
    const dx = new Float32Array(xv.length);
    const dg = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let q = 0;
      for (let c = 0; c < cols; c++) q += xv[o + c] * xv[o + c];
      const rr = 1 / Math.sqrt(q / cols + eps);
      let b = 0;
      for (let c = 0; c < cols; c++) {
        b += dyv[o + c] * g[c] * xv[o + c];
        dg[c] += dyv[o + c] * xv[o + c] * rr;
      }
      const k = (rr * rr * rr * b) / cols;
      for (let c = 0; c < cols; c++) dx[o + c] = rr * dyv[o + c] * g[c] - k * xv[o + c];
    }
    return [backend.makeTensorInfo(x.shape, 'float32', dx), backend.makeTensorInfo([cols], 'float32', Float32Array.from(dg))];
  },
  webgpu({ dy, x, gamma }, backend, { eps }) {
    const [rows, cols] = rowsCols(x.shape);
    const wg = rowWorkgroup(cols);
    const u = [
      { type: 'float32' as const, data: [eps] },
      { type: 'int32' as const, data: [cols] },
    ];
    const statsProgram = perRow(
      'rms_stats',
      ['x'],
      [rows],
      rows,
      `
      let C = uniforms.cols;
      let base = row * C;
      var q = 0.0;
      for (var c = tid; c < C; c = c + WG) { let v = x[base + c]; q = q + v * v; }
      let rr = inverseSqrt(reduceSum(q, tid) / f32(C) + uniforms.eps);
      if (tid == 0) { result[row] = rr; }`,
      'eps : f32, cols : i32,',
      wg,
    );
    const stats = run(backend, statsProgram, [x], u);
    const dxProgram = perRow(
      'rms_dx',
      ['dy', 'x', 'gamma', 'stats'],
      x.shape,
      rows,
      `
      let C = uniforms.cols;
      let base = row * C;
      let rr = stats[row];
      var b = 0.0;
      for (var c = tid; c < C; c = c + WG) { b = b + dy[base + c] * gamma[c] * x[base + c]; }
      let k = rr * rr * rr * reduceSum(b, tid) / f32(C);
      for (var c = tid; c < C; c = c + WG) { result[base + c] = rr * dy[base + c] * gamma[c] - k * x[base + c]; }`,
      'eps : f32, cols : i32,',
      wg,
    );
    const dx = run(backend, dxProgram, [dy, x, gamma, stats], u);
    const dgProgram = elementwise(
      'rms_dgamma',
      ['dy', 'x', 'stats'],
      [cols],
      `
      let C = uniforms.cols;
      var s = 0.0;
      for (var r = 0; r < uniforms.rows; r = r + 1) { s = s + dy[r * C + index] * x[r * C + index] * stats[r]; }
      result[index] = s;`,
      'rows : i32, cols : i32,',
    );
    const dg = run(
      backend,
      dgProgram,
      [dy, x, stats],
      [
        { type: 'int32', data: [rows] },
        { type: 'int32', data: [cols] },
      ],
    );
    backend.disposeData(stats.dataId);
    return [dx, dg];
  },
});

function rmsNormGrad(dy: tf.Tensor, x: tf.Tensor, gamma: tf.Tensor, eps: number) {
  const [dx, dg] = runKernel<tf.Tensor[]>('WhetRmsNormGrad', { dy, x, gamma }, { eps });
  return { x: () => dx, gamma: () => dg };
}
defineGradient('WhetRmsNorm', ['x', 'gamma'], (dy, [x, gamma], a) => rmsNormGrad(dy as tf.Tensor, x, gamma, a.eps as number));
defineAlias('WhetRmsNormP', 'WhetRmsNorm');
defineGradient('WhetRmsNormP', ['x'], (dy, [x], a) => rmsNormGrad(dy as tf.Tensor, x, a.gamma as tf.Tensor, a.eps as number));

/** RMSNorm: γ · x / √(mean(x²) + eps). */
export function fusedRmsNorm(x: tf.Tensor, gamma: tf.Tensor, eps: number): tf.Tensor {
  if (allVariables(gamma)) return runKernel<tf.Tensor>('WhetRmsNormP', { x, gamma }, { eps, gamma });
  return runKernel<tf.Tensor>('WhetRmsNorm', { x, gamma }, { eps });
}
