// Every fused kernel against the plain-op path it replaces (src/core/models/layers.ts, train/loss.ts and
// train/adamw.ts with setFusedKernels(false)), on random inputs with odd sizes: values within 1e-4 and
// gradients within 1e-3 (max |Δ| / max |ref|). Runs on the cpu and on the webgpu backend.
import { describe, it, expect, afterEach } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  fusedAttention,
  fusedBiasAdd,
  fusedBiasGeluNew,
  fusedCausalLmLoss,
  fusedGeluNew,
  fusedLayerNorm,
  fusedLinear,
  fusedRmsNorm,
  fusedRope,
  fusedSiluGate,
  fusedSplitHeads,
  fusedSplitHeadsParts,
  fusedSplitRope,
  setFusedKernels,
  withPlainOps,
} from '../../../../src/core/kernels';
import {
  attention,
  attentionKeys,
  geluNew,
  layerNorm,
  rmsNorm,
  ropeTables,
  applyRope,
  splitHeads,
  splitHeadsParts,
  splitHeadsRope,
} from '../../../../src/core/models/layers';
import { causalLmLoss } from '../../../../src/core/train/loss';
import { relErr } from '../../../helpers';

const FWD = 1e-4;
const GRAD = 1e-3;
let seed = 1;
const randn = (shape: number[], scale = 1) => tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', seed++), scale));

/** The plain path: the same functions with the fused kernels switched off. */
const plain = withPlainOps;

afterEach(() => setFusedKernels(true));

async function close(a: tf.Tensor, b: tf.Tensor, tol: number, what: string): Promise<void> {
  expect(a.shape, what).toEqual(b.shape);
  expect(relErr(await a.data(), await b.data()), what).toBeLessThanOrEqual(tol);
}

/**
 * Compares fused(xs) with reference(xs): values, and the gradients of Σ out · R with respect to every x
 * (R random, so each output element gets its own weight).
 */
async function parity(
  name: string,
  fused: (...xs: tf.Tensor[]) => tf.Tensor,
  reference: (...xs: tf.Tensor[]) => tf.Tensor,
  xs: tf.Tensor[],
): Promise<void> {
  const yf = fused(...xs);
  const yp = plain(() => reference(...xs));
  await close(yf, yp, FWD, `${name} forward`);
  const r = randn(yf.shape);
  const gf = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(fused(...a), r)))(xs);
  const gp = plain(() => tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(reference(...a), r)))(xs));
  for (let i = 0; i < xs.length; i++) await close(gf[i], gp[i], GRAD, `${name} d/dx${i}`);
  tf.dispose([yf, yp, r, ...gf, ...gp, ...xs]);
}

describe('fused kernels match the plain path', () => {
  it('LayerNorm', async () => {
    await parity(
      'layerNorm',
      (x, g, b) => fusedLayerNorm(x, g, b, 1e-5),
      (x, g, b) => layerNorm(x, g, b, 1e-5),
      [randn([3, 5, 37], 2), randn([37]), randn([37])],
    );
    await parity(
      'layerNorm wide',
      (x, g, b) => fusedLayerNorm(x, g, b, 1e-5),
      (x, g, b) => layerNorm(x, g, b, 1e-5),
      [randn([3, 2099]), randn([2099]), randn([2099])],
    );
  });

  it('RMSNorm', async () => {
    await parity(
      'rmsNorm',
      (x, g) => fusedRmsNorm(x, g, 1e-6),
      (x, g) => rmsNorm(x, g, 1e-6),
      [randn([7, 45], 3), randn([45])],
    );
  });

  it('gelu_new, bias + gelu_new', async () => {
    await parity(
      'geluNew',
      (x) => fusedGeluNew(x),
      (x) => geluNew(x),
      [randn([5, 67], 3)],
    );
    await parity(
      'biasGeluNew',
      (x, b) => fusedBiasGeluNew(x, b),
      (x, b) => geluNew(tf.add(x, b)),
      [randn([9, 37], 3), randn([37])],
    );
  });

  it('SiLU gate (SwiGLU)', async () => {
    await parity(
      'siluGate',
      (g, u) => fusedSiluGate(g, u),
      (g, u) => tf.mul(tf.mul(g, tf.sigmoid(g)), u),
      [randn([7, 41], 3), randn([7, 41])],
    );
  });

  it('bias add', async () => {
    await parity(
      'biasAdd',
      (x, b) => fusedBiasAdd(x, b),
      (x, b) => tf.add(x, b),
      [randn([11, 29]), randn([29])],
    );
  });

  it('linear layers: Conv1D and Linear, with and without bias and LoRA', async () => {
    for (const conv1d of [true, false]) {
      const wShape = conv1d ? [19, 23] : [23, 19];
      const ref = (x: tf.Tensor, w: tf.Tensor) => tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D, false, !conv1d);
      await parity(`linear conv1d=${conv1d}`, (x, w) => fusedLinear(x as tf.Tensor2D, w as tf.Tensor2D, conv1d), ref, [
        randn([13, 19]),
        randn(wShape),
      ]);
      await parity(
        `linear+bias conv1d=${conv1d}`,
        (x, w, b) => fusedLinear(x as tf.Tensor2D, w as tf.Tensor2D, conv1d, b),
        (x, w, b) => tf.add(ref(x, w), b),
        [randn([13, 19]), randn(wShape), randn([23])],
      );
      const lora = (x: tf.Tensor, A: tf.Tensor, B: tf.Tensor) =>
        tf.mul(tf.matMul(tf.matMul(x as tf.Tensor2D, A as tf.Tensor2D, false, true), B as tf.Tensor2D, false, true), 1.7);
      await parity(
        `linear+bias+LoRA conv1d=${conv1d}`,
        (x, w, b, A, B) => fusedLinear(x as tf.Tensor2D, w as tf.Tensor2D, conv1d, b, { A, B, scale: 1.7 }),
        (x, w, b, A, B) => tf.add(tf.add(ref(x, w), b), lora(x, A, B)),
        [randn([13, 19]), randn(wShape), randn([23]), randn([3, 19]), randn([23, 3])],
      );
    }
  });

  it('parameters as tf.Variables (passed to the gradient by reference, not saved) give the same results', async () => {
    const v = (shape: number[], trainable = true) => {
      const t = randn(shape);
      const out = tf.variable(t, trainable);
      t.dispose();
      return out;
    };
    await parity(
      'layerNorm(var)',
      (x, g, b) => fusedLayerNorm(x, g, b, 1e-5),
      (x, g, b) => layerNorm(x, g, b, 1e-5),
      [randn([4, 33]), v([33]), v([33])],
    );
    await parity(
      'rmsNorm(var)',
      (x, g) => fusedRmsNorm(x, g, 1e-6),
      (x, g) => rmsNorm(x, g, 1e-6),
      [randn([4, 33]), v([33])],
    );
    const ref = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, A: tf.Tensor, B: tf.Tensor) =>
      tf.add(
        tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D, false, true), b),
        tf.mul(tf.matMul(tf.matMul(x as tf.Tensor2D, A as tf.Tensor2D, false, true), B as tf.Tensor2D, false, true), 0.5),
      );
    await parity(
      'linear+LoRA(var)',
      (x, w, b, A, B) => fusedLinear(x as tf.Tensor2D, w as tf.Tensor2D, false, b, { A, B, scale: 0.5 }),
      ref,
      [randn([6, 11]), v([9, 11]), v([9]), v([2, 11]), v([9, 2])],
    );
    // The base frozen, as under LoRA: only x, A, B differentiated (W's gradient is never computed).
    const w = v([9, 11], false);
    const b = v([9], false);
    await parity(
      'LoRA on a frozen base',
      (x, A, B) => fusedLinear(x as tf.Tensor2D, w as tf.Tensor2D, false, b, { A, B, scale: 0.5 }),
      (x, A, B) => ref(x, w, b, A, B),
      [randn([6, 11]), v([2, 11]), v([9, 2])],
    );
    tf.dispose([w, b]);
  });

  it('a frozen weight gets no gradient computed, yet one asked for explicitly is right', async () => {
    const x = randn([5, 9]);
    const w = tf.variable(randn([9, 7]), false);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(fusedLinear(a as tf.Tensor2D, b as tf.Tensor2D, true))))([
      x,
      w,
    ]);
    const [px, pw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D))))([x, w]);
    await close(gx, px, GRAD, 'dx');
    await close(gw, pw, GRAD, 'dW');
    tf.dispose([x, w, gx, gw, px, pw]);
  });

  it('heads split and merge', async () => {
    await parity(
      'splitHeads 3D',
      (x) => fusedSplitHeads(x, 2, 5, 3),
      (x) => splitHeads(x, 2, 5, 3, 7),
      [randn([2, 5, 21])],
    );
    await parity(
      'splitHeads 2D',
      (x) => fusedSplitHeads(x, 2, 5, 3),
      (x) => splitHeads(x, 2, 5, 3, 7),
      [randn([10, 21])],
    );
    // GPT-2's c_attn output: q, k, v parts of each row, each split into heads (three outputs, one gradient)
    for (const shape of [
      [2, 5, 63],
      [10, 63],
    ]) {
      const r = [randn([2, 3, 5, 7]), randn([2, 3, 5, 7]), randn([2, 3, 5, 7])];
      const weighted = (parts: tf.Tensor[]) => tf.add(tf.add(tf.mul(parts[0], r[0]), tf.mul(parts[1], r[1])), tf.mul(parts[2], r[2]));
      await parity(
        `splitHeadsParts [${shape}]`,
        (x) => weighted(fusedSplitHeadsParts(x, 2, 5, 3, 3)),
        (x) => weighted(splitHeadsParts(x, 2, 5, 3, 7, 3)),
        [randn(shape)],
      );
      tf.dispose(r);
    }
  });

  it('RoPE', async () => {
    const { cos, sin } = ropeTables(2, 5, 8, 10000);
    await parity(
      'rope',
      (x) => fusedRope(x as tf.Tensor4D, cos, sin),
      (x) => applyRope(x as tf.Tensor4D, cos, sin),
      [randn([2, 3, 5, 8])],
    );
    tf.dispose([cos, sin]);
  });

  it('heads split with RoPE in one pass (as [B, T, n·D] and [B·T, n·D]), the rotation at each head', async () => {
    const { cos, sin } = ropeTables(3, 5, 6, 10000);
    for (const shape of [
      [2, 5, 18],
      [10, 18],
    ])
      await parity(
        `splitHeadsRope [${shape}]`,
        (x) => fusedSplitRope(x, 2, 5, 3, cos, sin),
        (x) => splitHeadsRope(x, 2, 5, 3, 6, cos, sin),
        [randn(shape)],
      );
    // and the two kernels it replaces, on the same input
    const x = randn([2, 5, 18]);
    await close(fusedSplitRope(x, 2, 5, 3, cos, sin), fusedRope(fusedSplitHeads(x, 2, 5, 3), cos, sin), 1e-6, 'split + rope');
    tf.dispose([cos, sin, x]);
  });

  it('attention: causal, with a cache offset and with padding', async () => {
    const causal = attentionKeys(5, 0);
    await parity(
      'attention causal',
      (q, k, v) => fusedAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, causal, 1 / Math.sqrt(7)),
      (q, k, v) => attention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, causal, 0, {}),
      [randn([2, 3, 5, 7]), randn([2, 3, 5, 7]), randn([2, 3, 5, 7])],
    );
    const mask = tf.tensor2d([
      [1, 1, 1, 1, 1, 1],
      [0, 0, 1, 1, 1, 1],
    ]);
    const padded = attentionKeys(5, 1, mask);
    await parity(
      'attention padded past=1',
      (q, k, v) => fusedAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, padded, 1 / Math.sqrt(7)),
      (q, k, v) => attention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, padded, 0, {}),
      [randn([2, 3, 5, 7]), randn([2, 3, 6, 7]), randn([2, 3, 6, 7])],
    );
    tf.dispose([causal, mask, padded]);
  });

  it('attention with grouped key/value heads (no repeat) against repeat_interleave', async () => {
    const causal = attentionKeys(5, 0);
    await parity(
      'attention GQA 6/2',
      (q, k, v) => fusedAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, causal, 1 / Math.sqrt(7)),
      (q, k, v) => attention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, causal, 0, {}),
      [randn([2, 6, 5, 7]), randn([2, 2, 5, 7]), randn([2, 2, 5, 7])],
    );
    causal.dispose();
  });

  it('cross-entropy with label masking, and with every label ignored', async () => {
    const labels = tf.tensor2d(
      [
        [4, 8, -100, 52, 0, 17, 3],
        [-100, -100, 9, 9, 1, 40, 2],
        [51, 50, 49, -100, 7, 6, -100],
      ],
      [3, 7],
      'int32',
    );
    await parity(
      'loss',
      (l) => fusedCausalLmLoss(l as tf.Tensor3D, labels),
      (l) => causalLmLoss(l as tf.Tensor3D, labels),
      [randn([3, 7, 53], 3)],
    );
    const none = tf.fill([2, 4], -100, 'int32') as tf.Tensor2D;
    await parity(
      'loss, all ignored',
      (l) => fusedCausalLmLoss(l as tf.Tensor3D, none),
      (l) => causalLmLoss(l as tf.Tensor3D, none),
      [randn([2, 4, 11])],
    );
    tf.dispose([labels, none]);
  });

  it('cross-entropy over a vocabulary wider than a workgroup stride', async () => {
    const labels = tf.tensor2d([[3, 2100, 7, 4099, -100]], [1, 5], 'int32');
    await parity(
      'loss wide',
      (l) => fusedCausalLmLoss(l as tf.Tensor3D, labels),
      (l) => causalLmLoss(l as tf.Tensor3D, labels),
      [randn([1, 5, 4111], 4)],
    );
    labels.dispose();
  });
});
