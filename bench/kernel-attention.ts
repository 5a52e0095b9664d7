// Micro-benchmark of causal attention: the flash-style kernel (fused path) against the plain ops it replaces
// (setFusedKernels(false)), through layers.ts attention() on one backend. Median wall times of forward and of
// forward + backward (each awaited to the last value), peak engine bytes of forward + backward, and the
// largest relative difference of output and dq/dk/dv between the two paths.
import * as tf from '@tensorflow/tfjs';
import { fusedKernelsEnabled, setFusedKernels } from '../src/core/kernels';
import { attention, attentionKeys } from '../src/core/models/layers';

export interface AttentionBenchOptions {
  b: number;
  h: number;
  kvHeads: number;
  t: number;
  d: number;
  iters: number;
  warmup: number;
  log?: (msg: string) => void;
}

export interface AttentionBenchResult {
  kernel: 'attention';
  b: number;
  h: number;
  kvHeads: number;
  t: number;
  d: number;
  iters: number;
  ms_fwd_flash: number;
  ms_fwdbwd_flash: number;
  ms_fwd_plain: number;
  ms_fwdbwd_plain: number;
  peak_bytes_flash: number;
  peak_bytes_plain: number;
  max_rel_err: number;
}

interface PathRun {
  msFwd: number;
  msFwdBwd: number;
  peakBytes: number;
  /** Output and dq, dk, dv of one run, for the comparison. */
  values: Float32Array[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** max |a − b| / max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

async function runPath(fused: boolean, xs: tf.Tensor4D[], keys: tf.Tensor2D, r: tf.Tensor, o: AttentionBenchOptions): Promise<PathRun> {
  setFusedKernels(fused);
  const [q, k, v] = xs;
  const forward = () => tf.tidy(() => attention(q, k, v, keys, 0, {})); // the plain path's intermediates are not kept
  const grads = () =>
    tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(tf.mul(attention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, keys, 0, {}), r)),
    )(xs);
  const timeIt = async (f: () => tf.Tensor | tf.Tensor[]): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < o.warmup + o.iters; i++) {
      const t0 = performance.now();
      const out = f();
      const ts = Array.isArray(out) ? out : [out];
      for (const t of ts) await t.data();
      if (i >= o.warmup) times.push(performance.now() - t0);
      tf.dispose(ts);
    }
    return median(times);
  };
  const msFwd = await timeIt(forward);
  const msFwdBwd = await timeIt(grads);
  const start = tf.memory().numBytes;
  const info = await tf.profile(() => [forward(), ...grads()]);
  const results = info.result as tf.Tensor[];
  const values = await Promise.all(results.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(results);
  return { msFwd, msFwdBwd, peakBytes: info.peakBytes - start, values };
}

/** Runs both paths on the same random q, k, v (causal mask) and reports times, peak bytes and the difference. */
export async function benchAttention(opts: AttentionBenchOptions): Promise<AttentionBenchResult> {
  const { b, h, kvHeads, t, d, iters } = opts;
  if (h % kvHeads !== 0) throw new Error(`heads (${h}) must be a multiple of kv heads (${kvHeads})`);
  const log = opts.log ?? (() => {});
  const previous = fusedKernelsEnabled();
  const xs = [
    tf.randomNormal([b, h, t, d], 0, 1, 'float32', 1),
    tf.randomNormal([b, kvHeads, t, d], 0, 1, 'float32', 2),
    tf.randomNormal([b, kvHeads, t, d], 0, 1, 'float32', 3),
  ] as tf.Tensor4D[];
  const r = tf.randomNormal([b, t, h * d], 0, 1, 'float32', 4);
  const keys = attentionKeys(t, 0);
  try {
    log(`attention b=${b} h=${h} kv=${kvHeads} t=${t} d=${d}: flash`);
    const flash = await runPath(true, xs, keys, r, opts);
    log(`flash: fwd ${flash.msFwd.toFixed(1)} ms, fwd+bwd ${flash.msFwdBwd.toFixed(1)} ms; plain`);
    const plain = await runPath(false, xs, keys, r, opts);
    log(`plain: fwd ${plain.msFwd.toFixed(1)} ms, fwd+bwd ${plain.msFwdBwd.toFixed(1)} ms`);
    const maxRelErr = Math.max(...flash.values.map((f, i) => relErr(f, plain.values[i])));
    return {
      kernel: 'attention',
      b,
      h,
      kvHeads,
      t,
      d,
      iters,
      ms_fwd_flash: flash.msFwd,
      ms_fwdbwd_flash: flash.msFwdBwd,
      ms_fwd_plain: plain.msFwd,
      ms_fwdbwd_plain: plain.msFwdBwd,
      peak_bytes_flash: flash.peakBytes,
      peak_bytes_plain: plain.peakBytes,
      max_rel_err: maxRelErr,
    };
  } finally {
    setFusedKernels(previous);
    tf.dispose([...xs, r, keys]);
  }
}
