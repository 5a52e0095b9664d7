// The optimizer step as kernels: the global gradient norm of every gradient (one kernel), gradients scaled by
// min(1, maxNorm / (norm + 1e-6)) (one kernel, for callers that want clipped gradients), and AdamW over every
// parameter (one kernel: moments, decoupled decay, bias correction, update, with the clipping folded in).
// On WebGPU the norm runs ⌈n/7⌉ + 1 programs (a program binds at most 8 storage buffers) and AdamW three
// small elementwise programs per parameter (a tfjs program writes one output).
import * as tf from '@tensorflow/tfjs';
import { elementwise, f32, perRow, run, sizeOf, type WebGpuBackendLike } from './backend-util';
import { defineKernel, runKernel } from './register';

type Info = tf.TensorInfo;

/** Gradients per norm program (8 storage buffers: 7 inputs + the output). */
const PER_PROGRAM = 7;

/** Threads per gradient in the norm's first stage: enough that each walks ≤ ~64 elements, at most 4096. */
function threadsFor(size: number): number {
  return Math.min(4096, Math.max(64, Math.ceil(size / 64 / 64) * 64));
}

function listed(inputs: Record<string, Info>, prefix: string, n: number): Info[] {
  return Array.from({ length: n }, (_, i) => inputs[`${prefix}${i}`]);
}

/**
 * Stage 1 (⌈n/7⌉ programs, no barriers): T threads per gradient each sum the squares of a strided slice
 * (neighbouring threads read neighbouring elements) into one partials buffer. Stage 2 (one workgroup):
 * sum the partials and take the square root.
 */
function normWebGpu(backend: WebGpuBackendLike, grads: Info[]): Info {
  const groups: { part: Info[]; threads: number; offset: number }[] = [];
  let total = 0;
  for (let i = 0; i < grads.length; i += PER_PROGRAM) {
    const part = grads.slice(i, i + PER_PROGRAM);
    const threads = threadsFor(Math.max(...part.map((g) => sizeOf(g.shape))));
    groups.push({ part, threads, offset: total });
    total += part.length * threads;
  }
  const partials = backend.makeTensorInfo([total], 'float32');
  for (const { part, threads, offset } of groups) {
    const names = part.map((_, i) => `g${i}`);
    const cases = names
      .map(
        (name, i) => `case ${i}: { for (var e = k; e < uniforms.n${i}; e = e + uniforms.threads) { let x = ${name}[e]; s = s + x * x; } }`,
      )
      .join('\n');
    const program = elementwise(
      `gnorm_${part.length}`,
      names,
      [part.length * threads],
      `
      let which = index / uniforms.threads;
      let k = index % uniforms.threads;
      var s = 0.0;
      switch which {
        ${cases}
        default: {}
      }
      result[uniforms.offset + index] = s;`,
      `offset : i32, threads : i32, ${names.map((_, i) => `n${i} : i32,`).join(' ')}`,
    );
    const u = [offset, threads, ...part.map((g) => sizeOf(g.shape))].map((v) => ({ type: 'int32' as const, data: [v] }));
    run(backend, program, part, u, 'float32', partials);
  }
  const final = perRow(
    'gnorm_final',
    ['partials'],
    [1],
    1,
    `
    var s = 0.0;
    for (var i = tid; i < uniforms.used; i = i + WG) { s = s + partials[i]; }
    let sum = reduceSum(s, tid);
    if (tid == 0) { result[0] = sqrt(sum); }`,
    'used : i32,',
    256,
  );
  const norm = run(backend, final, [partials], [{ type: 'int32', data: [total] }]);
  backend.disposeData(partials.dataId);
  return { ...norm, shape: [] };
}

defineKernel<{ n: number }>({
  name: 'WhetGlobalNorm',
  cpu(inputs, backend, { n }) {
    let s = 0;
    for (const g of listed(inputs, 'g', n)) {
      const v = f32(backend, g);
      for (let i = 0; i < v.length; i++) s += v[i] * v[i];
    }
    return backend.makeTensorInfo([], 'float32', new Float32Array([Math.sqrt(s)]));
  },
  webgpu(inputs, backend, { n }) {
    return normWebGpu(backend, listed(inputs, 'g', n));
  },
});

/** √(Σ‖g‖²) over all gradients, as a scalar (one kernel). */
export function fusedGlobalNorm(grads: tf.Tensor[]): tf.Scalar {
  if (grads.length === 0) return tf.scalar(0);
  const inputs: Record<string, tf.Tensor> = {};
  grads.forEach((g, i) => (inputs[`g${i}`] = g));
  return runKernel<tf.Scalar>('WhetGlobalNorm', inputs, { n: grads.length });
}

/** WGSL: the clipping coefficient from the norm input. */
const COEF = 'let coef = min(uniforms.maxNorm / (norm[0] + 1e-6), 1.0);';

defineKernel<{ n: number; maxNorm: number }>({
  name: 'WhetClipScale',
  cpu(inputs, backend, { n, maxNorm }) {
    const norm = f32(backend, inputs.norm)[0];
    const coef = Math.fround(Math.min(Math.fround(maxNorm / Math.fround(norm + 1e-6)), 1));
    return listed(inputs, 'g', n).map((g) => {
      const v = f32(backend, g);
      const out = new Float32Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = v[i] * coef;
      return backend.makeTensorInfo(g.shape, 'float32', out);
    });
  },
  webgpu(inputs, backend, { n, maxNorm }) {
    return listed(inputs, 'g', n).map((g) =>
      run(
        backend,
        elementwise('clip_scale', ['g', 'norm'], g.shape, `${COEF} result[index] = g[index] * coef;`, 'maxNorm : f32,'),
        [g, inputs.norm],
        [{ type: 'float32', data: [maxNorm] }],
      ),
    );
  },
});

/** Each gradient times min(1, maxNorm / (norm + 1e-6)) (one kernel; new tensors). */
export function fusedClipScale(grads: tf.Tensor[], norm: tf.Scalar, maxNorm: number): tf.Tensor[] {
  if (grads.length === 0) return [];
  const inputs: Record<string, tf.Tensor> = { norm };
  grads.forEach((g, i) => (inputs[`g${i}`] = g));
  const out = runKernel<tf.Tensor | tf.Tensor[]>('WhetClipScale', inputs, { n: grads.length, maxNorm });
  return Array.isArray(out) ? out : [out];
}

export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** √(1 − β₂ᵗ) and lr / (1 − β₁ᵗ), as torch computes them. */
  bc2Sqrt: number;
  stepSize: number;
  /** Per parameter: 1 − lr·weightDecay, or 1 when exempt. */
  decays: number[];
  /** Clip to this global norm (the `norm` input); 0: no clipping. */
  maxNorm: number;
}

type AdamWAttrs = AdamWStep & { n: number; stacked: boolean[] };

// Per parameter k: inputs p{k}, g{k} and its moments, stacked (mv{k}: [2, ...shape], m then v) or apart (m{k},
// v{k}), plus the norm when clipping; outputs the new parameters, then each one's new moments in the same form.
defineKernel<AdamWAttrs>({
  name: 'WhetAdamW',
  cpu(inputs, backend, a) {
    const { n, beta1, beta2, eps, bc2Sqrt, stepSize, decays, maxNorm, stacked } = a;
    const fr = Math.fround;
    let coef = 1;
    if (maxNorm > 0) coef = fr(Math.min(fr(maxNorm / fr(f32(backend, inputs.norm)[0] + 1e-6)), 1));
    const c1 = fr(1 - beta1);
    const c2 = fr(1 - beta2);
    const ps: Info[] = [];
    const moments: Info[] = [];
    for (let k = 0; k < n; k++) {
      const p = f32(backend, inputs[`p${k}`]);
      const g = f32(backend, inputs[`g${k}`]);
      const size = p.length;
      // m at m[mo + i], v at v[vo + i]: one array (offsets 0 and size) or two
      const [m, v] = stacked[k]
        ? [f32(backend, inputs[`mv${k}`]), f32(backend, inputs[`mv${k}`])]
        : [f32(backend, inputs[`m${k}`]), f32(backend, inputs[`v${k}`])];
      const vo = stacked[k] ? size : 0;
      const p1 = new Float32Array(size);
      const m1 = new Float32Array(stacked[k] ? 2 * size : size);
      const v1 = stacked[k] ? m1 : new Float32Array(size);
      const decay = decays[k];
      for (let i = 0; i < size; i++) {
        const gi = coef === 1 ? g[i] : fr(g[i] * coef);
        m1[i] = fr(m[i] * beta1) + fr(gi * c1);
        v1[vo + i] = fr(v[vo + i] * beta2) + fr(fr(gi * gi) * c2);
        const denom = fr(fr(Math.sqrt(v1[vo + i]) / bc2Sqrt) + eps);
        const decayed = decay === 1 ? p[i] : fr(p[i] * decay);
        p1[i] = decayed - fr(fr(m1[i] / denom) * stepSize);
      }
      const shape = inputs[`p${k}`].shape;
      ps.push(backend.makeTensorInfo(shape, 'float32', p1));
      if (stacked[k]) moments.push(backend.makeTensorInfo([2, ...shape], 'float32', m1));
      else moments.push(backend.makeTensorInfo(shape, 'float32', m1), backend.makeTensorInfo(shape, 'float32', v1));
    }
    return [...ps, ...moments];
  },
  webgpu(inputs, backend, a) {
    const { n, beta1, beta2, eps, bc2Sqrt, stepSize, decays, maxNorm, stacked } = a;
    const clip = maxNorm > 0;
    const ps: Info[] = [];
    const moments: Info[] = [];
    const f = (x: number) => ({ type: 'float32' as const, data: [x] });
    // New moments of a parameter of `size` elements: element index + base < size is the first moment's, the
    // rest the second's. Stacked: both at once (base 0, 2·size elements); apart: m (base 0) or v (base size).
    const momentProgram = (shape: number[]) =>
      elementwise(
        `adamw_moments${clip ? '_clip' : ''}`,
        ['g', 'mom', ...(clip ? ['norm'] : [])],
        shape,
        `${clip ? COEF : ''}
        let gi = g[index % uniforms.n]${clip ? ' * coef' : ''};
        if (index + uniforms.base < uniforms.n) {
          result[index] = mom[index] * uniforms.beta1 + gi * uniforms.c1;
        } else {
          result[index] = mom[index] * uniforms.beta2 + (gi * gi) * uniforms.c2;
        }`,
        'n : i32, base : i32, beta1 : f32, c1 : f32, beta2 : f32, c2 : f32, maxNorm : f32,',
      );
    // The new parameter from the new moments: m1[i] and v1[vo + i] (the same tensor when stacked, vo = size).
    const pProgram = (shape: number[]) =>
      elementwise(
        'adamw_p',
        ['p', 'm1', 'v1'],
        shape,
        `
        let denom = sqrt(v1[index + uniforms.vo]) / uniforms.bc2Sqrt + uniforms.eps;
        result[index] = p[index] * uniforms.decay - (m1[index] / denom) * uniforms.stepSize;`,
        'vo : i32, bc2Sqrt : f32, eps : f32, decay : f32, stepSize : f32,',
      );
    const moment = (g: Info, mom: Info, size: number, base: number) =>
      run(
        backend,
        momentProgram(mom.shape),
        [g, mom, ...(clip ? [inputs.norm] : [])],
        [{ type: 'int32', data: [size] }, { type: 'int32', data: [base] }, f(beta1), f(1 - beta1), f(beta2), f(1 - beta2), f(maxNorm)],
      );
    for (let k = 0; k < n; k++) {
      const p = inputs[`p${k}`];
      const g = inputs[`g${k}`];
      const size = sizeOf(p.shape);
      const news = stacked[k]
        ? [moment(g, inputs[`mv${k}`], size, 0)]
        : [moment(g, inputs[`m${k}`], size, 0), moment(g, inputs[`v${k}`], size, size)];
      const [m1, v1] = stacked[k] ? [news[0], news[0]] : news;
      const uniforms = [{ type: 'int32' as const, data: [stacked[k] ? size : 0] }, f(bc2Sqrt), f(eps), f(decays[k]), f(stepSize)];
      ps.push(run(backend, pProgram(p.shape), [p, m1, v1], uniforms));
      moments.push(...news);
    }
    return [...ps, ...moments];
  },
});

/**
 * One AdamW step over every parameter in one kernel: returns the new parameters and their new moments, each
 * parameter's in the form given ([mv] stacked [2, ...shape], first then second moment, or [m, v]); new
 * tensors, in the order given. `norm` (the global gradient norm) with `maxNorm` > 0 clips first.
 */
export function fusedAdamW(
  params: tf.Tensor[],
  grads: tf.Tensor[],
  moments: tf.Tensor[][],
  step: AdamWStep,
  norm?: tf.Scalar,
): { params: tf.Tensor[]; moments: tf.Tensor[][] } {
  const n = params.length;
  if (n === 0) return { params: [], moments: [] };
  if (step.maxNorm > 0 && !norm) throw new Error('fusedAdamW: clipping needs the gradient norm');
  const stacked = moments.map((m) => m.length === 1);
  const inputs: Record<string, tf.Tensor> = {};
  for (let k = 0; k < n; k++) {
    Object.assign(inputs, { [`p${k}`]: params[k], [`g${k}`]: grads[k] });
    if (stacked[k]) inputs[`mv${k}`] = moments[k][0];
    else Object.assign(inputs, { [`m${k}`]: moments[k][0], [`v${k}`]: moments[k][1] });
  }
  if (step.maxNorm > 0) inputs.norm = norm!;
  const out = runKernel<tf.Tensor[]>('WhetAdamW', inputs, { ...step, n, stacked });
  let next = n;
  return { params: out.slice(0, n), moments: stacked.map((s) => out.slice(next, (next += s ? 1 : 2))) };
}
