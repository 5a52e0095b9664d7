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

type AdamWAttrs = AdamWStep & { n: number };

// Inputs p{k}, g{k}, mv{k} (the moments stacked [2, ...shape]: m, then v) and the norm when clipping;
// outputs the new parameters, then the new stacked moments.
defineKernel<AdamWAttrs>({
  name: 'WhetAdamW',
  cpu(inputs, backend, a) {
    const { n, beta1, beta2, eps, bc2Sqrt, stepSize, decays, maxNorm } = a;
    const fr = Math.fround;
    let coef = 1;
    if (maxNorm > 0) coef = fr(Math.min(fr(maxNorm / fr(f32(backend, inputs.norm)[0] + 1e-6)), 1));
    const c1 = fr(1 - beta1);
    const c2 = fr(1 - beta2);
    const ps: Info[] = [];
    const mvs: Info[] = [];
    for (let k = 0; k < n; k++) {
      const p = f32(backend, inputs[`p${k}`]);
      const g = f32(backend, inputs[`g${k}`]);
      const mv = f32(backend, inputs[`mv${k}`]);
      const size = p.length;
      const p1 = new Float32Array(size);
      const mv1 = new Float32Array(2 * size);
      const decay = decays[k];
      for (let i = 0; i < size; i++) {
        const gi = coef === 1 ? g[i] : fr(g[i] * coef);
        const m1 = (mv1[i] = fr(mv[i] * beta1) + fr(gi * c1));
        const v1 = (mv1[size + i] = fr(mv[size + i] * beta2) + fr(fr(gi * gi) * c2));
        const denom = fr(fr(Math.sqrt(v1) / bc2Sqrt) + eps);
        const decayed = decay === 1 ? p[i] : fr(p[i] * decay);
        p1[i] = decayed - fr(fr(m1 / denom) * stepSize);
      }
      ps.push(backend.makeTensorInfo(inputs[`p${k}`].shape, 'float32', p1));
      mvs.push(backend.makeTensorInfo(inputs[`mv${k}`].shape, 'float32', mv1));
    }
    return [...ps, ...mvs];
  },
  webgpu(inputs, backend, a) {
    const { n, beta1, beta2, eps, bc2Sqrt, stepSize, decays, maxNorm } = a;
    const clip = maxNorm > 0;
    const extra = clip ? ['norm'] : [];
    const ps: Info[] = [];
    const mvs: Info[] = [];
    const f = (x: number) => ({ type: 'float32' as const, data: [x] });
    // Both moments in one program: element index < size of the parameter is m's, the rest v's.
    const mvProgram = (shape: number[]) =>
      elementwise(
        `adamw_mv${clip ? '_clip' : ''}`,
        ['g', 'mv', ...extra],
        shape,
        `let half = uniforms.size / 2;
        ${clip ? COEF : ''}
        let gi = g[index % half]${clip ? ' * coef' : ''};
        if (index < half) {
          result[index] = mv[index] * uniforms.beta1 + gi * uniforms.c1;
        } else {
          result[index] = mv[index] * uniforms.beta2 + (gi * gi) * uniforms.c2;
        }`,
        'beta1 : f32, c1 : f32, beta2 : f32, c2 : f32, maxNorm : f32,',
      );
    const pProgram = (shape: number[]) =>
      elementwise(
        'adamw_p',
        ['p', 'mv1'],
        shape,
        `
        let denom = sqrt(mv1[index + uniforms.size]) / uniforms.bc2Sqrt + uniforms.eps;
        result[index] = p[index] * uniforms.decay - (mv1[index] / denom) * uniforms.stepSize;`,
        'bc2Sqrt : f32, eps : f32, decay : f32, stepSize : f32,',
      );
    for (let k = 0; k < n; k++) {
      const p = inputs[`p${k}`];
      const mv = inputs[`mv${k}`];
      const mvIns = [inputs[`g${k}`], mv, ...(clip ? [inputs.norm] : [])];
      const mv1 = run(backend, mvProgram(mv.shape), mvIns, [f(beta1), f(1 - beta1), f(beta2), f(1 - beta2), f(maxNorm)]);
      ps.push(run(backend, pProgram(p.shape), [p, mv1], [f(bc2Sqrt), f(eps), f(decays[k]), f(stepSize)]));
      mvs.push(mv1);
    }
    return [...ps, ...mvs];
  },
});

/**
 * One AdamW step over every parameter in one kernel: returns the new parameters and their new moments,
 * stacked [2, ...shape] as `moments` (first, then second; new tensors, in the order given); `norm` (the
 * global gradient norm) with `maxNorm` > 0 clips first.
 */
export function fusedAdamW(
  params: tf.Tensor[],
  grads: tf.Tensor[],
  moments: tf.Tensor[],
  step: AdamWStep,
  norm?: tf.Scalar,
): { params: tf.Tensor[]; moments: tf.Tensor[] } {
  const n = params.length;
  if (n === 0) return { params: [], moments: [] };
  if (step.maxNorm > 0 && !norm) throw new Error('fusedAdamW: clipping needs the gradient norm');
  const inputs: Record<string, tf.Tensor> = {};
  for (let k = 0; k < n; k++) Object.assign(inputs, { [`p${k}`]: params[k], [`g${k}`]: grads[k], [`mv${k}`]: moments[k] });
  if (step.maxNorm > 0) inputs.norm = norm!;
  const out = runKernel<tf.Tensor[]>('WhetAdamW', inputs, { ...step, n });
  return { params: out.slice(0, n), moments: out.slice(n) };
}
