// The tiled matmul (src/core/kernels/matmul.ts) against a float64 JS reference: odd sizes that leave partial
// tiles and scalar loads, sizes that fill whole tiles with vec4 loads, batches and a broadcast batch, all four
// transpose combinations, with and without the bias / addend epilogue (≤ 1e-4 relative); skinny products
// (≤ 4 rows, B as [N, K]) through the subgroup program and without subgroups. Then fusedLinear,
// which runs it on webgpu, against the plain path: values ≤ 1e-4, gradients ≤ 1e-3.
import { describe, it, expect, afterEach } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { fusedLinear, setFusedKernels, withPlainOps } from '../../../../src/core/kernels';
import { tiledMatMul } from '../../../../src/core/kernels/matmul';
import { packWeight, unpackF16 } from '../../../../src/core/kernels/f16';
import { setSubgroups } from '../../../../src/core/kernels/subgroups';
import { hashDropout } from '../../../../src/core/kernels/dropout';
import { backendInfo } from '../../../../src/core/backend';
import { relErr } from '../../../helpers';

const FWD = 1e-4;
const GRAD = 1e-3;

let state = 12345;
/** Uniform in [-1, 1), reproducible. */
function rand(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

interface Case {
  batchA: number;
  batchB: number;
  m: number;
  n: number;
  k: number;
}

/** C[b] = alpha · op(A[b]) op(B[b]) (+ bias) (+ addend) in float64; a batch-1 operand (or addend) is shared. */
function reference(
  c: Case,
  a: Float32Array,
  b: Float32Array,
  tA: boolean,
  tB: boolean,
  bias?: Float32Array,
  addend?: Float32Array,
  alpha = 1,
): Float64Array {
  const { m, n, k } = c;
  const batch = Math.max(c.batchA, c.batchB);
  const out = new Float64Array(batch * m * n);
  for (let p = 0; p < batch; p++) {
    const oa = c.batchA === 1 ? 0 : p * m * k;
    const ob = c.batchB === 1 ? 0 : p * k * n;
    const od = addend && addend.length !== m * n ? p * m * n : 0;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += a[oa + (tA ? q * m + i : i * k + q)] * b[ob + (tB ? j * k + q : q * n + j)];
        s *= alpha;
        if (bias) s += bias[j];
        if (addend) s += addend[od + i * n + j];
        out[p * m * n + i * n + j] = s;
      }
  }
  return out;
}

async function check(
  c: Case,
  tA: boolean,
  tB: boolean,
  epilogue: 'none' | 'bias' | 'addend' | 'both',
  addendBatched = false,
  alpha?: number,
) {
  const { m, n, k } = c;
  const batch = Math.max(c.batchA, c.batchB);
  const aShape = tA ? [k, m] : [m, k];
  const bShape = tB ? [n, k] : [k, n];
  const av = rand(c.batchA * m * k);
  const bv = rand(c.batchB * k * n);
  const biasV = epilogue === 'bias' || epilogue === 'both' ? rand(n) : undefined;
  const addV = epilogue === 'addend' || epilogue === 'both' ? rand((addendBatched ? batch : 1) * m * n) : undefined;
  const rank3 = c.batchA > 1 || c.batchB > 1;
  const a = tf.tensor(av, rank3 ? [c.batchA, ...aShape] : aShape);
  const b = tf.tensor(bv, rank3 ? [c.batchB, ...bShape] : bShape);
  const bias = biasV && tf.tensor1d(biasV);
  const addend = addV && tf.tensor(addV, addendBatched ? [batch, m, n] : [m, n]);
  const y = tiledMatMul(a, b, { transposeA: tA, transposeB: tB, bias, addend, alpha });
  const what = `${c.batchA}/${c.batchB}×${m}×${n}×${k} tA=${tA} tB=${tB} ${epilogue}${addendBatched ? ' (batched)' : ''} α=${alpha}`;
  expect(y.shape, what).toEqual(rank3 ? [batch, m, n] : [m, n]);
  const ref = reference(c, av, bv, tA, tB, biasV, addV, alpha);
  const got = await y.data();
  expect(relErr(got, ref), what).toBeLessThanOrEqual(FWD);
  // Guard against a kernel that writes nothing (a zero output would pass a loose test of zeros).
  expect(Math.max(...Array.from(got, Math.abs)), what).toBeGreaterThan(0);
  tf.dispose([a, b, y, ...(bias ? [bias] : []), ...(addend ? [addend] : [])]);
}

const TRANSPOSES: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

describe('tiled matmul matches a float64 reference', () => {
  it('odd sizes, every transpose, every epilogue', async () => {
    const sizes: Case[] = [
      { batchA: 1, batchB: 1, m: 1, n: 1, k: 1 },
      { batchA: 1, batchB: 1, m: 7, n: 13, k: 5 },
      { batchA: 1, batchB: 1, m: 33, n: 65, k: 17 },
      { batchA: 1, batchB: 1, m: 130, n: 67, k: 129 },
    ];
    // Every epilogue on one size; the others with none and both (each combination is its own pipeline).
    for (const c of sizes)
      for (const [tA, tB] of TRANSPOSES)
        for (const e of c.m === 33 ? (['none', 'bias', 'addend', 'both'] as const) : (['none', 'both'] as const)) await check(c, tA, tB, e);
  });

  it('sizes that fill whole tiles (vec4 loads, no bounds checks) and vec4 with partial tiles', async () => {
    for (const c of [
      { batchA: 1, batchB: 1, m: 128, n: 256, k: 64 },
      { batchA: 1, batchB: 1, m: 36, n: 44, k: 20 },
    ])
      for (const [tA, tB] of TRANSPOSES) {
        await check(c, tA, tB, 'none');
        await check(c, tA, tB, 'both');
      }
  });

  it('batched [B, M, K] x [B, K, N], and a batch-1 operand broadcast over the other', async () => {
    for (const [tA, tB] of TRANSPOSES) {
      await check({ batchA: 3, batchB: 3, m: 19, n: 23, k: 11 }, tA, tB, 'none');
      await check({ batchA: 3, batchB: 3, m: 19, n: 24, k: 12 }, tA, tB, 'addend', true);
      await check({ batchA: 4, batchB: 1, m: 9, n: 70, k: 33 }, tA, tB, 'both');
      await check({ batchA: 1, batchB: 2, m: 66, n: 7, k: 8 }, tA, tB, 'bias');
    }
  });

  it('alpha scales the product before bias and addend (vec4 and scalar stores, the skinny program)', async () => {
    for (const [tA, tB] of TRANSPOSES) {
      await check({ batchA: 1, batchB: 1, m: 36, n: 44, k: 20 }, tA, tB, 'both', false, 2.5);
      await check({ batchA: 2, batchB: 1, m: 7, n: 13, k: 5 }, tA, tB, 'addend', true, -0.125);
    }
    await check({ batchA: 1, batchB: 1, m: 3, n: 5, k: 577 }, false, true, 'both', false, 4);
  });

  it('rejects mismatched inner dimensions', () => {
    const a = tf.zeros([3, 4]);
    const b = tf.zeros([5, 6]);
    expect(() => tiledMatMul(a, b)).toThrow();
    tf.dispose([a, b]);
  });
});

/** A product checked with a low-rank term: + lowAlpha · L op(R), L [M, r], R [r, N] or (transposeR) [N, r]. */
async function checkLowRank(
  c: { m: number; n: number; k: number; r: number },
  tA: boolean,
  tB: boolean,
  transposeR: boolean,
  epilogue: 'none' | 'both',
  packed = false,
) {
  const { m, n, k, r } = c;
  const av = rand(m * k);
  const bv = rand(k * n);
  const lv = rand(m * r);
  const rv = rand(r * n);
  const biasV = epilogue === 'both' ? rand(n) : undefined;
  const addV = epilogue === 'both' ? rand(m * n) : undefined;
  const alpha = 1.5;
  const lowAlpha = -0.75;
  const a = tf.tensor(av, tA ? [k, m] : [m, k]);
  const bPlain = tf.tensor(bv, tB ? [n, k] : [k, n]);
  // A packed B: the reference multiplies by its f16-decoded values.
  const pw = packed ? packWeight(bPlain as tf.Tensor2D) : null;
  const bRef = pw ? await unpackF16(pw.bits, bPlain.shape).data() : bv;
  const b = pw ? pw.bits : bPlain;
  const l = tf.tensor2d(lv, [m, r]);
  const rt = tf.tensor2d(rv, transposeR ? [n, r] : [r, n]);
  const bias = biasV && tf.tensor1d(biasV);
  const addend = addV && tf.tensor2d(addV, [m, n]);
  const y = tiledMatMul(a, b, {
    transposeA: tA,
    transposeB: tB,
    alpha,
    bias,
    addend,
    ...(pw ? { packedShapeB: bPlain.shape } : {}),
    lowRank: { l, r: rt, transposeR, alpha: lowAlpha },
  });
  const ref = reference({ batchA: 1, batchB: 1, m, n, k }, av, bRef as Float32Array, tA, tB, biasV, addV, alpha);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let q = 0; q < r; q++) s += lv[i * r + q] * rv[transposeR ? j * r + q : q * n + j];
      ref[i * n + j] += lowAlpha * s;
    }
  const what = `${m}×${n}×${k} r=${r} tA=${tA} tB=${tB} tR=${transposeR} ${epilogue}${packed ? ' packed' : ''}`;
  expect(y.shape, what).toEqual([m, n]);
  expect(relErr(await y.data(), ref), what).toBeLessThanOrEqual(FWD);
  tf.dispose([a, bPlain, y, l, rt, ...(pw ? [pw.bits] : []), ...(bias ? [bias] : []), ...(addend ? [addend] : [])]);
}

/** The pipelines tfjs has compiled so far whose key contains `part` (webgpu only). */
function compiled(part: string): number {
  const cache = (tf.backend() as unknown as { pipelineCache?: Record<string, unknown> }).pipelineCache ?? {};
  return Object.keys(cache).filter((k) => k.includes(part)).length;
}

describe('skinny products (≤ 4 rows, B as [N, K]): the subgroup program and the tiles agree with the reference', () => {
  afterEach(() => setSubgroups(true));
  const cases: [Case, 'none' | 'bias' | 'addend' | 'both', boolean][] = [
    [{ batchA: 1, batchB: 1, m: 1, n: 1001, k: 576 }, 'none', false], // vec4 loads, a partial last column group
    [{ batchA: 1, batchB: 1, m: 3, n: 5, k: 577 }, 'both', false], // scalar loads, rows and columns partial
    [{ batchA: 1, batchB: 1, m: 4, n: 130, k: 64 }, 'bias', false],
    [{ batchA: 2, batchB: 1, m: 2, n: 67, k: 200 }, 'addend', true], // B broadcast over a batch of two
    [{ batchA: 3, batchB: 3, m: 1, n: 9, k: 131 }, 'both', false],
  ];

  it('with subgroups where the device has them (it must on the test adapter), and with them off', async () => {
    const webgpu = tf.getBackend() === 'webgpu';
    if (webgpu) {
      // SwiftShader offers 'subgroups': a device created without it, or a failed layout probe, is a regression.
      expect(backendInfo()?.adapter?.features).toContain('subgroups');
      expect(backendInfo()?.subgroups?.usable, backendInfo()?.subgroups?.reason).toBe(true);
    }
    const before = webgpu ? compiled('whet_mm_skinny') : 0;
    for (const [c, e, batched] of cases) await check(c, false, true, e, batched);
    if (webgpu) expect(compiled('whet_mm_skinny')).toBeGreaterThan(before);
    setSubgroups(false);
    const skinnyBefore = webgpu ? compiled('whet_mm_skinny') : 0;
    for (const [c, e, batched] of cases) await check(c, false, true, e, batched);
    if (webgpu) expect(compiled('whet_mm_skinny'), 'no skinny program without subgroups').toBe(skinnyBefore);
  });

  it('reads packed f16 weights in place (an LM head or linear layer at one decoding step)', async () => {
    for (const [m, n, k] of [
      [1, 1001, 577],
      [4, 37, 576],
    ]) {
      const w = tf.tensor2d(rand(n * k), [n, k]);
      const packed = packWeight(w);
      const decoded = unpackF16(packed.bits, [n, k]);
      const x = tf.tensor2d(rand(m * k), [m, k]);
      const got = tiledMatMul(x, packed.bits, { transposeB: true, packedShapeB: [n, k] });
      const want = tf.matMul(x, decoded as tf.Tensor2D, false, true);
      expect(got.shape).toEqual([m, n]);
      expect(relErr(await got.data(), await want.data()), `${m}×${n}×${k} packed`).toBeLessThanOrEqual(1e-5);
      tf.dispose([w, packed.bits, decoded, x, got, want]);
    }
  });
});

describe('a low-rank term in the epilogue (LoRA: x Wᵀ + s · down Bᵀ and dy W + dDown A in one program)', () => {
  afterEach(() => setSubgroups(true));
  it('odd and whole-tile sizes, both layouts of R, with bias and addend, a packed B, the skinny program', async () => {
    const webgpu = tf.getBackend() === 'webgpu';
    const before = webgpu ? compiled('_l1') + compiled('_l2') : 0;
    for (const c of [
      { m: 7, n: 13, k: 5, r: 3 },
      { m: 36, n: 44, k: 20, r: 16 },
      { m: 128, n: 256, k: 64, r: 8 },
      { m: 130, n: 67, k: 129, r: 1 },
    ])
      for (const [tA, tB] of TRANSPOSES)
        for (const transposeR of [false, true]) await checkLowRank(c, tA, tB, transposeR, c.m === 36 ? 'both' : 'none');
    for (const transposeR of [false, true]) {
      await checkLowRank({ m: 33, n: 65, k: 17, r: 4 }, false, true, transposeR, 'both', true); // packed, tiles
      await checkLowRank({ m: 3, n: 5, k: 577, r: 5 }, false, true, transposeR, 'both'); // skinny, scalar loads
      await checkLowRank({ m: 1, n: 1001, k: 576, r: 16 }, false, true, transposeR, 'none'); // skinny, vec4
      await checkLowRank({ m: 2, n: 37, k: 576, r: 2 }, false, true, transposeR, 'both', true); // skinny, packed
    }
    // On webgpu every case above ran the term inside a matmul program (its pipelines carry _l1 / _l2).
    if (webgpu) expect(compiled('_l1') + compiled('_l2')).toBeGreaterThan(before);
    setSubgroups(false);
    await checkLowRank({ m: 3, n: 5, k: 577, r: 5 }, false, true, true, 'both');
  });
});

describe('a dropout mask drawn in the program: on A, on B, on the low-rank term (LoRA dropout on x)', () => {
  it('equals hashDropout materialized, vec4 and scalar loads', async () => {
    const webgpu = tf.getBackend() === 'webgpu';
    const attrs = { rate: 0.4, seed: 7, offset: 3 };
    const drop = (t: tf.Tensor) => hashDropout(t, attrs.rate, attrs.seed, attrs.offset);
    for (const [m, k, r] of [
      [37, 24, 4],
      [29, 23, 3],
    ]) {
      const x = tf.tensor2d(rand(m * k), [m, k]);
      const w = tf.tensor2d(rand(k * 20), [k, 20]);
      const l = tf.tensor2d(rand(m * r), [m, r]);
      const rt = tf.tensor2d(rand(r * k), [r, k]);
      const dy = tf.tensor2d(rand(m * 9), [m, 9]);
      const w2 = tf.tensor2d(rand(9 * k), [9, k]);
      const cases: [string, tf.Tensor, tf.Tensor][] = [
        ['a', tiledMatMul(x, w, { dropout: { attrs, a: true } }), tf.matMul(drop(x), w)],
        ['b', tiledMatMul(l, x, { transposeA: true, dropout: { attrs, b: true } }), tf.matMul(l, drop(x), true, false)],
        [
          'low',
          tiledMatMul(dy, w2, { lowRank: { l, r: rt, transposeR: false, alpha: 1 }, dropout: { attrs, low: true } }),
          tf.add(tf.matMul(dy, w2), drop(tf.matMul(l, rt))),
        ],
      ];
      for (const [what, got, want] of cases) {
        expect(relErr(await got.data(), await want.data()), `${m}×${k} ${what}`).toBeLessThanOrEqual(1e-5);
        tf.dispose([got, want]);
      }
      tf.dispose([x, w, l, rt, dy, w2]);
    }
    if (webgpu) for (const key of ['_d100', '_d010', '_d001']) expect(compiled(key), key).toBeGreaterThan(0);
  });
});

/** The plain path: the same functions with the fused kernels switched off. */
const plain = withPlainOps;

afterEach(() => setFusedKernels(true));

describe('fusedLinear through the tiled matmul matches the plain path', () => {
  const t = (shape: number[]) => tf.tensor(rand(shape.reduce((p, q) => p * q, 1)), shape);

  async function parity(
    name: string,
    fused: (...xs: tf.Tensor[]) => tf.Tensor,
    reference: (...xs: tf.Tensor[]) => tf.Tensor,
    xs: tf.Tensor[],
  ) {
    const yf = fused(...xs);
    const yp = plain(() => reference(...xs));
    expect(yf.shape, name).toEqual(yp.shape);
    expect(relErr(await yf.data(), await yp.data()), `${name} forward`).toBeLessThanOrEqual(FWD);
    const r = t(yf.shape);
    const gf = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(fused(...a), r)))(xs);
    const gp = plain(() => tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(reference(...a), r)))(xs));
    for (let i = 0; i < xs.length; i++) {
      expect(gf[i].shape, `${name} d/dx${i}`).toEqual(gp[i].shape);
      expect(relErr(await gf[i].data(), await gp[i].data()), `${name} d/dx${i}`).toBeLessThanOrEqual(GRAD);
    }
    tf.dispose([yf, yp, r, ...gf, ...gp, ...xs]);
  }

  it('Conv1D and Linear weights, with bias, with and without LoRA', async () => {
    for (const conv1d of [true, false]) {
      const wShape = conv1d ? [67, 70] : [70, 67];
      const ref = (x: tf.Tensor, w: tf.Tensor) => tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D, false, !conv1d);
      await parity(
        `linear+bias conv1d=${conv1d}`,
        (x, w, b) => fusedLinear(x as tf.Tensor2D, w as tf.Tensor2D, conv1d, b),
        (x, w, b) => tf.add(ref(x, w), b),
        [t([130, 67]), t(wShape), t([70])],
      );
      const lora = (x: tf.Tensor, A: tf.Tensor, B: tf.Tensor) =>
        tf.mul(tf.matMul(tf.matMul(x as tf.Tensor2D, A as tf.Tensor2D, false, true), B as tf.Tensor2D, false, true), 0.8);
      await parity(
        `linear+LoRA conv1d=${conv1d}`,
        (x, w, A, B) => fusedLinear(x as tf.Tensor2D, w as tf.Tensor2D, conv1d, undefined, { A, B, scale: 0.8 }),
        (x, w, A, B) => tf.add(ref(x, w), lora(x, A, B)),
        [t([130, 67]), t(wShape), t([5, 67]), t([70, 5])],
      );
    }
  });
});
