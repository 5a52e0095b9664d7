// Flash-style attention (src/core/kernels/attention.ts) against the plain path it replaces (layers.ts
// attention() with setFusedKernels(false): matmul, softmax, matmul, repeat_interleave for grouped heads) on
// random odd sizes: causal, key padding (with fully masked rows), a KV-cache offset, grouped and plain heads;
// the bias the plain path builds from the key mask, by hand; dropout on the probabilities (the same hashed
// mask as the plain path's dropout of its probability tensor).
// Values within 1e-4 and dq/dk/dv within 1e-3 (max |Δ| / max |ref|), on the cpu and the webgpu backend; and
// the memory it claims: no [B, H, T, S] tensor, nor a [T, S] mask, at any point of forward + backward.
import { describe, it, expect, afterEach } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { fusedAttention, setFusedKernels, withPlainOps } from '../../../../src/core/kernels';
import { attention, attentionBias, attentionKeys } from '../../../../src/core/models/layers';
import { relErr } from '../../../helpers';

const FWD = 1e-4;
const GRAD = 1e-3;
let seed = 11;
const randn = (shape: number[], scale = 1) => tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed++), scale));

afterEach(() => setFusedKernels(true));

/** The plain path: the same functions with the fused kernels switched off. */
const plain = withPlainOps;

interface Case {
  b: number;
  h: number;
  kv: number;
  t: number;
  d: number;
  past?: number;
  /** Left-pad row 1 of the batch by this many key positions (its first query rows then see only padding). */
  pad?: number;
}

/** The [B|1, S] key mask of a case, as the models build it. */
function keysOf(c: Case): tf.Tensor2D {
  const past = c.past ?? 0;
  if (!c.pad) return attentionKeys(c.t, past);
  const s = past + c.t;
  const m = new Int32Array(c.b * s).fill(1);
  for (let j = 0; j < c.pad; j++) m[(1 % c.b) * s + j] = 0;
  const mask = tf.tensor2d(m, [c.b, s], 'int32');
  const keys = attentionKeys(c.t, past, mask);
  mask.dispose();
  return keys;
}

async function expectClose(a: tf.Tensor, b: tf.Tensor, tol: number, what: string): Promise<void> {
  expect(a.shape, what).toEqual(b.shape);
  const err = relErr(await a.data(), await b.data());
  expect(Number.isFinite(err), `${what}: ${err}`).toBe(true);
  expect(err, what).toBeLessThanOrEqual(tol);
}

/** Dropout on the probabilities: `rate`, and the batch is a slice starting at sequence `start` of a larger one. */
interface Drop {
  rate: number;
  start: number;
}

async function checkCase(c: Case, drop?: Drop): Promise<void> {
  const s = (c.past ?? 0) + c.t;
  const name = `B${c.b} H${c.h}/K${c.kv} T${c.t} S${s} D${c.d}${c.pad ? ` pad${c.pad}` : ''}${drop ? ` dropout ${drop.rate} from ${drop.start}` : ''}`;
  const q = randn([c.b, c.h, c.t, c.d], 1.5);
  const k = randn([c.b, c.kv, s, c.d], 1.5);
  const v = randn([c.b, c.kv, s, c.d]);
  const keys = keysOf(c);
  const scale = 1 / Math.sqrt(c.d);
  // with dropout, the plain path's mask is hashDropout's on its [B, H, T, S] probabilities (layers.ts dropout)
  const seedOf = 1234;
  const opts = drop ? { training: true, nextSeed: () => seedOf, slice: { start: drop.start, rows: c.b } } : {};
  const fusedDrop = drop && { rate: drop.rate, seed: seedOf, offset: drop.start * c.h * c.t * s };
  const fused = (a: tf.Tensor, b: tf.Tensor, x: tf.Tensor) =>
    fusedAttention(a as tf.Tensor4D, b as tf.Tensor4D, x as tf.Tensor4D, keys, scale, fusedDrop);
  const reference = (a: tf.Tensor, b: tf.Tensor, x: tf.Tensor) =>
    attention(a as tf.Tensor4D, b as tf.Tensor4D, x as tf.Tensor4D, keys, drop?.rate ?? 0, opts);

  const yf = fused(q, k, v);
  const yp = plain(() => reference(q, k, v));
  await expectClose(yf, yp, FWD, `${name} forward`);
  // Σ out · R, R random: every output element gets its own upstream gradient (padded rows included).
  const r = randn(yf.shape);
  const gf = tf.grads((a: tf.Tensor, b: tf.Tensor, x: tf.Tensor) => tf.sum(tf.mul(fused(a, b, x), r)))([q, k, v]);
  const gp = plain(() => tf.grads((a: tf.Tensor, b: tf.Tensor, x: tf.Tensor) => tf.sum(tf.mul(reference(a, b, x), r)))([q, k, v]));
  for (const [i, what] of ['dq', 'dk', 'dv'].entries()) await expectClose(gf[i], gp[i], GRAD, `${name} ${what}`);
  tf.dispose([q, k, v, keys, yf, yp, r, ...gf, ...gp]);
}

describe('flash attention with dropout', () => {
  // the hashed mask applied tile by tile and drawn again in the backward, against the plain path's dropout
  // of its probability tensor: grouped heads, padding, a KV-cache offset, a slice of a larger batch
  for (const [c, drop] of [
    [
      { b: 2, h: 4, kv: 2, t: 13, d: 8, pad: 3 },
      { rate: 0.3, start: 0 },
    ],
    [
      { b: 1, h: 3, kv: 1, t: 9, d: 6, past: 4 },
      { rate: 0.1, start: 5 },
    ],
    [
      { b: 2, h: 2, kv: 2, t: 70, d: 4 },
      { rate: 0.5, start: 1 },
    ],
    // a sequence whose 162 probabilities straddle index 2^32 of the whole batch's
    [
      { b: 1, h: 2, kv: 1, t: 9, d: 4 },
      { rate: 0.5, start: Math.floor(2 ** 32 / 162) },
    ],
  ] as [Case, Drop][])
    it(`B${c.b} H${c.h}/K${c.kv} T${c.t} D${c.d} dropout ${drop.rate} from sequence ${drop.start}`, () => checkCase(c, drop));

  it('draws other masks for other seeds (the dropout is on)', async () => {
    const [q, k, v] = [randn([1, 2, 8, 4]), randn([1, 2, 8, 4]), randn([1, 2, 8, 4])];
    const keys = attentionKeys(8, 0);
    const run = (seed: number) =>
      fusedAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, keys, 0.5, { rate: 0.5, seed, offset: 0 });
    const [a, b, none] = [run(1), run(2), fusedAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, keys, 0.5)];
    expect(relErr(await a.data(), await b.data())).toBeGreaterThan(0.05);
    expect(relErr(await a.data(), await none.data())).toBeGreaterThan(0.05);
    tf.dispose([q, k, v, keys, a, b, none]);
  });
});

describe('attention mask', () => {
  it("the plain path's bias: causal after past positions, padded keys masked", async () => {
    // T = 2 new positions after 1 cached one, sequence 1 left-padded by one key: query i sees keys j ≤ 1 + i.
    const mask = tf.tensor2d(
      [
        [1, 1, 1],
        [0, 1, 1],
      ],
      [2, 3],
      'int32',
    );
    const keys = attentionKeys(2, 1, mask);
    const bias = attentionBias(2, keys);
    const N = -1e9;
    expect(bias.shape).toEqual([2, 1, 2, 3]);
    expect(Array.from(await bias.data())).toEqual([0, 0, N, 0, 0, 0, N, 0, N, N, 0, 0]);
    const causal = attentionBias(2, attentionKeys(2, 1));
    expect(causal.shape).toEqual([1, 1, 2, 3]);
    expect(Array.from(await causal.data())).toEqual([0, 0, N, 0, 0, 0]);
    tf.dispose([mask, keys, bias, causal]);
  });
});

describe('flash attention matches the plain path', () => {
  it('causal, grouped heads (H=4, K=2), T = 1, 7, 33, 70', async () => {
    await checkCase({ b: 2, h: 4, kv: 2, t: 7, d: 8 });
    await checkCase({ b: 1, h: 4, kv: 2, t: 33, d: 16 });
    await checkCase({ b: 1, h: 4, kv: 2, t: 70, d: 64 });
    await checkCase({ b: 2, h: 4, kv: 2, t: 1, d: 16 });
  });

  it('causal, one key/value head per query head (H=K)', async () => {
    await checkCase({ b: 2, h: 4, kv: 4, t: 33, d: 8 });
    await checkCase({ b: 1, h: 4, kv: 4, t: 70, d: 16 });
  });

  it('key padding, including query rows that see only padding', async () => {
    await checkCase({ b: 2, h: 4, kv: 2, t: 33, d: 64, pad: 5 });
    await checkCase({ b: 2, h: 4, kv: 4, t: 7, d: 16, pad: 3 });
    // Longer than the tiles, padding over half of one sequence: the causal tile skipping stays off for the
    // tiles of rows that see no key and on for the rest.
    await checkCase({ b: 2, h: 4, kv: 2, t: 70, d: 16, pad: 40 });
  });

  it('past positions (KV cache): T < S, with and without padding', async () => {
    await checkCase({ b: 1, h: 4, kv: 2, t: 1, d: 64, past: 40 });
    await checkCase({ b: 2, h: 4, kv: 2, t: 7, d: 8, past: 29, pad: 4 });
    await checkCase({ b: 2, h: 4, kv: 4, t: 33, d: 16, past: 37 });
  });

  it('a head dim of 128 (the largest the WGSL tiles are sized for)', async () => {
    await checkCase({ b: 1, h: 2, kv: 1, t: 33, d: 128, past: 3 });
  });
});

/** Runs forward + backward once; peak engine bytes above the start and the largest single backend allocation. */
async function footprint(
  f: (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.Tensor,
  xs: tf.Tensor[],
): Promise<{ peak: number; largest: number }> {
  const backend = tf.backend() as unknown as { makeTensorInfo: (shape: number[], ...rest: unknown[]) => tf.TensorInfo };
  const own = Object.prototype.hasOwnProperty.call(backend, 'makeTensorInfo');
  const orig = backend.makeTensorInfo;
  let largest = 0;
  backend.makeTensorInfo = function (shape: number[], ...rest: unknown[]) {
    largest = Math.max(largest, shape.reduce((a, b) => a * b, 1) * 4);
    return orig.call(this, shape, ...rest);
  };
  try {
    const start = tf.memory().numBytes;
    const info = await tf.profile(() => {
      const [gq, gk, gv] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(f(a, b, c)))(xs);
      return [gq, gk, gv];
    });
    const result = info.result as tf.Tensor[];
    await result[0].data();
    tf.dispose(result);
    return { peak: info.peakBytes - start, largest };
  } finally {
    if (own) backend.makeTensorInfo = orig;
    else delete (backend as { makeTensorInfo?: unknown }).makeTensorInfo;
  }
}

describe('flash attention memory', () => {
  it('forward + backward never holds a B×H×T×S tensor, nor a T×S mask (the plain path does)', async () => {
    const [b, h, kv, t, d] = [1, 4, 2, 256, 8];
    const scoresBytes = b * h * t * t * 4;
    const maskBytes = t * t * 4;
    const xs = [randn([b, h, t, d]), randn([b, kv, t, d]), randn([b, kv, t, d])];
    const scale = 1 / Math.sqrt(d);
    // The key mask is built inside, as the models build it per forward: it counts too.
    const flash = await footprint(
      (q, k, v) => fusedAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, attentionKeys(t, 0), scale),
      xs,
    );
    const naive = await plain(() =>
      footprint((q, k, v) => attention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, attentionKeys(t, 0), 0, {}), xs),
    );
    // The check can fail: the plain path goes over on both counts.
    expect(naive.peak).toBeGreaterThanOrEqual(scoresBytes);
    expect(naive.largest).toBeGreaterThanOrEqual(scoresBytes);
    expect(flash.peak).toBeLessThan(scoresBytes);
    expect(flash.largest).toBeLessThan(maskBytes);
    tf.dispose(xs);
  });
});
