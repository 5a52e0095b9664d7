// Micro-benchmark of one matmul shape: the tiled kernel (src/core/kernels/matmul.ts) against tfjs's own
// BatchMatMul on the same inputs, on whatever backend is current. Each timing awaits a data read of the
// last result, so queued GPU work is included; compilation is left to the warm-up. Checks the tiled result
// against a float64 reference (every row, or evenly spaced rows for very large shapes). `transposeB`: B is
// [N, K] (Llama-style linear weights, a tied LM head); with at most 4 rows that is the skinny subgroup
// program where the device has subgroups, timed also with them switched off (ms_tiled_no_subgroups).
import * as tf from '@tensorflow/tfjs';
import { setSubgroups, subgroupsActive } from '../src/core/kernels/subgroups';
import { tiledMatMul, usesSubgroupProgram } from '../src/core/kernels/matmul';

export interface MatmulBenchOptions {
  m: number;
  n: number;
  k: number;
  batch?: number;
  transposeB?: boolean;
  iters?: number;
  warmup?: number;
  log?: (msg: string) => void;
}

export interface MatmulBenchResult {
  kernel: 'matmul';
  m: number;
  n: number;
  k: number;
  batch: number;
  transpose_b: boolean;
  /**
   * Whether the product ran the subgroup program (webgpu with the feature and a usable layout, and a skinny
   * product: at most 4 rows against B as [N, K]); the tiles use none.
   */
  subgroups: boolean;
  iters: number;
  ms_tiled: number;
  /** With subgroups on: the tiled kernel's time with them switched off (null when they were off anyway). */
  ms_tiled_no_subgroups: number | null;
  ms_tfjs: number;
  gflops_tiled: number;
  gflops_tfjs: number;
  /** ms_tfjs / ms_tiled: above 1 when the tiled kernel is faster. */
  speedup: number;
  /** Of the tiled result: max |Δ| / max |reference| against float64. */
  max_rel_err: number;
}

/** Multiply-adds checked against float64 at most; bigger shapes check a subset of rows. */
const REFERENCE_BUDGET = 2 ** 30;

function uniform(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * max |got − ref| / max |ref| over the checked rows of C[b] = A[b] op(B[b]) (A [B, M, K], B [B, K, N], or
 * [B, N, K] with `tB`).
 */
function relErrAgainstFloat64(
  got: Float32Array,
  a: Float32Array,
  b: Float32Array,
  batch: number,
  m: number,
  n: number,
  k: number,
  tB: boolean,
): number {
  const rows = Math.max(1, Math.min(m, Math.floor(REFERENCE_BUDGET / Math.max(1, batch * n * k))));
  const step = m / rows;
  const acc = new Float64Array(n);
  let num = 0;
  let den = 0;
  for (let p = 0; p < batch; p++)
    for (let r = 0; r < rows; r++) {
      const i = Math.floor(r * step);
      acc.fill(0);
      for (let q = 0; q < k; q++) {
        const av = a[p * m * k + i * k + q];
        const base = p * k * n;
        if (tB) for (let j = 0; j < n; j++) acc[j] += av * b[base + j * k + q];
        else for (let j = 0; j < n; j++) acc[j] += av * b[base + q * n + j];
      }
      for (let j = 0; j < n; j++) {
        num = Math.max(num, Math.abs(got[p * m * n + i * n + j] - acc[j]));
        den = Math.max(den, Math.abs(acc[j]));
      }
    }
  return den === 0 ? num : num / den;
}

/** Mean ms per call over `iters` calls queued back to back, ended by one awaited read. */
async function time(f: () => tf.Tensor, iters: number, warmup: number): Promise<number> {
  for (let i = 0; i < warmup; i++) {
    const y = f();
    await y.data();
    y.dispose();
  }
  const t0 = performance.now();
  let last: tf.Tensor | null = null;
  for (let i = 0; i < iters; i++) {
    last?.dispose();
    last = f();
  }
  await last!.data();
  const ms = (performance.now() - t0) / iters;
  last!.dispose();
  return ms;
}

export async function benchMatmul(opts: MatmulBenchOptions): Promise<MatmulBenchResult> {
  const { m, n, k } = opts;
  const batch = opts.batch ?? 1;
  const iters = opts.iters ?? 10;
  const warmup = opts.warmup ?? 2;
  const log = opts.log ?? (() => {});
  const av = uniform(batch * m * k, 1);
  const bv = uniform(batch * k * n, 2);
  const a = tf.tensor(av, batch > 1 ? [batch, m, k] : [m, k]);
  const tB = !!opts.transposeB;
  const bShape = tB ? [n, k] : [k, n];
  const b = tf.tensor(bv, batch > 1 ? [batch, ...bShape] : bShape);
  const tiled = () => tiledMatMul(a, b, { transposeB: tB });
  const plain = () => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, tB);
  const subgroups = subgroupsActive() && usesSubgroupProgram(m, n, k, false, tB);

  log(
    `matmul ${batch}×[${m}×${k}]·[${bShape.join('×')}]${tB ? 'ᵀ' : ''} on ${tf.getBackend()}${subgroups ? ' (subgroups)' : ''}: checking against float64`,
  );
  const y = tiled();
  const maxRelErr = relErrAgainstFloat64((await y.data()) as Float32Array, av, bv, batch, m, n, k, tB);
  y.dispose();

  // Two alternating rounds, best of each: the machine may be shared, so a single round can be unlucky.
  let msTiled = Infinity;
  let msTfjs = Infinity;
  let msNoSub = Infinity;
  for (let round = 0; round < 2; round++) {
    msTiled = Math.min(msTiled, await time(tiled, iters, round === 0 ? warmup : 0));
    log(`  round ${round + 1}: tiled ${msTiled.toFixed(2)} ms`);
    msTfjs = Math.min(msTfjs, await time(plain, iters, round === 0 ? warmup : 0));
    log(`  round ${round + 1}: tfjs  ${msTfjs.toFixed(2)} ms`);
    if (subgroups) {
      setSubgroups(false);
      try {
        msNoSub = Math.min(msNoSub, await time(tiled, iters, round === 0 ? warmup : 0));
      } finally {
        setSubgroups(true);
      }
      log(`  round ${round + 1}: tiled without subgroups ${msNoSub.toFixed(2)} ms`);
    }
  }
  tf.dispose([a, b]);
  const gflops = (ms: number) => (2 * m * n * k * batch) / (ms * 1e6);
  return {
    kernel: 'matmul',
    m,
    n,
    k,
    batch,
    transpose_b: tB,
    subgroups,
    iters,
    ms_tiled: msTiled,
    ms_tiled_no_subgroups: subgroups ? msNoSub : null,
    ms_tfjs: msTfjs,
    gflops_tiled: gflops(msTiled),
    gflops_tfjs: gflops(msTfjs),
    speedup: msTfjs / msTiled,
    max_rel_err: maxRelErr,
  };
}
