// Elementwise fusions: gelu_new, bias + gelu_new, the SiLU gate of SwiGLU (silu(g) · u) and a bias add whose
// backward is one column sum (dx is dy itself). One kernel forward, one backward, each.
import * as tf from '@tensorflow/tfjs';
import { elementwise, f32, intUniforms, run, sizeOf, type WebGpuBackendLike } from './backend-util';
import { defineGradient, defineKernel, runKernel } from './register';

const K = Math.sqrt(2 / Math.PI);
const C3 = 0.044715;

/** WGSL: tanh without overflow (as tfjs-webgpu's own), gelu_new and its derivative. */
const GELU_WGSL = `
  fn stableTanh(a : f32) -> f32 {
    let e2x = exp(-2.0 * abs(a));
    return sign(a) * (1.0 - e2x) / (1.0 + e2x);
  }
  fn geluNew(x : f32) -> f32 {
    let t = stableTanh(${K} * (x + ${C3} * x * x * x));
    return 0.5 * x * (1.0 + t);
  }
  fn geluNewGrad(x : f32) -> f32 {
    let t = stableTanh(${K} * (x + ${C3} * x * x * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * ${K} * (1.0 + ${3 * C3} * x * x);
  }
  fn sigmoid(x : f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
  }`;

function geluNewJs(x: number): number {
  return 0.5 * x * (1 + Math.tanh(K * (x + C3 * x * x * x)));
}

function geluNewGradJs(x: number): number {
  const t = Math.tanh(K * (x + C3 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * C3 * x * x);
}

function sigmoidJs(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * Σ over rows of a [rows, cols] view of x → [cols]: one thread per column walking the rows, so neighbouring
 * threads read neighbouring addresses and no workgroup barrier is needed.
 */
export function columnSumWebGpu(backend: WebGpuBackendLike, x: tf.TensorInfo, cols: number): tf.TensorInfo {
  const rows = sizeOf(x.shape) / cols;
  const program = elementwise(
    'colsum',
    ['x'],
    [cols],
    `
    var s = 0.0;
    for (var r = 0; r < uniforms.rows; r = r + 1) { s = s + x[r * uniforms.cols + index]; }
    result[index] = s;`,
    'rows : i32, cols : i32,',
  );
  return run(backend, program, [x], intUniforms(rows, cols));
}

export function columnSumJs(x: Float32Array, cols: number): Float32Array {
  const acc = new Float64Array(cols);
  for (let i = 0; i < x.length; i++) acc[i % cols] += x[i];
  return Float32Array.from(acc);
}

// ---------------------------------------------------------------- gelu_new

defineKernel({
  name: 'WhetGeluNew',
  cpu({ x }, backend) {
    const xv = f32(backend, x);
    const out = new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i++) out[i] = geluNewJs(xv[i]);
    return backend.makeTensorInfo(x.shape, 'float32', out);
  },
  webgpu({ x }, backend) {
    return run(backend, elementwise('gelu_new', ['x'], x.shape, 'result[index] = geluNew(x[index]);', '', GELU_WGSL), [x]);
  },
});

defineKernel({
  name: 'WhetGeluNewGrad',
  cpu({ dy, x }, backend) {
    const d = f32(backend, dy);
    const xv = f32(backend, x);
    const out = new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i++) out[i] = d[i] * geluNewGradJs(xv[i]);
    return backend.makeTensorInfo(x.shape, 'float32', out);
  },
  webgpu({ dy, x }, backend) {
    return run(
      backend,
      elementwise('gelu_new_grad', ['dy', 'x'], x.shape, 'result[index] = dy[index] * geluNewGrad(x[index]);', '', GELU_WGSL),
      [dy, x],
    );
  },
});

defineGradient('WhetGeluNew', ['x'], (dy, [x]) => ({ x: () => runKernel<tf.Tensor>('WhetGeluNewGrad', { dy: dy as tf.Tensor, x }) }));

/** GPT-2's gelu_new: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))). */
export function fusedGeluNew(x: tf.Tensor): tf.Tensor {
  return runKernel<tf.Tensor>('WhetGeluNew', { x });
}

// ---------------------------------------------------------------- bias + gelu_new

defineKernel({
  name: 'WhetBiasGeluNew',
  cpu({ x, bias }, backend) {
    const xv = f32(backend, x);
    const b = f32(backend, bias);
    const cols = b.length;
    const out = new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i++) out[i] = geluNewJs(Math.fround(xv[i] + b[i % cols]));
    return backend.makeTensorInfo(x.shape, 'float32', out);
  },
  webgpu({ x, bias }, backend) {
    const cols = bias.shape[0];
    const program = elementwise(
      'bias_gelu_new',
      ['x', 'bias'],
      x.shape,
      'result[index] = geluNew(x[index] + bias[index % uniforms.cols]);',
      'cols : i32,',
      GELU_WGSL,
    );
    return run(backend, program, [x, bias], [{ type: 'int32', data: [cols] }]);
  },
});

defineKernel({
  name: 'WhetBiasGeluNewGrad',
  cpu({ dy, x, bias }, backend) {
    const d = f32(backend, dy);
    const xv = f32(backend, x);
    const b = f32(backend, bias);
    const cols = b.length;
    const dx = new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i++) dx[i] = d[i] * geluNewGradJs(Math.fround(xv[i] + b[i % cols]));
    return [backend.makeTensorInfo(x.shape, 'float32', dx), backend.makeTensorInfo([cols], 'float32', columnSumJs(dx, cols))];
  },
  webgpu({ dy, x, bias }, backend) {
    const cols = bias.shape[0];
    const program = elementwise(
      'bias_gelu_new_grad',
      ['dy', 'x', 'bias'],
      x.shape,
      'result[index] = dy[index] * geluNewGrad(x[index] + bias[index % uniforms.cols]);',
      'cols : i32,',
      GELU_WGSL,
    );
    const dx = run(backend, program, [dy, x, bias], [{ type: 'int32', data: [cols] }]);
    return [dx, columnSumWebGpu(backend, dx, cols)];
  },
});

defineGradient('WhetBiasGeluNew', ['x', 'bias'], (dy, [x, bias]) => {
  const [dx, db] = runKernel<tf.Tensor[]>('WhetBiasGeluNewGrad', { dy: dy as tf.Tensor, x, bias });
  return { x: () => dx, bias: () => db };
});

/** gelu_new(x + bias), bias [C] broadcast over the rows of x [..., C]. */
export function fusedBiasGeluNew(x: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  return runKernel<tf.Tensor>('WhetBiasGeluNew', { x, bias });
}

// ---------------------------------------------------------------- SiLU gate (SwiGLU)

defineKernel({
  name: 'WhetSiluGate',
  cpu({ gate, up }, backend) {
    const g = f32(backend, gate);
    const u = f32(backend, up);
    const out = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) out[i] = g[i] * sigmoidJs(g[i]) * u[i];
    return backend.makeTensorInfo(gate.shape, 'float32', out);
  },
  webgpu({ gate, up }, backend) {
    const program = elementwise(
      'silu_gate',
      ['gate', 'up'],
      gate.shape,
      'let g = gate[index]; result[index] = g * sigmoid(g) * up[index];',
      '',
      GELU_WGSL,
    );
    return run(backend, program, [gate, up]);
  },
});

defineKernel({
  name: 'WhetSiluGateGrad',
  cpu({ dy, gate, up }, backend) {
    const d = f32(backend, dy);
    const g = f32(backend, gate);
    const u = f32(backend, up);
    const dg = new Float32Array(g.length);
    const du = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) {
      const s = sigmoidJs(g[i]);
      du[i] = d[i] * g[i] * s;
      dg[i] = d[i] * u[i] * s * (1 + g[i] * (1 - s));
    }
    return [backend.makeTensorInfo(gate.shape, 'float32', dg), backend.makeTensorInfo(gate.shape, 'float32', du)];
  },
  webgpu({ dy, gate, up }, backend) {
    const dg = run(
      backend,
      elementwise(
        'silu_gate_dg',
        ['dy', 'gate', 'up'],
        gate.shape,
        'let g = gate[index]; let s = sigmoid(g); result[index] = dy[index] * up[index] * s * (1.0 + g * (1.0 - s));',
        '',
        GELU_WGSL,
      ),
      [dy, gate, up],
    );
    const du = run(
      backend,
      elementwise(
        'silu_gate_du',
        ['dy', 'gate'],
        gate.shape,
        'let g = gate[index]; result[index] = dy[index] * g * sigmoid(g);',
        '',
        GELU_WGSL,
      ),
      [dy, gate],
    );
    return [dg, du];
  },
});

defineGradient('WhetSiluGate', ['gate', 'up'], (dy, [gate, up]) => {
  const [dg, du] = runKernel<tf.Tensor[]>('WhetSiluGateGrad', { dy: dy as tf.Tensor, gate, up });
  return { gate: () => dg, up: () => du };
});

/** SwiGLU's gate: silu(gate) · up = gate · σ(gate) · up. */
export function fusedSiluGate(gate: tf.Tensor, up: tf.Tensor): tf.Tensor {
  return runKernel<tf.Tensor>('WhetSiluGate', { gate, up });
}

// ---------------------------------------------------------------- bias add

defineKernel({
  name: 'WhetBiasAdd',
  cpu({ x, bias }, backend) {
    const xv = f32(backend, x);
    const b = f32(backend, bias);
    const cols = b.length;
    const out = new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i++) out[i] = xv[i] + b[i % cols];
    return backend.makeTensorInfo(x.shape, 'float32', out);
  },
  webgpu({ x, bias }, backend) {
    const program = elementwise(
      'bias_add',
      ['x', 'bias'],
      x.shape,
      'result[index] = x[index] + bias[index % uniforms.cols];',
      'cols : i32,',
    );
    return run(backend, program, [x, bias], [{ type: 'int32', data: [bias.shape[0]] }]);
  },
});

defineKernel({
  name: 'WhetColumnSum',
  cpu({ x }, backend) {
    const cols = x.shape[x.shape.length - 1];
    return backend.makeTensorInfo([cols], 'float32', columnSumJs(f32(backend, x), cols));
  },
  webgpu({ x }, backend) {
    return columnSumWebGpu(backend, x, x.shape[x.shape.length - 1]);
  },
});

// dx is dy itself (the tape accepts the same tensor); db is one column sum.
defineGradient('WhetBiasAdd', [], (dy) => ({
  x: () => dy as tf.Tensor,
  bias: () => runKernel<tf.Tensor>('WhetColumnSum', { x: dy as tf.Tensor }),
}));

/** x + bias, bias [C] broadcast over the rows of x [..., C]. */
export function fusedBiasAdd(x: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  return runKernel<tf.Tensor>('WhetBiasAdd', { x, bias });
}
